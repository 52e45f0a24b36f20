//! `[token.cors]` and `[routes.cors]`: cross-origin requests from browsers (the web
//! channel), answered by tower-http's CORS layer rather than a hand-written one.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::{ConfigError, filled, invalid};

/// Request headers a browser may send by default: what the wire contract uses.
pub const DEFAULT_CORS_ALLOWED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-api-key",
    "x-request-seal",
    "x-request-id",
];
/// Methods allowed by default.
pub const DEFAULT_CORS_ALLOWED_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Response headers a page may read by default.
pub const DEFAULT_CORS_EXPOSED_HEADERS: [&str; 4] = [
    "x-request-id",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
];
/// How long a browser may cache a preflight answer.
pub const DEFAULT_CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// `cors` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct CorsFile {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Option<Vec<String>>,
    pub allowed_headers: Option<Vec<String>>,
    pub exposed_headers: Option<Vec<String>>,
    pub allow_credentials: Option<bool>,
    pub max_age_secs: Option<u64>,
}

/// Validates a `cors` table into tower-http's layer. Origins are an exact list (`"*"`
/// only without credentials: a browser refuses that combination, and so do we, at start).
pub(super) fn validate(key: &str, c: CorsFile) -> Result<CorsLayer, ConfigError> {
    let credentials = filled(&format!("{key}.allow_credentials"), c.allow_credentials)?;
    if c.allowed_origins.is_empty() {
        return Err(invalid(
            format!("{key}.allowed_origins"),
            "list the origins allowed, e.g. [\"https://app.bank.example\"]",
        ));
    }
    let origin = if c.allowed_origins.iter().any(|o| o == "*") {
        if credentials || c.allowed_origins.len() > 1 {
            return Err(invalid(
                format!("{key}.allowed_origins"),
                "\"*\" stands alone, and never with allow_credentials",
            ));
        }
        AllowOrigin::any()
    } else {
        let mut origins = Vec::new();
        for (i, origin) in c.allowed_origins.iter().enumerate() {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && origin.matches('/').count() == 2;
            let value = HeaderValue::from_str(origin)
                .ok()
                .filter(|_| ok)
                .ok_or_else(|| {
                    invalid(
                        format!("{key}.allowed_origins[{i}]"),
                        format!("`{origin}` is not an origin (scheme://host[:port], no path)"),
                    )
                })?;
            origins.push(value);
        }
        AllowOrigin::list(origins)
    };
    let methods = filled(&format!("{key}.allowed_methods"), c.allowed_methods)?
        .iter()
        .map(|m| {
            Method::from_bytes(m.as_bytes()).map_err(|_| {
                invalid(
                    format!("{key}.allowed_methods"),
                    format!("`{m}` is not a method"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names = |field: &str, given: Option<Vec<String>>| {
        filled(&format!("{key}.{field}"), given)?
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                    invalid(
                        format!("{key}.{field}"),
                        format!("`{h}` is not a header name"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let allowed = names("allowed_headers", c.allowed_headers)?;
    let exposed = names("exposed_headers", c.exposed_headers)?;
    Ok(CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(methods)
        .allow_headers(allowed)
        .expose_headers(exposed)
        .allow_credentials(credentials)
        .max_age(Duration::from_secs(filled(
            &format!("{key}.max_age_secs"),
            c.max_age_secs,
        )?)))
}

//! `[jwt_providers.<name>]`: identity providers whose bearer JWTs routes with
//! `auth = "jwt"` accept (verified by the crate `sealgate-jwt`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, filled, invalid, millis, positive};
pub use sealgate_jwt::Algorithm as JwtAlgorithm;

/// The algorithms a provider's tokens may be signed with when `algorithms` is left out:
/// every one the verifier knows (all asymmetric: `none` and HMAC cannot be named).
pub const DEFAULT_JWT_ALGORITHMS: [JwtAlgorithm; 4] = JwtAlgorithm::ALL;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(60);
/// How often a provider's JWK Set is fetched again.
pub const DEFAULT_JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// A token naming a key the set does not have fetches the set again at most this often
/// (so random `kid`s cannot make the gateway hammer the provider).
pub const DEFAULT_JWKS_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Time to fetch a JWK Set, connection included.
pub const DEFAULT_JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// `[jwt_providers.<name>]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct JwtProviderFile {
    pub issuer: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    pub algorithms: Option<Vec<JwtAlgorithm>>,
    pub jwks_url: Option<String>,
    pub jwks_ca_file: Option<String>,
    pub jwks_file: Option<String>,
    pub leeway_secs: Option<u64>,
    pub refresh_interval_secs: Option<u64>,
    pub min_refresh_interval_secs: Option<u64>,
    pub fetch_timeout_ms: Option<u64>,
    pub max_lifetime_secs: Option<u64>,
    #[serde(default)]
    pub required_claims: Vec<String>,
    #[serde(default)]
    pub claims_to_headers: BTreeMap<String, String>,
}

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Fetched over HTTPS (verified as `[upstream_tls]` says), cached, refreshed.
    Url(http::Uri),
    /// Read from a file at load (and at each reload): for air-gapped deployments.
    File(Arc<sealgate_jwt::KeySet>),
}

/// A validated identity provider.
#[derive(Debug)]
pub struct JwtProvider {
    /// Its name in the file (the access line's `channel` for its tokens).
    pub name: Arc<str>,
    /// What a token must be: issuer, audiences, algorithms, leeway, lifetime, claims.
    pub policy: sealgate_jwt::Policy,
    /// Its keys.
    pub source: JwksSource,
    /// The CA bundle a `jwks_url`'s certificate is verified against instead of the public
    /// roots (never `[upstream_tls]`'s: an upstream's CA is no authority on the provider's
    /// keys, and the gateway's client certificate is not shown to the provider).
    pub jwks_ca_file: Option<std::path::PathBuf>,
    /// See [`DEFAULT_JWKS_REFRESH_INTERVAL`].
    pub refresh_interval: Duration,
    /// See [`DEFAULT_JWKS_MIN_REFRESH_INTERVAL`].
    pub min_refresh_interval: Duration,
    /// See [`DEFAULT_JWKS_FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
    /// Claims passed to the upstream, each in a header the gateway removes from clients.
    pub claim_headers: Vec<(String, http::HeaderName)>,
}

impl JwtProvider {
    /// What identifies its key cache across a reload: the name and where keys come from.
    pub fn cache_key(&self) -> String {
        match &self.source {
            JwksSource::Url(url) => format!("{} {url}", self.name),
            JwksSource::File(_) => format!("{} file", self.name),
        }
    }
}

/// The longest clock skew a provider may be allowed: past it, `exp` means little.
const MAX_JWT_LEEWAY_SECS: u64 = 300;
/// The longest a JWK Set fetch may take (requests may wait for one).
const MAX_JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers a claim may not be written to: the gateway's own facts, what a client says
/// about its address or connection (and what upstream frameworks read as such), request
/// overrides, and HTTP's framing. Names with `_` are refused besides (frameworks read
/// `x_forwarded_for` as `X-Forwarded-For`).
const RESERVED_HEADERS: [&str; 35] = [
    "x-client-cert-subject",
    "x-request-seal",
    "x-real-ip",
    "client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-original-forwarded-for",
    "x-original-host",
    "x-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
    "expect",
    "proxy-connection",
    "authorization",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "cookie",
    "forwarded",
    "x-request-id",
    "traceparent",
];

pub(super) fn validate(
    raw: BTreeMap<String, JwtProviderFile>,
    base: &Path,
) -> Result<BTreeMap<String, Arc<JwtProvider>>, ConfigError> {
    raw.into_iter()
        .map(|(name, p)| {
            let provider = provider(&format!("jwt_providers.{name}"), &name, p, base)?;
            Ok((name, Arc::new(provider)))
        })
        .collect()
}

fn provider(
    key: &str,
    name: &str,
    p: JwtProviderFile,
    base: &Path,
) -> Result<JwtProvider, ConfigError> {
    let issuer = match p.issuer {
        Some(issuer) if !issuer.is_empty() => issuer,
        _ => return Err(invalid(format!("{key}.issuer"), "is required")),
    };
    if p.audiences.is_empty() || p.audiences.iter().any(String::is_empty) {
        return Err(invalid(
            format!("{key}.audiences"),
            "needs at least one audience, none empty: a token for another service must not pass",
        ));
    }
    let algorithms = filled(&format!("{key}.algorithms"), p.algorithms)?;
    if algorithms.is_empty() {
        return Err(invalid(format!("{key}.algorithms"), "needs at least one"));
    }
    let source = match (p.jwks_url, p.jwks_file) {
        (Some(url), None) => {
            let uri: http::Uri = url
                .parse()
                .map_err(|_| invalid(format!("{key}.jwks_url"), format!("`{url}` is not a URL")))?;
            if uri.scheme() != Some(&http::uri::Scheme::HTTPS) || uri.authority().is_none() {
                return Err(invalid(
                    format!("{key}.jwks_url"),
                    "must be an https:// URL: keys fetched in the clear could be anyone's",
                ));
            }
            if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
                return Err(invalid(
                    format!("{key}.jwks_url"),
                    "must not carry credentials (`user:password@`)",
                ));
            }
            JwksSource::Url(uri)
        }
        (None, Some(file)) => {
            let path = base.join(&file);
            let bytes = std::fs::read(&path).map_err(|error| {
                invalid(
                    format!("{key}.jwks_file"),
                    format!("cannot read {}: {error}", path.display()),
                )
            })?;
            let keys = sealgate_jwt::KeySet::from_json(&bytes).map_err(|error| {
                invalid(
                    format!("{key}.jwks_file"),
                    format!("{} is not a JWK Set: {error}", path.display()),
                )
            })?;
            if keys.is_empty() {
                return Err(invalid(
                    format!("{key}.jwks_file"),
                    format!(
                        "{} has no key a token can be verified with ({} skipped)",
                        path.display(),
                        keys.skipped().len()
                    ),
                ));
            }
            JwksSource::File(Arc::new(keys))
        }
        _ => {
            return Err(invalid(
                key,
                "needs exactly one of jwks_url (https://) and jwks_file",
            ));
        }
    };
    let secs = |name: &str, value: Option<u64>| {
        positive(&format!("{key}.{name}"), value).map(Duration::from_secs)
    };
    let claim_headers = p
        .claims_to_headers
        .into_iter()
        .map(|(claim, header)| {
            let at = format!("{key}.claims_to_headers.{claim}");
            let name = http::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| invalid(&at, format!("`{header}` is not a header name")))?;
            if RESERVED_HEADERS.contains(&name.as_str())
                || name.as_str().starts_with("x-forwarded-")
                || name.as_str().starts_with("sec-")
                || name.as_str().contains('_')
            {
                return Err(invalid(
                    at,
                    format!("`{name}` is the gateway's or HTTP's own: choose another header"),
                ));
            }
            if claim.is_empty() {
                return Err(invalid(at, "names no claim"));
            }
            Ok((claim, name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut policy = sealgate_jwt::Policy::new(issuer, p.audiences, algorithms);
    policy.leeway_secs = match filled(&format!("{key}.leeway_secs"), p.leeway_secs)? {
        secs if secs <= MAX_JWT_LEEWAY_SECS => secs,
        _ => {
            return Err(invalid(
                format!("{key}.leeway_secs"),
                format!("must be at most {MAX_JWT_LEEWAY_SECS}"),
            ));
        }
    };
    policy.max_lifetime_secs = p.max_lifetime_secs;
    policy.required_claims = p.required_claims;
    policy
        .validate()
        .map_err(|error| invalid(key, error.to_string()))?;
    let refresh_interval = secs("refresh_interval_secs", p.refresh_interval_secs)?;
    let min_refresh_interval = secs("min_refresh_interval_secs", p.min_refresh_interval_secs)?;
    if min_refresh_interval > refresh_interval {
        return Err(invalid(
            format!("{key}.min_refresh_interval_secs"),
            "must not exceed refresh_interval_secs",
        ));
    }
    let fetch_timeout = millis(&format!("{key}.fetch_timeout_ms"), p.fetch_timeout_ms)?;
    if fetch_timeout > MAX_JWKS_FETCH_TIMEOUT || fetch_timeout > min_refresh_interval {
        return Err(invalid(
            format!("{key}.fetch_timeout_ms"),
            "must be at most 30000 and at most min_refresh_interval_secs (requests may wait for a fetch)",
        ));
    }
    if p.jwks_ca_file.is_some() && !matches!(source, JwksSource::Url(_)) {
        return Err(invalid(
            format!("{key}.jwks_ca_file"),
            "is read only with jwks_url",
        ));
    }
    Ok(JwtProvider {
        name: Arc::from(name),
        policy,
        source,
        jwks_ca_file: p.jwks_ca_file.map(|file| base.join(file)),
        refresh_interval,
        min_refresh_interval,
        fetch_timeout,
        claim_headers,
    })
}

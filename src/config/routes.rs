//! `[[routes]]`: the proxied routes, their upstreams, authentication and encryption.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid, millis, positive};

/// Largest request (and encrypted response) body on a route.
pub const DEFAULT_ROUTE_MAX_BODY: usize = 1024 * 1024;
/// Time for the upstream to answer with a response head.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// `[[routes]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct RouteFile {
    pub prefix: Option<String>,
    pub strip_prefix: Option<bool>,
    #[serde(default)]
    pub upstreams: Vec<String>,
    pub auth: Option<RouteAuth>,
    pub encrypted_request: Option<bool>,
    pub encrypted_response: Option<bool>,
    pub max_body_bytes: Option<usize>,
    pub upstream_timeout_ms: Option<u64>,
    #[serde(default)]
    pub sealed_response_headers: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub cors: Option<super::CorsFile>,
}

/// Whether a route requires a session token (`routes[].auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    /// A valid bearer token is required. The default.
    #[default]
    Token,
    /// No authentication: a plain reverse-proxy route.
    None,
}

/// One upstream base URL.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// `host:port`.
    pub authority: http::uri::Authority,
    /// A path prefixed to every forwarded path (no trailing `/`), often empty.
    pub base_path: String,
}

/// A host a route serves: a name exactly, or every name under a suffix (`*.bank.example`
/// matches `api.bank.example`, not `bank.example`). Lower case, no port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This name.
    Exact(String),
    /// Any name ending with `.` and this suffix.
    Suffix(String),
}

impl HostPattern {
    /// How well `host` (lower case, no port) matches: `Some(u16::MAX)` exactly, the
    /// suffix's length for a wildcard (longer is more specific), `None` not at all.
    pub fn rank(&self, host: &str) -> Option<u16> {
        match self {
            HostPattern::Exact(name) => (name == host).then_some(u16::MAX),
            HostPattern::Suffix(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
                .then(|| u16::try_from(suffix.len()).unwrap_or(u16::MAX - 1)),
        }
    }
}

/// A proxied route.
#[derive(Debug)]
pub struct Route {
    /// Path prefix this route serves.
    pub prefix: String,
    /// The hosts it serves (empty: any host); see [`HostPattern`].
    pub hosts: Vec<HostPattern>,
    /// Cross-origin requests from browsers, when allowed (`[routes.cors]`).
    pub cors: Option<tower_http::cors::CorsLayer>,
    /// The prefix as a metrics label (shared, so labelling a request allocates nothing).
    pub label: Arc<String>,
    /// Whether the prefix is removed before forwarding.
    pub strip_prefix: bool,
    /// Round-robin targets.
    pub upstreams: Vec<Upstream>,
    /// See [`RouteAuth`].
    pub auth: RouteAuth,
    /// Request bodies must be JWEs under the session key.
    pub encrypted_request: bool,
    /// Response bodies are sealed under the session key.
    pub encrypted_response: bool,
    /// See [`DEFAULT_ROUTE_MAX_BODY`].
    pub max_body_bytes: usize,
    /// See [`DEFAULT_UPSTREAM_TIMEOUT`].
    pub upstream_timeout: Duration,
    /// The upstream response headers passed beside a sealed response (none by default:
    /// `ETag`, `Digest`, `Set-Cookie`, `Location` and the like can describe the plaintext).
    pub sealed_response_headers: Vec<http::HeaderName>,
    /// Round-robin cursor over `upstreams`: the one mutable field, atomic so the validated
    /// configuration can be shared by every request.
    pub next_upstream: AtomicUsize,
}

impl Route {
    /// The next upstream in round-robin order.
    pub fn pick_upstream(&self) -> &Upstream {
        let i = self.next_upstream.fetch_add(1, Ordering::Relaxed);
        &self.upstreams[i % self.upstreams.len()]
    }
}

/// Validates every route, refuses a prefix used twice, and orders them longest prefix
/// first, so the first match is the longest match.
pub(super) fn validate(
    raw: Vec<RouteFile>,
    token_path: &str,
) -> Result<Vec<Arc<Route>>, ConfigError> {
    let mut routes = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        routes.push(Arc::new(validate_route(
            &format!("routes[{i}]"),
            r,
            token_path,
        )?));
    }
    for (i, a) in routes.iter().enumerate() {
        if routes[..i]
            .iter()
            .any(|b| b.prefix == a.prefix && b.hosts == a.hosts)
        {
            return Err(invalid(
                format!("routes[{i}].prefix"),
                format!("`{}` is used twice", a.prefix),
            ));
        }
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    Ok(routes)
}

fn validate_route(key: &str, r: RouteFile, token_path: &str) -> Result<Route, ConfigError> {
    let prefix = r
        .prefix
        .ok_or_else(|| invalid(format!("{key}.prefix"), "is required"))?;
    if !prefix.starts_with('/') || prefix.contains(['?', '#']) {
        return Err(invalid(
            format!("{key}.prefix"),
            "must be an absolute path without query or fragment",
        ));
    }
    if prefix == token_path {
        return Err(invalid(
            format!("{key}.prefix"),
            "must differ from token.path",
        ));
    }
    if r.upstreams.is_empty() {
        return Err(invalid(
            format!("{key}.upstreams"),
            "needs at least one upstream URL",
        ));
    }
    let mut upstreams = Vec::new();
    for (j, u) in r.upstreams.iter().enumerate() {
        upstreams.push(parse_upstream(&format!("{key}.upstreams[{j}]"), u)?);
    }
    let auth = r.auth.unwrap_or_default();
    let with_token = auth == RouteAuth::Token;
    let encrypted_request = r.encrypted_request.unwrap_or(with_token);
    let encrypted_response = r.encrypted_response.unwrap_or(with_token);
    if !with_token && (encrypted_request || encrypted_response) {
        return Err(invalid(
            format!("{key}.auth"),
            "encryption needs a session: set auth = \"token\"",
        ));
    }
    let hosts = r
        .hosts
        .iter()
        .enumerate()
        .map(|(j, text)| host_pattern(&format!("{key}.hosts[{j}]"), text))
        .collect::<Result<Vec<_>, _>>()?;
    let cors = match r.cors {
        None => None,
        Some(c) => Some(super::cors::validate(&format!("{key}.cors"), c)?),
    };
    Ok(Route {
        label: Arc::new(prefix.clone()),
        prefix,
        hosts,
        cors,
        strip_prefix: r.strip_prefix.unwrap_or(false),
        upstreams,
        auth,
        encrypted_request,
        encrypted_response,
        max_body_bytes: positive(
            &format!("{key}.max_body_bytes"),
            r.max_body_bytes,
            DEFAULT_ROUTE_MAX_BODY,
        )?,
        upstream_timeout: millis(
            &format!("{key}.upstream_timeout_ms"),
            r.upstream_timeout_ms,
            DEFAULT_UPSTREAM_TIMEOUT,
        )?,
        sealed_response_headers: r
            .sealed_response_headers
            .iter()
            .enumerate()
            .map(|(j, name)| {
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    invalid(
                        format!("{key}.sealed_response_headers[{j}]"),
                        format!("`{name}` is not a valid header name"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        next_upstream: AtomicUsize::new(0),
    })
}

fn host_pattern(key: &str, text: &str) -> Result<HostPattern, ConfigError> {
    let lower = text.to_ascii_lowercase();
    let (wildcard, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.');
    if !valid {
        return Err(invalid(
            key,
            format!("`{text}` is not a host name or `*.` and a domain (no port, no scheme)"),
        ));
    }
    Ok(if wildcard {
        HostPattern::Suffix(name.to_owned())
    } else {
        HostPattern::Exact(name.to_owned())
    })
}

fn parse_upstream(key: &str, text: &str) -> Result<Upstream, ConfigError> {
    let uri: http::Uri = text
        .parse()
        .map_err(|_| invalid(key, format!("`{text}` is not a URL")))?;
    let scheme = uri
        .scheme()
        .cloned()
        .ok_or_else(|| invalid(key, "needs a scheme (http://)"))?;
    if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
        return Err(invalid(
            key,
            format!("scheme `{scheme}` is not supported (use http:// or https://)"),
        ));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| invalid(key, "needs a host"))?;
    if uri.query().is_some() {
        return Err(invalid(key, "must not have a query"));
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Ok(Upstream {
        scheme,
        authority,
        base_path,
    })
}

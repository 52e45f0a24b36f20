//! `[[routes]]`: the proxied routes, their upstreams, authentication and encryption.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, filled, invalid, millis, positive};

/// Connections refused or dropped before the request was written, in a row, after which an
/// upstream instance is ejected from its route's rotation (a client cannot cause these).
pub const DEFAULT_EJECT_AFTER_FAILURES: u32 = 5;
/// The share of failed answers (5xx, resets, timeouts not caused by the client's upload)
/// over the outlier window at and above which an instance may be ejected, when it is also
/// this many points above its siblings.
pub const DEFAULT_EJECT_FAILURE_PERCENT: u8 = 50;
/// Answers an instance must have given in the outlier window before its ratio counts.
pub const DEFAULT_EJECT_MIN_REQUESTS: u32 = 20;
/// The largest share of a route's instances ejected at once (at least one may be).
pub const DEFAULT_MAX_EJECTED_PERCENT: u8 = 50;
/// Tries of one request in all when `[routes.retry]` is present (the first and one retry).
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 2;
/// How long a pooled upstream connection rests, watched, after an answer before it carries
/// another request. Bytes a broken backend writes late past its answer (a body after a
/// `HEAD`, bytes past `Content-Length`, held back by Nagle and a 40 ms delayed ACK) land
/// while it rests and are caught, instead of being read as another client's answer. The
/// cost: a busy route keeps about requests-per-second × this many connections.
pub const DEFAULT_REUSE_AFTER_IDLE: Duration = Duration::from_millis(50);
/// Retries at most this share of a route's requests (a retry budget, so retries cannot
/// multiply the load of an outage).
pub const DEFAULT_RETRY_BUDGET_PERCENT: u8 = 20;
/// Retries allowed in any window whatever the budget, so a quiet route can still retry.
pub const DEFAULT_RETRY_MIN_PER_WINDOW: u32 = 10;
/// How long a first ejection lasts; each ejection in a row doubles it, up to
/// [`MAX_EJECTION`].
pub const DEFAULT_EJECTION: Duration = Duration::from_secs(10);
/// The longest an instance stays ejected.
pub const MAX_EJECTION: Duration = Duration::from_secs(300);
/// How often an active health check probes each instance.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// How long a probe may take.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Probes in a row that mark an instance up again.
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
/// Probes in a row that mark an instance down.
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;

/// How many leading bits of an IPv6 client address a rate limit counts it by, when left
/// out: 64, the block a mobile network gives one device (home broadband often gets a /56
/// per household: set 56 there).
pub const DEFAULT_RATE_IPV6_PREFIX: u8 = 64;

/// The period of a route's rate limit when `period_secs` is left out: `requests` is then
/// per second.
pub const DEFAULT_RATE_PERIOD: Duration = Duration::from_secs(1);

/// A WebSocket tunnel with no byte either way for this long is closed.
pub const DEFAULT_WEBSOCKET_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A WebSocket tunnel is closed after this long whatever it carries (on a token route, at
/// the token's expiry if that comes first), so no connection outlives every deployment.
pub const DEFAULT_WEBSOCKET_MAX_DURATION: Duration = Duration::from_secs(86_400);

/// Tunnels a route holds open at most; past it a handshake is `503 ROUTE004`. Tunnels
/// outlive the requests `max_in_flight` counts, and behind a trusted balancer every client
/// shares one address, so the per-address share cannot bound them.
pub const DEFAULT_WEBSOCKET_MAX_TUNNELS: usize = 1000;

/// Largest request (and encrypted response) body on a route.
pub const DEFAULT_ROUTE_MAX_BODY: usize = 1024 * 1024;
/// Time for the upstream to answer with a response head.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// `[[routes]]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct RouteFile {
    pub prefix: Option<String>,
    pub strip_prefix: Option<bool>,
    #[serde(default)]
    pub upstreams: Vec<UpstreamFile>,
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
    pub max_in_flight: Option<usize>,
    pub eject_after_failures: Option<u32>,
    pub eject_failure_percent: Option<u8>,
    pub eject_min_requests: Option<u32>,
    pub max_ejected_percent: Option<u8>,
    pub ejection_ms: Option<u64>,
    pub health_check: Option<HealthCheckFile>,
    pub retry: Option<RetryFile>,
    pub connect_timeout_ms: Option<u64>,
    pub reuse_after_idle_ms: Option<u64>,
    pub body_read_timeout_ms: Option<u64>,
    pub rate_limit: Option<RateLimitFile>,
    pub websocket: Option<WebSocketFile>,
    pub upstream_protocol: Option<UpstreamProtocol>,
    pub jwt_provider: Option<String>,
}

/// The HTTP version a route speaks to its upstreams (`routes[].upstream_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1, keep-alive pooled (the default).
    #[default]
    Http1,
    /// HTTP/2: `h2` chosen by ALPN on `https://` instances (a handshake that does not choose
    /// it fails), `h2c` with prior knowledge on `http://` ones. What gRPC needs.
    Http2,
}

/// `[routes.websocket]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct WebSocketFile {
    pub idle_timeout_ms: Option<u64>,
    pub max_duration_ms: Option<u64>,
    pub max_tunnels: Option<usize>,
}

/// `[routes.websocket]`, validated: WebSocket upgrades (RFC 6455, HTTP/1.1) pass through to
/// the upstream on this route, frames untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocket {
    /// See [`DEFAULT_WEBSOCKET_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`DEFAULT_WEBSOCKET_MAX_DURATION`].
    pub max_duration: Duration,
    /// See [`DEFAULT_WEBSOCKET_MAX_TUNNELS`].
    pub max_tunnels: usize,
}

/// `[routes.rate_limit]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct RateLimitFile {
    pub key: Option<RateKey>,
    pub requests: Option<u32>,
    pub period_secs: Option<u64>,
    pub burst: Option<u32>,
    pub store: Option<RateStore>,
    pub ipv6_prefix: Option<u8>,
}

/// Whose requests a route's rate limit counts together (`routes[].rate_limit.key`). None of
/// them is chosen by the client: the client is the one its credentials proved, the session
/// the one its token names, the address the one [`crate::context`] trusts (the peer, or
/// `X-Forwarded-For` from a trusted proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateKey {
    /// The client's `apiKey`, over all its sessions (the default on token routes).
    Client,
    /// One session (one token).
    Session,
    /// The client address; an IPv6 address counts by its /64, the block one subscriber is
    /// given (the default, and the only key, on `auth = "none"` routes).
    Address,
}

impl RateKey {
    /// Its name in the configuration, metrics and the `RateLimit` headers.
    pub fn name(self) -> &'static str {
        match self {
            RateKey::Client => "client",
            RateKey::Session => "session",
            RateKey::Address => "address",
        }
    }
}

/// Where a route's rate limit is counted (`routes[].rate_limit.store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateStore {
    /// In this instance's memory: each instance allows the whole rate.
    Local,
    /// In Redis (`sessions.backend = "redis"`), one atomic script per request: the rate holds
    /// across every instance. The default with the Redis backend.
    Shared,
}

/// `[routes.rate_limit]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Whose requests count together.
    pub key: RateKey,
    /// The sustained rate's requests…
    pub requests: u32,
    /// …per this many seconds (the `RateLimit-Policy` window).
    pub period_secs: u64,
    /// Requests allowed at once.
    pub burst: u32,
    /// Counted in Redis rather than in memory.
    pub shared: bool,
    /// An IPv6 client address counts by its first this many bits (`address` key).
    pub ipv6_prefix: u8,
}

/// `[routes.retry]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct RetryFile {
    pub attempts: Option<u32>,
    pub budget_percent: Option<u8>,
    pub min_per_window: Option<u32>,
}

/// `[routes.retry]`, validated: an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE)
/// whose body is buffered is tried again on another instance after a 502, a 503, a
/// connection failure or a timeout, while the route's retry budget allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included (see [`DEFAULT_RETRY_ATTEMPTS`]).
    pub attempts: u32,
    /// See [`DEFAULT_RETRY_BUDGET_PERCENT`].
    pub budget_percent: u8,
    /// See [`DEFAULT_RETRY_MIN_PER_WINDOW`].
    pub min_per_window: u32,
}

/// Passive outlier detection of a route's instances (see `upstream::health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlier {
    /// See [`DEFAULT_EJECT_AFTER_FAILURES`] (0 never ejects for them).
    pub eject_after_failures: u32,
    /// See [`DEFAULT_EJECT_FAILURE_PERCENT`] (100 never ejects for answers alone).
    pub failure_percent: u8,
    /// See [`DEFAULT_EJECT_MIN_REQUESTS`].
    pub min_requests: u32,
    /// See [`DEFAULT_MAX_EJECTED_PERCENT`].
    pub max_ejected_percent: u8,
    /// See [`DEFAULT_EJECTION`].
    pub ejection: Duration,
}

/// One `routes[].upstreams` entry as written: a URL, or `{ url, weight }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged, deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub enum UpstreamFile {
    Url(String),
    Weighted { url: String, weight: Option<u32> },
}

impl From<&str> for UpstreamFile {
    fn from(url: &str) -> Self {
        UpstreamFile::Url(url.to_owned())
    }
}

impl From<String> for UpstreamFile {
    fn from(url: String) -> Self {
        UpstreamFile::Url(url)
    }
}

/// `[routes.health_check]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct HealthCheckFile {
    pub path: Option<String>,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
}

/// `[routes.health_check]`, validated: a `GET path` to every instance every `interval`;
/// a 2xx within `timeout` is a pass.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// The path probed (on each instance's base path).
    pub path: String,
    /// See [`DEFAULT_HEALTH_INTERVAL`].
    pub interval: Duration,
    /// See [`DEFAULT_HEALTH_TIMEOUT`].
    pub timeout: Duration,
    /// See [`DEFAULT_HEALTHY_THRESHOLD`].
    pub healthy_threshold: u32,
    /// See [`DEFAULT_UNHEALTHY_THRESHOLD`].
    pub unhealthy_threshold: u32,
}

/// Whether a route requires a session token (`routes[].auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    /// A valid bearer token is required. The default.
    #[default]
    Token,
    /// No authentication: a plain reverse-proxy route.
    None,
    /// A bearer JWT from an identity provider (`routes[].jwt_provider`): partner and web
    /// channels with OAuth2/OIDC access tokens. No session, so no sealed bodies.
    Jwt,
}

/// One upstream instance.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// `host:port`.
    pub authority: http::uri::Authority,
    /// A path prefixed to every forwarded path (no trailing `/`), often empty.
    pub base_path: String,
    /// Its share of the route's requests, against the others' (default 1).
    pub weight: u32,
    /// `scheme://authority`: its metrics label (shared, so labelling allocates nothing).
    pub label: Arc<String>,
    /// The URL as written: what identifies the instance across a reload (its health, its
    /// pooled connections and its share of in-flight requests carry over when it stays).
    pub url: String,
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

/// A proxied route: plain data. What changes while it serves (its instances' health, the
/// round-robin cursor, in-flight slots, pooled connections) lives in `upstream`, keyed by
/// [`Route::key`] so that it survives a reload.
#[derive(Debug)]
pub struct Route {
    /// Its position in [`super::Config::routes`] (longest prefix first): the index of its
    /// upstream state in the gateway's table for this configuration.
    pub index: usize,
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
    /// Weighted round-robin order: each instance's index, repeated by its weight.
    pub rotation: Vec<usize>,
    /// Requests in flight to this route at most; past it, 503 `ROUTE004` with `Retry-After`
    /// (circuit breaking). `None`: only the server-wide limit.
    pub max_in_flight: Option<usize>,
    /// Passive outlier detection.
    pub outlier: Outlier,
    /// The active health check, if configured.
    pub health_check: Option<HealthCheck>,
    /// Retries of idempotent requests, when configured.
    pub retry: Option<Retry>,
    /// Time to connect to an instance (`None`: `server.upstream_connect_timeout_ms`).
    pub connect_timeout: Option<Duration>,
    /// See [`DEFAULT_REUSE_AFTER_IDLE`].
    pub reuse_after_idle: Duration,
    /// Time to read a client's buffered (sealed) body (`None`:
    /// `server.body_read_timeout_ms`).
    pub body_read_timeout: Option<Duration>,
    /// The request rate limit, if configured.
    pub rate_limit: Option<RateLimit>,
    /// WebSocket pass-through, when allowed.
    pub websocket: Option<WebSocket>,
    /// See [`UpstreamProtocol`].
    pub upstream_protocol: UpstreamProtocol,
    /// The identity provider whose tokens an `auth = "jwt"` route accepts.
    pub jwt_provider: Option<Arc<super::JwtProvider>>,
}

impl Route {
    /// What identifies the route across a reload: its prefix and hosts.
    pub fn key(&self) -> String {
        let mut key = self.prefix.clone();
        for host in &self.hosts {
            key.push(' ');
            match host {
                HostPattern::Exact(name) => key.push_str(name),
                HostPattern::Suffix(suffix) => {
                    key.push_str("*.");
                    key.push_str(suffix);
                }
            }
        }
        key
    }
}

/// Validates every route, refuses a prefix used twice, and orders them longest prefix
/// first, so the first match is the longest match.
pub(super) fn validate(
    raw: Vec<RouteFile>,
    token_path: &str,
    shared_state: bool,
    providers: &std::collections::BTreeMap<String, Arc<super::JwtProvider>>,
) -> Result<Vec<Arc<Route>>, ConfigError> {
    let mut routes = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        routes.push(validate_route(
            &format!("routes[{i}]"),
            r,
            token_path,
            shared_state,
            providers,
        )?);
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
    Ok(routes
        .into_iter()
        .enumerate()
        .map(|(index, route)| Arc::new(Route { index, ..route }))
        .collect())
}

fn validate_route(
    key: &str,
    r: RouteFile,
    token_path: &str,
    shared_state: bool,
    providers: &std::collections::BTreeMap<String, Arc<super::JwtProvider>>,
) -> Result<Route, ConfigError> {
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
    let mut rotation = Vec::new();
    for (j, u) in r.upstreams.iter().enumerate() {
        let key = format!("{key}.upstreams[{j}]");
        let (url, weight) = match u {
            UpstreamFile::Url(url) => (url, 1),
            UpstreamFile::Weighted { url, weight } => (url, weight.unwrap_or(1)),
        };
        if !(1..=100).contains(&weight) {
            return Err(invalid(format!("{key}.weight"), "must be 1 to 100"));
        }
        let upstream = parse_upstream(&key, url, weight)?;
        if upstreams.iter().any(|u: &Upstream| u.url == upstream.url) {
            return Err(invalid(key, "lists the same URL twice (use weight)"));
        }
        upstreams.push(upstream);
        rotation.extend(std::iter::repeat_n(j, weight as usize));
    }
    let auth = filled(&format!("{key}.auth"), r.auth)?;
    let upstream_protocol = filled(&format!("{key}.upstream_protocol"), r.upstream_protocol)?;
    let jwt_provider = match (auth, r.jwt_provider) {
        (RouteAuth::Jwt, Some(name)) => {
            Some(Arc::clone(providers.get(&name).ok_or_else(|| {
                invalid(
                    format!("{key}.jwt_provider"),
                    format!("`{name}` is not in [jwt_providers]"),
                )
            })?))
        }
        (RouteAuth::Jwt, None) => {
            return Err(invalid(
                format!("{key}.jwt_provider"),
                "is required with auth = \"jwt\"",
            ));
        }
        (_, Some(_)) => {
            return Err(invalid(
                format!("{key}.jwt_provider"),
                "is read only with auth = \"jwt\"",
            ));
        }
        (_, None) => None,
    };
    let with_token = auth == RouteAuth::Token;
    let encrypted_request = filled(&format!("{key}.encrypted_request"), r.encrypted_request)?;
    let encrypted_response = filled(&format!("{key}.encrypted_response"), r.encrypted_response)?;
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
    let percent = |name: &str, value: Option<u8>| match filled(&format!("{key}.{name}"), value)? {
        p if p > 100 => Err(invalid(format!("{key}.{name}"), "must be 0 to 100")),
        p => Ok(p),
    };
    let optional_millis = |name: &str, value: Option<u64>| match value {
        None => Ok(None),
        some => millis(&format!("{key}.{name}"), some).map(Some),
    };
    Ok(Route {
        index: 0,
        label: Arc::new(prefix.clone()),
        prefix,
        hosts,
        cors,
        strip_prefix: filled(&format!("{key}.strip_prefix"), r.strip_prefix)?,
        upstreams,
        auth,
        encrypted_request,
        encrypted_response,
        max_body_bytes: positive(&format!("{key}.max_body_bytes"), r.max_body_bytes)?,
        upstream_timeout: millis(&format!("{key}.upstream_timeout_ms"), r.upstream_timeout_ms)?,
        rotation,
        max_in_flight: match r.max_in_flight {
            Some(0) => {
                return Err(invalid(
                    format!("{key}.max_in_flight"),
                    "must be at least 1",
                ));
            }
            other => other,
        },
        outlier: Outlier {
            eject_after_failures: filled(
                &format!("{key}.eject_after_failures"),
                r.eject_after_failures,
            )?,
            failure_percent: percent("eject_failure_percent", r.eject_failure_percent)?,
            min_requests: filled(&format!("{key}.eject_min_requests"), r.eject_min_requests)?,
            max_ejected_percent: percent("max_ejected_percent", r.max_ejected_percent)?,
            ejection: millis(&format!("{key}.ejection_ms"), r.ejection_ms)?,
        },
        health_check: match r.health_check {
            None => None,
            Some(h) => Some(health_check(&format!("{key}.health_check"), h)?),
        },
        retry: match r.retry {
            None => None,
            Some(retry) => Some(Retry {
                attempts: match filled(&format!("{key}.retry.attempts"), retry.attempts)? {
                    n if !(1..=5).contains(&n) => {
                        return Err(invalid(format!("{key}.retry.attempts"), "must be 1 to 5"));
                    }
                    n => n,
                },
                budget_percent: percent("retry.budget_percent", retry.budget_percent)?,
                min_per_window: filled(
                    &format!("{key}.retry.min_per_window"),
                    retry.min_per_window,
                )?,
            }),
        },
        connect_timeout: optional_millis("connect_timeout_ms", r.connect_timeout_ms)?,
        reuse_after_idle: match filled(
            &format!("{key}.reuse_after_idle_ms"),
            r.reuse_after_idle_ms,
        )? {
            ms if ms > 10_000 => {
                return Err(invalid(
                    format!("{key}.reuse_after_idle_ms"),
                    "must be at most 10000 (a connection idle 30 s is closed)",
                ));
            }
            ms => Duration::from_millis(ms),
        },
        body_read_timeout: optional_millis("body_read_timeout_ms", r.body_read_timeout_ms)?,
        rate_limit: match r.rate_limit {
            None => None,
            Some(limit) => Some(rate_limit(
                &format!("{key}.rate_limit"),
                limit,
                auth,
                shared_state,
            )?),
        },
        upstream_protocol,
        jwt_provider,
        websocket: match r.websocket {
            None => None,
            Some(_) if upstream_protocol == UpstreamProtocol::Http2 => {
                return Err(invalid(
                    format!("{key}.websocket"),
                    "WebSocket goes to upstreams over HTTP/1.1: set upstream_protocol = \"http1\"",
                ));
            }
            Some(_) if encrypted_request || encrypted_response => {
                return Err(invalid(
                    format!("{key}.websocket"),
                    "frames cannot be sealed: a WebSocket route needs encrypted_request = false \
                     and encrypted_response = false",
                ));
            }
            Some(w) => Some(WebSocket {
                max_tunnels: positive(&format!("{key}.websocket.max_tunnels"), w.max_tunnels)?,
                idle_timeout: millis(
                    &format!("{key}.websocket.idle_timeout_ms"),
                    w.idle_timeout_ms,
                )?,
                max_duration: millis(
                    &format!("{key}.websocket.max_duration_ms"),
                    w.max_duration_ms,
                )?,
            }),
        },
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

/// The most requests a limit counts in a burst or a period: past a million, a limit is not
/// what holds a route back.
const MAX_RATE_REQUESTS: u32 = 1_000_000;
/// The longest period: a day.
const MAX_RATE_PERIOD_SECS: u64 = 86_400;
/// The longest a limit may take to become whole again: 30 days.
const MAX_RATE_REFILL_SECS: u64 = 30 * 86_400;

fn rate_limit(
    key: &str,
    l: RateLimitFile,
    auth: RouteAuth,
    shared_state: bool,
) -> Result<RateLimit, ConfigError> {
    let rate_key = filled(&format!("{key}.key"), l.key)?;
    if auth == RouteAuth::Jwt && rate_key == RateKey::Session {
        return Err(invalid(
            format!("{key}.key"),
            "an identity provider's token has no session here: use `client` (its `sub`) or `address`",
        ));
    }
    if auth == RouteAuth::None && rate_key != RateKey::Address {
        return Err(invalid(
            format!("{key}.key"),
            format!(
                "`{}` needs a session: on an auth = \"none\" route only `address` is known",
                rate_key.name()
            ),
        ));
    }
    let count = |name: &str, value: Option<u32>| match value {
        None => Err(invalid(format!("{key}.{name}"), "is required")),
        Some(n) if (1..=MAX_RATE_REQUESTS).contains(&n) => Ok(n),
        Some(_) => Err(invalid(
            format!("{key}.{name}"),
            format!("must be 1 to {MAX_RATE_REQUESTS}"),
        )),
    };
    let requests = count("requests", l.requests)?;
    let burst = count("burst", l.burst)?;
    let period_secs = match filled(&format!("{key}.period_secs"), l.period_secs)? {
        p if (1..=MAX_RATE_PERIOD_SECS).contains(&p) => p,
        _ => {
            return Err(invalid(
                format!("{key}.period_secs"),
                format!("must be 1 to {MAX_RATE_PERIOD_SECS} (a day)"),
            ));
        }
    };
    // One request per microsecond at most is counted: a finer interval would be rounded
    // by more than 1 %, allowing more than the configured rate.
    if period_secs * 1_000_000 / u64::from(requests) < 100 {
        return Err(invalid(
            format!("{key}.requests"),
            "more than 10000 per second for one key cannot be counted exactly: lower it, or lengthen period_secs",
        ));
    }
    // Keeps every time in the arithmetic far below 2^53 µs, exact in a Redis script's doubles.
    if u64::from(burst) * period_secs / u64::from(requests) > MAX_RATE_REFILL_SECS {
        return Err(invalid(
            format!("{key}.burst"),
            "takes more than 30 days to refill at this rate (burst × period_secs / requests)",
        ));
    }
    let shared = filled(&format!("{key}.store"), l.store)? == RateStore::Shared;
    if shared && !shared_state {
        return Err(invalid(
            format!("{key}.store"),
            "`shared` counts in Redis: set sessions.backend = \"redis\", or store = \"local\"",
        ));
    }
    let ipv6_prefix = match filled(&format!("{key}.ipv6_prefix"), l.ipv6_prefix)? {
        bits @ 32..=128 => bits,
        _ => {
            return Err(invalid(format!("{key}.ipv6_prefix"), "must be 32 to 128"));
        }
    };
    Ok(RateLimit {
        key: rate_key,
        requests,
        period_secs,
        burst,
        shared,
        ipv6_prefix,
    })
}

fn health_check(key: &str, h: HealthCheckFile) -> Result<HealthCheck, ConfigError> {
    let path = filled(&format!("{key}.path"), h.path)?;
    if !path.starts_with('/') {
        return Err(invalid(format!("{key}.path"), "must start with /"));
    }
    let threshold = |name: &str, value: Option<u32>| positive(&format!("{key}.{name}"), value);
    Ok(HealthCheck {
        path,
        interval: millis(&format!("{key}.interval_ms"), h.interval_ms)?,
        timeout: millis(&format!("{key}.timeout_ms"), h.timeout_ms)?,
        healthy_threshold: threshold("healthy_threshold", h.healthy_threshold)?,
        unhealthy_threshold: threshold("unhealthy_threshold", h.unhealthy_threshold)?,
    })
}

fn parse_upstream(key: &str, text: &str, weight: u32) -> Result<Upstream, ConfigError> {
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
    // Credentials in a URL travel wherever the URL does (the dump, a log line, a span's
    // `server.address`); and `user:password@` is not how an upstream is authenticated here.
    if authority.as_str().contains('@') {
        return Err(invalid(
            key,
            "must not carry credentials (`user:password@`): the URL is shown by \
             check-config --dump and in logs, metrics and traces; authenticate the gateway \
             to the upstream with [upstream_tls] client certificates",
        ));
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    // The label is logged and exported: host and port only, never a `user:password@`.
    let label = match authority.port() {
        Some(port) => format!("{scheme}://{}:{port}", authority.host()),
        None => format!("{scheme}://{}", authority.host()),
    };
    Ok(Upstream {
        label: Arc::new(label),
        scheme,
        authority,
        base_path,
        weight,
        url: text.to_owned(),
    })
}

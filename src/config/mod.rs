//! Configuration: the TOML file ([`file::FileConfig`], unknown keys refused) is validated once
//! into a typed [`Config`]; nothing downstream re-checks it. Every default and limit is a
//! named `DEFAULT_*` constant here.
//!
//! An invalid file stops start-up with a [`ConfigError`] naming the key and the problem.
//! Production files need hold no plaintext secret: client secrets may be hashes or
//! environment references, token keys environment variables or files.

pub mod file;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::crypto::Key32;
use crate::crypto::kdf::Kdf;
use crate::jose::b64;
use crate::token::credentials::SecretVerifier;
use crate::token::keys::{KeyRing, Kid, TokenKey};
use file::FileConfig;

/// Where `sealgate` looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/gateway.toml";
/// The public listener.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Open client connections at once; the accept loop waits for a slot beyond this.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Requests being handled at once; beyond this the gateway answers 503 with `Retry-After`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4_096;
/// Time allowed for a client to send a complete request head (slowloris defence).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Total time allowed to read a request body that the gateway buffers.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run after SIGTERM/SIGINT before connections are cut.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Request header fields accepted per request (HTTP/1.1); more is answered 431.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// The token endpoint's path.
pub const DEFAULT_TOKEN_PATH: &str = "/token-service/new/v2/token";
/// `iss` of the tokens this gateway issues and accepts.
pub const DEFAULT_ISSUER: &str = "sealgate";
/// Largest token request body accepted (PROTOCOL §1: 16 KiB).
pub const DEFAULT_TOKEN_MAX_BODY: usize = 16 * 1024;
/// Live sessions held in memory at most.
pub const DEFAULT_MAX_SESSIONS: usize = 1_000_000;
/// How often expired sessions are swept from memory.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Clock skew tolerated when checking `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Encrypted request bodies one session may send; each one's IV is remembered to refuse
/// replays, so this bounds that memory (12 bytes an IV). A client then gets a new token.
pub const DEFAULT_MAX_REQUESTS_PER_SESSION: usize = 100_000;
/// Header carrying the bearer token on protected routes.
pub const DEFAULT_AUTHORIZATION_HEADER: &str = "authorization";
/// A channel's token lifetime.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Largest request (and encrypted response) body on a route.
pub const DEFAULT_ROUTE_MAX_BODY: usize = 1024 * 1024;
/// Time for the upstream to answer with a response head.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head (request line and headers) in bytes; more is answered 431.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Tokens one source address may get per minute. Per client the default is unlimited:
/// an `apiKey` is usually shared by every install of an app.
pub const DEFAULT_RATE_LIMIT_PER_ADDRESS: u32 = 120;
/// Where the admin listener binds: loopback, never the public interface.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// Time for a client to complete the TLS handshake.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often certificate files are checked for changes.
pub const DEFAULT_TLS_RELOAD_POLL: Duration = Duration::from_secs(5);
/// Time to open a TCP connection to the upstream.
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Prefix of every key sealgate writes in Redis.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "sealgate";
/// Time allowed for one Redis call (a request waits at most this long on Redis).
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// Time allowed to open a connection to a Redis node.
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A configuration that cannot be used; names the key (dotted path) and the problem.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key or a wrong type.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, with line, column and key.
        message: String,
    },
    /// A key has a value that is not acceptable.
    #[error("config key `{key}`: {problem}")]
    Invalid {
        /// Dotted path of the key, e.g. `clients.ABC.channels`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The public listener and its limits.
    pub server: ServerConfig,
    /// The token endpoint and token keys.
    pub token: TokenConfig,
    /// Accepted `X-API-KEY` values.
    pub channels: HashMap<String, Arc<Channel>>,
    /// Clients by `apiKey`.
    pub clients: HashMap<String, Arc<Client>>,
    /// Proxied routes, longest prefix first.
    pub routes: Vec<Arc<Route>>,
    /// Address of the in-process demo echo upstream, if configured.
    pub demo_upstream: Option<SocketAddr>,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`), if enabled.
    pub admin: Option<SocketAddr>,
    /// HTTPS listeners (the plain listener is `server.listen`).
    pub tls: Vec<TlsListenerConfig>,
    /// TLS towards `https://` upstreams.
    pub upstream_tls: UpstreamTlsConfig,
    /// Where revocations, replay memory and rate-limit counters live (read at start only).
    pub state: StateBackend,
}

/// `sessions.backend`: where the state that must hold across instances lives.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StateBackend {
    /// In this process only (the default): one instance, or instances that need not agree.
    #[default]
    Memory,
    /// In Redis, shared by every instance pointed at it; memory stays a local cache.
    Redis(RedisConfig),
}

/// Which Redis deployment to use.
#[derive(Clone, PartialEq)]
pub enum RedisTarget {
    /// One server (or a proxy in front of several), by URL.
    Standalone(String),
    /// A Redis Cluster, by the URLs of some of its nodes (the rest are discovered).
    Cluster(Vec<String>),
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URLs may carry a password: print only how many there are.
        match self {
            RedisTarget::Standalone(_) => f.write_str("Standalone(..)"),
            RedisTarget::Cluster(nodes) => write!(f, "Cluster({} seed nodes)", nodes.len()),
        }
    }
}

/// What to do when Redis cannot be reached in time (`sessions.redis.on_unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Answer 503 (`STATE001` / `TOK003`) and fail `/readyz`: no request is served without
    /// the replay and revocation checks. The default.
    Refuse,
    /// Serve with this instance's memory alone: replays across instances and revocations
    /// made elsewhere go unseen until Redis is back. Every degraded check is logged and
    /// counted.
    Degrade,
}

/// `[sessions.redis]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// Standalone or cluster.
    pub target: RedisTarget,
    /// Prefix of every key written, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Time allowed for one call.
    pub timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// The policy when Redis cannot be reached.
    pub on_unavailable: Unavailable,
}

/// Whether an mTLS listener requires a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertMode {
    /// The handshake fails without a certificate signed by the client CA.
    Required,
    /// A certificate is verified if sent; clients without one still connect.
    Optional,
}

/// `[[tls]]`, validated.
#[derive(Debug, Clone)]
pub struct TlsListenerConfig {
    /// Where it binds.
    pub listen: SocketAddr,
    /// Chains and keys; the first is the default, SNI selects among them by DNS name.
    pub certificates: Vec<crate::tls::certs::CertPaths>,
    /// CA bundle for client certificates (mTLS), if any.
    pub client_ca_file: Option<PathBuf>,
    /// See [`ClientCertMode`].
    pub client_cert: ClientCertMode,
    /// See [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// See [`DEFAULT_TLS_RELOAD_POLL`].
    pub reload_poll: Duration,
}

/// `[upstream_tls]`, validated; all `None` means the webpki roots and no client certificate.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTlsConfig {
    /// CA bundle to verify upstream certificates instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain presented to upstreams.
    pub client_cert_file: Option<PathBuf>,
    /// Its key.
    pub client_key_file: Option<PathBuf>,
}

/// `[server]`, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the public listener binds.
    pub listen: SocketAddr,
    /// See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// See [`DEFAULT_MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// See [`DEFAULT_UPSTREAM_CONNECT_TIMEOUT`].
    pub upstream_connect_timeout: Duration,
}

/// Whether the session key travels inside the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// The token carries `K` (encrypted under a token key), so any instance holding the same
    /// token keys serves the session, like a TLS session ticket (RFC 5077). The default.
    Ticket,
    /// `K` never leaves this process's memory; a restart ends every session.
    Local,
}

/// `[token]`, validated.
#[derive(Debug)]
pub struct TokenConfig {
    /// See [`DEFAULT_TOKEN_PATH`].
    pub path: String,
    /// See [`DEFAULT_ISSUER`].
    pub issuer: String,
    /// See [`DEFAULT_TOKEN_MAX_BODY`].
    pub max_body_bytes: usize,
    /// See [`SessionMode`].
    pub sessions: SessionMode,
    /// See [`DEFAULT_MAX_SESSIONS`].
    pub max_sessions: usize,
    /// See [`DEFAULT_SWEEP_INTERVAL`].
    pub sweep_interval: Duration,
    /// See [`DEFAULT_LEEWAY`].
    pub leeway: Duration,
    /// See [`DEFAULT_MAX_REQUESTS_PER_SESSION`].
    pub max_requests_per_session: usize,
    /// See [`DEFAULT_AUTHORIZATION_HEADER`].
    pub authorization_header: http::HeaderName,
    /// The headers carrying the caller's `apiKey` and channel to upstreams.
    pub identity_headers: crate::proxy::headers::IdentityHeaders,
    /// Whether `DELETE` on the token path revokes the bearer token's session.
    pub revocation: bool,
    /// Tokens one `apiKey` may get per minute (0: unlimited).
    pub rate_limit_per_client: u32,
    /// Tokens one source address may get per minute (0: unlimited).
    pub rate_limit_per_address: u32,
    /// The token keys: the first issues, all verify.
    pub keys: KeyRing,
}

impl TokenConfig {
    /// The leeway in whole seconds.
    pub fn leeway_secs(&self) -> i64 {
        i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX)
    }

    /// The last second a token expiring at `exp` is accepted (`exp` plus the leeway): how
    /// long its session's revocation and replay memory must be kept.
    pub fn accepted_until(&self, exp: i64) -> i64 {
        exp.saturating_add(self.leeway_secs())
    }
}

/// A channel: one accepted `X-API-KEY` value.
#[derive(Debug)]
pub struct Channel {
    /// The `X-API-KEY` value.
    pub id: Arc<str>,
    /// How `K` is derived from `Z` for this channel's sessions.
    pub kdf: Kdf,
    /// How long a token issued on this channel is accepted.
    pub token_lifetime: Duration,
}

/// A client that may ask for tokens.
#[derive(Debug)]
pub struct Client {
    /// The `apiKey`.
    pub id: Arc<str>,
    /// Checks the presented `secret` in constant time.
    pub secret: SecretVerifier,
    /// A disabled client is refused with `TOK004`.
    pub enabled: bool,
    /// Channels this client may use.
    pub channels: HashSet<Arc<str>>,
    /// If set, the token request must come over mTLS with a client certificate whose
    /// subject (RFC 4514 text) is exactly this.
    pub cert_subject: Option<String>,
}

/// Whether a route requires a session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAuth {
    /// A valid bearer token is required.
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

/// A proxied route.
#[derive(Debug)]
pub struct Route {
    /// Path prefix this route serves.
    pub prefix: String,
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
    /// Round-robin cursor over `upstreams`: the one mutable field, atomic so the validated
    /// configuration can be shared by every request.
    pub next_upstream: std::sync::atomic::AtomicUsize,
}

impl Route {
    /// The next upstream in round-robin order.
    pub fn pick_upstream(&self) -> &Upstream {
        let i = self
            .next_upstream
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.upstreams[i % self.upstreams.len()]
    }
}

impl Config {
    /// Reads and validates the file at `path`, resolving `*_env` from the process
    /// environment and `*_file` relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base, &|name| std::env::var(name).ok())
    }

    /// Parses and validates TOML text. `env` looks up environment variables (injected so
    /// tests need not mutate the process environment).
    pub fn parse(
        text: &str,
        path: &Path,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_file(raw, base, env)
    }

    /// The one validation step from the raw file to the typed configuration.
    pub fn from_file(
        raw: FileConfig,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let server = validate_server(raw.server)?;
        let state = validate_state(raw.sessions, env)?;
        let token = validate_token(raw.token, base, env)?;
        let mut channels = HashMap::new();
        for (id, ch) in raw.channels {
            let key = format!("channels.{id}");
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(key, "a channel id must be non-empty visible ASCII"));
            }
            let kdf = match ch.kdf {
                None => Kdf::HkdfSha256,
                Some(s) => s.parse().map_err(|e| invalid(format!("{key}.kdf"), e))?,
            };
            let lifetime = ch
                .token_lifetime_secs
                .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
            if lifetime.is_zero() || lifetime > Duration::from_secs(7 * 24 * 3600) {
                return Err(invalid(
                    format!("{key}.token_lifetime_secs"),
                    "must be 1 s to 7 days",
                ));
            }
            let id: Arc<str> = id.into();
            channels.insert(
                id.to_string(),
                Arc::new(Channel {
                    id,
                    kdf,
                    token_lifetime: lifetime,
                }),
            );
        }
        let mut clients = HashMap::new();
        for (id, c) in raw.clients {
            let key = format!("clients.{id}");
            if id.is_empty() {
                return Err(invalid(key, "a client apiKey must be non-empty"));
            }
            let secret = client_secret(&key, c.secret, c.secret_hash, c.secret_env, env)?;
            let mut allowed = HashSet::new();
            for ch in c.channels {
                let channel = channels.get(&ch).ok_or_else(|| {
                    invalid(format!("{key}.channels"), format!("unknown channel `{ch}`"))
                })?;
                allowed.insert(channel.id.clone());
            }
            let id: Arc<str> = id.into();
            let client = Client {
                id,
                secret,
                enabled: c.enabled.unwrap_or(true),
                channels: allowed,
                cert_subject: c.cert_subject,
            };
            clients.insert(client.id.to_string(), Arc::new(client));
        }
        let mut routes = Vec::new();
        for (i, r) in raw.routes.into_iter().enumerate() {
            routes.push(Arc::new(validate_route(
                &format!("routes[{i}]"),
                r,
                &token.path,
            )?));
        }
        for (i, a) in routes.iter().enumerate() {
            if routes[..i].iter().any(|b| b.prefix == a.prefix) {
                return Err(invalid(
                    format!("routes[{i}].prefix"),
                    format!("`{}` is used twice", a.prefix),
                ));
            }
        }
        // Longest prefix first, so the first match is the longest match.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let demo_upstream = match raw.demo_upstream {
            None => None,
            Some(d) => Some(socket_addr(
                "demo_upstream.listen",
                d.listen.as_deref().unwrap_or("127.0.0.1:9000"),
            )?),
        };
        let admin = match raw.admin.enabled {
            Some(false) => None,
            _ => Some(socket_addr(
                "admin.listen",
                raw.admin.listen.as_deref().unwrap_or(DEFAULT_ADMIN_LISTEN),
            )?),
        };
        let mut tls = Vec::new();
        for (i, t) in raw.tls.into_iter().enumerate() {
            tls.push(validate_tls(&format!("tls[{i}]"), t, base)?);
        }
        let upstream_tls = match raw.upstream_tls {
            None => UpstreamTlsConfig::default(),
            Some(u) => {
                if u.client_cert_file.is_some() != u.client_key_file.is_some() {
                    return Err(invalid(
                        "upstream_tls",
                        "set both client_cert_file and client_key_file, or neither",
                    ));
                }
                UpstreamTlsConfig {
                    ca_file: u.ca_file.map(|f| base.join(f)),
                    client_cert_file: u.client_cert_file.map(|f| base.join(f)),
                    client_key_file: u.client_key_file.map(|f| base.join(f)),
                }
            }
        };
        Ok(Config {
            server,
            token,
            channels,
            clients,
            routes,
            demo_upstream,
            tls,
            upstream_tls,
            admin,
            state,
        })
    }
}

fn validate_state(
    s: file::SessionsFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StateBackend, ConfigError> {
    match (s.backend.as_deref(), s.redis) {
        (None | Some("memory"), None) => Ok(StateBackend::Memory),
        (None | Some("memory"), Some(_)) => Err(invalid(
            "sessions.redis",
            "set only with sessions.backend = \"redis\"",
        )),
        (Some("redis"), None) => Err(invalid(
            "sessions.redis",
            "sessions.backend = \"redis\" needs a [sessions.redis] table",
        )),
        (Some("redis"), Some(r)) => validate_redis(r, env).map(StateBackend::Redis),
        (Some(other), _) => Err(invalid(
            "sessions.backend",
            format!("`{other}` is not `memory` or `redis`"),
        )),
    }
}

fn validate_redis(
    r: file::RedisFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RedisConfig, ConfigError> {
    let url = match (r.url, r.url_env) {
        (Some(_), Some(_)) => {
            return Err(invalid("sessions.redis", "set url or url_env, not both"));
        }
        (Some(url), None) => Some(url),
        (None, Some(name)) => Some(env(&name).ok_or_else(|| {
            invalid(
                "sessions.redis.url_env",
                format!("environment variable `{name}` is not set"),
            )
        })?),
        (None, None) => None,
    };
    // The client library's own parser decides; its message is not shown because a URL may
    // carry a password.
    let check = |key: &str, url: &str| {
        redis::Client::open(url).map(drop).map_err(|_| {
            invalid(
                key,
                "not a usable redis:// URL (rediss:// is not built in; see the README)",
            )
        })
    };
    let target = match (url, r.cluster_nodes.is_empty()) {
        (Some(url), true) => {
            check("sessions.redis.url", &url)?;
            RedisTarget::Standalone(url)
        }
        (None, false) => {
            for node in &r.cluster_nodes {
                check("sessions.redis.cluster_nodes", node)?;
            }
            redis::cluster::ClusterClient::new(r.cluster_nodes.iter().map(String::as_str))
                .map_err(|_| {
                    invalid(
                        "sessions.redis.cluster_nodes",
                        "the nodes must share one username and password",
                    )
                })?;
            RedisTarget::Cluster(r.cluster_nodes)
        }
        _ => {
            return Err(invalid(
                "sessions.redis",
                "set exactly one of url (standalone) and cluster_nodes (cluster)",
            ));
        }
    };
    let key_prefix = r
        .key_prefix
        .unwrap_or_else(|| DEFAULT_REDIS_KEY_PREFIX.to_owned());
    if key_prefix.is_empty()
        || !key_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(invalid(
            "sessions.redis.key_prefix",
            "use letters, digits and - _ . : only",
        ));
    }
    let on_unavailable = match r.on_unavailable.as_deref() {
        None | Some("refuse") => Unavailable::Refuse,
        Some("degrade") => Unavailable::Degrade,
        Some(other) => {
            return Err(invalid(
                "sessions.redis.on_unavailable",
                format!("`{other}` is not `refuse` or `degrade`"),
            ));
        }
    };
    Ok(RedisConfig {
        target,
        key_prefix,
        timeout: millis(
            "sessions.redis.timeout_ms",
            r.timeout_ms,
            DEFAULT_REDIS_TIMEOUT,
        )?,
        connect_timeout: millis(
            "sessions.redis.connect_timeout_ms",
            r.connect_timeout_ms,
            DEFAULT_REDIS_CONNECT_TIMEOUT,
        )?,
        on_unavailable,
    })
}

fn validate_tls(
    key: &str,
    t: file::TlsListenerFile,
    base: &Path,
) -> Result<TlsListenerConfig, ConfigError> {
    let listen = socket_addr(
        &format!("{key}.listen"),
        t.listen.as_deref().unwrap_or("127.0.0.1:8443"),
    )?;
    if t.certificates.is_empty() {
        return Err(invalid(
            format!("{key}.certificates"),
            "needs at least one cert_file/key_file pair",
        ));
    }
    let mut certificates = Vec::new();
    for (j, c) in t.certificates.into_iter().enumerate() {
        let (Some(cert), Some(k)) = (c.cert_file, c.key_file) else {
            return Err(invalid(
                format!("{key}.certificates[{j}]"),
                "needs cert_file and key_file",
            ));
        };
        certificates.push(crate::tls::certs::CertPaths {
            cert_file: base.join(cert),
            key_file: base.join(k),
        });
    }
    let client_cert = match t.client_cert.as_deref() {
        None | Some("required") => ClientCertMode::Required,
        Some("optional") => ClientCertMode::Optional,
        Some(other) => {
            return Err(invalid(
                format!("{key}.client_cert"),
                format!("`{other}` is not `required` or `optional`"),
            ));
        }
    };
    if t.client_cert.is_some() && t.client_ca_file.is_none() {
        return Err(invalid(
            format!("{key}.client_cert"),
            "needs client_ca_file",
        ));
    }
    Ok(TlsListenerConfig {
        listen,
        certificates,
        client_ca_file: t.client_ca_file.map(|f| base.join(f)),
        client_cert,
        handshake_timeout: millis(
            &format!("{key}.handshake_timeout_ms"),
            t.handshake_timeout_ms,
            DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        )?,
        reload_poll: millis(
            &format!("{key}.reload_poll_ms"),
            t.reload_poll_ms,
            DEFAULT_TLS_RELOAD_POLL,
        )?,
    })
}

fn header_name(
    key: &str,
    value: Option<String>,
    default: http::HeaderName,
) -> Result<http::HeaderName, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => http::HeaderName::from_bytes(text.as_bytes())
            .map_err(|_| invalid(key, format!("`{text}` is not a valid header name"))),
    }
}

fn socket_addr(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse()
        .map_err(|_| invalid(key, format!("`{text}` is not an IP:port address")))
}

fn positive(key: &str, value: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    match value {
        Some(0) => Err(invalid(key, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn millis(key: &str, value: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        Some(0) => Err(invalid(key, "must be at least 1 ms")),
        Some(v) => Ok(Duration::from_millis(v)),
        None => Ok(default),
    }
}

fn validate_server(s: file::ServerFile) -> Result<ServerConfig, ConfigError> {
    Ok(ServerConfig {
        listen: socket_addr(
            "server.listen",
            s.listen.as_deref().unwrap_or(DEFAULT_LISTEN),
        )?,
        max_connections: positive(
            "server.max_connections",
            s.max_connections,
            DEFAULT_MAX_CONNECTIONS,
        )?,
        max_in_flight: positive(
            "server.max_in_flight",
            s.max_in_flight,
            DEFAULT_MAX_IN_FLIGHT,
        )?,
        header_read_timeout: millis(
            "server.header_read_timeout_ms",
            s.header_read_timeout_ms,
            DEFAULT_HEADER_READ_TIMEOUT,
        )?,
        body_read_timeout: millis(
            "server.body_read_timeout_ms",
            s.body_read_timeout_ms,
            DEFAULT_BODY_READ_TIMEOUT,
        )?,
        shutdown_grace: millis(
            "server.shutdown_grace_ms",
            s.shutdown_grace_ms,
            DEFAULT_SHUTDOWN_GRACE,
        )?,
        max_headers: positive("server.max_headers", s.max_headers, DEFAULT_MAX_HEADERS)?,
        max_header_bytes: match s.max_header_bytes {
            Some(n) if n < 8192 => {
                return Err(invalid("server.max_header_bytes", "must be at least 8192"));
            }
            other => other.unwrap_or(DEFAULT_MAX_HEADER_BYTES),
        },
        upstream_connect_timeout: millis(
            "server.upstream_connect_timeout_ms",
            s.upstream_connect_timeout_ms,
            DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
        )?,
    })
}

fn validate_token(
    t: file::TokenFile,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<TokenConfig, ConfigError> {
    let path = t.path.unwrap_or_else(|| DEFAULT_TOKEN_PATH.to_owned());
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(invalid(
            "token.path",
            "must be an absolute path without query or fragment",
        ));
    }
    let sessions = match t.sessions.as_deref() {
        None | Some("ticket") => SessionMode::Ticket,
        Some("local") => SessionMode::Local,
        Some(other) => {
            return Err(invalid(
                "token.sessions",
                format!("`{other}` is not `ticket` or `local`"),
            ));
        }
    };
    let header_text = t
        .authorization_header
        .unwrap_or_else(|| DEFAULT_AUTHORIZATION_HEADER.to_owned());
    let authorization_header = http::HeaderName::from_bytes(header_text.as_bytes())
        .map_err(|_| invalid("token.authorization_header", "not a valid header name"))?;
    let mut keys = Vec::new();
    for (i, k) in t.keys.into_iter().enumerate() {
        let key = format!("token.keys[{i}]");
        let kid_text = k
            .kid
            .ok_or_else(|| invalid(format!("{key}.kid"), "is required"))?;
        let kid = Kid::parse(&kid_text).map_err(|e| invalid(format!("{key}.kid"), e))?;
        if keys.iter().any(|existing: &TokenKey| existing.kid == kid) {
            return Err(invalid(
                format!("{key}.kid"),
                format!("`{kid_text}` is used twice"),
            ));
        }
        let material = token_key_material(&key, k.key, k.key_env, k.key_file, base, env)?;
        keys.push(TokenKey { kid, key: material });
    }
    let keys = if keys.is_empty() {
        KeyRing::ephemeral().map_err(|e| invalid("token.keys", e.to_string()))?
    } else {
        KeyRing::new(keys)
    };
    Ok(TokenConfig {
        path,
        issuer: t.issuer.unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
        max_body_bytes: positive(
            "token.max_body_bytes",
            t.max_body_bytes,
            DEFAULT_TOKEN_MAX_BODY,
        )?,
        sessions,
        max_sessions: positive("token.max_sessions", t.max_sessions, DEFAULT_MAX_SESSIONS)?,
        sweep_interval: millis(
            "token.sweep_interval_ms",
            t.sweep_interval_ms,
            DEFAULT_SWEEP_INTERVAL,
        )?,
        leeway: t.leeway_secs.map_or(DEFAULT_LEEWAY, Duration::from_secs),
        max_requests_per_session: positive(
            "token.max_requests_per_session",
            t.max_requests_per_session,
            DEFAULT_MAX_REQUESTS_PER_SESSION,
        )?,
        authorization_header,
        identity_headers: crate::proxy::headers::IdentityHeaders {
            client: header_name(
                "token.client_id_header",
                t.client_id_header,
                crate::proxy::headers::X_CLIENT_ID,
            )?,
            channel: header_name(
                "token.channel_header",
                t.channel_header,
                crate::proxy::headers::X_CHANNEL,
            )?,
        },
        revocation: t.revocation.unwrap_or(false),
        rate_limit_per_client: t.rate_limit_per_client_per_minute.unwrap_or(0),
        rate_limit_per_address: t
            .rate_limit_per_address_per_minute
            .unwrap_or(DEFAULT_RATE_LIMIT_PER_ADDRESS),
        keys,
    })
}

/// Exactly one of the given sources must be set; returns which one with its value.
fn exactly_one<'a>(
    key: &str,
    options: [(&'a str, Option<String>); 3],
) -> Result<(&'a str, String), ConfigError> {
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let mut set = options.into_iter().filter_map(|(n, v)| v.map(|v| (n, v)));
    match (set.next(), set.next()) {
        (Some(one), None) => Ok(one),
        _ => Err(invalid(
            key,
            format!("set exactly one of `{}`", names.join("`, `")),
        )),
    }
}

fn token_key_material(
    key: &str,
    inline: Option<String>,
    from_env: Option<String>,
    from_file: Option<String>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Key32, ConfigError> {
    let (source, value) = exactly_one(
        key,
        [
            ("key", inline),
            ("key_env", from_env),
            ("key_file", from_file),
        ],
    )?;
    let field = format!("{key}.{source}");
    let text = match source {
        "key_env" => env(&value)
            .ok_or_else(|| invalid(&field, format!("environment variable `{value}` is not set")))?,
        "key_file" => {
            let path = base.join(&value);
            std::fs::read_to_string(&path)
                .map_err(|e| invalid(&field, format!("cannot read {}: {e}", path.display())))?
        }
        _ => value,
    };
    let bytes = b64::decode_strict(text.trim().as_bytes()).map_err(|_| {
        invalid(
            &field,
            "must be 32 bytes as base64url without padding (see `sealgate gen-key`)",
        )
    })?;
    Key32::from_slice(&bytes)
        .ok_or_else(|| invalid(&field, format!("must be 32 bytes, not {}", bytes.len())))
}

fn client_secret(
    key: &str,
    plain: Option<String>,
    hash: Option<String>,
    from_env: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretVerifier, ConfigError> {
    let (source, value) = exactly_one(
        key,
        [
            ("secret", plain),
            ("secret_hash", hash),
            ("secret_env", from_env),
        ],
    )?;
    let field = format!("{key}.{source}");
    match source {
        "secret_hash" => SecretVerifier::from_hash(&value).map_err(|e| invalid(field, e)),
        "secret_env" => {
            let secret = env(&value).ok_or_else(|| {
                invalid(&field, format!("environment variable `{value}` is not set"))
            })?;
            Ok(SecretVerifier::from_plaintext(secret.as_bytes()))
        }
        _ => {
            if value.is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
            Ok(SecretVerifier::from_plaintext(value.as_bytes()))
        }
    }
}

fn validate_route(key: &str, r: file::RouteFile, token_path: &str) -> Result<Route, ConfigError> {
    let prefix = r
        .prefix
        .ok_or_else(|| invalid(format!("{key}.prefix"), "is required"))?;
    if !prefix.starts_with('/') || prefix.contains(['?', '#']) {
        return Err(invalid(
            format!("{key}.prefix"),
            "must be an absolute path without query or fragment",
        ));
    }
    if token_path.starts_with(&prefix) && prefix.len() == token_path.len() {
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
    let auth = match r.auth.as_deref() {
        None | Some("token") => RouteAuth::Token,
        Some("none") => RouteAuth::None,
        Some(other) => {
            return Err(invalid(
                format!("{key}.auth"),
                format!("`{other}` is not `token` or `none`"),
            ));
        }
    };
    let with_token = auth == RouteAuth::Token;
    let encrypted_request = r.encrypted_request.unwrap_or(with_token);
    let encrypted_response = r.encrypted_response.unwrap_or(with_token);
    if !with_token && (encrypted_request || encrypted_response) {
        return Err(invalid(
            format!("{key}.auth"),
            "encryption needs a session: set auth = \"token\"",
        ));
    }
    Ok(Route {
        label: Arc::new(prefix.clone()),
        prefix,
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
        next_upstream: std::sync::atomic::AtomicUsize::new(0),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"), Path::new("."), &|name| {
            (name == "SECRET_VAR").then(|| "from-env".to_owned())
        })
    }

    #[test]
    fn the_bundled_demo_config_is_valid() {
        let text = include_str!("../../config/gateway.toml");
        let config = parse(text).unwrap();
        assert!(config.channels.contains_key("MOB-APP-2001"));
        assert!(config.clients.contains_key("MOB-APP") && config.clients.contains_key("ABC"));
        assert_eq!(config.token.path, DEFAULT_TOKEN_PATH);
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../../config/gateway.example.toml");
        let env = |name: &str| match name {
            "SEALGATE_TOKEN_KEY_2026_11" => Some(b64::encode(&[1; 32])),
            "SEALGATE_SECRET_PARTNER" => Some("partner-secret".to_owned()),
            _ => None,
        };
        Config::parse(text, Path::new("x"), Path::new("."), &env).unwrap();
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n").unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn a_client_on_an_unknown_channel_names_the_key() {
        let err = parse("[clients.A]\nsecret = \"s\"\nchannels = [\"NOPE\"]\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("clients.A.channels") && text.contains("NOPE"),
            "{text}"
        );
    }

    #[test]
    fn the_redis_backend_is_validated_and_its_url_never_printed() {
        let config = parse(
            "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://:hunter2@127.0.0.1:6379/0\"\non_unavailable = \"degrade\"\n",
        )
        .unwrap();
        let StateBackend::Redis(redis) = &config.state else {
            panic!("not the redis backend: {:?}", config.state);
        };
        assert_eq!(redis.on_unavailable, Unavailable::Degrade);
        assert_eq!(redis.timeout, DEFAULT_REDIS_TIMEOUT);
        assert_eq!(redis.key_prefix, DEFAULT_REDIS_KEY_PREFIX);
        assert!(!format!("{config:?}").contains("hunter2"));
        let cluster = parse(
            "[sessions]\nbackend = \"redis\"\n[sessions.redis]\ncluster_nodes = [\"redis://a:7000\", \"redis://b:7000\"]\n",
        )
        .unwrap();
        assert!(matches!(
            cluster.state,
            StateBackend::Redis(RedisConfig { target: RedisTarget::Cluster(ref n), .. }) if n.len() == 2
        ));
        assert!(matches!(parse("").unwrap().state, StateBackend::Memory));
    }

    #[test]
    fn a_client_needs_exactly_one_secret_source() {
        let both = parse("[clients.A]\nsecret = \"s\"\nsecret_env = \"SECRET_VAR\"\n").unwrap_err();
        assert!(both.to_string().contains("exactly one"), "{both}");
        let none = parse("[clients.A]\n").unwrap_err();
        assert!(none.to_string().contains("clients.A"), "{none}");
        let missing = parse("[clients.A]\nsecret_env = \"UNSET\"\n").unwrap_err();
        assert!(missing.to_string().contains("UNSET"), "{missing}");
        let ok = parse("[clients.A]\nsecret_env = \"SECRET_VAR\"\n").unwrap();
        assert!(ok.clients["A"].secret.verify(b"from-env"));
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let cases = [
            ("[channels.C]\nkdf = \"md5\"\n", "channels.C.kdf"),
            ("[server]\nlisten = \"localhost\"\n", "server.listen"),
            ("[token]\nsessions = \"redis\"\n", "token.sessions"),
            (
                "[[token.keys]]\nkid = \"a\"\nkey = \"AAAA\"\n",
                "token.keys[0].key",
            ),
            (
                "[[token.keys]]\nkid = \"bad kid\"\nkey = \"AAAA\"\n",
                "token.keys[0].kid",
            ),
            ("[[routes]]\nprefix = \"/a\"\n", "routes[0].upstreams"),
            (
                "[[routes]]\nprefix = \"/a\"\nupstreams = [\"ftp://x\"]\n",
                "routes[0].upstreams[0]",
            ),
            ("[[tls]]\nlisten = \"127.0.0.1:0\"\n", "tls[0].certificates"),
            (
                "[[tls]]\nclient_cert = \"optional\"\n[[tls.certificates]]\ncert_file = \"a\"\nkey_file = \"b\"\n",
                "tls[0].client_cert",
            ),
            (
                "[[routes]]\nprefix = \"/a\"\nauth = \"none\"\nencrypted_request = true\nupstreams = [\"http://127.0.0.1:1\"]\n",
                "routes[0].auth",
            ),
            ("[server]\nmax_connections = 0\n", "server.max_connections"),
            ("[sessions]\nbackend = \"etcd\"\n", "sessions.backend"),
            ("[sessions]\nbackend = \"redis\"\n", "sessions.redis"),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\n",
                "sessions.redis",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"http://x\"\n",
                "sessions.redis.url",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://a\"\ncluster_nodes = [\"redis://b\"]\n",
                "sessions.redis",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://a\"\non_unavailable = \"ignore\"\n",
                "sessions.redis.on_unavailable",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://a\"\nkey_prefix = \"a b\"\n",
                "sessions.redis.key_prefix",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text} -> {err}");
        }
    }

    #[test]
    fn routes_are_ordered_longest_prefix_first() {
        let text = "[[routes]]\nprefix = \"/api/\"\nupstreams = [\"http://127.0.0.1:1\"]\n\
                    [[routes]]\nprefix = \"/api/v2/\"\nupstreams = [\"http://127.0.0.1:2/base/\"]\n";
        let config = parse(text).unwrap();
        assert_eq!(config.routes[0].prefix, "/api/v2/");
        assert_eq!(config.routes[0].upstreams[0].base_path, "/base");
    }
}

//! `[sessions]` and `[sessions.redis]`: where the session state that several instances must
//! agree on lives (memory, or Redis shared by every instance), and the policy when Redis
//! cannot be reached.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::env::{SecretUse, Secrets};
use super::{ConfigError, SecretUrl, filled, invalid, millis, positive};

/// Sessions whose replay memory (the IVs they have had accepted) is kept at most. Past it,
/// a session not yet remembered is refused with 503 `STATE002` until entries expire:
/// never served without replay protection.
pub const DEFAULT_REPLAY_MEMORY_SESSIONS: usize = 1_000_000;

/// The share of the replay memory one client address (IPv4, IPv6 /64) holds by default:
/// one in this many sessions. Past it, the address's oldest session is evicted (and then
/// refused, `AUTH011`) to make room for its newest. A carrier's NAT address stands for
/// many users, so the share is generous (10,000 of the default million).
pub const DEFAULT_REPLAY_SHARE_PER_ADDRESS: usize = 100;
/// The share one prefix (IPv4 /24, IPv6 /48) holds by default: one in this many sessions.
pub const DEFAULT_REPLAY_SHARE_PER_PREFIX: usize = 20;

/// Prefix of every key sealgate writes in Redis.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "sealgate";
/// Time allowed for one Redis call (a request waits at most this long on Redis).
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// Time allowed to open a connection to a Redis node.
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// `[sessions]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct SessionsFile {
    pub backend: Option<BackendKind>,
    pub redis: Option<RedisFile>,
    pub replay_memory_sessions: Option<usize>,
    pub replay_memory_per_address: Option<usize>,
    pub replay_memory_per_prefix: Option<usize>,
    pub accept_tokens_from_before_start: Option<bool>,
}

/// `sessions.backend` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// This process's memory (the default).
    #[default]
    Memory,
    /// Redis, configured in `[sessions.redis]`.
    Redis,
}

/// `[sessions.redis]` as written: exactly one of `url` (standalone) and `cluster_nodes`.
/// URLs may carry a password: [`SecretUrl`] never shows it.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct RedisFile {
    pub url: Option<SecretUrl>,
    pub url_env: Option<String>,
    #[serde(default)]
    pub cluster_nodes: Vec<SecretUrl>,
    pub key_prefix: Option<String>,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub on_unavailable: Option<Unavailable>,
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
}

/// `sessions.backend`, validated: where the state that must hold across instances lives.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unavailable {
    /// Answer 503 (`STATE001` / `TOK003`) and fail `/readyz`: no request is served without
    /// the replay and revocation checks. The default.
    #[default]
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
    /// TLS to Redis (`rediss://` URLs): the CA bundle that verifies the servers (default:
    /// the webpki roots) and an optional client certificate. Same rustls and provider as
    /// the rest of the gateway.
    pub tls: RedisTls,
}

/// `[sessions.redis]` TLS files, resolved against the configuration's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// CA bundle (PEM) for the servers' certificates.
    pub ca_file: Option<std::path::PathBuf>,
    /// Client certificate chain and key (PEM), when Redis requires one.
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// `[sessions]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionsConfig {
    /// Where the state shared by instances lives (read at start only).
    pub backend: StateBackend,
    /// What this instance remembers of each session.
    pub replay: ReplayConfig,
}

/// What this instance remembers of each session, wherever the shared state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayConfig {
    /// See [`DEFAULT_REPLAY_MEMORY_SESSIONS`].
    pub memory_sessions: usize,
    /// See [`DEFAULT_REPLAY_SHARE_PER_ADDRESS`].
    pub memory_per_address: usize,
    /// See [`DEFAULT_REPLAY_SHARE_PER_PREFIX`].
    pub memory_per_prefix: usize,
    /// With the memory backend, replay memory does not survive a restart, so tokens issued
    /// before this process started are refused (`AUTH010`: the client makes a new
    /// handshake) unless this is `true`. Ignored with Redis, whose memory survives.
    pub accept_tokens_from_before_start: bool,
}

pub(super) fn validate_replay(s: &SessionsFile) -> Result<ReplayConfig, ConfigError> {
    let memory_sessions = positive("sessions.replay_memory_sessions", s.replay_memory_sessions)?;
    let memory_per_address = positive(
        "sessions.replay_memory_per_address",
        s.replay_memory_per_address,
    )?;
    let memory_per_prefix = positive(
        "sessions.replay_memory_per_prefix",
        s.replay_memory_per_prefix,
    )?;
    if memory_per_address > memory_per_prefix || memory_per_prefix > memory_sessions {
        return Err(invalid(
            "sessions.replay_memory_per_prefix",
            "must be at least replay_memory_per_address and at most replay_memory_sessions",
        ));
    }
    Ok(ReplayConfig {
        memory_sessions,
        memory_per_address,
        memory_per_prefix,
        accept_tokens_from_before_start: filled(
            "sessions.accept_tokens_from_before_start",
            s.accept_tokens_from_before_start,
        )?,
    })
}

pub(super) fn validate(
    s: SessionsFile,
    base: &std::path::Path,
    secrets: &Secrets<'_>,
) -> Result<StateBackend, ConfigError> {
    match (filled("sessions.backend", s.backend)?, s.redis) {
        (BackendKind::Memory, None) => Ok(StateBackend::Memory),
        (BackendKind::Memory, Some(_)) => Err(invalid(
            "sessions.redis",
            "set only with sessions.backend = \"redis\"",
        )),
        (BackendKind::Redis, None) => Err(invalid(
            "sessions.redis",
            "sessions.backend = \"redis\" needs a [sessions.redis] table",
        )),
        (BackendKind::Redis, Some(r)) => validate_redis(r, base, secrets).map(StateBackend::Redis),
    }
}

fn validate_redis(
    r: RedisFile,
    base: &std::path::Path,
    secrets: &Secrets<'_>,
) -> Result<RedisConfig, ConfigError> {
    let tls = r.ca_file.is_some() || r.client_cert_file.is_some();
    let url = match (r.url, r.url_env) {
        (Some(_), Some(_)) => {
            return Err(invalid("sessions.redis", "set url or url_env, not both"));
        }
        (Some(url), None) => Some(url.expose().to_owned()),
        (None, Some(name)) => Some(
            secrets
                .var("sessions.redis.url_env", &name, SecretUse::RedisUrl { tls })?
                .to_string(),
        ),
        (None, None) => None,
    };
    // The client library's own parser decides; its message is not shown because a URL may
    // carry a password.
    let check = |key: &str, url: &str| {
        redis::Client::open(url)
            .map(drop)
            .map_err(|_| invalid(key, "not a usable redis:// or rediss:// URL"))
    };
    let target = match (url, r.cluster_nodes.is_empty()) {
        (Some(url), true) => {
            check("sessions.redis.url", &url)?;
            RedisTarget::Standalone(url)
        }
        (None, false) => {
            for node in &r.cluster_nodes {
                check("sessions.redis.cluster_nodes", node.expose())?;
            }
            redis::cluster::ClusterClient::new(r.cluster_nodes.iter().map(SecretUrl::expose))
                .map_err(|_| {
                    invalid(
                        "sessions.redis.cluster_nodes",
                        "the nodes must share one username and password",
                    )
                })?;
            RedisTarget::Cluster(
                r.cluster_nodes
                    .iter()
                    .map(|node| node.expose().to_owned())
                    .collect(),
            )
        }
        _ => {
            return Err(invalid(
                "sessions.redis",
                "set exactly one of url (standalone) and cluster_nodes (cluster)",
            ));
        }
    };
    let key_prefix = filled("sessions.redis.key_prefix", r.key_prefix)?;
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
    Ok(RedisConfig {
        target,
        key_prefix,
        timeout: millis("sessions.redis.timeout_ms", r.timeout_ms)?,
        connect_timeout: millis("sessions.redis.connect_timeout_ms", r.connect_timeout_ms)?,
        on_unavailable: filled("sessions.redis.on_unavailable", r.on_unavailable)?,
        tls: RedisTls {
            ca_file: r.ca_file.map(|f| base.join(f)),
            client: match (r.client_cert_file, r.client_key_file) {
                (Some(cert), Some(key)) => Some((base.join(cert), base.join(key))),
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        "sessions.redis",
                        "set both client_cert_file and client_key_file, or neither",
                    ));
                }
            },
        },
    })
}

//! The Redis backend of [`super::State`], over the `redis` crate: a [`ConnectionManager`]
//! for a standalone server (one multiplexed connection, reconnected in the background) or
//! a cluster connection (slots discovered from the seed nodes, reconnected per node).
//!
//! Every call is bounded by `sessions.redis.timeout_ms`, timed into
//! `sealgate_redis_duration_seconds{op}` and, when it fails, counted in
//! `sealgate_redis_errors_total{op}`; the caller then applies the policy.
//!
//! Keys (`<p>` is `key_prefix`; `{…}` is a cluster hash tag, so one session's keys live in
//! one slot and a script may touch them together):
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `<p>:{<jti>}:revoked` | string | present when revoked | the token's last accepted second |
//! | `<p>:{<jti>}:ivs` | set | the 12-byte IVs accepted | the same |
//! | `<p>:{<jti>}:session` | string | the sealed session record (`local` mode) | the same |
//! | `<p>:rate:<kind>:<key>:<minute>` | integer | token requests this minute | 2 minutes |
//! | `<p>:gcra:<route> <kind> <key>` | integer | a request rate limit's theoretical arrival time (µs) | when the limit is whole again |

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Script, Value};
use tokio::sync::OnceCell;

use super::StateError;
use crate::config::{RedisConfig, RedisTarget, Unavailable};
use crate::jose::jwe::IV_LEN;
use crate::limit::WINDOW_SECS;
use crate::limit::gcra::{Decision, Gcra};
use crate::metrics::{Metrics, OpLabel};
use crate::session::SessionId;

/// Refuses a revoked session and records an IV once: one round trip, atomic, for every
/// request on a protected route. Returns 0 accepted, 1 revoked, 2 replayed, 3 exhausted.
const ADMIT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if ARGV[1] == '' then return 0 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 2 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 3 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIREAT', KEYS[2], ARGV[3])
return 0
";

/// Counts one event in a fixed window, setting the window's expiry on its first event.
const COUNT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// A request rate limit's decision (`crate::limit::gcra::decide`, the same arithmetic) under
/// Redis's own clock, so instances with skewed clocks still count one rate. `KEYS[1]` holds
/// the theoretical arrival time in microseconds; it expires when the limit is whole again.
/// `ARGV`: the interval and the tolerance (burst × interval), in microseconds. Returns
/// `{allowed, remaining, reset_us, retry_after_us}`. Numbers stay below 2^53, exact in
/// Lua's doubles; the TAT is written with `%.0f`, as `tostring` would round it.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local ahead = tat + interval - now
if ahead > tolerance then
  return {0, 0, tat - now, ahead - tolerance}
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil(ahead / 1000) + 1)
return {1, math.floor((tolerance - ahead) / interval), ahead, 0}
";

/// What Redis said about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Not revoked; the IV (if any) is recorded.
    Accepted,
    /// The session is revoked.
    Revoked,
    /// The IV was recorded before.
    Replayed,
    /// The session has used its allowance of IVs.
    Exhausted,
}

/// A standalone or cluster connection, used through one [`ConnectionLike`].
#[derive(Clone)]
enum Connection {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Standalone(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Standalone(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// How connections are made.
enum Connector {
    /// Made at start; connects on first use and reconnects by itself.
    Standalone(ConnectionManager),
    /// Connected on first use (so start-up does not wait on the cluster), then kept; the
    /// cluster connection reconnects to nodes by itself.
    Cluster(Box<(ClusterClient, OnceCell<ClusterConnection>)>),
}

/// Metric handles, cloned from the registry's families.
#[derive(Debug)]
struct RedisMetrics {
    duration: Family<OpLabel, Histogram, fn() -> Histogram>,
    errors: Family<OpLabel, Counter>,
    degraded: Family<OpLabel, Counter>,
    up: Gauge,
}

/// Session state in Redis.
pub struct RedisStore {
    connector: Connector,
    prefix: String,
    timeout: Duration,
    policy: Unavailable,
    /// The last health check's answer (true until the first one fails).
    up: AtomicBool,
    metrics: RedisMetrics,
    admit: Arc<Script>,
    count: Arc<Script>,
    gcra: Arc<Script>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The CA bundle and client certificate for `rediss://`, read from their files; `None`
/// when neither is configured (the webpki roots then verify the servers). The TLS itself is
/// rustls with the process's provider (`ring`), as everywhere in the gateway.
fn tls_certificates(config: &RedisConfig) -> Result<Option<redis::TlsCertificates>, StateError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|error| {
            tracing::error!(path = %path.display(), %error, "cannot read a Redis TLS file");
            StateError
        })
    };
    let root_cert = config.tls.ca_file.as_deref().map(read).transpose()?;
    let client_tls = match &config.tls.client {
        Some((cert, key)) => Some(redis::ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        None => None,
    };
    Ok(
        (root_cert.is_some() || client_tls.is_some()).then_some(redis::TlsCertificates {
            client_tls,
            root_cert,
        }),
    )
}

impl RedisStore {
    /// A store over the configured deployment; no connection is opened yet.
    pub fn new(config: &RedisConfig, metrics: &Metrics) -> Result<Self, StateError> {
        let refused = |error: redis::RedisError| {
            // The message may quote the URL (and so a password): log only its kind.
            tracing::error!(kind = ?error.kind(), "redis client could not be configured");
            StateError
        };
        let tls = tls_certificates(config)?;
        let connector = match &config.target {
            RedisTarget::Standalone(url) => {
                let client = match &tls {
                    Some(tls) if url.starts_with("rediss://") => {
                        redis::Client::build_with_tls(url.as_str(), tls.clone())
                    }
                    _ => redis::Client::open(url.as_str()),
                }
                .map_err(refused)?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.timeout))
                    .set_max_delay(Duration::from_secs(1))
                    .set_number_of_retries(2);
                Connector::Standalone(
                    ConnectionManager::new_lazy_with_config(client, manager_config)
                        .map_err(refused)?,
                )
            }
            RedisTarget::Cluster(nodes) => {
                let mut builder = ClusterClient::builder(nodes.iter().map(String::as_str));
                if let Some(tls) = &tls {
                    builder = builder.certs(tls.clone());
                }
                let client = builder
                    .connection_timeout(config.connect_timeout)
                    .response_timeout(config.timeout)
                    .retries(2)
                    .max_retry_wait(1000)
                    .build()
                    .map_err(refused)?;
                Connector::Cluster(Box::new((client, OnceCell::new())))
            }
        };
        Ok(RedisStore {
            connector,
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            policy: config.on_unavailable,
            up: AtomicBool::new(true),
            metrics: RedisMetrics {
                duration: metrics.redis_duration.clone(),
                errors: metrics.redis_errors.clone(),
                degraded: metrics.state_degraded.clone(),
                up: metrics.redis_up.clone(),
            },
            admit: Arc::new(Script::new(ADMIT)),
            count: Arc::new(Script::new(COUNT)),
            gcra: Arc::new(Script::new(GCRA)),
        })
    }

    /// The configured policy when Redis cannot be reached.
    pub fn policy(&self) -> Unavailable {
        self.policy
    }

    /// Whether the last health check succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Applies the policy after a failed call: `Err` to refuse, `Ok` to carry on with
    /// memory (logged and counted as degraded).
    pub fn degrade(&self, op: &'static str) -> Result<(), StateError> {
        match self.policy {
            Unavailable::Refuse => Err(StateError),
            Unavailable::Degrade => {
                self.metrics.degraded.get_or_create(&OpLabel { op }).inc();
                tracing::warn!(op, "redis unavailable: serving from this instance's memory");
                Ok(())
            }
        }
    }

    async fn connection(&self) -> RedisResult<Connection> {
        match &self.connector {
            Connector::Standalone(manager) => Ok(Connection::Standalone(manager.clone())),
            Connector::Cluster(cluster) => cluster
                .1
                .get_or_try_init(|| cluster.0.get_async_connection())
                .await
                .cloned()
                .map(Connection::Cluster),
        }
    }

    /// Runs one call under the timeout, timing it; `Err(())` when it failed (logged).
    async fn run<T, F, Fut>(&self, op: &'static str, call: F) -> Result<T, ()>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, async {
            let connection = self.connection().await?;
            call(connection).await
        })
        .await;
        let label = OpLabel { op };
        self.metrics
            .duration
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        let failure = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => format!("{:?}", error.kind()),
            Err(_) => "timeout".to_owned(),
        };
        self.metrics.errors.get_or_create(&label).inc();
        tracing::warn!(op, failure, "redis call failed");
        Err(())
    }

    /// The keys of session `id` named by `what`, sharing one encoding of the id.
    fn keys<const N: usize>(&self, id: &SessionId, what: [&str; N]) -> [String; N] {
        let jti = id.encode();
        what.map(|what| format!("{}:{{{jti}}}:{what}", self.prefix))
    }

    /// Admits a request of session `id`: one atomic script that refuses a revoked session and
    /// records the IV once.
    pub async fn admit(
        &self,
        id: &SessionId,
        iv: Option<&[u8; IV_LEN]>,
        max: usize,
        retain_until: i64,
        now: i64,
    ) -> Result<Admission, ()> {
        let [revoked, ivs] = self.keys(id, ["revoked", "ivs"]);
        let iv: &[u8] = iv.map_or(&[], |iv| iv.as_slice());
        let until = retain_until.max(now.saturating_add(1));
        let answer: i64 = self
            .run("admit", |mut c| async move {
                self.admit
                    .key(&revoked)
                    .key(&ivs)
                    .arg(iv)
                    .arg(max)
                    .arg(until)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match answer {
            0 => Ok(Admission::Accepted),
            1 => Ok(Admission::Revoked),
            2 => Ok(Admission::Replayed),
            3 => Ok(Admission::Exhausted),
            other => {
                tracing::error!(other, "redis admit script gave an unknown answer");
                Err(())
            }
        }
    }

    /// Marks session `id` revoked until `retain_until`.
    pub async fn revoke(&self, id: &SessionId, retain_until: i64, now: i64) -> Result<(), ()> {
        let [key] = self.keys(id, ["revoked"]);
        let until = retain_until.max(now.saturating_add(1));
        self.run("revoke", |mut c| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("EXAT")
                .arg(until)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Stores session `id`'s sealed record until `retain_until`.
    pub async fn put_session(
        &self,
        id: &SessionId,
        record: &str,
        retain_until: i64,
        now: i64,
    ) -> Result<(), ()> {
        let [key] = self.keys(id, ["session"]);
        let until = retain_until.max(now.saturating_add(1));
        self.run("session_store", |mut c| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(record)
                .arg("EXAT")
                .arg(until)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Session `id`'s sealed record, if stored.
    pub async fn get_session(&self, id: &SessionId) -> Result<Option<String>, ()> {
        let [key] = self.keys(id, ["session"]);
        self.run("session_load", |mut c| async move {
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<String>>(&mut c)
                .await
        })
        .await
    }

    /// Marks `key` used until `until` unless already marked: `true` the first time. The
    /// lifetime is sent relative (`EX`), so a Redis clock that differs from ours does not
    /// shorten it.
    pub async fn mark_once(&self, key: &[u8; 32], until: i64, now: i64) -> Result<bool, ()> {
        let key = format!("{}:once:{}", self.prefix, crate::jose::b64::encode(key));
        let seconds = until.saturating_sub(now).max(1);
        self.run("once", |mut c| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("EX")
                .arg(seconds)
                .arg("NX")
                .query_async::<Option<String>>(&mut c)
                .await
        })
        .await
        .map(|set| set.is_some())
    }

    /// Counts one event for `key` of `kind` in the current minute; returns the count.
    pub async fn count(&self, kind: &str, key: &str, now: i64) -> Result<u64, ()> {
        let window = now.div_euclid(WINDOW_SECS);
        let key = format!("{}:rate:{kind}:{key}:{window}", self.prefix);
        self.run("rate_limit", |mut c| async move {
            self.count
                .key(&key)
                .arg(2 * WINDOW_SECS)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    /// Decides one request against a rate limit for `key` (the `GCRA` script).
    pub async fn gcra(&self, key: &str, limit: Gcra) -> Result<Decision, ()> {
        let key = format!("{}:gcra:{key}", self.prefix);
        let (allowed, remaining, reset_us, retry_after_us): (u8, u64, u64, u64) = self
            .run("request_rate_limit", |mut c| async move {
                self.gcra
                    .key(&key)
                    .arg(limit.interval_us)
                    .arg(limit.tolerance_us())
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(Decision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_us,
            retry_after_us,
        })
    }

    /// PINGs Redis every `interval`, keeping [`RedisStore::is_up`] and the `up` gauge
    /// current, and logging each change.
    pub async fn watch(&self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let up = self
                .run("ping", |mut c| async move {
                    redis::cmd("PING").query_async::<()>(&mut c).await
                })
                .await
                .is_ok();
            self.metrics.up.set(i64::from(up));
            if self.up.swap(up, Ordering::Relaxed) != up {
                if up {
                    tracing::info!("redis reachable again");
                } else {
                    tracing::error!(policy = ?self.policy, "redis unreachable");
                }
            }
        }
    }
}

//! Session state that several instances must agree on, behind one small interface with two
//! backends:
//!
//! - **memory** (the default): the [`SessionStore`] `DashMap` and the [`RateLimiter`]s of
//!   this process. One instance, or instances that need not agree.
//! - **redis** ([`redis_store`]): revocations, each session's accepted IVs, token-issuance
//!   counters and (in `local` sessions mode) the sealed session records live in Redis, so
//!   they hold across every instance pointed at it. Memory stays the first place looked
//!   (sessions and known revocations are cached there), so a request waits on Redis only
//!   for what memory cannot answer: one round trip per protected request (revocation and
//!   replay in one script), none for a cached session lookup.
//!
//! When Redis cannot be reached in time, the configured [`Unavailable`] policy decides:
//! refuse ([`StateError`], a 503) or degrade to this instance's memory, logged
//! and counted in `sealgate_state_degraded_total`.
//!
//! Owns: where state lives and the policy when it cannot be reached. Does not own: what a
//! token means ([`crate::auth`]) or what a request may do ([`crate::proxy`]).

mod once;
pub mod redis_store;

use std::sync::Arc;

use thiserror::Error;

use crate::config::{StateBackend, Unavailable};
use crate::jose::jwe::IV_LEN;
use crate::limit::RateLimiter;
use crate::limit::gcra::{Decision, Gcra, GcraMemory};
use crate::metrics::Metrics;
use crate::session::{
    Owner, ReplayError, ReplayLimits, ReplayMemory, Session, SessionId, SessionStore, StoreFull,
};

pub use once::OnceMemory;
pub use redis_store::RedisStore;

/// The shared state could not be consulted and the policy is to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("session state unavailable")]
pub struct StateError;

/// Why a request on a protected route was not admitted by [`State::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The session was revoked (here or on another instance).
    #[error("session revoked")]
    Revoked,
    /// The body's IV was already accepted, or the session is used up.
    #[error("{0}")]
    Replay(#[from] ReplayError),
    /// Redis could not be consulted and the policy is to refuse.
    #[error("{0}")]
    Unavailable(#[from] StateError),
}

/// Why a new session was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InsertError {
    /// The memory store is full even after sweeping.
    #[error("{0}")]
    Full(#[from] StoreFull),
    /// Redis could not store the session record and the policy is to refuse.
    #[error("{0}")]
    Unavailable(#[from] StateError),
}

/// Which token-issuance counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Per client `apiKey`.
    Client,
    /// Per source address.
    Address,
    /// Per client `apiKey` and source address together: what a failed credential check
    /// counts against, so that wrong secrets from one place cannot use up the client's own
    /// allowance everywhere.
    ClientAddress,
}

impl LimitKind {
    fn name(self) -> &'static str {
        match self {
            LimitKind::Client => "client",
            LimitKind::Address => "address",
            LimitKind::ClientAddress => "client_address",
        }
    }
}

/// The state of every session, wherever it lives.
#[derive(Debug)]
pub struct State {
    /// Sessions and known revocations of this process (the cache, with Redis).
    sessions: SessionStore,
    /// What each session has had accepted, apart from the cache so it outlives it.
    replay: ReplayMemory,
    /// Single-use marks (a sealed token request's `epk`), apart from the sessions.
    once: OnceMemory,
    per_client: RateLimiter,
    per_address: RateLimiter,
    per_client_address: RateLimiter,
    /// Request rate limits counted in this process (`store = "local"`, or degraded).
    requests: GcraMemory,
    redis: Option<RedisStore>,
    /// When "store full" was last logged, and how many since were not (see
    /// [`State::warn_store_full`]).
    full_warned: std::sync::atomic::AtomicI64,
    full_unlogged: std::sync::atomic::AtomicU64,
}

/// A full session store is logged at most once in this many seconds.
const FULL_WARNING_EVERY_SECS: i64 = 10;

impl State {
    /// The state for a backend. Redis connections are opened lazily, so an unreachable
    /// Redis does not stop start-up (the policy applies to the requests instead).
    pub fn new(
        backend: &StateBackend,
        max_sessions: usize,
        replay: ReplayLimits,
        metrics: &Metrics,
    ) -> Result<Self, StateError> {
        let redis = match backend {
            StateBackend::Memory => None,
            StateBackend::Redis(config) => Some(RedisStore::new(config, metrics)?),
        };
        Ok(State {
            sessions: SessionStore::new(max_sessions),
            replay: ReplayMemory::new(replay),
            once: OnceMemory::new(replay.sessions),
            per_client: RateLimiter::default(),
            per_address: RateLimiter::default(),
            per_client_address: RateLimiter::default(),
            requests: GcraMemory::default(),
            redis,
            full_warned: std::sync::atomic::AtomicI64::new(i64::MIN),
            full_unlogged: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The in-memory session store (the whole store with the memory backend, the cache
    /// with Redis).
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// Whether a shared backend is configured (then sessions and revocations made by other
    /// instances may be found there).
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Whether the gateway can serve: always with memory; with Redis, when it answered the
    /// last health check or the policy is to degrade.
    pub fn is_ready(&self) -> bool {
        self.redis
            .as_ref()
            .is_none_or(|r| r.is_up() || r.policy() == Unavailable::Degrade)
    }

    /// Counts one token request against `key`'s limit for this minute; `false` when over.
    pub async fn allow(
        &self,
        kind: LimitKind,
        key: &str,
        per_minute: u32,
        now: i64,
    ) -> Result<bool, StateError> {
        if per_minute == 0 {
            return Ok(true);
        }
        let local = || match kind {
            LimitKind::Client => self.per_client.allow(key, per_minute, now),
            LimitKind::Address => self.per_address.allow(key, per_minute, now),
            LimitKind::ClientAddress => self.per_client_address.allow(key, per_minute, now),
        };
        let Some(redis) = &self.redis else {
            return Ok(local());
        };
        match redis.count(kind.name(), key, now).await {
            Ok(count) => Ok(count <= u64::from(per_minute)),
            Err(()) => redis.degrade("rate_limit").map(|()| local()),
        }
    }

    /// Decides one request against a route's rate limit for `key` (route, key kind and key
    /// together): in Redis when `shared` (one atomic script, under Redis's clock, so every
    /// instance counts alike), else in this process's memory at `now_us`. When Redis fails,
    /// the policy decides: refuse, or count in memory (this instance alone).
    pub async fn rate(
        &self,
        key: &str,
        limit: Gcra,
        shared: bool,
        now_us: u64,
    ) -> Result<Decision, StateError> {
        let local = || self.requests.check(key, limit, now_us);
        match &self.redis {
            Some(redis) if shared => match redis.gcra(key, limit).await {
                Ok(decision) => Ok(decision),
                Err(()) => redis.degrade("request_rate_limit").map(|()| local()),
            },
            _ => Ok(local()),
        }
    }

    /// Stores a new session; with Redis in `local` sessions mode also its sealed `record`
    /// (see [`crate::handshake::issue`]), so other instances can serve it.
    pub async fn insert(
        &self,
        session: Arc<Session>,
        record: Option<&str>,
        retain_until: i64,
        now: i64,
    ) -> Result<(), InsertError> {
        if let (Some(redis), Some(record)) = (&self.redis, record)
            && redis
                .put_session(&session.id, record, retain_until, now)
                .await
                .is_err()
        {
            redis.degrade("session_store")?;
        }
        self.sessions
            .insert(session, now)
            .map_err(InsertError::from)
    }

    /// The sealed record of a session made by another instance (`local` sessions mode with
    /// Redis); `None` when there is none or no shared backend.
    pub async fn find_record(&self, id: &SessionId) -> Result<Option<String>, StateError> {
        let Some(redis) = &self.redis else {
            return Ok(None);
        };
        match redis.get_session(id).await {
            Ok(record) => Ok(record),
            Err(()) => redis.degrade("session_load").map(|()| None),
        }
    }

    /// Caches a session rebuilt from a ticket or a shared record; a full cache only logs.
    pub fn cache(&self, session: Arc<Session>, now: i64) {
        if self.sessions.insert(session, now).is_err() {
            self.warn_store_full(now);
        }
    }

    /// Logs that the session store is full and sessions go uncached, at most once every
    /// 10 s with how many were not logged since: under a flood it would otherwise be a
    /// line per request.
    pub fn warn_store_full(&self, now: i64) {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.full_warned.load(Relaxed);
        let due = last == i64::MIN || now.saturating_sub(last) >= FULL_WARNING_EVERY_SECS;
        if due
            && self
                .full_warned
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            let unlogged = self.full_unlogged.swap(0, Relaxed);
            tracing::warn!(
                unlogged,
                "session store full: sessions are served uncached (raise token.max_sessions)"
            );
        } else {
            self.full_unlogged.fetch_add(1, Relaxed);
        }
    }

    /// The session cached in memory, unless revoked here.
    pub fn cached(&self, id: &SessionId) -> Option<Arc<Session>> {
        self.sessions.get(id)
    }

    /// Revokes a session everywhere until `retain_until` (its token's last accepted second).
    /// This instance refuses it at once, whatever Redis says; `Err` means the other
    /// instances may not know yet (the caller answers 503, and the client retries).
    pub async fn revoke(
        &self,
        id: SessionId,
        retain_until: i64,
        now: i64,
    ) -> Result<(), StateError> {
        self.sessions.revoke(id, retain_until);
        if let Some(redis) = &self.redis
            && redis.revoke(&id, retain_until, now).await.is_err()
        {
            redis.degrade("revoke")?;
        }
        Ok(())
    }

    /// Admits one request of `session`: the one place revocation is checked (here, then on
    /// Redis when shared) and, when the request carries an authentic sealed message, its IV
    /// refused if seen before in the session (or past `max` per session, or when this
    /// instance's replay memory is full). Call it only after the message has decrypted, so
    /// forged messages cannot consume the session's IV allowance.
    ///
    /// The IV is always recorded in this instance's replay memory too, so a replay on this
    /// instance is refused even while Redis is away (`degrade`) or after it lost its data.
    pub async fn admit(
        &self,
        session: &Session,
        iv: Option<&[u8; IV_LEN]>,
        max: usize,
        retain_until: i64,
        now: i64,
        from: std::net::IpAddr,
    ) -> Result<(), Refusal> {
        if self.sessions.is_revoked(&session.id) {
            return Err(Refusal::Revoked);
        }
        let local = || {
            iv.map_or(Ok(()), |iv| {
                self.replay
                    .accept(session.id, iv, max, retain_until, now, Owner::of(from))
            })
        };
        let Some(redis) = &self.redis else {
            return local().map_err(Refusal::from);
        };
        match redis.admit(&session.id, iv, max, retain_until, now).await {
            Ok(redis_store::Admission::Accepted) => match local() {
                // Redis is the judge across instances; this instance's own memory can
                // only add a refusal of what it has seen itself.
                Err(ReplayError::Replayed) => Err(ReplayError::Replayed.into()),
                // Full or evicted here: Redis holds the session's IVs, nothing is lost.
                Ok(()) | Err(ReplayError::Exhausted | ReplayError::Full | ReplayError::Evicted) => {
                    Ok(())
                }
            },
            Ok(redis_store::Admission::Revoked) => {
                // Remember it here, so the next request is refused without a round trip.
                self.sessions.revoke(session.id, retain_until);
                Err(Refusal::Revoked)
            }
            Ok(redis_store::Admission::Replayed) => Err(ReplayError::Replayed.into()),
            Ok(redis_store::Admission::Exhausted) => Err(ReplayError::Exhausted.into()),
            Err(()) => {
                redis.degrade("admit")?;
                local().map_err(Refusal::from)
            }
        }
    }

    /// Marks `key` used until `until` on every instance sharing state; `Ok(true)` the first
    /// time, `Ok(false)` while an earlier mark holds (here or, with Redis, anywhere). The mark
    /// is made in this instance's memory too. Without Redis's answer the mark is refused
    /// whatever `on_unavailable` says: a mark only this instance knows would let every other
    /// instance accept the same request once more.
    pub async fn first_use(
        &self,
        key: [u8; 32],
        until: i64,
        now: i64,
    ) -> Result<bool, InsertError> {
        let local = self.once.first(key, until, now);
        let Some(redis) = &self.redis else {
            return local.map_err(InsertError::from);
        };
        match redis.mark_once(&key, until, now).await {
            // Redis is the judge across instances; this instance's memory can only add a
            // refusal of what it has seen itself.
            Ok(first) => Ok(first && local.unwrap_or(true)),
            Err(()) => Err(InsertError::Unavailable(StateError)),
        }
    }

    /// Drops expired sessions, revocations and counters from memory (Redis expires its own
    /// keys); returns how many sessions.
    pub fn sweep(&self, now: i64) -> usize {
        self.per_client.sweep(now);
        self.per_address.sweep(now);
        self.per_client_address.sweep(now);
        self.requests
            .sweep(u64::try_from(now).unwrap_or(0).saturating_mul(1_000_000));
        self.replay.sweep(now);
        self.once.sweep(now);
        self.sessions.sweep(now)
    }

    /// Sessions this instance remembers the sealed messages of.
    pub fn replay_memory_len(&self) -> usize {
        self.replay.len()
    }

    /// Checks Redis's health forever at `interval` (for `/readyz` and the `up` gauge); returns
    /// at once with the memory backend.
    pub async fn watch(&self, interval: std::time::Duration) {
        if let Some(redis) = &self.redis {
            redis.watch(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key32;

    fn session() -> Session {
        Session::new(
            SessionId::random().unwrap(),
            "c".into(),
            "ch".into(),
            Key32::from_bytes([1; 32]),
            100,
        )
    }

    #[tokio::test]
    async fn the_memory_backend_refuses_revoked_sessions_and_replayed_ivs() {
        let state = State::new(
            &StateBackend::Memory,
            10,
            ReplayLimits {
                sessions: 10,
                per_address: 10,
                per_prefix: 10,
            },
            &Metrics::default(),
        )
        .unwrap();
        assert!(state.is_ready() && !state.is_shared());
        let s = session();
        assert_eq!(
            state
                .admit(&s, Some(&[1; 12]), 2, 160, 50, [127, 0, 0, 1].into())
                .await,
            Ok(())
        );
        assert_eq!(
            state
                .admit(&s, Some(&[1; 12]), 2, 160, 50, [127, 0, 0, 1].into())
                .await,
            Err(Refusal::Replay(ReplayError::Replayed))
        );
        assert_eq!(
            state
                .admit(&s, None, 2, 160, 50, [127, 0, 0, 1].into())
                .await,
            Ok(())
        );
        state.revoke(s.id, 160, 50).await.unwrap();
        assert!(state.sessions().is_revoked(&s.id));
        assert_eq!(
            state
                .admit(&s, None, 2, 160, 50, [127, 0, 0, 1].into())
                .await,
            Err(Refusal::Revoked)
        );
        assert_eq!(state.find_record(&s.id).await, Ok(None));
    }

    #[tokio::test]
    async fn memory_rate_limits_count_per_kind_and_key() {
        let state = State::new(
            &StateBackend::Memory,
            10,
            ReplayLimits {
                sessions: 10,
                per_address: 10,
                per_prefix: 10,
            },
            &Metrics::default(),
        )
        .unwrap();
        for expected in [true, true, false] {
            assert_eq!(
                state.allow(LimitKind::Address, "1.2.3.4", 2, 0).await,
                Ok(expected)
            );
        }
        assert_eq!(
            state.allow(LimitKind::Client, "1.2.3.4", 2, 0).await,
            Ok(true)
        );
        assert_eq!(
            state.allow(LimitKind::Address, "1.2.3.4", 0, 0).await,
            Ok(true)
        );
    }
}

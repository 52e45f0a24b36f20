//! The session store: per-token state held in a `DashMap` keyed by session id (the token's
//! `jti`). Each entry holds the session key `K` (zeroized on drop), the client, the channel
//! and the expiry. What each session has already sent (to refuse replays) is kept apart,
//! in [`replay`], because it must outlive this cache.
//!
//! Bounded by a configured maximum, swept of expired entries by [`SessionStore::sweep`]
//! (a background task calls it). No map guard is ever held across an `.await`: every method
//! here is synchronous and returns owned values (`Arc<Session>`).
//!
//! In ticket mode this is a cache that a valid token can refill; in local mode it is the
//! only place `K` lives.

pub mod replay;

use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use thiserror::Error;

use crate::crypto::Key32;
use crate::crypto::random::{self, RandomError};
use crate::jose::b64;

pub use replay::{Owner, ReplayLimits, ReplayMemory};

/// A session id: 16 random bytes, written in tokens as 22 characters of base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A fresh random id.
    pub fn random() -> Result<Self, RandomError> {
        random::bytes::<16>().map(SessionId)
    }

    /// Parses the base64url form strictly.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = b64::decode_strict(text.as_bytes()).ok()?;
        bytes.try_into().ok().map(SessionId)
    }

    /// The base64url form.
    pub fn encode(&self) -> String {
        b64::encode(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is not a secret (it is inside an encrypted token, and cannot be used
        // without the key); printing a prefix is enough to correlate logs.
        write!(f, "SessionId({}…)", &self.encode()[..6])
    }
}

/// Why a request body was refused by the replay check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// This IV was already accepted in this session: the body is a replay.
    #[error("request body replayed")]
    Replayed,
    /// The session accepted its maximum number of bodies; the client needs a new token.
    #[error("session request limit reached")]
    Exhausted,
    /// The replay memory is full and does not yet remember this session: refused rather
    /// than served without replay protection (the client retries).
    #[error("replay memory full")]
    Full,
    /// The session was evicted from the replay memory for a newer session of the same
    /// address or prefix (past its share): refused from then on; the client makes a new
    /// handshake.
    #[error("session evicted from the replay memory")]
    Evicted,
}

/// One live session.
pub struct Session {
    /// The session id (`jti`).
    pub id: SessionId,
    /// The client's `apiKey`.
    pub client: Arc<str>,
    /// The channel (`X-API-KEY`) the token was issued on.
    pub channel: Arc<str>,
    /// The session key `K`.
    pub key: Key32,
    /// Unix seconds after which the token is refused (before leeway).
    pub expires_at: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("client", &self.client)
            .field("channel", &self.channel)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session with no accepted bodies.
    pub fn new(
        id: SessionId,
        client: Arc<str>,
        channel: Arc<str>,
        key: Key32,
        expires_at: i64,
    ) -> Self {
        Session {
            id,
            client,
            channel,
            key,
            expires_at,
        }
    }
}

/// The store is at its configured maximum of live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("session store is full")]
pub struct StoreFull;

/// Allows a thing at most once in any one second: what the sweeps made because a store is
/// full go through, so a flood of requests into a full store cannot become a flood of
/// whole-map sweeps (each holds the map's shard locks).
#[derive(Debug)]
pub struct OncePerSecond(std::sync::atomic::AtomicI64);

impl Default for OncePerSecond {
    fn default() -> Self {
        OncePerSecond(std::sync::atomic::AtomicI64::new(i64::MIN))
    }
}

impl OncePerSecond {
    /// Whether `now` (unix seconds) is a second not yet allowed; it is allowed from here on.
    pub fn allow(&self, now: i64) -> bool {
        self.0.swap(now, std::sync::atomic::Ordering::Relaxed) != now
    }
}

/// Live sessions by id, and revoked session ids until their tokens expire.
#[derive(Debug)]
pub struct SessionStore {
    map: DashMap<SessionId, Arc<Session>>,
    /// Revoked ids with their token's `exp`: kept until then, because in ticket mode the
    /// token alone could otherwise rebuild the session.
    revoked: DashMap<SessionId, i64>,
    max: usize,
    /// Sweeps made because the store is full.
    full_sweeps: OncePerSecond,
}

impl SessionStore {
    /// An empty store holding at most `max` sessions.
    pub fn new(max: usize) -> Self {
        SessionStore {
            map: DashMap::new(),
            revoked: DashMap::new(),
            max,
            full_sweeps: OncePerSecond::default(),
        }
    }

    /// Adds a session. When full, expired entries are swept first; if it is still full the
    /// session is refused (the caller decides whether that is fatal).
    pub fn insert(&self, session: Arc<Session>, now: i64) -> Result<(), StoreFull> {
        if self.revoked.contains_key(&session.id) {
            // A revoked id is never held again (a ticket could otherwise rebuild it); the
            // request itself is refused by the state's admission check.
            return Ok(());
        }
        if self.map.len() >= self.max {
            if self.full_sweeps.allow(now) {
                self.sweep(now);
            }
            if self.map.len() >= self.max {
                return Err(StoreFull);
            }
        }
        self.map.insert(session.id, session);
        Ok(())
    }

    /// The session with this id, if held.
    pub fn get(&self, id: &SessionId) -> Option<Arc<Session>> {
        self.map.get(id).map(|entry| Arc::clone(entry.value()))
    }

    /// Drops a session; returns whether it was held.
    pub fn remove(&self, id: &SessionId) -> bool {
        self.map.remove(id).is_some()
    }

    /// Revokes a session until `until` (its token's `exp`): the session is dropped and its
    /// id refused from then on.
    pub fn revoke(&self, id: SessionId, until: i64) {
        self.revoked.insert(id, until);
        self.map.remove(&id);
    }

    /// Whether the id was revoked.
    pub fn is_revoked(&self, id: &SessionId) -> bool {
        self.revoked.contains_key(id)
    }

    /// Removes every session and revocation that expired before `now` (unix seconds);
    /// returns how many sessions.
    pub fn sweep(&self, now: i64) -> usize {
        let before = self.map.len();
        self.map.retain(|_, session| session.expires_at >= now);
        self.revoked.retain(|_, until| *until >= now);
        before.saturating_sub(self.map.len())
    }

    /// Number of sessions held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: i64) -> Arc<Session> {
        Arc::new(Session::new(
            SessionId::random().unwrap(),
            "c".into(),
            "ch".into(),
            Key32::from_bytes([1; 32]),
            expires_at,
        ))
    }

    #[test]
    fn session_ids_round_trip_and_reject_other_lengths() {
        let id = SessionId::random().unwrap();
        assert_eq!(SessionId::parse(&id.encode()), Some(id));
        assert_eq!(id.encode().len(), 22);
        assert!(SessionId::parse("AAAA").is_none());
    }

    #[test]
    fn sweep_removes_only_expired_sessions() {
        let store = SessionStore::new(10);
        let old = session(100);
        let live = session(200);
        store.insert(old.clone(), 0).unwrap();
        store.insert(live.clone(), 0).unwrap();
        assert_eq!(store.sweep(150), 1);
        assert!(store.get(&old.id).is_none());
        assert!(store.get(&live.id).is_some());
    }

    #[test]
    fn a_full_store_sweeps_then_refuses() {
        let store = SessionStore::new(2);
        store.insert(session(100), 0).unwrap();
        store.insert(session(300), 0).unwrap();
        // At t=200 the first has expired, so there is room again.
        store.insert(session(300), 200).unwrap();
        assert!(store.insert(session(300), 200).is_err());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn a_revocation_lasts_until_the_token_expires() {
        let store = SessionStore::new(10);
        let s = session(100);
        store.insert(s.clone(), 0).unwrap();
        store.revoke(s.id, 100);
        assert!(store.get(&s.id).is_none());
        assert!(store.is_revoked(&s.id));
        store.sweep(100);
        assert!(store.is_revoked(&s.id));
        store.sweep(101);
        assert!(!store.is_revoked(&s.id));
    }
}

//! The session store: per-token state held in a `DashMap` keyed by session id (the token's
//! `jti`). Each entry holds the session key `K` (zeroized on drop), the client, the channel,
//! the expiry and the IVs of the request bodies already accepted (to refuse replays).
//!
//! Bounded by a configured maximum, swept of expired entries by [`SessionStore::sweep`]
//! (a background task calls it). No map guard is ever held across an `.await`: every method
//! here is synchronous and returns owned values (`Arc<Session>`).
//!
//! In ticket mode this is a cache that a valid token can refill; in local mode it is the
//! only place `K` lives.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;
use thiserror::Error;

use crate::crypto::Key32;
use crate::crypto::random::{self, RandomError};
use crate::jose::{b64, jwe::IV_LEN};

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
    /// IVs of accepted request bodies. Allocated on first use (boxed, so a session that
    /// never sends a body costs 8 bytes here rather than a whole empty set); guarded by a
    /// std mutex held only for one insert, never across an await.
    #[allow(
        clippy::box_collection,
        reason = "the box is the point: 8 bytes inline instead of an empty set's 48, per session"
    )]
    seen_ivs: Mutex<Option<Box<HashSet<[u8; IV_LEN]>>>>,
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
            seen_ivs: Mutex::new(None),
        }
    }

    /// Records `iv` as used, refusing one seen before or one past `max` per session. Call it
    /// only after the body has decrypted, so forged bodies cannot fill the set.
    pub fn accept_iv(&self, iv: &[u8; IV_LEN], max: usize) -> Result<(), ReplayError> {
        // A poisoned lock only means another thread panicked mid-insert; the set is still a
        // valid set, so carry on with it rather than fail every later request.
        let mut seen = self.seen_ivs.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = seen.get_or_insert_with(Box::default);
        if seen.contains(iv) {
            return Err(ReplayError::Replayed);
        }
        if seen.len() >= max {
            return Err(ReplayError::Exhausted);
        }
        seen.insert(*iv);
        Ok(())
    }
}

/// The store is at its configured maximum of live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("session store is full")]
pub struct StoreFull;

/// Live sessions by id, and revoked session ids until their tokens expire.
#[derive(Debug)]
pub struct SessionStore {
    map: DashMap<SessionId, Arc<Session>>,
    /// Revoked ids with their token's `exp`: kept until then, because in ticket mode the
    /// token alone could otherwise rebuild the session.
    revoked: DashMap<SessionId, i64>,
    max: usize,
}

impl SessionStore {
    /// An empty store holding at most `max` sessions.
    pub fn new(max: usize) -> Self {
        SessionStore {
            map: DashMap::new(),
            revoked: DashMap::new(),
            max,
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
            self.sweep(now);
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

    #[test]
    fn a_replayed_iv_is_refused_and_the_limit_holds() {
        let s = session(100);
        assert_eq!(s.accept_iv(&[1; 12], 2), Ok(()));
        assert_eq!(s.accept_iv(&[1; 12], 2), Err(ReplayError::Replayed));
        assert_eq!(s.accept_iv(&[2; 12], 2), Ok(()));
        assert_eq!(s.accept_iv(&[3; 12], 2), Err(ReplayError::Exhausted));
        assert_eq!(s.accept_iv(&[2; 12], 2), Err(ReplayError::Replayed));
    }
}

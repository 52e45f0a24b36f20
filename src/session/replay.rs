//! Replay memory: the IVs of the sealed messages each session has had accepted, keyed by
//! session id and kept until the session's token stops being accepted (`exp` + leeway).
//!
//! Apart from the session cache on purpose. A cached [`super::Session`] may be dropped
//! (swept at `exp`, never cached because the store is full, rebuilt from a ticket by two
//! requests at once); the memory of what the session already sent must not go with it, or
//! a body accepted once would be accepted again. So it lives here, in one map, bounded on
//! its own, with a stated policy when full: a session that has no entry yet is refused
//! ([`ReplayError::Full`], a 503 the client retries), never served with a fresh, empty
//! memory.
//!
//! Synchronous and short: no map guard is held across an `.await`.

use std::collections::HashSet;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::{ReplayError, SessionId};
use crate::jose::jwe::IV_LEN;

struct Remembered {
    /// Until when (unix seconds) the session's token is accepted: the entry lives as long.
    until: i64,
    ivs: HashSet<[u8; IV_LEN]>,
}

/// The replay memory of every session of this process.
pub struct ReplayMemory {
    map: DashMap<SessionId, Remembered>,
    /// Sessions remembered at most; see the module's policy when full.
    max_sessions: usize,
}

impl std::fmt::Debug for ReplayMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayMemory")
            .field("sessions", &self.map.len())
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

impl ReplayMemory {
    /// An empty memory for at most `max_sessions` sessions.
    pub fn new(max_sessions: usize) -> Self {
        ReplayMemory {
            map: DashMap::new(),
            max_sessions,
        }
    }

    /// Records `iv` as accepted for session `id` (whose token is accepted until `until`),
    /// refusing an IV seen before in the session, one past `max` per session, and — when
    /// the memory is full even after dropping expired entries — a session it does not yet
    /// remember. Call it only after the message has decrypted, so forged messages cannot
    /// fill it.
    pub fn accept(
        &self,
        id: SessionId,
        iv: &[u8; IV_LEN],
        max: usize,
        until: i64,
        now: i64,
    ) -> Result<(), ReplayError> {
        if !self.map.contains_key(&id) && self.map.len() >= self.max_sessions {
            self.sweep(now);
            if self.map.len() >= self.max_sessions {
                return Err(ReplayError::Full);
            }
        }
        match self.map.entry(id) {
            Entry::Occupied(mut entry) => {
                let remembered = entry.get_mut();
                if remembered.ivs.contains(iv) {
                    return Err(ReplayError::Replayed);
                }
                if remembered.ivs.len() >= max {
                    return Err(ReplayError::Exhausted);
                }
                remembered.ivs.insert(*iv);
                remembered.until = remembered.until.max(until);
                Ok(())
            }
            Entry::Vacant(entry) => {
                if max == 0 {
                    return Err(ReplayError::Exhausted);
                }
                let mut ivs = HashSet::with_capacity(1);
                ivs.insert(*iv);
                entry.insert(Remembered { until, ivs });
                Ok(())
            }
        }
    }

    /// Drops the entries of sessions whose tokens are no longer accepted at `now`.
    pub fn sweep(&self, now: i64) -> usize {
        let before = self.map.len();
        self.map.retain(|_, remembered| remembered.until >= now);
        before.saturating_sub(self.map.len())
    }

    /// Sessions remembered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SessionId {
        SessionId::random().unwrap()
    }

    #[test]
    fn an_iv_is_accepted_once_and_the_allowance_holds() {
        let memory = ReplayMemory::new(10);
        let s = id();
        assert_eq!(memory.accept(s, &[1; 12], 2, 100, 0), Ok(()));
        assert_eq!(
            memory.accept(s, &[1; 12], 2, 100, 0),
            Err(ReplayError::Replayed)
        );
        assert_eq!(memory.accept(s, &[2; 12], 2, 100, 0), Ok(()));
        assert_eq!(
            memory.accept(s, &[3; 12], 2, 100, 0),
            Err(ReplayError::Exhausted)
        );
        assert_eq!(
            memory.accept(s, &[2; 12], 2, 100, 0),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            memory.accept(id(), &[1; 12], 2, 100, 0),
            Ok(()),
            "another session's IV space is its own"
        );
    }

    #[test]
    fn memory_is_kept_until_the_token_is_no_longer_accepted() {
        let memory = ReplayMemory::new(10);
        let s = id();
        memory.accept(s, &[1; 12], 5, 100, 0).unwrap();
        assert_eq!(memory.sweep(100), 0);
        assert_eq!(
            memory.accept(s, &[1; 12], 5, 100, 100),
            Err(ReplayError::Replayed)
        );
        assert_eq!(memory.sweep(101), 1);
    }

    #[test]
    fn a_full_memory_refuses_new_sessions_but_never_forgets_a_live_one() {
        let memory = ReplayMemory::new(2);
        let (a, b, c) = (id(), id(), id());
        memory.accept(a, &[1; 12], 5, 100, 0).unwrap();
        memory.accept(b, &[1; 12], 5, 300, 0).unwrap();
        assert_eq!(
            memory.accept(c, &[1; 12], 5, 300, 50),
            Err(ReplayError::Full)
        );
        assert_eq!(
            memory.accept(a, &[1; 12], 5, 100, 50),
            Err(ReplayError::Replayed)
        );
        assert_eq!(memory.accept(a, &[2; 12], 5, 100, 50), Ok(()));
        // Once `a` is past its token's life its slot is free again.
        assert_eq!(memory.accept(c, &[1; 12], 5, 300, 200), Ok(()));
        assert_eq!(
            memory.accept(b, &[1; 12], 5, 300, 200),
            Err(ReplayError::Replayed)
        );
    }
}

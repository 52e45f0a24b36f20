//! The last token verified on one client connection, so that a client sending the same
//! bearer token on a keep-alive (or HTTP/2) connection pays the token's decryption and
//! claims parsing once, not on every request.
//!
//! One entry per connection, dropped with it: no memory grows with the number of tokens.
//! An entry is used only when the token text is identical (compared in constant time: a
//! connection from a load balancer may carry several users' tokens), the configuration is
//! the one it was verified under (a reload may have removed its key or its client), and
//! its time claims still hold now. Revocation is checked on every request by
//! [`crate::state::State::admit`], as for an uncached token.

use std::sync::{Arc, Mutex, PoisonError};

use super::AuthError;
use crate::session::Session;
use crate::token::claims::Times;

struct Entry {
    token: Box<[u8]>,
    generation: u64,
    times: Times,
    session: Arc<Session>,
}

/// One connection's cache.
#[derive(Default)]
pub struct TokenCache {
    entry: Mutex<Option<Entry>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache { .. }")
    }
}

impl TokenCache {
    /// The session of `token` if it was the last one verified on this connection under
    /// configuration `generation`; `Some(Err)` when it was but its times no longer hold.
    pub fn get(
        &self,
        token: &str,
        generation: u64,
        leeway: i64,
        now: i64,
    ) -> Option<Result<Arc<Session>, AuthError>> {
        // Held for a compare and a clone, never across an await; a poisoned lock still
        // holds a whole entry or none.
        let entry = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entry.as_ref()?;
        // `constant_time_eq` compares word by word with one optimisation barrier; `subtle`'s
        // byte-by-byte compare of a 400-byte token showed up in the encrypted path's profile.
        let same = entry.generation == generation
            && constant_time_eq::constant_time_eq(&entry.token, token.as_bytes());
        if !same {
            return None;
        }
        Some(
            entry
                .times
                .check(leeway, now)
                .map(|()| Arc::clone(&entry.session))
                .map_err(AuthError::from),
        )
    }

    /// Remembers `token` (verified under `generation`) and its session.
    pub fn put(&self, token: &str, generation: u64, times: Times, session: Arc<Session>) {
        let entry = Entry {
            token: token.as_bytes().into(),
            generation,
            times,
            session,
        };
        *self.entry.lock().unwrap_or_else(PoisonError::into_inner) = Some(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key32;
    use crate::session::SessionId;

    fn session() -> Arc<Session> {
        Arc::new(Session::new(
            SessionId::random().unwrap(),
            "c".into(),
            "ch".into(),
            Key32::from_bytes([1; 32]),
            200,
        ))
    }

    #[test]
    fn only_the_same_token_under_the_same_configuration_hits() {
        let cache = TokenCache::default();
        let times = Times {
            iat: 100,
            exp: 200,
            nbf: None,
        };
        assert!(cache.get("t1", 1, 0, 150).is_none());
        let s = session();
        cache.put("t1", 1, times, Arc::clone(&s));
        assert!(Arc::ptr_eq(
            &cache.get("t1", 1, 0, 150).unwrap().unwrap(),
            &s
        ));
        assert!(cache.get("t2", 1, 0, 150).is_none(), "another token");
        assert!(cache.get("t1x", 1, 0, 150).is_none(), "a longer token");
        assert!(cache.get("t1", 2, 0, 150).is_none(), "after a reload");
        assert!(matches!(
            cache.get("t1", 1, 0, 201),
            Some(Err(AuthError::Expired))
        ));
        assert!(
            cache.get("t1", 1, 60, 201).unwrap().is_ok(),
            "within leeway"
        );
        assert!(matches!(
            cache.get("t1", 1, 0, 99),
            Some(Err(AuthError::NotYetValid))
        ));
    }
}

//! Replay memory: the IVs of the sealed messages each session has had accepted, keyed by
//! session id and kept until the session's token stops being accepted (`exp` + leeway).
//!
//! Apart from the session cache on purpose. A cached [`super::Session`] may be dropped
//! (swept at `exp`, never cached because the store is full, rebuilt from a ticket by two
//! requests at once); the memory of what the session already sent must not go with it, or
//! a body accepted once would be accepted again. So it lives here, in one map, bounded on
//! its own.
//!
//! Bounded fairly: each client address (an IPv4 address, an IPv6 /64) and each prefix (IPv4
//! /24, IPv6 /48) holds at most its share of the sessions remembered. A new session past its
//! address's or prefix's share takes the place of that owner's **oldest** session, which is
//! *evicted*: remembered as evicted (no IVs) until its token would expire, and refused from
//! then on ([`ReplayError::Evicted`]: the client makes a new handshake). A flood from one
//! place so spends its own share, never another's, and no session is ever served with a
//! fresh, empty memory. When the memory as a whole is full (many owners), a session it does
//! not yet remember is refused ([`ReplayError::Full`], a 503 the client retries).
//!
//! Synchronous and short: no lock is held across an `.await`. A session's later messages
//! touch only its map shard; the owners' books (a mutex) are taken when a session is first
//! remembered, evicted or swept, and always before any map shard, never after.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use dashmap::DashMap;

use super::{ReplayError, SessionId};
use crate::jose::jwe::IV_LEN;

/// Where a session's messages come from, for the shares: the client's address (an IPv4
/// address, the /64 of an IPv6 one) and its prefix (the /24, the /48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    address: IpAddr,
    prefix: IpAddr,
}

impl Owner {
    /// The owner of messages from `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Owner {
        Owner {
            address: crate::wire::ip_prefix(ip, 32, 64),
            prefix: crate::wire::ip_prefix(ip, 24, 48),
        }
    }
}

/// A share's key: an address and a prefix of the same bits are different shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Share {
    Address(IpAddr),
    Prefix(IpAddr),
}

impl Owner {
    fn shares(self) -> [Share; 2] {
        [Share::Address(self.address), Share::Prefix(self.prefix)]
    }
}

enum Remembered {
    Live {
        /// Until when (unix seconds) the session's token is accepted: the entry lives as long.
        until: i64,
        ivs: HashSet<[u8; IV_LEN]>,
        owner: Owner,
    },
    /// Evicted for a newer session of its owner: refused until `until`.
    Evicted { until: i64 },
}

impl Remembered {
    fn until(&self) -> i64 {
        match self {
            Remembered::Live { until, .. } | Remembered::Evicted { until } => *until,
        }
    }

    fn record(&mut self, iv: &[u8; IV_LEN], max: usize, until: i64) -> Result<(), ReplayError> {
        let Remembered::Live {
            until: last, ivs, ..
        } = self
        else {
            return Err(ReplayError::Evicted);
        };
        if ivs.contains(iv) {
            return Err(ReplayError::Replayed);
        }
        if ivs.len() >= max {
            return Err(ReplayError::Exhausted);
        }
        ivs.insert(*iv);
        *last = (*last).max(until);
        Ok(())
    }
}

/// Each share's live sessions, oldest first. Ids of sessions since evicted through their
/// other share, or swept, may linger until popped or the next sweep; `live` is exact.
#[derive(Default)]
struct Queue {
    live: usize,
    order: VecDeque<SessionId>,
}

#[derive(Default)]
struct Books {
    live: usize,
    evicted: usize,
    shares: HashMap<Share, Queue>,
    /// Sweeps made because the memory is full.
    full_sweeps: super::OncePerSecond,
}

impl Books {
    fn live_in(&self, share: Share) -> usize {
        self.shares.get(&share).map_or(0, |q| q.live)
    }

    fn forget(&mut self, owner: Owner) {
        self.live = self.live.saturating_sub(1);
        for share in owner.shares() {
            if let Some(queue) = self.shares.get_mut(&share) {
                queue.live = queue.live.saturating_sub(1);
            }
        }
    }
}

/// How many sessions the memory holds, and each owner's share of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayLimits {
    /// Live sessions at most (and evicted ones remembered at most, apart).
    pub sessions: usize,
    /// Live sessions one address (IPv4, IPv6 /64) may hold.
    pub per_address: usize,
    /// Live sessions one prefix (IPv4 /24, IPv6 /48) may hold.
    pub per_prefix: usize,
}

/// The replay memory of every session of this process.
pub struct ReplayMemory {
    map: DashMap<SessionId, Remembered>,
    books: Mutex<Books>,
    limits: ReplayLimits,
}

impl std::fmt::Debug for ReplayMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayMemory")
            .field("entries", &self.map.len())
            .field("limits", &self.limits)
            .finish()
    }
}

impl ReplayMemory {
    /// An empty memory within `limits`.
    pub fn new(limits: ReplayLimits) -> Self {
        ReplayMemory {
            map: DashMap::new(),
            books: Mutex::default(),
            limits,
        }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        // The books hold counts only; a panic elsewhere leaves them usable.
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `iv` as accepted for session `id` (whose token is accepted until `until`),
    /// sent by `owner`. Refuses an IV seen before in the session, one past `max` per
    /// session, a session evicted for a newer one of its owner, and — when the memory is
    /// full even after dropping expired entries — a session it does not yet remember. Call
    /// it only after the message has decrypted, so forged messages cannot fill it.
    pub fn accept(
        &self,
        id: SessionId,
        iv: &[u8; IV_LEN],
        max: usize,
        until: i64,
        now: i64,
        owner: Owner,
    ) -> Result<(), ReplayError> {
        if let Some(mut remembered) = self.map.get_mut(&id) {
            return remembered.record(iv, max, until);
        }
        let mut books = self.books();
        // Another request of the same session may have got here first.
        if let Some(mut remembered) = self.map.get_mut(&id) {
            return remembered.record(iv, max, until);
        }
        if max == 0 {
            return Err(ReplayError::Exhausted);
        }
        let limits = self.limits;
        let own = Share::Address(owner.address);
        if books.live_in(own) >= limits.per_address {
            self.evict_oldest(&mut books, own, now)?;
        }
        // The prefix's share: the newcomer's own address gives way first; only an address
        // new to a full prefix takes the place of the prefix's oldest session.
        let prefix = Share::Prefix(owner.prefix);
        if books.live_in(prefix) >= limits.per_prefix {
            let from = if books.live_in(own) > 0 { own } else { prefix };
            self.evict_oldest(&mut books, from, now)?;
        }
        if books.live >= limits.sessions {
            self.sweep_when_full(&mut books, now);
            if books.live >= limits.sessions {
                return Err(ReplayError::Full);
            }
        }
        let mut ivs = HashSet::with_capacity(1);
        ivs.insert(*iv);
        self.map.insert(id, Remembered::Live { until, ivs, owner });
        books.live += 1;
        for share in owner.shares() {
            let queue = books.shares.entry(share).or_default();
            queue.live += 1;
            queue.order.push_back(id);
        }
        Ok(())
    }

    /// Evicts `share`'s oldest live session to make room for a newer one of its own.
    fn evict_oldest(&self, books: &mut Books, share: Share, now: i64) -> Result<(), ReplayError> {
        if books.evicted >= self.limits.sessions {
            self.sweep_when_full(books, now);
            if books.evicted >= self.limits.sessions {
                return Err(ReplayError::Full);
            }
        }
        loop {
            let Some(victim) = books
                .shares
                .get_mut(&share)
                .and_then(|q| q.order.pop_front())
            else {
                // Counted live but none queued: cannot happen; refuse rather than overrun.
                return Err(ReplayError::Full);
            };
            let Some(mut entry) = self.map.get_mut(&victim) else {
                continue;
            };
            let Remembered::Live { until, owner, .. } = *entry else {
                continue;
            };
            if !owner.shares().contains(&share) {
                continue;
            }
            *entry = Remembered::Evicted { until };
            drop(entry);
            books.forget(owner);
            books.evicted += 1;
            return Ok(());
        }
    }

    /// A sweep when full, at most once a second.
    fn sweep_when_full(&self, books: &mut Books, now: i64) {
        if books.full_sweeps.allow(now) {
            self.sweep_locked(books, now);
        }
    }

    fn sweep_locked(&self, books: &mut Books, now: i64) -> usize {
        let before = self.map.len();
        self.map.retain(|_, remembered| {
            if remembered.until() >= now {
                return true;
            }
            match remembered {
                Remembered::Live { owner, .. } => books.forget(*owner),
                Remembered::Evicted { .. } => books.evicted = books.evicted.saturating_sub(1),
            }
            false
        });
        before.saturating_sub(self.map.len())
    }

    /// Drops the entries of sessions whose tokens are no longer accepted at `now` (and the
    /// books' lingering ids); returns how many.
    pub fn sweep(&self, now: i64) -> usize {
        let mut books = self.books();
        let dropped = self.sweep_locked(&mut books, now);
        let map = &self.map;
        books.shares.retain(|share, queue| {
            queue.order.retain(|id| {
                map.get(id).is_some_and(|r| {
                    matches!(&*r, Remembered::Live { owner, .. } if owner.shares().contains(share))
                })
            });
            queue.live > 0
        });
        dropped
    }

    /// Sessions remembered live (evicted ones not counted).
    pub fn len(&self) -> usize {
        self.books().live
    }

    /// Whether no session is remembered live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SessionId {
        SessionId::random().unwrap()
    }

    fn limits(sessions: usize, per_address: usize, per_prefix: usize) -> ReplayLimits {
        ReplayLimits {
            sessions,
            per_address,
            per_prefix,
        }
    }

    fn home() -> Owner {
        Owner::of("192.0.2.1".parse().unwrap())
    }

    #[test]
    fn an_iv_is_accepted_once_and_the_allowance_holds() {
        let memory = ReplayMemory::new(limits(10, 10, 10));
        let s = id();
        assert_eq!(memory.accept(s, &[1; 12], 2, 100, 0, home()), Ok(()));
        assert_eq!(
            memory.accept(s, &[1; 12], 2, 100, 0, home()),
            Err(ReplayError::Replayed)
        );
        assert_eq!(memory.accept(s, &[2; 12], 2, 100, 0, home()), Ok(()));
        assert_eq!(
            memory.accept(s, &[3; 12], 2, 100, 0, home()),
            Err(ReplayError::Exhausted)
        );
        assert_eq!(
            memory.accept(s, &[2; 12], 2, 100, 0, home()),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            memory.accept(id(), &[1; 12], 2, 100, 0, home()),
            Ok(()),
            "another session's IV space is its own"
        );
    }

    #[test]
    fn memory_is_kept_until_the_token_is_no_longer_accepted() {
        let memory = ReplayMemory::new(limits(10, 10, 10));
        let s = id();
        memory.accept(s, &[1; 12], 5, 100, 0, home()).unwrap();
        assert_eq!(memory.sweep(100), 0);
        assert_eq!(
            memory.accept(s, &[1; 12], 5, 100, 100, home()),
            Err(ReplayError::Replayed)
        );
        assert_eq!(memory.sweep(101), 1);
    }

    #[test]
    fn a_full_memory_refuses_new_sessions_but_never_forgets_a_live_one() {
        let memory = ReplayMemory::new(limits(2, 2, 2));
        let (a, b, c) = (id(), id(), id());
        // Three owners far apart: the memory as a whole is what fills.
        let (oa, ob, oc) = (
            Owner::of("192.0.2.1".parse().unwrap()),
            Owner::of("198.51.100.1".parse().unwrap()),
            Owner::of("203.0.113.1".parse().unwrap()),
        );
        memory.accept(a, &[1; 12], 5, 100, 0, oa).unwrap();
        memory.accept(b, &[1; 12], 5, 300, 0, ob).unwrap();
        assert_eq!(
            memory.accept(c, &[1; 12], 5, 300, 50, oc),
            Err(ReplayError::Full)
        );
        assert_eq!(
            memory.accept(a, &[1; 12], 5, 100, 50, oa),
            Err(ReplayError::Replayed)
        );
        assert_eq!(memory.accept(a, &[2; 12], 5, 100, 50, oa), Ok(()));
        // Once `a` is past its token's life its slot is free again.
        assert_eq!(memory.accept(c, &[1; 12], 5, 300, 200, oc), Ok(()));
        assert_eq!(
            memory.accept(b, &[1; 12], 5, 300, 200, ob),
            Err(ReplayError::Replayed)
        );
    }

    #[test]
    fn an_owner_past_its_share_evicts_its_own_oldest_session_which_is_then_refused() {
        let memory = ReplayMemory::new(limits(100, 2, 3));
        let at = |ip: &str| Owner::of(ip.parse().unwrap());
        let (a1, a2, a3) = (id(), id(), id());
        for s in [a1, a2, a3] {
            assert_eq!(
                memory.accept(s, &[1; 12], 5, 100, 0, at("192.0.2.1")),
                Ok(())
            );
        }
        // The address's share is 2: its oldest session went, and stays refused.
        assert_eq!(
            memory.accept(a1, &[2; 12], 5, 100, 0, at("192.0.2.1")),
            Err(ReplayError::Evicted)
        );
        assert_eq!(
            memory.accept(a2, &[2; 12], 5, 100, 0, at("192.0.2.1")),
            Ok(())
        );
        assert_eq!(memory.len(), 2);
        // Another address of the same /24 shares the prefix's 3. Past it, that address's
        // own oldest goes first…
        let b1 = id();
        assert_eq!(
            memory.accept(b1, &[1; 12], 5, 100, 0, at("192.0.2.99")),
            Ok(())
        );
        assert_eq!(memory.len(), 3);
        let b2 = id();
        assert_eq!(
            memory.accept(b2, &[1; 12], 5, 100, 0, at("192.0.2.99")),
            Ok(())
        );
        assert_eq!(
            memory.accept(b1, &[2; 12], 5, 100, 0, at("192.0.2.99")),
            Err(ReplayError::Evicted)
        );
        assert_eq!(
            memory.accept(a2, &[3; 12], 5, 100, 0, at("192.0.2.1")),
            Ok(())
        );
        // …and only an address new to the full prefix takes the prefix's oldest.
        let n = id();
        assert_eq!(
            memory.accept(n, &[1; 12], 5, 100, 0, at("192.0.2.50")),
            Ok(())
        );
        assert_eq!(
            memory.accept(a2, &[4; 12], 5, 100, 0, at("192.0.2.1")),
            Err(ReplayError::Evicted)
        );
        // Elsewhere is untouched by any of it.
        let c = id();
        assert_eq!(
            memory.accept(c, &[1; 12], 5, 100, 0, at("198.51.100.7")),
            Ok(())
        );
        assert_eq!(
            memory.accept(a3, &[2; 12], 5, 100, 0, at("192.0.2.1")),
            Ok(())
        );
        // An evicted session is remembered as such until its token's end, then forgotten.
        memory.sweep(101);
        assert_eq!(memory.len(), 0);
        assert_eq!(
            memory.accept(a1, &[2; 12], 5, 200, 101, at("192.0.2.1")),
            Ok(())
        );
    }

    #[test]
    fn ipv6_counts_by_64_for_the_address_and_by_48_for_the_prefix() {
        let a = Owner::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(a, Owner::of("2001:db8:1:2:ffff:1:2:3".parse().unwrap()));
        let other_64 = Owner::of("2001:db8:1:3::1".parse().unwrap());
        assert_ne!(a.address, other_64.address);
        assert_eq!(a.prefix, other_64.prefix);
        assert_ne!(a.prefix, Owner::of("2001:db8:2::1".parse().unwrap()).prefix);
        assert_eq!(
            Owner::of("::ffff:192.0.2.1".parse().unwrap()),
            Owner::of("192.0.2.1".parse().unwrap())
        );
    }
}

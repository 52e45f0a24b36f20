//! Single-use marks in this process's memory: a key is accepted the first time it is shown
//! and refused until its mark expires. What a sealed token request's `epk` is remembered in
//! (docs/protocol.md §1.1), so one captured request cannot mint a second token.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::session::{OncePerSecond, StoreFull};

/// Marks by key (a SHA-256 digest), each with the last second it holds.
#[derive(Debug)]
pub struct OnceMemory {
    marks: DashMap<[u8; 32], i64>,
    capacity: usize,
    /// Sweeps made because the memory is full.
    full_sweeps: OncePerSecond,
}

impl OnceMemory {
    /// A memory of at most `capacity` live marks.
    pub fn new(capacity: usize) -> Self {
        OnceMemory {
            marks: DashMap::new(),
            capacity,
            full_sweeps: OncePerSecond::default(),
        }
    }

    /// Marks `key` until `until` (a unix second); `Ok(true)` the first time, `Ok(false)`
    /// while an earlier mark holds. Full (after one sweep a second at most): `Err`.
    pub fn first(&self, key: [u8; 32], until: i64, now: i64) -> Result<bool, StoreFull> {
        if self.marks.len() >= self.capacity {
            if self.full_sweeps.allow(now) {
                self.sweep(now);
            }
            if self.marks.len() >= self.capacity && !self.marks.contains_key(&key) {
                return Err(StoreFull);
            }
        }
        match self.marks.entry(key) {
            Entry::Occupied(mark) if *mark.get() >= now => Ok(false),
            Entry::Occupied(mut mark) => {
                mark.insert(until);
                Ok(true)
            }
            Entry::Vacant(slot) => {
                slot.insert(until);
                Ok(true)
            }
        }
    }

    /// Drops the marks that no longer hold.
    pub fn sweep(&self, now: i64) {
        self.marks.retain(|_, until| *until >= now);
    }

    /// Marks held.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// Whether no mark is held.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_accepted_once_until_its_mark_expires() {
        let memory = OnceMemory::new(10);
        assert_eq!(memory.first([1; 32], 100, 50), Ok(true));
        assert_eq!(memory.first([1; 32], 100, 100), Ok(false));
        assert_eq!(memory.first([2; 32], 100, 60), Ok(true));
        // Past its last second, the mark no longer holds.
        assert_eq!(memory.first([1; 32], 200, 101), Ok(true));
        assert_eq!(memory.first([1; 32], 200, 150), Ok(false));
    }

    #[test]
    fn a_full_memory_sweeps_at_most_once_a_second_then_refuses() {
        let memory = OnceMemory::new(2);
        assert_eq!(memory.first([1; 32], 10, 0), Ok(true));
        assert_eq!(memory.first([2; 32], 100, 0), Ok(true));
        assert_eq!(memory.first([3; 32], 100, 5), Err(StoreFull));
        // A key already marked is still answered (refused) when full.
        assert_eq!(memory.first([2; 32], 100, 5), Ok(false));
        // At 11 the first mark has expired: the sweep of that second makes room.
        assert_eq!(memory.first([3; 32], 100, 11), Ok(true));
        assert_eq!(memory.len(), 2);
    }
}

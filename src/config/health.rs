//! Whether an upstream instance is in its route's rotation: the state that active health
//! checks and passive failure counting write, and request routing reads. Lock-free atomics
//! with `now` as an input, so every rule is a plain function of its inputs.
//!
//! Passive: `eject_after_failures` failures in a row (connect errors, resets, 5xx) eject
//! the instance for the ejection time, doubled for each ejection in a row (capped); a
//! success resets the count. Active: `unhealthy_threshold` failed probes in a row mark it
//! down, `healthy_threshold` passed ones up again (and end an ejection).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::routes::MAX_EJECTION;

/// One instance's health.
#[derive(Debug)]
pub struct Health {
    /// What the active checks say (true without checks).
    up: AtomicBool,
    probe_passes: AtomicU32,
    probe_failures: AtomicU32,
    /// Request failures in a row.
    failures: AtomicU32,
    /// Ejections in a row (reset by a success after the ejection ends).
    ejections: AtomicU32,
    /// Unix ms until which the instance is ejected (0: not ejected).
    ejected_until_ms: AtomicU64,
    /// Unix ms of the last active probe.
    last_probe_ms: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            up: AtomicBool::new(true),
            probe_passes: AtomicU32::new(0),
            probe_failures: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            last_probe_ms: AtomicU64::new(0),
        }
    }
}

impl Health {
    /// Whether the instance should get requests at `now_ms`.
    pub fn available(&self, now_ms: u64) -> bool {
        self.up.load(Ordering::Relaxed) && !self.is_ejected(now_ms)
    }

    /// Whether it is ejected at `now_ms`.
    pub fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// Whether the active checks say it is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Whether a probe is due at `now_ms` every `interval`; claims it when it is, so one
    /// checker probes once.
    pub fn probe_due(&self, now_ms: u64, interval: Duration) -> bool {
        let last = self.last_probe_ms.load(Ordering::Relaxed);
        let every = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        now_ms.saturating_sub(last) >= every
            && self
                .last_probe_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// A request it answered well at `now_ms`: the failure count starts again, and once an
    /// ejection is over, so does the doubling.
    pub fn success(&self, now_ms: u64) {
        self.failures.store(0, Ordering::Relaxed);
        if !self.is_ejected(now_ms) {
            self.ejected_until_ms.store(0, Ordering::Relaxed);
            self.ejections.store(0, Ordering::Relaxed);
        }
    }

    /// A request it failed; returns the ejection's length when this failure ejects it.
    pub fn failure(&self, now_ms: u64, after: u32, base: Duration) -> Option<Duration> {
        if after == 0 {
            return None;
        }
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < after || self.is_ejected(now_ms) {
            return None;
        }
        self.failures.store(0, Ordering::Relaxed);
        let ejections = self.ejections.fetch_add(1, Ordering::Relaxed);
        let length = base
            .saturating_mul(1u32 << ejections.min(16))
            .min(MAX_EJECTION);
        let until = now_ms.saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX));
        self.ejected_until_ms.store(until, Ordering::Relaxed);
        Some(length)
    }

    /// One active probe's result; returns the new state when it changed.
    pub fn probe(
        &self,
        passed: bool,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> Option<bool> {
        if passed {
            self.probe_failures.store(0, Ordering::Relaxed);
            let passes = self.probe_passes.fetch_add(1, Ordering::Relaxed) + 1;
            if passes >= healthy_threshold && !self.up.swap(true, Ordering::Relaxed) {
                // Back up: whatever ejected it is over.
                self.ejected_until_ms.store(0, Ordering::Relaxed);
                self.failures.store(0, Ordering::Relaxed);
                return Some(true);
            }
            if passes >= healthy_threshold && self.ejected_until_ms.load(Ordering::Relaxed) != 0 {
                // It answers its checks: end the ejection early.
                self.ejected_until_ms.store(0, Ordering::Relaxed);
            }
        } else {
            self.probe_passes.store(0, Ordering::Relaxed);
            let failures = self.probe_failures.fetch_add(1, Ordering::Relaxed) + 1;
            if failures >= unhealthy_threshold && self.up.swap(false, Ordering::Relaxed) {
                return Some(false);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_eject_for_a_doubling_time_and_a_success_resets() {
        let h = Health::default();
        let base = Duration::from_secs(10);
        assert_eq!(h.failure(0, 3, base), None);
        h.success(0);
        assert_eq!(h.failure(0, 3, base), None);
        assert_eq!(h.failure(0, 3, base), None);
        assert_eq!(h.failure(0, 3, base), Some(base));
        assert!(!h.available(5_000) && h.available(10_001));
        for _ in 0..3 {
            h.failure(20_000, 3, base);
        }
        assert!(
            h.is_ejected(20_000 + 19_999),
            "the second ejection in a row lasts twice as long"
        );
        assert_eq!(h.failure(0, 0, base), None, "0 never ejects");
    }

    #[test]
    fn probes_mark_down_and_up_after_their_thresholds() {
        let h = Health::default();
        assert_eq!(h.probe(false, 2, 3), None);
        assert_eq!(h.probe(false, 2, 3), None);
        assert_eq!(h.probe(false, 2, 3), Some(false));
        assert!(!h.available(0));
        assert_eq!(h.probe(true, 2, 3), None);
        assert_eq!(h.probe(true, 2, 3), Some(true));
        assert!(h.available(0));
    }
}

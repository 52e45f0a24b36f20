//! Whether an upstream instance is in its route's rotation: what active health checks and
//! passive outlier detection say of it. Lock-free atomics with `now` as an input, so every
//! rule is a plain function of its inputs and the tests move time by hand.
//!
//! Passive detection must not let clients decide which backends serve everyone (a client
//! chooses its path, its body and how fast it uploads, so it chooses which answers are 5xx
//! and which requests time out). Two rules, after Envoy's outlier detection:
//!
//! - **Local-origin failures** — the instance refused or dropped the connection before any
//!   byte of the request was written — are the instance's alone: `eject_after_failures` of
//!   them in a row eject it.
//! - **Answer failures** (5xx, a reset after the request was written, a timeout once the
//!   client's body had all arrived) eject only by **ratio over a minimum volume and against
//!   the instance's siblings**: over the last [`OUTLIER_WINDOW`], at least `min_requests`
//!   requests, at least `failure_percent` % of them failed, and that many points more than
//!   the route's other instances together (a request that fails everywhere is the request's
//!   doing, not an instance's). See [`Outlier::is_outlier`].
//!
//! An ejection lasts `ejection`, doubled for each ejection in a row (capped at
//! [`MAX_EJECTION`]), and never takes out more than `max_ejected_percent` of a route's
//! instances (at least one may go: Envoy's `max_ejection_percent`). Active checks:
//! `unhealthy_threshold` failed probes in a row mark the instance down, `healthy_threshold`
//! passed ones up again (and end an ejection).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

pub use crate::config::MAX_EJECTION;
use crate::config::Outlier;

/// The window answer failures are counted over: the current and the previous period of
/// this length.
pub const OUTLIER_WINDOW: Duration = Duration::from_secs(10);

/// One instance's health.
#[derive(Debug)]
pub struct Health {
    /// What the active checks say (true without checks).
    up: AtomicBool,
    probe_passes: AtomicU32,
    probe_failures: AtomicU32,
    /// Local-origin failures in a row.
    connect_failures: AtomicU32,
    /// Ejections in a row (reset by a success after the ejection ends).
    ejections: AtomicU32,
    /// Unix ms until which the instance is ejected (0: not ejected).
    ejected_until_ms: AtomicU64,
    /// Unix ms of the last active probe.
    last_probe_ms: AtomicU64,
    /// Answers in the outlier window, as two periods.
    window: Window,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            up: AtomicBool::new(true),
            probe_passes: AtomicU32::new(0),
            probe_failures: AtomicU32::new(0),
            connect_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            last_probe_ms: AtomicU64::new(0),
            window: Window::default(),
        }
    }
}

/// Requests and failures in the current period of [`OUTLIER_WINDOW`] and the one before.
/// Counts are packed as `requests << 32 | failures` so a reader sees a consistent pair.
#[derive(Debug, Default)]
struct Window {
    /// The period number (`now_ms / OUTLIER_WINDOW`) `current` counts.
    period: AtomicU64,
    current: AtomicU64,
    previous: AtomicU64,
}

const FAILURE: u64 = 1;
const REQUEST: u64 = 1 << 32;

impl Window {
    fn period_of(now_ms: u64) -> u64 {
        now_ms / OUTLIER_WINDOW.as_millis() as u64
    }

    /// Moves the window to `now_ms`'s period (the racing loser's counts of one request may
    /// land in a neighbouring period: harmless for a ratio).
    fn roll(&self, now_ms: u64) {
        let period = Self::period_of(now_ms);
        let seen = self.period.load(Ordering::Relaxed);
        if period <= seen
            || self
                .period
                .compare_exchange(seen, period, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let last = self.current.swap(0, Ordering::Relaxed);
        let previous = if period == seen + 1 { last } else { 0 };
        self.previous.store(previous, Ordering::Relaxed);
    }

    fn add(&self, now_ms: u64, failed: bool) {
        self.roll(now_ms);
        let add = REQUEST + if failed { FAILURE } else { 0 };
        self.current.fetch_add(add, Ordering::Relaxed);
    }

    /// `(requests, failures)` over the window at `now_ms`.
    fn counts(&self, now_ms: u64) -> (u64, u64) {
        self.roll(now_ms);
        [&self.current, &self.previous]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .fold((0, 0), |(r, f), packed| {
                (r + (packed >> 32), f + (packed & 0xffff_ffff))
            })
    }
}

/// What one request's outcome says of the instance that served it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A usable answer (anything but a 5xx).
    Ok,
    /// A 5xx, a reset after the request was written, or a timeout that was not the
    /// client's doing: counted in the ratio.
    AnswerFailure,
    /// The connection was refused or dropped before any byte of the request went: counted
    /// in a row.
    LocalFailure,
    /// Says nothing of the instance (the client's upload failed, was too large, or was
    /// still arriving when the deadline passed).
    Neutral,
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

    /// `(requests, failures)` in the outlier window at `now_ms`.
    pub fn window(&self, now_ms: u64) -> (u64, u64) {
        self.window.counts(now_ms)
    }

    /// Counts one outcome at `now_ms`. Returns whether it makes the instance a candidate
    /// for ejection by the local-origin rule (`true`: `after` in a row); the ratio rule
    /// needs the siblings and is [`Outlier::is_outlier`].
    pub fn record(&self, now_ms: u64, outcome: Outcome, after: u32) -> bool {
        match outcome {
            Outcome::Ok => {
                self.connect_failures.store(0, Ordering::Relaxed);
                self.window.add(now_ms, false);
                if !self.is_ejected(now_ms) {
                    self.ejected_until_ms.store(0, Ordering::Relaxed);
                    self.ejections.store(0, Ordering::Relaxed);
                }
                false
            }
            Outcome::AnswerFailure => {
                self.window.add(now_ms, true);
                false
            }
            Outcome::LocalFailure => {
                let in_a_row = self.connect_failures.fetch_add(1, Ordering::Relaxed) + 1;
                after != 0 && in_a_row >= after && !self.is_ejected(now_ms)
            }
            Outcome::Neutral => false,
        }
    }

    /// Ejects the instance from `now_ms` for `base` doubled per ejection in a row; returns
    /// the length.
    pub fn eject(&self, now_ms: u64, base: Duration) -> Duration {
        self.connect_failures.store(0, Ordering::Relaxed);
        let ejections = self.ejections.fetch_add(1, Ordering::Relaxed);
        let length = base
            .saturating_mul(1u32 << ejections.min(16))
            .min(MAX_EJECTION);
        let until = now_ms.saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX));
        self.ejected_until_ms.store(until, Ordering::Relaxed);
        // The ratio starts again: an instance back from ejection is judged on new answers.
        self.window.current.store(0, Ordering::Relaxed);
        self.window.previous.store(0, Ordering::Relaxed);
        length
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
                self.connect_failures.store(0, Ordering::Relaxed);
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

impl Outlier {
    /// The ratio rule: whether an instance with `own = (requests, failures)` in its window is
    /// an outlier beside `others` (the same, summed over the route's other instances).
    pub fn is_outlier(&self, own: (u64, u64), others: (u64, u64)) -> bool {
        let (requests, failures) = own;
        if requests < u64::from(self.min_requests) || requests == 0 {
            return false;
        }
        let percent = |(r, f): (u64, u64)| (f * 100).checked_div(r).unwrap_or(0);
        let mine = percent((requests, failures));
        let theirs = percent(others);
        let threshold = u64::from(self.failure_percent);
        mine >= threshold && mine.saturating_sub(theirs) >= threshold
    }

    /// How many of `instances` may be ejected at once: `max_ejected_percent` of them,
    /// rounded down, but at least one (none when there is one instance: ejecting the only
    /// instance would send its requests nowhere else; none at 0 %).
    pub fn max_ejected(&self, instances: usize) -> usize {
        if instances < 2 || self.max_ejected_percent == 0 {
            return 0;
        }
        (instances * usize::from(self.max_ejected_percent) / 100).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlier() -> Outlier {
        Outlier {
            eject_after_failures: 3,
            failure_percent: 50,
            min_requests: 10,
            max_ejected_percent: 50,
            ejection: Duration::from_secs(10),
        }
    }

    #[test]
    fn local_failures_in_a_row_are_an_ejection_candidate_and_a_success_resets() {
        let h = Health::default();
        assert!(!h.record(0, Outcome::LocalFailure, 3));
        h.record(0, Outcome::Ok, 3);
        assert!(!h.record(0, Outcome::LocalFailure, 3));
        assert!(!h.record(0, Outcome::LocalFailure, 3));
        assert!(h.record(0, Outcome::LocalFailure, 3));
        assert!(!h.record(0, Outcome::LocalFailure, 0), "0 never ejects");
        assert!(
            !h.record(0, Outcome::AnswerFailure, 1),
            "answer failures never eject in a row"
        );
    }

    #[test]
    fn ejections_in_a_row_double_up_to_the_cap() {
        let h = Health::default();
        let base = Duration::from_secs(10);
        assert_eq!(h.eject(0, base), base);
        assert!(!h.available(5_000) && h.available(10_001));
        assert_eq!(h.eject(20_000, base), base * 2);
        assert!(h.is_ejected(20_000 + 19_999));
        for _ in 0..20 {
            h.eject(0, base);
        }
        assert_eq!(h.eject(0, base), MAX_EJECTION);
    }

    #[test]
    fn the_ratio_rule_needs_volume_and_a_gap_to_the_siblings() {
        let o = outlier();
        assert!(!o.is_outlier((9, 9), (0, 0)), "below the minimum volume");
        assert!(o.is_outlier((10, 9), (100, 2)));
        assert!(
            !o.is_outlier((100, 90), (100, 80)),
            "failing everywhere: the requests' doing"
        );
        assert!(!o.is_outlier((100, 40), (100, 0)), "below the ratio");
        assert!(o.is_outlier((20, 20), (0, 0)), "siblings with no answers");
    }

    #[test]
    fn the_window_forgets_what_is_two_periods_old() {
        let h = Health::default();
        let period = OUTLIER_WINDOW.as_millis() as u64;
        for _ in 0..5 {
            h.record(0, Outcome::AnswerFailure, 0);
        }
        h.record(period, Outcome::Ok, 0);
        assert_eq!(h.window(period), (6, 5));
        assert_eq!(h.window(2 * period), (1, 0));
        assert_eq!(h.window(4 * period), (0, 0));
    }

    #[test]
    fn at_most_the_share_of_instances_is_ejected_and_never_the_only_one() {
        let o = outlier();
        assert_eq!(o.max_ejected(1), 0);
        assert_eq!(o.max_ejected(2), 1);
        assert_eq!(o.max_ejected(3), 1);
        assert_eq!(o.max_ejected(10), 5);
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

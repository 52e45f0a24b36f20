//! A route's retry budget (after Finagle's `RetryBudget` and Envoy's `retry_budget`):
//! retries may be at most a share of the route's requests over a window, plus a few per
//! window whatever the traffic, so that when an upstream fails, retries add a bounded
//! fraction to its load instead of multiplying it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::Retry;

/// The window requests and retries are counted over.
pub const RETRY_WINDOW: Duration = Duration::from_secs(10);

/// Requests and retries in the current window.
#[derive(Debug, Default)]
pub struct RetryBudget {
    period: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl RetryBudget {
    fn roll(&self, now_ms: u64) {
        let period = now_ms / RETRY_WINDOW.as_millis() as u64;
        let seen = self.period.load(Ordering::Relaxed);
        if period > seen
            && self
                .period
                .compare_exchange(seen, period, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.requests.store(0, Ordering::Relaxed);
            self.retries.store(0, Ordering::Relaxed);
        }
    }

    /// Counts one request (a first try).
    pub fn request(&self, now_ms: u64) {
        self.roll(now_ms);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget when `policy` allows another in this window.
    pub fn try_retry(&self, now_ms: u64, policy: &Retry) -> bool {
        self.roll(now_ms);
        let requests = self.requests.load(Ordering::Relaxed);
        let allowed = (requests * u64::from(policy.budget_percent) / 100)
            .max(u64::from(policy.min_per_window));
        self.retries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |taken| {
                (taken < allowed).then_some(taken + 1)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_a_share_of_requests_with_a_floor_and_a_new_window_refills() {
        let policy = Retry {
            attempts: 2,
            budget_percent: 10,
            min_per_window: 2,
        };
        let budget = RetryBudget::default();
        assert!(budget.try_retry(0, &policy) && budget.try_retry(0, &policy));
        assert!(!budget.try_retry(0, &policy), "the floor is spent");
        for _ in 0..50 {
            budget.request(0);
        }
        assert!(budget.try_retry(0, &policy), "10 % of 50 is 5");
        assert!(budget.try_retry(0, &policy) && budget.try_retry(0, &policy));
        assert!(!budget.try_retry(0, &policy));
        let next = RETRY_WINDOW.as_millis() as u64;
        assert!(budget.try_retry(next, &policy), "a new window");
    }
}

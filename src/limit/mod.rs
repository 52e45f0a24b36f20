//! Rate limits. Requests on a route: [`gcra`]. Token issuance (this file): fixed one-minute
//! windows per key (a client's `apiKey`, or a source address), counted in a `DashMap`. A fixed window can let up to twice the limit
//! through across a window edge; for a brake on credential stuffing and key-pair churn that
//! is enough, and it costs one map entry per active key.

pub mod gcra;

use dashmap::DashMap;

/// Length of a window in seconds.
pub const WINDOW_SECS: i64 = 60;

/// Counters for one kind of key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: DashMap<String, (i64, u32)>,
}

impl RateLimiter {
    /// Counts one event for `key`; `false` when it is over `per_minute` in the current
    /// window. A limit of 0 means unlimited.
    pub fn allow(&self, key: &str, per_minute: u32, now: i64) -> bool {
        if per_minute == 0 {
            return true;
        }
        let window = now.div_euclid(WINDOW_SECS);
        let mut entry = self.windows.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Drops counters of past windows.
    pub fn sweep(&self, now: i64) {
        let window = now.div_euclid(WINDOW_SECS);
        self.windows.retain(|_, (w, _)| *w == window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_within_a_window_and_resets_after() {
        let limiter = RateLimiter::default();
        assert!(limiter.allow("a", 2, 0));
        assert!(limiter.allow("a", 2, 10));
        assert!(!limiter.allow("a", 2, 59));
        assert!(limiter.allow("b", 2, 59), "keys are independent");
        assert!(limiter.allow("a", 2, 60), "a new window");
        assert!(limiter.allow("a", 0, 60), "0 is unlimited");
        limiter.sweep(200);
        assert!(limiter.windows.is_empty());
    }
}

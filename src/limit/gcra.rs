//! Request rate limits (`[routes.rate_limit]`): the generic cell rate algorithm (GCRA), as
//! in ATM traffic policing and in `redis-cell` and Envoy's token buckets, with one number
//! of state per key, the *theoretical arrival time* (TAT).
//!
//! A rate of `requests` per `period` spaces requests `interval = period / requests` apart;
//! `burst` of them may arrive at once. A request at `now` moves the TAT to
//! `max(TAT, now) + interval` and is allowed while that stays within `burst × interval` of
//! `now`; a refused request moves nothing, so hammering a closed limit does not keep it
//! closed. It is a token bucket of `burst` tokens refilled one per `interval`, counted by
//! one timestamp instead of a count and a clock.
//!
//! [`decide`] is the arithmetic, pure; [`GcraMemory`] keeps the TATs of this process; the
//! same arithmetic runs in one Redis script for a shared limit (`state::redis_store`),
//! which `tests/redis` runs across instances.
//!
//! Hand-written rather than `governor`: that crate keeps its own clock and state per
//! limiter, while here the same decision must run in memory and in a Redis script, keyed
//! by strings that outlive a reload, under the gateway's clock.

use dashmap::DashMap;

use crate::config::RateLimit;

/// One limit: `burst` requests at once, refilled one per `interval_us` microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Microseconds between requests at the sustained rate (at least 1).
    pub interval_us: u64,
    /// Requests allowed at once (at least 1).
    pub burst: u32,
}

impl Gcra {
    /// `requests` per `period_secs`, with `burst` at once. Both counts at least 1.
    pub fn new(requests: u32, period_secs: u64, burst: u32) -> Self {
        let period_us = period_secs.saturating_mul(1_000_000);
        Gcra {
            interval_us: (period_us / u64::from(requests.max(1))).max(1),
            burst: burst.max(1),
        }
    }

    /// A route's `[routes.rate_limit]`.
    pub fn of(limit: &RateLimit) -> Self {
        Gcra::new(limit.requests, limit.period_secs, limit.burst)
    }

    /// How far ahead of `now` the TAT may run: `burst × interval`.
    pub fn tolerance_us(self) -> u64 {
        self.interval_us.saturating_mul(u64::from(self.burst))
    }
}

/// What a limit said of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests that could still be made at once after this one (0 when refused).
    pub remaining: u32,
    /// Microseconds until the limit is whole again (the bucket full).
    pub reset_us: u64,
    /// When refused, microseconds until one request would be allowed; 0 when allowed.
    pub retry_after_us: u64,
}

impl Decision {
    /// Whole seconds until `us` has passed, at least 1 (for `Retry-After` and `t=`).
    pub fn seconds(us: u64) -> u64 {
        us.div_ceil(1_000_000).max(1)
    }
}

/// The decision for a request at `now_us` against a key whose TAT is `tat_us` (`None`: never
/// seen, or forgotten once the bucket was full), and the TAT to store when allowed.
pub fn decide(limit: Gcra, tat_us: Option<u64>, now_us: u64) -> (Decision, Option<u64>) {
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    let next = tat.saturating_add(limit.interval_us);
    let ahead = next - now_us;
    let tolerance = limit.tolerance_us();
    if ahead > tolerance {
        let decision = Decision {
            allowed: false,
            remaining: 0,
            reset_us: tat - now_us,
            retry_after_us: ahead - tolerance,
        };
        return (decision, None);
    }
    let remaining = (tolerance - ahead) / limit.interval_us;
    let decision = Decision {
        allowed: true,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset_us: ahead,
        retry_after_us: 0,
    };
    (decision, Some(next))
}

/// The TATs of this process, keyed by route, key kind and key. Outlives reloads (it lives
/// in the application state), so a reload does not hand every client a fresh burst.
#[derive(Debug, Default)]
pub struct GcraMemory {
    tats: DashMap<String, u64>,
}

impl GcraMemory {
    /// Decides a request for `key` at `now_us`, recording it when allowed.
    pub fn check(&self, key: &str, limit: Gcra, now_us: u64) -> Decision {
        // Look up before inserting: the common case (a known key) allocates no String.
        if let Some(mut tat) = self.tats.get_mut(key) {
            let (decision, next) = decide(limit, Some(*tat), now_us);
            if let Some(next) = next {
                *tat = next;
            }
            return decision;
        }
        // A key not seen: decided under the shard's lock, so two workers' first requests
        // for it are counted one after the other, not both against an empty bucket.
        match self.tats.entry(key.to_owned()) {
            dashmap::Entry::Occupied(mut tat) => {
                let (decision, next) = decide(limit, Some(*tat.get()), now_us);
                if let Some(next) = next {
                    *tat.get_mut() = next;
                }
                decision
            }
            dashmap::Entry::Vacant(vacant) => {
                let (decision, next) = decide(limit, None, now_us);
                if let Some(next) = next {
                    vacant.insert(next);
                }
                decision
            }
        }
    }

    /// Forgets keys whose bucket is full again at `now_us` (their TAT has passed): a
    /// forgotten key decides exactly as a remembered one would. Returns how many are kept.
    pub fn sweep(&self, now_us: u64) -> usize {
        self.tats.retain(|_, tat| *tat > now_us);
        self.tats.len()
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    #[test]
    fn a_burst_passes_at_once_then_one_request_per_interval() {
        // 2 per second, a burst of 3.
        let limit = Gcra::new(2, 1, 3);
        let memory = GcraMemory::default();
        let t0 = 100 * SEC;
        let remaining: Vec<_> = (0..3)
            .map(|_| memory.check("k", limit, t0))
            .map(|d| (d.allowed, d.remaining))
            .collect();
        assert_eq!(remaining, [(true, 2), (true, 1), (true, 0)]);
        let refused = memory.check("k", limit, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_us, SEC / 2);
        assert_eq!(refused.reset_us, 3 * SEC / 2);
        // Refusals move nothing: just before the interval it is still refused, at it allowed.
        assert!(!memory.check("k", limit, t0 + SEC / 2 - 1).allowed);
        assert!(memory.check("k", limit, t0 + SEC / 2).allowed);
        assert!(!memory.check("k", limit, t0 + SEC / 2).allowed);
        assert!(memory.check("other", limit, t0).allowed, "keys are apart");
    }

    #[test]
    fn a_quiet_key_is_forgotten_and_decides_the_same_afterwards() {
        let limit = Gcra::new(1, 10, 2);
        let memory = GcraMemory::default();
        assert!(memory.check("k", limit, 0).allowed);
        assert_eq!(memory.sweep(5 * SEC), 1, "not yet full again");
        assert_eq!(memory.sweep(10 * SEC), 0);
        let fresh = memory.check("k", limit, 10 * SEC);
        assert_eq!((fresh.allowed, fresh.remaining), (true, 1));
    }

    #[test]
    fn the_rate_holds_over_a_long_run_whatever_the_arrival_pattern() {
        // 5 per second, burst 5, requests every 7 ms for 20 s: at most burst + 5 × 20.
        let limit = Gcra::new(5, 1, 5);
        let memory = GcraMemory::default();
        let allowed = (0..20 * SEC / 7_000)
            .filter(|i| memory.check("k", limit, i * 7_000).allowed)
            .count();
        assert!((100..=105).contains(&allowed), "{allowed}");
    }

    #[test]
    fn extreme_settings_neither_overflow_nor_divide_by_zero() {
        let huge = Gcra::new(1, u64::MAX, u32::MAX);
        assert!(decide(huge, Some(u64::MAX), u64::MAX).0.allowed);
        let fast = Gcra::new(u32::MAX, 1, 1);
        assert_eq!(fast.interval_us, 1);
        assert!(decide(fast, None, 0).0.allowed);
        assert!(!decide(fast, Some(1), 0).0.allowed);
        assert_eq!(Decision::seconds(1), 1);
        assert_eq!(Decision::seconds(1_500_000), 2);
    }
}

//! Waiting for the state a test needs (a request in flight at the upstream, a reload or a
//! drain under way, a metric moved) instead of sleeping for a guess at how long it takes.

use std::time::Duration;

use tokio::time::Instant;

/// How often [`eventually`] checks.
const INTERVAL: Duration = Duration::from_millis(5);
/// How long [`eventually`] waits before failing the test.
const DEADLINE: Duration = Duration::from_secs(5);

/// Checks `check` every 5 ms until it holds; panics naming `what` (what never happened)
/// after 5 s.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(INTERVAL).await;
    }
}

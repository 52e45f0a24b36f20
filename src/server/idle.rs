//! A connection's idle deadline: however it speaks (HTTP/1.1 or HTTP/2, plain or TLS,
//! still being sniffed for its protocol or between requests), a connection with no request
//! in progress for `server.header_read_timeout_ms` is closed. Otherwise sockets that send
//! nothing, or an HTTP/2 preface and SETTINGS and then nothing, hold connection slots for
//! ever: hyper-util's protocol sniff has no deadline and HTTP/2 has no idle timeout.
//!
//! A request is in progress from the moment its head is parsed (the service is called)
//! until its response body has been sent or dropped, so a long streamed response is never
//! cut for being "idle".

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::wire::{Body, BoxError};

/// What one connection is doing: requests in progress, and since when it has had none.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    in_progress: AtomicUsize,
    /// Milliseconds after `started` at which the last request ended (or 0).
    idle_since_ms: AtomicU64,
}

impl Activity {
    /// A new connection: idle from now.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            started: Instant::now(),
            in_progress: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request in progress until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InProgress {
        self.in_progress.fetch_add(1, Ordering::AcqRel);
        InProgress(Arc::clone(self))
    }

    fn idle_since(&self) -> Instant {
        self.started + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }

    /// Completes once the connection has had no request in progress for `timeout`.
    pub async fn idle_for(self: Arc<Self>, timeout: Duration) {
        loop {
            let deadline = self.idle_since() + timeout;
            tokio::time::sleep_until(deadline).await;
            if self.in_progress.load(Ordering::Acquire) == 0
                && self.idle_since() + timeout <= Instant::now()
            {
                return;
            }
            if self.in_progress.load(Ordering::Acquire) > 0 {
                // Busy: look again a whole timeout later (the request's own deadlines
                // bound it meanwhile).
                tokio::time::sleep(timeout).await;
            }
        }
    }
}

/// One request in progress on a connection; dropping it ends it.
#[derive(Debug)]
pub struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let activity = &self.0;
        let elapsed = u64::try_from(activity.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.idle_since_ms.store(elapsed, Ordering::Release);
        activity.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `body`, keeping `guard` (its request in progress) until the body is done or dropped.
pub fn track(body: Body, guard: InProgress) -> Body {
    Tracked {
        inner: body,
        guard: Some(guard),
    }
    .boxed_unsync()
}

struct Tracked {
    inner: Body,
    guard: Option<InProgress>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_times_out_and_a_busy_one_does_not() {
        let activity = Activity::new();
        let guard = activity.begin();
        let idle = tokio::spawn(Arc::clone(&activity).idle_for(Duration::from_secs(10)));
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(!idle.is_finished(), "a request in progress is not idle");
        drop(guard);
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(!idle.is_finished(), "idle for 9 s of 10");
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert!(idle.is_finished());
    }
}

//! A connection's idle deadline: however it speaks (HTTP/1.1 or HTTP/2, plain or TLS,
//! still being sniffed for its protocol or between requests), a connection with no request
//! in progress for `server.header_read_timeout_ms` is closed. Otherwise sockets that send
//! nothing, or an HTTP/2 preface and SETTINGS and then nothing, hold connection slots for
//! ever: hyper-util's protocol sniff has no deadline and HTTP/2 has no idle timeout.
//!
//! A request is in progress from the moment its head is parsed (the service is called)
//! until its response body has been sent or dropped, so a long streamed response is never
//! cut for being "idle". But it is cut when it makes no progress towards the client
//! (`server.send_timeout_ms`, [`Activity::stalled_for`]): once the answer has handed hyper a
//! frame, hyper asks for the next only when the client has read enough of what it holds,
//! so an answer not asked for more within the deadline is one its client does not read.
//! (With HTTP/2 the watch is per connection: one stream asking for more ends the wait.)

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
    /// Milliseconds after `started` (plus one, so 0 means none) at which an answer handed a
    /// frame to hyper and has not been asked for more since.
    waiting_since_ms: AtomicU64,
}

impl Activity {
    /// A new connection: idle from now.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            started: Instant::now(),
            in_progress: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            waiting_since_ms: AtomicU64::new(0),
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

impl Activity {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Completes once an answer has waited `timeout` for its client to read (see the
    /// module's text). One timer per connection, re-armed every `timeout` at most: no
    /// wake-up per request.
    pub async fn stalled_for(self: Arc<Self>, timeout: Duration) {
        loop {
            let since = self.waiting_since_ms.load(Ordering::Acquire);
            if since == 0 {
                tokio::time::sleep(timeout).await;
                continue;
            }
            let deadline = self.started + Duration::from_millis(since - 1) + timeout;
            tokio::time::sleep_until(deadline).await;
            if self.waiting_since_ms.load(Ordering::Acquire) == since {
                return;
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

impl Drop for Tracked {
    fn drop(&mut self) {
        // hyper drops an answer it has taken whole: nothing of it waits any more.
        if let Some(guard) = &self.guard {
            guard.0.waiting_since_ms.store(0, Ordering::Release);
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Some(guard) = &self.guard {
            let activity = &guard.0;
            // Asked for more: whatever was handed before has been taken. A frame handed now
            // waits for the client until the next ask.
            // hyper asks for nothing more after the last frame (an end of stream, or a
            // length written whole), so only a frame with more to follow waits.
            let waiting = match &polled {
                Poll::Ready(Some(Ok(_))) if !self.inner.is_end_stream() => {
                    activity.elapsed_ms().saturating_add(1)
                }
                _ => 0,
            };
            activity.waiting_since_ms.store(waiting, Ordering::Release);
        }
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

    #[tokio::test(start_paused = true)]
    async fn an_answer_not_asked_for_more_within_the_deadline_is_stalled() {
        use http_body::Body as _;
        let activity = Activity::new();
        let stalled = tokio::spawn(Arc::clone(&activity).stalled_for(Duration::from_secs(5)));
        /// Two frames: after the first, more is to follow.
        struct TwoFrames(u8);
        impl http_body::Body for TwoFrames {
            type Data = Bytes;
            type Error = BoxError;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
                if self.0 == 0 {
                    return Poll::Ready(None);
                }
                self.0 -= 1;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
            }
            fn is_end_stream(&self) -> bool {
                self.0 == 0
            }
        }
        let mut body = std::pin::pin!(track(TwoFrames(2).boxed_unsync(), activity.begin()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!stalled.is_finished(), "nothing handed yet: not stalled");
        let frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        assert!(frame.is_some());
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!stalled.is_finished(), "4 s of 5");
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert!(stalled.is_finished(), "not asked for more within 5 s");
    }
}

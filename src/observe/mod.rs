//! What the gateway tells operators about each request besides metrics: the access line
//! ([`access`]) and the distributed trace ([`trace`]), and the [`Trail`] the handlers fill
//! in for both as the request goes (which upstream instance, whose session, what refusal).
//!
//! Both are built to stay off the request's path: the access line is handed to a writer
//! thread through a bounded queue, and spans to OpenTelemetry's batch exporter behind a
//! bounded queue of our own; when either queue is full the record is dropped and counted,
//! never waited for.

pub mod access;
pub mod trace;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Facts about one request that only its handler learns, kept for its access line. Shared
/// (behind an `Arc`) between the handler and the response body, which writes the line when
/// it is done; all setters take `&self`.
#[derive(Debug, Default)]
pub struct Trail {
    /// Request body bytes read from the client.
    bytes_in: AtomicU64,
    /// Time to the upstream's response head, in microseconds (0: no upstream answered).
    upstream_micros: AtomicU64,
    facts: Mutex<Facts>,
    /// A WebSocket tunnel's end, when the request became one: its access line waits for it.
    tunnel: Mutex<Option<tokio::sync::oneshot::Receiver<TunnelEnd>>>,
}

/// How a WebSocket tunnel ended (`proxy::tunnel`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TunnelEnd {
    /// Bytes from the client to the upstream.
    pub bytes_up: u64,
    /// Bytes from the upstream to the client.
    pub bytes_down: u64,
    /// `closed`, `idle`, `max_duration` or `error`.
    pub reason: &'static str,
}

/// The facts of a [`Trail`] that are not counters.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// The upstream instance tried last (`scheme://host:port`).
    pub upstream: Option<Arc<String>>,
    /// The client id and channel, once known (a verified token, or a token issued).
    pub identity: Option<(Arc<str>, Arc<str>)>,
    /// The `resCode` of a refusal, or of the token endpoint's answer.
    pub res_code: Option<&'static str>,
}

impl Trail {
    /// The request became a tunnel whose end `end` will report.
    pub fn set_tunnel(&self, end: tokio::sync::oneshot::Receiver<TunnelEnd>) {
        if let Ok(mut tunnel) = self.tunnel.lock() {
            *tunnel = Some(end);
        }
    }

    /// The tunnel's end to wait for, if the request became one.
    pub fn take_tunnel(&self) -> Option<tokio::sync::oneshot::Receiver<TunnelEnd>> {
        self.tunnel.lock().ok()?.take()
    }

    /// Adds `n` request body bytes.
    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Request body bytes read so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Records the upstream's time to response head.
    pub fn set_upstream_time(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.upstream_micros.store(micros.max(1), Ordering::Relaxed);
    }

    /// The upstream's time to response head, if one answered.
    pub fn upstream_time(&self) -> Option<Duration> {
        match self.upstream_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    /// Records the upstream instance a request is sent to.
    pub fn set_upstream(&self, upstream: &Arc<String>) {
        self.with(|facts| facts.upstream = Some(Arc::clone(upstream)));
    }

    /// Records whose session (or token request) this is.
    pub fn set_identity(&self, client: Arc<str>, channel: Arc<str>) {
        self.with(|facts| facts.identity = Some((client, channel)));
    }

    /// Records the `resCode` the gateway answered with.
    pub fn set_res_code(&self, code: &'static str) {
        self.with(|facts| facts.res_code = Some(code));
    }

    /// The `resCode` recorded, if any (without copying the other facts).
    pub fn res_code(&self) -> Option<&'static str> {
        self.facts.lock().ok().and_then(|facts| facts.res_code)
    }

    /// A copy of the facts.
    pub fn facts(&self) -> Facts {
        self.facts
            .lock()
            .map(|facts| facts.clone())
            .unwrap_or_default()
    }

    fn with(&self, f: impl FnOnce(&mut Facts)) {
        // A poisoned lock means a panic while setting a field; the trail is best effort.
        if let Ok(mut facts) = self.facts.lock() {
            f(&mut facts);
        }
    }
}

/// A request body that adds the bytes it yields to a [`Trail`] (`bytes_in` of a streamed
/// body).
#[derive(Debug)]
pub struct CountIn<B> {
    body: B,
    trail: Arc<Trail>,
}

impl<B> CountIn<B> {
    /// Wraps `body`.
    pub fn new(body: B, trail: Arc<Trail>) -> Self {
        CountIn { body, trail }
    }
}

impl<B> http_body::Body for CountIn<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, B::Error>>> {
        let this = &mut *self;
        let poll = std::pin::Pin::new(&mut this.body).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &poll
            && let Some(data) = frame.data_ref()
        {
            this.trail.add_bytes_in(data.len() as u64);
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

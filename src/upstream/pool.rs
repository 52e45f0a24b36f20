//! Connections to one upstream instance of one route, and the exchanges on them: the
//! keep-alive HTTP/1.1 client of the gateway.
//!
//! An upstream is as untrusted as a client (a legacy backend writes a body after a `HEAD`
//! answer, or bytes past its `Content-Length`), and on a reused connection whatever it
//! writes next is read as the next request's answer. So a connection is reused only when
//! its last exchange is known to have ended exactly on its framing and nothing has arrived
//! since:
//!
//! - **never after an answer whose end cannot be proved**: a `HEAD` answer, a `204` or `304`
//!   (a backend may still send the body it thinks it owes), a `101` or an answer with both
//!   `Transfer-Encoding` and `Content-Length` (refused: [`UpstreamError::Framing`]), an
//!   answer delimited by the close, or an answer that came while the request body was
//!   still being sent (the rest of the upload could be read by the backend as a request);
//! - **watched while idle**: every byte read from a pooled connection is a breach (the read
//!   is hyper's own: a connection at rest is already registered for readability, so the
//!   watch costs no wake-up), and a connection is checked again at checkout with a
//!   non-blocking `MSG_PEEK` of its socket, for bytes the kernel holds that no task has
//!   read yet;
//! - **suspended after a breach**: bytes that arrive after a connection was handed out
//!   again cannot be told from the answer, so the first breach an instance commits (bytes
//!   while idle, broken framing) stops keep-alive to it for [`KEEPALIVE_SUSPENSION`]: every
//!   exchange then has a connection of its own;
//! - **per route**: each route has its own pools ([`super::RouteUpstreams`]), so an answer
//!   planted through a plain route can never be read on a sealed one.
//!
//! A request found unsent on a pooled connection that closed under it is sent on another
//! connection (never a request that was written), and idle connections are closed after
//! [`POOL_IDLE_TIMEOUT`].
//!
//! Why a pool of our own over hyper's connections rather than `hyper_util`'s legacy client
//! (measured with callgrind; `docs`' performance page has the figures): the legacy client
//! hashes its origin key twice per request, formats `Host`, and spawns a task per request
//! to wait for readiness; and it could not watch idle connections nor refuse to reuse one.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderValue, TRANSFER_ENCODING};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::config::UpstreamTlsConfig;
use crate::error::UpstreamError;
use crate::tls::{self, TlsError};
use crate::wire::Body;

/// Idle pooled upstream connections are closed after this long: below the common 60 s
/// keep-alive timeout of upstream servers, so we rarely reuse a connection they are closing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// After an instance breaks framing on a connection (bytes while it was idle, a body after
/// a bodyless answer, both `Transfer-Encoding` and `Content-Length`, an unasked `101`), its
/// connections are not reused for this long, extended by every further breach.
pub const KEEPALIVE_SUSPENSION: Duration = Duration::from_secs(300);

/// Opens connections to upstreams, `http://` or `https://` (verified per `[upstream_tls]`,
/// SNI the URL's host, ALPN `http/1.1`). Rebuilt on reload; the pools are not.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    tls: Arc<rustls::ClientConfig>,
    /// The same, offering only `h2` by ALPN (routes with `upstream_protocol = "http2"`).
    tls_h2: Arc<rustls::ClientConfig>,
    /// An HTTP/2 answer whose body the gateway has not read for this long (its client reads
    /// nothing) has its stream reset (`server.send_timeout_ms`): see [`UpstreamBody`].
    stalled_after: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector verifying `https://` upstreams per `upstream_tls`; an HTTP/2 answer not
    /// read for `stalled_after` is reset.
    pub fn new(
        upstream_tls: &UpstreamTlsConfig,
        stalled_after: Duration,
    ) -> Result<Self, TlsError> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let mut tls = tls::upstream_client_config(upstream_tls)?;
        let mut tls_h2 = tls.clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        tls_h2.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Connector {
            http,
            tls: Arc::new(tls),
            tls_h2: Arc::new(tls_h2),
            stalled_after,
        })
    }

    /// TCP, and TLS for `https://` (ALPN `h2` alone when `h2`, which the upstream must
    /// choose), within `timeout`.
    async fn dial(
        &self,
        scheme: &Scheme,
        authority: &Authority,
        timeout: Duration,
        h2: bool,
    ) -> Result<(Arc<TcpStream>, Stream), SendFailure> {
        let connecting = async {
            let uri = Uri::builder()
                .scheme(scheme.clone())
                .authority(authority.clone())
                .path_and_query("/")
                .build()
                .map_err(|error| SendFailure::unsent(error.to_string()))?;
            let mut http = self.http.clone();
            std::future::poll_fn(|cx| http.poll_ready(cx))
                .await
                .map_err(|error| SendFailure::unsent(error_chain(&error)))?;
            let tcp = Arc::new(
                http.call(uri)
                    .await
                    .map_err(|error| SendFailure::unsent(error_chain(&error)))?
                    .into_inner(),
            );
            let stream = if *scheme == Scheme::HTTPS {
                let name = rustls_pki_types::ServerName::try_from(
                    authority
                        .host()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                )
                .map_err(|error| SendFailure::unsent(error.to_string()))?;
                let config = if h2 { &self.tls_h2 } else { &self.tls };
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, Shared(Arc::clone(&tcp)))
                    .await
                    .map_err(|error| SendFailure::unsent(format!("TLS: {error}")))?;
                if h2 && tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(SendFailure::unsent(
                        "the upstream did not choose h2 by ALPN".into(),
                    ));
                }
                Stream::Tls(Box::new(tls))
            } else {
                Stream::Plain(Shared(Arc::clone(&tcp)))
            };
            Ok::<_, SendFailure>((tcp, stream))
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| SendFailure::unsent("connect timed out".into()))?
    }

    /// A new HTTP/2 connection to `pool`'s instance (`h2` by ALPN on `https://`, `h2c` with
    /// prior knowledge on `http://`), its task spawned on this worker.
    async fn connect_h2(
        &self,
        pool: &Arc<Pool>,
        timeout: Duration,
    ) -> Result<http2::SendRequest<Body>, SendFailure> {
        let connecting = async {
            let (_tcp, stream) = self
                .dial(&pool.scheme, &pool.authority, timeout, true)
                .await?;
            let state = ConnState::new(Arc::downgrade(pool));
            // HTTP/2 frames every byte into a stream or the connection: nothing an
            // upstream writes late can be read as another stream's answer, so there is no
            // idle watch (`idle` stays false). Pings, idle or not, find a connection that
            // died quietly. A stream's window is a small share of the connection's, so
            // answers that their clients do not read hold back the others only when there
            // are many of them (and each is reset once stalled: see `UpstreamBody`).
            let io = Watched { stream, state };
            http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(H2_PING_INTERVAL)
                .keep_alive_timeout(H2_PING_TIMEOUT)
                .keep_alive_while_idle(true)
                .initial_stream_window_size(H2_STREAM_WINDOW)
                .initial_connection_window_size(H2_CONNECTION_WINDOW)
                .handshake(TokioIo::new(io))
                .await
                .map_err(|error| SendFailure::unsent(error_chain(&error)))
        };
        // TCP, TLS and the HTTP/2 preface within one timeout.
        let (sender, connection) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| SendFailure::unsent("HTTP/2 connect timed out".into()))??;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error_chain(&error), "upstream HTTP/2 connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// A new connection to `origin` of `pool`, within `timeout` (TCP and TLS together);
    /// with `upgrades`, one whose socket a `101` hands over (never pooled).
    async fn connect(
        &self,
        pool: &Arc<Pool>,
        timeout: Duration,
        upgrades: bool,
    ) -> Result<Conn, SendFailure> {
        let (tcp, stream) = self
            .dial(&pool.scheme, &pool.authority, timeout, false)
            .await?;
        let state = ConnState::new(Arc::downgrade(pool));
        let io = Watched {
            stream,
            state: Arc::clone(&state),
        };
        let (sender, connection) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|error| SendFailure::unsent(error_chain(&error)))?;
        let watch = Arc::clone(&state);
        tokio::spawn(async move {
            let ended = if upgrades {
                connection.with_upgrades().await
            } else {
                connection.await
            };
            if let Err(error) = ended {
                // hyper ends a connection that holds bytes past an answer's framing with this
                // error (it has no predicate for it): bytes that came with the answer's last
                // read, so the idle watch did not see them.
                if error.to_string() == UNEXPECTED_MESSAGE {
                    watch.breach(Breach::BytesWhileIdle);
                }
                tracing::debug!(error = %error_chain(&error), "upstream connection ended with an error");
            }
        });
        Ok(Conn { sender, tcp, state })
    }
}

impl Connector {
    /// `GET uri` on a connection of its own (TLS verified as for upstreams), within
    /// `timeout` in all: the body of a `200`, at most `max_bytes` of it. For documents the
    /// gateway reads itself (an identity provider's JWK Set), never for a client's request.
    pub async fn fetch(
        &self,
        uri: &Uri,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Bytes, String> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err("not an absolute URL".into());
        };
        let fetching = async {
            let (_tcp, stream) = self
                .dial(scheme, authority, timeout, false)
                .await
                .map_err(|failure| failure.cause)?;
            // Watched with no pool: never idle, so never a breach.
            let io = Watched {
                stream,
                state: ConnState::new(Weak::new()),
            };
            let (mut sender, connection) = http1::handshake::<_, Body>(TokioIo::new(io))
                .await
                .map_err(|error| error_chain(&error))?;
            tokio::spawn(connection);
            let mut request = Request::new(crate::wire::full(Bytes::new()));
            *request.uri_mut() = origin_form(uri);
            if let Some(host) = host_value(scheme, authority) {
                request.headers_mut().insert(HOST, host);
            }
            request.headers_mut().insert(
                http::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            );
            let response = sender
                .send_request(request)
                .await
                .map_err(|error| error_chain(&error))?;
            if response.status() != StatusCode::OK {
                return Err(format!("answered {}", response.status().as_u16()));
            }
            let length = crate::wire::content_length(response.headers());
            crate::wire::read_body(response.into_body(), length, max_bytes, timeout)
                .await
                .map_err(|error| format!("{error:?}"))
        };
        tokio::time::timeout(timeout, fetching)
            .await
            .map_err(|_| "timed out".to_owned())?
    }
}

/// An HTTP/2 upstream stream's flow-control window: what one answer may have in flight
/// unread…
const H2_STREAM_WINDOW: u32 = 256 * 1024;
/// …and the connection's, shared by its streams: 64 answers whose clients read nothing
/// are needed to hold back the rest, each reset once stalled for `server.send_timeout_ms`.
const H2_CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// How often an idle or busy HTTP/2 upstream connection is pinged…
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// …and how long the answer may take before the connection is taken for dead.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether an HTTP/2 upstream said it did not process the request: `REFUSED_STREAM`, or a
/// GOAWAY whose last stream is below it.
fn refused_unprocessed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return (h2.is_go_away() && h2.is_remote())
                || h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        source = error.source();
    }
    false
}

/// hyper's text for `Kind::UnexpectedMessage` (hyper 1.x, `src/error.rs`).
const UNEXPECTED_MESSAGE: &str = "received unexpected message from connection";

/// How an instance broke HTTP framing (the `reason` label of
/// `sealgate_upstream_breaches_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Bytes arrived on a connection with no exchange in progress.
    BytesWhileIdle,
    /// Both `Transfer-Encoding` and `Content-Length` (RFC 9112 §6.1: a sender must not).
    AmbiguousLength,
    /// `101 Switching Protocols` to a request that did not ask to upgrade.
    UnaskedUpgrade,
}

impl Breach {
    /// Its metric label.
    pub fn label(self) -> &'static str {
        match self {
            Breach::BytesWhileIdle => "bytes_while_idle",
            Breach::AmbiguousLength => "ambiguous_length",
            Breach::UnaskedUpgrade => "unasked_upgrade",
        }
    }
}

thread_local! {
    /// The worker this thread is (`server::workers`); 0 too on a thread that is not a
    /// worker (the control plane's health probes share worker 0's queue).
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks this thread as worker `index` (of `server.workers`): the connections it opens are
/// pooled for it alone.
pub fn set_worker(index: usize) {
    WORKER.with(|worker| worker.set(index));
}

fn lock(queue: &Mutex<VecDeque<Idle>>) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
    queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A worker's HTTP/2 connection slot.
type H2Slot = Mutex<Option<(http2::SendRequest<Body>, Instant)>>;

fn lock_h2(
    slot: &H2Slot,
) -> std::sync::MutexGuard<'_, Option<(http2::SendRequest<Body>, Instant)>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The connections to one instance for one route.
pub struct Pool {
    scheme: Scheme,
    authority: Authority,
    /// The `Host` a request gets when it has none (the port only when it is not the
    /// scheme's default).
    host: Option<HeaderValue>,
    /// One queue per worker (see [`set_worker`]), oldest first: a connection is reused
    /// only once it has been idle for `reuse_after`, so the first in line is the one most
    /// likely ready. A connection is pooled and reused by the worker whose runtime drives
    /// it, so its I/O never wakes another core.
    idle: Box<[Mutex<VecDeque<Idle>>]>,
    /// How long a connection must have been idle, with nothing read, before it carries
    /// another request (milliseconds; the route's `reuse_after_idle_ms`).
    reuse_after_ms: AtomicU64,
    /// Milliseconds after `born` until which connections are not reused (0: never
    /// suspended).
    suspended_until_ms: AtomicU64,
    born: Instant,
    /// What is logged and counted of a breach.
    report: Report,
    /// Whether requests go over HTTP/2 (`routes[].upstream_protocol`): then each worker
    /// shares one connection among its requests, a stream each, instead of `idle`.
    http2: bool,
    /// Each worker's HTTP/2 connection and when it last carried a request.
    h2: Box<[H2Slot]>,
    /// Each worker's gate for making its HTTP/2 connection: requests that find none wait
    /// for the one being made instead of each making their own.
    h2_connecting: Box<[tokio::sync::Mutex<()>]>,
    /// Each worker's count of failed HTTP/2 connects: a request that waited at the gate
    /// while one failed fails too (unsent, so it may go to another instance) rather than
    /// try again behind it.
    h2_failures: Box<[AtomicU64]>,
}

/// Where a pool's breaches are told.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) route: Arc<String>,
    pub(crate) upstream: Arc<String>,
    /// `sealgate_upstream_breaches_total{route,upstream,reason}`, by [`Breach`].
    pub(crate) breaches: [Counter; 3],
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("upstream", &self.report.upstream)
            .finish_non_exhaustive()
    }
}

/// One connection: hyper's handle, the socket (for the checkout peek) and what the idle
/// watch knows.
struct Conn {
    sender: http1::SendRequest<Body>,
    tcp: Arc<TcpStream>,
    state: Arc<ConnState>,
}

#[derive(Debug)]
struct ConnState {
    /// In the pool, no exchange in progress: any byte read now is a breach.
    idle: AtomicBool,
    /// Broke framing: never reused.
    breached: AtomicBool,
    pool: Weak<Pool>,
}

impl ConnState {
    /// A connection's state: not idle, not breached, reporting to `pool` (if any).
    fn new(pool: Weak<Pool>) -> Arc<Self> {
        Arc::new(ConnState {
            idle: AtomicBool::new(false),
            breached: AtomicBool::new(false),
            pool,
        })
    }

    fn breach(&self, breach: Breach) {
        if self.breached.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.breach(breach);
        }
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Idle {
    /// Still worth keeping at `now`: open, clean, and idle for less than
    /// [`POOL_IDLE_TIMEOUT`].
    fn alive(&self, now: Instant) -> bool {
        !self.conn.sender.is_closed()
            && !self.conn.state.breached.load(Ordering::Acquire)
            && now.duration_since(self.since) < POOL_IDLE_TIMEOUT
    }
}

impl Conn {
    /// Nothing waits to be read on the socket (the kernel's view, not only what the
    /// connection's task has read): `MSG_PEEK | MSG_DONTWAIT` finds no byte and no close.
    fn quiet(&self) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(&*self.tcp).peek(&mut byte) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => true,
            Ok(0) | Err(_) => false,
            Ok(_) => {
                self.state.breach(Breach::BytesWhileIdle);
                false
            }
        }
    }
}

impl Pool {
    pub(crate) fn new(
        scheme: Scheme,
        authority: Authority,
        report: Report,
        reuse_after: Duration,
        workers: usize,
        http2: bool,
    ) -> Self {
        Pool {
            http2,
            h2: (0..workers.max(1)).map(|_| Mutex::default()).collect(),
            h2_connecting: (0..workers.max(1))
                .map(|_| tokio::sync::Mutex::default())
                .collect(),
            h2_failures: (0..workers.max(1)).map(|_| AtomicU64::new(0)).collect(),
            host: host_value(&scheme, &authority),
            scheme,
            authority,
            idle: (0..workers.max(1)).map(|_| Mutex::default()).collect(),
            reuse_after_ms: AtomicU64::new(millis(reuse_after)),
            suspended_until_ms: AtomicU64::new(0),
            born: Instant::now(),
            report,
        }
    }

    /// Sets how long a connection rests, watched, before it is reused (a reload may change
    /// it for the pools it keeps).
    pub fn set_reuse_after(&self, reuse_after: Duration) {
        self.reuse_after_ms
            .store(millis(reuse_after), Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether keep-alive to this instance is suspended after a breach.
    pub fn suspended(&self) -> bool {
        self.suspended_until_ms.load(Ordering::Relaxed) > self.now_ms()
    }

    fn breach(&self, breach: Breach) {
        let was = self.suspended();
        let until = self
            .now_ms()
            .saturating_add(KEEPALIVE_SUSPENSION.as_millis() as u64);
        self.suspended_until_ms.store(until, Ordering::Relaxed);
        self.report.breaches[breach as usize].inc();
        self.clear();
        if !was {
            tracing::warn!(route = %self.report.route, upstream = %self.report.upstream, breach = breach.label(), seconds = KEEPALIVE_SUSPENSION.as_secs(), "upstream broke HTTP framing: its connections are not reused for a while");
        }
    }

    /// This worker's queue.
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        lock(&self.idle[WORKER.with(std::cell::Cell::get) % self.idle.len()])
    }

    /// A pooled connection ready for a request: the one idle longest, and only once it
    /// has rested, watched, for `reuse_after` since its last answer. Bytes a backend writes
    /// late after an answer (past its `Content-Length`, held back by Nagle and a delayed
    /// ACK) arrive while the connection rests and are caught as a breach, instead of
    /// being read as the next request's answer. One not ready stays pooled (it may still be
    /// sending a client's upload after an early answer; it is released then), one closed,
    /// breached or too old is dropped, and one with bytes waiting on its socket is dropped
    /// as a breach.
    fn checkout(&self) -> Option<Conn> {
        if self.suspended() {
            return None;
        }
        let rest = Duration::from_millis(self.reuse_after_ms.load(Ordering::Relaxed));
        loop {
            let conn = {
                let mut idle = self.lock();
                let now = Instant::now();
                while idle.front().is_some_and(|entry| !entry.alive(now)) {
                    idle.pop_front();
                }
                // Oldest first, so the first that has not rested ends the search, which is
                // then short: the first entry almost always serves. (Taking the youngest of
                // those that rested instead cost a scan of every rested entry per request:
                // plain/nginx 2.37 against 1.99 in one bench run.)
                let at = idle
                    .iter()
                    .take_while(|entry| now.duration_since(entry.since) >= rest)
                    .position(|entry| entry.alive(now) && entry.conn.sender.is_ready())?;
                idle.remove(at)?.conn
            };
            if conn.quiet() {
                conn.state.idle.store(false, Ordering::Release);
                // A breach read between the pool's check and now.
                if conn.state.breached.load(Ordering::Acquire) {
                    continue;
                }
                return Some(conn);
            }
        }
    }

    /// Back to the pool after an exchange that ended on its framing, unless keep-alive is
    /// suspended or the connection is closing.
    fn put(&self, conn: Conn) {
        if conn.sender.is_closed()
            || conn.state.breached.load(Ordering::Acquire)
            || self.suspended()
        {
            return;
        }
        conn.state.idle.store(true, Ordering::Release);
        let mut idle = self.lock();
        // A breach on another worker may have suspended keep-alive and cleared this queue
        // since the check above: look again under the lock.
        if self.suspended() {
            return;
        }
        idle.push_back(Idle {
            conn,
            since: Instant::now(),
        });
    }

    /// Closes the connections idle past their time.
    pub fn prune(&self) {
        let now = Instant::now();
        for queue in &self.idle {
            lock(queue).retain(|entry| entry.alive(now));
        }
        for h2 in &self.h2 {
            let mut slot = lock_h2(h2);
            if slot.as_ref().is_some_and(|(sender, used)| {
                sender.is_closed() || now.duration_since(*used) >= POOL_IDLE_TIMEOUT
            }) {
                *slot = None;
            }
        }
    }

    /// Closes every idle connection, of every worker (the upstream TLS settings changed,
    /// or the instance broke framing).
    pub fn clear(&self) {
        for queue in &self.idle {
            lock(queue).clear();
        }
        for h2 in &self.h2 {
            *lock_h2(h2) = None;
        }
    }

    /// Whether this pool speaks HTTP/2 to its instance.
    pub fn is_http2(&self) -> bool {
        self.http2
    }

    /// This worker's HTTP/2 connection, if it has a usable one.
    fn h2_sender(&self) -> Option<http2::SendRequest<Body>> {
        let mut slot = lock_h2(&self.h2[WORKER.with(std::cell::Cell::get) % self.h2.len()]);
        match slot.as_mut() {
            Some((sender, used)) if !sender.is_closed() => {
                *used = Instant::now();
                Some(sender.clone())
            }
            _ => {
                *slot = None;
                None
            }
        }
    }

    fn keep_h2(&self, sender: &http2::SendRequest<Body>) {
        *lock_h2(&self.h2[WORKER.with(std::cell::Cell::get) % self.h2.len()]) =
            Some((sender.clone(), Instant::now()));
    }

    /// Sends one request over this worker's HTTP/2 connection (made when there is none or
    /// it closed). Each exchange is a stream of its own: the protocol's framing, not the
    /// connection's history, says which answer is whose. Sent again on a new connection
    /// only when the old one gave it back unsent (it was closing).
    async fn send_h2(
        self: &Arc<Self>,
        connector: &Connector,
        request: Request<Body>,
        connect_timeout: Duration,
    ) -> Result<Response<UpstreamBody>, SendFailure> {
        let (mut parts, body) = request.into_parts();
        // `:scheme` and `:authority` come from the URI, which is the instance's.
        parts.version = http::Version::HTTP_2;
        parts.headers.remove(HOST);
        let mut request = Request::from_parts(parts, body);
        let mut fresh = false;
        loop {
            let mut sender = match self.h2_sender() {
                Some(sender) => sender,
                None => {
                    let worker = WORKER.with(std::cell::Cell::get) % self.h2_connecting.len();
                    let failures = &self.h2_failures[worker];
                    let seen = failures.load(Ordering::Acquire);
                    let _gate = self.h2_connecting[worker].lock().await;
                    // Made by another request while this one waited at the gate?
                    match self.h2_sender() {
                        Some(sender) => sender,
                        None if failures.load(Ordering::Acquire) != seen => {
                            return Err(SendFailure::unsent(
                                "the HTTP/2 connect this request waited for failed".into(),
                            ));
                        }
                        None => match connector.connect_h2(self, connect_timeout).await {
                            Ok(sender) => {
                                self.keep_h2(&sender);
                                fresh = true;
                                sender
                            }
                            Err(failure) => {
                                failures.fetch_add(1, Ordering::AcqRel);
                                return Err(failure);
                            }
                        },
                    }
                }
            };
            if sender.ready().await.is_err() {
                if fresh {
                    return Err(SendFailure::unsent("HTTP/2 connection closed".into()));
                }
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let stalled_after = connector.stalled_after;
                    return Ok(response.map(|body| UpstreamBody::watched(body, stalled_after)));
                }
                Err(mut error) => match error.take_message() {
                    Some(unsent) if !fresh => request = unsent,
                    Some(_) => {
                        return Err(SendFailure::unsent(error_chain(&error.into_error())));
                    }
                    None => {
                        let error = error.into_error();
                        // RFC 9113 §8.7: a stream refused, or above a GOAWAY's last stream,
                        // was not processed: it may go to another instance.
                        return Err(if refused_unprocessed(&error) {
                            SendFailure::unsent(error_chain(&error))
                        } else {
                            SendFailure::sent(error)
                        });
                    }
                },
            }
        }
    }

    /// Sends one request (its URI in absolute form) on a pooled connection or a new one
    /// made within `connect_timeout`. A request is sent again only when it was never
    /// written to a connection (a pooled connection found closed), so a non-idempotent
    /// request is never sent twice. The failure's cause goes to the log here, at debug
    /// level (the one `warn` line for the failed request is the lifecycle's).
    ///
    /// `uploaded` is set once the request body has been handed to the connection whole.
    ///
    /// Not an `async fn` nor an `async` block, so that the exchange's state is held once,
    /// as `try_send`'s (every request's future is copied whole into its box: see
    /// `proxy::observed`).
    pub fn send(
        self: &Arc<Self>,
        connector: &Connector,
        request: Request<Body>,
        connect_timeout: Duration,
        uploaded: Arc<AtomicBool>,
    ) -> impl Future<Output = Result<Response<UpstreamBody>, SendError>> {
        use futures_util::FutureExt as _;
        self.try_send(connector, request, connect_timeout, uploaded)
            .map(|tried| {
                tried.map_err(|failure| {
                    tracing::debug!(error = %failure.cause, kind = failure.error.kind.label(), "upstream request failed");
                    failure.error
                })
            })
    }

    async fn try_send(
        self: &Arc<Self>,
        connector: &Connector,
        request: Request<Body>,
        connect_timeout: Duration,
        uploaded: Arc<AtomicBool>,
    ) -> Result<Response<UpstreamBody>, SendFailure> {
        let method = request.method().clone();
        let (mut parts, body) = request.into_parts();
        // A body already at its end (most requests: no body) is sent whole with the head;
        // only one still to come is watched.
        let body = if http_body::Body::is_end_stream(&body) {
            uploaded.store(true, Ordering::Release);
            body
        } else {
            Tracked {
                body,
                done: Arc::clone(&uploaded),
            }
            .boxed_unsync()
        };
        if self.http2 {
            // Boxed, as the connect below: either would otherwise size the state of every
            // HTTP/1 exchange (2.4 KB and 1.4 KB), which is copied whole per request.
            return Box::pin(self.send_h2(
                connector,
                Request::from_parts(parts, body),
                connect_timeout,
            ))
            .await;
        }
        parts.uri = origin_form(&parts.uri);
        if let Some(host) = &self.host {
            parts.headers.entry(HOST).or_insert_with(|| host.clone());
        }
        let mut request = Request::from_parts(parts, body);
        while let Some(mut conn) = self.checkout() {
            match conn.sender.try_send_request(request).await {
                Ok(response) => return self.answer(response, conn, &method, &uploaded),
                Err(mut error) => match error.take_message() {
                    // Closed before the request was written: try another connection.
                    Some(unsent) => request = unsent,
                    None => return Err(SendFailure::sent(error.into_error())),
                },
            }
        }
        let mut conn = Box::pin(connector.connect(self, connect_timeout, false)).await?;
        match conn.sender.try_send_request(request).await {
            Ok(response) => self.answer(response, conn, &method, &uploaded),
            Err(mut error) => {
                let unsent = error.take_message().is_some();
                let error = error.into_error();
                Err(if unsent {
                    SendFailure::unsent(error_chain(&error))
                } else {
                    SendFailure::sent(error)
                })
            }
        }
    }

    /// Sends an upgrade request (a WebSocket handshake) on a connection of its own, made for
    /// it and never pooled: whatever the answer, no other request ever shares it. A `101`
    /// keeps hyper's upgrade handle in its extensions (`hyper::upgrade::on`); any other
    /// answer's body is read from the connection, which then closes.
    pub async fn upgrade(
        self: &Arc<Self>,
        connector: &Connector,
        request: Request<Body>,
        connect_timeout: Duration,
    ) -> Result<Response<Incoming>, SendError> {
        let (mut parts, body) = request.into_parts();
        parts.uri = origin_form(&parts.uri);
        if let Some(host) = &self.host {
            parts.headers.entry(HOST).or_insert_with(|| host.clone());
        }
        let attempt = async {
            let mut conn = connector.connect(self, connect_timeout, true).await?;
            conn.sender
                .send_request(Request::from_parts(parts, body))
                .await
                .map_err(SendFailure::sent)
        };
        attempt.await.map_err(|failure| {
            tracing::debug!(error = %failure.cause, kind = failure.error.kind.label(), "upstream upgrade failed");
            failure.error
        })
    }

    /// Checks an answer's head and decides whether its connection may be reused once its
    /// body has been read.
    fn answer(
        self: &Arc<Self>,
        response: Response<Incoming>,
        conn: Conn,
        method: &Method,
        uploaded: &AtomicBool,
    ) -> Result<Response<UpstreamBody>, SendFailure> {
        let status = response.status();
        let headers = response.headers();
        // No request sent here asks to upgrade: a WebSocket handshake goes through
        // [`Pool::upgrade`] on a connection of its own, and every other `Upgrade` is refused
        // before routing.
        let breach = if status == StatusCode::SWITCHING_PROTOCOLS {
            Some(Breach::UnaskedUpgrade)
        } else if headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH) {
            // RFC 9112 §6.1: a sender must not send both; §6.3: such a message "ought to be
            // handled as an error"; where it ends is not known.
            Some(Breach::AmbiguousLength)
        } else {
            None
        };
        if let Some(breach) = breach {
            conn.state.breach(breach);
            return Err(SendFailure {
                error: SendError {
                    kind: UpstreamError::Framing,
                    nothing_sent: false,
                },
                cause: format!("upstream broke framing: {}", breach.label()),
            });
        }
        // Where the answer ends is proved by its framing only with a body that has a length
        // or chunks: after a HEAD, a 204 or a 304 a backend may still write the body it
        // thinks it owes, and a body without either ends with the connection.
        let framed = *method != Method::HEAD
            && status != StatusCode::NO_CONTENT
            && status != StatusCode::NOT_MODIFIED
            && (headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING));
        // The head came before the request body was handed over whole: the backend answered
        // without reading the rest, and may read it as a request of its own.
        let release = (framed && uploaded.load(Ordering::Acquire)).then(|| Release {
            conn,
            pool: Arc::clone(self),
        });
        Ok(response.map(|body| {
            let ended = http_body::Body::is_end_stream(&body);
            let mut body = UpstreamBody {
                body: Answer::Body(body),
                release,
            };
            if ended {
                body.release();
            }
            body
        }))
    }
}

/// The request body, noting when it has been sent whole: an answer that ends before that
/// leaves its connection unusable.
struct Tracked {
    body: Body,
    done: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = crate::wire::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.body.is_end_stream();
        if end {
            self.done.store(true, Ordering::Release);
        }
        end
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The request target in origin form (`/path?query`), as HTTP/1.1 sends it to a server.
fn origin_form(uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path);
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
}

/// The `Host` value for an origin: the host, and the port unless it is the scheme's
/// default.
fn host_value(scheme: &Scheme, authority: &Authority) -> Option<HeaderValue> {
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    // `host()` and the port, never `as_str()`: an authority may carry `user:password@`,
    // which must not reach the upstream in `Host`.
    match authority.port_u16() {
        Some(port) if port != default_port => {
            HeaderValue::from_str(&format!("{}:{port}", authority.host())).ok()
        }
        _ => HeaderValue::from_str(authority.host()).ok(),
    }
}

/// An upstream response body. When it has been read to its end, its connection goes back
/// to the pool if the exchange allows it; dropped before that (or failing), the connection
/// is closed.
pub struct UpstreamBody {
    body: Answer,
    release: Option<Release>,
}

/// An answer's body as hyper gives it, or (HTTP/2) in a slot a watchdog empties when the
/// body goes unread for too long.
enum Answer {
    Body(Incoming),
    Watched(Arc<Watch>),
}

/// An HTTP/2 answer's body, and when it was last read (milliseconds since `since`).
struct Watch {
    body: Mutex<Option<Incoming>>,
    since: Instant,
    read_ms: AtomicU64,
}

/// An HTTP/2 answer's stream was reset because its body went unread for
/// `server.send_timeout_ms`: its client read nothing, and its unread bytes were holding
/// the connection's shared window from the other answers.
#[derive(Debug, thiserror::Error)]
#[error("upstream stream reset: the answer was not read for too long")]
pub struct Stalled;

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").finish_non_exhaustive()
    }
}

struct Release {
    conn: Conn,
    pool: Arc<Pool>,
}

impl UpstreamBody {
    /// The body of an answer on a connection that is never pooled ([`Pool::upgrade`]).
    pub fn unpooled(body: Incoming) -> Self {
        UpstreamBody {
            body: Answer::Body(body),
            release: None,
        }
    }

    /// The body of an HTTP/2 answer, its stream reset (the body dropped) by a watchdog task
    /// when it goes unread for `stalled_after`.
    fn watched(body: Incoming, stalled_after: Duration) -> Self {
        if http_body::Body::is_end_stream(&body) {
            return UpstreamBody::unpooled(body);
        }
        let watch = Arc::new(Watch {
            body: Mutex::new(Some(body)),
            since: Instant::now(),
            read_ms: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&watch);
        tokio::spawn(async move {
            let check =
                (stalled_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
            loop {
                tokio::time::sleep(check).await;
                let Some(watch) = weak.upgrade() else {
                    return;
                };
                let read = Duration::from_millis(watch.read_ms.load(Ordering::Relaxed));
                if watch.since.elapsed().saturating_sub(read) >= stalled_after {
                    let body = watch
                        .body
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take();
                    drop(body);
                    tracing::debug!("an HTTP/2 answer went unread: its stream is reset");
                    return;
                }
            }
        });
        UpstreamBody {
            body: Answer::Watched(watch),
            release: None,
        }
    }

    /// The body has ended: its connection goes back to the pool.
    fn release(&mut self) {
        if let Some(release) = self.release.take() {
            release.pool.put(release.conn);
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = crate::wire::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, crate::wire::BoxError>>> {
        let this = &mut *self;
        let (polled, ended) = match &mut this.body {
            Answer::Body(body) => {
                let polled = Pin::new(&mut *body).poll_frame(cx);
                let ended = body.is_end_stream();
                (polled, ended)
            }
            Answer::Watched(watch) => {
                let read = u64::try_from(watch.since.elapsed().as_millis()).unwrap_or(u64::MAX);
                watch.read_ms.store(read, Ordering::Relaxed);
                let mut slot = watch
                    .body
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(body) = slot.as_mut() else {
                    return Poll::Ready(Some(Err(Box::new(Stalled))));
                };
                let polled = Pin::new(&mut *body).poll_frame(cx);
                let ended = body.is_end_stream();
                (polled, ended)
            }
        };
        match &polled {
            Poll::Ready(Some(Ok(_))) if ended => this.release(),
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Err(_))) => this.release = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled.map(|frame| frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            Answer::Body(body) => body.is_end_stream(),
            Answer::Watched(watch) => watch
                .body
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .is_none_or(http_body::Body::is_end_stream),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.body {
            Answer::Body(body) => body.size_hint(),
            Answer::Watched(_) => http_body::SizeHint::default(),
        }
    }
}

/// A socket shared between the connection (which reads and writes it) and the pool (which
/// peeks at it at checkout): tokio's `TcpStream` does I/O through `&self` with its
/// readiness API, so the two need no lock.
struct Shared(Arc<TcpStream>);

impl AsyncRead for Shared {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read_buf(buf) {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write))
    }
}

/// Plain or TLS.
enum Stream {
    Plain(Shared),
    Tls(Box<tokio_rustls::client::TlsStream<Shared>>),
}

/// The connection's stream as hyper sees it, watched: a byte read while the connection is
/// idle in its pool is a breach (HTTP bytes: after TLS, so a TLS record such as a session
/// ticket is not one).
struct Watched {
    stream: Stream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if matches!(polled, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && self.state.idle.load(Ordering::Acquire)
        {
            self.state.breach(Breach::BytesWhileIdle);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a request to an upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError {
    /// What the client is told.
    pub kind: UpstreamError,
    /// The connection failed before any byte of the request was written, so sending it
    /// to another instance cannot deliver it twice.
    pub nothing_sent: bool,
}

impl From<SendError> for UpstreamError {
    fn from(error: SendError) -> Self {
        error.kind
    }
}

/// A [`SendError`] and its cause's text, for the debug log.
struct SendFailure {
    error: SendError,
    cause: String,
}

impl SendFailure {
    /// Nothing reached the upstream: no connection, or it closed before the request went.
    fn unsent(cause: String) -> Self {
        SendFailure {
            error: SendError {
                kind: UpstreamError::Unreachable,
                nothing_sent: true,
            },
            cause,
        }
    }

    /// The request was written (or may have been).
    fn sent(error: hyper::Error) -> Self {
        SendFailure {
            error: SendError {
                kind: classify(&error),
                nothing_sent: false,
            },
            cause: error_chain(&error),
        }
    }
}

fn classify(error: &hyper::Error) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>()
            && (hyper_error.is_parse() || hyper_error.is_parse_status())
        {
            return UpstreamError::Invalid;
        }
        source = cause.source();
    }
    UpstreamError::Unreachable
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_has_the_port_only_when_it_is_not_the_default() {
        let host = |uri: &str| {
            let uri: Uri = uri.parse().unwrap();
            host_value(uri.scheme().unwrap(), uri.authority().unwrap()).unwrap()
        };
        assert_eq!(host("http://a.example/x"), "a.example");
        assert_eq!(host("http://a.example:80/x"), "a.example");
        assert_eq!(host("http://a.example:8080/x"), "a.example:8080");
        assert_eq!(host("https://a.example:443/x"), "a.example");
        assert_eq!(host("https://a.example:80/x"), "a.example:80");
        assert_eq!(host("http://[::1]:9000/x"), "[::1]:9000");
        assert_eq!(host("http://[::1]:80/x"), "[::1]");
        assert_eq!(host("http://user:pw@a.example:8080/x"), "a.example:8080");
        assert_eq!(host("http://user:pw@a.example/x"), "a.example");
    }

    #[test]
    fn the_target_goes_in_origin_form() {
        let uri: Uri = "http://a.example:8080/api/x?y=1".parse().unwrap();
        assert_eq!(origin_form(&uri), "/api/x?y=1");
        let uri: Uri = "http://a.example".parse().unwrap();
        assert_eq!(origin_form(&uri), "/");
    }
}

//! The keep-alive HTTP/1.1 client that carries requests to upstreams, its connection pool,
//! and the classification of its failures into [`UpstreamError`]s (who caused what: the
//! upstream refusing → 502 `UPSTREAM001`, speaking something that is not HTTP → 502
//! `UPSTREAM002`).
//!
//! Why a pool of our own over hyper's connections rather than `hyper_util`'s legacy client
//! (measured with callgrind on the plain route; the README's "Against nginx" has the
//! figures): the legacy client hashes its `(scheme, authority)` key byte by byte with
//! SipHash twice per request (checkout and return), formats the `Host` header, and spawns
//! a task per request that waits for the connection to be ready before returning it. Here a
//! pool is found by its origin's text, the `Host` value is made once per origin, and a
//! connection goes back to its pool when its response body ends, from the task that read
//! it; it is handed out again only once hyper says it is ready (never while it may still
//! be busy with the previous exchange, such as a client's upload after an early answer).
//!
//! Behaviour kept from the legacy client: requests go in origin form with `Host` set from
//! the URL when absent; a request found unsent on a pooled connection that closed under it
//! is sent on another connection (never a request that was written); idle connections are
//! closed after [`POOL_IDLE_TIMEOUT`].

use std::collections::HashMap;
use std::error::Error as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use crate::config::UpstreamTlsConfig;
use crate::error::UpstreamError;
use crate::tls::{self, TlsError};
use crate::wire::Body;

/// Idle pooled upstream connections are closed after this long: below the common 60 s
/// keep-alive timeout of upstream servers, so we rarely reuse a connection they are closing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends requests to upstreams over pooled connections, `http://` or `https://`.
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    /// One pool per origin, made when first used: `http://` origins by authority in the
    /// first map, `https://` ones in the second (upstream URLs have no other scheme), so a
    /// pool is found from the request's authority without building a key.
    pools: [RwLock<HashMap<Box<str>, Arc<Pool>>>; 2],
}

/// The idle connections to one origin.
struct Pool {
    /// The `Host` a request to this origin gets when it has none (the port only when it is
    /// not the scheme's default, as the legacy client wrote it).
    host: Option<HeaderValue>,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

impl Idle {
    /// Still worth keeping at `now`: open, and idle for less than [`POOL_IDLE_TIMEOUT`].
    fn alive(&self, now: Instant) -> bool {
        !self.sender.is_closed() && now.duration_since(self.since) < POOL_IDLE_TIMEOUT
    }
}

impl Pool {
    /// A pooled connection ready for a request, the most recently used first. One that is
    /// not ready stays pooled and is not handed out: it may still be busy with its last
    /// exchange (an upstream that answered before a slow client finished uploading keeps
    /// the connection until the upload ends), and a request must never wait on another
    /// client's upload. It is handed out once ready, or pruned once closed or idle too long.
    fn checkout(&self) -> Option<http1::SendRequest<Body>> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        idle.retain(|entry| entry.alive(now));
        let at = idle.iter().rposition(|entry| entry.sender.is_ready())?;
        Some(idle.remove(at).sender)
    }

    fn put(&self, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let entry = Idle {
            sender,
            since: Instant::now(),
        };
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(entry);
    }

    fn prune(&self) {
        let now = Instant::now();
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|entry| entry.alive(now));
    }
}

impl Forwarder {
    /// A client whose TCP connects give up after `connect_timeout`, verifying `https://`
    /// upstreams per `upstream_tls` (SNI is the upstream URL's host). Inside a tokio
    /// runtime, a task closes connections idle past [`POOL_IDLE_TIMEOUT`] until the
    /// forwarder is dropped.
    pub fn new(
        connect_timeout: Duration,
        upstream_tls: &UpstreamTlsConfig,
    ) -> Result<Self, TlsError> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::upstream_client_config(upstream_tls)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let inner = Arc::new(Inner {
            connector: https,
            pools: Default::default(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap(Arc::downgrade(&inner)));
        }
        Ok(Forwarder { inner })
    }

    /// Sends one request (its URI in absolute form). A request is sent again only when it
    /// was never written to a connection (a pooled connection found closed), so a
    /// non-idempotent request is never sent twice.
    /// The failure's cause goes to the log here, at debug level (the one `warn` line for
    /// the failed request is the lifecycle's).
    pub async fn send(&self, request: Request<Body>) -> Result<Response<UpstreamBody>, SendError> {
        self.try_send(request).await.map_err(|failure| {
            tracing::debug!(error = %failure.cause, kind = failure.error.kind.label(), "upstream request failed");
            failure.error
        })
    }

    async fn try_send(
        &self,
        mut request: Request<Body>,
    ) -> Result<Response<UpstreamBody>, Failure> {
        let uri = request.uri().clone();
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(Failure::unsent(
                "the upstream URL has no scheme or authority".into(),
            ));
        };
        let pool = self.pool(scheme, authority);
        *request.uri_mut() = origin_form(&uri);
        if let Some(host) = &pool.host {
            request
                .headers_mut()
                .entry(HOST)
                .or_insert_with(|| host.clone());
        }
        while let Some(mut sender) = pool.checkout() {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(UpstreamBody::wrap(response, sender, &pool)),
                Err(mut error) => match error.take_message() {
                    // Closed before the request was written: try another connection.
                    Some(unsent) => request = unsent,
                    None => return Err(Failure::sent(error.into_error())),
                },
            }
        }
        let io = self.connect(uri).await?;
        let (mut sender, connection) = http1::handshake(io)
            .await
            .map_err(|error| Failure::unsent(error_chain(&error)))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error_chain(&error), "upstream connection ended with an error");
            }
        });
        match sender.try_send_request(request).await {
            Ok(response) => Ok(UpstreamBody::wrap(response, sender, &pool)),
            Err(mut error) => {
                let unsent = error.take_message().is_some();
                let error = error.into_error();
                Err(if unsent {
                    Failure::unsent(error_chain(&error))
                } else {
                    Failure::sent(error)
                })
            }
        }
    }

    async fn connect(
        &self,
        uri: Uri,
    ) -> Result<
        hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>,
        Failure,
    > {
        let mut connector = self.inner.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|error| Failure::unsent(error_chain(&*error)))?;
        connector
            .call(uri)
            .await
            .map_err(|error| Failure::unsent(error_chain(&*error)))
    }

    fn pool(&self, scheme: &Scheme, authority: &Authority) -> Arc<Pool> {
        let pools = &self.inner.pools[usize::from(*scheme == Scheme::HTTPS)];
        if let Some(pool) = pools
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(authority.as_str())
        {
            return Arc::clone(pool);
        }
        let mut pools = pools
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(pools.entry(authority.as_str().into()).or_insert_with(|| {
            Arc::new(Pool {
                host: host_value(scheme, authority),
                idle: Mutex::default(),
            })
        }))
    }
}

/// Closes idle connections past their time, every [`POOL_IDLE_TIMEOUT`], while the
/// forwarder lives (a pool nobody sends through is never checked out, so never pruned
/// there).
async fn reap(inner: Weak<Inner>) {
    let mut interval = tokio::time::interval(POOL_IDLE_TIMEOUT);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let pools: Vec<Arc<Pool>> = inner
            .pools
            .iter()
            .flat_map(|pools| {
                pools
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        for pool in pools {
            pool.prune();
        }
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
/// to the pool; dropped before that (or failing), the connection is closed.
#[derive(Debug)]
pub struct UpstreamBody {
    body: Incoming,
    release: Option<Release>,
}

#[derive(Debug)]
struct Release {
    sender: http1::SendRequest<Body>,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

impl UpstreamBody {
    fn wrap(
        response: Response<Incoming>,
        sender: http1::SendRequest<Body>,
        pool: &Arc<Pool>,
    ) -> Response<Self> {
        response.map(|body| {
            let mut body = UpstreamBody {
                body,
                release: Some(Release {
                    sender,
                    pool: Arc::clone(pool),
                }),
            };
            // Nothing follows the head (`Content-Length: 0`, 204, 304).
            if http_body::Body::is_end_stream(&body.body) {
                body.release();
            }
            body
        })
    }

    /// The body has ended: its connection goes back to the pool.
    fn release(&mut self) {
        if let Some(release) = self.release.take() {
            release.pool.put(release.sender);
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.release(),
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Err(_))) => this.release = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
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
struct Failure {
    error: SendError,
    cause: String,
}

impl Failure {
    /// Nothing reached the upstream: no connection, or it closed before the request went.
    fn unsent(cause: String) -> Self {
        Failure {
            error: SendError {
                kind: UpstreamError::Unreachable,
                nothing_sent: true,
            },
            cause,
        }
    }

    /// The request was written (or may have been).
    fn sent(error: hyper::Error) -> Self {
        Failure {
            error: SendError {
                kind: classify(&error),
                nothing_sent: false,
            },
            cause: error_chain(&error),
        }
    }
}

fn classify(error: &hyper::Error) -> UpstreamError {
    if error.is_parse() || error.is_parse_status() {
        return UpstreamError::Invalid;
    }
    let mut source = error.source();
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

//! The request lifecycle, as named phases, in one place:
//!
//! 1. **admit**: refuse with 503 when the in-flight limit is reached or the gateway is
//!    draining for shutdown;
//! 2. **identify**: give the request an id (kept from a well-formed `X-Request-Id`, or new);
//! 3. **dispatch**: the token path goes to [`crate::token::endpoint`], anything else to
//!    [`crate::proxy`] (route match, token check, decrypt, forward, encrypt);
//! 4. **log**: one line per request with method, path, status, latency and request id —
//!    never a header value, a body, a token or a key.
//!
//! `Gateway` is cheap to clone (one `Arc`); services are plumbing around it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::error::GatewayError;
use crate::http::Body;
use crate::proxy::Forwarder;
use crate::session::SessionStore;

/// The request-id header, set on every forwarded request and every response.
pub const X_REQUEST_ID: &str = "x-request-id";

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address (the TCP peer).
    pub peer: SocketAddr,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    pub scheme: http::uri::Scheme,
    /// The subject of the verified TLS client certificate (mTLS listeners).
    pub client_cert_subject: Option<std::sync::Arc<str>>,
}

/// The gateway's shared state and its request handler.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    sessions: SessionStore,
    forwarder: Forwarder,
    /// Bounds requests being handled; a full semaphore sheds load with 503 rather than
    /// queueing without limit.
    in_flight: Arc<Semaphore>,
    draining: AtomicBool,
}

impl Gateway {
    /// A gateway over a validated configuration. Fails if the upstream TLS files are unusable.
    pub fn new(config: Arc<Config>) -> Result<Self, crate::tls::TlsError> {
        let sessions = SessionStore::new(config.token.max_sessions);
        let in_flight = Arc::new(Semaphore::new(config.server.max_in_flight));
        let forwarder =
            Forwarder::new(config.server.upstream_connect_timeout, &config.upstream_tls)?;
        Ok(Gateway {
            inner: Arc::new(Inner {
                forwarder,
                config,
                sessions,
                in_flight,
                draining: AtomicBool::new(false),
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Arc<Config> {
        &self.inner.config
    }

    /// The session store (read by tests and operations endpoints).
    pub fn sessions(&self) -> &SessionStore {
        &self.inner.sessions
    }

    /// Marks the gateway as shutting down: new requests are refused with 503.
    pub fn begin_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Sweeps expired sessions forever at the configured interval.
    pub async fn sweep_sessions(self) {
        let mut interval = tokio::time::interval(self.inner.config.token.sweep_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let removed = self.inner.sessions.sweep(crate::clock::now_secs());
            if removed > 0 {
                tracing::debug!(
                    removed,
                    live = self.inner.sessions.len(),
                    "swept expired sessions"
                );
            }
        }
    }

    /// Handles one request; never fails (errors become responses).
    pub async fn handle(&self, request: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let request_id = request_id(request.headers().get(X_REQUEST_ID));

        let mut response = match self.admit() {
            Err(error) => error.into_response(),
            Ok(_permit) => self.dispatch(request, &conn, &request_id).await,
        };

        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(X_REQUEST_ID, value);
        }
        tracing::info!(
            target: "sealgate::access",
            request_id = %request_id,
            peer = %conn.peer,
            %method,
            path = %path,
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
        response
    }

    fn admit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, GatewayError> {
        if self.inner.draining.load(Ordering::Relaxed) {
            return Err(GatewayError::Overloaded);
        }
        self.inner
            .in_flight
            .try_acquire()
            .map_err(|_| GatewayError::Overloaded)
    }

    async fn dispatch(
        &self,
        request: Request<Incoming>,
        conn: &ConnInfo,
        request_id: &str,
    ) -> Response<Body> {
        let config = &self.inner.config;
        if request.uri().path() == config.token.path {
            return crate::token::endpoint::handle(config, &self.inner.sessions, conn, request)
                .await;
        }
        let context = crate::proxy::Context {
            config,
            sessions: &self.inner.sessions,
            forwarder: &self.inner.forwarder,
            conn,
            request_id,
        };
        crate::proxy::handle(context, request).await
    }
}

/// Keeps a client's `X-Request-Id` when it is short and plain (so it is safe to log and to
/// forward), otherwise makes a new random one.
fn request_id(incoming: Option<&HeaderValue>) -> String {
    let acceptable = |v: &&HeaderValue| {
        let bytes = v.as_bytes();
        (1..=64).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match incoming.filter(acceptable).and_then(|v| v.to_str().ok()) {
        Some(id) => id.to_owned(),
        None => {
            crate::crypto::random::bytes::<16>().map_or_else(|_| "unknown".to_owned(), hex::encode)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_plain() {
        let keep = HeaderValue::from_static("abc-123_x.y");
        assert_eq!(request_id(Some(&keep)), "abc-123_x.y");
        let odd = HeaderValue::from_static("a b\"c");
        let made = request_id(Some(&odd));
        assert_eq!(made.len(), 32);
        assert_ne!(request_id(None), request_id(None));
    }
}

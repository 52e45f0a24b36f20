//! The pooled, keep-alive HTTP/1.1 client that carries requests to upstreams, and the
//! classification of its failures into [`UpstreamError`]s (who caused what: the upstream
//! refusing → 502 `UPSTREAM001`, speaking something that is not HTTP → 502 `UPSTREAM002`).

use std::error::Error as _;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

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
    client: Client<HttpsConnector<HttpConnector>, Body>,
}

impl Forwarder {
    /// A client whose TCP connects give up after `connect_timeout`, verifying `https://`
    /// upstreams per `upstream_tls` (SNI is the upstream URL's host).
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
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Forwarder { client })
    }

    /// Sends one request. The client retries only requests that were never written to a
    /// connection (a pooled connection found closed), so a non-idempotent request is never
    /// sent twice.
    /// The failure's cause goes to the log here, at debug level (the one `warn` line for
    /// the failed request is the lifecycle's).
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Incoming>, SendError> {
        self.client.request(request).await.map_err(|error| {
            let kind = classify(&error);
            tracing::debug!(error = %error_chain(&error), kind = kind.label(), "upstream request failed");
            SendError {
                kind,
                nothing_sent: error.is_connect(),
            }
        })
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

fn classify(error: &hyper_util::client::legacy::Error) -> UpstreamError {
    if error.is_connect() {
        return UpstreamError::Unreachable;
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

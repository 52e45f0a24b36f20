//! The admin listener, separate from the public one (loopback by default): `/metrics` in
//! the Prometheus text format, `/healthz` (the process is up) and `/readyz` (configuration
//! loaded, listeners bound, not draining, session state reachable
//! or its outage policy is to degrade). Nothing here touches sessions or secrets.

use std::convert::Infallible;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::AdminConfig;
use crate::gateway::Gateway;
use crate::wire::{Body, full};

/// The Prometheus text exposition media type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves the admin endpoints until `stop` turns true: HTTP/1.1 only, at most
/// `config.max_connections` at once (the rest wait in the backlog), each closed when it has
/// had no request in progress (or no complete head) for `config.header_read_timeout`.
pub async fn serve(
    listener: TcpListener,
    config: AdminConfig,
    gateway: Gateway,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let gateway = gateway.clone();
        let deadline = config.header_read_timeout;
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(answer(&gateway, &request)) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(deadline);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            // Every admin answer is immediate: a connection open longer than a few
            // deadlines is one that is holding a slot.
            let _ = tokio::time::timeout(deadline * 4, connection).await;
            drop(permit);
        });
    }
}

/// One admin answer; a pure function of the gateway's state.
pub fn answer(gateway: &Gateway, request: &Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let metrics = gateway.metrics();
            metrics
                .sessions_live
                .set(i64::try_from(gateway.sessions().len()).unwrap_or(i64::MAX));
            let mut response = plain(StatusCode::OK, &metrics.encode());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        "/readyz" if gateway.is_unready() => plain(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        "/readyz" if !gateway.state_ready() => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "session state unavailable\n",
        ),
        "/readyz" => plain(StatusCode::OK, "ready\n"),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(full(text.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

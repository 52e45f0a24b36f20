//! The admin listener, separate from the public one (loopback by default): `/metrics` in
//! the Prometheus text format, `/healthz` (the process is up) and `/readyz` (configuration
//! loaded, listeners bound, not draining, session state reachable
//! or its outage policy is to degrade). Nothing here touches sessions or secrets.

use std::convert::Infallible;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gateway::Gateway;
use crate::wire::{Body, full};

/// The Prometheus text exposition media type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves the admin endpoints until `stop` turns true.
pub async fn serve(listener: TcpListener, gateway: Gateway, mut stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(answer(&gateway, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
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
        "/readyz" if gateway.is_draining() => plain(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
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

//! The tower question of issue #18, measured: what would the request lifecycle's own
//! middleware concerns cost as a `ServiceBuilder` stack of tower / tower-http layers, against
//! the phases the gateway runs today?
//!
//! Both sides do the same work around the same inner handler (one that answers an empty
//! 200 at once), per request:
//! - **phases**: [`sealgate::gateway::request_id`] (keep a plain `X-Request-Id` or make
//!   one), a non-blocking in-flight permit (`Semaphore::try_acquire`, the load shedding),
//!   the id set on the response;
//! - **tower**: `SetRequestIdLayer` + `PropagateRequestIdLayer` (tower-http),
//!   `SetSensitiveRequestHeadersLayer` (tower-http), `LoadShedLayer` +
//!   `ConcurrencyLimitLayer` (tower), each service cloned per request as hyper does.
//!
//! `cargo bench --bench middleware`; docs/architecture.md quotes the figures.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench code"
)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use tokio::sync::Semaphore;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Ids made the way the gateway makes them (a counter), so both sides do the same work.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("0123456789abcdef{n:016x}"))
            .ok()
            .map(RequestId::new)
    }
}

async fn inner(_: Request<()>) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}

fn request(with_id: bool) -> Request<()> {
    let mut builder = Request::get("/api/echo").header("authorization", "Bearer x");
    if with_id {
        builder = builder.header(X_REQUEST_ID, "client-chosen-id-1");
    }
    builder.body(()).unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("middleware");

    let in_flight = Semaphore::new(4096);
    group.bench_function("phases (the gateway today)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = request(false);
                let id = sealgate::gateway::request_id(request.headers().get(X_REQUEST_ID));
                let _permit = in_flight.try_acquire().unwrap();
                let mut response = inner(request).await.unwrap();
                if let Ok(value) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert(X_REQUEST_ID, value);
                }
                response
            })
        });
    });

    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            http::header::AUTHORIZATION,
        ]))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, Counter::default()))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .load_shed()
        .concurrency_limit(4096)
        .service_fn(inner);
    group.bench_function("tower + tower-http stack", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut service = stack.clone();
                service
                    .ready()
                    .await
                    .unwrap()
                    .call(request(false))
                    .await
                    .unwrap()
            })
        });
    });

    group.bench_function("bare handler (reference)", |b| {
        b.iter(|| runtime.block_on(async { inner(request(false)).await.unwrap() }));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! W3C Trace Context and OpenTelemetry spans.
//!
//! Every request gets a [`RequestTrace`]. With export off (the default) it only reads the
//! client's `traceparent`, so the access line can carry its trace id; the header passes to
//! the upstream unchanged. With an OTLP endpoint configured ([`Tracing::otlp`]) the request
//! gets a server span — a child of the client's `traceparent` when one came, else the root
//! of a new trace — with child spans for the token check, the opening, the upstream call
//! and the sealing, and the upstream is sent a `traceparent` naming the upstream-call span.
//!
//! Spans are exported by OpenTelemetry's batch processor (OTLP over HTTP, protobuf) on its
//! own thread. In front of it sits a bounded queue of our own (`Bounded`) so that a slow
//! or absent collector costs dropped spans, counted in `sealgate_trace_spans_dropped_total`,
//! and never a waiting request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter, SpanProcessor,
};
use prometheus_client::metrics::counter::Counter;

/// The export settings ([`Tracing::otlp`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSettings {
    /// The OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub endpoint: String,
    /// `service.name` of the spans.
    pub service_name: String,
    /// The share of traces recorded.
    pub sample_ratio: f64,
    /// Whether a `traceparent`'s sampled flag decides instead (for clients, or a balancer,
    /// that are trusted to sample).
    pub follow_client_sampling: bool,
    /// Spans waiting for export; more are dropped.
    pub queue_spans: usize,
    /// How long one export may take before it is abandoned.
    pub export_timeout: Duration,
    /// How often a batch is sent.
    pub export_interval: Duration,
}

/// Why export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct TracingError(String);

/// The process's tracer: export off, or an OTLP pipeline.
#[derive(Debug)]
pub struct Tracing {
    export: Option<(SdkTracerProvider, SdkTracer)>,
    propagator: TraceContextPropagator,
}

impl Tracing {
    /// Export off: trace ids are read from requests for the access line, nothing else.
    pub fn disabled() -> Self {
        Tracing {
            export: None,
            propagator: TraceContextPropagator::new(),
        }
    }

    /// Spans exported over OTLP/HTTP. Spans beyond `queue_spans` waiting are counted in
    /// `dropped` and discarded.
    pub fn otlp(settings: &ExportSettings, dropped: Counter) -> Result<Self, TracingError> {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(settings.endpoint.clone())
            .with_timeout(settings.export_timeout)
            .build()
            .map_err(|e| TracingError(e.to_string()))?;
        let queued = Arc::new(AtomicUsize::new(0));
        let capacity = settings.queue_spans.max(1);
        let batch = BatchSpanProcessor::builder(Counting {
            inner: exporter,
            queued: Arc::clone(&queued),
        })
        .with_batch_config(
            BatchConfigBuilder::default()
                // Never full before ours: every drop is ours, and counted.
                .with_max_queue_size(capacity + 1)
                .with_max_export_batch_size(capacity.min(512))
                .with_scheduled_delay(settings.export_interval)
                .build(),
        )
        .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Bounded {
                next: batch,
                queued,
                capacity,
                dropped,
            })
            .with_sampler(if settings.follow_client_sampling {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)))
            } else {
                // A client's flag would let it force its requests into (or out of) the
                // traces; the ratio decides alone.
                Sampler::TraceIdRatioBased(settings.sample_ratio)
            })
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(settings.service_name.clone())
                    .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("sealgate");
        Ok(Tracing {
            export: Some((provider, tracer)),
            propagator: TraceContextPropagator::new(),
        })
    }

    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.export.is_some()
    }

    /// The trace of one request, from its headers.
    pub fn start(&self, method: &http::Method, headers: &http::HeaderMap) -> RequestTrace {
        let parent = if headers.contains_key(TRACEPARENT) {
            self.propagator.extract(&Headers(headers))
        } else {
            Context::new()
        };
        let Some((_, tracer)) = &self.export else {
            let remote = parent.span().span_context().clone();
            return RequestTrace {
                tracer: None,
                cx: None,
                trace_id: remote.is_valid().then(|| remote.trace_id().to_string()),
            };
        };
        // The standard methods by name, any other as `_OTHER` (OpenTelemetry's convention):
        // a client cannot name spans.
        let name: &'static str = match *method {
            http::Method::GET => "GET",
            http::Method::POST => "POST",
            http::Method::PUT => "PUT",
            http::Method::DELETE => "DELETE",
            http::Method::PATCH => "PATCH",
            http::Method::HEAD => "HEAD",
            http::Method::OPTIONS => "OPTIONS",
            _ => "_OTHER",
        };
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes([KeyValue::new("http.request.method", name)])
            .start_with_context(tracer, &parent);
        let cx = parent.with_span(span);
        let trace_id = Some(cx.span().span_context().trace_id().to_string());
        RequestTrace {
            tracer: Some(tracer.clone()),
            cx: Some(cx),
            trace_id,
        }
    }

    /// Sends every span still queued and stops the exporter (at shutdown). Blocks: call
    /// it off the async runtime's threads or where blocking is allowed.
    pub fn shutdown(&self) {
        if let Some((provider, _)) = &self.export
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "trace export did not shut down cleanly");
        }
    }
}

use crate::wire::TRACEPARENT;

/// One request's trace: its server span (when exporting) and the trace id.
#[derive(Debug)]
pub struct RequestTrace {
    tracer: Option<SdkTracer>,
    cx: Option<Context>,
    trace_id: Option<String>,
}

impl RequestTrace {
    /// No trace (tests, and requests refused before they are read).
    pub fn none() -> Self {
        RequestTrace {
            tracer: None,
            cx: None,
            trace_id: None,
        }
    }

    /// The trace id (32 lowercase hex digits), when the request is traced or carried a
    /// valid `traceparent`.
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }

    /// A child span of the request's span (ended when the guard drops).
    pub fn child(&self, name: &'static str) -> SpanGuard {
        self.start_child(name, SpanKind::Internal)
    }

    /// The span of one upstream call; its context is written to `headers` as
    /// `traceparent` (and `tracestate`), so the upstream's spans are its children.
    pub fn upstream_call(&self, upstream: &str, headers: &mut http::HeaderMap) -> SpanGuard {
        let mut guard = self.start_child("upstream", SpanKind::Client);
        if let (Some(span), Some(cx)) = (guard.0.take(), &self.cx) {
            let mut span = span;
            span.set_attribute(KeyValue::new("server.address", upstream.to_owned()));
            let child = cx.with_span(span);
            TraceContextPropagator::new().inject_context(&child, &mut HeadersMut(headers));
            return SpanGuard(None, Some(child));
        }
        guard
    }

    fn start_child(&self, name: &'static str, kind: SpanKind) -> SpanGuard {
        match (&self.tracer, &self.cx) {
            (Some(tracer), Some(cx)) => SpanGuard(
                Some(
                    tracer
                        .span_builder(name)
                        .with_kind(kind)
                        .start_with_context(tracer, cx),
                ),
                None,
            ),
            _ => SpanGuard(None, None),
        }
    }

    /// Ends the request's span with its outcome.
    pub fn finish(&self, route: &str, status: u16, res_code: Option<&'static str>) {
        let Some(cx) = &self.cx else { return };
        let span = cx.span();
        span.set_attribute(KeyValue::new("http.route", route.to_owned()));
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if let Some(code) = res_code {
            span.set_attribute(KeyValue::new("sealgate.res_code", code));
        }
        if status >= 500 {
            span.set_status(Status::error(res_code.unwrap_or("server error")));
        }
        span.end();
    }
}

/// A child span, ended when dropped.
pub struct SpanGuard(
    Option<opentelemetry_sdk::trace::Span>,
    /// The upstream call's span, held in the context it was propagated from.
    Option<Context>,
);

impl SpanGuard {
    /// Marks the span failed with a stable code.
    pub fn fail(&mut self, code: &'static str) {
        if let Some(span) = &mut self.0 {
            span.set_status(Status::error(code));
        }
        if let Some(cx) = &self.1 {
            cx.span().set_status(Status::error(code));
        }
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Some(span) = &mut self.0 {
            span.end();
        }
        if let Some(cx) = &self.1 {
            cx.span().end();
        }
    }
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Our bounded queue in front of the batch processor: counts spans handed over and not yet
/// exported, and drops (counting) beyond `capacity`. The SDK's own queue is one larger, so
/// it never drops silently.
#[derive(Debug)]
struct Bounded {
    next: BatchSpanProcessor,
    queued: Arc<AtomicUsize>,
    capacity: usize,
    dropped: Counter,
}

impl SpanProcessor for Bounded {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.next.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.dropped.inc();
            return;
        }
        self.next.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.next.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.next.shutdown_with_timeout(timeout)
    }
}

/// The exporter, telling [`Bounded`] when spans have left (exported or failed).
#[derive(Debug)]
struct Counting<E> {
    inner: E,
    queued: Arc<AtomicUsize>,
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.queued.fetch_sub(n, Ordering::AcqRel);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_export_the_clients_trace_id_is_read_and_nothing_is_injected() {
        let tracing = Tracing::disabled();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let trace = tracing.start(&http::Method::GET, &headers);
        assert_eq!(trace.trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        let mut upstream = http::HeaderMap::new();
        drop(trace.upstream_call("http://x", &mut upstream));
        assert!(upstream.is_empty());
    }

    #[test]
    fn a_malformed_traceparent_gives_no_trace_id() {
        let tracing = Tracing::disabled();
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert(TRACEPARENT, bad.parse().unwrap());
            let trace = tracing.start(&http::Method::GET, &headers);
            assert_eq!(trace.trace_id(), None, "{bad}");
        }
    }
}

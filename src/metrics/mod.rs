//! Prometheus metrics: every name is a constant in [`names`], every metric is registered in
//! [`Metrics::new`], and [`Metrics::encode`] writes the text exposition format for the
//! admin listener's `/metrics`.

pub mod names;
mod process;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route prefix, `token` for the token endpoint, `none` when nothing matched.
    pub route: Arc<String>,
    /// The method, or `OTHER` for extension methods (bounded cardinality).
    pub method: &'static str,
    /// The HTTP status code (named `code`, as Prometheus' own HTTP instrumentation does).
    pub code: u16,
}

/// The route label of the token endpoint.
pub static TOKEN_ROUTE: LazyLock<Arc<String>> = LazyLock::new(|| Arc::new("token".to_owned()));
/// The route label of a request no route matched (or refused before routing).
pub static NO_ROUTE: LazyLock<Arc<String>> = LazyLock::new(|| Arc::new("none".to_owned()));

/// A route label alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// As in [`RequestLabels::route`].
    pub route: Arc<String>,
}

/// One upstream instance of one route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabel {
    /// The route's prefix.
    pub route: Arc<String>,
    /// `scheme://host:port`.
    pub upstream: Arc<String>,
}

/// One upstream instance of one route, with a reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceReasonLabel {
    /// The route's prefix.
    pub route: Arc<String>,
    /// `scheme://host:port`.
    pub upstream: Arc<String>,
    /// What happened.
    pub reason: &'static str,
}

/// A route with an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOutcomeLabel {
    /// The route's prefix.
    pub route: Arc<String>,
    /// What happened.
    pub outcome: &'static str,
}

/// A worker of `server.workers`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabel {
    /// Its index: 0 is the main thread.
    pub worker: usize,
}

/// A reason alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// What happened.
    pub reason: &'static str,
}

/// One upstream instance of one route, with an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceOutcomeLabel {
    /// The route's prefix.
    pub route: Arc<String>,
    /// `scheme://host:port`.
    pub upstream: Arc<String>,
    /// `ok`, `5xx`, or the failure's kind.
    pub outcome: &'static str,
}

/// A refusal on a proxied route: the gateway's `resCode`, apart from the HTTP status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabel {
    /// As in [`RequestLabels::route`].
    pub route: Arc<String>,
    /// `AUTH004`, `BODY002`, …
    pub res_code: &'static str,
}

/// A closed WebSocket tunnel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TunnelLabels {
    /// As in [`RequestLabels::route`].
    pub route: Arc<String>,
    /// Why it closed: `closed`, `idle`, `max_duration`, `error`.
    pub reason: &'static str,
}

/// A refusal by a route's rate limit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLimitedLabels {
    /// As in [`RequestLabels::route`].
    pub route: Arc<String>,
    /// The limit's key kind: `client`, `session`, `address`.
    pub key: &'static str,
}

/// An answer of the token endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResCodeLabel {
    /// `TOK200`, `TOK002`, …
    pub res_code: &'static str,
}

/// An upstream failure on a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabel {
    /// As in [`RequestLabels::route`].
    pub route: Arc<String>,
    /// `unreachable`, `invalid`, `too_large`, `timeout`.
    pub kind: &'static str,
}

/// How something went (`ok`, `refused`, `failed`, `timeout`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome.
    pub outcome: &'static str,
}

/// A token key, by its `kid`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KidLabel {
    /// The key's id.
    pub kid: String,
}

/// The build, for `sealgate_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A Redis operation (`admit`, `revoke`, `rate_limit`, `session_store`, `session_load`,
/// `ping`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    /// The operation (a fixed name, so labelling a call allocates nothing).
    pub op: &'static str,
}

type Histograms<L> = Family<L, Histogram, Latency>;

/// Doubling latency buckets from 100 µs up to at least `longest` (the longest configured
/// timeout, so a request that ran into it still lands in a finite bucket), and at least to
/// ~6.5 s.
pub fn latency_buckets(longest: Duration) -> Vec<f64> {
    let mut buckets: Vec<f64> = exponential_buckets(0.0001, 2.0, 17).collect();
    let longest = longest.as_secs_f64();
    while buckets.last().is_some_and(|last| *last < longest) && buckets.len() < 40 {
        let next = buckets.last().map_or(0.0001, |last| last * 2.0);
        buckets.push(next);
    }
    buckets
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// See [`names::REQUESTS`].
    pub requests: Family<RequestLabels, Counter>,
    /// See [`names::REQUEST_DURATION`].
    pub request_duration: Histograms<RouteLabel>,
    /// See [`names::UPSTREAM_DURATION`].
    pub upstream_duration: Histograms<RouteLabel>,
    /// See [`names::TOKENS`].
    pub tokens: Family<ResCodeLabel, Counter>,
    /// See [`names::REJECTED`].
    pub rejected: Family<RefusalLabel, Counter>,
    /// See [`names::UPSTREAM_ERRORS`].
    pub upstream_errors: Family<UpstreamErrorLabel, Counter>,
    /// See [`names::SESSIONS_LIVE`].
    pub sessions_live: Gauge,
    /// See [`names::CONNECTIONS_OPEN`].
    pub connections_open: Gauge,
    /// See [`names::SECRET_CHECKS_RUNNING`].
    pub secret_checks_running: Gauge,
    /// See [`names::TLS_HANDSHAKES`].
    pub tls_handshakes: Family<OutcomeLabel, Counter>,
    /// See [`names::CERTIFICATE_RELOADS`].
    pub certificate_reloads: Family<OutcomeLabel, Counter>,
    /// See [`names::CONFIG_RELOADS`].
    pub config_reloads: Family<OutcomeLabel, Counter>,
    /// See [`names::REVOCATIONS`].
    pub revocations: Counter,
    /// See [`names::TOKEN_KEY_SEALS`].
    pub token_key_seals: Family<KidLabel, Counter>,
    /// See [`names::UPSTREAM_INSTANCE_REQUESTS`].
    pub upstream_instance_requests: Family<InstanceOutcomeLabel, Counter>,
    /// See [`names::UPSTREAM_INSTANCE_UP`].
    pub upstream_instance_up: Family<InstanceLabel, Gauge>,
    /// See [`names::UPSTREAM_EJECTIONS`].
    pub upstream_ejections: Family<InstanceLabel, Counter>,
    /// See [`names::UPSTREAM_INSTANCE_DURATION`].
    pub upstream_instance_duration: Histograms<InstanceLabel>,
    /// See [`names::UPSTREAM_BREACHES`].
    pub upstream_breaches: Family<InstanceReasonLabel, Counter>,
    /// See [`names::UPSTREAM_RETRIES`].
    pub upstream_retries: Family<RouteOutcomeLabel, Counter>,
    /// See [`names::CONNECTIONS_CUT`].
    pub connections_cut: Family<ReasonLabel, Counter>,
    /// See [`names::TUNNELS_OPEN`].
    pub tunnels_open: Gauge,
    /// See [`names::TUNNELS_CLOSED`].
    pub tunnels_closed: Family<TunnelLabels, Counter>,
    /// See [`names::RATE_LIMITED`].
    pub rate_limited: Family<RateLimitedLabels, Counter>,
    /// See [`names::WORKER_CONNECTIONS`].
    pub worker_connections: Family<WorkerLabel, Counter>,
    /// See [`names::REDIS_DURATION`].
    pub redis_duration: Family<OpLabel, Histogram, fn() -> Histogram>,
    /// See [`names::REDIS_ERRORS`].
    pub redis_errors: Family<OpLabel, Counter>,
    /// See [`names::STATE_DEGRADED`].
    pub state_degraded: Family<OpLabel, Counter>,
    /// See [`names::REDIS_UP`].
    pub redis_up: Gauge,
    /// See [`names::ACCESS_LOG_DROPPED`].
    pub access_log_dropped: Counter,
    /// See [`names::TRACE_SPANS_DROPPED`].
    pub trace_spans_dropped: Counter,
}

/// Handles on the series one upstream instance moves on every request it serves, taken
/// once ([`Metrics::instance_handles`]) and kept with the instance (`upstream::Instance`): a lookup
/// in a labelled family hashes its labels with SipHash and takes a lock, and four of them
/// per request cost about 1,600 instructions on the plain route.
#[derive(Debug, Clone)]
pub struct InstanceHandles {
    /// `upstream_instance_up`.
    pub up: Gauge,
    /// `upstream_instance_duration_seconds`.
    pub duration: Histogram,
    /// `upstream_duration_seconds` of the instance's route.
    pub route_duration: Histogram,
    /// `upstream_instance_requests_total{outcome="ok"}`.
    pub ok: Counter,
}

fn redis_histogram() -> Histogram {
    // 50 µs to ~1.6 s in 16 doubling buckets.
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(Duration::ZERO)
    }
}

/// Makes latency histograms with the buckets chosen at start.
#[derive(Clone, Debug)]
pub struct Latency(Arc<[f64]>);

impl MetricConstructor<Histogram> for Latency {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

impl Metrics {
    /// The handles of the instance `upstream` of `route` ([`InstanceHandles`]).
    pub fn instance_handles(&self, route: &Arc<String>, upstream: &Arc<String>) -> InstanceHandles {
        let instance = InstanceLabel {
            route: Arc::clone(route),
            upstream: Arc::clone(upstream),
        };
        InstanceHandles {
            up: self.upstream_instance_up.get_or_create(&instance).clone(),
            duration: self
                .upstream_instance_duration
                .get_or_create(&instance)
                .clone(),
            route_duration: self
                .upstream_duration
                .get_or_create(&RouteLabel {
                    route: Arc::clone(route),
                })
                .clone(),
            ok: self
                .upstream_instance_requests
                .get_or_create(&InstanceOutcomeLabel {
                    route: Arc::clone(route),
                    upstream: Arc::clone(upstream),
                    outcome: "ok",
                })
                .clone(),
        }
    }

    /// Registers every metric. Latency histograms reach at least `longest_timeout`.
    pub fn new(longest_timeout: Duration) -> Self {
        let latency = Latency(latency_buckets(longest_timeout).into());
        let mut registry = Registry::default();
        let m = Metrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency.clone()),
            upstream_duration: Family::new_with_constructor(latency.clone()),
            tokens: Family::default(),
            rejected: Family::default(),
            upstream_errors: Family::default(),
            sessions_live: Gauge::default(),
            connections_open: Gauge::default(),
            secret_checks_running: Gauge::default(),
            tls_handshakes: Family::default(),
            config_reloads: Family::default(),
            certificate_reloads: Family::default(),
            revocations: Counter::default(),
            token_key_seals: Family::default(),
            upstream_instance_requests: Family::default(),
            upstream_instance_up: Family::default(),
            upstream_ejections: Family::default(),
            upstream_instance_duration: Family::new_with_constructor(latency),
            upstream_breaches: Family::default(),
            upstream_retries: Family::default(),
            connections_cut: Family::default(),
            worker_connections: Family::default(),
            rate_limited: Family::default(),
            tunnels_open: Gauge::default(),
            tunnels_closed: Family::default(),
            redis_duration: Family::new_with_constructor(redis_histogram as fn() -> Histogram),
            redis_errors: Family::default(),
            state_degraded: Family::default(),
            redis_up: Gauge::default(),
            access_log_dropped: Counter::default(),
            trace_spans_dropped: Counter::default(),
            registry: Registry::default(),
        };
        use names::*;
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            BUILD_INFO,
            "The running build, by version (always 1)",
            build,
        );
        registry.register_collector(Box::new(process::Process));
        registry.register(
            REQUESTS,
            "Requests answered, by route, method and HTTP status code",
            m.requests.clone(),
        );
        registry.register(
            REQUEST_DURATION,
            "Whole-request latency in seconds, by route",
            m.request_duration.clone(),
        );
        registry.register(
            UPSTREAM_DURATION,
            "Upstream latency (to response head) in seconds, by route",
            m.upstream_duration.clone(),
        );
        registry.register(
            TOKENS,
            "Token endpoint answers, by res_code",
            m.tokens.clone(),
        );
        registry.register(
            REJECTED,
            "Requests refused on proxied routes, by route and the gateway's res_code",
            m.rejected.clone(),
        );
        registry.register(
            TUNNELS_OPEN,
            "WebSocket tunnels open",
            m.tunnels_open.clone(),
        );
        registry.register(
            TUNNELS_CLOSED,
            "WebSocket tunnels closed, by route and reason",
            m.tunnels_closed.clone(),
        );
        registry.register(
            RATE_LIMITED,
            "Requests refused by a route's rate limit, by route and key kind",
            m.rate_limited.clone(),
        );
        registry.register(
            UPSTREAM_ERRORS,
            "Upstream failures, by route and kind",
            m.upstream_errors.clone(),
        );
        registry.register(
            SESSIONS_LIVE,
            "Sessions held in memory",
            m.sessions_live.clone(),
        );
        registry.register(
            CONNECTIONS_OPEN,
            "Client connections open",
            m.connections_open.clone(),
        );
        registry.register(
            SECRET_CHECKS_RUNNING,
            "Argon2id secret checks running now",
            m.secret_checks_running.clone(),
        );
        registry.register(
            TLS_HANDSHAKES,
            "TLS handshakes, by outcome",
            m.tls_handshakes.clone(),
        );
        registry.register(
            CERTIFICATE_RELOADS,
            "Reloads of a listener's certificate files, by outcome",
            m.certificate_reloads.clone(),
        );
        registry.register(
            CONFIG_RELOADS,
            "Configuration reloads, by outcome",
            m.config_reloads.clone(),
        );
        registry.register(REVOCATIONS, "Sessions revoked", m.revocations.clone());
        registry.register(
            UPSTREAM_INSTANCE_REQUESTS,
            "Requests to each upstream instance, by route, upstream and outcome",
            m.upstream_instance_requests.clone(),
        );
        registry.register(
            UPSTREAM_INSTANCE_UP,
            "1 when an upstream instance is in rotation, 0 when ejected or down",
            m.upstream_instance_up.clone(),
        );
        registry.register(
            UPSTREAM_EJECTIONS,
            "Ejections of upstream instances by outlier detection",
            m.upstream_ejections.clone(),
        );
        registry.register(
            UPSTREAM_INSTANCE_DURATION,
            "Time to each upstream instance's response head in seconds",
            m.upstream_instance_duration.clone(),
        );
        registry.register(
            UPSTREAM_BREACHES,
            "Upstream answers that broke HTTP framing, by route, upstream and reason",
            m.upstream_breaches.clone(),
        );
        registry.register(
            UPSTREAM_RETRIES,
            "Retries of idempotent requests on another instance, by route and outcome",
            m.upstream_retries.clone(),
        );
        registry.register(
            CONNECTIONS_CUT,
            "Client connections refused or cut by the gateway, by reason",
            m.connections_cut.clone(),
        );
        registry.register(
            WORKER_CONNECTIONS,
            "Client connections accepted, by worker",
            m.worker_connections.clone(),
        );
        registry.register(
            TOKEN_KEY_SEALS,
            "Messages sealed under each token key by this process, by kid",
            m.token_key_seals.clone(),
        );
        registry.register(
            REDIS_DURATION,
            "Redis call latency in seconds, by operation",
            m.redis_duration.clone(),
        );
        registry.register(
            REDIS_ERRORS,
            "Redis calls failed or timed out, by operation",
            m.redis_errors.clone(),
        );
        registry.register(
            STATE_DEGRADED,
            "Checks served from memory alone because Redis was unavailable, by operation",
            m.state_degraded.clone(),
        );
        registry.register(
            REDIS_UP,
            "1 when the last Redis health check succeeded (redis backend only)",
            m.redis_up.clone(),
        );
        registry.register(
            ACCESS_LOG_DROPPED,
            "Access lines dropped because the writer's queue was full",
            m.access_log_dropped.clone(),
        );
        registry.register(
            TRACE_SPANS_DROPPED,
            "Spans dropped because the export queue was full",
            m.trace_spans_dropped.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one `outcome` in `family`.
    pub fn count(family: &Family<OutcomeLabel, Counter>, outcome: &'static str) {
        family.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// Counts a client connection refused or cut, by `reason`.
    pub fn count_cut(&self, reason: &'static str) {
        self.connections_cut
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts one token endpoint answer.
    pub fn count_token(&self, res_code: &'static str) {
        self.tokens.get_or_create(&ResCodeLabel { res_code }).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The method label: standard methods by name, anything else `OTHER` (so a client cannot
/// create unbounded label values).
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

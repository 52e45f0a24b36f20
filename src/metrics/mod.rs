//! Prometheus metrics: every name is a constant in [`names`], every metric is registered in
//! [`Metrics::new`], and [`Metrics::encode`] writes the text exposition format for the
//! admin listener's `/metrics`.

pub mod names;

use std::sync::{Arc, LazyLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
    /// HTTP status.
    pub status: u16,
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

/// A stable code (`resCode`, error kind or outcome).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The code.
    pub code: String,
}

/// A Redis operation (`admit`, `revoke`, `rate_limit`, `session_store`, `session_load`,
/// `ping`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    /// The operation (a fixed name, so labelling a call allocates nothing).
    pub op: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s in 17 doubling buckets.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
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
    pub tokens: Family<CodeLabel, Counter>,
    /// See [`names::REJECTED`].
    pub rejected: Family<CodeLabel, Counter>,
    /// See [`names::UPSTREAM_ERRORS`].
    pub upstream_errors: Family<CodeLabel, Counter>,
    /// See [`names::SESSIONS_LIVE`].
    pub sessions_live: Gauge,
    /// See [`names::CONNECTIONS_OPEN`].
    pub connections_open: Gauge,
    /// See [`names::TLS_HANDSHAKES`].
    pub tls_handshakes: Family<CodeLabel, Counter>,
    /// See [`names::CONFIG_RELOADS`].
    pub config_reloads: Family<CodeLabel, Counter>,
    /// See [`names::REVOCATIONS`].
    pub revocations: Counter,
    /// See [`names::TOKEN_KEY_SEALS`].
    pub token_key_seals: Family<CodeLabel, Counter>,
    /// See [`names::UPSTREAM_INSTANCE_REQUESTS`].
    pub upstream_instance_requests: Family<InstanceOutcomeLabel, Counter>,
    /// See [`names::UPSTREAM_INSTANCE_UP`].
    pub upstream_instance_up: Family<InstanceLabel, Gauge>,
    /// See [`names::UPSTREAM_EJECTIONS`].
    pub upstream_ejections: Family<InstanceLabel, Counter>,
    /// See [`names::UPSTREAM_INSTANCE_DURATION`].
    pub upstream_instance_duration: Histograms<InstanceLabel>,
    /// See [`names::REDIS_DURATION`].
    pub redis_duration: Histograms<OpLabel>,
    /// See [`names::REDIS_ERRORS`].
    pub redis_errors: Family<OpLabel, Counter>,
    /// See [`names::STATE_DEGRADED`].
    pub state_degraded: Family<OpLabel, Counter>,
    /// See [`names::REDIS_UP`].
    pub redis_up: Gauge,
}

fn redis_histogram() -> Histogram {
    // 50 µs to ~1.6 s in 16 doubling buckets.
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            upstream_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            tokens: Family::default(),
            rejected: Family::default(),
            upstream_errors: Family::default(),
            sessions_live: Gauge::default(),
            connections_open: Gauge::default(),
            tls_handshakes: Family::default(),
            config_reloads: Family::default(),
            revocations: Counter::default(),
            token_key_seals: Family::default(),
            upstream_instance_requests: Family::default(),
            upstream_instance_up: Family::default(),
            upstream_ejections: Family::default(),
            upstream_instance_duration: Family::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            ),
            redis_duration: Family::new_with_constructor(redis_histogram as fn() -> Histogram),
            redis_errors: Family::default(),
            state_degraded: Family::default(),
            redis_up: Gauge::default(),
            registry: Registry::default(),
        };
        use names::*;
        registry.register(
            REQUESTS,
            "Requests answered, by route, method and status",
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
            "Token endpoint answers, by resCode",
            m.tokens.clone(),
        );
        registry.register(
            REJECTED,
            "Requests refused on proxied routes, by gateway resCode",
            m.rejected.clone(),
        );
        registry.register(
            UPSTREAM_ERRORS,
            "Upstream failures, by kind",
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
            TLS_HANDSHAKES,
            "TLS handshakes, by outcome",
            m.tls_handshakes.clone(),
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
            "Ejections of upstream instances after failures in a row",
            m.upstream_ejections.clone(),
        );
        registry.register(
            UPSTREAM_INSTANCE_DURATION,
            "Time to each upstream instance's response head in seconds",
            m.upstream_instance_duration.clone(),
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
        Metrics { registry, ..m }
    }

    /// Counts one occurrence of `code` in `family`.
    pub fn count(family: &Family<CodeLabel, Counter>, code: &str) {
        family
            .get_or_create(&CodeLabel {
                code: code.to_owned(),
            })
            .inc();
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

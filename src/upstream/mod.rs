//! The backends behind the routes, in one home: for every route, its instances' connection
//! pools ([`pool`]), the balancer that picks one (weighted round robin over the instances
//! in rotation, with a cap on how many may be out), their health (passive outlier
//! detection and active probes, [`health`]), the route's in-flight slots, and its retry
//! budget ([`retry`]).
//!
//! The configuration says what the upstreams are ([`crate::config::Route`] is plain data);
//! this module holds what they have become. That state is keyed by the route (its prefix
//! and hosts, [`crate::config::Route::key`]) and the instance (its URL as written), and a
//! reload keeps it for every pair that survives, as pingora's `Backends` does: an ejected
//! instance stays ejected, a down one down, pooled connections stay pooled and in-flight
//! requests keep holding their slots ([`Upstreams::table`]).
//!
//! What it does not own: which route a request takes and what is forwarded (`proxy`), and
//! the configuration's validation (`config`).

pub mod health;
pub mod pool;
pub mod retry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{Config, Route, Upstream};
use crate::metrics::{
    InstanceHandles, InstanceLabel, InstanceOutcomeLabel, InstanceReasonLabel, Metrics,
    RouteOutcomeLabel,
};

pub use health::{Health, Outcome};
pub use pool::{
    Breach, Connector, KEEPALIVE_SUSPENSION, POOL_IDLE_TIMEOUT, Pool, SendError, UpstreamBody,
};
pub use retry::RetryBudget;

/// The state of every route's upstreams, kept across reloads.
#[derive(Clone, Default)]
pub struct Upstreams {
    routes: Arc<Mutex<HashMap<String, Arc<RouteUpstreams>>>>,
}

/// The upstream state of the routes of one configuration, in the order of
/// [`Config::routes`] ([`Route::index`]).
pub type Table = Arc<[Arc<RouteUpstreams>]>;

impl Upstreams {
    /// An empty registry. Inside a tokio runtime, a task closes pooled connections idle past
    /// [`POOL_IDLE_TIMEOUT`] until the registry is dropped.
    pub fn new() -> Self {
        let upstreams = Upstreams::default();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap(Arc::downgrade(&upstreams.routes)));
        }
        upstreams
    }

    /// The table for `config`: each route's state, reused from the configuration before
    /// for every route (by key) and instance (by URL) that survives, new for the rest; the
    /// rest is dropped. With `fresh_connections` (the upstream TLS settings changed), the
    /// kept instances' pooled connections are closed.
    pub fn table(&self, config: &Config, metrics: &Metrics, fresh_connections: bool) -> Table {
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut kept = HashMap::with_capacity(config.routes.len());
        let table: Vec<Arc<RouteUpstreams>> = config
            .routes
            .iter()
            .map(|route| {
                let key = route.key();
                let state = Arc::new(RouteUpstreams::build(
                    route,
                    routes.get(&key).map(Arc::as_ref),
                    metrics,
                    config.server.worker_count(),
                    fresh_connections,
                ));
                kept.insert(key, Arc::clone(&state));
                state
            })
            .collect();
        *routes = kept;
        table.into()
    }
}

/// Closes idle connections past their time, every [`POOL_IDLE_TIMEOUT`], while the
/// registry lives (a pool nobody sends through is never checked out, so never pruned
/// there).
async fn reap(routes: Weak<Mutex<HashMap<String, Arc<RouteUpstreams>>>>) {
    let mut interval = tokio::time::interval(POOL_IDLE_TIMEOUT);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(routes) = routes.upgrade() else {
            return;
        };
        let pools: Vec<Arc<Pool>> = routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .flat_map(|route| route.instances.iter().map(|i| Arc::clone(&i.pool)))
            .collect();
        for pool in pools {
            pool.prune();
        }
    }
}

/// One route's upstreams: its instances (in the order of [`Route::upstreams`]), the
/// round-robin cursor, in-flight slots and retry budget.
pub struct RouteUpstreams {
    /// The instances, index-aligned with [`Route::upstreams`].
    pub instances: Vec<Arc<Instance>>,
    cursor: Arc<AtomicUsize>,
    slots: Option<Arc<Slots>>,
    retry: Arc<RetryBudget>,
    /// WebSocket tunnels open on the route (`websocket.max_tunnels`), and that size.
    tunnels: Option<Arc<Semaphore>>,
    tunnels_size: Option<usize>,
    retries_sent: Counter,
    retries_refused: Counter,
}

impl std::fmt::Debug for RouteUpstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteUpstreams")
            .field("instances", &self.instances.len())
            .finish_non_exhaustive()
    }
}

/// A route's in-flight slots: a semaphore whose size follows the configuration.
#[derive(Debug)]
struct Slots {
    semaphore: Semaphore,
    size: AtomicUsize,
    /// Permits still to take back after the size shrank while they were held: each is
    /// forgotten when next acquired.
    debt: AtomicUsize,
}

/// One instance of one route.
pub struct Instance {
    /// What the checks and the outlier detection say of it.
    pub health: Health,
    /// Its connections for this route.
    pub pool: Arc<Pool>,
    url: String,
    handles: InstanceHandles,
    ejections: Counter,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").finish_non_exhaustive()
    }
}

impl Instance {
    fn new(route: &Route, upstream: &Upstream, metrics: &Metrics, workers: usize) -> Self {
        let label = InstanceLabel {
            route: Arc::clone(&route.label),
            upstream: Arc::clone(&upstream.label),
        };
        let breach = |b: Breach| {
            metrics
                .upstream_breaches
                .get_or_create(&InstanceReasonLabel {
                    route: Arc::clone(&route.label),
                    upstream: Arc::clone(&upstream.label),
                    reason: b.label(),
                })
                .clone()
        };
        let report = pool::Report {
            route: Arc::clone(&route.label),
            upstream: Arc::clone(&upstream.label),
            breaches: [
                breach(Breach::BytesWhileIdle),
                breach(Breach::AmbiguousLength),
                breach(Breach::UnaskedUpgrade),
            ],
        };
        Instance {
            health: Health::default(),
            pool: Arc::new(Pool::new(
                upstream.scheme.clone(),
                upstream.authority.clone(),
                report,
                route.reuse_after_idle,
                workers,
                route.upstream_protocol == crate::config::UpstreamProtocol::Http2,
            )),
            url: upstream.url.clone(),
            handles: metrics.instance_handles(&route.label, &upstream.label),
            ejections: metrics.upstream_ejections.get_or_create(&label).clone(),
        }
    }
}

/// The tunnel limit a route's state before a reload was made for.
fn kept_size(before: Option<&RouteUpstreams>) -> Option<usize> {
    before.and_then(|b| b.tunnels_size)
}

/// Whether a request is idempotent (RFC 9110 §9.2.2) and so may be sent again.
pub fn idempotent(method: &http::Method) -> bool {
    use http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// How one exchange with an instance went, as the gateway saw it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// The answer's status, or the failure.
    pub result: Result<http::StatusCode, SendError>,
    /// The client's body had all arrived when the exchange ended (a buffered body always
    /// has): a failure while it was still arriving may be the client's doing.
    pub upload_complete: bool,
}

impl Exchange {
    /// What it says of the instance.
    pub fn outcome(&self) -> Outcome {
        match self.result {
            Ok(status) if status.is_server_error() => Outcome::AnswerFailure,
            Ok(_) => Outcome::Ok,
            Err(error) if error.nothing_sent => Outcome::LocalFailure,
            // A streamed upload that failed or was still arriving: an oversized or abandoned
            // upload, a slow client; none of it the instance's.
            Err(_) if !self.upload_complete => Outcome::Neutral,
            Err(_) => Outcome::AnswerFailure,
        }
    }

    /// The `outcome` label of `sealgate_upstream_instance_requests_total`.
    pub fn label(&self) -> &'static str {
        match self.result {
            Ok(status) if status.is_server_error() => "5xx",
            Ok(_) => "ok",
            Err(error) => error.kind.label(),
        }
    }
}

impl RouteUpstreams {
    fn build(
        route: &Route,
        before: Option<&RouteUpstreams>,
        metrics: &Metrics,
        workers: usize,
        fresh_connections: bool,
    ) -> Self {
        let instances = route
            .upstreams
            .iter()
            .map(|upstream| {
                // The same URL spoken to in the same HTTP version.
                let http2 = route.upstream_protocol == crate::config::UpstreamProtocol::Http2;
                let same = |i: &&Arc<Instance>| i.url == upstream.url && i.pool.is_http2() == http2;
                match before.and_then(|b| b.instances.iter().find(same)) {
                    Some(kept) => {
                        if fresh_connections {
                            kept.pool.clear();
                        }
                        kept.pool.set_reuse_after(route.reuse_after_idle);
                        Arc::clone(kept)
                    }
                    None => Arc::new(Instance::new(route, upstream, metrics, workers)),
                }
            })
            .collect();
        let slots = route.max_in_flight.map(|size| {
            match before.and_then(|b| b.slots.as_ref()) {
                Some(slots) => {
                    // The same semaphore, resized: requests in flight keep their slots and
                    // count against the new size.
                    let old = slots.size.swap(size, Ordering::AcqRel);
                    if size > old {
                        slots.semaphore.add_permits(size - old);
                    } else {
                        // What is not free now is taken back as it comes free (see
                        // `take_slot`): a semaphore cannot go below zero.
                        let forgotten = slots.semaphore.forget_permits(old - size);
                        slots
                            .debt
                            .fetch_add(old - size - forgotten, Ordering::AcqRel);
                    }
                    Arc::clone(slots)
                }
                None => Arc::new(Slots {
                    semaphore: Semaphore::new(size),
                    size: AtomicUsize::new(size),
                    debt: AtomicUsize::new(0),
                }),
            }
        });
        let retries = |outcome| {
            metrics
                .upstream_retries
                .get_or_create(&RouteOutcomeLabel {
                    route: Arc::clone(&route.label),
                    outcome,
                })
                .clone()
        };
        // The same semaphore while the size stays (open tunnels keep their permits of an
        // older one: a changed size counts from the reload on).
        let tunnels =
            route
                .websocket
                .as_ref()
                .map(|w| match before.and_then(|b| b.tunnels.as_ref()) {
                    Some(kept) if kept_size(before) == Some(w.max_tunnels) => Arc::clone(kept),
                    _ => Arc::new(Semaphore::new(w.max_tunnels)),
                });
        RouteUpstreams {
            instances,
            cursor: before.map_or_else(Arc::default, |b| Arc::clone(&b.cursor)),
            slots,
            tunnels,
            tunnels_size: route.websocket.as_ref().map(|w| w.max_tunnels),
            retry: before.map_or_else(Arc::default, |b| Arc::clone(&b.retry)),
            retries_sent: retries("sent"),
            retries_refused: retries("budget"),
        }
    }

    /// A place for one more WebSocket tunnel, held while it lives; `None` when the route
    /// holds `websocket.max_tunnels` already.
    pub fn take_tunnel(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(self.tunnels.as_ref()?).try_acquire_owned().ok()
    }

    /// A slot for one request in flight, or `None` when the route is at its limit (circuit
    /// breaking); `Some(None)` when the route has no limit.
    pub fn take_slot(&self) -> Option<Option<SemaphorePermit<'_>>> {
        let Some(slots) = &self.slots else {
            return Some(None);
        };
        loop {
            let permit = slots.semaphore.try_acquire().ok()?;
            let owed = slots
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
                    debt.checked_sub(1)
                });
            if owed.is_err() {
                return Some(Some(permit));
            }
            permit.forget();
        }
    }

    /// The next instance in weighted round-robin order, skipping those ejected or marked
    /// down at `now_ms` and `not` (the one a retry must avoid); when every instance is out,
    /// any of them (never none: an outage of the checks must not become an outage of the
    /// route).
    pub fn pick(&self, route: &Route, now_ms: u64, not: Option<usize>) -> usize {
        let n = route.rotation.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut fallback = None;
        for step in 0..n {
            let i = route.rotation[(start + step) % n];
            if Some(i) == not && self.instances.len() > 1 {
                continue;
            }
            if self.instances[i].health.available(now_ms) {
                return i;
            }
            fallback.get_or_insert(i);
        }
        fallback.unwrap_or(route.rotation[start % n])
    }

    /// Counts one exchange with instance `i` at `now_ms`: its health (and an ejection when
    /// the outlier rules say so, within the route's cap) and its metrics. `elapsed` is the
    /// time to the answer's head, when there was one.
    pub fn observe(
        &self,
        route: &Route,
        i: usize,
        exchange: &Exchange,
        elapsed: Option<Duration>,
        metrics: &Metrics,
        now_ms: u64,
    ) {
        let instance = &self.instances[i];
        let outcome = exchange.outcome();
        let outlier = &route.outlier;
        let mut candidate = instance
            .health
            .record(now_ms, outcome, outlier.eject_after_failures);
        if outcome == Outcome::AnswerFailure && !candidate {
            let others = self
                .instances
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, other)| other.health.window(now_ms))
                .fold((0, 0), |(r, f), (r2, f2)| (r + r2, f + f2));
            candidate = outlier.is_outlier(instance.health.window(now_ms), others);
        }
        if candidate && !instance.health.is_ejected(now_ms) {
            let out = self
                .instances
                .iter()
                .filter(|other| other.health.is_ejected(now_ms))
                .count();
            if out < outlier.max_ejected(self.instances.len()) {
                let length = instance.health.eject(now_ms, outlier.ejection);
                instance.ejections.inc();
                tracing::warn!(route = %route.prefix, upstream = %route.upstreams[i].label, seconds = length.as_secs(), "upstream instance ejected by outlier detection");
            }
        }
        let handles = &instance.handles;
        handles.up.set(i64::from(instance.health.available(now_ms)));
        if let Some(elapsed) = elapsed {
            let seconds = elapsed.as_secs_f64();
            handles.duration.observe(seconds);
            handles.route_duration.observe(seconds);
        }
        match exchange.label() {
            "ok" => {
                handles.ok.inc();
            }
            outcome => {
                metrics
                    .upstream_instance_requests
                    .get_or_create(&InstanceOutcomeLabel {
                        route: Arc::clone(&route.label),
                        upstream: Arc::clone(&route.upstreams[i].label),
                        outcome,
                    })
                    .inc();
            }
        }
    }

    /// Counts a request towards the retry budget, on a route that retries (on any other
    /// the budget is never read).
    pub fn count_request(&self, route: &Route, now_ms: u64) {
        if route.retry.is_some() {
            self.retry.request(now_ms);
        }
    }

    /// Whether a retry may be sent now under `route`'s budget; counts it when it may.
    pub fn allow_retry(&self, route: &Route, now_ms: u64) -> bool {
        let Some(policy) = &route.retry else {
            return false;
        };
        let allowed = self.retry.try_retry(now_ms, policy);
        if allowed {
            self.retries_sent.inc();
        } else {
            self.retries_refused.inc();
        }
        allowed
    }

    /// Probes instance `i` with `route`'s health check (a `GET` of its path, a 2xx within
    /// the check's timeout passes) and records the result.
    pub async fn probe(
        &self,
        route: &Route,
        i: usize,
        connector: &Connector,
        connect_timeout: Duration,
        now_ms: impl Fn() -> u64,
    ) {
        let Some(check) = &route.health_check else {
            return;
        };
        let upstream = &route.upstreams[i];
        let instance = &self.instances[i];
        let uri = http::Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query(format!("{}{}", upstream.base_path, check.path))
            .build();
        let passed = match uri {
            Ok(uri) => {
                let mut request = http::Request::new(crate::wire::full(bytes::Bytes::new()));
                *request.uri_mut() = uri;
                // The body is read (up to a bound; its content does not matter) so that the
                // connection returns to the pool: a probe dropped mid-body would close it
                // and open one per probe.
                tokio::time::timeout(check.timeout, async {
                    let response = instance
                        .pool
                        .send(connector, request, connect_timeout, Arc::default())
                        .await
                        .ok()?;
                    let passed = response.status().is_success();
                    let length = crate::wire::content_length(response.headers());
                    let _ = crate::wire::read_body(
                        response.into_body(),
                        length,
                        64 * 1024,
                        check.timeout,
                    )
                    .await;
                    Some(passed)
                })
                .await
                .ok()
                .flatten()
                .unwrap_or(false)
            }
            Err(_) => false,
        };
        let health = &instance.health;
        if let Some(up) = health.probe(passed, check.healthy_threshold, check.unhealthy_threshold) {
            if up {
                tracing::info!(route = %route.prefix, upstream = %upstream.label, "upstream instance passes its health check again");
            } else {
                tracing::warn!(route = %route.prefix, upstream = %upstream.label, "upstream instance fails its health check: out of rotation");
            }
        }
        instance
            .handles
            .up
            .set(i64::from(health.available(now_ms())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed() -> Config {
        let text = "[[token.keys]]\nkid = \"k\"\nkey = \"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo\"\n\
                    [[routes]]\nprefix = \"/r/\"\nupstreams = [\"http://127.0.0.1:9\"]\nauth = \"none\"\n";
        Config::parse(
            text,
            std::path::Path::new("t"),
            std::path::Path::new("."),
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn one_configuration_in_two_gateways_counts_into_each_ones_registry() {
        let config = parsed();
        let (first, second) = (Metrics::default(), Metrics::default());
        let tables = [
            Upstreams::default().table(&config, &first, false),
            Upstreams::default().table(&config, &second, false),
        ];
        let route = &config.routes[0];
        let ok = Exchange {
            result: Ok(http::StatusCode::OK),
            upload_complete: true,
        };
        tables[0][0].observe(route, 0, &ok, None, &first, 0);
        tables[0][0].observe(route, 0, &ok, None, &first, 0);
        tables[1][0].observe(route, 0, &ok, None, &second, 0);
        let series = "sealgate_upstream_instance_requests_total{route=\"/r/\",upstream=\"http://127.0.0.1:9\",outcome=\"ok\"}";
        let value = |metrics: &Metrics| {
            metrics
                .encode()
                .lines()
                .find_map(|line| line.strip_prefix(series).map(|v| v.trim().to_owned()))
        };
        assert_eq!(value(&first).as_deref(), Some("2"));
        assert_eq!(value(&second).as_deref(), Some("1"));
    }

    #[test]
    fn a_reload_keeps_the_state_of_what_survives_it_and_drops_the_rest() {
        let config = parsed();
        let metrics = Metrics::default();
        let upstreams = Upstreams::default();
        let before = upstreams.table(&config, &metrics, false);
        let after = upstreams.table(&config, &metrics, false);
        assert!(Arc::ptr_eq(&before[0].instances[0], &after[0].instances[0]));
        let mut other = parsed();
        other.routes = Vec::new();
        assert!(upstreams.table(&other, &metrics, false).is_empty());
        let again = upstreams.table(&config, &metrics, false);
        assert!(
            !Arc::ptr_eq(&before[0].instances[0], &again[0].instances[0]),
            "a route dropped by a reload starts afresh when it comes back"
        );
    }
}

//! The request lifecycle, as named phases, in one place:
//!
//! 1. **admit**: refuse with 503 when the in-flight limit is reached or the gateway is
//!    draining for shutdown;
//! 2. **identify**: give the request an id (kept from a well-formed `X-Request-Id`, or new);
//! 3. **dispatch**: the token path goes to [`crate::handshake::endpoint`], anything else to
//!    [`crate::proxy`] (route match, token check, decrypt, forward, encrypt); each returns
//!    its response or a [`Failure`];
//! 4. **observe**: a failure is logged and counted once ([`Failure::observe`]) and becomes
//!    its response; then one access line and the request metrics — never a header value, a
//!    body, a token or a key.
//!
//! The configuration in force and the upstream client built from it are swapped as one on
//! reload ([`Gateway::reload`]); each request reads them once, so it sees one consistent
//! configuration from start to end. `Gateway` is cheap to clone (one `Arc`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::config::Config;
use crate::context::{AppState, ConnInfo};
use crate::error::{Failure, GatewayError};
use crate::metrics::{Metrics, NO_ROUTE, RequestLabels, RouteLabel, TOKEN_ROUTE};
use crate::observe::Trail;
use crate::observe::access::{AccessGuard, AccessLog, Logged, Pending, Record};
use crate::observe::trace::{RequestTrace, Tracing};
use crate::proxy::jwks::{KeyStore, Registry as JwksRegistry};
use crate::session::SessionStore;
use crate::state::{State, StateError};
use crate::tls::TlsError;
use crate::upstream::{Connector, Table, Upstreams};
use crate::wire::{Body, X_REQUEST_ID};
use http_body_util::BodyExt as _;

/// How often the upstream health checker looks for probes that are due.
const HEALTH_TICK: std::time::Duration = std::time::Duration::from_millis(200);

/// How often the Redis backend is health-checked for `/readyz`.
const STATE_HEALTH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The configuration in force and what is built from it.
pub struct Live {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Opens upstream connections (its TLS settings come from the configuration).
    pub connector: Connector,
    /// The routes' upstream state, in the order of the configuration's routes (kept across
    /// reloads in [`Upstreams`]).
    pub upstreams: Table,
    /// Counts configurations put in force (0 at start): what a cached token verification
    /// is tied to.
    pub generation: u64,
    /// Each identity provider's key set, by provider name (kept across reloads in the
    /// registry).
    pub jwks: Arc<HashMap<Arc<str>, Arc<KeyStore>>>,
}

/// The key stores of `config`'s identity providers, from `registry` (which forgets the
/// providers no longer configured).
fn jwks_table(registry: &JwksRegistry, config: &Config) -> Arc<HashMap<Arc<str>, Arc<KeyStore>>> {
    registry.retain(config.jwt_providers.values().map(|p| &**p));
    Arc::new(
        config
            .jwt_providers
            .values()
            .map(|provider| (Arc::clone(&provider.name), registry.store(provider)))
            .collect(),
    )
}

/// Whether [`Gateway::build`] opens the gateway's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outputs {
    /// Open the access log's file and start the trace exporter: to serve.
    Open,
    /// Neither: to check a configuration on a machine that may not be the one it runs on
    /// (the log folder need not exist there, and no span may leave it).
    Skip,
}

/// Why a gateway could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The upstream TLS files are unusable.
    #[error("config key `upstream_tls`: {0}")]
    Tls(#[from] TlsError),
    /// The session-state backend could not be set up (the cause is logged where found).
    #[error("config key `sessions.redis`: the Redis client cannot be configured")]
    State(#[from] StateError),
    /// The TLS files of the Redis client are unusable.
    #[error("config key `sessions.redis`: {0}")]
    RedisTls(TlsError),
    /// The access log's file could not be opened.
    #[error("config key `access_log.path`: {0}")]
    AccessLog(#[from] std::io::Error),
    /// The trace exporter could not be set up.
    #[error("{0}")]
    Tracing(#[from] crate::observe::trace::TracingError),
}

/// The gateway's state and its request handler.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    live: ArcSwap<Live>,
    /// What the upstreams have become (health, pools, slots): outlives configurations.
    upstreams: Upstreams,
    /// The identity providers' key sets: outlive configurations.
    jwks: JwksRegistry,
    app: AppState,
    /// Bounds requests being handled; a full semaphore sheds load with 503 rather than
    /// queueing without limit. Sized at start; not changed by reload.
    in_flight: Semaphore,
    draining: AtomicBool,
    /// `/readyz` fails: set at the shutdown signal, before `draining`.
    unready: AtomicBool,
}

/// Why a reload was refused (the old configuration stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The upstream TLS files are unusable.
    #[error("upstream TLS: {0}")]
    Tls(#[from] TlsError),
}

impl Gateway {
    /// A gateway over a validated configuration. Fails if the upstream TLS files are unusable
    /// or the session-state backend cannot be configured (an unreachable Redis is not a
    /// failure here: connections are opened on first use).
    pub fn new(config: Arc<Config>) -> Result<Self, StartError> {
        Self::with_clock(config, Clock::system())
    }

    /// [`Gateway::new`] reading time from `clock` (tests move it instead of sleeping).
    pub fn with_clock(config: Arc<Config>, clock: Clock) -> Result<Self, StartError> {
        Self::build(config, clock, Outputs::Open)
    }

    /// Everything start builds; `outputs` says whether the access log's file is opened and
    /// the trace exporter started (`check-config` checks a file without either).
    pub fn build(config: Arc<Config>, clock: Clock, outputs: Outputs) -> Result<Self, StartError> {
        crate::tls::install_default_provider();
        let connector = Connector::new(&config.upstream_tls, config.server.send_timeout)?;
        let metrics = Metrics::new(longest_timeout(&config));
        let upstreams = Upstreams::new();
        let table = upstreams.table(&config, &metrics, false);
        let jwks = JwksRegistry::default();
        let jwks_stores = jwks_table(&jwks, &config);
        let state = State::new(
            &config.sessions.backend,
            config.token.max_sessions,
            crate::session::ReplayLimits {
                sessions: config.sessions.replay.memory_sessions,
                per_address: config.sessions.replay.memory_per_address,
                per_prefix: config.sessions.replay.memory_per_prefix,
            },
            &metrics,
        )?;
        if let crate::config::StateBackend::Redis(redis) = &config.sessions.backend {
            // The Redis client builds its rustls configuration only when it connects: build
            // the same one now, so a bad CA or a key that does not match its certificate
            // stops the start rather than the first request.
            let (client_cert_file, client_key_file) = redis.tls.client.clone().unzip();
            let files = crate::config::UpstreamTlsConfig {
                ca_file: redis.tls.ca_file.clone(),
                client_cert_file,
                client_key_file,
            };
            if files.ca_file.is_some() || files.client_cert_file.is_some() {
                crate::tls::upstream_client_config(&files).map_err(StartError::RedisTls)?;
            }
        }
        if config.sessions.backend == crate::config::StateBackend::Memory
            && outputs == Outputs::Open
        {
            tracing::warn!(
                "session state on the memory backend: replay memory and revocations are per \
                 instance and end with the process; tokens issued before this start are {}",
                if config.sessions.replay.accept_tokens_from_before_start {
                    "ACCEPTED (sessions.accept_tokens_from_before_start = true): a body sent \
                     before the restart can be replayed"
                } else {
                    "refused (AUTH010) so that no body accepted before can be replayed"
                }
            );
        }
        let started_at_ms = clock.now_ms();
        let access = match &config.access_log {
            Some(_) if outputs == Outputs::Skip => AccessLog::disabled(),
            Some(log) => AccessLog::start(
                log.sink.clone(),
                log.format,
                log.queue_lines,
                metrics.access_log_dropped.clone(),
            )?,
            None => AccessLog::disabled(),
        };
        let tracing = match &config.tracing {
            Some(_) if outputs == Outputs::Skip => Tracing::disabled(),
            Some(settings) => {
                let endpoint = crate::config::SecretUrl::from(settings.endpoint.as_str());
                tracing::info!(endpoint = %endpoint.redacted(), "exporting traces over OTLP/HTTP");
                Tracing::otlp(settings, metrics.trace_spans_dropped.clone())?
            }
            None => Tracing::disabled(),
        };
        let app = AppState {
            state,
            metrics,
            clock,
            secret_checks: Arc::new(Semaphore::new(config.token.max_concurrent_secret_checks)),
            started_at_ms,
            access: Arc::new(access),
            tracing,
        };
        let in_flight = Semaphore::new(config.server.max_in_flight);
        Ok(Gateway {
            inner: Arc::new(Inner {
                live: ArcSwap::from_pointee(Live {
                    config,
                    connector,
                    upstreams: table,
                    generation: 0,
                    jwks: jwks_stores,
                }),
                upstreams,
                jwks,
                app,
                in_flight,
                draining: AtomicBool::new(false),
                unready: AtomicBool::new(false),
            }),
        })
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.inner.live.load().config)
    }

    /// The in-memory session store (with Redis, the local cache).
    pub fn sessions(&self) -> &SessionStore {
        self.inner.app.state.sessions()
    }

    /// Whether the session state can be consulted (always with memory; with Redis, when it
    /// answers or the policy is to degrade). `/readyz` fails otherwise.
    pub fn state_ready(&self) -> bool {
        self.inner.app.state.is_ready()
    }

    /// The clock requests read `now` from.
    pub fn clock(&self) -> &Clock {
        &self.inner.app.clock
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.app.metrics
    }

    /// Asks the access log's writer to reopen its file (on SIGHUP, for log rotation).
    pub fn reopen_access_log(&self) {
        self.inner.app.access.reopen();
    }

    /// Waits (up to `timeout`) until the access lines queued so far are written. Blocks.
    pub fn flush_access_log(&self, timeout: std::time::Duration) {
        self.inner.app.access.flush(timeout);
    }

    /// Writes what the access log and the trace exporter still hold (at shutdown).
    pub async fn close(&self) {
        let gateway = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            gateway
                .inner
                .app
                .access
                .flush(std::time::Duration::from_secs(5));
            gateway.inner.app.tracing.shutdown();
        })
        .await;
    }

    /// Writes the access line of a request hyper refused before the gateway saw it (a
    /// malformed or oversized head): what is known is the connection and the status.
    pub fn log_refused_request(&self, conn: &ConnInfo, status: u16) {
        let access = &self.inner.app.access;
        if !access.enabled() {
            return;
        }
        access.write(Record::new(
            request_id(None),
            conn.peer,
            conn.client,
            conn.tls,
            Arc::clone(&NO_ROUTE),
            status,
        ));
    }

    /// Puts a new configuration in force for new requests; requests already running finish
    /// with the one they started with. Sessions, revocations and counters carry over. If the
    /// new configuration has no token keys and the old one made a random key, that key is
    /// kept, so a reload does not end every session. Listener settings (`server`, `tls`,
    /// `admin`) are read at start only, and so is the session-state backend (`sessions`).
    pub fn reload(&self, mut config: Config) -> Result<(), ReloadError> {
        let old = self.config();
        if config.token.keys.is_ephemeral() && old.token.keys.is_ephemeral() {
            config.token.keys = old.token.keys.clone();
        }
        if config.gateway_keys.is_ephemeral() && old.gateway_keys.is_ephemeral() {
            config.gateway_keys = Arc::clone(&old.gateway_keys);
        }
        if config.sessions.backend != old.sessions.backend {
            tracing::warn!("[sessions] changed: the session-state backend changes on restart only");
        }
        for key in restart_only_changes(&old, &config) {
            tracing::warn!(
                key,
                "changed in the file, but read at start only: restart to apply"
            );
        }
        let connector = match Connector::new(&config.upstream_tls, config.server.send_timeout) {
            Ok(connector) => connector,
            Err(error) => {
                Metrics::count(&self.metrics().config_reloads, "refused");
                return Err(error.into());
            }
        };
        // Connections verified under other TLS settings (or files that may have changed
        // under the same names) are not reused.
        let fresh_connections = config.upstream_tls != old.upstream_tls
            || config.upstream_tls != crate::config::UpstreamTlsConfig::default();
        let upstreams = self
            .inner
            .upstreams
            .table(&config, self.metrics(), fresh_connections);
        let generation = self.inner.live.load().generation.wrapping_add(1);
        let jwks = jwks_table(&self.inner.jwks, &config);
        self.inner.live.store(Arc::new(Live {
            config: Arc::new(config),
            connector,
            upstreams,
            generation,
            jwks,
        }));
        Metrics::count(&self.metrics().config_reloads, "ok");
        Ok(())
    }

    /// Marks the gateway as shutting down: new requests are refused with 503 and `/readyz`
    /// fails.
    pub fn begin_draining(&self) {
        self.inner.unready.store(true, Ordering::SeqCst);
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Makes `/readyz` fail while requests are still served: the first step of a shutdown,
    /// so a balancer stops sending before connections are refused.
    pub fn mark_unready(&self) {
        self.inner.unready.store(true, Ordering::SeqCst);
    }

    /// Whether `/readyz` should fail for shutdown (from the shutdown signal on).
    pub fn is_unready(&self) -> bool {
        self.inner.unready.load(Ordering::SeqCst)
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Starts the gateway's own background work: the sweep of expired sessions,
    /// revocations and rate-limit windows, and (Redis) the state health check. The tasks
    /// stop when the returned set is dropped.
    pub fn spawn_background(&self) -> tokio::task::JoinSet<()> {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().sweep_sessions());
        tasks.spawn(self.clone().check_upstreams());
        tasks.spawn(self.clone().refresh_jwks());
        let gateway = self.clone();
        tasks.spawn(async move {
            gateway.inner.app.state.watch(STATE_HEALTH_INTERVAL).await;
        });
        tasks
    }

    /// Probes every instance of every route with a health check, each at its route's
    /// interval, with the connector of the configuration in force (so a reload takes
    /// effect at the next probe).
    async fn check_upstreams(self) {
        let mut tick = tokio::time::interval(HEALTH_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let live = self.inner.live.load_full();
            let now_ms = u64::try_from(self.inner.app.clock.now_ms()).unwrap_or_default();
            for route in &live.config.routes {
                let Some(check) = &route.health_check else {
                    continue;
                };
                let Some(state) = live.upstreams.get(route.index) else {
                    continue;
                };
                for (i, instance) in state.instances.iter().enumerate() {
                    if !instance.health.probe_due(now_ms, check.interval) {
                        continue;
                    }
                    let (gateway, live, route) =
                        (self.clone(), Arc::clone(&live), Arc::clone(route));
                    tokio::spawn(async move {
                        let Some(state) = live.upstreams.get(route.index) else {
                            return;
                        };
                        let connect_timeout = route
                            .connect_timeout
                            .unwrap_or(live.config.server.upstream_connect_timeout);
                        let clock = &gateway.inner.app.clock;
                        state
                            .probe(&route, i, &live.connector, connect_timeout, || {
                                u64::try_from(clock.now_ms()).unwrap_or_default()
                            })
                            .await;
                    });
                }
            }
        }
    }

    /// Fetches each identity provider's JWK Set when due (at start, then every
    /// `refresh_interval_secs`; after a failure, again after `min_refresh_interval_secs`).
    async fn refresh_jwks(self) {
        let mut tick = tokio::time::interval(HEALTH_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let live = self.inner.live.load_full();
            for provider in live.config.jwt_providers.values() {
                let Some(store) = live.jwks.get(&provider.name) else {
                    continue;
                };
                if store.due(provider) {
                    let (provider, store) = (Arc::clone(provider), Arc::clone(store));
                    tokio::spawn(async move {
                        store.refresh(&provider).await;
                    });
                }
            }
        }
    }

    async fn sweep_sessions(self) {
        let mut interval = tokio::time::interval(self.config().token.sweep_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let app = &self.inner.app;
            let removed = app.state.sweep(app.clock.now_secs());
            if removed > 0 {
                tracing::debug!(
                    removed,
                    live = app.state.sessions().len(),
                    "swept expired sessions"
                );
            }
        }
    }

    /// Handles one request; never fails (errors become responses).
    pub async fn handle(&self, request: Request<Incoming>, mut conn: ConnInfo) -> Response<Body> {
        let started = Instant::now();
        let app = &self.inner.app;
        let method = request.method().clone();
        let request_id = request_id(request.headers().get(X_REQUEST_ID));
        let trace = app.tracing.start(&method, request.headers());
        let trail = Arc::new(Trail::default());
        // A gRPC call: HTTP/2 with a gRPC content type (gRPC has no HTTP/1.1 form).
        let grpc = request.version() == http::Version::HTTP_2
            && crate::proxy::grpc::is_grpc(request.headers());
        let live = self.inner.live.load_full();
        // Behind a trusted balancer, the client is who X-Forwarded-For says.
        let trusted = &live.config.server.trusted_proxies;
        if !trusted.is_empty() {
            conn.client = crate::context::client_address(conn.source, request.headers(), trusted);
        }
        // The access line is pending from here: if the client goes away before the response
        // head (the handler's future is then dropped), the guard still writes it (499).
        let mut access = app.access.enabled().then(|| {
            AccessGuard::new(Pending::new(
                Arc::clone(&app.access),
                Record {
                    method: crate::observe::access::method_text(&method),
                    path: Some(crate::observe::access::path_text(request.uri())),
                    version: request.version(),
                    trace_id: trace.trace_id().map(str::to_owned),
                    complete: false,
                    ..Record::new(
                        request_id.clone(),
                        conn.peer,
                        conn.client,
                        conn.tls,
                        Arc::clone(&NO_ROUTE),
                        499,
                    )
                },
                Arc::clone(&trail),
                started,
            ))
        });

        let (result, route) = match self.in_flight_permit() {
            Err(error) => (Err(Failure::from(error)), Arc::clone(&NO_ROUTE)),
            Ok(_permit) => {
                let request_facts = RequestFacts {
                    conn: &conn,
                    request_id: &request_id,
                    trail: &trail,
                    trace: &trace,
                };
                self.dispatch(&live, request, &request_facts).await
            }
        };
        let metrics = &app.metrics;
        let mut response = result.unwrap_or_else(|failure| {
            failure.observe(metrics, &route, &request_id);
            let (_, res_code, res_desc) = failure.parts();
            trail.set_res_code(res_code);
            // A gRPC client reads the refusal of its call from `grpc-status`.
            let grpc_refusal = grpc && matches!(failure, Failure::Route(_));
            let answer = failure.into_response();
            if grpc_refusal {
                crate::proxy::grpc::refusal(answer, res_code, res_desc)
            } else {
                answer
            }
        });

        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(X_REQUEST_ID, value);
        }
        let status = response.status().as_u16();
        metrics
            .request_duration
            .get_or_create(&RouteLabel {
                route: Arc::clone(&route),
            })
            .observe(started.elapsed().as_secs_f64());
        metrics
            .requests
            .get_or_create(&RequestLabels {
                route: Arc::clone(&route),
                method: crate::metrics::method_label(&method),
                code: status,
            })
            .inc();
        trace.finish(&route, status, trail.res_code());
        let Some(mut pending) = access.as_mut().and_then(AccessGuard::take) else {
            return response;
        };
        pending.answered(route, status);
        if grpc {
            pending.expect_grpc_status(response.headers());
        }
        if status == 101
            && let Some(end) = trail.take_tunnel()
        {
            // A WebSocket tunnel: its line is written when it closes, with its bytes.
            tokio::spawn(async move {
                let end = end.await.unwrap_or_default();
                pending.finish(end.bytes_down, end.reason == "closed");
            });
            return response;
        }
        // Nothing follows the head of a HEAD answer, a 204 or a 304.
        let bodiless = method == http::Method::HEAD || status == 204 || status == 304;
        response.map(|body| Logged::new(body, pending, bodiless).boxed_unsync())
    }

    fn in_flight_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, GatewayError> {
        if self.inner.draining.load(Ordering::Relaxed) {
            return Err(GatewayError::Overloaded);
        }
        self.inner
            .in_flight
            .try_acquire()
            .map_err(|_| GatewayError::Overloaded)
    }

    /// Returns the outcome and the route label for metrics.
    async fn dispatch(
        &self,
        live: &Live,
        request: Request<Incoming>,
        facts: &RequestFacts<'_>,
    ) -> (Result<Response<Body>, Failure>, Arc<String>) {
        let config = &live.config;
        let app = &self.inner.app;
        let (conn, request_id) = (facts.conn, facts.request_id);
        // The head's shape, on every HTTP version (hyper checks the count on HTTP/1 only).
        let headers = request.headers();
        if headers.len() > config.server.max_headers {
            return (
                Err(GatewayError::TooManyHeaders.into()),
                Arc::clone(&NO_ROUTE),
            );
        }
        if headers.get_all(http::header::HOST).iter().nth(1).is_some() {
            return (
                Err(GatewayError::DuplicateHost.into()),
                Arc::clone(&NO_ROUTE),
            );
        }
        // Route on the path as the upstream will read it, and forward exactly that path
        // (docs/protocol.md §4.2): `//api` or `/x/..;/api` cannot reach a route as another.
        let path = match crate::proxy::route::normalize(request.uri().path()) {
            Ok(path) => path.into_owned(),
            Err(_) => return (Err(GatewayError::BadPath.into()), Arc::clone(&NO_ROUTE)),
        };
        if path == crate::handshake::JWKS_PATH {
            // The web channel's pages fetch the JWK Set cross-origin too: the token
            // endpoint's CORS covers it.
            let outcome = self
                .with_cors(
                    config.token.cors.as_ref(),
                    request,
                    facts,
                    &TOKEN_ROUTE,
                    |request| async move {
                        crate::handshake::endpoint::jwks(config, request.method())
                            .map_err(Failure::from)
                    },
                )
                .await;
            return (outcome, Arc::clone(&TOKEN_ROUTE));
        }
        if path == config.token.path {
            let outcome = self
                .with_cors(
                    config.token.cors.as_ref(),
                    request,
                    facts,
                    &TOKEN_ROUTE,
                    |request| {
                        // Boxed: see the proxy's handler below.
                        Box::pin(crate::handshake::endpoint::handle(
                            config,
                            app,
                            conn,
                            facts.trail,
                            facts.trace,
                            request,
                        ))
                    },
                )
                .await;
            return (outcome, Arc::clone(&TOKEN_ROUTE));
        }
        let host = crate::proxy::route::request_host(request.uri(), request.headers());
        let route = crate::proxy::route::select(&config.routes, host.as_deref(), &path);
        let label = route.map_or_else(|| Arc::clone(&NO_ROUTE), |r| Arc::clone(&r.label));
        let context = crate::proxy::Context {
            config,
            generation: live.generation,
            app,
            connector: &live.connector,
            upstreams: &live.upstreams,
            jwks: &live.jwks,
            conn,
            request_id,
            path: &path,
            route,
            trail: facts.trail,
            trace: facts.trace,
        };
        let cors = route.and_then(|r| r.cors.as_ref());
        let outcome = self
            .with_cors(cors, request, facts, &label, |request| async {
                // Boxed, as the token endpoint's: the two handlers' states (kilobytes each)
                // would otherwise be inline in this request's future, which hyper and the
                // lifecycle move several times before it first runs (memcpy was 4–5 % of the
                // plain route's CPU); one allocation costs less.
                Box::pin(crate::proxy::handle(&context, request))
                    .await
                    .map_err(Failure::from)
            })
            .await;
        (outcome, label)
    }

    /// Runs `handler` behind tower-http's CORS layer when the target allows cross-origin
    /// requests: a preflight is answered by the layer (no token, no upstream), an actual
    /// request gets the CORS response headers. A failure inside is logged and counted here
    /// ([`Failure::observe`]) since the layer needs a response.
    async fn with_cors<F, Fut>(
        &self,
        cors: Option<&tower_http::cors::CorsLayer>,
        request: Request<Incoming>,
        facts: &RequestFacts<'_>,
        route: &Arc<String>,
        handler: F,
    ) -> Result<Response<Body>, Failure>
    where
        F: FnOnce(Request<Incoming>) -> Fut,
        Fut: std::future::Future<Output = Result<Response<Body>, Failure>>,
    {
        use tower::{Layer as _, ServiceExt as _};
        let Some(cors) = cors else {
            return handler(request).await;
        };
        // tower-http answers every OPTIONS as a preflight; a real preflight names its origin
        // and the method to come (Fetch standard, "CORS-preflight request"). Any other
        // OPTIONS is the client's own request and goes to the handler like any method.
        let headers = request.headers();
        if request.method() == http::Method::OPTIONS
            && !(headers.contains_key(http::header::ORIGIN)
                && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD))
        {
            let origin = headers.get(http::header::ORIGIN).cloned();
            let mut response = handler(request).await?;
            if let Some(origin) = origin {
                // An actual cross-origin OPTIONS gets the headers any actual request gets:
                // the layer's answer to the same origin on another method, copied over.
                let probe = Request::get("/")
                    .header(http::header::ORIGIN, origin)
                    .body(())
                    .unwrap_or_default();
                let inner = tower::service_fn(|_: Request<()>| async {
                    Ok::<_, std::convert::Infallible>(Response::new(()))
                });
                let Ok(probed) = cors.layer(inner).oneshot(probe).await;
                for (name, value) in probed.headers() {
                    if name.as_str().starts_with("access-control-") || name == http::header::VARY {
                        response.headers_mut().append(name.clone(), value.clone());
                    }
                }
            }
            return Ok(response);
        }
        let metrics = &self.inner.app.metrics;
        let mut handler = Some(handler);
        let inner = tower::service_fn(|request: Request<Incoming>| {
            let handler = handler.take();
            async move {
                let outcome = match handler {
                    Some(handler) => handler(request).await,
                    None => Err(Failure::Route(GatewayError::Internal(
                        "handler called twice",
                    ))),
                };
                Ok::<_, std::convert::Infallible>(outcome.unwrap_or_else(|failure| {
                    failure.observe(metrics, route, facts.request_id);
                    facts.trail.set_res_code(failure.parts().1);
                    failure.into_response()
                }))
            }
        });
        match cors.layer(inner).oneshot(request).await {
            Ok(response) => Ok(response),
            Err(never) => match never {},
        }
    }
}

/// What [`Gateway::handle`] knows of a request that its handlers are given.
struct RequestFacts<'a> {
    conn: &'a ConnInfo,
    request_id: &'a str,
    trail: &'a Arc<Trail>,
    trace: &'a RequestTrace,
}

/// The longest timeout a request can run into: the latency histograms reach it.
fn longest_timeout(config: &Config) -> std::time::Duration {
    config
        .routes
        .iter()
        .map(|route| route.upstream_timeout)
        .chain([
            config.server.body_read_timeout,
            config.server.upstream_connect_timeout,
        ])
        .max()
        .unwrap_or_default()
}

/// The keys read at start only whose values differ between `old` and `new` (docs/configuration.md's
/// reload table): a reload cannot apply them, so it says so.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.server, &new.server);
    let mut changed = Vec::new();
    let mut check = |key, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    check("server.listen", a.listen != b.listen);
    check(
        "server.max_connections",
        a.max_connections != b.max_connections,
    );
    check("server.max_in_flight", a.max_in_flight != b.max_in_flight);
    check(
        "server.header_read_timeout_ms",
        a.header_read_timeout != b.header_read_timeout,
    );
    check("server.max_headers", a.max_headers != b.max_headers);
    check(
        "server.max_header_bytes",
        a.max_header_bytes != b.max_header_bytes,
    );
    check(
        "server.http2_*",
        a.http2_max_concurrent_streams != b.http2_max_concurrent_streams
            || a.http2_keepalive_interval != b.http2_keepalive_interval
            || a.http2_keepalive_timeout != b.http2_keepalive_timeout,
    );
    check(
        "server.proxy_protocol",
        a.proxy_protocol != b.proxy_protocol,
    );
    check(
        "server.shutdown_grace_ms",
        a.shutdown_grace != b.shutdown_grace,
    );
    check("server.drain_delay_ms", a.drain_delay != b.drain_delay);
    check("server.send_timeout_ms", a.send_timeout != b.send_timeout);
    check(
        "server.max_connections_per_address",
        a.max_connections_per_address != b.max_connections_per_address,
    );
    check("server.workers", a.workers != b.workers);
    // A listener's certificate files reload; which files, and the rest of it, do not.
    check("tls", old.tls != new.tls);
    check("demo_upstream", old.demo_upstream != new.demo_upstream);
    check(
        "token.sweep_interval_ms",
        old.token.sweep_interval != new.token.sweep_interval,
    );
    check("admin", old.admin != new.admin);
    check(
        "token.max_sessions",
        old.token.max_sessions != new.token.max_sessions,
    );
    check(
        "token.max_concurrent_secret_checks",
        old.token.max_concurrent_secret_checks != new.token.max_concurrent_secret_checks,
    );
    check("sessions", old.sessions.replay != new.sessions.replay);
    check("access_log", old.access_log != new.access_log);
    check("tracing", old.tracing != new.tracing);
    changed
}

/// Request ids made here: a random per-process prefix and a counter. Unique and cheap (no
/// system call per request); not secret, so predictability does not matter.
static REQUEST_IDS: std::sync::LazyLock<(String, std::sync::atomic::AtomicU64)> =
    std::sync::LazyLock::new(|| {
        let prefix = crate::crypto::random::bytes::<8>()
            .map_or_else(|_| format!("{:016x}", std::process::id()), hex::encode);
        (prefix, std::sync::atomic::AtomicU64::new(0))
    });

/// Keeps a client's `X-Request-Id` when it is short and plain (so it is safe to log and to
/// forward), otherwise makes a new one. Public for the middleware benchmark.
pub fn request_id(incoming: Option<&HeaderValue>) -> String {
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
            let (prefix, counter) = &*REQUEST_IDS;
            let n = counter.fetch_add(1, Ordering::Relaxed);
            // By hand rather than `format!`: this runs on every request.
            let mut id = String::with_capacity(prefix.len() + 16);
            id.push_str(prefix);
            for shift in (0..16).rev() {
                id.push(char::from(
                    b"0123456789abcdef"[((n >> (shift * 4)) & 0xf) as usize],
                ));
            }
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(
            text,
            std::path::Path::new("t"),
            std::path::Path::new("."),
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn a_reload_names_the_keys_it_cannot_apply() {
        let old = config("[server]\nlisten = \"127.0.0.1:1\"\n");
        let new = config(
            "[server]\nlisten = \"127.0.0.1:2\"\nmax_in_flight = 3\nbody_read_timeout_ms = 5\n\
             send_timeout_ms = 7\nmax_connections_per_address = 9\nworkers = 2\n\
             [token]\nsweep_interval_ms = 11\n[demo_upstream]\n",
        );
        assert_eq!(
            restart_only_changes(&old, &new),
            [
                "server.listen",
                "server.max_in_flight",
                "server.send_timeout_ms",
                "server.max_connections_per_address",
                "server.workers",
                "demo_upstream",
                "token.sweep_interval_ms",
            ],
            "body_read_timeout_ms applies on reload"
        );
        let tls = |poll: u64| {
            config(&format!(
                "[[tls]]\nreload_poll_ms = {poll}\n[[tls.certificates]]\ncert_file = \"c.pem\"\n\
                 key_file = \"k.pem\"\n"
            ))
        };
        assert_eq!(restart_only_changes(&tls(1), &tls(2)), ["tls"]);
        assert!(restart_only_changes(&old, &old).is_empty());
    }

    #[test]
    fn request_ids_are_kept_only_when_plain() {
        let keep = HeaderValue::from_static("abc-123_x.y");
        assert_eq!(request_id(Some(&keep)), "abc-123_x.y");
        let odd = HeaderValue::from_static("a b\"c");
        let made = request_id(Some(&odd));
        assert_eq!(made.len(), 32);
        assert_ne!(request_id(None), request_id(None));
        let (a, b) = (request_id(None), request_id(None));
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // The counter is the last 16 digits (other tests may take ids in between).
        let n = |id: &str| u64::from_str_radix(&id[16..], 16).unwrap();
        assert!(n(&b) > n(&a));
    }
}

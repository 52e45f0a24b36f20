//! The listeners: a plain HTTP one (`server.listen`) and any number of HTTPS ones
//! (`[[tls]]`). Each accepts TCP connections under one shared bound, completes the TLS
//! handshake under a deadline, serves HTTP/1.1 and HTTP/2 (ALPN, or the h2 preface on
//! plain connections) with hyper-util, and cuts clients that do not send a request head in
//! time. Certificates reload on SIGHUP and when their files change.
//!
//! Connections are served by [`workers`], a thread and runtime each; the thread that calls
//! [`Server::run`] keeps the control plane (signals, the admin listener, background tasks).
//! Shutdown is graceful: stop accepting, let in-flight requests finish, give up at the
//! configured deadline. `Server::bind` then `Server::run(shutdown)`, so tests bind port 0.
//! The process signals (SIGHUP for reload, SIGINT/SIGTERM for shutdown) live in
//! [`signals`].

pub mod idle;
pub mod proxy_protocol;
pub mod signals;
pub mod workers;

pub use signals::shutdown_signal;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsListenerConfig;
use crate::context::{ConnInfo, ConnectionHold};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::tls::{self, CertStore, TlsError};

/// Start-up failures of the listeners. Each names the listener by its configuration key,
/// so a port clash on the admin listener does not read like one on the public one.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A listener could not bind.
    #[error("cannot bind the {listener} on {addr}: {source}")]
    Bind {
        /// Which listener, by its configuration key (e.g. "admin listener (`admin.listen`)").
        listener: String,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A TLS listener's certificates or CA bundle are unusable.
    #[error("config key `tls[{index}]` (listener {addr}): {source}")]
    Tls {
        /// Its place in `[[tls]]`.
        index: usize,
        /// The listener.
        addr: SocketAddr,
        /// What is wrong.
        source: TlsError,
    },
}

struct TlsEndpoint {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    store: Arc<CertStore>,
    config: TlsListenerConfig,
}

/// Bound, not yet running, listeners.
pub struct Server {
    gateway: Gateway,
    plain: TcpListener,
    tls: Vec<TlsEndpoint>,
    admin: Option<(TcpListener, crate::config::AdminConfig)>,
    /// The file SIGHUP reloads the configuration from (none: SIGHUP reloads certificates
    /// only).
    config_path: Option<PathBuf>,
}

async fn bind(listener: String, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            listener,
            addr,
            source,
        })
}

/// A TLS listener made ready: its certificates loaded and its rustls configuration built,
/// no socket yet.
struct PreparedTls {
    acceptor: TlsAcceptor,
    store: Arc<CertStore>,
    config: TlsListenerConfig,
}

/// Every listener made ready without binding a socket: what `check-config` builds to
/// check a file exactly as start would, and what [`Listeners::bind`] then binds.
pub struct Listeners {
    gateway: Gateway,
    tls: Vec<PreparedTls>,
}

/// Why [`Listeners::for_config`] could not make the gateway ready.
#[derive(Debug, Error)]
pub enum PrepareError {
    /// The gateway could not be built.
    #[error(transparent)]
    Gateway(#[from] crate::gateway::StartError),
    /// A listener could not be made ready.
    #[error(transparent)]
    Listener(#[from] ServerError),
}

impl Listeners {
    /// Everything start builds, in the order it builds it, without binding a socket: the
    /// gateway (upstream TLS, session state and its Redis client, and with
    /// [`Outputs::Open`] the access log and trace exporter), then every listener's
    /// certificates. Start binds what this returns; `check-config` stops here, so it checks
    /// what start would by construction. Call it inside a Tokio runtime (the Redis client
    /// is made on one; nothing connects until used).
    ///
    /// [`Outputs::Open`]: crate::gateway::Outputs::Open
    pub fn for_config(
        config: Arc<crate::config::Config>,
        clock: crate::clock::Clock,
        outputs: crate::gateway::Outputs,
    ) -> Result<Self, PrepareError> {
        let gateway = Gateway::build(config, clock, outputs)?;
        Ok(Self::prepare(gateway)?)
    }

    /// The gateway these listeners serve.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Loads the certificates and builds the TLS configuration of every `[[tls]]` listener.
    pub fn prepare(gateway: Gateway) -> Result<Self, ServerError> {
        let config = gateway.config();
        let mut tls = Vec::new();
        for (index, listener_config) in config.tls.iter().enumerate() {
            let addr = listener_config.listen;
            let tls_error = |source| ServerError::Tls {
                index,
                addr,
                source,
            };
            let store =
                Arc::new(CertStore::load(listener_config.certificates.clone()).map_err(tls_error)?);
            let server_config =
                tls::server_config(listener_config, Arc::clone(&store)).map_err(tls_error)?;
            tls.push(PreparedTls {
                acceptor: TlsAcceptor::from(server_config),
                store,
                config: listener_config.clone(),
            });
        }
        Ok(Listeners { gateway, tls })
    }

    /// Binds every listener: the public one, the TLS ones, the admin one.
    pub async fn bind(self) -> Result<Server, ServerError> {
        let Listeners { gateway, tls } = self;
        let config = gateway.config();
        let plain = bind(
            "public listener (`server.listen`)".to_owned(),
            config.server.listen,
        )
        .await?;
        let mut endpoints = Vec::new();
        for (index, prepared) in tls.into_iter().enumerate() {
            endpoints.push(TlsEndpoint {
                listener: bind(
                    format!("TLS listener (`tls[{index}].listen`)"),
                    prepared.config.listen,
                )
                .await?,
                acceptor: prepared.acceptor,
                store: prepared.store,
                config: prepared.config,
            });
        }
        let admin = match &config.admin {
            Some(admin) => Some((
                bind("admin listener (`admin.listen`)".to_owned(), admin.listen).await?,
                admin.clone(),
            )),
            None => None,
        };
        Ok(Server {
            gateway,
            plain,
            tls: endpoints,
            admin,
            config_path: None,
        })
    }
}

impl Server {
    /// Loads every listener's certificates and binds every listener
    /// ([`Listeners::prepare`] then [`Listeners::bind`]).
    pub async fn bind(gateway: Gateway) -> Result<Self, ServerError> {
        Listeners::prepare(gateway)?.bind().await
    }

    /// On SIGHUP, also reload the configuration from `path` (see [`signals`]).
    pub fn reload_config_from(mut self, path: PathBuf) -> Self {
        self.config_path = Some(path);
        self
    }

    /// The plain listener's address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.plain.local_addr()
    }

    /// The admin listener's address, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The TLS listeners' addresses, in configuration order.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .iter()
            .filter_map(|t| t.listener.local_addr().ok())
            .collect()
    }

    /// The TLS listeners' certificate stores, in configuration order.
    pub fn cert_stores(&self) -> Vec<Arc<CertStore>> {
        self.tls.iter().map(|t| Arc::clone(&t.store)).collect()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests for at most the
    /// configured grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Server {
            gateway,
            plain,
            tls,
            admin,
            config_path,
        } = self;
        let server = gateway.config().server.clone();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // One deadline per connection, not a timer reset per request head: the idle
            // deadline (see `idle`) already closes a connection that has no request in
            // progress for `header_read_timeout` — which is every moment a head is still
            // arriving, since a request is in progress only once its head is parsed.
            .header_read_timeout(None)
            .max_headers(server.max_headers)
            .max_buf_size(server.max_header_bytes);
        // HTTP/2: a bound on concurrent streams, and pings so a peer that vanished without
        // closing is noticed; the idle deadline (see `idle`) covers a silent live peer.
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(server.http2_max_concurrent_streams)
            .keep_alive_interval(Some(server.http2_keepalive_interval))
            .keep_alive_timeout(server.http2_keepalive_timeout);
        let shared = Arc::new(Connections {
            builder,
            gateway: gateway.clone(),
            connections: Arc::new(Semaphore::new(server.max_connections)),
            idle_timeout: server.header_read_timeout,
            send_timeout: server.send_timeout,
            per_address: dashmap::DashMap::new(),
            max_per_address: server.max_connections_per_address,
        });
        let graceful = Arc::new(GracefulShutdown::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        // SIGHUP is handled from before the first connection is served (its default action
        // ends the process).
        let hangups = signals::reload_on_hangup(
            config_path,
            gateway.clone(),
            tls.iter().map(|t| Arc::clone(&t.store)).collect(),
        );
        // The workers, each a thread with its own runtime accepting on the listening
        // sockets; this thread runs the control plane (see `workers`). Every socket handle
        // is made before any worker starts, so a failure leaves nothing serving.
        let (finish_tx, finish_rx) = watch::channel(false);
        let mut listening = Vec::new();
        for _ in 0..server.worker_count() {
            let mut sockets = vec![workers::Listening::share(
                &plain,
                None,
                server.proxy_protocol,
            )?];
            for endpoint in &tls {
                sockets.push(workers::Listening::share(
                    &endpoint.listener,
                    Some((endpoint.acceptor.clone(), endpoint.config.handshake_timeout)),
                    endpoint.config.proxy_protocol,
                )?);
            }
            listening.push(sockets);
        }
        // The workers hold their own handles now; these close with this function.
        drop(plain);
        let mut workers = Vec::new();
        {
            let shared_with_workers = workers::Shared {
                connections: Arc::clone(&shared),
                graceful: Arc::clone(&graceful),
                stop: stop_rx.clone(),
                finish: finish_rx,
            };
            for (index, sockets) in listening.into_iter().enumerate() {
                match workers::Worker::start(index, sockets, &shared_with_workers) {
                    Ok(worker) => workers.push(worker),
                    Err(error) => {
                        tracing::error!(worker = index, %error, "cannot start a worker");
                        let _ = stop_tx.send(true);
                        let _ = finish_tx.send(true);
                        for worker in workers {
                            worker.join().await;
                        }
                        return Err(error);
                    }
                }
            }
        }
        let mut watchers = tokio::task::JoinSet::new();
        watchers.spawn(hangups);
        for endpoint in tls {
            watchers.spawn(signals::watch_certificate_files(
                Arc::clone(&endpoint.store),
                endpoint.config.reload_poll,
                gateway.metrics().certificate_reloads.clone(),
            ));
        }
        let background = gateway.spawn_background();
        // The admin listener keeps answering while draining, so /readyz can say so; it
        // stops after the drain.
        let (admin_stop, admin_stop_rx) = watch::channel(false);
        if let Some((listener, config)) = admin {
            watchers.spawn(crate::admin::serve(
                listener,
                config,
                gateway.clone(),
                admin_stop_rx,
            ));
        }

        shutdown.await;
        // First tell the balancer (`/readyz` fails at once) and keep accepting for the drain
        // delay, so it stops sending before connections are refused; then stop accepting.
        gateway.mark_unready();
        if !server.drain_delay.is_zero() {
            tracing::info!(delay = ?server.drain_delay, "shutting down: /readyz fails; still accepting for the drain delay");
            tokio::time::sleep(server.drain_delay).await;
        }
        let _ = stop_tx.send(true);
        for worker in &mut workers {
            worker.stopped_accepting().await;
        }
        gateway.begin_draining();
        tracing::info!("shutting down: no longer accepting; draining in-flight requests");
        let drained = match Arc::try_unwrap(graceful) {
            Ok(graceful) => tokio::time::timeout(server.shutdown_grace, graceful.shutdown())
                .await
                .is_ok(),
            Err(_) => {
                // Only the accept loops hold it, and they have all ended: a clone kept
                // elsewhere is a bug, and skips the drain.
                tracing::error!("the shutdown's handle is still shared: not draining");
                false
            }
        };
        if drained {
            tracing::info!("all connections closed");
        } else {
            tracing::warn!(grace = ?server.shutdown_grace, "shutdown deadline reached; closing the remaining connections");
        }
        let _ = finish_tx.send(true);
        for worker in workers {
            worker.join().await;
        }
        drop(background);
        let _ = admin_stop.send(true);
        watchers.abort_all();
        Ok(())
    }
}

/// What every connection of every listener shares.
struct Connections {
    builder: auto::Builder<TokioExecutor>,
    gateway: Gateway,
    connections: Arc<Semaphore>,
    /// A connection with no request in progress this long is closed (see [`idle`]).
    idle_timeout: Duration,
    /// An answer its client reads nothing of for this long is cut (see [`idle`]).
    send_timeout: Duration,
    /// Connections held by each client address (IPv6 by /64), and the most one may hold.
    per_address: dashmap::DashMap<IpAddr, usize>,
    max_per_address: usize,
}

/// The key a client address is counted under: itself, or its /64 for IPv6 (one host is
/// commonly given a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    crate::wire::ip_prefix(ip, 32, 64)
}

/// One connection counted against its address's share; dropping it releases it.
struct AddressSlot {
    shared: Arc<Connections>,
    key: Option<IpAddr>,
}

/// What a client connection holds while it lives, released together when the last
/// [`ConnectionHold`] clone goes: the HTTP connection's, or an upgraded tunnel's after it.
struct Slots {
    _connection: OwnedSemaphorePermit,
    _address: AddressSlot,
    /// Keeps the drain waiting (hyper-util's shutdown waits for every watcher).
    _drain: Watcher,
}

/// Counts a connection in `sealgate_connections_open` while it lives.
struct OpenConnection(prometheus_client::metrics::gauge::Gauge);

impl OpenConnection {
    fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        OpenConnection(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Connections {
    /// Counts a connection from `source` (exempt: a trusted proxy), or refuses it when the
    /// address already holds its share.
    fn address_slot(self: &Arc<Self>, source: IpAddr) -> Option<AddressSlot> {
        // An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`.
        let source = source.to_canonical();
        let trusted = &self.gateway.config().server.trusted_proxies;
        if trusted.iter().any(|net| net.contains(&source)) {
            return Some(AddressSlot {
                shared: Arc::clone(self),
                key: None,
            });
        }
        let key = address_key(source);
        let mut held = self.per_address.entry(key).or_insert(0);
        if *held >= self.max_per_address {
            return None;
        }
        *held += 1;
        Some(AddressSlot {
            shared: Arc::clone(self),
            key: Some(key),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.shared.per_address.remove_if_mut(&key, |_, held| {
                *held -= 1;
                *held == 0
            });
        }
    }
}

async fn accept_loop(
    worker: usize,
    listener: TcpListener,
    tls: Option<(TlsAcceptor, Duration)>,
    proxy_protocol: bool,
    shared: Arc<Connections>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    let accepted_here = shared
        .gateway
        .metrics()
        .worker_connections
        .get_or_create(&crate::metrics::WorkerLabel { worker })
        .clone();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // Then a connection slot: past the limit, this loop holds the one connection it
        // took (and accepts no other) while the rest wait in the kernel's backlog. Taking
        // the slot first would park one per idle accept loop (workers × listeners) and
        // leave the limit short by as many.
        let permit = tokio::select! {
            permit = Arc::clone(&shared.connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        accepted_here.inc();
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let drain = graceful.watcher();
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            // Behind a balancer speaking the PROXY protocol, the connection's source is the
            // address its header names (read before TLS, as the balancer sends it).
            let source = if proxy_protocol {
                let trusted = &shared.gateway.config().server.trusted_proxies;
                match proxy_protocol::read_source(&mut stream, peer, trusted, shared.idle_timeout)
                    .await
                {
                    Ok(source) => source,
                    Err(error) => {
                        shared
                            .gateway
                            .metrics()
                            .rejected
                            .get_or_create(&crate::metrics::RefusalLabel {
                                route: std::sync::Arc::clone(&crate::metrics::NO_ROUTE),
                                res_code: "PROXY001",
                            })
                            .inc();
                        tracing::info!(%peer, %error, "connection refused");
                        return;
                    }
                }
            } else {
                peer.ip()
            };
            let Some(address_slot) = shared.address_slot(source) else {
                shared.gateway.metrics().count_cut("address_share");
                tracing::debug!(%peer, %source, "connection refused: the address holds its share of connections");
                return;
            };
            let slots = Slots {
                _connection: permit,
                _address: address_slot,
                _drain: drain,
            };
            match tls {
                None => {
                    let mut info = ConnInfo::new(peer, http::uri::Scheme::HTTP, None);
                    info.source = source;
                    info.client = source;
                    serve(&shared, watcher, stream, info, slots).await;
                }
                Some((acceptor, timeout)) => {
                    handshake_and_serve(
                        &shared, watcher, stream, peer, source, acceptor, timeout, slots,
                    )
                    .await
                }
            }
        });
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one connection's facts, passed once from the accept loop"
)]
async fn handshake_and_serve(
    shared: &Connections,
    watcher: Watcher,
    stream: TcpStream,
    peer: SocketAddr,
    source: std::net::IpAddr,
    acceptor: TlsAcceptor,
    timeout: Duration,
    slots: Slots,
) {
    let handshakes = &shared.gateway.metrics().tls_handshakes;
    // Held here, not inside the timeout, so that a timed-out handshake is counted before its
    // socket closes: whoever sees the close and then reads the metrics finds it counted.
    let accept = acceptor.accept(stream);
    tokio::pin!(accept);
    let stream = match tokio::time::timeout(timeout, &mut accept).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            Metrics::count(handshakes, "failed");
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            Metrics::count(handshakes, "timeout");
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    Metrics::count(handshakes, "ok");
    let connection = stream.get_ref().1;
    let subject = tls::peer_subject(connection.peer_certificates());
    let version = connection.protocol_version();
    let mut info = ConnInfo::new(peer, http::uri::Scheme::HTTPS, subject);
    info.tls = match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => Some("TLSv1.3"),
        Some(rustls::ProtocolVersion::TLSv1_2) => Some("TLSv1.2"),
        _ => Some("TLS"),
    };
    info.source = source;
    info.client = source;
    serve(shared, watcher, stream, info, slots).await;
}

/// The status hyper answered a connection's unreadable request head with, if that is how
/// the connection ended.
fn refused_status(error: &(dyn std::error::Error + 'static)) -> Option<u16> {
    let hyper = error.downcast_ref::<hyper::Error>()?;
    if hyper.is_parse_too_large() {
        // hyper answers an over-long URI with 414 and an over-large head with 431; both
        // are "too large" to its public API, and only its message tells them apart.
        if hyper.to_string().contains("URI") {
            Some(414)
        } else {
            Some(431)
        }
    } else if hyper.is_parse() {
        Some(400)
    } else {
        None
    }
}

async fn serve<I>(shared: &Connections, watcher: Watcher, io: I, mut info: ConnInfo, slots: Slots)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hold = ConnectionHold::new((
        slots,
        OpenConnection::new(&shared.gateway.metrics().connections_open),
    ));
    info.hold = Some(hold.clone());
    let peer = info.peer;
    let refused_info = info.clone();
    let gateway = shared.gateway.clone();
    let activity = idle::Activity::new();
    let service = {
        let activity = Arc::clone(&activity);
        service_fn(move |request| {
            let gateway = gateway.clone();
            let info = info.clone();
            let in_progress = activity.begin();
            async move {
                let response = gateway.handle(request, info).await;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| idle::track(body, in_progress)),
                )
            }
        })
    };
    // With upgrades: a route that allows WebSocket answers `101` and takes the socket over
    // (`proxy::tunnel`); every other `Upgrade` is refused before it reaches a route.
    let connection = shared
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    tokio::select! {
        result = watcher.watch(connection) => {
            if let Err(error) = result {
                // hyper answers a head it cannot parse itself (400, or 431 when too large):
                // the request never reached the gateway, so its access line is written here.
                if let Some(status) = refused_status(&*error) {
                    shared.gateway.log_refused_request(&refused_info, status);
                }
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        }
        () = Arc::clone(&activity).idle_for(shared.idle_timeout) => {
            tracing::debug!(%peer, "connection closed: no request in progress within the deadline");
        }
        () = activity.stalled_for(shared.send_timeout) => {
            shared.gateway.metrics().count_cut("send_timeout");
            tracing::info!(%peer, "connection cut: the client read nothing of its answer within server.send_timeout_ms");
        }
    }
    // A tunnel that took the socket over holds its own clone.
    drop(hold);
}

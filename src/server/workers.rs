//! Workers: the threads that serve connections, each running its own single-threaded Tokio
//! runtime (nginx's and Pingora's model, a runtime per core). A connection, its requests,
//! its hyper tasks and the upstream connections it opens stay on the thread that accepted
//! it, so nothing of a request moves between cores: no work stealing, no task queue or
//! waker shared between cores. What workers share is what must be shared: the
//! configuration, the session state, the connection bounds and the metrics.
//!
//! Every worker accepts on every listener. The listening socket is one (the main thread's,
//! bound at start), shared by file descriptor, not `SO_REUSEPORT` sockets bound once per
//! worker: with `SO_REUSEPORT` a second process started by mistake on the same address (as
//! the same user) would silently share the traffic instead of failing to bind, and
//! connections queued on a worker's socket would be lost if it stopped. The kernel wakes
//! every worker waiting on a shared socket for a new connection and one accepts it; for the
//! keep-alive connections a gateway serves, that costs little.
//!
//! The thread that calls [`super::Server::run`] serves no connection: it runs the control
//! plane (signals, reloads, the admin listener, the background tasks, health probes, the
//! Redis client's connection), so a worker saturated with requests never delays another
//! worker's Redis round trip or a probe.

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;

use super::{Connections, accept_loop};

/// One listener as a worker accepts on it: the shared socket, and what a connection of it
/// needs (TLS, the PROXY protocol).
pub(super) struct Listening {
    pub(super) socket: StdListener,
    pub(super) tls: Option<(TlsAcceptor, std::time::Duration)>,
    pub(super) proxy_protocol: bool,
}

impl Listening {
    /// A second handle on `listener`'s socket, for another worker's runtime.
    pub(super) fn share(
        listener: &TcpListener,
        tls: Option<(TlsAcceptor, std::time::Duration)>,
        proxy_protocol: bool,
    ) -> std::io::Result<Self> {
        let socket: StdListener = socket2::SockRef::from(listener).try_clone()?.into();
        socket.set_nonblocking(true)?;
        Ok(Listening {
            socket,
            tls,
            proxy_protocol,
        })
    }
}

/// A worker's thread.
pub(super) struct Worker {
    thread: JoinHandle<()>,
    /// Resolves once the worker has stopped accepting.
    stopped: oneshot::Receiver<()>,
}

/// What every worker is given.
pub(super) struct Shared {
    pub(super) connections: Arc<Connections>,
    pub(super) graceful: Arc<GracefulShutdown>,
    /// `true`: stop accepting.
    pub(super) stop: watch::Receiver<bool>,
    /// `true`: the drain is over (or its deadline passed); end the runtime, which closes
    /// whatever connections remain.
    pub(super) finish: watch::Receiver<bool>,
}

impl Worker {
    /// Starts worker `index` (0, 1, …) on its own thread and runtime, accepting on every
    /// listener of `listening`. Fails, with nothing left running, when the thread or its
    /// runtime cannot be made (a tasks limit, say).
    pub(super) fn start(
        index: usize,
        listening: Vec<Listening>,
        shared: &Shared,
    ) -> std::io::Result<Self> {
        let (stopped_tx, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let connections = Arc::clone(&shared.connections);
        let graceful = Arc::clone(&shared.graceful);
        let stop = shared.stop.clone();
        let mut finish = shared.finish.clone();
        // Logs go where the starting thread's go (the global subscriber in the binary; a
        // test's own capture in the tests).
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let thread = std::thread::Builder::new()
            .name(format!("sealgate-worker-{index}"))
            .spawn(move || {
                let _logs = tracing::dispatcher::set_default(&dispatch);
                // Made here, on its own thread, so a failure drops nothing inside another
                // runtime.
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        let _ = ready_tx.send(Ok(()));
                        runtime
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                crate::upstream::pool::set_worker(index);
                runtime.block_on(async move {
                    let mut loops = tokio::task::JoinSet::new();
                    for listener in listening {
                        match TcpListener::from_std(listener.socket) {
                            Ok(socket) => {
                                loops.spawn(accept_loop(
                                    index,
                                    socket,
                                    listener.tls,
                                    listener.proxy_protocol,
                                    Arc::clone(&connections),
                                    Arc::clone(&graceful),
                                    stop.clone(),
                                ));
                            }
                            Err(error) => {
                                tracing::error!(worker = index, %error, "a worker cannot use a listener");
                            }
                        }
                    }
                    // Only the accept loops may hold the shutdown's handle: it is unwrapped
                    // once every loop has ended.
                    drop(graceful);
                    while loops.join_next().await.is_some() {}
                    let _ = stopped_tx.send(());
                    let _ = finish.wait_for(|finished| *finished).await;
                });
                // Dropping the runtime ends the connections still open past the grace
                // period; their access lines are queued as they drop.
                drop(runtime);
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Worker { thread, stopped }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(std::io::Error::other("a worker thread ended at start")),
        }
    }

    /// Waits until the worker has stopped accepting (or has ended).
    pub(super) async fn stopped_accepting(&mut self) {
        let _ = (&mut self.stopped).await;
    }

    /// Waits for the thread to end (after `finish`).
    pub(super) async fn join(self) {
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

//! The listener: accepts TCP connections up to a bound, serves HTTP/1.1 and HTTP/2 on each
//! with hyper-util, cuts clients that do not send a request head in time, and shuts down
//! gracefully: on the shutdown signal it stops accepting, lets in-flight requests finish,
//! and gives up at a deadline.
//!
//! `Server::bind` then `Server::run(shutdown)`, so tests bind `127.0.0.1:0` and read the
//! port from [`Server::local_addr`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::gateway::{ConnInfo, Gateway};

/// A bound, not yet running, public listener.
pub struct Server {
    listener: TcpListener,
    gateway: Gateway,
}

impl Server {
    /// Binds the configured address (port 0 picks a free one).
    pub async fn bind(gateway: Gateway) -> io::Result<Self> {
        let listener = TcpListener::bind(gateway.config().server.listen).await?;
        Ok(Server { listener, gateway })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests for at most the
    /// configured grace period. Background tasks (the session sweeper) stop with it.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Server { listener, gateway } = self;
        let server = gateway.config().server.clone();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(server.header_read_timeout)
            .max_headers(server.max_headers);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(server.max_connections));
        let sweeper = tokio::spawn(gateway.clone().sweep_sessions());
        let mut shutdown = std::pin::pin!(shutdown);

        loop {
            // Wait for a connection slot first, so past the limit new clients queue in the
            // kernel's backlog instead of costing us memory.
            let permit = tokio::select! {
                permit = Arc::clone(&connections).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
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
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let info = ConnInfo {
                peer,
                scheme: http::uri::Scheme::HTTP,
            };
            let service_gateway = gateway.clone();
            let service = service_fn(move |request| {
                let gateway = service_gateway.clone();
                let info = info.clone();
                async move { Ok::<_, std::convert::Infallible>(gateway.handle(request, info).await) }
            });
            let builder = Arc::clone(&builder);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                drop(permit);
            });
        }

        drop(listener);
        gateway.begin_draining();
        tracing::info!(
            in_flight = graceful.count(),
            "shutting down: draining connections"
        );
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(server.shutdown_grace) => {
                tracing::warn!(grace = ?server.shutdown_grace, "shutdown deadline reached; closing the remaining connections");
            }
        }
        sweeper.abort();
        Ok(())
    }
}

/// Completes on SIGINT or SIGTERM (the process-level shutdown signal for `main`).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

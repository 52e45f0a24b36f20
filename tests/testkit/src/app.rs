//! A gateway running in the test's runtime: bound on the configuration's ports (port 0 in
//! the test configuration), reading time from a [`Clock`] the test can move forward, and
//! shut down when the [`TestApp`] is dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;

use sealgate::clock::Clock;
use sealgate::config::Config;
use sealgate::gateway::Gateway;
use sealgate::server::Server;

/// A running gateway.
pub struct TestApp {
    /// The plain listener.
    pub addr: SocketAddr,
    /// The HTTPS listeners, in configuration order.
    pub tls_addrs: Vec<SocketAddr>,
    /// The admin listener, if enabled.
    pub admin_addr: Option<SocketAddr>,
    /// The gateway (its sessions, metrics, live reload).
    pub gateway: Gateway,
    /// The clock the gateway reads: [`Clock::advance`] moves time for token expiry instead
    /// of sleeping.
    pub clock: Clock,
    shutdown: Option<oneshot::Sender<()>>,
    /// The server task; resolves once the server has stopped.
    pub stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// `http://{addr}{path}` on the plain listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Signals shutdown (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// Starts a gateway on `config` with its own clock (at system time until advanced).
pub async fn spawn_app(config: Config) -> TestApp {
    let clock = Clock::system();
    let gateway =
        Gateway::with_clock(Arc::new(config), clock.clone()).expect("upstream TLS set-up");
    let server = Server::bind(gateway.clone()).await.expect("bind");
    let addr = server.local_addr().unwrap();
    let tls_addrs = server.tls_addrs();
    let admin_addr = server.admin_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let stopped = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        tls_addrs,
        admin_addr,
        gateway,
        clock,
        shutdown: Some(tx),
        stopped: Some(stopped),
    }
}

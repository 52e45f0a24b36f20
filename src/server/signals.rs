//! The process's signals, in one place: SIGHUP reloads the configuration (when the server
//! was given its file) and every listener's certificates, counted in
//! `sealgate_config_reloads_total{outcome}`; SIGINT and SIGTERM start the graceful shutdown.
//! Certificate files are also polled for changes, so a renewal needs no signal at all.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::gateway::Gateway;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::{Metrics, OutcomeLabel};
use crate::tls::CertStore;

/// On every SIGHUP: reads the configuration file again and puts it in force (a file that
/// does not load is refused with a log line and the running configuration kept), then
/// reloads every listener's certificates (a broken file never replaces a working one).
pub fn reload_on_hangup(
    config_path: Option<PathBuf>,
    gateway: Gateway,
    stores: Vec<Arc<CertStore>>,
) -> impl Future<Output = ()> {
    // Registered now, before any worker serves: SIGHUP's default action ends the process.
    let mut hangup = hangup_signal();
    async move {
        loop {
            next_hangup(&mut hangup).await;
            // Files are read and parsed, secrets hashed and TLS configurations built off the
            // control thread's runtime, which keeps answering the admin listener meanwhile.
            let (path, gateway, stores) = (config_path.clone(), gateway.clone(), stores.clone());
            let _ = tokio::task::spawn_blocking(move || reload(path.as_deref(), &gateway, &stores))
                .await;
        }
    }
}

/// One SIGHUP's work: the access log reopened, the configuration reloaded from `path`, the
/// certificates read again.
fn reload(path: Option<&std::path::Path>, gateway: &Gateway, stores: &[Arc<CertStore>]) {
    // Log rotation's `postrotate` sends SIGHUP: the access log moves to the new file
    // whether or not the configuration loads.
    gateway.reopen_access_log();
    if let Some(path) = path {
        let result = match Config::load(path) {
            Ok(config) => gateway.reload(config).map_err(|e| e.to_string()),
            Err(error) => {
                Metrics::count(&gateway.metrics().config_reloads, "refused");
                Err(error.to_string())
            }
        };
        match result {
            Ok(()) => tracing::info!(path = %path.display(), "configuration reloaded"),
            Err(error) => {
                tracing::error!(%error, "configuration reload refused; keeping the running configuration")
            }
        }
    }
    for store in stores {
        report_certificates(&gateway.metrics().certificate_reloads, store.reload());
    }
}

/// Reloads a listener's certificates whenever their files change (checked every `poll`).
/// Polling modification times rather than inotify: it also sees the symlink swaps that
/// Kubernetes secret mounts and certbot do, at a negligible cost.
pub async fn watch_certificate_files(
    store: Arc<CertStore>,
    poll: Duration,
    reloads: Family<OutcomeLabel, Counter>,
) {
    let mut interval = tokio::time::interval(poll);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Some(result) = store.reload_if_changed() {
            report_certificates(&reloads, result);
        }
    }
}

fn report_certificates(
    reloads: &Family<OutcomeLabel, Counter>,
    result: Result<(), crate::tls::TlsError>,
) {
    match result {
        Ok(()) => {
            Metrics::count(reloads, "ok");
            tracing::info!("TLS certificates reloaded");
        }
        Err(error) => {
            Metrics::count(reloads, "refused");
            tracing::error!(%error, "TLS certificate reload refused; keeping the current certificates")
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
}

async fn next_hangup(hangup: &mut Hangup) {
    #[cfg(unix)]
    if let Some(signal) = hangup
        && signal.recv().await.is_some()
    {
        return;
    }
    std::future::pending::<()>().await;
}

/// Completes on SIGINT or SIGTERM (the process-level shutdown signal for `main`). Both are
/// registered when this is called, not when the future is first polled: the workers serve
/// before the control thread first waits, and a signal's default action in that window
/// would kill the process without a drain. Call it inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => tracing::info!("SIGINT received"),
                () = wait(terminate) => tracing::info!("SIGTERM received"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("SIGINT received");
        }
    }
}

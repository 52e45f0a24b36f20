//! `sealgate run` (the default): prepare, bind, serve until SIGINT/SIGTERM, drain.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::fail;
use crate::clock::Clock;
use crate::config::Config;
use crate::gateway::Outputs;
use crate::server::{self, Listeners};

pub(super) fn run(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => Arc::new(config),
        Err(error) => return fail(&error),
    };
    if config.token.keys.is_ephemeral() {
        tracing::warn!(
            "NO TOKEN KEYS CONFIGURED: using a random key made at start. Tokens will NOT \
             survive a restart and will not work on other instances. Configure [[token.keys]] \
             for production (see `sealgate gen-key`)."
        );
    }
    if config.gateway_keys.is_ephemeral() {
        tracing::warn!(
            "NO GATEWAY KEYS CONFIGURED: using a random signing and encryption key made at \
             start. Clients cannot pin them, and they change on every restart. Configure \
             [[gateway_keys]] for production (see `sealgate gen-gateway-key`)."
        );
    }
    // This thread's runtime is worker 0 and runs the signals, the admin listener and the
    // background tasks; the server starts the other workers, a runtime each
    // (`server::workers`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    let mut last = None;
    let code = runtime.block_on(async {
        if let Some(addr) = config.demo_upstream {
            match crate::demo::bind(addr).await {
                Ok((local, serve)) => {
                    tracing::info!(%local, "demo echo upstream listening");
                    tokio::spawn(serve);
                }
                Err(error) => {
                    return fail(&format!(
                        "cannot bind the demo upstream (`demo_upstream.listen`) on {addr}: {error}"
                    ));
                }
            }
        }
        let prepared =
            match Listeners::for_config(Arc::clone(&config), Clock::system(), Outputs::Open) {
                Ok(prepared) => prepared,
                Err(error) => return fail(&error),
            };
        let gateway = prepared.gateway().clone();
        last = Some(gateway.clone());
        let server = match prepared.bind().await {
            Ok(server) => server.reload_config_from(path.to_owned()),
            Err(error) => return fail(&error),
        };
        if let Ok(addr) = server.local_addr() {
            tracing::info!(%addr, token_path = %config.token.path, "sealgate listening (http)");
        }
        for addr in server.tls_addrs() {
            tracing::info!(%addr, "sealgate listening (https)");
        }
        if let Some(addr) = server.admin_addr() {
            tracing::info!(%addr, "sealgate admin listening");
        }
        let outcome = server.run(server::shutdown_signal()).await;
        // The access lines and spans of the last requests are written before exiting.
        gateway.close().await;
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        }
    });
    // Connections still open after the grace period end with the runtime; their access
    // lines (complete=false) are queued as they drop, and written here.
    drop(runtime);
    if let Some(gateway) = last {
        gateway.flush_access_log(std::time::Duration::from_secs(2));
    }
    code
}

//! `[admin]` (the admin listener: `/metrics`, `/healthz`, `/readyz`) and `[demo_upstream]`
//! (the bundled echo upstream of the demo configuration).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, filled, millis, positive};

/// Where the admin listener binds: loopback, never the public interface.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// Connections the admin listener holds open at once: it serves a scraper and a balancer's
/// health checks, not clients, so a handful is plenty and the rest wait in the backlog.
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 16;
/// Time an admin connection may sit with no request in progress (or take to send a head).
pub const DEFAULT_ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Where the demo echo upstream binds when `[demo_upstream]` names no address.
pub const DEFAULT_DEMO_UPSTREAM_LISTEN: &str = "127.0.0.1:9000";

/// `[admin]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct AdminFile {
    pub enabled: Option<bool>,
    pub listen: Option<SocketAddr>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_ms: Option<u64>,
}

/// `[admin]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Where it binds.
    pub listen: SocketAddr,
    /// See [`DEFAULT_ADMIN_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`DEFAULT_ADMIN_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
}

/// `[demo_upstream]` as written.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct DemoUpstreamFile {
    #[serde(default = "default_demo_listen")]
    pub listen: SocketAddr,
}

pub(super) fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9901))
}

fn default_demo_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000))
}

/// The admin listener, or `None` when disabled.
pub(super) fn validate(a: AdminFile) -> Result<Option<AdminConfig>, ConfigError> {
    if a.enabled == Some(false) {
        return Ok(None);
    }
    Ok(Some(AdminConfig {
        listen: filled("admin.listen", a.listen)?,
        max_connections: positive("admin.max_connections", a.max_connections)?,
        header_read_timeout: millis("admin.header_read_timeout_ms", a.header_read_timeout_ms)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_addresses_are_the_documented_ones() {
        assert_eq!(default_admin_listen().to_string(), DEFAULT_ADMIN_LISTEN);
        assert_eq!(
            default_demo_listen().to_string(),
            DEFAULT_DEMO_UPSTREAM_LISTEN
        );
    }
}

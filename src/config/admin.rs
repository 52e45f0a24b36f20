//! `[admin]` (the admin listener: `/metrics`, `/healthz`, `/readyz`) and `[demo_upstream]`
//! (the bundled echo upstream of the demo configuration).

use std::net::SocketAddr;

use serde::Deserialize;

/// Where the admin listener binds: loopback, never the public interface.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// Where the demo echo upstream binds when `[demo_upstream]` names no address.
pub const DEFAULT_DEMO_UPSTREAM_LISTEN: &str = "127.0.0.1:9000";

/// `[admin]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct AdminFile {
    pub enabled: Option<bool>,
    pub listen: Option<SocketAddr>,
}

/// `[demo_upstream]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct DemoUpstreamFile {
    #[serde(default = "default_demo_listen")]
    pub listen: SocketAddr,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9901))
}

fn default_demo_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000))
}

/// The admin listener's address, or `None` when disabled.
pub(super) fn validate(a: AdminFile) -> Option<SocketAddr> {
    match a.enabled {
        Some(false) => None,
        _ => Some(a.listen.unwrap_or_else(default_admin_listen)),
    }
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

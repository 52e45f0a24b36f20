//! `[server]`: the public plain-HTTP listener and the limits every listener shares.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid, millis, positive};

/// The public listener.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Open client connections at once; the accept loop waits for a slot beyond this.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Requests being handled at once; beyond this the gateway answers 503 with `Retry-After`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4_096;
/// Time allowed for a client to send a complete request head (slowloris defence).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Total time allowed to read a request body that the gateway buffers.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run after SIGTERM/SIGINT before connections are cut.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Request header fields accepted per request (HTTP/1.1); more is answered 431.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Largest request head (request line and headers) in bytes; more is answered 431.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Time to open a TCP connection to the upstream.
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct ServerFile {
    pub listen: Option<SocketAddr>,
    pub max_connections: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub header_read_timeout_ms: Option<u64>,
    pub body_read_timeout_ms: Option<u64>,
    pub shutdown_grace_ms: Option<u64>,
    pub max_headers: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub upstream_connect_timeout_ms: Option<u64>,
}

/// `[server]`, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the public listener binds.
    pub listen: SocketAddr,
    /// See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// See [`DEFAULT_MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// See [`DEFAULT_UPSTREAM_CONNECT_TIMEOUT`].
    pub upstream_connect_timeout: Duration,
}

/// The default listen address, parsed.
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

pub(super) fn validate(s: ServerFile) -> Result<ServerConfig, ConfigError> {
    Ok(ServerConfig {
        listen: s.listen.unwrap_or_else(default_listen),
        max_connections: positive(
            "server.max_connections",
            s.max_connections,
            DEFAULT_MAX_CONNECTIONS,
        )?,
        max_in_flight: positive(
            "server.max_in_flight",
            s.max_in_flight,
            DEFAULT_MAX_IN_FLIGHT,
        )?,
        header_read_timeout: millis(
            "server.header_read_timeout_ms",
            s.header_read_timeout_ms,
            DEFAULT_HEADER_READ_TIMEOUT,
        )?,
        body_read_timeout: millis(
            "server.body_read_timeout_ms",
            s.body_read_timeout_ms,
            DEFAULT_BODY_READ_TIMEOUT,
        )?,
        shutdown_grace: millis(
            "server.shutdown_grace_ms",
            s.shutdown_grace_ms,
            DEFAULT_SHUTDOWN_GRACE,
        )?,
        max_headers: positive("server.max_headers", s.max_headers, DEFAULT_MAX_HEADERS)?,
        max_header_bytes: match s.max_header_bytes {
            Some(n) if n < 8192 => {
                return Err(invalid("server.max_header_bytes", "must be at least 8192"));
            }
            other => other.unwrap_or(DEFAULT_MAX_HEADER_BYTES),
        },
        upstream_connect_timeout: millis(
            "server.upstream_connect_timeout_ms",
            s.upstream_connect_timeout_ms,
            DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_listen_address_is_the_documented_one() {
        assert_eq!(default_listen().to_string(), DEFAULT_LISTEN);
    }
}

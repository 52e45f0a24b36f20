//! `[server]`: the public plain-HTTP listener and the limits every listener shares.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{ConfigError, filled, invalid, millis, positive};

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

/// Streams one HTTP/2 connection may have open at once (RFC 9113 §5.1.2,
/// `SETTINGS_MAX_CONCURRENT_STREAMS`).
pub const DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// How often an HTTP/2 connection is pinged to check the peer is still there.
pub const DEFAULT_HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the HTTP/2 connection is closed.
pub const DEFAULT_HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long listeners keep accepting after SIGTERM while `/readyz` already fails, so the
/// balancer in front notices before connections are refused. 0 by default (no balancer).
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::ZERO;
/// How long an answer may make no progress towards a client (the client reads nothing of
/// it) before the connection is cut: nginx's `send_timeout`.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// The share of `max_connections` one client address (an IPv6 /64) may hold when
/// `max_connections_per_address` is not set: a quarter, so four addresses are needed to
/// take every slot.
pub const DEFAULT_ADDRESS_SHARE_DIVISOR: usize = 4;

/// `[server]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
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
    #[serde(default)]
    pub forwarded_hosts: Vec<String>,
    pub http2_max_concurrent_streams: Option<u32>,
    pub http2_keepalive_interval_ms: Option<u64>,
    pub http2_keepalive_timeout_ms: Option<u64>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub proxy_protocol: Option<bool>,
    pub drain_delay_ms: Option<u64>,
    pub send_timeout_ms: Option<u64>,
    pub max_connections_per_address: Option<usize>,
    pub workers: Option<usize>,
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
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`]. Also the longest a connection of any protocol
    /// may sit with no request in progress (see `server::idle`).
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
    /// The public host names (lower case, no port) a client's `Host` is passed upstream as
    /// `X-Forwarded-Host` for; any other `Host` is not (an upstream may build links from
    /// it). Empty by default: no `X-Forwarded-Host` is sent.
    pub forwarded_hosts: Vec<String>,
    /// See [`DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS`].
    pub http2_max_concurrent_streams: u32,
    /// See [`DEFAULT_HTTP2_KEEPALIVE_INTERVAL`].
    pub http2_keepalive_interval: Duration,
    /// See [`DEFAULT_HTTP2_KEEPALIVE_TIMEOUT`].
    pub http2_keepalive_timeout: Duration,
    /// The networks of the load balancers in front (CIDRs, or single addresses): from them
    /// the client address is read from `X-Forwarded-For` (or the PROXY protocol); from
    /// anyone else those headers prove nothing. Empty by default.
    pub trusted_proxies: Vec<IpNet>,
    /// The plain listener expects a PROXY protocol header (v1 or v2) on every connection,
    /// from a trusted proxy; a connection without one is closed. Default `false`.
    pub proxy_protocol: bool,
    /// See [`DEFAULT_DRAIN_DELAY`].
    pub drain_delay: Duration,
    /// See [`DEFAULT_SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// Connections one client address may hold at once (an IPv6 address counts by its
    /// /64; the address is the PROXY protocol's source where there is one; trusted proxies
    /// are exempt). Default: `max_connections` / [`DEFAULT_ADDRESS_SHARE_DIVISOR`].
    pub max_connections_per_address: usize,
    /// Threads serving connections, each with its own runtime (`0`, the default: one per
    /// CPU this process may run on). See `server::workers`.
    pub workers: usize,
}

impl ServerConfig {
    /// The configured public host name `host` (a `Host` value, with or without a port)
    /// names, as configured: what `X-Forwarded-Host` says. The client's port and spelling
    /// are dropped: an upstream builds links from it, so the client chooses none of it.
    pub fn forwarded_host(&self, host: &str) -> Option<&str> {
        let name = match host.rsplit_once(':') {
            // `[v6]:port` or `name:port`; a bare IPv6 literal is in brackets.
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        self.forwarded_hosts
            .iter()
            .find(|allowed| allowed.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }
}

/// The CPUs this process may run on (its affinity mask and cgroup quota: under
/// `taskset -c 1`, one), counted once.
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

impl ServerConfig {
    /// How many workers serve connections: `workers`, or with `0` one per CPU ([`cpus`]).
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => cpus(),
            n => n,
        }
    }
}

/// The most `server.workers` accepts: a thread per worker, each with its own runtime.
pub const MAX_WORKERS: usize = 1024;

/// The default listen address, parsed.
pub(super) fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

pub(super) fn validate(s: ServerFile) -> Result<ServerConfig, ConfigError> {
    let max_connections = positive("server.max_connections", s.max_connections)?;
    Ok(ServerConfig {
        send_timeout: millis("server.send_timeout_ms", s.send_timeout_ms)?,
        max_connections_per_address: positive(
            "server.max_connections_per_address",
            s.max_connections_per_address,
        )?,
        listen: filled("server.listen", s.listen)?,
        max_connections,
        max_in_flight: positive("server.max_in_flight", s.max_in_flight)?,
        header_read_timeout: millis("server.header_read_timeout_ms", s.header_read_timeout_ms)?,
        body_read_timeout: millis("server.body_read_timeout_ms", s.body_read_timeout_ms)?,
        shutdown_grace: millis("server.shutdown_grace_ms", s.shutdown_grace_ms)?,
        max_headers: positive("server.max_headers", s.max_headers)?,
        max_header_bytes: match filled("server.max_header_bytes", s.max_header_bytes)? {
            n if n < 8192 => {
                return Err(invalid("server.max_header_bytes", "must be at least 8192"));
            }
            n => n,
        },
        upstream_connect_timeout: millis(
            "server.upstream_connect_timeout_ms",
            s.upstream_connect_timeout_ms,
        )?,
        forwarded_hosts: forwarded_hosts(s.forwarded_hosts)?,
        http2_max_concurrent_streams: positive(
            "server.http2_max_concurrent_streams",
            s.http2_max_concurrent_streams,
        )?,
        http2_keepalive_interval: millis(
            "server.http2_keepalive_interval_ms",
            s.http2_keepalive_interval_ms,
        )?,
        http2_keepalive_timeout: millis(
            "server.http2_keepalive_timeout_ms",
            s.http2_keepalive_timeout_ms,
        )?,
        trusted_proxies: trusted_proxies(&s.trusted_proxies)?,
        proxy_protocol: filled("server.proxy_protocol", s.proxy_protocol)?,
        drain_delay: Duration::from_millis(filled("server.drain_delay_ms", s.drain_delay_ms)?),
        workers: match filled("server.workers", s.workers)? {
            n if n > MAX_WORKERS => {
                return Err(invalid(
                    "server.workers",
                    format!("must be at most {MAX_WORKERS} (0: one per CPU)"),
                ));
            }
            n => n,
        },
    })
}

/// `server.trusted_proxies`: CIDRs (`10.0.0.0/8`) or single addresses (`10.1.2.3`).
pub(super) fn trusted_proxies(raw: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(i, text)| {
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    invalid(
                        format!("server.trusted_proxies[{i}]"),
                        format!("`{text}` is not a CIDR (10.0.0.0/8) or an IP address"),
                    )
                })
        })
        .collect()
}

fn forwarded_hosts(names: Vec<String>) -> Result<Vec<String>, ConfigError> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let ok = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':')
                });
            if ok {
                Ok(name.to_ascii_lowercase())
            } else {
                Err(invalid(
                    format!("server.forwarded_hosts[{i}]"),
                    "a host name or IP literal, without port or scheme",
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_host_names_are_forwarded() {
        let config = validate(
            crate::config::defaults::fill(crate::config::FileConfig {
                server: ServerFile {
                    forwarded_hosts: vec!["API.bank.example".into(), "[::1]".into()],
                    ..ServerFile::default()
                },
                ..Default::default()
            })
            .server,
        )
        .unwrap();
        for yes in [
            "api.bank.example",
            "api.BANK.example:8443",
            "[::1]:443",
            "[::1]",
        ] {
            assert!(config.forwarded_host(yes).is_some(), "{yes}");
        }
        assert_eq!(
            config.forwarded_host("api.BANK.example:8443"),
            Some("api.bank.example"),
            "the configured name, without the client's port"
        );
        for no in [
            "evil.example",
            "api.bank.example.evil",
            "api.bank.example:x",
            "",
        ] {
            assert_eq!(config.forwarded_host(no), None, "{no}");
        }
        assert!(
            validate(ServerFile {
                forwarded_hosts: vec!["https://x".into()],
                ..ServerFile::default()
            })
            .is_err()
        );
    }

    #[test]
    fn the_default_listen_address_is_the_documented_one() {
        assert_eq!(default_listen().to_string(), DEFAULT_LISTEN);
    }
}

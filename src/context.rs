//! What every request handler is given, in one low module that the handlers
//! ([`crate::handshake`], [`crate::proxy`]) and the lifecycle ([`crate::gateway`]) all
//! import: the facts of the connection a request came on ([`ConnInfo`]) and the state that
//! outlives a configuration ([`AppState`]). Plain data; no behaviour lives here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::auth::cache::TokenCache;
use crate::clock::Clock;
use crate::config::SubjectName;
use crate::metrics::Metrics;
use crate::observe::access::AccessLog;
use crate::observe::trace::Tracing;
use crate::state::State;

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The connection's source: the address a PROXY protocol header gave, else the peer's.
    pub source: IpAddr,
    /// The client's address for this request ([`client_address`]): what rate limits, logs
    /// and the upstream's `X-Forwarded-For` use. The source until the lifecycle sets it.
    pub client: IpAddr,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    pub scheme: http::uri::Scheme,
    /// The subject of the verified TLS client certificate (mTLS listeners), and its
    /// RFC 4514 text for the upstream.
    pub client_cert_subject: Option<Arc<(SubjectName, String)>>,
    /// The last token verified on this connection.
    pub tokens: Arc<TokenCache>,
    /// The TLS version (`TLSv1.2`, `TLSv1.3`) on an HTTPS listener.
    pub tls: Option<&'static str>,
    /// What keeps the connection counted (its connection slots, the open-connections
    /// gauge) and the drain waiting; an upgraded tunnel holds a clone after the HTTP
    /// exchange has handed its socket over. `None` where the server made none (tests).
    pub hold: Option<ConnectionHold>,
}

/// Keeps a client connection counted while any clone lives: made by the server from the
/// connection's slots and a drain watcher, opaque here.
#[derive(Clone)]
pub struct ConnectionHold {
    /// Never read: held for its drop.
    _held: Arc<dyn std::any::Any + Send + Sync>,
}

impl ConnectionHold {
    /// Holds `parts` (guards released on drop) until the last clone is dropped.
    pub fn new(parts: impl std::any::Any + Send + Sync) -> Self {
        ConnectionHold {
            _held: Arc::new(parts),
        }
    }
}

impl std::fmt::Debug for ConnectionHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionHold")
    }
}

impl ConnInfo {
    /// A new connection's information, with an empty token cache.
    pub fn new(
        peer: SocketAddr,
        scheme: http::uri::Scheme,
        client_cert_subject: Option<SubjectName>,
    ) -> Self {
        let client_cert_subject = client_cert_subject.map(|name| {
            let text = name.to_string();
            Arc::new((name, text))
        });
        ConnInfo {
            peer,
            source: peer.ip(),
            client: peer.ip(),
            scheme,
            client_cert_subject,
            tokens: Arc::default(),
            tls: None,
            hold: None,
        }
    }
}

/// The client's address for everything the gateway decides and tells (rate limits, logs,
/// metrics, the upstream's `X-Forwarded-For`): the connection's source (the TCP peer, or the
/// address a PROXY protocol header gave), unless that source is a trusted proxy
/// (`server.trusted_proxies`), in which case `X-Forwarded-For` is read from the right,
/// skipping trusted hops: the right-most untrusted entry is the client (the entries to its
/// left were written by the client itself and prove nothing). All hops trusted: the
/// left-most. A malformed entry stops the walk at the last trusted hop, so a garbled header
/// never yields an address the client chose.
pub fn client_address(source: IpAddr, headers: &http::HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| is_trusted_proxy(*ip, trusted);
    if !is_trusted(&source) {
        return source;
    }
    // Entries from the bytes, not `to_str`: a non-ASCII byte a client put in its own
    // entry must spoil that entry only, not drop the balancer's entries on the same line.
    let entries: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    let mut client = source;
    for entry in entries.iter().rev() {
        let parsed = std::str::from_utf8(entry).ok().and_then(parse_forwarded_ip);
        match parsed {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// Whether `ip` is one of the trusted proxies: the one rule by which the gateway reads
/// `X-Forwarded-For` ([`client_address`]) and lets a proxy's own address headers pass.
pub fn is_trusted_proxy(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// An `X-Forwarded-For` entry: an IP, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// The application state shared by every request that outlives a configuration.
#[derive(Debug)]
pub struct AppState {
    /// Sessions, revocations, replay memory and issuance counters (memory or Redis).
    pub state: State,
    /// Every exported metric.
    pub metrics: Metrics,
    /// The clock handlers read `now` from.
    pub clock: Clock,
    /// Slots for slow (argon2id) secret checks (see
    /// [`crate::config::DEFAULT_MAX_CONCURRENT_SECRET_CHECKS`]).
    pub secret_checks: std::sync::Arc<tokio::sync::Semaphore>,
    /// When this process's gateway was made (unix milliseconds): with the memory backend,
    /// tokens issued before it are refused (see `sessions.accept_tokens_from_before_start`).
    pub started_at_ms: i64,
    /// The access line's writer (read at start only).
    pub access: Arc<AccessLog>,
    /// The tracer (read at start only).
    pub tracing: Tracing,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop_and_only_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let lb: IpAddr = "10.0.0.5".parse().unwrap();
        let outsider: IpAddr = "198.51.100.1".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Behind the balancer: the right-most untrusted entry; what the client wrote to its
        // left is ignored.
        let h = headers(&["6.6.6.6, 203.0.113.7", "10.0.0.9"]);
        assert_eq!(client_address(lb, &h, &trusted), ip("203.0.113.7"));
        assert_eq!(
            client_address(lb, &headers(&["[2001:db8::1]:443"]), &trusted),
            ip("2001:db8::1")
        );
        // Every hop trusted: the left-most.
        assert_eq!(
            client_address(lb, &headers(&["10.1.1.1, 10.2.2.2"]), &trusted),
            ip("10.1.1.1")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_address(lb, &headers(&["203.0.113.7, nonsense"]), &trusted),
            lb
        );
        // No header: the balancer itself.
        assert_eq!(client_address(lb, &http::HeaderMap::new(), &trusted), lb);
        // From anyone else the header proves nothing.
        assert_eq!(client_address(outsider, &h, &trusted), outsider);
        assert_eq!(client_address(lb, &h, &[]), lb);
    }
}

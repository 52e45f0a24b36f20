//! The PROXY protocol (HAProxy's, v1 text and v2 binary) on listeners that enable it: the
//! balancer in front opens each connection with a header naming the client's address, and
//! that address becomes the connection's source. Accepted only from a trusted proxy, and
//! required: a connection that does not start with a valid header, in time, is closed.
//! Parsing is `ppp`'s; here only the reading, the deadline and the policy.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ppp::{HeaderResult, PartialResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The longest header read: v1 is at most 107 bytes; v2 carries TLVs, which a balancer
/// keeps short.
const MAX_HEADER: usize = 4096;

/// Why a connection was closed before its first byte of HTTP or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The peer is not one of `server.trusted_proxies`.
    #[error("PROXY protocol from an untrusted peer")]
    Untrusted,
    /// Not a PROXY protocol header, or a malformed one.
    #[error("no valid PROXY protocol header")]
    Invalid,
    /// The header did not arrive within the deadline.
    #[error("PROXY protocol header not received in time")]
    Timeout,
    /// The connection failed or closed first.
    #[error("connection closed before the PROXY protocol header")]
    Closed,
}

/// Reads the PROXY header that must open `stream`, consuming exactly its bytes, and
/// returns the client's address it names (the peer's own for `UNKNOWN`/`LOCAL`, which a
/// balancer sends for its health checks).
pub async fn read_source(
    stream: &mut TcpStream,
    peer: SocketAddr,
    trusted: &[ipnet::IpNet],
    deadline: Duration,
) -> Result<IpAddr, ProxyHeaderError> {
    if !trusted.iter().any(|net| net.contains(&peer.ip())) {
        return Err(ProxyHeaderError::Untrusted);
    }
    tokio::time::timeout(deadline, read(stream, peer))
        .await
        .map_err(|_| ProxyHeaderError::Timeout)?
}

async fn read(stream: &mut TcpStream, peer: SocketAddr) -> Result<IpAddr, ProxyHeaderError> {
    let mut buf = vec![0u8; MAX_HEADER];
    loop {
        // Peek, so that not one byte after the header is taken from the HTTP or TLS layer.
        let seen = stream
            .peek(&mut buf)
            .await
            .map_err(|_| ProxyHeaderError::Closed)?;
        if seen == 0 {
            return Err(ProxyHeaderError::Closed);
        }
        let parsed = HeaderResult::parse(&buf[..seen]);
        if parsed.is_incomplete() {
            if seen == MAX_HEADER {
                return Err(ProxyHeaderError::Invalid);
            }
            // More bytes are on their way; the caller's deadline bounds the wait.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let (length, source) = match parsed {
            HeaderResult::V1(Ok(header)) => (header.header.len(), v1_source(&header.addresses)),
            HeaderResult::V2(Ok(header)) => (header.len(), v2_source(&header.addresses)),
            HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => {
                return Err(ProxyHeaderError::Invalid);
            }
        };
        let mut consumed = vec![0u8; length];
        stream
            .read_exact(&mut consumed)
            .await
            .map_err(|_| ProxyHeaderError::Closed)?;
        return Ok(source.unwrap_or(peer.ip()));
    }
}

fn v1_source(addresses: &ppp::v1::Addresses) -> Option<IpAddr> {
    match addresses {
        ppp::v1::Addresses::Tcp4(a) => Some(IpAddr::V4(a.source_address)),
        ppp::v1::Addresses::Tcp6(a) => Some(IpAddr::V6(a.source_address)),
        ppp::v1::Addresses::Unknown => None,
    }
}

fn v2_source(addresses: &ppp::v2::Addresses) -> Option<IpAddr> {
    match addresses {
        ppp::v2::Addresses::IPv4(a) => Some(IpAddr::V4(a.source_address)),
        ppp::v2::Addresses::IPv6(a) => Some(IpAddr::V6(a.source_address)),
        ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
    }
}

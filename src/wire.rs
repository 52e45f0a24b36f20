//! HTTP plumbing every layer may use: the body type, small response constructors, reading
//! a body under a limit and a deadline, and the names of the headers the gateway itself
//! reads or writes. No decisions live here.
//!
//! (Named `wire` rather than `http` so that it never shadows the `http` crate.)

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

// The names of the headers the gateway itself reads or writes, all here. (Which headers
// it strips, and under which aliases, is policy: `proxy::headers`.)

/// The request-id header, set on every forwarded request and every response.
pub const X_REQUEST_ID: &str = "x-request-id";

/// The header naming the channel on the token endpoint (docs/protocol.md §1).
pub const X_API_KEY: &str = "x-api-key";

/// The W3C trace-context header (`traceparent`), read from clients and sent upstream.
pub const TRACEPARENT: &str = "traceparent";

/// Default header naming the authenticated client (`apiKey`) to the upstream
/// (`token.client_id_header`).
pub const X_CLIENT_ID: HeaderName = HeaderName::from_static("x-client-id");

/// Default header naming the channel to the upstream (`token.channel_header`).
pub const X_CHANNEL: HeaderName = HeaderName::from_static("x-channel");

/// The verified mTLS client certificate's subject, sent upstream when the connection had
/// one.
pub const X_CLIENT_CERT_SUBJECT: HeaderName = HeaderName::from_static("x-client-cert-subject");

/// A sealed bodyless request's seal (docs/protocol.md §4.1): checked by the gateway, never
/// forwarded.
pub const X_REQUEST_SEAL: HeaderName = HeaderName::from_static("x-request-seal");

/// RFC 7239's de-facto companions, set by the edge: the client's address…
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// … the scheme it used…
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// … and the configured host name it asked for.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The media type of a JWE compact serialization (RFC 7516 §9).
/// The rate limits a route applies (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// What is left of a route's rate limit now (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// `application/jose`.
pub const APPLICATION_JOSE: &str = "application/jose";

/// Appends `ip` as text. IPv4 by hand: `Ipv4Addr`'s `Display` runs four padded integers
/// through the formatting machinery, and in a profile of the plain route that cost more
/// than the rest of writing the access line (it also runs for every `X-Forwarded-For`).
/// IPv6 (rare, and its text has compression rules) goes through `Display`.
pub fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(octet).as_bytes());
            }
        }
        std::net::IpAddr::V6(v6) => {
            // Writing to a Vec cannot fail.
            let _ = std::io::Write::write_fmt(out, format_args!("{v6}"));
        }
    }
}

/// `ip` as a header value ([`push_ip`]).
pub fn ip_value(ip: std::net::IpAddr) -> Option<HeaderValue> {
    let mut text = Vec::with_capacity(15);
    push_ip(&mut text, ip);
    HeaderValue::from_maybe_shared(Bytes::from(text)).ok()
}

/// The block `ip` belongs to: its first `v4_bits` (IPv4) or `v6_bits` (IPv6) bits, the rest
/// zero; an IPv4-mapped IPv6 address is taken as IPv4. What the per-address limits count a
/// client by (one host commonly holds a whole IPv6 /64).
pub fn ip_prefix(ip: std::net::IpAddr, v4_bits: u8, v6_bits: u8) -> std::net::IpAddr {
    use std::net::IpAddr;
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(v4_bits.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(v6_bits.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Any error a body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body type of every handler: a full buffer or a streamed upstream body.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON response with `Cache-Control: no-store` (every gateway answer may carry a token
/// or a key-dependent value; RFC 9111 §5.2.2.5).
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    // Serializing our own plain structs cannot fail; fall back to an empty object if it did.
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Why a buffered body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyReadError {
    /// Over the limit (by `Content-Length` up front, or by counting).
    TooLarge,
    /// Not complete within the total deadline.
    Timeout,
    /// The connection failed or the framing was invalid.
    Read,
}

/// Reads a whole body of at most `limit` bytes within one total `deadline` (a deadline on
/// the whole body, not per chunk, so a client trickling bytes cannot hold the buffer open).
pub async fn read_body<B>(
    body: B,
    content_length: Option<u64>,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, BodyReadError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if content_length.is_some_and(|len| len > limit as u64) {
        return Err(BodyReadError::TooLarge);
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => Err(BodyReadError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyReadError::TooLarge),
        Ok(Err(_)) => Err(BodyReadError::Read),
    }
}

/// Whether the `Content-Type` is `media_type` (case-insensitive, parameters ignored).
pub fn is_media_type(headers: &http::HeaderMap, media_type: &str) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type))
}

/// The request's `Content-Length`, if present and a valid number (hyper has already
/// refused conflicting or malformed framing on HTTP/1.1, RFC 9112 §6.3).
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_is_the_standard_text() {
        for text in [
            "0.0.0.0",
            "127.0.0.1",
            "10.200.3.255",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let ip: std::net::IpAddr = text.parse().unwrap();
            let mut out = b"x=".to_vec();
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x={ip}").as_bytes(), "{text}");
            assert_eq!(ip_value(ip).unwrap(), ip.to_string().as_str());
        }
    }
}

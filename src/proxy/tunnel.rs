//! WebSocket pass-through (RFC 6455 over HTTP/1.1) on a route with `[routes.websocket]`:
//! the handshake is checked, authenticated and admitted like any request of the route, sent
//! to the upstream on a connection of its own, and once the upstream has accepted it with a
//! proper `101` the two sockets are joined, frames passing untouched both ways (they are
//! not sealed: such a route carries no sealed body, which validation enforces).
//!
//! What an attacker could try, and what stops it:
//! - **smuggling a request past the gateway** inside an upgrade the upstream does not
//!   accept: the sockets are joined only on a `101` that says `Upgrade: websocket` and
//!   carries the `Sec-WebSocket-Accept` of the client's key. Any other answer is passed
//!   back as an ordinary response, the client's connection stays HTTP (its next bytes are
//!   requests the gateway parses and checks), and the upstream connection is closed.
//! - **a body on the handshake** (bytes an upstream could read as a second request): a
//!   handshake with `Content-Length` other than 0 or with `Transfer-Encoding` is refused.
//! - **a connection that never ends**: idle and total deadlines (on a token route also the
//!   token's expiry); the tunnel holds its client connection's slots, so it counts against
//!   `server.max_connections` and the per-address share, and the drain waits for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Context;
use crate::config::{Route, WebSocket};
use crate::error::{GatewayError, UpstreamError};
use crate::metrics::TunnelLabels;
use crate::observe::TunnelEnd;
use crate::upstream::{RouteUpstreams, UpstreamBody};
use crate::wire::{self as h, Body};

/// RFC 6455 §1.3: appended to the client's key before hashing.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Each direction's copy buffer: a tunnel costs twice this while it lives.
const BUFFER: usize = 8 * 1024;

/// Once one side has closed, how long the other direction may still carry its last bytes
/// (a WebSocket close frame) before the tunnel ends: WebSocket does not use a half-open
/// TCP connection, and a peer that keeps its socket open after the other side left would
/// otherwise hold the tunnel until its idle deadline.
const LINGER: Duration = Duration::from_secs(1);

/// Whether `request` is a WebSocket opening handshake the gateway can pass on (RFC 6455
/// §4.1): `GET` over HTTP/1.1, `Upgrade: websocket` alone, `Connection: upgrade`, version
/// 13, a key of 16 bytes in base64, and no body.
pub(super) fn is_handshake(method: &Method, version: Version, headers: &HeaderMap) -> bool {
    let one = |name: header::HeaderName| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().ok(),
            _ => None,
        }
    };
    let upgrade_is_websocket =
        one(header::UPGRADE).is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket"));
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let key_ok = one(header::SEC_WEBSOCKET_KEY).is_some_and(|key| {
        base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .is_ok_and(|raw| raw.len() == 16)
    });
    let bodyless = !headers.contains_key(header::TRANSFER_ENCODING)
        && headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .all(|v| v.as_bytes() == b"0");
    *method == Method::GET
        && version == Version::HTTP_11
        && upgrade_is_websocket
        && connection_upgrade
        && one(header::SEC_WEBSOCKET_VERSION) == Some("13")
        && key_ok
        && bodyless
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Sends the handshake (headers already rewritten for the upstream) to instance `index`
/// on a connection of its own; on a proper `101`, answers the client `101` and joins the
/// two sockets in a task of their own. Any other answer is returned as it is.
pub(super) async fn forward(
    ctx: &Context<'_>,
    route: &Arc<Route>,
    upstreams: &RouteUpstreams,
    index: usize,
    websocket: &WebSocket,
    valid_until: Option<i64>,
    mut parts: http::request::Parts,
) -> Result<Response<Body>, GatewayError> {
    let place = upstreams.take_tunnel().ok_or(GatewayError::RouteBusy)?;
    let on_client = parts
        .extensions
        .remove::<OnUpgrade>()
        .ok_or(GatewayError::Internal("the connection cannot be upgraded"))?;
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|v| v.as_bytes().trim_ascii().to_vec())
        .unwrap_or_default();
    // The hop-by-hop fields were removed with the rest; these two are the handshake.
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    parts
        .headers
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let request = Request::from_parts(parts, h::full(Bytes::new()));

    let upstream = &route.upstreams[index];
    let (result, _) = super::observed(
        ctx,
        route,
        upstreams,
        index,
        route.upstream_timeout,
        upstreams.instances[index].pool.upgrade(
            ctx.connector,
            request,
            super::connect_timeout(ctx, route),
        ),
        || true,
    )
    .await;
    let mut response = result.map_err(UpstreamError::from)?;

    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Refused (401, 404, 426…): an ordinary answer. Its connection is never pooled.
        let (mut parts, body) = response.into_parts();
        super::headers::to_client(&mut parts.headers);
        let body = UpstreamBody::unpooled(body);
        return Ok(Response::from_parts(
            parts,
            body.map_err(Into::into).boxed_unsync(),
        ));
    }
    let accepted = response
        .headers()
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|v| v.as_bytes() == accept_key(&key).as_bytes());
    let upgraded_to_websocket = response
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !accepted || !upgraded_to_websocket {
        // A 101 that is not this handshake's: joining the sockets would hand the client a
        // raw connection to whatever the upstream switched to.
        tracing::warn!(request_id = ctx.request_id, route = %route.prefix, upstream = %upstream.label, "upstream answered 101 without accepting the WebSocket handshake");
        return Err(UpstreamError::Invalid.into());
    }
    let on_upstream = hyper::upgrade::on(&mut response);
    let (mut parts, _) = response.into_parts();
    super::headers::to_client(&mut parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    parts
        .headers
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));

    // The tunnel ends at its total deadline, or when its token stops being valid if sooner.
    let mut limit = websocket.max_duration;
    if let Some(until) = valid_until {
        let left = until.saturating_sub(ctx.app.clock.now_secs());
        limit = limit.min(Duration::from_secs(u64::try_from(left).unwrap_or(0)));
    }
    let (ended, end) = tokio::sync::oneshot::channel();
    ctx.trail.set_tunnel(end);
    let tunnel = Tunnel {
        hold: ctx.conn.hold.clone(),
        _place: place,
        open: ctx.app.metrics.tunnels_open.clone(),
        closed: ctx.app.metrics.tunnels_closed.clone(),
        labels: TunnelLabels {
            route: Arc::clone(&route.label),
            reason: "",
        },
        trail: Arc::clone(ctx.trail),
        request_id: ctx.request_id.to_owned(),
        idle: websocket.idle_timeout,
        limit,
    };
    tokio::spawn(async move {
        let end = tunnel.run(on_client, on_upstream).await;
        let _ = ended.send(end);
    });
    Ok(Response::from_parts(parts, h::full(Bytes::new())))
}

/// One joined pair of sockets, and what it reports when it ends.
struct Tunnel {
    /// The client connection's slots: held until the tunnel ends.
    hold: Option<crate::context::ConnectionHold>,
    /// Its place among the route's `websocket.max_tunnels`.
    _place: tokio::sync::OwnedSemaphorePermit,
    open: prometheus_client::metrics::gauge::Gauge,
    closed: prometheus_client::metrics::family::Family<
        TunnelLabels,
        prometheus_client::metrics::counter::Counter,
    >,
    labels: TunnelLabels,
    trail: Arc<crate::observe::Trail>,
    request_id: String,
    idle: Duration,
    limit: Duration,
}

impl Tunnel {
    async fn run(mut self, on_client: OnUpgrade, on_upstream: OnUpgrade) -> TunnelEnd {
        self.open.inc();
        let (client, upstream) = tokio::join!(on_client, on_upstream);
        let end = match (client, upstream) {
            (Ok(client), Ok(upstream)) => {
                pump(
                    TokioIo::new(client),
                    TokioIo::new(upstream),
                    self.idle,
                    self.limit,
                )
                .await
            }
            _ => TunnelEnd {
                reason: "error",
                ..TunnelEnd::default()
            },
        };
        self.open.dec();
        self.trail.add_bytes_in(end.bytes_up);
        self.labels.reason = end.reason;
        self.closed.get_or_create(&self.labels).inc();
        tracing::debug!(request_id = self.request_id, route = %self.labels.route, reason = end.reason, bytes_up = end.bytes_up, bytes_down = end.bytes_down, "websocket tunnel closed");
        drop(self.hold.take());
        end
    }
}

/// Copies bytes both ways until both sides have closed (each close is passed on as a
/// half-close; the other direction gets a second to finish), one side fails, nothing
/// moves for `idle`, or `limit` has passed.
pub async fn pump<C, U>(client: C, upstream: U, idle: Duration, limit: Duration) -> TunnelEnd
where
    C: AsyncRead + AsyncWrite,
    U: AsyncRead + AsyncWrite,
{
    // Tokio's clock, which the deadlines use (and a test can pause).
    let started = tokio::time::Instant::now();
    // Milliseconds since `started` of the last byte moved, either way.
    let last = AtomicU64::new(0);
    let (up_bytes, down_bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let (client_read, client_write) = tokio::io::split(client);
    let (upstream_read, upstream_write) = tokio::io::split(upstream);
    let up = copy(client_read, upstream_write, &up_bytes, &last, started);
    let down = copy(upstream_read, client_write, &down_bytes, &last, started);
    tokio::pin!(up, down);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let linger = tokio::time::sleep(Duration::MAX);
    tokio::pin!(linger);
    let (mut up_done, mut down_done) = (false, false);
    let reason = loop {
        let quiet_until = started + Duration::from_millis(last.load(Ordering::Relaxed)) + idle;
        tokio::select! {
            result = &mut up, if !up_done => {
                up_done = true;
                if result.is_err() {
                    break "error";
                }
                if down_done {
                    break "closed";
                }
                linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
            }
            result = &mut down, if !down_done => {
                down_done = true;
                if result.is_err() {
                    break "error";
                }
                if up_done {
                    break "closed";
                }
                linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
            }
            () = tokio::time::sleep_until(quiet_until) => {
                let quiet_since = started + Duration::from_millis(last.load(Ordering::Relaxed));
                if quiet_since.elapsed() >= idle {
                    break "idle";
                }
            }
            () = &mut deadline => break "max_duration",
            () = &mut linger => break "closed",
        }
    };
    TunnelEnd {
        bytes_up: up_bytes.load(Ordering::Relaxed),
        bytes_down: down_bytes.load(Ordering::Relaxed),
        reason,
    }
}

async fn copy<R, W>(
    mut from: R,
    mut to: W,
    moved: &AtomicU64,
    last: &AtomicU64,
    started: tokio::time::Instant,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0; BUFFER];
    loop {
        let n = from.read(&mut buffer).await?;
        if n == 0 {
            // The other side learns of the close, and may still answer.
            return to.shutdown().await;
        }
        to.write_all(&buffer[..n]).await?;
        to.flush().await?;
        moved.fetch_add(n as u64, Ordering::Relaxed);
        last.store(
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn only_a_proper_bodyless_handshake_is_one() {
        let base = || {
            let mut headers = HeaderMap::new();
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(
                header::CONNECTION,
                HeaderValue::from_static("keep-alive, Upgrade"),
            );
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            headers.insert(
                header::SEC_WEBSOCKET_KEY,
                HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
            );
            headers
        };
        let get = |headers: &HeaderMap| is_handshake(&Method::GET, Version::HTTP_11, headers);
        assert!(get(&base()));
        assert!(!is_handshake(&Method::POST, Version::HTTP_11, &base()));
        assert!(!is_handshake(&Method::GET, Version::HTTP_10, &base()));
        let with = |name: header::HeaderName, value: &'static str| {
            let mut headers = base();
            headers.insert(name, HeaderValue::from_static(value));
            headers
        };
        assert!(!get(&with(header::UPGRADE, "websocket, h2c")));
        assert!(!get(&with(header::CONNECTION, "keep-alive")));
        assert!(!get(&with(header::SEC_WEBSOCKET_VERSION, "8")));
        assert!(!get(&with(header::SEC_WEBSOCKET_KEY, "c2hvcnQ=")));
        assert!(!get(&with(header::CONTENT_LENGTH, "5")));
        assert!(get(&with(header::CONTENT_LENGTH, "0")));
        assert!(!get(&with(header::TRANSFER_ENCODING, "chunked")));
        let mut two = base();
        two.append(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!get(&two), "two Upgrade fields");
    }

    #[tokio::test]
    async fn the_pump_passes_half_closes_and_counts_bytes() {
        let (client, mut client_peer) = tokio::io::duplex(64);
        let (upstream, mut upstream_peer) = tokio::io::duplex(64);
        let pumped = tokio::spawn(pump(
            client,
            upstream,
            Duration::from_secs(5),
            Duration::from_secs(5),
        ));
        client_peer.write_all(b"hello").await.unwrap();
        client_peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        upstream_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello", "the client's close reached the upstream");
        upstream_peer.write_all(b"bye!!!").await.unwrap();
        upstream_peer.shutdown().await.unwrap();
        let mut back = Vec::new();
        client_peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"bye!!!");
        let end = pumped.await.unwrap();
        assert_eq!((end.bytes_up, end.bytes_down, end.reason), (5, 6, "closed"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_tunnel_ends_at_its_idle_deadline_and_any_at_its_limit() {
        let (client, _client_peer) = tokio::io::duplex(64);
        let (upstream, _upstream_peer) = tokio::io::duplex(64);
        let end = pump(
            client,
            upstream,
            Duration::from_secs(3),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(end.reason, "idle");
        let (client, mut client_peer) = tokio::io::duplex(64);
        let (upstream, mut upstream_peer) = tokio::io::duplex(64);
        let chatty = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            loop {
                if client_peer.write_all(b"x").await.is_err()
                    || upstream_peer.read_exact(&mut byte).await.is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let end = pump(
            client,
            upstream,
            Duration::from_secs(3),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(end.reason, "max_duration");
        assert!(end.bytes_up >= 9, "{}", end.bytes_up);
        chatty.abort();
    }
}

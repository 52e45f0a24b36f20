//! gRPC pass-through on routes without sealed bodies (with `upstream_protocol = "http2"`):
//! what the gateway reads of a gRPC call. Frames and trailers pass untouched; the gateway
//! bounds the call's time and, when it answers a call itself, answers in gRPC's terms.
//!
//! - **Deadline.** A call lasts at most the route's `upstream_timeout_ms`, or its
//!   `grpc-timeout` if shorter; the upstream is told the bound (`grpc-timeout` rewritten),
//!   and a call still running at it ends with `grpc-status: 4` (`DEADLINE_EXCEEDED`) in
//!   its trailers. So a stream that never ends, from either side, ends.
//! - **Refusals** of a gRPC call (a missing token, a rate limit, an unreachable upstream)
//!   are trailers-only answers: HTTP 200, `grpc-status` from the gateway's status as
//!   gRPC's HTTP mapping has it, and `grpc-message` naming the gateway's `resCode`.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body::Frame;

use crate::wire::{self as h, Body, BoxError};

/// `grpc-status`.
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// `grpc-message`.
pub const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
/// `grpc-timeout`.
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// `DEADLINE_EXCEEDED`.
const DEADLINE_EXCEEDED: u8 = 4;

/// Whether a request is a gRPC call (`Content-Type: application/grpc`, `+proto` and the
/// like included).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/grpc"
                || v.starts_with("application/grpc+")
                || v.starts_with("application/grpc;")
        })
}

/// A `grpc-timeout` value (gRPC over HTTP/2: 1 to 8 digits and a unit of `H`, `M`, `S`,
/// `m`, `u`, `n`); `None` when absent or malformed (a malformed one is ignored, as the
/// route's bound holds anyway).
pub fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The call's bound: its `grpc-timeout` capped by the route's, written back for the
/// upstream in milliseconds (rounded up, so never below what is left).
pub fn bound(headers: &mut HeaderMap, route_timeout: Duration) -> Duration {
    let bound = timeout(headers).map_or(route_timeout, |asked| asked.min(route_timeout));
    let millis = bound.as_millis().clamp(1, 99_999_999);
    if let Ok(value) = HeaderValue::try_from(format!("{millis}m")) {
        headers.insert(GRPC_TIMEOUT, value);
    }
    bound
}

/// gRPC's code for an HTTP status the gateway answers with (gRPC's "HTTP to gRPC status
/// code mapping", with the cases it leaves to `UNKNOWN` made precise where the gateway
/// knows more: a rate limit is `RESOURCE_EXHAUSTED`, a timeout `DEADLINE_EXCEEDED`).
pub fn status_for(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 | 413 | 431 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        404 => 12,            // UNIMPLEMENTED
        408 | 504 => DEADLINE_EXCEEDED,
        429 => 8,        // RESOURCE_EXHAUSTED
        501 => 12,       // UNIMPLEMENTED
        502 | 503 => 14, // UNAVAILABLE
        _ => 13,         // INTERNAL
    }
}

/// The gateway's own answer to a gRPC call, trailers-only: HTTP 200 with `grpc-status`
/// and `grpc-message` (`<resCode> <resDesc>`), keeping the answer's other headers
/// (`Retry-After`, `RateLimit`, `WWW-Authenticate`).
pub fn refusal(answer: Response<Body>, res_code: &str, res_desc: &str) -> Response<Body> {
    let (mut parts, _) = answer.into_parts();
    let code = status_for(parts.status);
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    parts
        .headers
        .insert(GRPC_STATUS, HeaderValue::from(u16::from(code)));
    if let Ok(message) = HeaderValue::try_from(format!("{res_code} {res_desc}")) {
        parts.headers.insert(GRPC_MESSAGE, message);
    }
    Response::from_parts(parts, h::full(Bytes::new()))
}

/// A gRPC response body that ends at the call's deadline: with `grpc-status: 4` as its
/// trailers if the upstream's had not come by then.
pub struct Deadline {
    body: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl Deadline {
    /// `body`, ended at `at`.
    pub fn new(body: Body, at: tokio::time::Instant) -> Self {
        Deadline {
            body,
            sleep: Box::pin(tokio::time::sleep_until(at)),
            done: false,
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        // The deadline first: an upstream that always has a frame ready (a fast endless
        // stream) must not keep the call past it.
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.done = true;
            let mut trailers = HeaderMap::new();
            trailers.insert(GRPC_STATUS, HeaderValue::from(u16::from(DEADLINE_EXCEEDED)));
            trailers.insert(
                GRPC_MESSAGE,
                HeaderValue::from_static("deadline exceeded at the gateway"),
            );
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        if !matches!(frame, Some(Ok(ref f)) if f.is_data()) {
            this.done = true;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.body.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(timeout: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_str(timeout).unwrap());
        headers
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_malformed_ones_are_ignored() {
        let parsed = |t: &str| timeout(&headers(t));
        assert_eq!(parsed("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parsed("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parsed("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parsed("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parsed("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parsed("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "m", "123456789m", "-1S", "1.5S", "10", "10s", "１S"] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
        assert_eq!(timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn the_bound_is_the_shorter_and_is_told_to_the_upstream() {
        let route = Duration::from_secs(30);
        let mut asked = headers("2S");
        assert_eq!(bound(&mut asked, route), Duration::from_secs(2));
        assert_eq!(asked[GRPC_TIMEOUT], "2000m");
        let mut greedy = headers("5H");
        assert_eq!(bound(&mut greedy, route), route);
        assert_eq!(greedy[GRPC_TIMEOUT], "30000m");
        let mut none = HeaderMap::new();
        assert_eq!(bound(&mut none, route), route);
        assert_eq!(none[GRPC_TIMEOUT], "30000m");
    }

    #[test]
    fn grpc_content_types_are_recognised_and_others_are_not() {
        let with = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            is_grpc(&h)
        };
        assert!(with("application/grpc"));
        assert!(with("application/grpc+proto"));
        assert!(with("Application/GRPC"));
        assert!(!with("application/grpc-web"));
        assert!(!with("application/json"));
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_always_has_a_frame_ready_still_ends_at_the_deadline() {
        use http_body_util::BodyExt;
        let endless = http_body_util::StreamBody::new(futures_util::stream::repeat_with(|| {
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"more")))
        }));
        let mut body = Deadline::new(
            endless.boxed_unsync(),
            tokio::time::Instant::now() + Duration::from_secs(1),
        );
        let mut data = 0;
        loop {
            let frame = body.frame().await.unwrap().unwrap();
            if let Some(trailers) = frame.trailers_ref() {
                assert_eq!(trailers[GRPC_STATUS], "4");
                break;
            }
            data += 1;
            // The client reads as fast as it can: time moves only as it reads.
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        assert!(
            (99..=101).contains(&data),
            "{data} frames before the deadline"
        );
        assert!(body.frame().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_running_at_the_deadline_ends_with_deadline_exceeded() {
        use http_body_util::BodyExt;
        let (_tx, never) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let mut never = never;
        let stream = http_body_util::StreamBody::new(futures_util::stream::poll_fn(move |cx| {
            never.poll_recv(cx)
        }));
        let body = Deadline::new(
            stream.boxed_unsync(),
            tokio::time::Instant::now() + Duration::from_secs(1),
        );
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().unwrap().clone();
        assert_eq!(trailers[GRPC_STATUS], "4");
    }
}

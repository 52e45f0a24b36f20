//! Every error a client can cause or see, and the ONE mapping from each to an HTTP status,
//! a stable `resCode` and a `resDesc`. The matches are exhaustive with no catch-all arm, so
//! a new variant is a compile error here rather than a silent 500.
//!
//! Layered: each concern has its own small enum ([`AuthError`] in `auth`, [`BodyError`],
//! [`UpstreamError`], the state's [`Refusal`]), and the route error [`GatewayError`] wraps
//! them with `#[from]`. Two families at the top, because the wire contract has two:
//! [`TokenError`] for the token endpoint (`TOK*` codes of docs/protocol.md §1) and [`GatewayError`]
//! for proxied routes (docs/protocol.md §4, with the code table in docs/protocol.md, Errors); a
//! [`Failure`] is either, and [`Failure::observe`] is the one place a failure is logged and
//! counted. Bodies are `{"resCode", "resDesc"}`, never encrypted. 5xx descriptions are
//! generic; the cause goes to the log.

use http::header::{ALLOW, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::auth::AuthError;
use crate::jose::jwe::JweError;
use std::sync::Arc;

use crate::metrics::{Metrics, RefusalLabel, UpstreamErrorLabel};
use crate::session::ReplayError;
use crate::state::{Refusal, StateError};
use crate::token::request::PublicKeyError;
use crate::wire::{Body, BodyReadError, json};

/// The shape of every error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    #[serde(rename = "resCode")]
    pub res_code: &'static str,
    /// Human-readable description.
    #[serde(rename = "resDesc")]
    pub res_desc: &'static str,
}

/// A failure of the token endpoint (docs/protocol.md §1).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A method other than POST (and DELETE, when revocation is on) on the token path.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The `Allow` header value.
        allow: &'static str,
    },
    /// Check 1: `X-API-KEY` absent or not a configured channel.
    #[error("X-API-KEY absent or not a configured channel")]
    UnknownChannel,
    /// Check 2: the body is not a JSON object with the three string fields.
    #[error("malformed token request body")]
    MalformedBody,
    /// Check 3: `apiKey` is not a configured client.
    #[error("unknown client")]
    UnknownClient,
    /// Check 4: wrong secret, client disabled, or client not allowed on the channel.
    #[error("credentials refused")]
    CredentialsRefused,
    /// Check 5: `publicKey` is not an acceptable P-256 public JWK.
    #[error("{0}")]
    BadPublicKey(#[from] PublicKeyError),
    /// The body is over the size limit.
    #[error("token request body too large")]
    BodyTooLarge,
    /// The body did not arrive within the body-read deadline.
    #[error("token request body not received in time")]
    BodyTimeout,
    /// The connection failed while the body was being read.
    #[error("token request body could not be read")]
    BodyRead,
    /// Too many token requests from this client or source address in the current minute.
    #[error("token issuance rate limit")]
    RateLimited,
    /// The session store is full (local mode) even after sweeping.
    #[error("session store full")]
    StoreFull,
    /// Redis could not be consulted and `on_unavailable = "refuse"`.
    #[error("session state unavailable")]
    StateUnavailable,
    /// A sealed token request that does not open (docs/protocol.md §1.1).
    #[error("sealed token request does not open: {0}")]
    SealedRequest(JweError),
    /// A plain token request on a channel that requires it sealed.
    #[error("the channel requires a sealed token request")]
    SealRequired,
    /// A sealed token request that opens but is not fresh or not meant for this channel
    /// (docs/protocol.md §1.1): the reason.
    #[error("sealed token request refused: {0}")]
    SealedRequestRefused(&'static str),
    /// Every slot for slow secret checks stayed busy for the whole wait.
    #[error("secret checks busy")]
    Busy,
    /// Anything else inside the gateway (the OS random source failed, a task panicked).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

const TOK_FAILURE: (&str, &str) = ("TOK003", "Failure");
const TOK_INVALID_KEY: (&str, &str) = ("TOK002", "Invalid API Key Passed");
const TOK_NOT_ALLOWED: (&str, &str) = ("TOK004", "Your credentials not allowed to generate token");

impl TokenError {
    /// Status, `resCode` and `resDesc`, exactly as docs/protocol.md §1's table.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        let ((code, desc), status) = match self {
            TokenError::MethodNotAllowed { .. } => (TOK_FAILURE, StatusCode::METHOD_NOT_ALLOWED),
            TokenError::RateLimited => (TOK_FAILURE, StatusCode::TOO_MANY_REQUESTS),
            TokenError::UnknownChannel => (TOK_INVALID_KEY, StatusCode::UNAUTHORIZED),
            TokenError::MalformedBody
            | TokenError::SealedRequest(_)
            | TokenError::SealedRequestRefused(_)
            | TokenError::SealRequired => (TOK_FAILURE, StatusCode::BAD_REQUEST),
            TokenError::UnknownClient => (TOK_INVALID_KEY, StatusCode::UNAUTHORIZED),
            TokenError::CredentialsRefused => (TOK_NOT_ALLOWED, StatusCode::UNAUTHORIZED),
            TokenError::BadPublicKey(_) => (TOK_FAILURE, StatusCode::BAD_REQUEST),
            TokenError::BodyTooLarge => (TOK_FAILURE, StatusCode::PAYLOAD_TOO_LARGE),
            TokenError::BodyTimeout => (TOK_FAILURE, StatusCode::REQUEST_TIMEOUT),
            TokenError::BodyRead => (TOK_FAILURE, StatusCode::BAD_REQUEST),
            TokenError::StoreFull | TokenError::StateUnavailable | TokenError::Busy => {
                (TOK_FAILURE, StatusCode::SERVICE_UNAVAILABLE)
            }
            TokenError::Internal(_) => (TOK_FAILURE, StatusCode::INTERNAL_SERVER_ERROR),
        };
        (status, code, desc)
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        let (status, res_code, res_desc) = self.parts();
        let mut response = json(status, &ErrorBody { res_code, res_desc });
        let extra = match self {
            TokenError::MethodNotAllowed { allow } => Some((ALLOW, allow)),
            TokenError::RateLimited => Some((RETRY_AFTER, "60")),
            TokenError::StoreFull => Some((RETRY_AFTER, "5")),
            TokenError::StateUnavailable | TokenError::Busy => Some((RETRY_AFTER, "1")),
            TokenError::UnknownChannel
            | TokenError::MalformedBody
            | TokenError::SealedRequest(_)
            | TokenError::SealedRequestRefused(_)
            | TokenError::SealRequired
            | TokenError::UnknownClient
            | TokenError::CredentialsRefused
            | TokenError::BadPublicKey(_)
            | TokenError::BodyTooLarge
            | TokenError::BodyTimeout
            | TokenError::BodyRead
            | TokenError::Internal(_) => None,
        };
        if let Some((name, value)) = extra {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

impl From<StateError> for TokenError {
    fn from(_: StateError) -> Self {
        TokenError::StateUnavailable
    }
}

/// Why a request body could not be taken in (read, or opened under the session key).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The request body is not a well-formed JWE of the allowed form.
    #[error("request body is not an acceptable JWE: {0}")]
    Malformed(JweError),
    /// The request body does not decrypt under the session key.
    #[error("request body does not decrypt with the session key")]
    Decrypt,
    /// The request body is over the route's limit.
    #[error("request body too large")]
    TooLarge,
    /// The request body did not arrive within the body-read deadline.
    #[error("request body not received in time")]
    Timeout,
    /// The connection failed while the request body was being read.
    #[error("request body could not be read")]
    Read,
    /// A sealed message whose `typ` is not `request+jwe` (a sealed response sent back).
    #[error("sealed message is not a request")]
    WrongType,
    /// A sealed message bound (`htm`/`htp`) to another method or target.
    #[error("sealed message is bound to another request")]
    BoundElsewhere,
    /// No binding where one is required: `htm`/`htp` on a body (channel policy) or on a
    /// seal, or no `X-Request-Seal` on a bodyless request (channel policy).
    #[error("request binding required")]
    Unbound,
    /// An `X-Request-Seal` whose plaintext is not empty.
    #[error("X-Request-Seal plaintext is not empty")]
    SealNotEmpty,
}

impl From<BodyReadError> for BodyError {
    fn from(error: BodyReadError) -> Self {
        match error {
            BodyReadError::TooLarge => BodyError::TooLarge,
            BodyReadError::Timeout => BodyError::Timeout,
            BodyReadError::Read => BodyError::Read,
        }
    }
}

/// Why the upstream did not give a usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream refused or reset the connection, or could not be reached.
    #[error("upstream unreachable")]
    Unreachable,
    /// The upstream answered with something that is not acceptable HTTP.
    #[error("upstream sent an invalid response")]
    Invalid,
    /// The upstream's body was too large to encrypt.
    #[error("upstream response too large to encrypt")]
    TooLarge,
    /// The upstream broke HTTP framing: an answer with both `Transfer-Encoding` and
    /// `Content-Length`, or `101 Switching Protocols` to a request that did not ask.
    #[error("upstream broke HTTP framing")]
    Framing,
    /// The upstream did not answer in time.
    #[error("upstream timed out")]
    Timeout,
}

impl UpstreamError {
    /// The `kind` label of `sealgate_upstream_errors_total`.
    pub fn label(self) -> &'static str {
        match self {
            UpstreamError::Unreachable => "unreachable",
            UpstreamError::Invalid => "invalid",
            UpstreamError::TooLarge => "too_large",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Framing => "framing",
        }
    }
}

impl From<BodyReadError> for UpstreamError {
    /// Reading the upstream's response body.
    fn from(error: BodyReadError) -> Self {
        match error {
            BodyReadError::TooLarge => UpstreamError::TooLarge,
            BodyReadError::Timeout => UpstreamError::Timeout,
            BodyReadError::Read => UpstreamError::Unreachable,
        }
    }
}

/// A failure on a proxied route (docs/protocol.md §4). Each has a stable `resCode`, listed in the
/// error table of docs/protocol.md.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The bearer token or its session was refused.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// The request body was already accepted once in this session, or the session is used up.
    #[error("{0}")]
    Replay(#[from] ReplayError),
    /// The request body could not be read or opened.
    #[error("{0}")]
    Body(#[from] BodyError),
    /// The upstream did not give a usable answer.
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    /// No route matches the path.
    #[error("no route")]
    NoRoute,
    /// The path has dot segments or encoded separators (see [`crate::proxy::route`]).
    #[error("path not acceptable")]
    BadPath,
    /// More than one `Host` header (RFC 9112 §3.2: a request to answer 400): which one
    /// routes and which one an upstream reads could differ.
    #[error("more than one Host header")]
    DuplicateHost,
    /// More header fields than `server.max_headers` (hyper applies it to HTTP/1 heads;
    /// this applies it to HTTP/2 ones).
    #[error("too many header fields")]
    TooManyHeaders,
    /// `CONNECT`, or a request asking to `Upgrade` the connection where the route does not
    /// allow WebSocket.
    #[error("method or upgrade not supported")]
    NotSupported,
    /// An `Upgrade` on a WebSocket route that is not a proper opening handshake (RFC 6455
    /// §4.1: `GET` over HTTP/1.1, `Upgrade: websocket`, version 13, a key, no body).
    #[error("not a WebSocket handshake")]
    BadHandshake,
    /// The gateway is at its concurrency limit or shutting down.
    #[error("overloaded")]
    Overloaded,
    /// The route is at its own limit of requests in flight (`routes[].max_in_flight`).
    #[error("route at its limit of requests in flight")]
    RouteBusy,
    /// The shared session state (Redis) could not be consulted, and the policy is to refuse
    /// rather than serve without the replay and revocation checks.
    #[error("session state unavailable")]
    StateUnavailable,
    /// The route's request rate limit (`[routes.rate_limit]`) is reached for this client,
    /// session or address.
    #[error("rate limit reached")]
    RateLimited(Box<RateLimited>),
    /// Anything else inside the gateway.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<StateError> for GatewayError {
    fn from(_: StateError) -> Self {
        GatewayError::StateUnavailable
    }
}

impl From<Refusal> for GatewayError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Revoked => GatewayError::Auth(AuthError::SessionUnknown),
            Refusal::Replay(replay) => GatewayError::Replay(replay),
            Refusal::Unavailable(_) => GatewayError::StateUnavailable,
        }
    }
}

impl GatewayError {
    /// Status, `resCode` and `resDesc`.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            GatewayError::Auth(auth) => match auth {
                AuthError::Missing => (S::UNAUTHORIZED, "AUTH001", "Token missing"),
                AuthError::Malformed(_) => (S::UNAUTHORIZED, "AUTH002", "Token malformed"),
                AuthError::UnknownKid => (S::UNAUTHORIZED, "AUTH003", "Token key unknown"),
                AuthError::Invalid(_) => (S::UNAUTHORIZED, "AUTH004", "Token invalid"),
                AuthError::Expired => (S::UNAUTHORIZED, "AUTH005", "Token expired"),
                AuthError::NotYetValid => (S::UNAUTHORIZED, "AUTH006", "Token not yet valid"),
                AuthError::SessionUnknown => {
                    (S::UNAUTHORIZED, "AUTH007", "Session revoked or unknown")
                }
                AuthError::IssuedBeforeStart => (
                    S::UNAUTHORIZED,
                    "AUTH010",
                    "Token issued before this instance started",
                ),
                AuthError::StateUnavailable => (
                    S::SERVICE_UNAVAILABLE,
                    "STATE001",
                    "Session state unavailable",
                ),
                AuthError::KeysUnavailable => (
                    S::SERVICE_UNAVAILABLE,
                    "AUTH012",
                    "Identity provider keys unavailable",
                ),
            },
            GatewayError::Replay(ReplayError::Replayed) => {
                (S::UNAUTHORIZED, "AUTH008", "Request replayed")
            }
            GatewayError::Replay(ReplayError::Exhausted) => {
                (S::UNAUTHORIZED, "AUTH009", "Session request limit reached")
            }
            GatewayError::Replay(ReplayError::Full) => {
                (S::SERVICE_UNAVAILABLE, "STATE002", "Replay memory full")
            }
            GatewayError::Replay(ReplayError::Evicted) => (
                S::UNAUTHORIZED,
                "AUTH011",
                "Session evicted: make a new handshake",
            ),
            GatewayError::Body(body) => match body {
                BodyError::Malformed(_) => {
                    (S::BAD_REQUEST, "BODY001", "Request body is not a valid JWE")
                }
                BodyError::Decrypt => (S::BAD_REQUEST, "BODY002", "Request body does not decrypt"),
                BodyError::TooLarge => (S::PAYLOAD_TOO_LARGE, "BODY003", "Request body too large"),
                BodyError::Timeout => (
                    S::REQUEST_TIMEOUT,
                    "BODY004",
                    "Request body not received in time",
                ),
                BodyError::Read => (S::BAD_REQUEST, "BODY005", "Request body could not be read"),
                BodyError::WrongType => {
                    (S::BAD_REQUEST, "BODY006", "Sealed message is not a request")
                }
                BodyError::BoundElsewhere => (
                    S::BAD_REQUEST,
                    "BODY007",
                    "Sealed message is bound to another request",
                ),
                BodyError::Unbound => (S::BAD_REQUEST, "BODY008", "Request binding required"),
                BodyError::SealNotEmpty => (
                    S::BAD_REQUEST,
                    "BODY009",
                    "X-Request-Seal is not an empty sealed message",
                ),
            },
            GatewayError::NoRoute => (S::NOT_FOUND, "ROUTE001", "No route"),
            GatewayError::NotSupported => (
                S::NOT_IMPLEMENTED,
                "ROUTE002",
                "Method or upgrade not supported",
            ),
            GatewayError::BadPath => (S::BAD_REQUEST, "ROUTE003", "Path not acceptable"),
            GatewayError::BadHandshake => (
                S::BAD_REQUEST,
                "ROUTE005",
                "Not a valid WebSocket handshake",
            ),
            GatewayError::DuplicateHost => (S::BAD_REQUEST, "HEAD001", "More than one Host header"),
            GatewayError::TooManyHeaders => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "HEAD002",
                "Too many header fields",
            ),
            GatewayError::Upstream(upstream) => match upstream {
                UpstreamError::Unreachable => {
                    (S::BAD_GATEWAY, "UPSTREAM001", "Upstream unreachable")
                }
                UpstreamError::Invalid => (
                    S::BAD_GATEWAY,
                    "UPSTREAM002",
                    "Upstream sent an invalid response",
                ),
                UpstreamError::TooLarge => {
                    (S::BAD_GATEWAY, "UPSTREAM003", "Upstream response too large")
                }
                UpstreamError::Timeout => (S::GATEWAY_TIMEOUT, "UPSTREAM004", "Upstream timed out"),
                UpstreamError::Framing => {
                    (S::BAD_GATEWAY, "UPSTREAM005", "Upstream broke HTTP framing")
                }
            },
            GatewayError::Overloaded => {
                (S::SERVICE_UNAVAILABLE, "GATEWAY503", "Service unavailable")
            }
            GatewayError::RouteBusy => (S::SERVICE_UNAVAILABLE, "ROUTE004", "Route busy"),
            GatewayError::RateLimited(_) => (S::TOO_MANY_REQUESTS, "RATE001", "Rate limit reached"),
            GatewayError::StateUnavailable => (
                S::SERVICE_UNAVAILABLE,
                "STATE001",
                "Session state unavailable",
            ),
            GatewayError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "GATEWAY500", "Internal error"),
        }
    }

    /// The HTTP response, with `WWW-Authenticate` on 401 (RFC 6750 §3) and `Retry-After`
    /// on 503 (RFC 9110 §10.2.3).
    pub fn into_response(self) -> Response<Body> {
        let (status, res_code, res_desc) = self.parts();
        let mut response = json(status, &ErrorBody { res_code, res_desc });
        let headers = response.headers_mut();
        match status {
            // RFC 6750 §3.1: a request without credentials gets no error code.
            StatusCode::UNAUTHORIZED if matches!(self, GatewayError::Auth(AuthError::Missing)) => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sealgate\""),
                );
            }
            StatusCode::UNAUTHORIZED => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sealgate\", error=\"invalid_token\""),
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        if let GatewayError::RateLimited(limited) = self {
            headers.insert(RETRY_AFTER, HeaderValue::from(limited.retry_after_secs));
            headers.insert(crate::wire::RATELIMIT_POLICY, limited.policy);
            headers.insert(crate::wire::RATELIMIT, limited.state);
        }
        response
    }
}

/// A request refused by a route's rate limit: what its answer tells the client.
#[derive(Debug)]
pub struct RateLimited {
    /// Whole seconds until one request would be allowed (`Retry-After`).
    pub retry_after_secs: u64,
    /// `RateLimit-Policy`.
    pub policy: HeaderValue,
    /// `RateLimit` (`r=0`).
    pub state: HeaderValue,
}

/// How a request failed: one of the two families of the wire contract.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// On the token endpoint.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// On a proxied route.
    #[error("{0}")]
    Route(#[from] GatewayError),
}

impl Failure {
    /// Status, `resCode` and `resDesc`.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Failure::Token(error) => error.parts(),
            Failure::Route(error) => error.parts(),
        }
    }

    /// The one place a failure is logged and counted: token refusals in
    /// `sealgate_tokens_total{res_code}`, upstream failures in
    /// `sealgate_upstream_errors_total{route,kind}`, every other refusal in
    /// `sealgate_rejected_total{route,res_code}`. 5xx are logged at `warn` with their cause,
    /// refusals at `info`. Never a header value, a body, a token or a key.
    pub fn observe(&self, metrics: &Metrics, route: &Arc<String>, request_id: &str) {
        let (status, code, _) = self.parts();
        match self {
            Failure::Token(_) => metrics.count_token(code),
            Failure::Route(GatewayError::Upstream(upstream)) => {
                let label = UpstreamErrorLabel {
                    route: Arc::clone(route),
                    kind: upstream.label(),
                };
                metrics.upstream_errors.get_or_create(&label).inc();
            }
            Failure::Route(_) => {
                let label = RefusalLabel {
                    route: Arc::clone(route),
                    res_code: code,
                };
                metrics.rejected.get_or_create(&label).inc();
            }
        }
        if status.is_server_error() {
            tracing::warn!(request_id, error = %self, code, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(request_id, reason = %self, code, status = status.as_u16(), "request refused");
        }
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        match self {
            Failure::Token(error) => error.into_response(),
            Failure::Route(error) => error.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_codes_follow_the_protocol_table() {
        let rows = [
            (
                TokenError::UnknownChannel,
                401,
                "TOK002",
                "Invalid API Key Passed",
            ),
            (TokenError::MalformedBody, 400, "TOK003", "Failure"),
            (
                TokenError::UnknownClient,
                401,
                "TOK002",
                "Invalid API Key Passed",
            ),
            (
                TokenError::CredentialsRefused,
                401,
                "TOK004",
                "Your credentials not allowed to generate token",
            ),
            (
                TokenError::BadPublicKey(PublicKeyError::Base64),
                400,
                "TOK003",
                "Failure",
            ),
            (TokenError::BodyTooLarge, 413, "TOK003", "Failure"),
            (TokenError::StateUnavailable, 503, "TOK003", "Failure"),
            (TokenError::Internal("x"), 500, "TOK003", "Failure"),
        ];
        for (err, status, code, desc) in rows {
            assert_eq!(
                err.parts(),
                (StatusCode::from_u16(status).unwrap(), code, desc)
            );
        }
    }

    #[test]
    fn gateway_codes_are_unique() {
        let all = [
            GatewayError::Auth(AuthError::Missing),
            GatewayError::Auth(AuthError::Malformed("")),
            GatewayError::Auth(AuthError::UnknownKid),
            GatewayError::Auth(AuthError::Invalid("")),
            GatewayError::Auth(AuthError::Expired),
            GatewayError::Auth(AuthError::NotYetValid),
            GatewayError::Auth(AuthError::SessionUnknown),
            GatewayError::Replay(ReplayError::Replayed),
            GatewayError::Replay(ReplayError::Exhausted),
            GatewayError::Replay(ReplayError::Full),
            GatewayError::Replay(ReplayError::Evicted),
            GatewayError::Auth(AuthError::IssuedBeforeStart),
            GatewayError::Auth(AuthError::KeysUnavailable),
            GatewayError::Body(BodyError::Malformed(JweError::SegmentCount)),
            GatewayError::Body(BodyError::Decrypt),
            GatewayError::Body(BodyError::TooLarge),
            GatewayError::Body(BodyError::Timeout),
            GatewayError::Body(BodyError::Read),
            GatewayError::Body(BodyError::WrongType),
            GatewayError::Body(BodyError::BoundElsewhere),
            GatewayError::Body(BodyError::Unbound),
            GatewayError::Body(BodyError::SealNotEmpty),
            GatewayError::NoRoute,
            GatewayError::NotSupported,
            GatewayError::BadPath,
            GatewayError::BadHandshake,
            GatewayError::DuplicateHost,
            GatewayError::TooManyHeaders,
            GatewayError::Upstream(UpstreamError::Unreachable),
            GatewayError::Upstream(UpstreamError::Invalid),
            GatewayError::Upstream(UpstreamError::TooLarge),
            GatewayError::Upstream(UpstreamError::Timeout),
            GatewayError::Upstream(UpstreamError::Framing),
            GatewayError::Overloaded,
            GatewayError::RouteBusy,
            GatewayError::RateLimited(Box::new(RateLimited {
                retry_after_secs: 1,
                policy: HeaderValue::from_static("p"),
                state: HeaderValue::from_static("s"),
            })),
            GatewayError::StateUnavailable,
            GatewayError::Internal(""),
        ];
        let mut codes: Vec<_> = all.iter().map(|e| e.parts().1).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}

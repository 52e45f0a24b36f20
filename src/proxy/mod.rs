//! Proxied routes (docs/protocol.md §4): match a route, check the token, open the encrypted request
//! body, forward plaintext to the upstream, and seal the response where the route says so.
//!
//! The phases of [`handle`], in order:
//! 1. **refuse** what a reverse proxy must not pass (`CONNECT`, `Upgrade`, ambiguous paths);
//! 2. **route** by longest prefix, or 404;
//! 3. **authenticate** (token routes): bearer token → [`crate::auth::verify`] → session;
//! 4. **open** the body (encrypted routes): read it whole under the limit and deadline,
//!    open it with the session key through [`crate::jose::jwe`], refuse a replayed IV;
//!    plain routes stream the body instead;
//! 5. **forward** with rewritten headers ([`headers`]) to an instance the route's
//!    [`crate::upstream::RouteUpstreams`] picks, under the route's timeout, retrying where
//!    the route allows;
//! 6. **seal** the response (encrypted routes) or stream it back.

pub mod grpc;
pub mod headers;
pub mod jwks;
pub mod route;
pub mod tunnel;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::config::{Config, RateKey, RateLimit, Route, RouteAuth};
use crate::context::{AppState, ConnInfo};
use crate::error::{BodyError, GatewayError, RateLimited, UpstreamError};
use crate::jose::jwe::{self, Header};
use crate::limit::gcra::{Decision, Gcra};
use crate::metrics::RateLimitedLabels;
use crate::observe::trace::RequestTrace;
use crate::observe::{CountIn, Trail};
use crate::session::Session;
use crate::upstream::{Connector, Exchange, RouteUpstreams, SendError, Table, UpstreamBody};
use crate::wire::{self as h, APPLICATION_JOSE, Body};

/// The upstream `Content-Type` when the JWE header has no `cty`.
pub const DEFAULT_PLAINTEXT_TYPE: &str = "application/json";

/// Everything a proxied request needs from the gateway.
pub struct Context<'a> {
    /// The configuration in force.
    pub config: &'a Config,
    /// Its generation ([`crate::gateway::Live::generation`]).
    pub generation: u64,
    /// Sessions, metrics and the clock: what outlives a configuration.
    pub app: &'a AppState,
    /// Opens connections to upstreams.
    pub connector: &'a Connector,
    /// The routes' upstream state, in the order of [`Config::routes`].
    pub upstreams: &'a Table,
    /// The identity providers' key sets, by provider name.
    pub jwks: &'a std::collections::HashMap<Arc<str>, Arc<jwks::KeyStore>>,
    /// The client connection.
    pub conn: &'a ConnInfo,
    /// The request id.
    pub request_id: &'a str,
    /// The request's path, normalised ([`route::normalize`]): what the route was chosen by
    /// and what is forwarded.
    pub path: &'a str,
    /// The longest-prefix route for the path ([`route::select`]), chosen once by the caller,
    /// which also labels its metrics with it.
    pub route: Option<&'a Arc<Route>>,
    /// What the access line will say of this request, filled in here.
    pub trail: &'a Arc<Trail>,
    /// The request's trace: child spans for each phase.
    pub trace: &'a RequestTrace,
}

/// Serves one request on a proxied route. A failure is returned, not answered: the
/// lifecycle logs, counts and answers every failure in one place.
pub async fn handle(
    ctx: &Context<'_>,
    request: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    // 1. refuse
    if request.method() == Method::CONNECT {
        return Err(GatewayError::NotSupported);
    }
    let upgrade = wants_upgrade(request.headers());
    // 2. route
    let route = Arc::clone(ctx.route.ok_or(GatewayError::NoRoute)?);
    // Only a route that allows WebSocket takes an upgrade, and only a proper handshake.
    let websocket = match (upgrade, &route.websocket) {
        (false, _) => None,
        (true, None) => return Err(GatewayError::NotSupported),
        (true, Some(websocket)) => {
            if !tunnel::is_handshake(request.method(), request.version(), request.headers()) {
                return Err(GatewayError::BadHandshake);
            }
            Some(websocket.clone())
        }
    };
    // The handshake's key and version as checked: sent as they are, even if the client's
    // `Connection` named them (which would have them removed with the hop-by-hop fields).
    let handshake: Vec<(header::HeaderName, HeaderValue)> = if websocket.is_some() {
        [header::SEC_WEBSOCKET_KEY, header::SEC_WEBSOCKET_VERSION]
            .into_iter()
            .filter_map(|name| Some((name.clone(), request.headers().get(&name)?.clone())))
            .collect()
    } else {
        Vec::new()
    };
    let upstreams = ctx
        .upstreams
        .get(route.index)
        .ok_or(GatewayError::Internal("no upstream state for the route"))?;
    // Circuit breaking: a route at its own limit sheds load rather than queue behind a
    // slow upstream.
    let _route_slot = upstreams.take_slot().ok_or(GatewayError::RouteBusy)?;
    // 3. authenticate
    let now = ctx.app.clock.now_secs();
    let mut jwt = None;
    let session = match route.auth {
        RouteAuth::None => None,
        RouteAuth::Jwt => {
            let mut span = ctx.trace.child("jwt.verify");
            let verified = verify_jwt(ctx, &route, request.headers(), now)
                .await
                .inspect_err(|error| span.fail(error.parts().1))?;
            jwt = Some(verified);
            None
        }
        RouteAuth::Token => {
            let mut span = ctx.trace.child("token.verify");
            let session = authenticate(ctx, request.headers(), now)
                .await
                .inspect_err(|error| span.fail(error.parts().1))?;
            ctx.trail
                .set_identity(Arc::clone(&session.client), Arc::clone(&session.channel));
            Some(session)
        }
    };
    // 3b. the route's rate limit: after the token (a client's allowance is spent only by
    // requests that prove they are its own), before any body is read or opened
    let rate_headers = match &route.rate_limit {
        Some(limit) => {
            let subject = jwt.as_ref().and_then(|jwt| jwt.subject.as_deref());
            Some(check_rate(ctx, &route, limit, session.as_deref(), subject).await?)
        }
        None => None,
    };
    let open_span = session.as_ref().map(|_| ctx.trace.child("body.open"));
    // 4. open: the sealed body, or the seal of a bodyless request (docs/protocol.md §4.1)
    let (mut parts, body) = request.into_parts();
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .and_then(|host| ctx.config.server.forwarded_host(&host).map(str::to_owned));
    let seal = parts.headers.get(crate::wire::X_REQUEST_SEAL).cloned();
    // The body, and (when it is buffered) a copy to send again if the first instance could
    // not be connected to.
    let (body, replay): (Body, Option<Bytes>) = match (&session, route.encrypted_request) {
        (Some(session), true) => {
            let binding = binding_for(ctx, session, &parts.method, &parts.uri);
            let length = h::content_length(&parts.headers);
            let sealed = h::read_body(
                body,
                length,
                route.max_body_bytes,
                route
                    .body_read_timeout
                    .unwrap_or(ctx.config.server.body_read_timeout),
            )
            .await
            .map_err(BodyError::from)?;
            ctx.trail.add_bytes_in(sealed.len() as u64);
            if sealed.is_empty() {
                check_seal(ctx, session, seal.as_ref(), &binding, now).await?;
                // "A request body, when there is one": no body is forwarded as no body.
                parts.headers.remove(header::CONTENT_TYPE);
                parts.headers.remove(header::CONTENT_LENGTH);
                parts.headers.remove(header::CONTENT_ENCODING);
                (h::full(Bytes::new()), Some(Bytes::new()))
            } else {
                let plaintext =
                    open_body(ctx, session, &sealed, &mut parts.headers, &binding, now).await?;
                (h::full(plaintext.clone()), Some(plaintext))
            }
        }
        (session, _) => {
            if h::content_length(&parts.headers)
                .is_some_and(|len| len > route.max_body_bytes as u64)
            {
                return Err(BodyError::TooLarge.into());
            }
            if let Some(session) = session {
                // A token route whose bodies are not sealed: the revocation check, and the
                // seal when one is sent (or required of a bodyless request).
                // Where binding is required, every request here carries a seal: whether a
                // request has a body cannot be told from its head (an empty chunked body, an
                // HTTP/2 stream ended by an empty DATA frame), and its plain body is not
                // bound by anything else.
                let binding = binding_for(ctx, session, &parts.method, &parts.uri);
                if seal.is_some() || binding.required {
                    check_seal(ctx, session, seal.as_ref(), &binding, now).await?;
                } else {
                    admit_in_state(ctx, session, None, now).await?;
                }
            }
            let replay = http_body::Body::is_end_stream(&body).then(Bytes::new);
            let body = CountIn::new(body, Arc::clone(ctx.trail));
            (
                http_body_util::Limited::new(body, route.max_body_bytes).boxed_unsync(),
                replay,
            )
        }
    };
    drop(open_span);
    // 5. forward
    let fwd = headers::Forwarding {
        client_ip: ctx.conn.client,
        proto: ctx.conn.scheme.as_str(),
        host: host.as_deref(),
        request_id: ctx.request_id,
        identity: session.as_ref().map(|s| (&*s.client, &*s.channel)),
        cert_subject: ctx.conn.client_cert_subject.as_ref().map(|s| s.1.as_str()),
        identity_headers: &ctx.config.token.identity_headers,
        // The same rule as the one that read X-Forwarded-For for `client_ip`.
        via_trusted_proxy: crate::context::is_trusted_proxy(
            ctx.conn.source,
            &ctx.config.server.trusted_proxies,
        ),
        claim_headers: &ctx.config.claim_headers,
        claims: jwt.as_ref().map_or(&[][..], |jwt| jwt.claims.as_slice()),
    };
    let content_length = parts.headers.get(header::CONTENT_LENGTH).cloned();
    // A gRPC call on a route whose bodies are not sealed: its time is bounded (see `grpc`).
    let grpc_call =
        !route.encrypted_request && !route.encrypted_response && grpc::is_grpc(&parts.headers);
    // `TE: trailers` is hop-by-hop but says the client reads trailers; HTTP/2 allows it
    // through (RFC 9113 §8.2.2) and gRPC servers may ask for it.
    let te_trailers = parts
        .headers
        .get_all(header::TE)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    // On a JWT route the provider's token is in `Authorization`, and stays here (with a
    // sealgate token a client may send beside it).
    let token_header = if route.auth == RouteAuth::Jwt {
        parts.headers.remove(&ctx.config.token.authorization_header);
        &header::AUTHORIZATION
    } else {
        &ctx.config.token.authorization_header
    };
    headers::to_upstream(&mut parts.headers, token_header, &fwd);
    if let Some(length) = content_length {
        parts.headers.insert(header::CONTENT_LENGTH, length);
    }
    let http2 = route.upstream_protocol == crate::config::UpstreamProtocol::Http2;
    if te_trailers && http2 {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    let head_timeout = if grpc_call {
        grpc::bound(&mut parts.headers, route.upstream_timeout)
    } else {
        route.upstream_timeout
    };
    let call_ends = tokio::time::Instant::now() + head_timeout;
    if route.encrypted_response {
        // The body will be sealed; ask for it uncompressed so `cty` describes it exactly.
        parts.headers.remove(header::ACCEPT_ENCODING);
    }
    parts.version = http::Version::HTTP_11;
    let query = parts.uri.query().map(str::to_owned);
    let now_ms = u64::try_from(ctx.app.clock.now_ms()).unwrap_or_default();
    upstreams.count_request(&route, now_ms);
    let mut index = upstreams.pick(&route, now_ms, None);
    parts.uri = upstream_uri(&route, &route.upstreams[index], ctx.path, query.as_deref())?;
    tracing::trace!(request_id = ctx.request_id, route = %route.prefix, upstream = %parts.uri, "forwarding");
    if let Some(websocket) = &websocket {
        drop(body);
        for (name, value) in handshake {
            parts.headers.insert(name, value);
        }
        // A tunnel lives no longer than the token that opened it.
        let valid_until = session
            .as_ref()
            .map(|s| s.expires_at)
            .or(jwt.as_ref().map(|jwt| jwt.valid_until));
        // Boxed: the handshake's state would otherwise be inline in every request's future
        // (see `observed`).
        let response = Box::pin(tunnel::forward(
            ctx,
            &route,
            upstreams,
            index,
            websocket,
            valid_until,
            parts,
        ))
        .await?;
        return Ok(with_rate_headers(response, rate_headers));
    }
    // A buffered body can be sent again. Always to another instance when the first could
    // not even be connected to (nothing was sent, so nothing can arrive twice); and where
    // the route opts in (`[routes.retry]`), an idempotent request after a 502, a 503, a
    // failed connection or a timeout, while the route's retry budget allows. A streamed
    // body cannot be sent twice.
    let buffered = replay.is_some();
    let attempts = match &route.retry {
        Some(retry) if crate::upstream::idempotent(&parts.method) => retry.attempts,
        _ => 1,
    };
    let again = replay
        .filter(|_| route.upstreams.len() > 1)
        .map(|body| (parts.method.clone(), parts.headers.clone(), body));
    // Request trailers go no further than the gateway: over HTTP/1.1 hyper drops them, and
    // over HTTP/2 they would carry what the head may not (an identity or claim header a
    // client wrote) past the rewriting above.
    let body = if http2 {
        body.map_frame(|frame| match frame.into_trailers() {
            Ok(_) => http_body::Frame::data(Bytes::new()),
            Err(frame) => frame,
        })
        .boxed_unsync()
    } else {
        body
    };
    let mut request = Request::from_parts(parts, body);
    let mut attempt = 1;
    let response = loop {
        let result = send_to(
            ctx,
            &route,
            upstreams,
            index,
            request,
            buffered,
            head_timeout,
        )
        .await;
        let Some((method, headers, body)) = &again else {
            break result;
        };
        let unsent = matches!(&result, Err(error) if error.nothing_sent);
        let retryable = match &result {
            Ok(response) => matches!(response.status().as_u16(), 502 | 503),
            Err(error) => matches!(
                error.kind,
                UpstreamError::Unreachable | UpstreamError::Timeout
            ),
        };
        let retry = if unsent && attempt == 1 {
            true
        } else {
            retryable
                && attempt < attempts
                && upstreams.allow_retry(&route, now_ms)
        };
        if !retry {
            break result;
        }
        attempt += 1;
        index = upstreams.pick(&route, now_ms, Some(index));
        let mut next = Request::new(h::full(body.clone()));
        *next.method_mut() = method.clone();
        *next.uri_mut() = upstream_uri(&route, &route.upstreams[index], ctx.path, query.as_deref())?;
        *next.headers_mut() = headers.clone();
        *next.version_mut() = http::Version::HTTP_11;
        tracing::debug!(request_id = ctx.request_id, route = %route.prefix, attempt, "retrying on another instance");
        request = next;
    }
    .map_err(UpstreamError::from)?;
    // 6. seal or stream back
    let response = match (&session, route.encrypted_response) {
        (Some(session), true) => {
            let _span = ctx.trace.child("body.seal");
            seal_response(&route, session, response).await?
        }
        _ => {
            let (mut parts, body) = response.into_parts();
            headers::to_client(&mut parts.headers);
            let body = body.map_err(Into::into).boxed_unsync();
            let body = if grpc_call {
                grpc::Deadline::new(body, call_ends).boxed_unsync()
            } else {
                body
            };
            Response::from_parts(parts, body)
        }
    };
    Ok(with_rate_headers(response, rate_headers))
}

/// The route's rate-limit headers on its answer: the gateway's own, replacing whatever the
/// upstream said under these names.
fn with_rate_headers(
    mut response: Response<Body>,
    rate_headers: Option<[HeaderValue; 2]>,
) -> Response<Body> {
    if let Some([policy, state]) = rate_headers {
        response.headers_mut().insert(h::RATELIMIT_POLICY, policy);
        response.headers_mut().insert(h::RATELIMIT, state);
    }
    response
}

/// Counts the request against `limit` for whom it keys on: the client proved by the token,
/// the token's session, or the trusted client address (never a value the client writes
/// itself). Allowed: the `RateLimit-Policy` and `RateLimit` values for the answer. Refused:
/// [`GatewayError::RateLimited`], counted per route and key kind.
async fn check_rate(
    ctx: &Context<'_>,
    route: &crate::config::Route,
    limit: &RateLimit,
    session: Option<&Session>,
    subject: Option<&str>,
) -> Result<[HeaderValue; 2], GatewayError> {
    let who = match (limit.key, session, subject) {
        (RateKey::Client, Some(session), _) => session.client.to_string(),
        (RateKey::Session, Some(session), _) => session.id.encode(),
        // An identity provider's token: its subject (length-prefixed, so no subject can
        // pass for another's key).
        (RateKey::Client, None, Some(subject)) => format!("sub:{}:{subject}", subject.len()),
        // Validation allows only `address` on a route without sessions.
        _ => address_key(ctx.conn.client, limit.ipv6_prefix),
    };
    let name = limit.key.name();
    let key = format!("{} {name} {who}", route.key());
    let now_us = u64::try_from(ctx.app.clock.now_ms())
        .unwrap_or_default()
        .saturating_mul(1000);
    let decision = ctx
        .app
        .state
        .rate(&key, Gcra::of(limit), limit.shared, now_us)
        .await?;
    let header = |text: String| {
        HeaderValue::try_from(text).map_err(|_| GatewayError::Internal("rate limit header"))
    };
    let policy = header(format!(
        "\"{name}\";q={};w={}",
        limit.requests, limit.period_secs
    ))?;
    let state = header(format!(
        "\"{name}\";r={};t={}",
        decision.remaining,
        Decision::seconds(decision.reset_us)
    ))?;
    if decision.allowed {
        return Ok([policy, state]);
    }
    ctx.app
        .metrics
        .rate_limited
        .get_or_create(&RateLimitedLabels {
            route: Arc::clone(&route.label),
            key: name,
        })
        .inc();
    Err(GatewayError::RateLimited(Box::new(RateLimited {
        retry_after_secs: Decision::seconds(decision.retry_after_us),
        policy,
        state,
    })))
}

/// Verifies the route's identity provider's bearer JWT (`Authorization: Bearer`): the
/// token's subject (its `sub`, `-` when it has none) and the claims the provider maps to
/// headers, as header values. The subject and provider name are the access line's identity.
async fn verify_jwt(
    ctx: &Context<'_>,
    route: &Route,
    headers: &http::HeaderMap,
    now: i64,
) -> Result<VerifiedJwt, GatewayError> {
    let provider = route
        .jwt_provider
        .as_ref()
        .ok_or(GatewayError::Internal("a JWT route without its provider"))?;
    let store = ctx
        .jwks
        .get(&provider.name)
        .ok_or(GatewayError::Internal("no key store for the provider"))?;
    let token = crate::auth::bearer(headers, &header::AUTHORIZATION)?;
    let verified = store.verify(token, provider, now).await?;
    let subject: Option<Arc<str>> = verified.claim_text("sub").map(Arc::from);
    ctx.trail.set_identity(
        subject.clone().unwrap_or_else(|| Arc::from("-")),
        Arc::clone(&provider.name),
    );
    let valid_until = verified
        .expires_at
        .saturating_add(i64::try_from(provider.policy.leeway_secs).unwrap_or(i64::MAX));
    let claims = provider
        .claim_headers
        .iter()
        .filter_map(|(claim, header)| {
            let value = HeaderValue::try_from(verified.claim_text(claim)?).ok()?;
            Some((header.clone(), value))
        })
        .collect();
    Ok(VerifiedJwt {
        subject,
        claims,
        valid_until,
    })
}

/// What a verified identity provider's token gives the rest of the request.
struct VerifiedJwt {
    /// Its `sub`, when it has one as text (a rate limit's `client` key).
    subject: Option<Arc<str>>,
    /// The claims the provider maps to headers.
    claims: Vec<(http::HeaderName, HeaderValue)>,
    /// The last second it is accepted (`exp` and the leeway): a tunnel ends then.
    valid_until: i64,
}

/// The text an address is counted under: an IPv4 address as it is (a 6to4 address,
/// `2002:a.b.c.d::/48`, as the IPv4 address it carries), an IPv6 address by its first
/// `prefix` bits (one subscriber's block: counting single IPv6 addresses would hand a
/// client 2^64 allowances).
fn address_key(address: std::net::IpAddr, prefix: u8) -> String {
    if let std::net::IpAddr::V6(v6) = address.to_canonical()
        && u128::from(v6) >> 112 == 0x2002
    {
        let [a, b, c, d] = ((u128::from(v6) >> 80) as u32).to_be_bytes();
        return std::net::Ipv4Addr::new(a, b, c, d).to_string();
    }
    match h::ip_prefix(address, 32, prefix) {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("{v6}/{prefix}"),
    }
}

/// Whether the client asks for a protocol switch we would have to carry out (WebSocket and
/// the like). `Upgrade: h2c` alone is declined by ignoring it, as RFC 9110 §7.8 allows and
/// RFC 9113 §3.1 expects: HTTP clients such as Java's send it by default on plain HTTP.
fn wants_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .any(|protocol| !protocol.trim().eq_ignore_ascii_case("h2c"))
}

async fn authenticate(
    ctx: &Context<'_>,
    headers: &http::HeaderMap,
    now: i64,
) -> Result<Arc<Session>, GatewayError> {
    // Replay memory on the memory backend began with this process: a token from before
    // may have had bodies accepted that this instance cannot know of.
    let issued_from = (!ctx.config.sessions.replay.accept_tokens_from_before_start
        && !ctx.app.state.is_shared())
    .then_some(ctx.app.started_at_ms);
    crate::auth::authenticate(
        headers,
        ctx.config,
        ctx.generation,
        &ctx.conn.tokens,
        &ctx.app.state,
        issued_from,
        now,
    )
    .await
    .map_err(GatewayError::from)
}

/// Admits one request of `session` with the state backend: revocation (from any instance)
/// and, for an authentic encrypted body, the replay check of its IV.
async fn admit_in_state(
    ctx: &Context<'_>,
    session: &Session,
    iv: Option<&[u8; jwe::IV_LEN]>,
    now: i64,
) -> Result<(), GatewayError> {
    let token = &ctx.config.token;
    let until = token.accepted_until(session.expires_at);
    ctx.app
        .state
        .admit(
            session,
            iv,
            token.max_requests_per_session,
            until,
            now,
            ctx.conn.client,
        )
        .await
        .map_err(GatewayError::from)
}

/// Opens a sealed request body, admits it (revocation and replay, see [`admit_in_state`]) and sets
/// the upstream `Content-Type`/`Content-Length`.
async fn open_body(
    ctx: &Context<'_>,
    session: &Session,
    sealed: &Bytes,
    headers: &mut http::HeaderMap,
    binding: &Binding<'_>,
    now: i64,
) -> Result<Bytes, GatewayError> {
    headers.remove(header::CONTENT_ENCODING);
    let parsed = jwe::parse(sealed, usize::MAX).map_err(BodyError::Malformed)?;
    let header = parsed.header.clone();
    let iv = *parsed.iv();
    let plaintext = parsed
        .decrypt(&session.key)
        .map_err(|_| BodyError::Decrypt)?;
    // Authentic; now: is it a request, and this request? (A body bound elsewhere does not
    // consume its IV here, so the request it was made for can still be delivered.)
    check_binding(&header, binding, false)?;
    // Only an authentic body may consume an IV slot.
    admit_in_state(ctx, session, Some(&iv), now).await?;
    let content_type = header.cty;
    let plaintext = Bytes::from(plaintext);
    let content_type = content_type.as_deref().unwrap_or(DEFAULT_PLAINTEXT_TYPE);
    let content_type = HeaderValue::from_str(content_type)
        .map_err(|_| BodyError::Malformed(jwe::JweError::MemberType("cty")))?;
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(plaintext.len()));
    Ok(plaintext)
}

/// Sends one request to instance `index` of `route` under the route's timeout, and tells
/// the route's upstream state how it went ([`RouteUpstreams::observe`]: health, ejection,
/// metrics).
async fn send_to(
    ctx: &Context<'_>,
    route: &Route,
    upstreams: &RouteUpstreams,
    index: usize,
    request: Request<Body>,
    buffered: bool,
    timeout: std::time::Duration,
) -> Result<Response<UpstreamBody>, SendError> {
    let mut request = request;
    let mut span = ctx
        .trace
        .upstream_call(&route.upstreams[index].label, request.headers_mut());
    let uploaded = Arc::new(AtomicBool::new(false));
    // A buffered body had all arrived; a streamed one, once it was sent whole.
    let upload_complete = || buffered || uploaded.load(Ordering::Acquire);
    // The exchange's future is made inside the call, so that it lives in one place only
    // (see `observed`).
    let (result, outcome) = observed(
        ctx,
        route,
        upstreams,
        index,
        timeout,
        upstreams.instances[index].pool.send(
            ctx.connector,
            request,
            connect_timeout(ctx, route),
            Arc::clone(&uploaded),
        ),
        upload_complete,
    )
    .await;
    if outcome != "ok" {
        span.fail(outcome);
    }
    result
}

/// The connect timeout for `route`'s instances.
fn connect_timeout(ctx: &Context<'_>, route: &Route) -> std::time::Duration {
    route
        .connect_timeout
        .unwrap_or(ctx.config.server.upstream_connect_timeout)
}

/// Runs one exchange `send` with instance `index` under `timeout` (a timeout counts as sent)
/// and records it: the instance on the trail, the outcome for the instance's health and
/// metrics, and the time to the answer's head. Returns the result and the outcome's label.
/// The exchange starts when the returned future is first polled; the instance is on the
/// trail and the clock started from the call.
///
/// Not an `async fn` nor an `async` block: either keeps `send` and the timeout made of it as
/// two fields of its state, the exchange's future twice over (7.7 KB for a pooled exchange),
/// and every request's future is copied whole into its box (`Gateway::dispatch`): that copy
/// was a sixth of the plain route's user-space instructions (`benches/callgrind.sh`).
fn observed<'a, B: 'a>(
    ctx: &'a Context<'_>,
    route: &'a Route,
    upstreams: &'a RouteUpstreams,
    index: usize,
    timeout: std::time::Duration,
    send: impl Future<Output = Result<Response<B>, SendError>> + 'a,
    upload_complete: impl FnOnce() -> bool + 'a,
) -> impl Future<Output = (Result<Response<B>, SendError>, &'static str)> + 'a {
    use futures_util::FutureExt as _;
    ctx.trail.set_upstream(&route.upstreams[index].label);
    let sent = std::time::Instant::now();
    tokio::time::timeout(timeout, send).map(move |timed| {
        let result = timed.unwrap_or(Err(SendError {
            kind: UpstreamError::Timeout,
            nothing_sent: false,
        }));
        let exchange = Exchange {
            result: result.as_ref().map(Response::status).map_err(|e| *e),
            upload_complete: upload_complete(),
        };
        let elapsed = result.is_ok().then(|| sent.elapsed());
        let now_ms = u64::try_from(ctx.app.clock.now_ms()).unwrap_or_default();
        upstreams.observe(route, index, &exchange, elapsed, &ctx.app.metrics, now_ms);
        if let Some(elapsed) = elapsed {
            ctx.trail.set_upstream_time(elapsed);
        }
        (result, exchange.label())
    })
}

/// What a sealed message of this request must be bound to (docs/protocol.md §4.1).
struct Binding<'a> {
    method: &'a Method,
    /// The path exactly as the request carried it (before normalisation and prefix
    /// stripping): `htp` is the target as the client sent it, compared byte for byte.
    path: &'a str,
    query: Option<&'a str>,
    /// The session's channel requires `htm`/`htp` on every body and a seal on every
    /// bodyless request.
    required: bool,
}

fn binding_for<'a>(
    ctx: &Context<'a>,
    session: &Session,
    method: &'a Method,
    uri: &'a Uri,
) -> Binding<'a> {
    Binding {
        method,
        path: uri.path(),
        query: uri.query(),
        required: ctx
            .config
            .channels
            .get(&*session.channel)
            .is_some_and(|c| c.require_request_binding),
    }
}

/// The largest `X-Request-Seal` accepted: an empty plaintext under a short header.
const MAX_SEAL_LEN: usize = 2048;

/// Checks the `X-Request-Seal` of a bodyless request like a body (docs/protocol.md §4.1): it opens
/// with the session key, its plaintext is empty, it is a request bound to this method and
/// target, and its IV has not been seen in the session. Without one, the revocation check
/// alone, unless the channel requires binding.
async fn check_seal(
    ctx: &Context<'_>,
    session: &Session,
    seal: Option<&HeaderValue>,
    binding: &Binding<'_>,
    now: i64,
) -> Result<(), GatewayError> {
    let Some(seal) = seal else {
        if binding.required {
            return Err(BodyError::Unbound.into());
        }
        return admit_in_state(ctx, session, None, now).await;
    };
    let parsed = jwe::parse(seal.as_bytes(), MAX_SEAL_LEN).map_err(BodyError::Malformed)?;
    let header = parsed.header.clone();
    let iv = *parsed.iv();
    let plaintext = parsed
        .decrypt(&session.key)
        .map_err(|_| BodyError::Decrypt)?;
    if !plaintext.is_empty() {
        return Err(BodyError::SealNotEmpty.into());
    }
    check_binding(&header, binding, true)?;
    admit_in_state(ctx, session, Some(&iv), now).await
}

/// The `typ` rule and the binding of docs/protocol.md §4.1, on an authentic sealed message: a
/// `typ` other than `request+jwe` is refused (a sealed response posted back as a request);
/// `htm`/`htp`, when present, must be this request's method and target; and they must be
/// present when `must_bind` (a seal) or the channel requires it.
fn check_binding(
    header: &jwe::Header,
    binding: &Binding<'_>,
    must_bind: bool,
) -> Result<(), BodyError> {
    if header
        .typ
        .as_deref()
        .is_some_and(|typ| typ != jwe::TYP_REQUEST)
    {
        return Err(BodyError::WrongType);
    }
    if (must_bind || binding.required) && (header.htm.is_none() || header.htp.is_none()) {
        return Err(BodyError::Unbound);
    }
    if let Some(htm) = &header.htm
        && htm != binding.method.as_str()
    {
        return Err(BodyError::BoundElsewhere);
    }
    if let Some(htp) = &header.htp {
        let (path, query) = match htp.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (htp.as_str(), None),
        };
        // The client binds the target exactly as it sends it, and the gateway compares it
        // with the target exactly as received: `//api/x` is not `/api/x` here, even though
        // both route alike (a balancer that rewrites the target breaks the binding, as it
        // should: the client did not send what arrived).
        if path != binding.path || query != binding.query {
            return Err(BodyError::BoundElsewhere);
        }
    }
    Ok(())
}

fn upstream_uri(
    route: &Route,
    upstream: &crate::config::Upstream,
    path: &str,
    query: Option<&str>,
) -> Result<Uri, GatewayError> {
    let mut path = route::upstream_path(route, &upstream.base_path, path);
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|_| GatewayError::BadPath)
}

async fn seal_response(
    route: &Route,
    session: &Session,
    response: Response<UpstreamBody>,
) -> Result<Response<Body>, GatewayError> {
    let (mut parts, body) = response.into_parts();
    // We asked for no content coding; a body still compressed could not be described by
    // `cty`, so refuse it rather than hand the client bytes it cannot interpret.
    if parts
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v != "identity")
    {
        return Err(UpstreamError::Invalid.into());
    }
    let length = h::content_length(&parts.headers);
    let plaintext = h::read_body(body, length, route.max_body_bytes, route.upstream_timeout)
        .await
        .map_err(UpstreamError::from)?;
    let cty = parts
        .headers
        .remove(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    // A sealed response leaks nothing in clear (docs/protocol.md §4): of the upstream's headers only
    // those the route allows pass; by default none, since `ETag`, `Digest`, `Content-MD5`,
    // `Content-Disposition`, `Set-Cookie` or `Location` can describe the plaintext.
    headers::keep_only(&mut parts.headers, &route.sealed_response_headers);
    let header = Header {
        cty,
        typ: Some(jwe::TYP_RESPONSE.to_owned()),
        ..Header::default()
    };
    let sealed = jwe::seal(&plaintext, &session.key, &header)
        .map_err(|_| GatewayError::Internal("response sealing failed"))?;
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(APPLICATION_JOSE),
    );
    // RFC 9111 §5.2.2.5: what is sealed under a session key is for that session only.
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Response::from_parts(parts, h::full(sealed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_address_counts_by_its_prefix_and_a_mapped_or_6to4_ipv4_as_ipv4() {
        let key = |text: &str| address_key(text.parse().unwrap(), 64);
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        // 6to4 carries an IPv4 address: counted as that address, whatever follows it.
        assert_eq!(key("2002:c000:0207:1::5"), "192.0.2.7");
        assert_eq!(key("2002:c000:0207:ffff::9"), "192.0.2.7");
        // A household's /56, when configured so.
        let home = |text: &str| address_key(text.parse().unwrap(), 56);
        assert_eq!(home("2001:db8:1:2a::1"), home("2001:db8:1:ff::1"));
        assert_eq!(home("2001:db8:1:2a::1"), "2001:db8:1::/56");
        assert_eq!(
            address_key("2001:db8::1".parse().unwrap(), 128),
            "2001:db8::1/128"
        );
    }
}

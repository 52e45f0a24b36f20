//! The token endpoint's HTTP handler: the checks of docs/protocol.md §1 in their order, then
//! [`super::issue::issue`]; and, when enabled, session revocation by `DELETE`. Each failure
//! is a [`TokenError`]; the mapping to a response is in [`crate::error`].

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::issue::{handshake_signature, issue};
use crate::config::{Config, SECRET_CHECK_WAIT, SessionMode};
use std::sync::Arc;

use crate::context::{AppState, ConnInfo};
use crate::error::{ErrorBody, Failure, GatewayError, TokenError};
use crate::jose::jwe;
use crate::observe::Trail;
use crate::observe::trace::RequestTrace;
use crate::state::{InsertError, LimitKind};
use crate::token::gateway_keys::GatewayKeys;
use crate::token::request::TokenRequest;
use crate::wire::{self as h, APPLICATION_JOSE, Body, BodyReadError, X_API_KEY};

/// Serves one request on the token path. A failure is returned, not answered: the
/// lifecycle logs, counts and answers every failure in one place.
pub async fn handle(
    config: &Config,
    app: &AppState,
    conn: &ConnInfo,
    trail: &Arc<Trail>,
    trace: &RequestTrace,
    request: Request<Incoming>,
) -> Result<Response<Body>, Failure> {
    if request.method() == Method::DELETE && config.token.revocation {
        return revoke(config, app, &request).await.map_err(Failure::from);
    }
    let mut span = trace.child("token.issue");
    let outcome = issue_token(config, app, conn, trail, request).await;
    if let Err(error) = &outcome {
        span.fail(error.parts().1);
    }
    let response = outcome?;
    app.metrics.count_token("TOK200");
    trail.set_res_code("TOK200");
    Ok(response)
}

async fn issue_token(
    config: &Config,
    app: &AppState,
    conn: &ConnInfo,
    trail: &Arc<Trail>,
    request: Request<Incoming>,
) -> Result<Response<Body>, TokenError> {
    if request.method() != Method::POST {
        let allow = if config.token.revocation {
            "POST, DELETE"
        } else {
            "POST"
        };
        return Err(TokenError::MethodNotAllowed { allow });
    }
    // Check 1: the channel, from the header alone, before reading any body.
    let channel = request
        .headers()
        .get(X_API_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| config.channels.get(v))
        .ok_or(TokenError::UnknownChannel)?
        .clone();
    let now = app.clock.now_secs();
    let address = limit_key(conn.client);
    let limit = config.token.rate_limit_per_address;
    if !app
        .state
        .allow(LimitKind::Address, &address, limit, now)
        .await?
    {
        return Err(TokenError::RateLimited);
    }
    let length = h::content_length(request.headers());
    // A sealed request (docs/protocol.md §1.1) says so by its media type; any other is the seed's
    // plain JSON, whatever its Content-Type says (docs/protocol.md §1).
    let sealed = h::is_media_type(request.headers(), APPLICATION_JOSE);
    let body = read(request.into_body(), length, config).await?;
    trail.add_bytes_in(body.len() as u64);
    if !sealed && channel.require_sealed_token_request {
        return Err(TokenError::SealRequired);
    }
    // Check 2: the body's shape (after opening a sealed one).
    let parsed = if sealed {
        open_sealed_request(&body, &config.gateway_keys)
            .map(|opened| (TokenRequest::parse(&opened.plaintext), Some(opened.binding)))
    } else {
        Ok((TokenRequest::parse(&body), None))
    };
    // The body holds `secret` in clear: wipe it as soon as it is parsed (when this is the
    // buffer's only handle, as it is for a body read whole).
    if let Ok(mut buffer) = body.try_into_mut() {
        zeroize::Zeroize::zeroize(&mut buffer[..]);
    }
    let (token_request, binding) = parsed?;
    // A sealed request is fresh and meant for this channel (docs/protocol.md §1.1); that it is
    // used once is checked last, below, so only a request that would get a token is
    // remembered.
    if let Some(binding) = &binding {
        check_binding(config, &channel, binding, now)?;
    }
    let token_request = token_request.map_err(|_| TokenError::MalformedBody)?;
    // Check 3: the client exists.
    let client = config
        .clients
        .get(&token_request.api_key)
        .ok_or(TokenError::UnknownClient)?
        .clone();
    // A brake before the (possibly costly) secret check, per client *and* address: wrong
    // secrets sent from one place use up that place's allowance, never the client's own.
    let limit = config.token.rate_limit_per_client;
    let client_address = format!("{}\u{0}{address}", client.id);
    if !app
        .state
        .allow(LimitKind::ClientAddress, &client_address, limit, now)
        .await?
    {
        return Err(TokenError::RateLimited);
    }
    // Check 4: secret (always evaluated, in constant time), client certificate if bound,
    // enabled, allowed on the channel.
    let secret_ok = if client.secret.is_slow() {
        // A few slots, not the whole blocking pool: a burst of wrong secrets waits here.
        let slot = tokio::time::timeout(
            SECRET_CHECK_WAIT,
            std::sync::Arc::clone(&app.secret_checks).acquire_owned(),
        )
        .await
        .map_err(|_| TokenError::Busy)?
        .map_err(|_| TokenError::Internal("secret check slots closed"))?;
        let (client, secret) = (client.clone(), token_request.secret.clone());
        let running = app.metrics.secret_checks_running.clone();
        // The slot moves into the check: a client that hangs up does not free it while
        // the check still runs (else a burst of abandoned requests runs unbounded).
        tokio::task::spawn_blocking(move || {
            running.inc();
            let ok = client.secret.verify(secret.as_bytes());
            running.dec();
            drop(slot);
            ok
        })
        .await
        .map_err(|_| TokenError::Internal("secret verification task failed"))?
    } else {
        client.secret.verify(token_request.secret.as_bytes())
    };
    // A client bound to a TLS identity must present that client certificate.
    let certificate_ok = client.cert_subject.as_ref().is_none_or(|want| {
        conn.client_cert_subject
            .as_ref()
            .is_some_and(|got| got.0 == *want)
    });
    if !(secret_ok && certificate_ok && client.enabled && client.channels.contains(&channel.id)) {
        return Err(TokenError::CredentialsRefused);
    }
    // The client's own issuance allowance counts tokens it was entitled to.
    if !app
        .state
        .allow(LimitKind::Client, &client.id, limit, now)
        .await?
    {
        return Err(TokenError::RateLimited);
    }
    // Check 5: the client's ephemeral public key.
    let client_public = token_request.client_public_key()?;
    // The last check before a token: a sealed request is accepted once (its `epk`, on
    // every instance sharing state). Marked only now, after the credentials, so neither a
    // stranger nor a failed attempt can use up a request or fill the memory.
    if let Some(binding) = &binding {
        use_once(app, binding, now).await?;
    }
    let now_ms = app.clock.now_ms();
    let local = config.token.session_mode == SessionMode::Local;
    let want_record = local && app.state.is_shared();
    let issued = issue(
        &client,
        &channel,
        &client_public,
        &config.token,
        now_ms,
        want_record,
    )?;
    let mut issued = issued;
    if let Some(key) = config.gateway_keys.signing() {
        issued.response.signature = Some(handshake_signature(
            key,
            &client_public,
            &issued.response,
            &channel.id,
        ));
    }
    count_seals(app, config, if issued.record.is_some() { 2 } else { 1 });
    let until = config.token.accepted_until(issued.session.expires_at);
    let stored = app
        .state
        .insert(
            issued.session,
            issued.record.as_deref(),
            until,
            now_ms / 1000,
        )
        .await;
    match stored {
        Ok(()) => {}
        Err(InsertError::Unavailable(_)) => return Err(TokenError::StateUnavailable),
        // The token carries K, so the session still works; only the cache is full.
        Err(InsertError::Full(_)) if !local => {
            app.state.warn_store_full(now_ms / 1000);
        }
        Err(InsertError::Full(_)) => return Err(TokenError::StoreFull),
    }
    tracing::info!(client = %client.id, channel = %channel.id, "token issued");
    trail.set_identity(Arc::clone(&client.id), Arc::clone(&channel.id));
    Ok(h::json(StatusCode::OK, &issued.response))
}

/// The key a source address is counted under: the address for IPv4, the /64 for IPv6 (one
/// subscriber gets a whole /64, so counting single IPv6 addresses would let one client
/// rotate past any limit).
fn limit_key(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// An opened sealed token request.
struct Opened {
    /// The token request JSON (it holds `secret`): zeroized on drop.
    plaintext: zeroize::Zeroizing<Vec<u8>>,
    binding: Binding,
}

/// What a sealed token request says about when and where it was meant to be used, all of
/// it authenticated (the protected header is the AEAD's associated data).
struct Binding {
    iat: Option<i64>,
    chn: Option<String>,
    /// SHA-256 of the ephemeral public key (SEC1 uncompressed): the request's identity, one
    /// fresh `epk` per request.
    epk: [u8; 32],
}

/// docs/protocol.md §1.1: `chn` is the `X-API-KEY` the request came with and `iat` is within the
/// leeway of the gateway's clock. A request with neither (an older client) passes only on
/// channels that do not require the sealed form, and only while
/// `token.accept_unbound_sealed_token_requests` says so.
fn check_binding(
    config: &Config,
    channel: &crate::config::Channel,
    binding: &Binding,
    now: i64,
) -> Result<(), TokenError> {
    let refused = TokenError::SealedRequestRefused;
    let (iat, chn) = match (binding.iat, binding.chn.as_deref()) {
        (Some(iat), Some(chn)) => (iat, chn),
        (None, None)
            if config.token.accept_unbound_sealed_token_requests
                && !channel.require_sealed_token_request =>
        {
            return Ok(());
        }
        _ => return Err(refused("no iat and chn in the protected header")),
    };
    if chn != &*channel.id {
        return Err(refused("chn is not the X-API-KEY it was sent with"));
    }
    let leeway = config.token.leeway_secs();
    if iat.abs_diff(now) > leeway.unsigned_abs() {
        return Err(refused("iat is outside the leeway of the gateway's clock"));
    }
    Ok(())
}

/// docs/protocol.md §1.1: the `epk` of a bound sealed request has not been accepted before while
/// its `iat` could pass (on any instance sharing state); an unbound one (allowed by
/// [`check_binding`]) has no such memory.
async fn use_once(app: &AppState, binding: &Binding, now: i64) -> Result<(), TokenError> {
    let refused = TokenError::SealedRequestRefused;
    let Some(iat) = binding.iat else {
        return Ok(());
    };
    // Remembered for as long as its `iat` could pass under any leeway a reload may set,
    // plus the second the check rounds to.
    let leeway = i64::try_from(crate::config::MAX_LEEWAY_SECS).unwrap_or(i64::MAX);
    let until = iat.saturating_add(leeway).saturating_add(1);
    match app.state.first_use(binding.epk, until, now).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refused("this request (its epk) was accepted before")),
        Err(InsertError::Full(_)) => Err(TokenError::StoreFull),
        Err(InsertError::Unavailable(_)) => Err(TokenError::StateUnavailable),
    }
}

/// Opens a sealed token request (docs/protocol.md §1.1): a compact JWE, `ECDH-ES` + `A256GCM`,
/// to the gateway `enc` key its `kid` names, with the strictness of the session codec.
fn open_sealed_request(body: &[u8], keys: &GatewayKeys) -> Result<Opened, TokenError> {
    let parsed =
        jwe::parse_as(body, body.len(), jwe::Alg::EcdhEs).map_err(TokenError::SealedRequest)?;
    let kid = parsed
        .header
        .kid
        .as_deref()
        .ok_or(TokenError::SealedRequest(jwe::JweError::MemberType("kid")))?;
    let key = keys
        .encryption(kid)
        .ok_or(TokenError::SealedRequest(jwe::JweError::MemberType("kid")))?;
    let binding = Binding {
        iat: parsed.header.iat,
        chn: parsed.header.chn.clone(),
        epk: parsed.epk.map_or([0; 32], |epk| {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use sha2::Digest;
            sha2::Sha256::digest(epk.to_encoded_point(false).as_bytes()).into()
        }),
    };
    let plaintext = parsed
        .decrypt_ecdh_es(&key.pair)
        .map(zeroize::Zeroizing::new)
        .map_err(TokenError::SealedRequest)?;
    Ok(Opened { plaintext, binding })
}

/// `GET /.well-known/jwks.json` (docs/protocol.md §1.1): the gateway's public keys, cacheable for
/// five minutes.
pub fn jwks(config: &Config, method: &Method) -> Result<Response<Body>, TokenError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(TokenError::MethodNotAllowed { allow: "GET, HEAD" });
    }
    let mut response = Response::new(h::full(config.gateway_keys.jwks_json()));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/jwk-set+json"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("max-age=300"),
    );
    Ok(response)
}

/// Seals made under one token key from which a warning is logged: a quarter of the 2^32
/// that AES-GCM with random 96-bit IVs allows per key (NIST SP 800-38D §8.3).
const SEALS_WARNING: u64 = 1 << 30;

/// Counts `seals` messages sealed under the issuing token key, and says when the key
/// should be rotated (counted per process: other instances add to it).
fn count_seals(app: &AppState, config: &Config, seals: u64) {
    let Some(key) = config.token.keys.issuing() else {
        return;
    };
    let counter = app
        .metrics
        .token_key_seals
        .get_or_create(&crate::metrics::KidLabel {
            kid: key.kid.as_str().to_owned(),
        });
    let before = counter.inc_by(seals);
    let after = before.saturating_add(seals);
    // Once at 2^30, then at every further 2^28.
    if after >= SEALS_WARNING && (before >> 28) != (after >> 28) {
        tracing::warn!(
            kid = key.kid.as_str(),
            sealed = after,
            "token key has sealed over 2^30 messages in this process: rotate it well before \
             2^32 (AES-GCM random-IV limit)"
        );
    }
}

/// `DELETE` with `Authorization: Bearer <token>`: the token's session is refused from now
/// until the token's own expiry plus the leeway (in ticket mode the token alone could
/// rebuild it), on every instance sharing the state backend.
async fn revoke(
    config: &Config,
    app: &AppState,
    request: &Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let now = app.clock.now_secs();
    let verified = crate::auth::verify_bearer(request.headers(), &config.token, now)?;
    let until = config.token.accepted_until(verified.claims.exp);
    app.state.revoke(verified.session_id, until, now).await?;
    app.metrics.revocations.inc();
    tracing::info!(client = %verified.claims.sub, "session revoked");
    Ok(h::json(
        StatusCode::OK,
        &ErrorBody {
            res_code: "TOK200",
            res_desc: "Success",
        },
    ))
}

async fn read(body: Incoming, length: Option<u64>, config: &Config) -> Result<Bytes, TokenError> {
    h::read_body(
        body,
        length,
        config.token.max_body_bytes,
        config.server.body_read_timeout,
    )
    .await
    .map_err(|e| match e {
        BodyReadError::TooLarge => TokenError::BodyTooLarge,
        BodyReadError::Timeout => TokenError::BodyTimeout,
        BodyReadError::Read => TokenError::BodyRead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_counted_by_their_64() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(limit_key(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
    }
}

//! Token verification for protected routes: a pure [`verify`] (token text, key ring,
//! issuer, leeway and `now` in; claims out), then [`session_for`] which finds the session in
//! the store or rebuilds it from the ticket; [`authenticate`] puts them together with the
//! connection's [`cache`] of its last verified token.
//!
//! Owns: what makes a token acceptable, and its errors ([`AuthError`]). Does not own: the
//! token format ([`crate::token`]), issuing ([`crate::handshake`]), revocation and replay
//! (checked once per request by [`crate::state::State::admit`]) or the request body.

pub mod cache;

use std::sync::Arc;

use http::HeaderMap;

use crate::config::{Config, TokenConfig};
use crate::crypto::Key32;
use crate::jose::{b64, jwe};
use crate::session::{Session, SessionId};
use crate::state::{State, StateError};
use crate::token::claims::{Claims, TimeError};
use crate::token::keys::{KeyRing, SESSION_RECORD_PURPOSE};

/// Why a bearer token, or the session it names, was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token in the configured header.
    #[error("token missing")]
    Missing,
    /// Not `Bearer <token>`, or the token is not a well-formed JWE.
    #[error("token malformed: {0}")]
    Malformed(&'static str),
    /// The token's `kid` names no configured token key.
    #[error("unknown token key")]
    UnknownKid,
    /// The token does not decrypt, or its claims are wrong (type, issuer, ticket).
    #[error("token invalid: {0}")]
    Invalid(&'static str),
    /// `exp` (plus leeway) is past.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` (minus leeway) is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// The session was revoked, or (local mode) is not held by this gateway, or its client
    /// or channel is no longer configured.
    #[error("session revoked or unknown")]
    SessionUnknown,
    /// The token was issued before this process started, and this instance's replay
    /// memory (memory backend) does not know what its session already sent.
    #[error("token issued before this instance started")]
    IssuedBeforeStart,
    /// The shared session record could not be read and the policy is to refuse.
    #[error("session state unavailable")]
    StateUnavailable,
    /// An identity provider's keys have not been fetched yet (`auth = "jwt"`).
    #[error("identity provider keys unavailable")]
    KeysUnavailable,
}

impl From<TimeError> for AuthError {
    fn from(error: TimeError) -> Self {
        match error {
            TimeError::Expired => AuthError::Expired,
            TimeError::NotYetValid => AuthError::NotYetValid,
        }
    }
}

impl From<StateError> for AuthError {
    fn from(_: StateError) -> Self {
        AuthError::StateUnavailable
    }
}

/// Tokens longer than this are refused before any decoding. Ours are about 400 bytes.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The bearer token from the configured header (`Authorization: Bearer <token>`; the scheme
/// name is case-insensitive, RFC 9110 §11.1).
pub fn bearer<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Result<&'h str, AuthError> {
    let value = headers.get(name).ok_or(AuthError::Missing)?;
    let text = value
        .to_str()
        .map_err(|_| AuthError::Malformed("header is not ASCII"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or(AuthError::Malformed("not `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed("scheme is not Bearer"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

/// A token that decrypted and whose claims are valid now.
#[derive(Debug)]
pub struct Verified {
    /// The claims.
    pub claims: Claims,
    /// The session id from `jti`.
    pub session_id: SessionId,
    /// `K` from a ticket-mode token.
    pub ticket_key: Option<Key32>,
}

/// Verifies a token: structure, `kid`, decryption, then claims (`iss`, `exp`, `nbf`, `iat`
/// with `leeway` seconds of tolerance, `jti`, and the ticket key if present).
pub fn verify(
    token: &str,
    keys: &KeyRing,
    issuer: &str,
    leeway: i64,
    now: i64,
) -> Result<Verified, AuthError> {
    let parsed = jwe::parse(token.as_bytes(), MAX_TOKEN_LEN).map_err(|e| match e {
        jwe::JweError::TooLong => AuthError::Malformed("too long"),
        _ => AuthError::Malformed("not a compact JWE of the allowed form"),
    })?;
    let kid = parsed
        .header
        .kid
        .as_deref()
        .ok_or(AuthError::Malformed("no kid"))?;
    let key = keys.find(kid).ok_or(AuthError::UnknownKid)?;
    let plaintext = zeroize::Zeroizing::new(
        parsed
            .decrypt(&key.key)
            .map_err(|_| AuthError::Invalid("does not decrypt"))?,
    );
    let claims: Claims = serde_json::from_slice(&plaintext)
        .map_err(|_| AuthError::Invalid("claims are not well-typed"))?;
    if claims.iss != issuer {
        return Err(AuthError::Invalid("wrong issuer"));
    }
    claims.times().check(leeway, now)?;
    let session_id = SessionId::parse(&claims.jti).ok_or(AuthError::Invalid("bad jti"))?;
    tracing::trace!(client = %claims.sub, "token verified");
    let ticket_key = match &claims.key {
        None => None,
        Some(text) => {
            let bytes = zeroize::Zeroizing::new(
                b64::decode_strict(text.as_bytes())
                    .map_err(|_| AuthError::Invalid("bad ticket key"))?,
            );
            Some(Key32::from_slice(&bytes).ok_or(AuthError::Invalid("bad ticket key"))?)
        }
    };
    Ok(Verified {
        claims,
        session_id,
        ticket_key,
    })
}

/// The bearer token of a request, verified against the configured header, key ring, issuer
/// and leeway: what both a proxied request and a revocation start with.
pub fn verify_bearer(
    headers: &HeaderMap,
    config: &TokenConfig,
    now: i64,
) -> Result<Verified, AuthError> {
    let token = bearer(headers, &config.authorization_header)?;
    verify(
        token,
        &config.keys,
        &config.issuer,
        config.leeway_secs(),
        now,
    )
}

/// Whether a token may have been issued before `start_ms` (this process's start, unix
/// milliseconds). By its `ims` when it has one; a token without (from an older version)
/// counts as issued at the end of its `iat` second only if that second ended before the
/// start, so a restart within that second refuses it rather than tie.
fn issued_before(claims: &crate::token::claims::Claims, start_ms: i64) -> bool {
    match claims.ims {
        Some(ims) => ims < start_ms,
        None => claims.iat <= start_ms.div_euclid(1000),
    }
}

/// The session of a request's bearer token. A token verified on this connection before,
/// under the same configuration `generation`, is taken from the connection's `cache` (its
/// times re-checked); any other is verified and its session found ([`session_for`]), then
/// cached. Revocations this instance knows are refused either way.
pub async fn authenticate(
    headers: &HeaderMap,
    config: &Config,
    generation: u64,
    cache: &cache::TokenCache,
    state: &State,
    issued_from: Option<i64>,
    now: i64,
) -> Result<Arc<Session>, AuthError> {
    let token_config = &config.token;
    let token = bearer(headers, &token_config.authorization_header)?;
    let leeway = token_config.leeway_secs();
    if let Some(cached) = cache.get(token, generation, leeway, now) {
        return cached;
    }
    let verified = verify(token, &token_config.keys, &token_config.issuer, leeway, now)?;
    if issued_from.is_some_and(|start_ms| issued_before(&verified.claims, start_ms)) {
        return Err(AuthError::IssuedBeforeStart);
    }
    let times = verified.claims.times();
    let session = session_for(verified, config, state, now).await?;
    cache.put(token, generation, times, Arc::clone(&session));
    Ok(session)
}

/// The session a verified token names: from memory; else rebuilt from the ticket; else
/// (`local` mode with a shared backend) from the sealed record another instance stored. A
/// rebuilt session is cached. The client must still be configured and enabled.
///
/// Revocation is not checked here: [`State::admit`] does, once per request.
pub async fn session_for(
    verified: Verified,
    config: &Config,
    state: &State,
    now: i64,
) -> Result<Arc<Session>, AuthError> {
    // The client must still be configured, enabled and allowed on the token's channel: a
    // reload that removes any of these ends its sessions.
    let client = config
        .clients
        .get(&verified.claims.sub)
        .filter(|c| c.enabled && c.channels.contains(verified.claims.chn.as_str()))
        .ok_or(AuthError::SessionUnknown)?;
    if let Some(session) = state.cached(&verified.session_id) {
        if *session.client != *verified.claims.sub {
            return Err(AuthError::Invalid("session belongs to another client"));
        }
        return Ok(session);
    }
    let key = match verified.ticket_key {
        Some(key) => key,
        None => shared_session_key(&verified, config, state, now).await?,
    };
    let channel = config
        .channels
        .get(&verified.claims.chn)
        .ok_or(AuthError::SessionUnknown)?;
    let session = Arc::new(Session::new(
        verified.session_id,
        client.id.clone(),
        channel.id.clone(),
        key,
        verified.claims.exp,
    ));
    state.cache(Arc::clone(&session), now);
    Ok(session)
}

/// `K` of a `local`-mode session from the record another instance stored: a ticket sealed
/// under a token key, verified like a token, that must name the same session, client and
/// channel as the bearer token.
async fn shared_session_key(
    verified: &Verified,
    config: &Config,
    state: &State,
    now: i64,
) -> Result<Key32, AuthError> {
    let record = state
        .find_record(&verified.session_id)
        .await?
        .ok_or(AuthError::SessionUnknown)?;
    let token = &config.token;
    let records = token.keys.derive(SESSION_RECORD_PURPOSE);
    let stored = verify(&record, &records, &token.issuer, token.leeway_secs(), now)
        .map_err(|_| AuthError::SessionUnknown)?;
    let same = stored.session_id == verified.session_id
        && stored.claims.sub == verified.claims.sub
        && stored.claims.chn == verified.claims.chn;
    match stored.ticket_key {
        Some(key) if same => Ok(key),
        _ => {
            tracing::warn!("stored session record does not match its token");
            Err(AuthError::SessionUnknown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwe::Header;
    use crate::token::keys::{Kid, TokenKey};

    fn ring() -> KeyRing {
        KeyRing::new(vec![TokenKey {
            kid: Kid::parse("k1").unwrap(),
            key: Key32::from_bytes([9; 32]),
        }])
    }

    fn token_with(claims_json: &str, kid: &str) -> String {
        let header = Header {
            kid: Some(kid.into()),
            cty: None,
            ..Default::default()
        };
        jwe::seal(claims_json.as_bytes(), &Key32::from_bytes([9; 32]), &header).unwrap()
    }

    const JTI: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    fn claims(iat: &str, exp: &str, extra: &str) -> String {
        format!(
            r#"{{"iss":"sealgate","sub":"A","chn":"C","iat":{iat},"exp":{exp},"jti":"{JTI}"{extra}}}"#
        )
    }

    #[test]
    fn a_valid_token_verifies() {
        let v = verify(
            &token_with(&claims("100", "200", ""), "k1"),
            &ring(),
            "sealgate",
            0,
            150,
        )
        .unwrap();
        assert_eq!(v.claims.sub, "A");
        assert!(v.ticket_key.is_none());
    }

    #[test]
    fn expiry_and_not_before_respect_the_leeway() {
        let t = token_with(&claims("100", "200", r#","nbf":120"#), "k1");
        assert!(matches!(
            verify(&t, &ring(), "sealgate", 0, 201),
            Err(AuthError::Expired)
        ));
        assert!(verify(&t, &ring(), "sealgate", 60, 201).is_ok());
        assert!(matches!(
            verify(&t, &ring(), "sealgate", 0, 110),
            Err(AuthError::NotYetValid)
        ));
        assert!(verify(&t, &ring(), "sealgate", 60, 110).is_ok());
    }

    #[test]
    fn numeric_dates_must_be_numbers() {
        for (iat, exp, extra) in [
            ("\"100\"", "200", ""),
            ("100", "\"200\"", ""),
            ("100", "200", r#","nbf":"1""#),
            ("100", "2.5e2", ""),
        ] {
            let t = token_with(&claims(iat, exp, extra), "k1");
            assert!(
                matches!(
                    verify(&t, &ring(), "sealgate", 0, 150),
                    Err(AuthError::Invalid(_))
                ),
                "{iat} {exp} {extra}"
            );
        }
    }

    #[test]
    fn unknown_kid_wrong_issuer_and_garbage_are_refused() {
        let t = token_with(&claims("100", "200", ""), "k2");
        assert!(matches!(
            verify(&t, &ring(), "sealgate", 0, 150),
            Err(AuthError::UnknownKid)
        ));
        let t = token_with(&claims("100", "200", ""), "k1");
        assert!(matches!(
            verify(&t, &ring(), "other", 0, 150),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            verify("abc", &ring(), "sealgate", 0, 150),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn bearer_parsing() {
        let name = http::header::AUTHORIZATION;
        let mut headers = HeaderMap::new();
        assert!(matches!(bearer(&headers, &name), Err(AuthError::Missing)));
        headers.insert(&name, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers, &name).unwrap(), "abc");
        headers.insert(&name, "Basic abc".parse().unwrap());
        assert!(matches!(
            bearer(&headers, &name),
            Err(AuthError::Malformed(_))
        ));
    }
}

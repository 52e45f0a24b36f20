//! The token's claims set (RFC 7519 names where one exists) and how a token is sealed.
//!
//! A token is a JWE compact serialization, `{"alg":"dir","enc":"A256GCM","kid":…}`, sealed
//! under the issuing token key with [`crate::jose::jwe`], over this JSON. In ticket mode it
//! also carries `K`, so any instance holding the token keys can serve the session (the
//! pattern of TLS session tickets, RFC 5077).

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::jose::jwe::{self, Header, JweError};
use crate::token::keys::TokenKey;

/// The time claims of a token, apart from the rest so that a verified token's times can be
/// checked again later (a cached verification) without keeping its claims.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// `iat`.
    pub iat: i64,
    /// `exp`.
    pub exp: i64,
    /// `nbf`, when present.
    pub nbf: Option<i64>,
}

/// Why a token's times do not hold now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// `exp` (plus leeway) is past.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` (minus leeway) is in the future.
    #[error("token not yet valid")]
    NotYetValid,
}

impl Times {
    /// Checks the times against `now` with `leeway` seconds of tolerance either way.
    pub fn check(&self, leeway: i64, now: i64) -> Result<(), TimeError> {
        if now > self.exp.saturating_add(leeway) {
            return Err(TimeError::Expired);
        }
        let early = |t: Option<i64>| t.is_some_and(|t| now.saturating_add(leeway) < t);
        if early(self.nbf) || early(Some(self.iat)) {
            return Err(TimeError::NotYetValid);
        }
        Ok(())
    }
}

/// The claims inside a token. Numeric dates are whole seconds since the epoch; a
/// string or fractional value fails to parse (no type juggling).
#[derive(Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the configured `token.issuer`.
    pub iss: String,
    /// Subject: the client's `apiKey`.
    pub sub: String,
    /// The channel (`X-API-KEY`) the token was issued on.
    pub chn: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// Not before (absent in tokens we issue; checked when present). `null` is refused:
    /// a NumericDate is a number (RFC 7519 §2).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_number"
    )]
    pub nbf: Option<i64>,
    /// Issued at, in milliseconds (tokens we issue carry it): with the memory backend a
    /// process refuses tokens issued before it started, and a restart within the second
    /// of a token's `iat` must not tie with it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_number"
    )]
    pub ims: Option<i64>,
    /// The session id, 22 characters of base64url.
    pub jti: String,
    /// Ticket mode only: `K`, base64url. Zeroized when the claims are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// An optional claim that, when present, must be an integer (so `null` is an error).
fn present_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    i64::deserialize(deserializer).map(Some)
}

impl Claims {
    /// The time claims.
    pub fn times(&self) -> Times {
        Times {
            iat: self.iat,
            exp: self.exp,
            nbf: self.nbf,
        }
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        if let Some(key) = &mut self.key {
            key.zeroize();
        }
    }
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("chn", &self.chn)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("jti", &"<redacted>")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Seals claims into a token under `key`.
pub fn seal(claims: &Claims, key: &TokenKey) -> Result<String, JweError> {
    let mut json = serde_json::to_vec(claims).map_err(|_| JweError::Header)?;
    let header = Header {
        kid: Some(key.kid.as_str().to_owned()),
        cty: None,
        ..Default::default()
    };
    let token = jwe::seal(&json, &key.key, &header);
    json.zeroize();
    token
}

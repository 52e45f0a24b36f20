//! Issuing a token once the request has passed every check: a fresh server key pair, ECDH,
//! the channel's KDF, a new session, and the sealed token. Pure apart from the OS random
//! source; `now` is an input.

use std::sync::Arc;

use p256::PublicKey;
use serde::Serialize;

use crate::config::{ApiClient, Channel, SessionMode, TokenConfig};
use crate::error::TokenError;
use crate::jose::{b64, jwk};
use crate::session::{Session, SessionId};
use crate::token::claims::{self, Claims};
use crate::token::gateway_keys::{GatewayKey, sign_compact};
use crate::token::keys::SESSION_RECORD_PURPOSE;

/// The success body of docs/protocol.md §1, members in the published order.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// Always `TOK200`.
    #[serde(rename = "resCode")]
    pub res_code: &'static str,
    /// Always `Success`.
    #[serde(rename = "resDesc")]
    pub res_desc: &'static str,
    /// The opaque token.
    pub token: String,
    /// When the token stops being accepted, in milliseconds since the epoch.
    pub expiry: i64,
    /// base64url (no padding) of the server's public JWK JSON.
    #[serde(rename = "serverPublicKey")]
    pub server_public_key: String,
    /// The handshake signature (docs/protocol.md §1.1), when the gateway has a `sig` key: see
    /// [`handshake_signature`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `typ` of the handshake signature's JWS header.
pub const HANDSHAKE_JWS_TYP: &str = "handshake+jws";

/// The signature of a token response (docs/protocol.md §1.1): a JWS compact serialization, ES256
/// by the gateway's `sig` key, over `{"cpk":…,"spk":…,"exp":…,"chn":…}`: the RFC 7638
/// thumbprint of the client's key, `serverPublicKey` exactly as sent, `expiry`, and the
/// channel. A client that knows the key knows `spk` came from the gateway, for its own key,
/// on its channel, until that time.
pub fn handshake_signature(
    key: &GatewayKey,
    client_public: &PublicKey,
    response: &TokenResponse,
    channel: &str,
) -> String {
    let payload = format!(
        r#"{{"cpk":"{}","spk":{},"exp":{},"chn":{}}}"#,
        jwk::thumbprint(client_public),
        serde_json::to_string(&response.server_public_key).unwrap_or_default(),
        response.expiry,
        serde_json::to_string(channel).unwrap_or_default()
    );
    sign_compact(key, HANDSHAKE_JWS_TYP, &payload)
}

/// A token and the session it names.
#[derive(Debug)]
pub struct Issued {
    /// The body to send.
    pub response: TokenResponse,
    /// The session to store.
    pub session: Arc<Session>,
    /// When asked for: the session as a ticket (claims with `K`) sealed under a key derived
    /// from the issuing token key for records only, for a shared backend to hold so other instances can serve a `local`-mode
    /// session without `K` ever being stored in clear.
    pub record: Option<String>,
}

/// Agrees a session key with `client_public` and issues a token for `client` on `channel`;
/// with `want_record`, also the sealed session record (see [`Issued::record`]).
pub fn issue(
    client: &ApiClient,
    channel: &Channel,
    client_public: &PublicKey,
    config: &TokenConfig,
    now_ms: i64,
    want_record: bool,
) -> Result<Issued, TokenError> {
    let randomness = |_| TokenError::Internal("OS random source failed");
    // The key pair made for this token lives only through this call (AWS-LC wipes it).
    let (server_public, z) =
        crate::crypto::ecdh::agree_ephemeral(client_public).map_err(randomness)?;
    let session_key = channel.kdf.derive(&z);
    tracing::trace!(kdf = %channel.kdf, channel = %channel.id, "session key agreed");
    let id = SessionId::random().map_err(randomness)?;
    let iat = now_ms.div_euclid(1000);
    let lifetime = i64::try_from(channel.token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let exp = iat.saturating_add(lifetime);
    let claims = |with_key: bool| Claims {
        iss: config.issuer.clone(),
        sub: client.id.to_string(),
        chn: channel.id.to_string(),
        iat,
        exp,
        nbf: None,
        ims: Some(now_ms),
        jti: id.encode(),
        key: with_key.then(|| b64::encode(session_key.expose())),
    };
    let token_key = config
        .keys
        .issuing()
        .ok_or(TokenError::Internal("no issuing token key"))?;
    let sealing = |_| TokenError::Internal("token sealing failed");
    let token = claims::seal(
        &claims(config.session_mode == SessionMode::Ticket),
        token_key,
    )
    .map_err(sealing)?;
    // The record is sealed under a key derived for records, so it never opens as a token.
    let record = match want_record {
        true => {
            let records = config.keys.derive(SESSION_RECORD_PURPOSE);
            let record_key = records
                .issuing()
                .ok_or(TokenError::Internal("no issuing token key"))?;
            Some(claims::seal(&claims(true), record_key).map_err(sealing)?)
        }
        false => None,
    };
    let server_jwk = jwk::public_to_json(&server_public);
    let session = Session::new(id, client.id.clone(), channel.id.clone(), session_key, exp);
    Ok(Issued {
        response: TokenResponse {
            res_code: "TOK200",
            res_desc: "Success",
            token,
            expiry: exp.saturating_mul(1000),
            server_public_key: b64::encode(server_jwk.as_bytes()),
            signature: None,
        },
        session: Arc::new(session),
        record,
    })
}

//! ES256 JWS compact serializations (RFC 7515 §7.1): verifying the gateway's handshake
//! signature (docs/protocol.md §1.1). Signing stays with the gateway, which holds the keys.

use p256::PublicKey;

use super::b64;
use crate::crypto::ecdh;

/// Why a handshake signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not three segments of strict base64url, or a header that is not ES256 with the
    /// expected `typ`.
    #[error("not an ES256 JWS compact serialization of the expected type")]
    Malformed,
    /// The signature does not verify with the key.
    #[error("signature does not verify")]
    Invalid,
}

/// Verifies a JWS compact serialization signed ES256 by `public` with header `typ`;
/// returns its header's `kid` and its payload.
pub fn verify_compact(
    jws: &str,
    public: &PublicKey,
    typ: &str,
) -> Result<(Option<String>, Vec<u8>), SignatureError> {
    let mut parts = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SignatureError::Malformed);
    };
    let decode = |s: &str| b64::decode_strict(s.as_bytes()).map_err(|_| SignatureError::Malformed);
    let header_json = decode(header)?;
    let object =
        super::json::StrictObject::parse(&header_json).map_err(|_| SignatureError::Malformed)?;
    if object.str_member("alg") != Ok(Some("ES256")) || object.str_member("typ") != Ok(Some(typ)) {
        return Err(SignatureError::Malformed);
    }
    if object.has("crit") || object.has("jwk") || object.has("jku") || object.has("x5u") {
        return Err(SignatureError::Malformed);
    }
    let kid = object
        .str_member("kid")
        .map_err(|()| SignatureError::Malformed)?
        .map(str::to_owned);
    let signature = decode(signature)?;
    let signing_input = &jws[..header.len() + 1 + payload.len()];
    if !ecdh::verify_es256(public, signing_input.as_bytes(), &signature) {
        return Err(SignatureError::Invalid);
    }
    Ok((kid, decode(payload)?))
}

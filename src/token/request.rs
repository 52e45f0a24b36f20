//! Parsing the token request body (docs/protocol.md §1, check 2) and its `publicKey` (check 5).

use p256::PublicKey;
use zeroize::Zeroizing;

use crate::jose::b64;
use crate::jose::json::StrictObject;
use crate::jose::jwk::{self, JwkError};

/// The token request body, once it is known to be a JSON object with three string fields.
pub struct TokenRequest {
    /// `apiKey`.
    pub api_key: String,
    /// `secret`, zeroized on drop.
    pub secret: Zeroizing<String>,
    /// `publicKey`, still encoded: decoding it is check 5, after the credentials.
    pub public_key: String,
}

/// The body is not a JSON object with string `apiKey`, `secret` and `publicKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token request body is not a JSON object with the three string fields")]
pub struct MalformedRequest;

/// Why `publicKey` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    /// Not base64 (url or standard, padded or not).
    #[error("publicKey is not base64")]
    Base64,
    /// Decodes, but not to an acceptable JWK.
    #[error("publicKey: {0}")]
    Jwk(#[from] JwkError),
}

impl TokenRequest {
    /// Parses the body. Other members are ignored; duplicates of any member are refused.
    pub fn parse(body: &[u8]) -> Result<Self, MalformedRequest> {
        let object = StrictObject::parse(body).map_err(|_| MalformedRequest)?;
        let field = |name| match object.str_member(name) {
            Ok(Some(value)) => Ok(value.to_owned()),
            _ => Err(MalformedRequest),
        };
        Ok(TokenRequest {
            api_key: field("apiKey")?,
            secret: Zeroizing::new(field("secret")?),
            public_key: field("publicKey")?,
        })
    }

    /// Decodes `publicKey`: base64url or standard base64, padded or not, of a JWK's JSON text.
    pub fn client_public_key(&self) -> Result<PublicKey, PublicKeyError> {
        let json = b64::decode_lenient(self.public_key.trim().as_bytes())
            .map_err(|_| PublicKeyError::Base64)?;
        Ok(jwk::parse_public_p256(&json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_string_fields_are_required() {
        assert!(TokenRequest::parse(br#"{"apiKey":"a","secret":"s","publicKey":"p"}"#).is_ok());
        for body in [
            &br#"{"apiKey":"a","secret":"s"}"#[..],
            br#"{"apiKey":"a","secret":1,"publicKey":"p"}"#,
            br#"["a","s","p"]"#,
            br#"{"apiKey":"a","apiKey":"b","secret":"s","publicKey":"p"}"#,
            b"apiKey=a&secret=s",
            b"",
        ] {
            assert!(
                TokenRequest::parse(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

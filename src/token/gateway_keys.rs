//! The gateway's long-term P-256 keys for the authenticated handshake (docs/protocol.md §1.1): `sig`
//! keys sign token responses (ES256), `enc` keys open sealed token requests (ECDH-ES). All
//! of them are published at `/.well-known/jwks.json`; the first of each use that issues is
//! the one in force, the others stay listed (and every `enc` key opens) until clients have
//! moved. A key that does not issue yet is listed after those that do, so a client taking
//! the first `enc` key of the set never takes it.
//!
//! Keys are zeroized on drop (by `p256`) and never printed by `Debug`.

use std::fmt;

use super::keys::Kid;
use crate::crypto::ecdh::{self, EphemeralKeyPair};
use crate::crypto::random::RandomError;
use crate::jose::{b64, jwk};

/// What a gateway key is for (the JWK `use`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyUse {
    /// Signs token responses: `alg` `ES256`.
    Sig,
    /// Opens sealed token requests: `alg` `ECDH-ES`.
    Enc,
}

impl KeyUse {
    /// The JWK `use` value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUse::Sig => "sig",
            KeyUse::Enc => "enc",
        }
    }

    /// The JWK `alg` value.
    pub fn alg(self) -> &'static str {
        match self {
            KeyUse::Sig => "ES256",
            KeyUse::Enc => "ECDH-ES",
        }
    }
}

/// One gateway key.
pub struct GatewayKey {
    /// Its id, in the JWK Set and in every header that uses it.
    pub kid: Kid,
    /// What it is for.
    pub usage: KeyUse,
    /// The key pair.
    pub pair: EphemeralKeyPair,
    /// Whether it may be the key in force (`issue`): false while it is being rolled out, so
    /// every instance lists it (and opens with it) before any signs with it or offers it
    /// first.
    pub issue: bool,
}

impl fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayKey")
            .field("kid", &self.kid)
            .field("usage", &self.usage)
            .field("issue", &self.issue)
            .finish_non_exhaustive()
    }
}

/// The configured gateway keys.
#[derive(Debug)]
pub struct GatewayKeys {
    keys: Vec<GatewayKey>,
    ephemeral: bool,
    /// The JWK Set's text, made at its first request: each public point is a scalar
    /// multiplication, which a client fetching the set should not cost every time.
    jwks: std::sync::OnceLock<String>,
}

impl GatewayKeys {
    /// The configured keys. In force: the first of each use with `issue`. Listed: those
    /// with `issue` first, each group in configuration order.
    pub fn new(mut keys: Vec<GatewayKey>) -> Self {
        keys.sort_by_key(|k| !k.issue);
        GatewayKeys {
            keys,
            ephemeral: false,
            jwks: std::sync::OnceLock::new(),
        }
    }

    /// One random key of each use, for when none is configured: clients cannot pin them
    /// across a restart.
    pub fn ephemeral() -> Result<Self, RandomError> {
        let key = |kid: &str, usage| -> Result<GatewayKey, RandomError> {
            Ok(GatewayKey {
                kid: Kid::parse(kid).map_err(|_| RandomError)?,
                usage,
                pair: EphemeralKeyPair::generate()?,
                issue: true,
            })
        };
        Ok(GatewayKeys {
            keys: vec![
                key("ephemeral-sig", KeyUse::Sig)?,
                key("ephemeral-enc", KeyUse::Enc)?,
            ],
            ephemeral: true,
            jwks: std::sync::OnceLock::new(),
        })
    }

    /// Whether the keys were made at start rather than configured.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// The key that signs token responses, if any.
    pub fn signing(&self) -> Option<&GatewayKey> {
        self.keys.iter().find(|k| k.usage == KeyUse::Sig && k.issue)
    }

    /// The `enc` key named `kid`.
    pub fn encryption(&self, kid: &str) -> Option<&GatewayKey> {
        self.keys
            .iter()
            .find(|k| k.usage == KeyUse::Enc && k.kid.as_str() == kid)
    }

    /// The JWK Set (RFC 7517 §5) of every key's public half, with `kid`, `use` and `alg`:
    /// the keys that issue first.
    pub fn jwks_json(&self) -> String {
        self.jwks.get_or_init(|| self.make_jwks_json()).clone()
    }

    fn make_jwks_json(&self) -> String {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let (x, y) = ecdh::coordinates(&k.pair.public_key());
                format!(
                    r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}","kid":{},"use":"{}","alg":"{}"}}"#,
                    b64::encode(&x),
                    b64::encode(&y),
                    serde_json::to_string(k.kid.as_str()).unwrap_or_default(),
                    k.usage.as_str(),
                    k.usage.alg()
                )
            })
            .collect();
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }
}

/// The JWS compact serialization (RFC 7515 §7.1) of `payload`, signed ES256 by `key`, with
/// protected header `{"alg":"ES256","kid":…,"typ":typ}`.
pub fn sign_compact(key: &GatewayKey, typ: &str, payload: &str) -> String {
    let header = format!(
        r#"{{"alg":"ES256","kid":{},"typ":{}}}"#,
        serde_json::to_string(key.kid.as_str()).unwrap_or_default(),
        serde_json::to_string(typ).unwrap_or_default()
    );
    let mut signing_input = b64::encode(header.as_bytes());
    signing_input.push('.');
    b64::encode_into(payload.as_bytes(), &mut signing_input);
    let signature = key.pair.sign_es256(signing_input.as_bytes());
    signing_input.push('.');
    b64::encode_into(&signature, &mut signing_input);
    signing_input
}

pub use crate::jose::jws::{SignatureError, verify_compact};

/// The public JWK of a gateway key, as a client pins it (`{"kty","crv","x","y"}`).
pub fn public_jwk(key: &GatewayKey) -> String {
    jwk::public_to_json(&key.pair.public_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_key_type_and_payload() {
        let keys = GatewayKeys::ephemeral().unwrap();
        let key = keys.signing().unwrap();
        let jws = sign_compact(key, "handshake+jws", r#"{"a":1}"#);
        let public = key.pair.public_key();
        let (kid, payload) = verify_compact(&jws, &public, "handshake+jws").unwrap();
        assert_eq!(kid.as_deref(), Some("ephemeral-sig"));
        assert_eq!(payload, br#"{"a":1}"#);
        assert_eq!(
            verify_compact(&jws, &public, "other+jws"),
            Err(SignatureError::Malformed)
        );
        let other = EphemeralKeyPair::generate().unwrap().public_key();
        assert_eq!(
            verify_compact(&jws, &other, "handshake+jws"),
            Err(SignatureError::Invalid)
        );
        let mut parts: Vec<&str> = jws.split('.').collect();
        let forged = b64::encode(br#"{"a":2}"#);
        parts[1] = &forged;
        assert_eq!(
            verify_compact(&parts.join("."), &public, "handshake+jws"),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn a_key_that_does_not_issue_is_listed_after_those_that_do_and_never_signs() {
        let key = |kid: &str, usage, issue| GatewayKey {
            kid: Kid::parse(kid).unwrap(),
            usage,
            pair: EphemeralKeyPair::generate().unwrap(),
            issue,
        };
        let keys = GatewayKeys::new(vec![
            key("sig-new", KeyUse::Sig, false),
            key("enc-new", KeyUse::Enc, false),
            key("sig-old", KeyUse::Sig, true),
            key("enc-old", KeyUse::Enc, true),
        ]);
        assert_eq!(keys.signing().unwrap().kid.as_str(), "sig-old");
        assert!(
            keys.encryption("enc-new").is_some(),
            "it opens all the same"
        );
        let set: serde_json::Value = serde_json::from_str(&keys.jwks_json()).unwrap();
        let kids: Vec<&str> = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["sig-old", "enc-old", "sig-new", "enc-new"]);
    }

    #[test]
    fn the_jwk_set_lists_every_key_with_its_use_and_alg() {
        let keys = GatewayKeys::ephemeral().unwrap();
        let set: serde_json::Value = serde_json::from_str(&keys.jwks_json()).unwrap();
        let listed = set["keys"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["use"], "sig");
        assert_eq!(listed[0]["alg"], "ES256");
        assert_eq!(listed[1]["use"], "enc");
        assert_eq!(listed[1]["alg"], "ECDH-ES");
        assert!(listed.iter().all(|k| k.get("d").is_none()));
    }
}

//! Client secrets: how a configured secret is held and how a presented one is checked.
//!
//! Three forms, none of which keeps the plaintext in memory after start-up:
//! - a plaintext (demo) or environment-variable secret is held as its SHA-256 digest;
//! - `sha256:<salt hex>:<digest hex>` = SHA-256(salt ‖ secret), for long random secrets (costs
//!   one hash per request);
//! - an argon2 PHC string (`$argon2id$…`), for human-chosen secrets (deliberately slow, so
//!   the endpoint runs it off the async workers).
//!
//! Digests are compared with `subtle` in constant time over fixed 32-byte values, so neither
//! the secret's length nor its prefix leaks through timing.

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How a client's secret is checked.
pub enum SecretVerifier {
    /// SHA-256(salt ‖ secret); the salt is empty for plaintext-configured secrets.
    Sha256 {
        /// Salt prefixed to the secret before hashing.
        salt: Vec<u8>,
        /// The expected digest.
        digest: [u8; 32],
    },
    /// An argon2 PHC string, validated at start-up.
    Argon2(String),
}

impl fmt::Debug for SecretVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretVerifier::Sha256 { .. } => f.write_str("SecretVerifier::Sha256(<redacted>)"),
            SecretVerifier::Argon2(_) => f.write_str("SecretVerifier::Argon2(<redacted>)"),
        }
    }
}

fn sha256(salt: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret);
    hasher.finalize().into()
}

impl SecretVerifier {
    /// Holds a plaintext secret as its digest.
    pub fn from_plaintext(secret: &[u8]) -> Self {
        SecretVerifier::Sha256 {
            salt: Vec::new(),
            digest: sha256(&[], secret),
        }
    }

    /// Parses `sha256:<salt hex>:<digest hex>` or an argon2 PHC string.
    pub fn from_hash(text: &str) -> Result<Self, String> {
        if text.starts_with("$argon2") {
            let hash = PasswordHash::new(text)
                .map_err(|e| format!("not a valid argon2 PHC string: {e}"))?;
            let known = ["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str());
            if !known || hash.salt.is_none() || hash.hash.is_none() {
                return Err(
                    "not a complete argon2 PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)"
                        .to_owned(),
                );
            }
            return Ok(SecretVerifier::Argon2(text.to_owned()));
        }
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            ["sha256", salt, digest] => {
                let salt = hex::decode(salt).map_err(|_| "the salt is not hex".to_owned())?;
                if salt.len() < 16 {
                    return Err("the salt must be at least 16 bytes".to_owned());
                }
                let digest = hex::decode(digest).map_err(|_| "the digest is not hex".to_owned())?;
                let digest: [u8; 32] = digest
                    .try_into()
                    .map_err(|_| "the digest must be 32 bytes".to_owned())?;
                Ok(SecretVerifier::Sha256 { salt, digest })
            }
            _ => Err(
                "expected `sha256:<salt hex>:<digest hex>` or an argon2 PHC string \
                      (see `sealgate hash-secret`)"
                    .to_owned(),
            ),
        }
    }

    /// Whether checking costs real CPU time (argon2) and belongs on a blocking thread.
    pub fn is_slow(&self) -> bool {
        matches!(self, SecretVerifier::Argon2(_))
    }

    /// Checks a presented secret, in constant time for the digest forms.
    pub fn verify(&self, presented: &[u8]) -> bool {
        match self {
            SecretVerifier::Sha256 { salt, digest } => sha256(salt, presented).ct_eq(digest).into(),
            SecretVerifier::Argon2(phc) => PasswordHash::new(phc)
                .map(|hash| Argon2::default().verify_password(presented, &hash).is_ok())
                .unwrap_or(false),
        }
    }
}

/// Makes a `sha256:<salt>:<digest>` value with a fresh 16-byte salt.
pub fn hash_salted_sha256(secret: &[u8]) -> Result<String, crate::crypto::random::RandomError> {
    let salt = crate::crypto::random::bytes::<16>()?;
    Ok(format!(
        "sha256:{}:{}",
        hex::encode(salt),
        hex::encode(sha256(&salt, secret))
    ))
}

/// Makes an argon2id PHC string with the crate's default parameters.
pub fn hash_argon2(secret: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret, &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_form_accepts_only_the_exact_secret() {
        let v = SecretVerifier::from_plaintext(b"TEST123");
        assert!(v.verify(b"TEST123"));
        for wrong in [&b"TEST12"[..], b"TEST1234", b"test123", b""] {
            assert!(!v.verify(wrong));
        }
    }

    #[test]
    fn salted_sha256_round_trips() {
        let text = hash_salted_sha256(b"long-random-secret").unwrap();
        let v = SecretVerifier::from_hash(&text).unwrap();
        assert!(v.verify(b"long-random-secret"));
        assert!(!v.verify(b"long-random-secreT"));
        assert!(!v.is_slow());
    }

    #[test]
    fn argon2_round_trips() {
        let text = hash_argon2(b"BankeZy123").unwrap();
        let v = SecretVerifier::from_hash(&text).unwrap();
        assert!(v.verify(b"BankeZy123"));
        assert!(!v.verify(b"BankeZy124"));
        assert!(v.is_slow());
    }

    #[test]
    fn malformed_hashes_are_refused() {
        for text in [
            "md5:00:00",
            "sha256:zz:00",
            "sha256:00:00",
            "$argon2id$garbage",
            "TEST123",
        ] {
            assert!(SecretVerifier::from_hash(text).is_err(), "{text}");
        }
    }

    #[test]
    fn debug_never_shows_the_digest() {
        let v = SecretVerifier::from_plaintext(b"TEST123");
        let printed = format!("{v:?}");
        assert!(
            printed.contains("redacted") && !printed.contains('['),
            "{printed}"
        );
    }
}

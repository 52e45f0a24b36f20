//! Token keys: the gateway's own AES-256 keys that seal tokens, named by `kid` so they can be
//! rotated. One key of the ring issues (the first, unless the configuration says another:
//! a new key can verify everywhere before it issues anywhere); every key verifies.

use std::fmt;

use crate::crypto::Key32;
use crate::crypto::random::RandomError;

/// A key id: 1 to 64 characters of `[A-Za-z0-9._-]`, so it is safe in logs and headers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Kid(String);

impl Kid {
    /// Validates a key id.
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Kid(text.to_owned()))
        } else {
            Err("must be 1 to 64 characters of A-Z a-z 0-9 . _ -".to_owned())
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({})", self.0)
    }
}

/// One token key.
#[derive(Debug, Clone)]
pub struct TokenKey {
    /// Its id, written into every token it seals.
    pub kid: Kid,
    /// The AES-256-GCM key (zeroized on drop, redacted in `Debug`).
    pub key: Key32,
}

/// The configured token keys.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<TokenKey>,
    /// The index of the key that seals new tokens.
    issuing: usize,
    ephemeral: bool,
}

impl KeyRing {
    /// A ring from configured keys; the first issues. Callers guarantee it is non-empty.
    pub fn new(keys: Vec<TokenKey>) -> Self {
        Self::with_issuing(keys, 0)
    }

    /// A ring from configured keys in which `keys[issuing]` issues and the others only
    /// verify (`issue = false` on the keys before it). Callers guarantee the index is in
    /// range.
    pub fn with_issuing(keys: Vec<TokenKey>, issuing: usize) -> Self {
        KeyRing {
            keys,
            issuing,
            ephemeral: false,
        }
    }

    /// One random key, for when none is configured: tokens will not survive a restart.
    pub fn ephemeral() -> Result<Self, RandomError> {
        let key = TokenKey {
            kid: Kid("ephemeral".to_owned()),
            key: Key32::random()?,
        };
        Ok(KeyRing {
            keys: vec![key],
            issuing: 0,
            ephemeral: true,
        })
    }

    /// Whether the ring was generated at start rather than configured.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// The key that seals new tokens.
    pub fn issuing(&self) -> Option<&TokenKey> {
        self.keys.get(self.issuing)
    }

    /// The key named `kid`, if configured.
    pub fn find(&self, kid: &str) -> Option<&TokenKey> {
        self.keys.iter().find(|k| k.kid.as_str() == kid)
    }

    /// The same ring with every key replaced by one derived for another purpose
    /// (HKDF-SHA256, RFC 5869: IKM the token key, empty salt, info `purpose`), under the
    /// same kids. What is sealed under a derived ring does not open under the token keys,
    /// so it can never pass for a token (the session records of `local` mode: see
    /// [`SESSION_RECORD_PURPOSE`]).
    pub fn derive(&self, purpose: &[u8]) -> KeyRing {
        let keys = self
            .keys
            .iter()
            .map(|k| {
                let mut out = [0u8; 32];
                crate::crypto::kdf::hkdf_sha256(k.key.expose(), &[], purpose, &mut out);
                let key = Key32::from_bytes(out);
                zeroize::Zeroize::zeroize(&mut out);
                TokenKey {
                    kid: k.kid.clone(),
                    key,
                }
            })
            .collect();
        KeyRing {
            keys,
            issuing: self.issuing,
            ephemeral: self.ephemeral,
        }
    }
}

/// The HKDF `info` of the keys that seal `local`-mode session records in a shared backend.
pub const SESSION_RECORD_PURPOSE: &[u8] = b"sealgate session record v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuing_key_may_be_any_key_of_the_ring_and_every_key_verifies() {
        let key = |kid: &str, byte| TokenKey {
            kid: Kid::parse(kid).unwrap(),
            key: Key32::from_bytes([byte; 32]),
        };
        let ring = KeyRing::new(vec![key("a", 1), key("b", 2)]);
        assert_eq!(ring.issuing().unwrap().kid.as_str(), "a");
        let ring = KeyRing::with_issuing(vec![key("new", 2), key("old", 1)], 1);
        assert_eq!(ring.issuing().unwrap().kid.as_str(), "old");
        assert!(ring.find("new").is_some() && ring.find("old").is_some());
        let derived = ring.derive(SESSION_RECORD_PURPOSE);
        assert_eq!(derived.issuing().unwrap().kid.as_str(), "old");
    }

    #[test]
    fn a_derived_ring_keeps_the_kids_and_changes_every_key() {
        let ring = KeyRing::new(vec![TokenKey {
            kid: Kid::parse("k1").unwrap(),
            key: Key32::from_bytes([7; 32]),
        }]);
        let derived = ring.derive(SESSION_RECORD_PURPOSE);
        let (a, b) = (ring.find("k1").unwrap(), derived.find("k1").unwrap());
        assert_ne!(a.key, b.key);
        assert_eq!(derived.derive(b"x").find("k1").unwrap().kid, a.kid);
        assert_eq!(
            ring.derive(SESSION_RECORD_PURPOSE).find("k1").unwrap().key,
            b.key
        );
    }
}

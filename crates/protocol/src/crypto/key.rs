use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 32-byte symmetric key (a session key `K`, a token key, or an ECDH `Z`).
///
/// Zeroized on drop; `Debug` prints nothing of the value. Equality is constant-time so that a
/// comparison in a test or an audit path cannot become a timing oracle.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key32([u8; 32]);

impl Key32 {
    /// Wraps raw bytes. The caller's copy is not zeroized: prefer building keys in place.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Copies from a slice, which must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(array))
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn random() -> Result<Self, super::random::RandomError> {
        let mut key = Self([0; 32]);
        super::random::fill(&mut key.0)?;
        Ok(key)
    }

    /// The key bytes, for handing to a cipher.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for Key32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Key32 {}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = Key32::from_bytes([0xAB; 32]);
        let printed = format!("{key:?}");
        assert!(!printed.to_lowercase().contains("ab"), "{printed}");
        assert!(!printed.contains("171"), "{printed}");
    }

    #[test]
    fn from_slice_requires_exactly_32_bytes() {
        assert!(Key32::from_slice(&[0; 31]).is_none());
        assert!(Key32::from_slice(&[0; 33]).is_none());
        assert_eq!(
            Key32::from_slice(&[7; 32]),
            Some(Key32::from_bytes([7; 32]))
        );
    }
}

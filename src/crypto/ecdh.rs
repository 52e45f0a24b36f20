//! P-256 ECDH (SEC 1 §3.3.1) as the wire contract uses it: `Z` is the 32-byte big-endian
//! x-coordinate of the shared point.
//!
//! The peer's key arrives as a [`p256::PublicKey`], which can only be built from a point
//! that is on the curve and not the identity (see [`crate::jose::jwk`]); that is what
//! defeats invalid-curve attacks, so no other constructor is offered here.

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{NonZeroScalar, PublicKey, SecretKey};

use super::Key32;
use super::random::RandomError;

/// A server key pair made for exactly one token (or held as a gateway key). The scalar is
/// zeroized on drop by `p256`, as is the ECDSA signing key made from it.
pub struct EphemeralKeyPair {
    secret: SecretKey,
    /// The ECDSA signing key, made at the first signature and kept: making one computes the
    /// public point, a scalar multiplication as costly as the signature itself, which a
    /// gateway `sig` key would otherwise repeat for every token.
    signer: std::sync::OnceLock<p256::ecdsa::SigningKey>,
}

impl EphemeralKeyPair {
    /// A fresh key pair from the OS CSPRNG.
    pub fn generate() -> Result<Self, RandomError> {
        // Rejection-sample a scalar in [1, n-1] from OS randomness; a 32-byte draw falls
        // outside the range with probability ~2^-32, so the loop is bounded in practice.
        for _ in 0..64 {
            let candidate = super::random::bytes::<32>()?;
            if let Ok(secret) = SecretKey::from_slice(&candidate) {
                return Ok(Self::from_secret(secret));
            }
        }
        Err(RandomError)
    }

    /// Builds a key pair from a known scalar (test vectors and the reference client).
    pub fn from_scalar_bytes(bytes: &[u8]) -> Option<Self> {
        SecretKey::from_slice(bytes).ok().map(Self::from_secret)
    }

    fn from_secret(secret: SecretKey) -> Self {
        Self {
            secret,
            signer: std::sync::OnceLock::new(),
        }
    }

    /// The private scalar, 32 bytes big-endian (zeroized on drop), for `gen-gateway-key`.
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.secret.to_bytes().into())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }

    /// `Z` with the peer's public key.
    pub fn agree(&self, peer: &PublicKey) -> Key32 {
        agree(&self.secret.to_nonzero_scalar(), peer)
    }

    /// ES256 (RFC 7518 §3.4): ECDSA over P-256 with SHA-256, the signature as `r || s`,
    /// 64 bytes. Nonces are deterministic (RFC 6979), so no randomness can fail here.
    pub fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        use p256::ecdsa::signature::Signer as _;
        let key = self
            .signer
            .get_or_init(|| p256::ecdsa::SigningKey::from(&self.secret));
        let signature: p256::ecdsa::Signature = key.sign(message);
        signature.to_bytes().into()
    }
}

impl std::fmt::Debug for EphemeralKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair(<redacted>)")
    }
}

/// Whether `signature` (`r || s`, 64 bytes) is an ES256 signature of `message` by `public`.
/// High-`s` signatures are accepted as ECDSA allows; JWS does not require low `s`.
pub fn verify_es256(public: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier as _;
    let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
        return false;
    };
    p256::ecdsa::VerifyingKey::from(public)
        .verify(message, &signature)
        .is_ok()
}

/// `Z` = x-coordinate of `secret · peer`, 32 bytes big-endian.
pub fn agree(secret: &NonZeroScalar, peer: &PublicKey) -> Key32 {
    let shared = p256::ecdh::diffie_hellman(secret, peer.as_affine());
    let mut z = [0u8; 32];
    z.copy_from_slice(shared.raw_secret_bytes());
    let key = Key32::from_bytes(z);
    zeroize::Zeroize::zeroize(&mut z);
    key
}

/// The uncompressed affine coordinates `(x, y)` of a public key, 32 bytes each.
pub fn coordinates(public: &PublicKey) -> ([u8; 32], [u8; 32]) {
    let point = public.to_encoded_point(false);
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    // An uncompressed encoding of a valid public key always has both coordinates.
    if let (Some(px), Some(py)) = (point.x(), point.y()) {
        x.copy_from_slice(px);
        y.copy_from_slice(py);
    }
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_compute_the_same_z() {
        let a = EphemeralKeyPair::generate().unwrap();
        let b = EphemeralKeyPair::generate().unwrap();
        assert_eq!(a.agree(&b.public_key()), b.agree(&a.public_key()));
        let c = EphemeralKeyPair::generate().unwrap();
        assert_ne!(a.agree(&b.public_key()), a.agree(&c.public_key()));
    }
}

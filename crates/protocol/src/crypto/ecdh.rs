//! P-256 ECDH (SEC 1 §3.3.1) as the wire contract uses it: `Z` is the 32-byte big-endian
//! x-coordinate of the shared point; and ES256 signatures.
//!
//! The peer's key arrives as a [`p256::PublicKey`], which can only be built from a point
//! that is on the curve and not the identity (see [`crate::jose::jwk`]); that is what
//! defeats invalid-curve attacks, so no other constructor is offered here.
//!
//! Two implementations, each where it serves: `p256` (RustCrypto) for keys as values
//! (parsing, validation, JWK coordinates, the client), and AWS-LC (`aws-lc-rs`) for the
//! scalar multiplications a token costs: the key pair made for each token, its ECDH, the
//! ECDH that opens a sealed token request, and the handshake signature. Measured side by
//! side (`cargo bench --bench tokens`, docs/performance.md): one token's key pair + ECDH +
//! ES256 took 439 µs in `p256`, 73 µs in `aws-lc-rs`, 74 µs in `ring` and 95 µs in
//! OpenSSL. `aws-lc-rs` rather than `ring`, which cost the same: AWS-LC wipes the heap
//! copies of a private key when it frees them and `aws-lc-rs` wipes the shared secret
//! (ring says it does neither); stack temporaries inside either library are best effort.
//! This build uses AWS-LC, not its FIPS-validated module (`aws-lc-rs`'s `fips` feature,
//! which needs CMake and Go to build, and no `p256` fallback): no FIPS claim is made.
//!
//! Randomness: AWS-LC draws per-token keys and ECDSA nonces from its own DRBG (seeded from
//! the OS, fork- and snapshot-safe), which aborts the process if the OS entropy source
//! fails rather than return an error; failing closed, as a bank would want. If AWS-LC
//! refuses a key (it should not), the operation falls back to `p256`, with one warning.

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{NonZeroScalar, PublicKey, SecretKey};

use super::Key32;
use super::random::RandomError;

/// A P-256 key pair held as a value: a gateway key, or a client's key. The scalar is
/// zeroized on drop by `p256`; AWS-LC's copies (made at the first signature or agreement,
/// and kept: making one computes the public point, a scalar multiplication as costly as
/// the operation itself) are wiped by AWS-LC when freed.
pub struct EphemeralKeyPair {
    secret: SecretKey,
    /// AWS-LC's ECDSA key, for ES256 signatures.
    signer: std::sync::OnceLock<Option<aws_lc_rs::signature::EcdsaKeyPair>>,
    /// AWS-LC's ECDH key, for agreements with this (static) key.
    agreer: std::sync::OnceLock<Option<aws_lc_rs::agreement::PrivateKey>>,
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
            agreer: std::sync::OnceLock::new(),
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

    /// `Z` with the peer's public key, for a key used once (a client's): `p256` alone, so
    /// no second copy of the scalar is made in AWS-LC for one agreement.
    pub fn agree_once(&self, peer: &PublicKey) -> Key32 {
        agree(&self.secret.to_nonzero_scalar(), peer)
    }

    /// `Z` with the peer's public key, for a key that agrees many times (the gateway's
    /// `enc` key): AWS-LC, its key made at the first agreement and kept.
    pub fn agree(&self, peer: &PublicKey) -> Key32 {
        let agreer = self.agreer.get_or_init(|| {
            let scalar = self.secret_bytes();
            aws_lc_rs::agreement::PrivateKey::from_private_key(
                &aws_lc_rs::agreement::ECDH_P256,
                &scalar[..],
            )
            .ok()
            .or_else(|| fell_back("ECDH key"))
        });
        agreer
            .as_ref()
            .and_then(|key| {
                agree_aws_lc(
                    |peer, z| aws_lc_rs::agreement::agree(key, peer, (), z),
                    peer,
                )
            })
            .unwrap_or_else(|| agree(&self.secret.to_nonzero_scalar(), peer))
    }

    /// ES256 (RFC 7518 §3.4): ECDSA over P-256 with SHA-256, the signature as `r || s`,
    /// 64 bytes.
    pub fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        let signer = self.signer.get_or_init(|| {
            let scalar = self.secret_bytes();
            let public = self.public_key().to_encoded_point(false);
            aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &scalar[..],
                public.as_bytes(),
            )
            .ok()
            .or_else(|| fell_back("ECDSA key"))
        });
        let rng = aws_lc_rs::rand::SystemRandom::new();
        signer
            .as_ref()
            .and_then(|key| key.sign(&rng, message).ok())
            .and_then(|signature| signature.as_ref().try_into().ok())
            .unwrap_or_else(|| {
                // p256's deterministic nonces (RFC 6979): no randomness that could fail.
                use p256::ecdsa::signature::Signer as _;
                let key = p256::ecdsa::SigningKey::from(&self.secret);
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().into()
            })
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

/// A key pair made for one token, and `Z` with the client's key: AWS-LC makes the key pair
/// and agrees (its private key is wiped when freed, here, at the end of the call). Only the
/// public half outlives the call.
pub fn agree_ephemeral(peer: &PublicKey) -> Result<(PublicKey, Key32), RandomError> {
    use aws_lc_rs::agreement::{ECDH_P256, EphemeralPrivateKey};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let made = EphemeralPrivateKey::generate(&ECDH_P256, &rng)
        .ok()
        .and_then(|private| {
            let public = private.compute_public_key().ok()?;
            let public = PublicKey::from_sec1_bytes(public.as_ref()).ok()?;
            let z = agree_aws_lc(
                |peer, z| aws_lc_rs::agreement::agree_ephemeral(private, peer, (), z),
                peer,
            )?;
            Some((public, z))
        });
    match made {
        Some(made) => Ok(made),
        None => {
            fell_back::<()>("per-token key pair");
            let pair = EphemeralKeyPair::generate()?;
            Ok((
                pair.public_key(),
                agree(&pair.secret.to_nonzero_scalar(), peer),
            ))
        }
    }
}

/// Runs an AWS-LC agreement (`run(peer, kdf)`) with `peer`, and returns `Z`.
fn agree_aws_lc<F>(run: F, peer: &PublicKey) -> Option<Key32>
where
    F: FnOnce(
        aws_lc_rs::agreement::UnparsedPublicKey<&[u8]>,
        fn(&[u8]) -> Result<Key32, ()>,
    ) -> Result<Key32, ()>,
{
    let point = peer.to_encoded_point(false);
    let peer = aws_lc_rs::agreement::UnparsedPublicKey::new(
        &aws_lc_rs::agreement::ECDH_P256,
        point.as_bytes(),
    );
    run(peer, |z| {
        let mut bytes: [u8; 32] = z.try_into().map_err(|_| ())?;
        let key = Key32::from_bytes(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(key)
    })
    .ok()
}

/// Says once that AWS-LC refused something and `p256` does it instead (correct, and about
/// six times the CPU per token); `None`, for `or_else`.
fn fell_back<T>(what: &str) -> Option<T> {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::warn!(
            what,
            "AWS-LC refused a P-256 operation: falling back to p256 (slower)"
        );
    });
    None
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
    fn aws_lc_and_p256_agree_and_sign_alike() {
        let ours = EphemeralKeyPair::generate().unwrap();
        let peer = EphemeralKeyPair::generate().unwrap();
        // Static agreement through AWS-LC, against p256's arithmetic.
        let expected = ours.agree_once(&peer.public_key());
        assert_eq!(ours.agree(&peer.public_key()), expected);
        assert!(
            matches!(ours.agreer.get(), Some(Some(_))),
            "AWS-LC did the agreement, not the fallback"
        );
        // A per-token agreement: the peer computes the same Z from the public half.
        let (public, z) = agree_ephemeral(&peer.public_key()).unwrap();
        assert_eq!(peer.agree(&public), z);
        // An AWS-LC signature verifies with p256 (and is randomised: two differ).
        let (a, b) = (ours.sign_es256(b"m"), ours.sign_es256(b"m"));
        assert!(verify_es256(&ours.public_key(), b"m", &a));
        assert!(verify_es256(&ours.public_key(), b"m", &b));
        assert_ne!(a, b);
        assert!(matches!(ours.signer.get(), Some(Some(_))), "AWS-LC signed");
        assert!(!verify_es256(&ours.public_key(), b"n", &a));
    }

    #[test]
    fn both_sides_compute_the_same_z() {
        let a = EphemeralKeyPair::generate().unwrap();
        let b = EphemeralKeyPair::generate().unwrap();
        assert_eq!(a.agree(&b.public_key()), b.agree(&a.public_key()));
        let c = EphemeralKeyPair::generate().unwrap();
        assert_ne!(a.agree(&b.public_key()), a.agree(&c.public_key()));
    }
}

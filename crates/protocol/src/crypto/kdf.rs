//! The session-key derivations of the wire contract: `K` (32 bytes, for AES-256-GCM) from the
//! ECDH secret `Z`. Chosen per channel so old and new apps can run side by side.

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::Key32;

/// The HKDF `info` string: the 24 ASCII bytes `token-service/v2 A256GCM`.
pub const HKDF_INFO: &[u8; 24] = b"token-service/v2 A256GCM";

/// The Concat KDF `AlgorithmID` for direct key agreement with A256GCM (RFC 7518 §4.6.2).
pub const CONCAT_KDF_ALGORITHM_ID: &[u8] = b"A256GCM";

/// How a channel turns `Z` into `K` (the configuration names it `kdf`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize,
)]
pub enum Kdf {
    /// HKDF-SHA256 (RFC 5869), empty salt, info [`HKDF_INFO`], 32 bytes. The default.
    #[default]
    #[serde(rename = "hkdf-sha256")]
    HkdfSha256,
    /// The Concat KDF of RFC 7518 §4.6.2 (NIST SP 800-56A), AlgorithmID `A256GCM`, empty
    /// PartyUInfo and PartyVInfo, keydatalen 256.
    #[serde(rename = "concat-kdf")]
    ConcatKdf,
    /// `Z` itself. Only for legacy clients: `Z` is not uniformly random (it is a curve
    /// coordinate), which is why the other two exist.
    #[serde(rename = "raw")]
    Raw,
}

impl Kdf {
    /// Derives `K` from `Z`.
    pub fn derive(self, z: &Key32) -> Key32 {
        let mut out = [0u8; 32];
        match self {
            Kdf::HkdfSha256 => hkdf_sha256(z.expose(), &[], HKDF_INFO, &mut out),
            Kdf::ConcatKdf => {
                concat_kdf_sha256(z.expose(), CONCAT_KDF_ALGORITHM_ID, &[], &[], &mut out)
            }
            Kdf::Raw => out.copy_from_slice(z.expose()),
        }
        let key = Key32::from_bytes(out);
        out.zeroize();
        key
    }

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kdf::HkdfSha256 => "hkdf-sha256",
            Kdf::ConcatKdf => "concat-kdf",
            Kdf::Raw => "raw",
        }
    }
}

impl fmt::Display for Kdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kdf {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hkdf-sha256" => Ok(Kdf::HkdfSha256),
            "concat-kdf" => Ok(Kdf::ConcatKdf),
            "raw" => Ok(Kdf::Raw),
            other => Err(format!(
                "unknown kdf `{other}` (expected `hkdf-sha256`, `concat-kdf` or `raw`)"
            )),
        }
    }
}

/// HKDF-SHA256 extract-and-expand (RFC 5869 §2). An empty `salt` means HashLen zero bytes
/// (§2.2). `out` must be at most 255 × 32 bytes; every caller here asks for 32.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) {
    let salt = (!salt.is_empty()).then_some(salt);
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    // `expand` fails only for out.len() > 255 * 32, which no caller can ask for; fill with
    // zeros rather than panic if one ever did, and let the debug assertion catch it.
    if hk.expand(info, out).is_err() {
        debug_assert!(false, "HKDF output length {} out of range", out.len());
        out.fill(0);
    }
}

/// The single-step Concat KDF with SHA-256 as profiled by RFC 7518 §4.6.2:
/// `K(i) = SHA-256(counter_i || Z || OtherInfo)`, `OtherInfo = len||AlgorithmID ||
/// len||PartyUInfo || len||PartyVInfo || keydatalen`, lengths as 32-bit big-endian, and
/// `keydatalen` = `out.len() * 8` bits.
pub fn concat_kdf_sha256(z: &[u8], algorithm_id: &[u8], apu: &[u8], apv: &[u8], out: &mut [u8]) {
    fn len_prefixed(hasher: &mut Sha256, data: &[u8]) {
        // The fields are short constants or empty; a length over u32 cannot occur.
        hasher.update(u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
        hasher.update(data);
    }
    let keydatalen_bits = u32::try_from(out.len() * 8).unwrap_or(u32::MAX);
    for (counter, chunk) in (1u32..).zip(out.chunks_mut(32)) {
        let mut hasher = Sha256::new();
        hasher.update(counter.to_be_bytes());
        hasher.update(z);
        len_prefixed(&mut hasher, algorithm_id);
        len_prefixed(&mut hasher, apu);
        len_prefixed(&mut hasher, apv);
        hasher.update(keydatalen_bits.to_be_bytes());
        let mut block = hasher.finalize();
        chunk.copy_from_slice(&block[..chunk.len()]);
        block.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn hkdf_matches_rfc5869_test_case_3_empty_salt_and_info() {
        let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let mut okm = [0u8; 42];
        hkdf_sha256(&ikm, &[], &[], &mut okm);
        assert_eq!(
            okm.to_vec(),
            hex(
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
            )
        );
    }

    #[test]
    fn concat_kdf_matches_rfc7518_appendix_c() {
        // RFC 7518 Appendix C: ECDH-ES with A128GCM, apu "Alice", apv "Bob".
        let z: [u8; 32] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let mut out = [0u8; 16];
        concat_kdf_sha256(&z, b"A128GCM", b"Alice", b"Bob", &mut out);
        assert_eq!(
            out,
            [
                86, 170, 141, 234, 248, 35, 109, 32, 92, 34, 40, 205, 113, 167, 16, 26
            ]
        );
    }

    #[test]
    fn session_keys_match_an_independent_implementation() {
        // Z = 01 02 … 20; expected K computed with Python `cryptography` (HKDF and
        // ConcatKDFHash with OtherInfo = len‖"A256GCM" ‖ 0 ‖ 0 ‖ 256).
        let mut z = [0u8; 32];
        for (i, b) in z.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        let z = Key32::from_bytes(z);
        assert_eq!(
            Kdf::HkdfSha256.derive(&z).expose().to_vec(),
            hex("65dc11f1be1b0e7bfabf4eda06fc502060ef3608043893b3176fa8c1443cac10")
        );
        assert_eq!(
            Kdf::ConcatKdf.derive(&z).expose().to_vec(),
            hex("2e0fb3ad4bfcd6e3910f99db126caf8f9f0146bd6c29b4ac7866d3e0750f98fb")
        );
    }

    #[test]
    fn the_three_kdfs_give_different_keys_and_raw_is_z() {
        let z = Key32::from_bytes([0x42; 32]);
        let hk = Kdf::HkdfSha256.derive(&z);
        let ck = Kdf::ConcatKdf.derive(&z);
        let raw = Kdf::Raw.derive(&z);
        assert_eq!(raw, z);
        assert_ne!(hk, ck);
        assert_ne!(hk, z);
        assert_ne!(ck, z);
    }

    #[test]
    fn kdf_names_round_trip() {
        for kdf in [Kdf::HkdfSha256, Kdf::ConcatKdf, Kdf::Raw] {
            assert_eq!(kdf.as_str().parse::<Kdf>(), Ok(kdf));
        }
        assert!("hkdf".parse::<Kdf>().is_err());
    }
}

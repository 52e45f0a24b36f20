//! The one strict JWE compact codec (RFC 7516 §7.1) for `alg` = `dir`, `enc` = `A256GCM`.
//! Tokens, request bodies and response bodies all go through it; it is pure (no I/O
//! besides the OS random source for IVs when sealing).
//!
//! Decryption is ours, over AWS-LC's AES-256-GCM (`aws-lc-rs`), rather than a general JOSE
//! library's: josekit 0.10.3
//! was measured to accept a tag cut to 1 byte (the cjose CVE-2023-37464 class: a forgery in
//! about 256 tries), to panic on an empty IV, to ignore `crit`, to inflate `zip` without a
//! cap and not to pin `enc`. The rules, each a stable [`JweError`]:
//! - the length is capped before anything is decoded;
//! - exactly five `.`-separated segments;
//! - every segment strict base64url (no padding, no `+/`, canonical);
//! - the protected header a JSON object with unique members, `alg` = `dir`,
//!   `enc` = `A256GCM`, and none of `zip`, `crit`, `jku`, `x5u`, `jwk`, `x5c`, `epk`, `p2c`,
//!   `p2s`, `apu`, `apv` (meaningless or dangerous with direct encryption);
//! - the encrypted key empty (RFC 7518 §4.5), the IV 12 bytes, the tag 16 bytes;
//! - the AAD is the header segment exactly as received (RFC 7516 §5.2 step 14).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use thiserror::Error;

use super::b64;
use super::json::StrictObject;
use crate::crypto::Key32;
use crate::crypto::random::{self, RandomError};

/// IV length for AES-GCM (NIST SP 800-38D §5.2.1.1 recommends 96 bits).
pub const IV_LEN: usize = 12;
/// Full-length GCM tag; shorter tags are refused (RFC 7518 §5.3 fixes 128 bits).
pub const TAG_LEN: usize = 16;
/// Largest protected header segment accepted, before decoding.
pub const MAX_HEADER_SEGMENT: usize = 1024;

/// Header members that must never appear with `dir`/`A256GCM` here.
pub const FORBIDDEN_HEADER_MEMBERS: [&str; 11] = [
    "zip", "crit", "jku", "x5u", "jwk", "x5c", "epk", "p2c", "p2s", "apu", "apv",
];

/// Header members that must never appear with `ECDH-ES`/`A256GCM` (the sealed token
/// request of docs/protocol.md §1.1): `epk` is required there, and `apu`/`apv` may be present but
/// empty.
pub const FORBIDDEN_ECDH_ES_MEMBERS: [&str; 8] =
    ["zip", "crit", "jku", "x5u", "jwk", "x5c", "p2c", "p2s"];

/// `typ` of every sealed response (docs/protocol.md §4.1, RFC 8725 §3.11).
pub const TYP_RESPONSE: &str = "response+jwe";
/// `typ` a sealed request may carry (docs/protocol.md §4.1).
pub const TYP_REQUEST: &str = "request+jwe";

/// Which key management a compact JWE must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// `dir`: the content key is shared (tokens, sealed bodies).
    Dir,
    /// `ECDH-ES` direct key agreement with the gateway's `enc` key (sealed token requests).
    EcdhEs,
}

/// Why a JWE was refused. Stable and free of secret material, so each may be logged and
/// counted; the HTTP mapping lives in the gateway's `error` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JweError {
    /// Longer than the caller's cap, checked before decoding.
    #[error("JWE longer than the limit")]
    TooLong,
    /// Not exactly five segments (JSON serialization, JWS, truncated…).
    #[error("not a five-segment compact JWE")]
    SegmentCount,
    /// A segment is not strict base64url.
    #[error("segment `{0}` is not strict base64url")]
    Base64(&'static str),
    /// The protected header is too long, not a JSON object, or repeats a member.
    #[error("protected header is not a JSON object with unique members")]
    Header,
    /// `alg` missing or not the one expected (`dir`, or `ECDH-ES` for token requests).
    #[error("alg is not the one expected")]
    Algorithm,
    /// `epk` missing or not an acceptable P-256 public JWK (ECDH-ES).
    #[error("epk is not a P-256 public key on the curve")]
    EphemeralKey,
    /// `apu` or `apv` present and not empty (ECDH-ES).
    #[error("apu/apv must be empty")]
    PartyInfo,
    /// `enc` missing or not `A256GCM`.
    #[error("enc is not A256GCM")]
    Encryption,
    /// A forbidden member (see [`FORBIDDEN_HEADER_MEMBERS`]) is present.
    #[error("header member `{0}` is not allowed")]
    ForbiddenMember(&'static str),
    /// `kid` or `cty` present with a non-string value.
    #[error("header member `{0}` is not a string")]
    MemberType(&'static str),
    /// The encrypted key segment is not empty, as `dir` requires.
    #[error("encrypted key must be empty with dir")]
    EncryptedKey,
    /// The IV is not 12 bytes.
    #[error("IV is not 12 bytes")]
    IvLength,
    /// The tag is not 16 bytes.
    #[error("authentication tag is not 16 bytes")]
    TagLength,
    /// Authentication failed: wrong key, or anything altered.
    #[error("does not decrypt with the key")]
    Decrypt,
    /// The OS random source failed while sealing.
    #[error("no randomness for an IV")]
    Random,
}

impl From<RandomError> for JweError {
    fn from(_: RandomError) -> Self {
        JweError::Random
    }
}

/// The protected header members that callers use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Key id, for tokens (and the gateway `enc` key of a sealed token request).
    pub kid: Option<String>,
    /// Media type of the plaintext.
    pub cty: Option<String>,
    /// Explicit type: `response+jwe`, `request+jwe` (docs/protocol.md §4.1).
    pub typ: Option<String>,
    /// The HTTP method a sealed request is bound to.
    pub htm: Option<String>,
    /// The request target (path and query) a sealed request is bound to.
    pub htp: Option<String>,
    /// When a sealed token request was sealed (seconds since the epoch, docs/protocol.md §1.1).
    pub iat: Option<i64>,
    /// The channel (`X-API-KEY`) a sealed token request is meant for (docs/protocol.md §1.1).
    pub chn: Option<String>,
}

impl Header {
    /// A header with only `cty`.
    pub fn with_cty(cty: Option<String>) -> Self {
        Header {
            cty,
            ..Header::default()
        }
    }
}

/// A JWE whose structure has been checked but which has not been decrypted: lets a caller
/// read `kid` to choose the key first.
#[derive(Debug)]
pub struct Parsed<'a> {
    header_segment: &'a [u8],
    /// The protected header's members of interest.
    pub header: Header,
    /// `epk` (ECDH-ES only), already checked to be on the curve.
    pub epk: Option<p256::PublicKey>,
    iv: [u8; IV_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
}

/// Checks structure and header of a compact `dir` JWE no longer than `max_len` bytes.
pub fn parse(compact: &[u8], max_len: usize) -> Result<Parsed<'_>, JweError> {
    parse_as(compact, max_len, Alg::Dir)
}

/// Checks structure and header of a compact JWE whose key management must be `alg`.
pub fn parse_as(compact: &[u8], max_len: usize, alg: Alg) -> Result<Parsed<'_>, JweError> {
    if compact.len() > max_len {
        return Err(JweError::TooLong);
    }
    // Exactly four dots make the five segments (memchr finds them with SIMD; a byte-wise
    // split of a request body showed in the encrypted path's profile).
    let mut dots = [0usize; 4];
    let mut found = 0;
    for position in memchr::memchr_iter(b'.', compact) {
        *dots.get_mut(found).ok_or(JweError::SegmentCount)? = position;
        found += 1;
    }
    if found != 4 {
        return Err(JweError::SegmentCount);
    }
    let segment = |from: usize, to: usize| &compact[from..to];
    let header_segment = segment(0, dots[0]);
    let key = segment(dots[0] + 1, dots[1]);
    let iv = segment(dots[1] + 1, dots[2]);
    let ciphertext = segment(dots[2] + 1, dots[3]);
    let tag = segment(dots[3] + 1, compact.len());
    if header_segment.len() > MAX_HEADER_SEGMENT {
        return Err(JweError::Header);
    }
    let header_json = b64::decode_strict(header_segment).map_err(|_| JweError::Base64("header"))?;
    let (header, epk) = check_header(&header_json, alg)?;
    if !key.is_empty() {
        return Err(JweError::EncryptedKey);
    }
    let iv = b64::decode_strict(iv).map_err(|_| JweError::Base64("iv"))?;
    let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| JweError::IvLength)?;
    let ciphertext = b64::decode_strict(ciphertext).map_err(|_| JweError::Base64("ciphertext"))?;
    let tag = b64::decode_strict(tag).map_err(|_| JweError::Base64("tag"))?;
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| JweError::TagLength)?;
    Ok(Parsed {
        header_segment,
        header,
        epk,
        iv,
        ciphertext,
        tag,
    })
}

fn check_header(json: &[u8], alg: Alg) -> Result<(Header, Option<p256::PublicKey>), JweError> {
    let object = StrictObject::parse(json).map_err(|_| JweError::Header)?;
    let (alg_name, forbidden): (&str, &[&'static str]) = match alg {
        Alg::Dir => ("dir", &FORBIDDEN_HEADER_MEMBERS),
        Alg::EcdhEs => ("ECDH-ES", &FORBIDDEN_ECDH_ES_MEMBERS),
    };
    if object.str_member("alg") != Ok(Some(alg_name)) {
        return Err(JweError::Algorithm);
    }
    if object.str_member("enc") != Ok(Some("A256GCM")) {
        return Err(JweError::Encryption);
    }
    if let Some(name) = forbidden.iter().find(|name| object.has(name)) {
        return Err(JweError::ForbiddenMember(name));
    }
    let string = |name: &'static str| {
        object
            .str_member(name)
            .map(|v| v.map(str::to_owned))
            .map_err(|()| JweError::MemberType(name))
    };
    let epk = match alg {
        Alg::Dir => None,
        Alg::EcdhEs => {
            // RFC 7518 §4.6.1: PartyUInfo/PartyVInfo are not used by this contract.
            for name in ["apu", "apv"] {
                if !matches!(object.str_member(name), Ok(None | Some(""))) {
                    return Err(JweError::PartyInfo);
                }
            }
            let epk = object.0.get("epk").ok_or(JweError::EphemeralKey)?;
            let text = serde_json::to_vec(epk).map_err(|_| JweError::EphemeralKey)?;
            Some(super::jwk::parse_public_p256(&text).map_err(|_| JweError::EphemeralKey)?)
        }
    };
    let header = Header {
        kid: string("kid")?,
        cty: string("cty")?,
        typ: string("typ")?,
        htm: string("htm")?,
        htp: string("htp")?,
        iat: object
            .int_member("iat")
            .map_err(|()| JweError::MemberType("iat"))?,
        chn: string("chn")?,
    };
    Ok((header, epk))
}

impl Parsed<'_> {
    /// The IV, which a replay check remembers once decryption has succeeded.
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// ECDH-ES (RFC 7518 §4.6): the content key is the Concat KDF (AlgorithmID `A256GCM`,
    /// PartyUInfo and PartyVInfo empty, 256 bits) of `Z` = ECDH(`ours`, `epk`); then
    /// authenticates and decrypts. Refused for a JWE that was not parsed as ECDH-ES.
    pub fn decrypt_ecdh_es(
        self,
        ours: &crate::crypto::ecdh::EphemeralKeyPair,
    ) -> Result<Vec<u8>, JweError> {
        let epk = self.epk.ok_or(JweError::Algorithm)?;
        // RFC 7518 §4.6.2 for direct key agreement with A256GCM is the channels'
        // `concat-kdf`: one definition for both.
        let key = crate::crypto::kdf::Kdf::ConcatKdf.derive(&ours.agree(&epk));
        self.decrypt(&key)
    }

    /// Authenticates and decrypts with `key`.
    pub fn decrypt(self, key: &Key32) -> Result<Vec<u8>, JweError> {
        aead_open_in_place(
            key,
            &self.iv,
            self.header_segment,
            self.ciphertext,
            &self.tag,
        )
    }
}

/// The AES-256-GCM primitive under the codec, exposed for known-answer tests: refuses any
/// IV but 12 bytes and any tag but 16 bytes (instead of panicking or truncating), then
/// authenticates and decrypts.
pub fn aead_open(
    key: &Key32,
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, JweError> {
    let iv: &[u8; IV_LEN] = iv.try_into().map_err(|_| JweError::IvLength)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| JweError::TagLength)?;
    aead_open_in_place(key, iv, aad, ciphertext.to_vec(), tag)
}

fn aead_open_in_place(
    key: &Key32,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    mut buffer: Vec<u8>,
    tag: &[u8; TAG_LEN],
) -> Result<Vec<u8>, JweError> {
    cipher(key)?
        .open_in_place_separate_tag(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad),
            tag,
            &mut buffer,
        )
        .map_err(|_| JweError::Decrypt)?;
    Ok(buffer)
}

/// AES-256-GCM under `key`, from AWS-LC: 2.3× faster than the `aes-gcm` crate at 1 KiB and
/// 6.5× at 64 KiB on this project's machine (`benches/jwe.rs`, docs/performance.md "Sealed
/// bodies"); `tests/it/props.rs` checks the two agree on every input. The key schedule
/// lives in memory AWS-LC allocated, which it wipes when the key is dropped
/// (`OPENSSL_free` cleanses).
fn cipher(key: &Key32) -> Result<LessSafeKey, JweError> {
    UnboundKey::new(&AES_256_GCM, key.expose())
        .map(LessSafeKey::new)
        .map_err(|_| JweError::Decrypt)
}

/// Parses and decrypts in one step, for callers that know the key up front.
pub fn open(compact: &[u8], key: &Key32, max_len: usize) -> Result<(Header, Vec<u8>), JweError> {
    let parsed = parse(compact, max_len)?;
    let header = parsed.header.clone();
    Ok((header, parsed.decrypt(key)?))
}

/// Seals `plaintext` under `key` with a fresh random IV.
pub fn seal(plaintext: &[u8], key: &Key32, header: &Header) -> Result<String, JweError> {
    let iv = random::public_bytes::<IV_LEN>()?;
    seal_with_iv(plaintext, key, header, &iv)
}

/// Seals with a caller-chosen IV. Only for published test vectors: reusing an IV under one
/// key destroys GCM's confidentiality and integrity.
pub fn seal_with_iv(
    plaintext: &[u8],
    key: &Key32,
    header: &Header,
    iv: &[u8; IV_LEN],
) -> Result<String, JweError> {
    seal_segment(
        plaintext,
        key,
        &b64::encode(header_json(header).as_bytes()),
        iv,
    )
}

fn seal_segment(
    plaintext: &[u8],
    key: &Key32,
    header_segment: &str,
    iv: &[u8; IV_LEN],
) -> Result<String, JweError> {
    let mut buffer = plaintext.to_vec();
    let tag = cipher(key)?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(header_segment.as_bytes()),
            &mut buffer,
        )
        .map_err(|_| JweError::TooLong)?;
    let mut out = String::with_capacity(header_segment.len() + (buffer.len() + 40) * 4 / 3);
    out.push_str(header_segment);
    out.push_str("..");
    b64::encode_into(iv, &mut out);
    out.push('.');
    b64::encode_into(&buffer, &mut out);
    out.push('.');
    b64::encode_into(tag.as_ref(), &mut out);
    Ok(out)
}

/// Seals under `key` with a protected header given as JSON text (for the ECDH-ES token
/// request, whose header carries `epk`): a fresh random IV, AAD the encoded header.
pub fn seal_with_protected(
    plaintext: &[u8],
    key: &Key32,
    protected_json: &str,
) -> Result<String, JweError> {
    let iv = random::public_bytes::<IV_LEN>()?;
    seal_segment(plaintext, key, &b64::encode(protected_json.as_bytes()), &iv)
}

/// The protected header JSON text: `{"alg":"dir","enc":"A256GCM"}` then `kid`, `cty`,
/// `typ`, `htm`, `htp`, `iat` and `chn` when set, in that order. Written out rather than through a map,
/// so the text (and so the AAD) does not depend on whether some dependency enables
/// `serde_json/preserve_order`.
pub fn header_json(header: &Header) -> String {
    let mut out = String::from(r#"{"alg":"dir","enc":"A256GCM""#);
    for (name, value) in [
        ("kid", &header.kid),
        ("cty", &header.cty),
        ("typ", &header.typ),
        ("htm", &header.htm),
        ("htp", &header.htp),
    ] {
        if let Some(value) = value {
            // A string always serializes.
            let quoted = serde_json::to_string(value).unwrap_or_default();
            out.push_str(&format!(r#","{name}":{quoted}"#));
        }
    }
    if let Some(iat) = header.iat {
        out.push_str(&format!(r#","iat":{iat}"#));
    }
    if let Some(chn) = &header.chn {
        let quoted = serde_json::to_string(chn).unwrap_or_default();
        out.push_str(&format!(r#","chn":{quoted}"#));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn key() -> Key32 {
        Key32::from_bytes([7; 32])
    }

    #[test]
    fn seal_then_open_round_trips_with_header() {
        let header = Header {
            kid: Some("k1".into()),
            cty: Some("application/json".into()),
            ..Default::default()
        };
        let sealed = seal(b"{\"a\":1}", &key(), &header).unwrap();
        let (got, plain) = open(sealed.as_bytes(), &key(), MAX).unwrap();
        assert_eq!(plain, b"{\"a\":1}");
        assert_eq!(got, header);
    }

    #[test]
    fn the_header_text_is_fixed() {
        assert_eq!(
            header_json(&Header::default()),
            r#"{"alg":"dir","enc":"A256GCM"}"#
        );
        let both = Header {
            kid: Some("k\"1".into()),
            cty: Some("text/plain".into()),
            ..Default::default()
        };
        assert_eq!(
            header_json(&both),
            r#"{"alg":"dir","enc":"A256GCM","kid":"k\"1","cty":"text/plain"}"#
        );
    }

    #[test]
    fn two_seals_of_one_plaintext_use_different_ivs() {
        let a = seal(b"x", &key(), &Header::default()).unwrap();
        let b = seal(b"x", &key(), &Header::default()).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_fails_to_decrypt() {
        let sealed = seal(b"x", &key(), &Header::default()).unwrap();
        let other = Key32::from_bytes([8; 32]);
        assert_eq!(
            open(sealed.as_bytes(), &other, MAX).unwrap_err(),
            JweError::Decrypt
        );
    }

    #[test]
    fn length_is_capped_before_decoding() {
        let sealed = seal(&[0; 100], &key(), &Header::default()).unwrap();
        assert_eq!(
            open(sealed.as_bytes(), &key(), 50).unwrap_err(),
            JweError::TooLong
        );
    }

    #[test]
    fn truncated_tags_are_refused_before_decrypting() {
        let sealed = seal(b"hello", &key(), &Header::default()).unwrap();
        let (rest, _tag) = sealed.rsplit_once('.').unwrap();
        for len in [0usize, 1, 4, 8, 12, 15, 17] {
            let forged = format!("{rest}.{}", b64::encode(&vec![0; len]));
            assert_eq!(
                open(forged.as_bytes(), &key(), MAX).unwrap_err(),
                JweError::TagLength,
                "{len}"
            );
        }
    }
}

//! The IdP's JWK Set (RFC 7517 §5): which of its keys can verify tokens, and which are
//! skipped, and why.
//!
//! A key that cannot be used safely is *skipped*, not fatal to the set: an IdP commonly
//! publishes encryption keys, keys for algorithms we do not allow, or a key of a new type
//! beside the ones in use, and one odd key must not take down every route. Each skipped key
//! is reported ([`KeySet::skipped`]) for the caller to log. Only the document as a whole
//! (too large, not a JWK Set, too many keys) is an error.
//!
//! Keys are parsed into AWS-LC's form once, here: an EC point off the curve, say, is found
//! when the set is loaded, not on every request.

use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, RsaParameters, RsaPublicKeyComponents,
};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::algorithm::{Algorithm, KeyKind};
use crate::codec::{Element, b64url_decode, parse_key_set};

/// The most bytes a JWK Set document may have: a set of 100 RSA-4096 keys with
/// certificate chains would be larger, but an IdP publishes a handful of keys, and the
/// bound caps what one fetch can cost.
pub const MAX_KEY_SET_BYTES: usize = 64 * 1024;

/// The most entries a JWK Set's `keys` array may have (skipped ones included).
pub const MAX_KEYS: usize = 100;

/// The RSA modulus sizes accepted, in bits: below 2048 is too weak (RFC 7518 §3.3 and
/// §3.5 require 2048), above 8192 AWS-LC does not verify.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// Private-key members: a public JWK Set that carries one has leaked the key, and anyone
/// can sign with it, so the key is not trusted (RFC 7518 §6.2.2 and §6.3.2, RFC 8037 §2,
/// and `k` of a symmetric key).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why the JWK Set document as a whole was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeySetError {
    /// Over [`MAX_KEY_SET_BYTES`].
    #[error("the JWK Set is larger than 64 KiB")]
    TooLarge,
    /// Not one JSON object with unique member names (RFC 7517 §5).
    #[error("the JWK Set is not a JSON object with unique member names")]
    NotAnObject,
    /// No `keys` member, or one that is not an array.
    #[error("the JWK Set has no `keys` array")]
    NoKeys,
    /// More than [`MAX_KEYS`] entries in `keys`.
    #[error("the JWK Set has more than 100 keys")]
    TooManyKeys,
}

/// Why one key of the set is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SkipReason {
    /// Not a JSON object, or one in which a member name repeats.
    #[error("not a JSON object with unique member names")]
    NotAnObject,
    /// A member is missing, of the wrong JSON type, or not strict base64url; names it.
    #[error("member `{0}` is missing or malformed")]
    Malformed(&'static str),
    /// `use` other than `sig`, or `key_ops` without `verify`: the IdP does not publish
    /// this key for verifying signatures (RFC 7517 §4.2, §4.3).
    #[error("not published for verifying signatures (`use` or `key_ops`)")]
    NotForVerifying,
    /// A `kty` other than `RSA`, `EC` and `OKP` (`oct` among them: a symmetric key is never
    /// used).
    #[error("unsupported key type")]
    UnsupportedKeyType,
    /// An EC curve other than P-256, or an OKP curve other than Ed25519.
    #[error("unsupported curve")]
    UnsupportedCurve,
    /// The JWK's own `alg` is none of RS256, PS256, ES256 and EdDSA.
    #[error("the key's `alg` is not a supported algorithm")]
    UnsupportedAlgorithm,
    /// The JWK's own `alg` needs another type of key (`ES256` on an RSA key, say).
    #[error("the key's `alg` does not fit its type")]
    AlgorithmMismatch,
    /// An RSA modulus outside 2048 to 8192 bits; carries its size.
    #[error("RSA modulus of {0} bits (2048 to 8192 accepted)")]
    RsaKeySize(usize),
    /// An RSA public exponent that is even, below 3, or not below 2^32.
    #[error("RSA public exponent is even, below 3 or too large")]
    RsaExponent,
    /// The key does not parse as a public key of its type (an EC point off the curve, an
    /// even RSA modulus, coordinates of the wrong length).
    #[error("not a valid public key")]
    InvalidKey,
    /// The JWK carries private-key material: the key has leaked, so it proves nothing.
    #[error("the key carries private-key material")]
    PrivateKeyMaterial,
    /// An earlier usable key has the same `kid`; the first one is kept.
    #[error("another key has the same `kid`")]
    DuplicateKid,
}

/// A key of the set that is not used, for the caller to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// The key's position in the `keys` array, from 0.
    pub index: usize,
    /// Its `kid`, when it has a string one (it is public, but chosen by the IdP: escape it
    /// when logging).
    pub kid: Option<String>,
    /// Why it is skipped.
    pub reason: SkipReason,
}

/// A usable verification key.
pub(crate) struct Key {
    kid: Option<String>,
    /// The JWK's own `alg`: when present, the only algorithm the key verifies.
    alg: Option<Algorithm>,
    material: Material,
}

/// A public key in AWS-LC's parsed form, one per algorithm it may verify.
enum Material {
    /// An RSA key: the PKCS#1 v1.5 and PSS forms, each absent when the JWK's `alg` names
    /// the other.
    Rsa {
        bits: usize,
        pkcs1: Option<ParsedPublicKey>,
        pss: Option<ParsedPublicKey>,
    },
    /// A P-256 point, for ES256.
    P256(ParsedPublicKey),
    /// An Ed25519 point, for EdDSA.
    Ed25519(ParsedPublicKey),
}

impl Key {
    fn kind(&self) -> KeyKind {
        match self.material {
            Material::Rsa { .. } => KeyKind::Rsa,
            Material::P256(_) => KeyKind::P256,
            Material::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// Whether this key may verify `alg`: of the type the algorithm needs and, if the JWK
    /// names an algorithm, that one.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.kind() == alg.key_kind() && self.alg.is_none_or(|own| own == alg)
    }

    /// Verifies `signature` over `message` with `alg`. `Err(())` for any failure: a wrong
    /// signature, a wrong length (an ES256 signature in DER form among them), or an
    /// algorithm this key does not fit.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ()> {
        if !self.fits(alg) {
            return Err(());
        }
        let (key, length) = match (&self.material, alg) {
            (
                Material::Rsa {
                    pkcs1: Some(key),
                    bits,
                    ..
                },
                Algorithm::Rs256,
            )
            | (
                Material::Rsa {
                    pss: Some(key),
                    bits,
                    ..
                },
                Algorithm::Ps256,
            ) => (key, bits.div_ceil(8)),
            // RFC 7518 §3.4: the 64-byte R || S, never the DER form.
            (Material::P256(key), Algorithm::Es256) => (key, 64),
            (Material::Ed25519(key), Algorithm::EdDsa) => (key, 64),
            _ => return Err(()),
        };
        if signature.len() != length {
            return Err(());
        }
        key.verify_sig(message, signature).map_err(|_| ())
    }
}

/// The usable keys of an IdP's JWK Set, by `kid`, and the keys skipped.
///
/// Its `Debug` shows each key's `kid`, type and `alg`, never key material.
pub struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<String, usize>,
    skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// Parses a JWK Set document (`{"keys":[...]}`, RFC 7517 §5) of at most
    /// [`MAX_KEY_SET_BYTES`] with at most [`MAX_KEYS`] keys.
    ///
    /// Keys that cannot be used are skipped and listed in [`KeySet::skipped`]; the result
    /// may therefore be empty, which the caller should treat as a broken set (and, while
    /// refreshing, perhaps keep the previous one).
    ///
    /// # Errors
    /// [`KeySetError`] when the document as a whole is refused.
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, KeySetError> {
        if bytes.len() > MAX_KEY_SET_BYTES {
            return Err(KeySetError::TooLarge);
        }
        let document = parse_key_set(bytes).ok_or(KeySetError::NotAnObject)?;
        let elements = document.keys.ok_or(KeySetError::NoKeys)?;
        if elements.len() > MAX_KEYS {
            return Err(KeySetError::TooManyKeys);
        }
        let mut set = KeySet {
            keys: Vec::with_capacity(elements.len()),
            by_kid: HashMap::new(),
            skipped: Vec::new(),
        };
        for (index, element) in elements.into_iter().enumerate() {
            let jwk = match element {
                Element::Object(object) if !object.repeated_name => object.members,
                Element::Object(object) => {
                    set.skip(index, kid_of(&object.members), SkipReason::NotAnObject);
                    continue;
                }
                Element::Other => {
                    set.skip(index, None, SkipReason::NotAnObject);
                    continue;
                }
            };
            match parse_jwk(&jwk) {
                Err(reason) => set.skip(index, kid_of(&jwk), reason),
                Ok(key) => match &key.kid {
                    Some(kid) if set.by_kid.contains_key(kid) => {
                        set.skip(index, Some(kid.clone()), SkipReason::DuplicateKid);
                    }
                    Some(kid) => {
                        set.by_kid.insert(kid.clone(), set.keys.len());
                        set.keys.push(key);
                    }
                    None => set.keys.push(key),
                },
            }
        }
        Ok(set)
    }

    fn skip(&mut self, index: usize, kid: Option<String>, reason: SkipReason) {
        self.skipped.push(SkippedKey { index, kid, reason });
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a usable key has this `kid` (the caller can tell an unknown `kid`, worth a
    /// refresh of the set, from a known one).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The keys that were skipped, in document order, with the reasons.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The key a token's header selects for `alg`: by `kid` when the header has one;
    /// otherwise the only key of the set that fits `alg`, if exactly one does. `Err` says
    /// which way selection failed.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Key, Selection> {
        match kid {
            Some(kid) => {
                let key = self
                    .by_kid
                    .get(kid)
                    .and_then(|&index| self.keys.get(index))
                    .ok_or(Selection::UnknownKid)?;
                if key.fits(alg) {
                    Ok(key)
                } else {
                    Err(Selection::Mismatch)
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    _ => Err(Selection::NoUniqueKey),
                }
            }
        }
    }
}

/// Why [`KeySet::select`] found no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selection {
    /// The header's `kid` names no usable key.
    UnknownKid,
    /// The header's `kid` names a key that does not fit the algorithm.
    Mismatch,
    /// No `kid`, and not exactly one key fits the algorithm.
    NoUniqueKey,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Entry<'a>(&'a Key);
        impl fmt::Debug for Entry<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Key")
                    .field("kid", &self.0.kid)
                    .field("kind", &self.0.kind())
                    .field("alg", &self.0.alg)
                    .finish()
            }
        }
        f.debug_struct("KeySet")
            .field("keys", &self.keys.iter().map(Entry).collect::<Vec<_>>())
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// The `kid` of a JWK, when it is a string.
fn kid_of(jwk: &Map<String, Value>) -> Option<String> {
    match jwk.get("kid") {
        Some(Value::String(kid)) => Some(kid.clone()),
        _ => None,
    }
}

/// The string member `name`: `Ok(None)` when absent, `Err` when of another type.
fn str_member<'a>(
    jwk: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, SkipReason> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(SkipReason::Malformed(name)),
    }
}

/// The strict base64url member `name`, which must be present.
fn bytes_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    str_member(jwk, name)?
        .and_then(b64url_decode)
        .ok_or(SkipReason::Malformed(name))
}

/// Checks one JWK and parses it into a usable key, or says why it is skipped.
fn parse_jwk(jwk: &Map<String, Value>) -> Result<Key, SkipReason> {
    let kty = str_member(jwk, "kty")?.ok_or(SkipReason::Malformed("kty"))?;
    let kid = str_member(jwk, "kid")?.map(str::to_owned);
    if let Some(usage) = str_member(jwk, "use")?
        && usage != "sig"
    {
        return Err(SkipReason::NotForVerifying);
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) => {
            if !ops.iter().all(Value::is_string) {
                return Err(SkipReason::Malformed("key_ops"));
            }
            if !ops.iter().any(|op| op == "verify") {
                return Err(SkipReason::NotForVerifying);
            }
        }
        Some(_) => return Err(SkipReason::Malformed("key_ops")),
    }
    if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
        return Err(SkipReason::PrivateKeyMaterial);
    }
    let kind = match kty {
        "RSA" => KeyKind::Rsa,
        "EC" => match str_member(jwk, "crv")? {
            Some("P-256") => KeyKind::P256,
            Some(_) => return Err(SkipReason::UnsupportedCurve),
            None => return Err(SkipReason::Malformed("crv")),
        },
        "OKP" => match str_member(jwk, "crv")? {
            Some("Ed25519") => KeyKind::Ed25519,
            Some(_) => return Err(SkipReason::UnsupportedCurve),
            None => return Err(SkipReason::Malformed("crv")),
        },
        _ => return Err(SkipReason::UnsupportedKeyType),
    };
    let alg = match str_member(jwk, "alg")? {
        None => None,
        Some(name) => {
            let alg = Algorithm::from_name(name).ok_or(SkipReason::UnsupportedAlgorithm)?;
            if alg.key_kind() != kind {
                return Err(SkipReason::AlgorithmMismatch);
            }
            Some(alg)
        }
    };
    let material = match kind {
        KeyKind::Rsa => rsa_material(jwk, alg)?,
        KeyKind::P256 => {
            let x = bytes_member(jwk, "x")?;
            let y = bytes_member(jwk, "y")?;
            // RFC 7518 §6.2.1.2: each coordinate is the full 32 bytes, leading zeros kept.
            if x.len() != 32 || y.len() != 32 {
                return Err(SkipReason::InvalidKey);
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // AWS-LC checks that the point is on the curve.
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .map_err(|_| SkipReason::InvalidKey)?;
            Material::P256(key)
        }
        KeyKind::Ed25519 => {
            let x = bytes_member(jwk, "x")?;
            if x.len() != 32 {
                return Err(SkipReason::InvalidKey);
            }
            let key = ParsedPublicKey::new(&ED25519, x).map_err(|_| SkipReason::InvalidKey)?;
            Material::Ed25519(key)
        }
    };
    Ok(Key { kid, alg, material })
}

/// Strips the leading zero bytes of a big-endian unsigned integer.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The RSA key of a JWK whose `kty` is `RSA`, in the forms its `alg` allows.
fn rsa_material(jwk: &Map<String, Value>, alg: Option<Algorithm>) -> Result<Material, SkipReason> {
    let n = bytes_member(jwk, "n")?;
    let e = bytes_member(jwk, "e")?;
    // RFC 7518 §6.3.1.1 wants the minimal encoding, but some IdPs have published `n` with
    // the DER integer's leading zero byte; the value is the same, so it is taken.
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);
    let bits = match n.first() {
        None => return Err(SkipReason::InvalidKey),
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    };
    if !RSA_BITS.contains(&bits) {
        return Err(SkipReason::RsaKeySize(bits));
    }
    // A modulus is a product of odd primes.
    if n.last().is_none_or(|&low| low & 1 == 0) {
        return Err(SkipReason::InvalidKey);
    }
    // An exponent of 1 makes every signature verify; an even one is not an RSA exponent;
    // IdPs use 65537, and AWS-LC refuses exponents above 33 bits.
    let exponent = match e.len() {
        1..=4 => e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        _ => return Err(SkipReason::RsaExponent),
    };
    if exponent < 3 || exponent % 2 == 0 {
        return Err(SkipReason::RsaExponent);
    }
    let components = RsaPublicKeyComponents { n, e };
    let parse = |params: &'static RsaParameters| {
        components
            .to_parsed_public_key(params)
            .map_err(|_| SkipReason::InvalidKey)
    };
    let pkcs1 = match alg {
        None | Some(Algorithm::Rs256) => Some(parse(&RSA_PKCS1_2048_8192_SHA256)?),
        Some(_) => None,
    };
    let pss = match alg {
        None | Some(Algorithm::Ps256) => Some(parse(&RSA_PSS_2048_8192_SHA256)?),
        Some(_) => None,
    };
    Ok(Material::Rsa { bits, pkcs1, pss })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    };
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// An odd modulus of exactly `bits` bits (parsing does not factor it).
    fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xa5; bits.div_ceil(8)];
        let top_bits = bits - (n.len() - 1) * 8;
        n[0] = 0xff >> (8 - top_bits);
        *n.last_mut().unwrap() |= 1;
        n
    }

    fn rsa_jwk(kid: &str, bits: usize) -> Value {
        json!({"kty": "RSA", "kid": kid, "n": b64(&modulus(bits)), "e": "AQAB"})
    }

    fn ec_point() -> Vec<u8> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        pair.public_key().as_ref().to_vec()
    }

    fn ec_jwk(kid: &str) -> Value {
        let point = ec_point();
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&point[1..33]), "y": b64(&point[33..])})
    }

    fn okp_jwk(kid: &str) -> Value {
        let pair = Ed25519KeyPair::generate().unwrap();
        json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key().as_ref())})
    }

    fn set_of(keys: Vec<Value>) -> KeySet {
        KeySet::from_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    /// The reason the only key of a one-key set is skipped.
    fn skip_reason(jwk: Value) -> SkipReason {
        let set = set_of(vec![jwk]);
        assert!(set.is_empty(), "{set:?}");
        assert_eq!(set.skipped().len(), 1);
        set.skipped()[0].reason
    }

    #[test]
    fn usable_keys_of_each_type_are_kept() {
        let set = set_of(vec![
            rsa_jwk("rsa", 2048),
            ec_jwk("ec"),
            okp_jwk("ed"),
            json!({"kty": "RSA", "kid": "rsa-8192", "n": b64(&modulus(8192)), "e": "AQAB",
                   "use": "sig", "key_ops": ["verify", "sign"], "alg": "PS256"}),
        ]);
        assert_eq!(set.len(), 4, "{set:?}");
        assert!(set.skipped().is_empty());
        for kid in ["rsa", "ec", "ed", "rsa-8192"] {
            assert!(set.has_kid(kid), "{kid}");
        }
        assert!(!set.has_kid("RSA"));
    }

    #[test]
    fn each_unusable_key_is_skipped_with_its_reason() {
        let with = |base: Value, changes: Value| {
            let mut jwk = base;
            for (name, value) in changes.as_object().unwrap() {
                if value.is_null() {
                    jwk.as_object_mut().unwrap().remove(name);
                } else {
                    jwk[name] = value.clone();
                }
            }
            skip_reason(jwk)
        };
        let rsa = rsa_jwk("k", 2048);
        let ec = ec_jwk("k");
        let okp = okp_jwk("k");
        let cases = [
            (
                with(rsa.clone(), json!({"use": "enc"})),
                SkipReason::NotForVerifying,
            ),
            (
                with(rsa.clone(), json!({"use": 1})),
                SkipReason::Malformed("use"),
            ),
            (
                with(rsa.clone(), json!({"key_ops": ["encrypt"]})),
                SkipReason::NotForVerifying,
            ),
            (
                with(rsa.clone(), json!({"key_ops": []})),
                SkipReason::NotForVerifying,
            ),
            (
                with(rsa.clone(), json!({"key_ops": "verify"})),
                SkipReason::Malformed("key_ops"),
            ),
            (
                with(rsa.clone(), json!({"key_ops": ["verify", 1]})),
                SkipReason::Malformed("key_ops"),
            ),
            (
                with(rsa.clone(), json!({"kty": "oct", "k": "c2VjcmV0"})),
                SkipReason::PrivateKeyMaterial,
            ),
            (
                with(rsa.clone(), json!({"kty": "oct"})),
                SkipReason::UnsupportedKeyType,
            ),
            (
                with(rsa.clone(), json!({"kty": "rsa"})),
                SkipReason::UnsupportedKeyType,
            ),
            (
                with(rsa.clone(), json!({"kty": null})),
                SkipReason::Malformed("kty"),
            ),
            (
                with(rsa.clone(), json!({"kty": ["RSA"]})),
                SkipReason::Malformed("kty"),
            ),
            (
                with(rsa.clone(), json!({"kid": 7})),
                SkipReason::Malformed("kid"),
            ),
            (
                with(rsa.clone(), json!({"alg": "RS384"})),
                SkipReason::UnsupportedAlgorithm,
            ),
            (
                with(rsa.clone(), json!({"alg": "HS256"})),
                SkipReason::UnsupportedAlgorithm,
            ),
            (
                with(rsa.clone(), json!({"alg": "none"})),
                SkipReason::UnsupportedAlgorithm,
            ),
            (
                with(rsa.clone(), json!({"alg": "ES256"})),
                SkipReason::AlgorithmMismatch,
            ),
            (
                with(rsa.clone(), json!({"alg": 256})),
                SkipReason::Malformed("alg"),
            ),
            (
                with(rsa.clone(), json!({"d": "AQAB"})),
                SkipReason::PrivateKeyMaterial,
            ),
            (
                with(rsa.clone(), json!({"n": b64(&modulus(1024))})),
                SkipReason::RsaKeySize(1024),
            ),
            (
                with(rsa.clone(), json!({"n": b64(&modulus(2047))})),
                SkipReason::RsaKeySize(2047),
            ),
            (
                with(rsa.clone(), json!({"n": b64(&modulus(8193))})),
                SkipReason::RsaKeySize(8193),
            ),
            (
                with(rsa.clone(), json!({"n": "AAAA"})),
                SkipReason::InvalidKey,
            ),
            (
                with(rsa.clone(), json!({"n": null})),
                SkipReason::Malformed("n"),
            ),
            (
                with(rsa.clone(), json!({"e": "AQ"})),
                SkipReason::RsaExponent,
            ),
            (
                with(rsa.clone(), json!({"e": "Ag"})),
                SkipReason::RsaExponent,
            ),
            (
                with(rsa.clone(), json!({"e": "AQAA"})),
                SkipReason::RsaExponent,
            ),
            (
                with(rsa.clone(), json!({"e": "AA"})),
                SkipReason::RsaExponent,
            ),
            (
                with(rsa.clone(), json!({"e": "AQAAAAE"})),
                SkipReason::RsaExponent,
            ),
            (
                with(rsa.clone(), json!({"e": "AQAB=="})),
                SkipReason::Malformed("e"),
            ),
            (
                with(ec.clone(), json!({"crv": "P-384"})),
                SkipReason::UnsupportedCurve,
            ),
            (
                with(ec.clone(), json!({"crv": "secp256k1"})),
                SkipReason::UnsupportedCurve,
            ),
            (
                with(ec.clone(), json!({"crv": null})),
                SkipReason::Malformed("crv"),
            ),
            (
                with(ec.clone(), json!({"alg": "EdDSA"})),
                SkipReason::AlgorithmMismatch,
            ),
            (
                with(ec.clone(), json!({"x": b64(&[1; 31])})),
                SkipReason::InvalidKey,
            ),
            (
                with(ec.clone(), json!({"y": b64(&[1; 33])})),
                SkipReason::InvalidKey,
            ),
            (
                with(ec.clone(), json!({"y": null})),
                SkipReason::Malformed("y"),
            ),
            (
                with(ec.clone(), json!({"x": "A+/B"})),
                SkipReason::Malformed("x"),
            ),
            (
                with(okp.clone(), json!({"crv": "X25519"})),
                SkipReason::UnsupportedCurve,
            ),
            (
                with(okp.clone(), json!({"crv": "Ed448"})),
                SkipReason::UnsupportedCurve,
            ),
            (
                with(okp.clone(), json!({"alg": "RS256"})),
                SkipReason::AlgorithmMismatch,
            ),
            (
                with(okp.clone(), json!({"x": b64(&[9; 31])})),
                SkipReason::InvalidKey,
            ),
            (
                with(okp.clone(), json!({"d": b64(&[9; 32])})),
                SkipReason::PrivateKeyMaterial,
            ),
        ];
        for (index, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {index}");
        }
    }

    #[test]
    fn an_ec_point_off_the_curve_is_skipped() {
        let point = ec_point();
        let mut y = point[33..].to_vec();
        y[31] ^= 1;
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "bad", "x": b64(&point[1..33]), "y": b64(&y)});
        assert_eq!(skip_reason(jwk), SkipReason::InvalidKey);
        // The point at infinity is not a key either.
        let zero = b64(&[0; 32]);
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": zero, "y": zero});
        assert_eq!(skip_reason(jwk), SkipReason::InvalidKey);
    }

    #[test]
    fn an_rsa_modulus_with_a_leading_zero_byte_is_taken_at_its_value() {
        let mut n = vec![0];
        n.extend(modulus(2048));
        let set = set_of(vec![
            json!({"kty": "RSA", "kid": "z", "n": b64(&n), "e": "AAEAAQ"}),
        ]);
        assert!(set.has_kid("z"), "{set:?}");
        // The leading zero does not make a 2040-bit key look like 2048 bits.
        let mut n = vec![0];
        n.extend(modulus(2040));
        let jwk = json!({"kty": "RSA", "n": b64(&n), "e": "AQAB"});
        assert_eq!(skip_reason(jwk), SkipReason::RsaKeySize(2040));
    }

    #[test]
    fn malformed_elements_are_skipped_with_their_index_and_kid() {
        let text = r#"{"keys":[1,"x",[],null,{"kty":"RSA","kid":"dup","kid":"dup"},{"kid":"k2","kty":"EC"}]}"#;
        let set = KeySet::from_json(text.as_bytes()).unwrap();
        assert!(set.is_empty());
        let skipped: Vec<_> = set
            .skipped()
            .iter()
            .map(|s| (s.index, s.kid.as_deref(), s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                (0, None, SkipReason::NotAnObject),
                (1, None, SkipReason::NotAnObject),
                (2, None, SkipReason::NotAnObject),
                (3, None, SkipReason::NotAnObject),
                (4, Some("dup"), SkipReason::NotAnObject),
                (5, Some("k2"), SkipReason::Malformed("crv")),
            ]
        );
    }

    #[test]
    fn the_first_usable_key_of_a_kid_wins() {
        let first = rsa_jwk("same", 2048);
        let set = set_of(vec![
            json!({"kty": "RSA", "kid": "same", "n": b64(&modulus(1024)), "e": "AQAB"}),
            first,
            ec_jwk("same"),
        ]);
        assert_eq!(set.len(), 1);
        let reasons: Vec<_> = set.skipped().iter().map(|s| (s.index, s.reason)).collect();
        assert_eq!(
            reasons,
            [
                (0, SkipReason::RsaKeySize(1024)),
                (2, SkipReason::DuplicateKid)
            ]
        );
        assert!(set.select(Some("same"), Algorithm::Rs256).is_ok());
        assert_eq!(
            set.select(Some("same"), Algorithm::Es256).err(),
            Some(Selection::Mismatch)
        );
    }

    #[test]
    fn the_document_as_a_whole() {
        assert_eq!(
            KeySet::from_json(&[b' '; MAX_KEY_SET_BYTES + 1]).err(),
            Some(KeySetError::TooLarge)
        );
        let mut padded = br#"{"keys":[]}"#.to_vec();
        padded.resize(MAX_KEY_SET_BYTES, b' ');
        assert!(KeySet::from_json(&padded).unwrap().is_empty());

        for text in [
            &b""[..],
            b"[]",
            b"null",
            b"{",
            br#"{"keys":[],"keys":[]}"#,
            b"\xff",
        ] {
            assert_eq!(
                KeySet::from_json(text).err(),
                Some(KeySetError::NotAnObject),
                "{text:?}"
            );
        }
        for text in [
            &br#"{}"#[..],
            br#"{"keys":{}}"#,
            br#"{"keys":null}"#,
            br#"{"Keys":[]}"#,
        ] {
            assert_eq!(
                KeySet::from_json(text).err(),
                Some(KeySetError::NoKeys),
                "{text:?}"
            );
        }

        let many = |count: usize| json!({ "keys": vec![json!(1); count] }).to_string();
        assert_eq!(
            KeySet::from_json(many(MAX_KEYS).as_bytes())
                .unwrap()
                .skipped()
                .len(),
            MAX_KEYS
        );
        assert_eq!(
            KeySet::from_json(many(MAX_KEYS + 1).as_bytes()).err(),
            Some(KeySetError::TooManyKeys)
        );
    }

    #[test]
    fn selection_by_kid_and_without() {
        let set = set_of(vec![
            rsa_jwk("rsa", 2048),
            json!({"kty": "RSA", "kid": "pss", "n": b64(&modulus(3072)), "e": "AQAB", "alg": "PS256"}),
            ec_jwk("ec"),
        ]);
        assert!(set.select(Some("rsa"), Algorithm::Rs256).is_ok());
        assert!(set.select(Some("rsa"), Algorithm::Ps256).is_ok());
        assert!(set.select(Some("pss"), Algorithm::Ps256).is_ok());
        assert_eq!(
            set.select(Some("pss"), Algorithm::Rs256).err(),
            Some(Selection::Mismatch)
        );
        assert_eq!(
            set.select(Some("ec"), Algorithm::Rs256).err(),
            Some(Selection::Mismatch)
        );
        assert_eq!(
            set.select(Some("ec"), Algorithm::EdDsa).err(),
            Some(Selection::Mismatch)
        );
        assert_eq!(
            set.select(Some("nope"), Algorithm::Es256).err(),
            Some(Selection::UnknownKid)
        );
        assert_eq!(
            set.select(Some(""), Algorithm::Es256).err(),
            Some(Selection::UnknownKid)
        );
        // Without a kid: the one key that fits, or none.
        assert!(set.select(None, Algorithm::Es256).is_ok());
        assert!(set.select(None, Algorithm::Rs256).is_ok());
        assert_eq!(
            set.select(None, Algorithm::Ps256).err(),
            Some(Selection::NoUniqueKey)
        );
        assert_eq!(
            set.select(None, Algorithm::EdDsa).err(),
            Some(Selection::NoUniqueKey)
        );

        // A key without a kid is found only by a token without one.
        let set = set_of(vec![
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 32])}),
        ]);
        assert!(set.select(None, Algorithm::EdDsa).is_ok());
        assert_eq!(
            set.select(Some("x"), Algorithm::EdDsa).err(),
            Some(Selection::UnknownKid)
        );
    }

    #[test]
    fn a_key_refuses_signatures_of_the_wrong_length_or_algorithm() {
        let set = set_of(vec![rsa_jwk("rsa", 2048), ec_jwk("ec")]);
        let rsa = set.select(Some("rsa"), Algorithm::Rs256).unwrap();
        assert_eq!(rsa.verify(Algorithm::Rs256, b"m", &[1; 255]), Err(()));
        assert_eq!(rsa.verify(Algorithm::Rs256, b"m", &[1; 256]), Err(()));
        assert_eq!(rsa.verify(Algorithm::Es256, b"m", &[1; 64]), Err(()));
        let ec = set.select(Some("ec"), Algorithm::Es256).unwrap();
        assert_eq!(ec.verify(Algorithm::Es256, b"m", &[1; 64]), Err(()));
        assert_eq!(ec.verify(Algorithm::Es256, b"m", &[1; 72]), Err(()));
        assert_eq!(ec.verify(Algorithm::EdDsa, b"m", &[1; 64]), Err(()));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let jwk = rsa_jwk("visible-kid", 2048);
        let n = jwk["n"].as_str().unwrap().to_owned();
        let ec = ec_jwk("ec");
        let x = ec["x"].as_str().unwrap().to_owned();
        let set = set_of(vec![jwk, ec]);
        let debug = format!("{set:?}");
        assert!(debug.contains("visible-kid"), "{debug}");
        assert!(
            !debug.contains(&n[..16]) && !debug.contains(&x[..16]),
            "{debug}"
        );
    }
}

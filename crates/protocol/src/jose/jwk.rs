//! EC P-256 public JWKs (RFC 7517 §4, RFC 7518 §6.2): strict parsing and canonical emission.
//!
//! Parsing is ours rather than `p256`'s `from_jwk_str`, which refuses the `kid`, `ext` and
//! `key_ops` members that WebCrypto exports carry and silently accepts a private `d`. Rules:
//! `kty` = `EC`, `crv` = `P-256`, `x` and `y` strict base64url of exactly 32 bytes, no `d`,
//! other members tolerated, no duplicate members, and the point on the curve (which also
//! excludes the identity, having no affine coordinates).

use p256::elliptic_curve::sec1::FromEncodedPoint;
use p256::{EncodedPoint, PublicKey};
use thiserror::Error;

use super::b64;
use super::json::StrictObject;
use crate::crypto::ecdh;

/// Why a JWK was refused. Each variant is a stable, loggable reason: none carries key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JwkError {
    /// Not a JSON object, or a member name repeats.
    #[error("not a JSON object with unique members")]
    NotAnObject,
    /// A required member is absent.
    #[error("missing member `{0}`")]
    Missing(&'static str),
    /// A member has the wrong JSON type.
    #[error("member `{0}` is not a string")]
    NotAString(&'static str),
    /// `kty` is not `EC`.
    #[error("kty is not EC")]
    WrongKeyType,
    /// `crv` is not `P-256`.
    #[error("crv is not P-256")]
    WrongCurve,
    /// A private member `d` is present: a client must never send its private key.
    #[error("private member `d` present")]
    PrivateKeyPresent,
    /// A coordinate is not strict base64url of exactly 32 bytes.
    #[error("coordinate `{0}` is not 32 bytes of base64url")]
    BadCoordinate(&'static str),
    /// `(x, y)` is not a point on P-256.
    #[error("point is not on the P-256 curve")]
    NotOnCurve,
}

/// Parses the UTF-8 JSON text of a public EC P-256 JWK.
pub fn parse_public_p256(json: &[u8]) -> Result<PublicKey, JwkError> {
    let object = StrictObject::parse(json).map_err(|_| JwkError::NotAnObject)?;
    let member = |name: &'static str| -> Result<&str, JwkError> {
        object
            .str_member(name)
            .map_err(|()| JwkError::NotAString(name))?
            .ok_or(JwkError::Missing(name))
    };
    if member("kty")? != "EC" {
        return Err(JwkError::WrongKeyType);
    }
    if member("crv")? != "P-256" {
        return Err(JwkError::WrongCurve);
    }
    if object.has("d") {
        return Err(JwkError::PrivateKeyPresent);
    }
    let x = coordinate(member("x")?, "x")?;
    let y = coordinate(member("y")?, "y")?;
    public_from_coordinates(&x, &y)
}

/// Builds a public key from affine coordinates, validating that the point is on the curve.
pub fn public_from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<PublicKey, JwkError> {
    let point = EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
    Option::from(PublicKey::from_encoded_point(&point)).ok_or(JwkError::NotOnCurve)
}

fn coordinate(text: &str, name: &'static str) -> Result<[u8; 32], JwkError> {
    let bytes = b64::decode_strict(text.as_bytes()).map_err(|_| JwkError::BadCoordinate(name))?;
    bytes.try_into().map_err(|_| JwkError::BadCoordinate(name))
}

/// The RFC 7638 JWK SHA-256 thumbprint, base64url: the hash of the required members only,
/// in lexicographic order, with no white space: `{"crv":"P-256","kty":"EC","x":…,"y":…}`
/// (§3.2). It names a key whatever other members its JWK carries.
pub fn thumbprint(public: &PublicKey) -> String {
    use sha2::Digest as _;
    let (x, y) = ecdh::coordinates(public);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        b64::encode(&x),
        b64::encode(&y)
    );
    b64::encode(&sha2::Sha256::digest(canonical.as_bytes()))
}

/// The canonical public JWK JSON text: `{"kty":"EC","crv":"P-256","x":…,"y":…}`.
pub fn public_to_json(public: &PublicKey) -> String {
    let (x, y) = ecdh::coordinates(public);
    format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
        b64::encode(&x),
        b64::encode(&y)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ecdh::EphemeralKeyPair;

    fn sample() -> (PublicKey, String, String) {
        let public = EphemeralKeyPair::generate().unwrap().public_key();
        let (x, y) = ecdh::coordinates(&public);
        (public, b64::encode(&x), b64::encode(&y))
    }

    #[test]
    fn canonical_output_parses_back_to_the_same_key() {
        let (public, _, _) = sample();
        let json = public_to_json(&public);
        assert_eq!(parse_public_p256(json.as_bytes()).unwrap(), public);
    }

    #[test]
    fn webcrypto_export_with_extra_members_is_accepted() {
        let (public, x, y) = sample();
        let json = format!(
            r#"{{"crv":"P-256","ext":true,"key_ops":[],"kty":"EC","kid":"k","x":"{x}","y":"{y}"}}"#
        );
        assert_eq!(parse_public_p256(json.as_bytes()).unwrap(), public);
    }

    #[test]
    fn each_malformation_has_its_own_reason() {
        let (_, x, y) = sample();
        let cases = [
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}"}}"#),
                JwkError::Missing("y"),
            ),
            (
                format!(r#"{{"kty":"RSA","crv":"P-256","x":"{x}","y":"{y}"}}"#),
                JwkError::WrongKeyType,
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-384","x":"{x}","y":"{y}"}}"#),
                JwkError::WrongCurve,
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","d":"{x}"}}"#),
                JwkError::PrivateKeyPresent,
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}=","y":"{y}"}}"#),
                JwkError::BadCoordinate("x"),
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"AAAA{y}"}}"#),
                JwkError::BadCoordinate("y"),
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#),
                JwkError::NotOnCurve,
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","x":1,"y":"{y}"}}"#),
                JwkError::NotAString("x"),
            ),
            (
                format!(r#"{{"kty":"EC","kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#),
                JwkError::NotAnObject,
            ),
            ("[1]".to_owned(), JwkError::NotAnObject),
        ];
        for (json, want) in cases {
            assert_eq!(parse_public_p256(json.as_bytes()), Err(want), "{json}");
        }
    }

    #[test]
    fn all_zero_coordinates_are_not_a_point() {
        assert_eq!(
            public_from_coordinates(&[0; 32], &[0; 32]),
            Err(JwkError::NotOnCurve)
        );
    }
}

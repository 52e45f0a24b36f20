//! The signature algorithms a policy may allow, by their JWA names (RFC 7518 §3.1 and
//! RFC 8037 §3.1).
//!
//! The set is closed on purpose. `none` and the HMAC algorithms (`HS256`…) have no variant,
//! so no configuration can allow them: with an HMAC algorithm allowed, a token signed with
//! the IdP's *public* key as the HMAC secret would verify (the classic key-confusion
//! attack), and the gateway never holds a secret shared with the IdP anyway.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// A JWS signature algorithm this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 to 8192 bits.
    Rs256,
    /// `PS256`: RSASSA-PSS with SHA-256 and MGF1 with SHA-256, salt as long as the hash
    /// (RFC 7518 §3.5), RSA keys of 2048 to 8192 bits.
    Ps256,
    /// `ES256`: ECDSA on P-256 with SHA-256, the signature as the 64-byte `r || s`
    /// (RFC 7518 §3.4), never DER.
    Es256,
    /// `EdDSA` with the Ed25519 curve (RFC 8037); Ed448 is not supported.
    EdDsa,
}

/// The kinds of key the algorithms need (JWK `kty`, and the curve where there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// `kty` `RSA`.
    Rsa,
    /// `kty` `EC` with `crv` `P-256`.
    P256,
    /// `kty` `OKP` with `crv` `Ed25519`.
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es256,
        Algorithm::EdDsa,
    ];

    /// The JWA name, as in a JWS header's `alg` or a JWK's `alg`.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm of JWA name `name`, compared exactly (JOSE names are case-sensitive:
    /// `rs256` and `None` are not names of anything).
    pub(crate) fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The kind of key this algorithm verifies with.
    pub(crate) const fn key_kind(self) -> KeyKind {
        match self {
            Algorithm::Rs256 | Algorithm::Ps256 => KeyKind::Rsa,
            Algorithm::Es256 => KeyKind::P256,
            Algorithm::EdDsa => KeyKind::Ed25519,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of `RS256`, `PS256`, `ES256` or `EdDSA`.
///
/// It does not carry the name: the parser is also fed names from tokens, which are not
/// to be echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a supported JWS algorithm (expected RS256, PS256, ES256 or EdDSA)")]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(name).ok_or(UnknownAlgorithm)
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

// By hand rather than derived: a derived enum also accepts a variant's index in some
// formats, and the configuration should name algorithms one way only.
impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Algorithm::from_name(&name).ok_or_else(|| {
            de::Error::invalid_value(Unexpected::Str(&name), &"one of RS256, PS256, ES256, EdDSA")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_display_and_serde() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.to_string().parse::<Algorithm>(), Ok(alg));
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.name()));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
        }
    }

    #[test]
    fn none_hmac_and_case_variants_are_not_algorithms() {
        for name in [
            "none", "None", "NONE", "HS256", "HS384", "HS512", "rs256", "Rs256", "ES384", "RS512",
            "PS384", "EdDSa", "ed25519", "Ed25519", "", " RS256", "RS256 ",
        ] {
            assert_eq!(name.parse::<Algorithm>(), Err(UnknownAlgorithm), "{name:?}");
            let json = serde_json::to_string(name).unwrap();
            assert!(
                serde_json::from_str::<Algorithm>(&json).is_err(),
                "{name:?}"
            );
        }
        // Nor an index, which a derived Deserialize would take in some formats.
        assert!(serde_json::from_str::<Algorithm>("0").is_err());
    }
}

//! # sealgate-jwt
//!
//! Verification of bearer JWTs issued by an external OAuth2/OIDC identity provider (IdP),
//! for the gateway's `auth = "jwt"` routes: a pure function from a token, the IdP's JWK Set,
//! a [`Policy`] and the current time to the token's claims or a precise refusal. No I/O, no
//! clock, no async: fetching and caching the JWK Set, and reading the clock, are the
//! caller's.
//!
//! | module | owns |
//! | --- | --- |
//! | [`algorithm`] | the four signature algorithms a policy may allow (`RS256`, `PS256`, `ES256`, `EdDSA`) |
//! | [`keyset`] | the JWK Set: which published keys are usable, which are skipped and why |
//! | [`token`] | the [`Policy`], the compact JWS and claim checks, and what a verified token yields |
//!
//! ## What is refused, and why
//!
//! The crate follows RFC 8725 (JWT Best Current Practices). The algorithm comes from the
//! policy's allow-list, never from the token: `none` and the HMAC algorithms cannot even be
//! named ([`Algorithm`] has no variant for them), so a public key can never be used as an
//! HMAC secret; the header's `alg` is only *checked* against the list, and the key it
//! selects must be of the type that algorithm needs. Header parameters that let a token
//! name its own key (`jku`, `x5u`, `jwk`, `x5c`) are refused, as is `crit` (no extension is
//! understood). The signature is checked before the claims are parsed, so the claims parser
//! only ever sees what the IdP signed.
//!
//! ```
//! use sealgate_jwt::{Algorithm, JwtError, KeySet, Policy, verify};
//!
//! let keys = KeySet::from_json(br#"{"keys":[]}"#).unwrap();
//! let policy = Policy::new("https://idp.example", ["api"], [Algorithm::Es256]);
//! // A token that names no algorithm the policy allows is refused before any key lookup.
//! let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln";
//! assert_eq!(verify(none, &keys, &policy, 0), Err(JwtError::AlgorithmNotAllowed));
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "a failed unwrap is a failed test"
    )
)]

pub mod algorithm;
mod codec;
pub mod keyset;
pub mod token;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use keyset::{KeySet, KeySetError, SkipReason, SkippedKey};
pub use token::{JwtError, Policy, PolicyError, Verified, verify};

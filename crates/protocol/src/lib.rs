//! # sealgate-protocol
//!
//! The formats of sealgate's wire contract (the repository's `docs/protocol.md`), shared by
//! the gateway and its Rust client so neither carries a copy: pure functions over bytes,
//! with no I/O but the operating system's random source.
//!
//! | module | owns |
//! | --- | --- |
//! | [`jose`] | strict base64url and JSON objects, P-256 JWKs, the one JWE codec that opens everything arriving from outside, ES256 JWS verification |
//! | [`crypto`] | the zeroizing key type, P-256 key pairs and ECDH, ES256 signing, the three session-key derivations, the random source |

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "a failed unwrap is a failed test"
    )
)]

pub mod crypto;
pub mod jose;

/// Where the gateway publishes its JWK Set (docs/protocol.md §1.1).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

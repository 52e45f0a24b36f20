//! JOSE building blocks, pure and I/O-free: strict base64url, strict JSON objects
//! (no duplicate members), EC P-256 JWK parsing and emission, and the one JWE compact
//! codec that opens everything arriving from outside, and ES256 JWS verification.
//!
//! Owns: the byte-level rules of RFC 7515/7516/7517/7518 that sealgate enforces.
//! Does not own: keys' lifetimes (see [`crate::crypto`]) or HTTP.

pub mod b64;
pub mod json;
pub mod jwe;
pub mod jwk;
pub mod jws;

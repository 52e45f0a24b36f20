//! Key material and key agreement: the 32-byte key type that is zeroized on drop and never
//! printed, P-256 ECDH producing `Z`, and the three session-key derivations.
//!
//! Owns: what bytes a key is and how it is derived. Does not own: the JOSE wire formats
//! (see [`crate::jose`]) or where keys are stored (the gateway's session cache).

pub mod ecdh;
pub mod kdf;
mod key;
pub mod random;

pub use key::Key32;

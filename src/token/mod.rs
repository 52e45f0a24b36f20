//! The token contract's formats, pure and free of I/O (docs/protocol.md §1 and §3): the token
//! request body, the claims a token carries and how they are sealed, the token keys and
//! their ring, and how a client's secret is held and checked.
//!
//! Owns: what a token *is*. Does not own: the endpoint that issues tokens
//! ([`crate::handshake`]) or their verification on later requests ([`crate::auth`]); both
//! build on this module and on nothing above it.

pub mod claims;
pub mod credentials;
pub mod gateway_keys;
pub mod keys;
pub mod request;

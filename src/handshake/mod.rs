//! The token endpoint (Get App Token API, docs/protocol.md §1–§3): check the channel and the
//! client's credentials, agree a session key with the client's ephemeral P-256 key, and
//! issue a token that names the session; and, when enabled, revoke a session by `DELETE`.
//!
//! Owns: the checks and their order, key agreement per token, issuing. Does not own: the
//! token format ([`crate::token`]), token *verification* on later requests
//! ([`crate::auth`]) or where sessions live ([`crate::state`]).

pub mod endpoint;
pub mod issue;

/// Where the gateway's JWK Set is published (docs/protocol.md §1.1), on the public listener.
pub const JWKS_PATH: &str = sealgate_protocol::JWKS_PATH;

//! The token endpoint (Get App Token API, PROTOCOL §1–§3): check the channel and the
//! client's credentials, agree a session key with the client's ephemeral P-256 key, and
//! issue a token that names the session.
//!
//! Owns: the checks and their order, key agreement per token, token sealing. Does not own:
//! token *verification* on later requests (see [`crate::auth`]) or the store
//! ([`crate::session`]).

pub mod claims;
pub mod credentials;
pub mod endpoint;
pub mod issue;
pub mod keys;
pub mod request;

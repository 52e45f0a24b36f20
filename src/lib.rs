//! # sealgate
//!
//! A reverse-proxy gateway that adds message-level encryption on top of TLS in front of
//! legacy HTTP backends. A client makes an ephemeral P-256 key pair and asks the token
//! endpoint for a token; sealgate agrees a per-session AES-256 key with it (ECDH + KDF),
//! and from then on opens the client's JWE-encrypted request bodies, forwards plaintext to
//! the upstream, and seals the responses — so the backend never sees cryptography.
//!
//! ## Layout
//!
//! | module | owns |
//! | --- | --- |
//! | [`config`] | TOML file → one validation step → typed [`config::Config`] |
//! | [`server`] | listeners (plain and TLS), connection bound, timeouts, graceful shutdown |
//! | [`tls`] | rustls configurations, SNI certificate store with live reload, upstream TLS |
//! | [`gateway`] | the request lifecycle: admit, identify, dispatch, observe; live reload |
//! | [`admin`] | the admin listener: `/metrics`, `/healthz`, `/readyz` |
//! | [`metrics`] | metric names (constants) and the registry |
//! | [`limit`] | token-issuance rate limits |
//! | [`token`] | the token endpoint: checks, key agreement, token issue |
//! | [`auth`] | verifying a token and finding its session (pure) |
//! | [`session`] | the session store (`DashMap`), replay memory, sweeping |
//! | [`state`] | where session state lives: memory, or Redis shared by instances |
//! | [`proxy`] | routing, body open/seal, header rewriting, the upstream client |
//! | [`jose`] | strict base64url/JSON, P-256 JWK, the one JWE codec (pure) |
//! | [`crypto`] | zeroizing keys, ECDH, the three KDFs |
//! | [`error`] | every client-visible error and its one status/code mapping |
//! | [`client`] | a Rust client for the wire contract (tests, load harness, CLI) |
//! | [`demo`] | the echo upstream bundled for the demo configuration |
//! | `testkit` | test support behind the `testkit` feature: config builder, spawned gateway, upstreams |
//!
//! ## A request's life
//!
//! `server` accepts → `gateway` admits and dispatches → the token path goes to
//! `token::endpoint`; any other path to `proxy`, which matches a route, verifies the bearer
//! token with `auth` (once per connection while it repeats), finds the session and admits
//! the request (revocation, replay) through `state` (memory first, then Redis when shared),
//! opens the body with `jose::jwe` under the session's key, forwards plaintext, and seals
//! the response. Errors become `{resCode, resDesc}` bodies in `error`.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "a failed unwrap is a failed test"
    )
)]

pub mod admin;
pub mod auth;
pub mod client;
pub mod clock;
pub mod config;
pub mod context;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod handshake;
pub mod jose;
pub mod limit;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod session;
pub mod state;
pub mod tls;
pub mod token;
pub mod wire;

#[cfg(feature = "testkit")]
pub mod testkit;

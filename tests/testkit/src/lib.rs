//! Test support, shared by the integration suites (`tests/it`, `tests/redis`) and the
//! benches: a typed configuration builder over [`sealgate::config::FileConfig`], a gateway
//! spawned on port 0 with a clock the test can move, a recording upstream (and the bundled
//! demo echo), an upstream that breaks HTTP on purpose, and a client side of the wire
//! contract built on [`sealgate::client`].
//!
//! A crate of its own in the workspace (as linkerd2-proxy's `app/test`), a dev-dependency of
//! `sealgate`: it sees only the gateway's public API, and the gateway cannot import it.
//!
//! Owns: how a test sets up a gateway and talks to it. Nothing here decides behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed unwrap is a failed test"
)]

mod app;
mod broken;
mod client;
mod config;
mod exchange;
mod upstream;
mod wait;

pub use app::{TestApp, spawn_app};
pub use broken::{BrokenUpstream, PLANTED, spawn_broken_upstream};
pub use client::{
    ClientKey, ClientSession, call, client_key, handshake, handshake_at, revoke, seal, token_body,
};
pub use config::{ConfigBuilder, TOKEN_KEY, TOKEN_PATH, client_file, route_file, token_key_file};
pub use exchange::{
    Reply, admin_get, http_client, metric, metrics_text, post, race_one_body, send, send_at_once,
};
pub use upstream::{
    Behaviour, Recorded, TestUpstream, refused_addr, spawn_demo_upstream, spawn_upstream,
};
pub use wait::eventually;

//! # sealgate
//!
//! A reverse-proxy gateway that adds message-level encryption on top of TLS in front of
//! legacy HTTP backends. A client makes an ephemeral P-256 key pair and asks the token
//! endpoint for a token; sealgate agrees a per-session AES-256 key with it (ECDH + KDF),
//! and from then on opens the client's JWE-encrypted request bodies, forwards plaintext to
//! the upstream, and seals the responses — so the backend never sees cryptography.
//!
//! ## Layout: one direction through the code
//!
//! Modules sit in seven tiers down the request's path. A module may use the modules of its
//! own tier and of the tiers below, never one above; and nothing loops: not two modules
//! (even of one tier), and not two files of one module. `tests/it/layers.rs` reads the
//! table below, the one statement of the architecture, and fails on an upward import or a
//! loop. Top to bottom:
//!
//! | tier | modules | owns |
//! | --- | --- | --- |
//! | edges | [`cli`] | the command line, one file per subcommand |
//! | | [`server`], [`admin`] | the listeners (plain and TLS) and the workers that serve them (a thread and runtime per core): connection bound, idle deadline, signals, graceful shutdown, and preparing everything start builds without binding; the admin listener (`/metrics`, `/healthz`, `/readyz`) |
//! | | [`client`], [`demo`] | the Rust client of the wire contract (its own crate, `clients/rust`, re-exported); the demo echo upstream |
//! | lifecycle | [`gateway`] | admit, identify, dispatch, observe; live reload; background tasks |
//! | handlers | [`handshake`], [`proxy`] | the token endpoint (checks, key agreement, issuing, revocation); routing, path normalisation, body open/seal, header rewriting, retries; WebSocket tunnels, gRPC deadlines, identity providers' JWTs and their key sets |
//! | | [`context`] | what a handler is given: the connection's facts, the application state |
//! | state | [`upstream`] | the backends: per-route connection pools that never let an answer cross requests, the balancer, health (outlier detection, probes), retry budgets; state kept across reloads |
//! | | [`error`] | every client-visible error, layered, and its one status/code mapping; logged and counted in one place |
//! | | [`auth`] | verifying a bearer token and finding its session |
//! | | [`state`], [`tls`] | where session state lives (memory, or Redis shared by instances); rustls configurations and certificate stores |
//! | | [`session`], [`limit`] | the session cache and the replay memory (`DashMap`s); rate limits: token issuance, and requests per route (GCRA) |
//! | config | [`config`] | TOML file → defaults filled in once → one validation step → typed [`config::Config`], one file per section |
//! | formats | [`token`], [`jose`], [`crypto`] | the token contract's formats (request body, claims, keys, client credentials); strict base64url/JSON, P-256 JWK, the one JWE codec (pure), ES256 JWS; zeroizing keys, ECDH, the three KDFs (`jose` and `crypto` are the crate `crates/protocol`, re-exported, which the client shares) |
//! | facts | [`metrics`], [`observe`], [`clock`], [`wire`] | metric names and registry; the access line and W3C/OpenTelemetry tracing, both off the request path; the injectable clock; HTTP plumbing, every header name, the text of an address |
//!
//! Three modules are crates of their own, re-exported here under their module names:
//! `jose` and `crypto` (`crates/protocol`, the contract's formats, pure) and `client`
//! (`clients/rust`), so a Rust program can use the client without the gateway. The tests'
//! shared support is a crate too (`tests/testkit`), over this one's public API.
//!
//! ## A request's life
//!
//! `server` accepts (and closes a connection idle past its deadline) → `gateway` admits,
//! normalises the path and dispatches → the token path goes to `handshake::endpoint`; any
//! other path to `proxy`, which matches a route, verifies the bearer token with `auth`
//! (once per connection while it repeats), admits the request through `state` (revocation
//! and replay, checked there and only there), opens the body with `jose::jwe` under the
//! session's key, forwards plaintext, and seals the response. A handler returns its
//! response or an `error::Failure`; the gateway logs and counts the failure once and turns
//! it into a `{resCode, resDesc}` body.
//!
//! ## Why phases, not a tower stack
//!
//! The lifecycle is written as named phases calling pure decision functions, not as a
//! `tower::ServiceBuilder` of middleware: the phases share per-request facts (the chosen
//! route, the session) that a layer stack would pass through request extensions, and every
//! refusal must become the contract's `{resCode, resDesc}` body in one place.
//! `benches/middleware.rs` measures the alternative (tower-http request id, sensitive
//! headers, load shedding and concurrency limit) against the phases; docs/architecture.md quotes the
//! figures. So tower is used only where one of its layers does a whole job that would
//! otherwise be written by hand: tower-http's CORS layer wraps the handler of a target
//! that allows cross-origin requests (`gateway::with_cors`).

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
pub mod cli;
pub use sealgate_client as client;
pub mod clock;
pub mod config;
pub mod context;
pub use sealgate_protocol::crypto;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod handshake;
pub use sealgate_protocol::jose;
pub mod limit;
pub mod metrics;
pub mod observe;
pub mod proxy;
pub mod server;
pub mod session;
pub mod state;
pub mod tls;
pub mod token;
pub mod upstream;
pub mod wire;

//! The integration suite: one binary, every test against real sockets on 127.0.0.1:0 — the
//! gateway, a recording upstream, and a client speaking the wire contract, all from
//! `sealgate_testkit` (the `testkit` feature).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub,
    reason = "test code: a failed unwrap is a failed test; figures go to stderr"
)]

mod attacks;
mod balancer;
mod binding;
mod check;
mod cli;
mod codec;
mod docs;
mod grpc;
mod jwt;
mod layers;
mod limits;
mod observe;
mod ops;
mod process;
mod promises;
mod props;
mod proxy;
mod reload;
mod tls;
mod token;
mod upstreams;
mod vectors;
mod websocket;
mod workers;

//! Criterion micro-benchmarks of the hot paths besides the JWE codec (see `jwe.rs`): token
//! verification, token issue (key pair + ECDH + KDF + seal), session lookup among
//! 1,000,000 sessions, and — for information — p256's ECDH against OpenSSL's on this
//! machine.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench code"
)]

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sealgate::config::Config;
use sealgate::crypto::Key32;
use sealgate::crypto::ecdh::EphemeralKeyPair;
use sealgate::handshake::issue::issue;
use sealgate::session::{Session, SessionId, SessionStore};

const CONFIG: &str = r#"
[[token.keys]]
kid = "bench"
key = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo"
[channels.C]
[clients.A]
secret = "s"
channels = ["C"]
"#;

fn bench(c: &mut Criterion) {
    let config = Config::parse(CONFIG, Path::new("b"), Path::new("."), &|_| None).unwrap();
    let client = Arc::clone(&config.clients["A"]);
    let channel = Arc::clone(&config.channels["C"]);
    let client_public = EphemeralKeyPair::generate().unwrap().public_key();
    let now_ms = sealgate::clock::now_ms();

    c.bench_function("token/issue", |b| {
        b.iter(|| {
            issue(
                &client,
                &channel,
                &client_public,
                &config.token,
                now_ms,
                false,
            )
            .unwrap()
        });
    });

    // The handshake signature every token answer carries (ES256 by the gateway's sig key).
    let issued = issue(
        &client,
        &channel,
        &client_public,
        &config.token,
        now_ms,
        false,
    )
    .unwrap();
    let sig = sealgate::token::gateway_keys::GatewayKeys::ephemeral().unwrap();
    let sig_key = sig.signing().unwrap();
    c.bench_function("token/handshake signature (ES256)", |b| {
        b.iter(|| {
            sealgate::handshake::issue::handshake_signature(
                sig_key,
                &client_public,
                &issued.response,
                "C",
            )
        });
    });

    let token = issued.response.token.clone();
    c.bench_function("token/verify", |b| {
        b.iter(|| {
            sealgate::auth::verify(&token, &config.token.keys, "sealgate", 60, now_ms / 1000)
                .unwrap()
        });
    });

    let store = SessionStore::new(2_000_000);
    let mut ids = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let id = SessionId::random().unwrap();
        let session = Session::new(
            id,
            Arc::clone(&client.id),
            Arc::clone(&channel.id),
            Key32::from_bytes([1; 32]),
            i64::MAX,
        );
        store.insert(Arc::new(session), 0).unwrap();
        ids.push(id);
    }
    let mut i = 0usize;
    c.bench_function("session/get among 1M", |b| {
        b.iter(|| {
            i = (i + 7919) % ids.len();
            store.get(&ids[i]).unwrap()
        });
    });

    let a = EphemeralKeyPair::generate().unwrap();
    let peer = EphemeralKeyPair::generate().unwrap().public_key();
    c.bench_function("ecdh/p256 (RustCrypto)", |b| b.iter(|| a.agree(&peer)));

    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let mine =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let theirs =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    c.bench_function("ecdh/p256 (OpenSSL)", |b| {
        b.iter(|| {
            let mut deriver = openssl::derive::Deriver::new(&mine).unwrap();
            deriver.set_peer(&theirs).unwrap();
            deriver.derive_to_vec().unwrap()
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The work of one token, side by side in one run (docs/performance.md, "Tokens"): a
//! P-256 key pair made for the token, ECDH with the client's key, and the ES256 handshake
//! signature by the gateway's `sig` key, in each P-256 implementation the gateway could
//! use, and in OpenSSL (the reference a ratio is quoted against):
//!
//! - `p256` (RustCrypto) alone, as the gateway used it: the signing key made once and kept;
//! - the gateway's own functions (`crypto::ecdh::agree_ephemeral`, `sign_es256`), on AWS-LC;
//! - `ring` 0.17 (already in the tree as rustls's provider);
//! - `aws-lc-rs` (AWS-LC, whose FIPS-validated module banks ask for);
//! - OpenSSL 3 (vendored, through the `openssl` crate).
//!
//! `cargo bench --bench tokens`. Each row is one token's worth of the three operations; the
//! table the docs quote is the criterion medians of one run, as ratios to OpenSSL's.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench code"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use sealgate::crypto::ecdh::EphemeralKeyPair;
use sealgate::crypto::kdf::Kdf;

mod common;

/// About the size of a handshake signature's signing input (header and payload, base64url).
const MESSAGE: [u8; 300] = [b'a'; 300];

fn bench(c: &mut Criterion) {
    let client = EphemeralKeyPair::generate().unwrap();
    let client_public = client.public_key();
    let client_point = {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        client_public.to_encoded_point(false).as_bytes().to_vec()
    };
    let mut group = c.benchmark_group("token work (key pair + ECDH + ES256)");

    // p256 (RustCrypto) alone, as the gateway used it before: the signing key made once.
    {
        use p256::ecdsa::signature::Signer as _;
        let signing = p256::ecdsa::SigningKey::from(p256::SecretKey::random(
            &mut p256::elliptic_curve::rand_core::OsRng,
        ));
        group.bench_function("p256", |b| {
            b.iter(|| {
                let server = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
                let public = server.public_key();
                let shared = p256::ecdh::diffie_hellman(
                    server.to_nonzero_scalar(),
                    client_public.as_affine(),
                );
                let z: [u8; 32] = (*shared.raw_secret_bytes()).into();
                let key = Kdf::HkdfSha256.derive(&sealgate::crypto::Key32::from_bytes(z));
                let signature: p256::ecdsa::Signature = signing.sign(&MESSAGE);
                (public, key, signature)
            });
        });
    }

    // What the gateway does now: AWS-LC through sealgate's own functions.
    let sig = EphemeralKeyPair::generate().unwrap();
    sig.sign_es256(b"warm the cached signing key");
    group.bench_function("sealgate (aws-lc-rs)", |b| {
        b.iter(|| {
            let (public, z) = sealgate::crypto::ecdh::agree_ephemeral(&client_public).unwrap();
            let key = Kdf::HkdfSha256.derive(&z);
            (public, key, sig.sign_es256(&MESSAGE))
        });
    });

    // ring.
    {
        use ring::{agreement, rand, signature};
        let rng = rand::SystemRandom::new();
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let signer = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        group.bench_function("ring", |b| {
            b.iter(|| {
                let server =
                    agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
                let public = server.compute_public_key().unwrap();
                let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &client_point);
                let z = agreement::agree_ephemeral(server, &peer, |z| {
                    sealgate::crypto::Key32::from_bytes(z.try_into().unwrap())
                })
                .unwrap();
                let key = Kdf::HkdfSha256.derive(&z);
                (public, key, signer.sign(&rng, &MESSAGE).unwrap())
            });
        });
    }

    // aws-lc-rs.
    {
        use aws_lc_rs::{agreement, rand, signature};
        let rng = rand::SystemRandom::new();
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let signer = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
        )
        .unwrap();
        group.bench_function("aws-lc-rs", |b| {
            b.iter(|| {
                let server =
                    agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
                let public = server.compute_public_key().unwrap();
                let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &client_point);
                let z = agreement::agree_ephemeral(server, peer, (), |z| {
                    Ok(sealgate::crypto::Key32::from_bytes(z.try_into().unwrap()))
                })
                .unwrap();
                let key = Kdf::HkdfSha256.derive(&z);
                (public, key, signer.sign(&rng, &MESSAGE).unwrap())
            });
        });
    }

    // OpenSSL: the reference.
    let mut openssl = common::OpenSslToken::new(Some(&client_point));
    group.bench_function("OpenSSL", |b| {
        b.iter(|| {
            let (public, z, signature) = openssl.run(1, &MESSAGE);
            let key = Kdf::HkdfSha256.derive(&sealgate::crypto::Key32::from_bytes(
                z[..].try_into().unwrap(),
            ));
            (public, key, signature)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! AES-256-GCM and the JWE codec at 1 KiB and 64 KiB (throughput in bytes), side by side in
//! one run (docs/performance.md, "Sealed bodies"):
//!
//! - `aead`: the bare cipher, seal and open, in each implementation the codec could use:
//!   `aes-gcm` (RustCrypto, with its run-time-detected AES-NI and CLMUL backends), `ring`
//!   0.17 and `aws-lc-rs` (AWS-LC's stitched AES-GCM), and OpenSSL 3 (vendored, the
//!   reference nginx would use). The key schedule is made in each iteration, as the codec
//!   does per message.
//! - `jwe`: the gateway's codec, base64url and header checks included.
//!
//! `cargo bench --bench jwe`.

#![allow(missing_docs, clippy::unwrap_used, reason = "bench code")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealgate::crypto::Key32;
use sealgate::jose::jwe::{self, Header};

const KEY: [u8; 32] = [7; 32];
const IV: [u8; 12] = [9; 12];
const AAD: &[u8] = b"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0";
const SIZES: [usize; 2] = [1024, 64 * 1024];

fn aead(c: &mut Criterion) {
    let mut group = c.benchmark_group("aead");
    for size in SIZES {
        let plaintext = vec![b'a'; size];
        group.throughput(Throughput::Bytes(size as u64));

        {
            use aes_gcm::aead::AeadInPlace;
            use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
            let seal = |p: &[u8]| {
                let mut buffer = p.to_vec();
                let tag = Aes256Gcm::new(&KEY.into())
                    .encrypt_in_place_detached(&Nonce::from(IV), AAD, &mut buffer)
                    .unwrap();
                (buffer, tag)
            };
            let (sealed, tag) = seal(&plaintext);
            group.bench_with_input(
                BenchmarkId::new("aes-gcm seal", size),
                &plaintext,
                |b, p| {
                    b.iter(|| seal(p));
                },
            );
            group.bench_with_input(BenchmarkId::new("aes-gcm open", size), &sealed, |b, s| {
                b.iter(|| {
                    let mut buffer = s.clone();
                    Aes256Gcm::new(&KEY.into())
                        .decrypt_in_place_detached(
                            &Nonce::from(IV),
                            AAD,
                            &mut buffer,
                            &Tag::from(tag),
                        )
                        .unwrap();
                    buffer
                });
            });
        }

        {
            use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
            let key = || LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).unwrap());
            let seal = |p: &[u8]| {
                let mut buffer = p.to_vec();
                let tag = key()
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(IV),
                        Aad::from(AAD),
                        &mut buffer,
                    )
                    .unwrap();
                (buffer, tag)
            };
            let (sealed, tag) = seal(&plaintext);
            group.bench_with_input(
                BenchmarkId::new("aws-lc-rs seal", size),
                &plaintext,
                |b, p| {
                    b.iter(|| seal(p));
                },
            );
            group.bench_with_input(BenchmarkId::new("aws-lc-rs open", size), &sealed, |b, s| {
                b.iter(|| {
                    let mut buffer = s.clone();
                    key()
                        .open_in_place_separate_tag(
                            Nonce::assume_unique_for_key(IV),
                            Aad::from(AAD),
                            tag.as_ref(),
                            &mut buffer,
                        )
                        .unwrap();
                    buffer
                });
            });
        }

        {
            use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
            let key = || LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).unwrap());
            let seal = |p: &[u8]| {
                let mut buffer = p.to_vec();
                let tag = key()
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(IV),
                        Aad::from(AAD),
                        &mut buffer,
                    )
                    .unwrap();
                (buffer, tag)
            };
            let (sealed, tag) = seal(&plaintext);
            group.bench_with_input(BenchmarkId::new("ring seal", size), &plaintext, |b, p| {
                b.iter(|| seal(p));
            });
            group.bench_with_input(BenchmarkId::new("ring open", size), &sealed, |b, s| {
                b.iter(|| {
                    // ring opens ciphertext || tag in place.
                    let mut buffer = Vec::with_capacity(s.len() + 16);
                    buffer.extend_from_slice(s);
                    buffer.extend_from_slice(tag.as_ref());
                    key()
                        .open_in_place(
                            Nonce::assume_unique_for_key(IV),
                            Aad::from(AAD),
                            &mut buffer,
                        )
                        .unwrap();
                    buffer
                });
            });
        }

        {
            use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
            let cipher = Cipher::aes_256_gcm();
            let mut tag = [0u8; 16];
            let sealed = encrypt_aead(cipher, &KEY, Some(&IV), AAD, &plaintext, &mut tag).unwrap();
            group.bench_with_input(
                BenchmarkId::new("openssl seal", size),
                &plaintext,
                |b, p| {
                    b.iter(|| {
                        let mut tag = [0u8; 16];
                        let out = encrypt_aead(cipher, &KEY, Some(&IV), AAD, p, &mut tag).unwrap();
                        (out, tag)
                    });
                },
            );
            group.bench_with_input(BenchmarkId::new("openssl open", size), &sealed, |b, s| {
                b.iter(|| decrypt_aead(cipher, &KEY, Some(&IV), AAD, s, &tag).unwrap());
            });
        }
    }
    group.finish();
}

fn codec(c: &mut Criterion) {
    let key = Key32::from_bytes(KEY);
    let header = Header {
        kid: None,
        cty: Some("application/json".into()),
        ..Default::default()
    };
    let mut group = c.benchmark_group("jwe");
    for size in SIZES {
        let plaintext = vec![b'a'; size];
        let sealed = jwe::seal(&plaintext, &key, &header).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &plaintext, |b, p| {
            b.iter(|| jwe::seal(p, &key, &header).unwrap());
        });
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, s| {
            b.iter(|| jwe::open(s.as_bytes(), &key, usize::MAX).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, aead, codec);
criterion_main!(benches);

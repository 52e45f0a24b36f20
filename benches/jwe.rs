//! JWE compact open and seal at 1 KiB and 64 KiB (throughput in bytes).

#![allow(missing_docs, clippy::unwrap_used, reason = "bench code")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealgate::crypto::Key32;
use sealgate::jose::jwe::{self, Header};

fn bench(c: &mut Criterion) {
    let key = Key32::from_bytes([7; 32]);
    let header = Header {
        kid: None,
        cty: Some("application/json".into()),
        ..Default::default()
    };
    let mut group = c.benchmark_group("jwe");
    for size in [1024usize, 64 * 1024] {
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

criterion_group!(benches, bench);
criterion_main!(benches);

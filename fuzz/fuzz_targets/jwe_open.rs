//! JWE compact parse + open under a fixed key: must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sealgate::crypto::Key32;

fuzz_target!(|data: &[u8]| {
    let key = Key32::from_bytes([0x11; 32]);
    let _ = sealgate::jose::jwe::open(data, &key, 1 << 20);
});

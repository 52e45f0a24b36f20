//! JWK parsing, then ECDH with whatever point it accepts: must never panic, and an
//! accepted point must give a 32-byte Z.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sealgate::crypto::ecdh::EphemeralKeyPair;

fuzz_target!(|data: &[u8]| {
    if let Ok(public) = sealgate::jose::jwk::parse_public_p256(data) {
        let pair = EphemeralKeyPair::from_scalar_bytes(&[7; 32]).expect("valid scalar");
        let z = pair.agree(&public);
        assert_eq!(z.expose().len(), 32);
    }
});

//! Token claims: any bytes sealed as a token under a configured key, then verified. Only
//! well-typed claims may pass.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sealgate::crypto::Key32;
use sealgate::jose::jwe::{self, Header};
use sealgate::token::keys::{Kid, KeyRing, TokenKey};

fuzz_target!(|data: &[u8]| {
    let key = Key32::from_bytes([0x22; 32]);
    let Ok(token) = jwe::seal(data, &key, &Header { kid: Some("k".into()), ..Default::default() }) else { return };
    let ring = KeyRing::new(vec![TokenKey { kid: Kid::parse("k").expect("kid"), key }]);
    if let Ok(verified) = sealgate::auth::verify(&token, &ring, "sealgate", 60, 1_000) {
        assert_eq!(verified.claims.iss, "sealgate");
        assert!(1_000 <= verified.claims.exp.saturating_add(60));
    }
});

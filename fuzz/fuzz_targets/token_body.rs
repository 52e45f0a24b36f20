//! The token endpoint's body: shape check, then the lenient publicKey decoding and JWK.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = sealgate::token::request::TokenRequest::parse(data) {
        let _ = request.client_public_key();
    }
});

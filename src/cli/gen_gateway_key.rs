//! `sealgate gen-gateway-key`: a new P-256 private scalar (base64url) for
//! `[[gateway_keys]]`, and its public JWK on a second line.

use std::process::ExitCode;

use super::{fail, output};

pub(super) fn run() -> ExitCode {
    let pair = match crate::crypto::ecdh::EphemeralKeyPair::generate() {
        Ok(pair) => pair,
        Err(error) => return fail(&error),
    };
    let scalar = zeroize::Zeroizing::new(crate::jose::b64::encode(&pair.secret_bytes()[..]));
    output(&format!(
        "{}\n{}",
        &*scalar,
        crate::jose::jwk::public_to_json(&pair.public_key())
    ))
}

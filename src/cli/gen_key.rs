//! `sealgate gen-key`: a new random token key (32 bytes, base64url) for `[[token.keys]]`.

use std::process::ExitCode;

use super::{fail, output};

pub(super) fn run() -> ExitCode {
    match crate::crypto::Key32::random() {
        Ok(key) => output(&crate::jose::b64::encode(key.expose())),
        Err(error) => fail(&error),
    }
}

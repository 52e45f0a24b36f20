//! `sealgate hash-secret`: a client secret on standard input → the value for `secret_hash`.

use std::process::ExitCode;

use super::{fail, output};

#[derive(clap::Args)]
pub(super) struct HashSecret {
    /// Use argon2id (for human-chosen secrets) instead of salted SHA-256.
    #[arg(long)]
    argon2: bool,
}

impl HashSecret {
    pub(super) fn run(self) -> ExitCode {
        let mut secret = zeroize::Zeroizing::new(String::new());
        if let Err(error) = std::io::stdin().read_line(&mut secret) {
            return fail(&error);
        }
        let secret = secret.trim_end_matches(['\r', '\n']).as_bytes();
        if secret.is_empty() {
            return fail(&"no secret on standard input");
        }
        let hashed = if self.argon2 {
            crate::token::credentials::hash_argon2(secret)
        } else {
            crate::token::credentials::hash_salted_sha256(secret).map_err(|e| e.to_string())
        };
        match hashed {
            Ok(text) => output(&text),
            Err(error) => fail(&error),
        }
    }
}

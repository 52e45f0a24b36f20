//! `sealgate gen-cert`: a self-signed certificate and its key (PEM), for trying HTTPS
//! locally.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{fail, output};

#[derive(clap::Args)]
pub(super) struct GenCert {
    /// Folder to write `cert.pem` and `key.pem` into.
    #[arg(long, default_value = "certs")]
    dir: PathBuf,
    /// DNS names and IP addresses the certificate is for (`--name a b` or `--name a
    /// --name b`).
    #[arg(long = "name", num_args = 1.., default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
    names: Vec<String>,
}

impl GenCert {
    pub(super) fn run(self) -> ExitCode {
        let dir = &self.dir;
        let certified = match rcgen::generate_simple_self_signed(self.names) {
            Ok(certified) => certified,
            Err(error) => return fail(&error),
        };
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text);
        let key = zeroize::Zeroizing::new(certified.key_pair.serialize_pem());
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| write("cert.pem", certified.cert.pem()))
            .and_then(|()| write_private(&dir.join("key.pem"), key.as_bytes()));
        match written {
            Ok(()) => output(&format!(
                "wrote {0}/cert.pem and {0}/key.pem (self-signed, for local use only)",
                dir.display()
            )),
            Err(error) => fail(&error),
        }
    }
}

/// Writes a private key readable by its owner only (0600 from creation, so it is never
/// readable by others even for a moment; an existing file is narrowed to 0600 too).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)
}

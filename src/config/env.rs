//! The secrets a file names but does not hold: `*_env` variables and the `key_file`s of token
//! and gateway keys. Validation asks `Secrets` for each with what it is for
//! ([`SecretUse`]); one that is not there is remembered, and a placeholder of the right
//! shape stands in so that validation carries on and every missing one is named at the end,
//! not only the first. [`Config::from_file`](super::Config::from_file) then refuses the file
//! naming them all; `check-config --without-secrets` lists them and checks the rest.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{ConfigError, invalid};
use crate::crypto::Key32;
use crate::crypto::ecdh::EphemeralKeyPair;
use crate::jose::b64;

/// What a secret from outside the file is used for: the shape its placeholder must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretUse {
    /// A client secret (`clients.*.secret_env`): any non-empty text.
    ClientSecret,
    /// A token key (`token.keys[].key_env` / `key_file`): 32 bytes, base64url.
    TokenKey,
    /// A gateway key (`gateway_keys[].key_env` / `key_file`): a P-256 private scalar,
    /// 32 bytes base64url.
    GatewayKey,
    /// A TLS private key, or the certificate deployed with it (`tls[].certificates[]`,
    /// `upstream_tls.client`, `sessions.redis.client`): only `check-config
    /// --without-secrets` lists one, checking what it can without it.
    TlsFile,
    /// A Redis URL (`sessions.redis.url_env`); `tls`: the file configures TLS files for it,
    /// so it is a `rediss://` URL.
    RedisUrl {
        /// Whether TLS files are configured for it.
        tls: bool,
    },
}

/// Where a secret was to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file (resolved against the configuration's folder).
    File(PathBuf),
}

/// A secret the file names that this machine does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSecret {
    /// The dotted key that names it, e.g. `token.keys[0].key_env`.
    pub key: String,
    /// The variable or file.
    pub source: SecretSource,
    /// What it is for.
    pub usage: SecretUse,
}

impl fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            SecretSource::Env(name) => write!(f, "environment variable `{name}`")?,
            SecretSource::File(path) => write!(f, "file {}", path.display())?,
        }
        write!(f, " (`{}`)", self.key)
    }
}

/// Every missing secret of a file, for [`ConfigError::SecretsNotFound`]'s message.
pub(super) fn describe(missing: &[MissingSecret]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The secrets of one validation: looked up through the injected environment (tests pass
/// their own), missing ones remembered.
pub(crate) struct Secrets<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    missing: RefCell<Vec<MissingSecret>>,
}

impl<'a> Secrets<'a> {
    pub(crate) fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Secrets {
            env,
            missing: RefCell::new(Vec::new()),
        }
    }

    /// The variable `name` named by `key`; when it is not set, a placeholder for `usage`.
    pub(crate) fn var(
        &self,
        key: &str,
        name: &str,
        usage: SecretUse,
    ) -> Result<Zeroizing<String>, ConfigError> {
        match (self.env)(name) {
            // `VAR=` in an EnvironmentFile sets it empty: as good as missing, and said so.
            Some(value) if value.trim().is_empty() => Err(invalid(
                key,
                format!("environment variable `{name}` is empty"),
            )),
            Some(value) => Ok(Zeroizing::new(value)),
            None => self.stand_in(key, SecretSource::Env(name.to_owned()), usage),
        }
    }

    /// The text of the file at `path` named by `key`; when it does not exist, a placeholder
    /// for `usage`. Any other failure to read it is an error.
    pub(crate) fn file(
        &self,
        key: &str,
        path: &Path,
        usage: SecretUse,
    ) -> Result<Zeroizing<String>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Zeroizing::new(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.stand_in(key, SecretSource::File(path.to_owned()), usage)
            }
            Err(error) => Err(invalid(
                key,
                format!("cannot read {}: {error}", path.display()),
            )),
        }
    }

    fn stand_in(
        &self,
        key: &str,
        source: SecretSource,
        usage: SecretUse,
    ) -> Result<Zeroizing<String>, ConfigError> {
        self.missing.borrow_mut().push(MissingSecret {
            key: key.to_owned(),
            source,
            usage,
        });
        placeholder(usage).map_err(|problem| invalid(key, problem))
    }

    /// What was missing, in the order validation asked for it.
    pub(crate) fn into_missing(self) -> Vec<MissingSecret> {
        self.missing.into_inner()
    }
}

/// A value of the shape `usage` needs. Random where the shape is a key, so that a
/// configuration validated with placeholders holds no key anyone knows.
fn placeholder(usage: SecretUse) -> Result<Zeroizing<String>, String> {
    let random = |_| "no randomness for a placeholder key".to_owned();
    Ok(Zeroizing::new(match usage {
        SecretUse::ClientSecret => "placeholder-client-secret".to_owned(),
        SecretUse::TokenKey => b64::encode(Key32::random().map_err(random)?.expose()),
        SecretUse::GatewayKey => {
            b64::encode(&EphemeralKeyPair::generate().map_err(random)?.secret_bytes()[..])
        }
        SecretUse::RedisUrl { tls: false } => "redis://placeholder.invalid:6379/0".to_owned(),
        SecretUse::RedisUrl { tls: true } => "rediss://placeholder.invalid:6379/0".to_owned(),
        SecretUse::TlsFile => return Err("a TLS file has no placeholder".to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_is_remembered_and_stood_in_for_with_the_right_shape() {
        let env = |name: &str| (name == "SET").then(|| "value".to_owned());
        let secrets = Secrets::new(&env);
        assert_eq!(
            &*secrets.var("a", "SET", SecretUse::ClientSecret).unwrap(),
            "value"
        );
        let token = secrets.var("b", "UNSET_1", SecretUse::TokenKey).unwrap();
        assert_eq!(b64::decode_strict(token.as_bytes()).unwrap().len(), 32);
        let gateway = secrets.var("c", "UNSET_2", SecretUse::GatewayKey).unwrap();
        let scalar = b64::decode_strict(gateway.as_bytes()).unwrap();
        assert!(EphemeralKeyPair::from_scalar_bytes(&scalar).is_some());
        let url = secrets
            .var("d", "UNSET_3", SecretUse::RedisUrl { tls: true })
            .unwrap();
        assert!(redis::Client::open(url.as_str()).is_ok() && url.starts_with("rediss://"));
        let file = secrets
            .file("e", Path::new("/nonexistent/key"), SecretUse::TokenKey)
            .unwrap();
        assert_eq!(b64::decode_strict(file.as_bytes()).unwrap().len(), 32);
        let missing = secrets.into_missing();
        let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "environment variable `UNSET_1` (`b`)",
                "environment variable `UNSET_2` (`c`)",
                "environment variable `UNSET_3` (`d`)",
                "file /nonexistent/key (`e`)",
            ]
        );
    }
}

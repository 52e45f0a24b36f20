//! `sealgate check-config`: validate a file, then build everything start builds
//! ([`Listeners::for_config`]) without binding a socket, opening the access log or starting
//! the trace exporter; report warnings and missing secrets; optionally dump the effective
//! configuration.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{fail, output};
use crate::clock::Clock;
use crate::config::{Config, MissingSecret, SecretSource, SecretUse, StateBackend};
use crate::gateway::Outputs;
use crate::server::{Listeners, PrepareError, ServerError};

/// Exit status when the configuration is valid but has warnings, under `--strict`.
const EXIT_WARNINGS: u8 = 2;

#[derive(clap::Args)]
pub(super) struct CheckConfig {
    /// Fail (exit 2) when there is any warning.
    #[arg(long)]
    strict: bool,
    /// The production secrets are not on this machine (CI): `*_env` variables that are
    /// not set and token or gateway key files that do not exist are listed by name, not
    /// an error; everything else is checked.
    #[arg(long)]
    without_secrets: bool,
    /// Print the effective configuration (every default filled in, every secret
    /// redacted) as TOML on standard output.
    #[arg(long)]
    dump: bool,
}

impl CheckConfig {
    #[allow(
        clippy::print_stderr,
        reason = "warnings and missing secrets are the command's report, one plain line each"
    )]
    pub(super) fn run(self, path: &Path) -> ExitCode {
        let checked = match crate::config::check::load(path, self.without_secrets) {
            Ok(checked) => checked,
            Err(error) => return fail(&error),
        };
        let mut config = checked.config;
        let mut missing = checked.missing;
        let mut problems = Vec::new();
        let mut kept: Vec<usize> = (0..config.tls.len()).collect();
        if self.without_secrets {
            let set_aside = set_aside_absent_keys(&mut config, &mut missing);
            problems = set_aside.problems;
            kept = set_aside.kept;
        }
        problems.extend(prepare(Arc::new(config), &kept));
        for problem in &problems {
            tracing::error!("{problem}");
        }
        for warning in &checked.warnings {
            eprintln!("{warning}");
        }
        for missing in &missing {
            eprintln!("missing: {missing}");
        }
        if self.dump {
            match crate::config::dump::dump(checked.file) {
                Ok(text) => {
                    output(text.trim_end());
                }
                Err(error) => return fail(&error),
            }
        }
        if !problems.is_empty() {
            return ExitCode::FAILURE;
        }
        tracing::info!(
            path = %path.display(),
            warnings = checked.warnings.len(),
            missing_secrets = missing.len(),
            "configuration is valid"
        );
        if self.strict && !checked.warnings.is_empty() {
            return ExitCode::from(EXIT_WARNINGS);
        }
        ExitCode::SUCCESS
    }
}

/// What `--without-secrets` sets aside: private key files that are not on this machine are
/// listed as missing (with their certificate, when it is not here either), and what can be
/// checked without them still is. A `[[tls]]` pair without its key: its certificate file is
/// read if present; the listener is checked with its other
/// pairs, or, with none left, its client CA alone (and it is left out of the build). An
/// upstream or Redis client key that is absent: its certificate is read, the rest of that
/// TLS configuration built without it.
struct SetAside {
    /// The original `[[tls]]` index of each listener left in the configuration.
    kept: Vec<usize>,
    /// What was found wrong in what was set aside, by key.
    problems: Vec<String>,
}

fn set_aside_absent_keys(config: &mut Config, missing: &mut Vec<MissingSecret>) -> SetAside {
    let mut set_aside = SetAside {
        kept: Vec::new(),
        problems: Vec::new(),
    };
    // The key is not here; its certificate, deployed with it, may not be either (listed
    // too), but one that is here must read.
    let mut absent = |key: String, path: &std::path::Path, cert: &std::path::Path| {
        let mut list = |file: &str, path: &std::path::Path| {
            missing.push(MissingSecret {
                key: format!("{key}.{file}"),
                source: SecretSource::File(path.to_owned()),
                usage: SecretUse::TlsFile,
            });
        };
        list("key_file", path);
        if !cert.exists() {
            list("cert_file", cert);
            return None;
        }
        crate::tls::read_certs(cert)
            .err()
            .map(|error| format!("config key `{key}.cert_file`: {error}"))
    };
    let listeners = std::mem::take(&mut config.tls);
    for (index, mut listener) in listeners.into_iter().enumerate() {
        let mut pairs = Vec::new();
        for (pair, files) in listener.certificates.into_iter().enumerate() {
            if files.key_file.exists() {
                pairs.push(files);
            } else {
                let key = format!("tls[{index}].certificates[{pair}]");
                set_aside
                    .problems
                    .extend(absent(key, &files.key_file, &files.cert_file));
            }
        }
        listener.certificates = pairs;
        if listener.certificates.is_empty() {
            if let Err(error) = crate::tls::client_verifier(&listener) {
                set_aside
                    .problems
                    .push(format!("config key `tls[{index}]`: {error}"));
            }
        } else {
            set_aside.kept.push(index);
            config.tls.push(listener);
        }
    }
    let upstream = &mut config.upstream_tls;
    if let (Some(cert), Some(key)) = (&upstream.client_cert_file, &upstream.client_key_file)
        && !key.exists()
    {
        set_aside
            .problems
            .extend(absent("upstream_tls.client".to_owned(), key, cert));
        upstream.client_cert_file = None;
        upstream.client_key_file = None;
    }
    if let StateBackend::Redis(redis) = &mut config.sessions.backend
        && let Some((cert, key)) = &redis.tls.client
        && !key.exists()
    {
        set_aside
            .problems
            .extend(absent("sessions.redis.client".to_owned(), key, cert));
        redis.tls.client = None;
    }
    set_aside
}

/// Builds what start builds from `config` (certificates, key files, TLS configurations,
/// the Redis client) and returns the first problem start would stop at. `kept[i]` is the
/// `[[tls]]` index, in the file, of the configuration's listener `i`.
fn prepare(config: Arc<Config>, kept: &[usize]) -> Option<String> {
    // The Redis client is made on a runtime; none of its connections is ever driven here,
    // so nothing connects.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return Some(format!("cannot start a runtime: {error}")),
    };
    let _in_runtime = runtime.enter();
    let error = Listeners::for_config(config, Clock::system(), Outputs::Skip).err()?;
    Some(match error {
        PrepareError::Listener(ServerError::Tls {
            index,
            addr,
            source,
        }) => ServerError::Tls {
            index: kept.get(index).copied().unwrap_or(index),
            addr,
            source,
        }
        .to_string(),
        other => other.to_string(),
    })
}

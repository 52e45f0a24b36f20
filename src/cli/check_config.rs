//! `sealgate check-config`: validate a file, then build everything start builds
//! ([`Listeners::for_config`]) without binding a socket, opening the access log or starting
//! the trace exporter; report warnings and missing secrets; optionally dump the effective
//! configuration.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{fail, output};
use crate::clock::Clock;
use crate::config::{Config, MissingSecret, SecretSource, SecretUse};
use crate::gateway::Outputs;
use crate::server::Listeners;

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
        if self.without_secrets {
            set_aside_absent_tls_keys(&mut config, &mut missing);
        }
        let problem = prepare(Arc::new(config));
        if let Some(problem) = &problem {
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
        if problem.is_some() {
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

/// Without the production secrets, a TLS listener whose private key file is not on this
/// machine is listed as missing and left out of the check (its certificates cannot be
/// loaded without it); the other listeners are checked in full.
fn set_aside_absent_tls_keys(config: &mut Config, missing: &mut Vec<MissingSecret>) {
    let mut index = 0;
    config.tls.retain(|listener| {
        let absent: Vec<MissingSecret> = listener
            .certificates
            .iter()
            .enumerate()
            .filter(|(_, pair)| !pair.key_file.exists())
            .map(|(pair, files)| MissingSecret {
                key: format!("tls[{index}].certificates[{pair}].key_file"),
                source: SecretSource::File(files.key_file.clone()),
                usage: SecretUse::TlsKey,
            })
            .collect();
        index += 1;
        let keep = absent.is_empty();
        missing.extend(absent);
        keep
    });
}

/// Builds what start builds from `config` (certificates, key files, TLS configurations,
/// the Redis client) and returns the first problem start would stop at.
fn prepare(config: Arc<crate::config::Config>) -> Option<String> {
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
    Listeners::for_config(config, Clock::system(), Outputs::Skip)
        .err()
        .map(|error| error.to_string())
}

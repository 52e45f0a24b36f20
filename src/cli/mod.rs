//! The command line: one file per subcommand, as mini-redis's `cmd/`. `main.rs` parses the
//! arguments into [`Args`] and hands them to [`main`]; each subcommand returns the process's
//! exit status and reports failures on the log (standard error), results on standard output.

mod check_config;
mod client;
mod gen_cert;
mod gen_gateway_key;
mod gen_key;
mod hash_secret;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::config::DEFAULT_CONFIG_PATH;

/// A reverse-proxy gateway adding message-level encryption in front of HTTP backends.
#[derive(Parser)]
#[command(name = "sealgate", version, about)]
pub struct Args {
    /// The configuration file (or the environment's SEALGATE_CONFIG).
    #[arg(long, short, global = true, env = "SEALGATE_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Check the configuration as the gateway would load it at start (certificate and key
    /// files included), warn about what is unsafe in production, and exit: 0 valid, 1
    /// invalid, 2 warnings under --strict.
    CheckConfig(check_config::CheckConfig),
    /// Read a client secret on standard input and print the value for `secret_hash`.
    HashSecret(hash_secret::HashSecret),
    /// Print a new random token key (32 bytes, base64url) for `[[token.keys]]`.
    GenKey,
    /// Print a new gateway key (a P-256 private scalar, base64url) for `[[gateway_keys]]`,
    /// and its public JWK on a second line.
    GenGatewayKey,
    /// Write a self-signed certificate and key (PEM) for trying HTTPS locally.
    GenCert(gen_cert::GenCert),
    /// Talk to a gateway as a client: get a token, or make an encrypted call.
    Client(client::ClientCommand),
}

/// Runs the command `args` names, after starting the log.
pub fn main(args: Args) -> ExitCode {
    init_logging(args.log_format);
    match args.command.unwrap_or(Command::Run) {
        Command::Run => run::run(&args.config),
        Command::CheckConfig(command) => command.run(&args.config),
        Command::HashSecret(command) => command.run(),
        Command::GenKey => gen_key::run(),
        Command::GenGatewayKey => gen_gateway_key::run(),
        Command::GenCert(command) => command.run(),
        Command::Client(command) => command.run(),
    }
}

/// Prints a command's result on standard output.
#[allow(clippy::print_stdout, reason = "the command's output is its result")]
fn output(text: &str) -> ExitCode {
    println!("{text}");
    ExitCode::SUCCESS
}

/// Logs why a command failed, and the failure status.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!("{error}");
    ExitCode::FAILURE
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SEALGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

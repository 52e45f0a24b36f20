//! The `sealgate` binary: parse arguments, load the configuration, start logging, bind,
//! and run until SIGINT/SIGTERM. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use sealgate::config::{Config, DEFAULT_CONFIG_PATH};
use sealgate::gateway::Gateway;
use sealgate::server::{self, Server};
use tracing_subscriber::EnvFilter;

/// A reverse-proxy gateway adding message-level encryption in front of HTTP backends.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file.
    #[arg(long, short, global = true, default_value = DEFAULT_CONFIG_PATH)]
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
    /// Validate the configuration and exit.
    CheckConfig,
    /// Read a client secret on standard input and print the value for `secret_hash`.
    HashSecret {
        /// Use argon2id (for human-chosen secrets) instead of salted SHA-256.
        #[arg(long)]
        argon2: bool,
    },
    /// Print a new random token key (32 bytes, base64url) for `[[token.keys]]`.
    GenKey,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match args.command.unwrap_or(Command::Run) {
        Command::Run => run(&args.config),
        Command::CheckConfig => match Config::load(&args.config) {
            Ok(_) => {
                tracing::info!(path = %args.config.display(), "configuration is valid");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        Command::HashSecret { argon2 } => hash_secret(argon2),
        Command::GenKey => match sealgate::crypto::Key32::random() {
            Ok(key) => output(&sealgate::jose::b64::encode(key.expose())),
            Err(error) => fail(&error),
        },
    }
}

fn run(path: &std::path::Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => Arc::new(config),
        Err(error) => return fail(&error),
    };
    if config.token.keys.is_ephemeral() {
        tracing::warn!(
            "NO TOKEN KEYS CONFIGURED: using a random key made at start. Tokens will NOT \
             survive a restart and will not work on other instances. Configure [[token.keys]] \
             for production (see `sealgate gen-key`)."
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    runtime.block_on(async move {
        if let Some(addr) = config.demo_upstream {
            match sealgate::demo::bind(addr).await {
                Ok((local, serve)) => {
                    tracing::info!(%local, "demo echo upstream listening");
                    tokio::spawn(serve);
                }
                Err(error) => return fail(&format!("cannot bind demo upstream {addr}: {error}")),
            }
        }
        let server = match Server::bind(Gateway::new(Arc::clone(&config))).await {
            Ok(server) => server,
            Err(error) => return fail(&format!("cannot bind {}: {error}", config.server.listen)),
        };
        if let Ok(addr) = server.local_addr() {
            tracing::info!(%addr, token_path = %config.token.path, "sealgate listening");
        }
        match server.run(server::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        }
    })
}

fn hash_secret(argon2: bool) -> ExitCode {
    let mut secret = zeroize::Zeroizing::new(String::new());
    if let Err(error) = std::io::stdin().read_line(&mut secret) {
        return fail(&error);
    }
    let secret = secret.trim_end_matches(['\r', '\n']).as_bytes();
    if secret.is_empty() {
        return fail(&"no secret on standard input");
    }
    let hashed = if argon2 {
        sealgate::token::credentials::hash_argon2(secret)
    } else {
        sealgate::token::credentials::hash_salted_sha256(secret).map_err(|e| e.to_string())
    };
    match hashed {
        Ok(text) => output(&text),
        Err(error) => fail(&error),
    }
}

#[allow(clippy::print_stdout, reason = "the command's output is its result")]
fn output(text: &str) -> ExitCode {
    println!("{text}");
    ExitCode::SUCCESS
}

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

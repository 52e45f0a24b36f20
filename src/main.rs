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

/// mimalloc rather than glibc's allocator: a request allocates many small, short-lived
/// buffers (headers, bodies, base64), and in a profile of the encrypted path glibc's
/// malloc/free took ~9 % of the gateway's CPU. The load harness uses the same allocator for
/// every variant, so its ratios compare like with like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A reverse-proxy gateway adding message-level encryption in front of HTTP backends.
#[derive(Parser)]
#[command(version, about)]
struct Args {
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
    CheckConfig {
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
    },
    /// Read a client secret on standard input and print the value for `secret_hash`.
    HashSecret {
        /// Use argon2id (for human-chosen secrets) instead of salted SHA-256.
        #[arg(long)]
        argon2: bool,
    },
    /// Print a new random token key (32 bytes, base64url) for `[[token.keys]]`.
    GenKey,
    /// Print a new gateway key (a P-256 private scalar, base64url) for `[[gateway_keys]]`,
    /// and its public JWK on a second line.
    GenGatewayKey,
    /// Write a self-signed certificate and key (PEM) for trying HTTPS locally.
    GenCert {
        /// Folder to write `cert.pem` and `key.pem` into.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// DNS names and IP addresses the certificate is for (`--name a b` or `--name a
        /// --name b`).
        #[arg(long = "name", num_args = 1.., default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
        names: Vec<String>,
    },
    /// Talk to a gateway as a client: get a token, or make an encrypted call.
    Client {
        #[command(subcommand)]
        action: ClientAction,
        #[command(flatten)]
        identity: Box<ClientIdentity>,
    },
}

#[derive(clap::Args)]
struct ClientIdentity {
    /// The channel (`X-API-KEY`).
    #[arg(long, global = true, default_value = "MOB-APP-2001")]
    channel: String,
    /// The client's `apiKey`.
    #[arg(long, global = true, default_value = "MOB-APP")]
    api_key: String,
    /// The client's secret (prefer the environment variable: arguments are visible to `ps`).
    #[arg(
        long,
        global = true,
        env = "SEALGATE_CLIENT_SECRET",
        default_value = "TEST123",
        hide_env_values = true
    )]
    secret: String,
    /// The channel's KDF: hkdf-sha256, concat-kdf or raw.
    #[arg(long, global = true, default_value = "hkdf-sha256")]
    kdf: String,
    /// The token endpoint's path.
    #[arg(long, global = true, default_value = sealgate::config::DEFAULT_TOKEN_PATH)]
    token_path: String,
    /// CA bundle (PEM) to trust for an https:// gateway, e.g. a `gen-cert` certificate.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// A pinned copy of the gateway's JWK Set (JSON file): the token response's signature
    /// must verify with its `sig` key, and the token request is sealed to its `enc` key.
    #[arg(long, global = true, conflicts_with = "jwks")]
    pin: Option<PathBuf>,
    /// Fetch the gateway's JWK Set from this URL (e.g.
    /// http://127.0.0.1:8080/.well-known/jwks.json) and use it as `--pin` would.
    #[arg(long, global = true)]
    jwks: Option<String>,
}

#[derive(Subcommand)]
enum ClientAction {
    /// Request a token and print the token response.
    Token {
        /// The gateway, e.g. http://127.0.0.1:8080
        #[arg(default_value = "http://127.0.0.1:8080")]
        gateway: String,
    },
    /// Seal `--data`, send it, and print the status and the opened response.
    Call {
        /// HTTP method.
        method: String,
        /// Full URL, e.g. http://127.0.0.1:8080/api/echo
        url: String,
        /// The request body (plaintext; it is sealed before sending).
        #[arg(long, default_value = "")]
        data: String,
        /// The plaintext's media type, sent as the JWE `cty`.
        #[arg(long, default_value = "application/json")]
        content_type: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match args.command.unwrap_or(Command::Run) {
        Command::Run => run(&args.config),
        Command::CheckConfig {
            strict,
            without_secrets,
            dump,
        } => check_config(&args.config, strict, without_secrets, dump),
        Command::HashSecret { argon2 } => hash_secret(argon2),
        Command::Client { action, identity } => client(action, *identity),
        Command::GenCert { dir, names } => gen_cert(&dir, names),
        Command::GenGatewayKey => gen_gateway_key(),
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
    if config.gateway_keys.is_ephemeral() {
        tracing::warn!(
            "NO GATEWAY KEYS CONFIGURED: using a random signing and encryption key made at \
             start. Clients cannot pin them, and they change on every restart. Configure \
             [[gateway_keys]] for production (see `sealgate gen-gateway-key`)."
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    let mut last = None;
    let code = runtime.block_on(async {
        if let Some(addr) = config.demo_upstream {
            match sealgate::demo::bind(addr).await {
                Ok((local, serve)) => {
                    tracing::info!(%local, "demo echo upstream listening");
                    tokio::spawn(serve);
                }
                Err(error) => return fail(&format!("cannot bind demo upstream {addr}: {error}")),
            }
        }
        let gateway = match Gateway::new(Arc::clone(&config)) {
            Ok(gateway) => gateway,
            Err(error) => return fail(&error),
        };
        last = Some(gateway.clone());
        let server = match Server::bind(gateway.clone()).await {
            Ok(server) => server.reload_config_from(path.to_owned()),
            Err(error) => return fail(&error),
        };
        if let Ok(addr) = server.local_addr() {
            tracing::info!(%addr, token_path = %config.token.path, "sealgate listening (http)");
        }
        for addr in server.tls_addrs() {
            tracing::info!(%addr, "sealgate listening (https)");
        }
        if let Some(addr) = server.admin_addr() {
            tracing::info!(%addr, "sealgate admin listening");
        }
        let outcome = server.run(server::shutdown_signal()).await;
        // The access lines and spans of the last requests are written before exiting.
        gateway.close().await;
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        }
    });
    // Connections still open after the grace period end with the runtime; their access
    // lines (complete=false) are queued as they drop, and written here.
    drop(runtime);
    if let Some(gateway) = last {
        gateway.flush_access_log(std::time::Duration::from_secs(2));
    }
    code
}

/// Exit status of `check-config --strict` when the configuration is valid but has warnings.
const EXIT_WARNINGS: u8 = 2;

#[allow(
    clippy::print_stderr,
    reason = "warnings and missing secrets are the command's report, one plain line each"
)]
fn check_config(
    path: &std::path::Path,
    strict: bool,
    without_secrets: bool,
    dump: bool,
) -> ExitCode {
    let checked = match sealgate::config::check::load(path, without_secrets) {
        Ok(checked) => checked,
        Err(error) => return fail(&error),
    };
    let problems = load_files(&checked.config);
    for problem in &problems {
        tracing::error!("{problem}");
    }
    for warning in &checked.warnings {
        eprintln!("{warning}");
    }
    for missing in &checked.missing {
        eprintln!("missing: {missing}");
    }
    if dump {
        match sealgate::config::dump::dump(checked.file) {
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
        missing_secrets = checked.missing.len(),
        "configuration is valid"
    );
    if strict && !checked.warnings.is_empty() {
        return ExitCode::from(EXIT_WARNINGS);
    }
    ExitCode::SUCCESS
}

/// Loads every certificate and key file `config` names with the functions the gateway uses
/// at start (listener certificates and client CA as `Server::bind` does, upstream TLS as
/// `Gateway::new` does, the Redis client as `State::new` does), so a bad file fails here
/// rather than at start. Returns what failed, naming the section.
fn load_files(config: &Config) -> Vec<String> {
    use sealgate::config::{StateBackend, UpstreamTlsConfig};
    use sealgate::tls;
    tls::install_default_provider();
    let mut problems = Vec::new();
    for (i, listener) in config.tls.iter().enumerate() {
        let loaded = tls::CertStore::load(listener.certificates.clone())
            .and_then(|store| tls::server_config(listener, Arc::new(store)));
        if let Err(error) = loaded {
            problems.push(format!("config key `tls[{i}]`: {error}"));
        }
    }
    if let Err(error) = tls::upstream_client_config(&config.upstream_tls) {
        problems.push(format!("config key `upstream_tls`: {error}"));
    }
    if let StateBackend::Redis(redis) = &config.state {
        // The Redis client sets up its (lazy) connection task on the runtime it is made in;
        // none is ever driven here, so nothing connects.
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                problems.push(format!("cannot start a runtime: {error}"));
                return problems;
            }
        };
        let _in_runtime = runtime.enter();
        let metrics = sealgate::metrics::Metrics::default();
        let one = sealgate::session::ReplayLimits {
            sessions: 1,
            per_address: 1,
            per_prefix: 1,
        };
        if sealgate::state::State::new(&config.state, 1, one, &metrics).is_err() {
            problems.push(
                "config key `sessions.redis`: the Redis client cannot be configured (the cause                  is logged above)"
                    .to_owned(),
            );
        }
        // The Redis client builds its rustls configuration from these files only when it
        // connects: build the same one now, so a bad CA or a key that does not match its
        // certificate is found here.
        let (client_cert_file, client_key_file) = redis.tls.client.clone().unzip();
        let files = UpstreamTlsConfig {
            ca_file: redis.tls.ca_file.clone(),
            client_cert_file,
            client_key_file,
        };
        if (files.ca_file.is_some() || files.client_cert_file.is_some())
            && let Err(error) = tls::upstream_client_config(&files)
        {
            problems.push(format!("config key `sessions.redis`: {error}"));
        }
    }
    problems
}

fn client(action: ClientAction, identity: ClientIdentity) -> ExitCode {
    use sealgate::client::{Client, ClientConfig};
    let kdf = match identity.kdf.parse() {
        Ok(kdf) => kdf,
        Err(error) => return fail(&error),
    };
    let (base, path) = match &action {
        ClientAction::Token { gateway } => (gateway.clone(), None),
        ClientAction::Call { url, .. } => match url.parse::<http::Uri>() {
            Ok(uri) => (
                format!(
                    "{}://{}",
                    uri.scheme_str().unwrap_or("http"),
                    uri.authority().map_or("", |a| a.as_str())
                ),
                Some(uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()),
            ),
            Err(error) => return fail(&format!("bad URL {url}: {error}")),
        },
    };
    let base = match base.parse() {
        Ok(base) => base,
        Err(error) => return fail(&format!("bad gateway URL {base}: {error}")),
    };
    let trust = match &identity.pin {
        None => sealgate::client::GatewayTrust::default(),
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                sealgate::client::GatewayTrust::from_jwks(&json).map_err(|e| e.to_string())
            }) {
            Ok(trust) => trust,
            Err(error) => return fail(&format!("--pin {}: {error}", path.display())),
        },
    };
    let jwks_url = match identity.jwks.as_deref().map(str::parse::<http::Uri>) {
        None => None,
        Some(Ok(url)) => Some(url),
        Some(Err(error)) => return fail(&format!("bad --jwks URL: {error}")),
    };
    let config = ClientConfig {
        base,
        token_path: identity.token_path,
        channel: identity.channel,
        api_key: identity.api_key,
        secret: identity.secret,
        kdf,
        ca_file: identity.ca_file,
        trust,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    runtime.block_on(async move {
        let mut client = match Client::new(config) {
            Ok(client) => client,
            Err(error) => return fail(&error),
        };
        if let Some(url) = jwks_url
            && let Err(error) = client.fetch_jwks_from(url).await
        {
            return fail(&error);
        }
        match action {
            ClientAction::Token { .. } => match client.request_token().await {
                Ok((response, _)) => output(&format!(
                    "{{\"resCode\":\"{}\",\"resDesc\":\"{}\",\"token\":\"{}\",\"expiry\":{},\"serverPublicKey\":\"{}\"}}",
                    response.res_code, response.res_desc, response.token, response.expiry, response.server_public_key
                )),
                Err(error) => fail(&error),
            },
            ClientAction::Call { method, data, content_type, .. } => {
                let method = match method.to_uppercase().parse::<http::Method>() {
                    Ok(method) => method,
                    Err(error) => return fail(&error),
                };
                let path = path.unwrap_or_else(|| "/".to_owned());
                match client.call(method, &path, data.as_bytes(), Some(&content_type)).await {
                    Ok(reply) => {
                        let sealed = if reply.was_sealed { "sealed, opened" } else { "not sealed" };
                        output(&format!(
                            "HTTP {} ({sealed}, cty {})\n{}",
                            reply.status,
                            reply.cty.as_deref().unwrap_or("-"),
                            String::from_utf8_lossy(&reply.body)
                        ))
                    }
                    Err(error) => fail(&error),
                }
            }
        }
    })
}

fn gen_gateway_key() -> ExitCode {
    let pair = match sealgate::crypto::ecdh::EphemeralKeyPair::generate() {
        Ok(pair) => pair,
        Err(error) => return fail(&error),
    };
    let scalar = zeroize::Zeroizing::new(sealgate::jose::b64::encode(&pair.secret_bytes()[..]));
    output(&format!(
        "{}\n{}",
        &*scalar,
        sealgate::jose::jwk::public_to_json(&pair.public_key())
    ))
}

fn gen_cert(dir: &std::path::Path, names: Vec<String>) -> ExitCode {
    let certified = match rcgen::generate_simple_self_signed(names) {
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

/// Writes a private key readable by its owner only (0600 from creation, so it is never
/// readable by others even for a moment; an existing file is narrowed to 0600 too).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
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

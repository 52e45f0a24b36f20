//! `sealgate client token|call`: talk to a gateway as an app would, with the Rust client
//! ([`crate::client`]): get a token, or seal a call and open its answer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{fail, output};
use crate::client::{Client, ClientConfig};

#[derive(clap::Args)]
pub(super) struct ClientCommand {
    #[command(subcommand)]
    action: ClientAction,
    #[command(flatten)]
    identity: Box<ClientIdentity>,
}

#[derive(clap::Args)]
pub(super) struct ClientIdentity {
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
    #[arg(long, global = true, default_value = crate::config::DEFAULT_TOKEN_PATH)]
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
pub(super) enum ClientAction {
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

impl ClientCommand {
    pub(super) fn run(self) -> ExitCode {
        run(self.action, *self.identity)
    }
}

fn run(action: ClientAction, identity: ClientIdentity) -> ExitCode {
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
        None => crate::client::GatewayTrust::default(),
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                crate::client::GatewayTrust::from_jwks(&json).map_err(|e| e.to_string())
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
                // The answer's documented members, its signature included; whether that
                // was checked goes to the log, so no one reads an unchecked one as checked.
                Ok((response, _)) => {
                    if client.checks_signatures() {
                        tracing::info!("the answer's signature verified with the pinned JWK Set");
                    } else if response.signature.is_some() {
                        tracing::warn!(
                            "the answer's signature was NOT checked: give --pin FILE or --jwks URL"
                        );
                    }
                    match serde_json::to_string(&response) {
                        Ok(text) => output(&text),
                        Err(error) => fail(&error),
                    }
                }
                Err(error) => fail(&error),
            },
            ClientAction::Call {
                method,
                data,
                content_type,
                ..
            } => {
                let method = match method.to_uppercase().parse::<http::Method>() {
                    Ok(method) => method,
                    Err(error) => return fail(&error),
                };
                let path = path.unwrap_or_else(|| "/".to_owned());
                match client
                    .call(method, &path, data.as_bytes(), Some(&content_type))
                    .await
                {
                    Ok(reply) => {
                        let sealed = if reply.was_sealed {
                            "sealed, opened"
                        } else {
                            "not sealed"
                        };
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

//! Configuration: the TOML file as written ([`FileConfig`], serde, unknown keys refused) →
//! one validation step ([`Config::from_file`]) → the typed [`Config`] every other module
//! reads. Nothing downstream re-checks a value.
//!
//! One file per section, each holding its raw struct, its typed struct, its defaults
//! (`DEFAULT_*`) and its validation: [`server`], [`token`] (with channels and clients),
//! [`routes`], [`tls`], [`sessions`], [`admin`], [`observe`]. Errors name the dotted key
//! (`clients.A.channels`) and never quote the file's text, which may hold a secret.
//!
//! Around it, for `check-config`: secrets held in types that never show them ([`secret`]),
//! secrets from outside the file that may be missing ([`env`](mod@env)), the effective configuration
//! with every secret redacted ([`dump`]), and what is valid but unsafe in production
//! ([`check`]).
//!
//! Owns: what a valid configuration is. Imports only the formats it builds values of
//! ([`crate::token`], [`crate::crypto`], [`crate::jose`]); every other module imports its
//! types from here, never the other way round.

pub mod admin;
pub mod check;
pub mod cors;
pub mod defaults;
pub mod dump;
pub mod env;
pub mod jwt;
pub mod observe;
pub mod routes;
pub mod secret;
pub mod server;
pub mod sessions;
pub mod subject;
pub mod tls;
pub mod token;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use admin::*;
pub use cors::*;
pub use env::{MissingSecret, SecretSource, SecretUse};
pub use jwt::*;
pub use observe::*;
pub use routes::*;
pub use secret::{Secret, SecretUrl};
pub use server::*;
pub use sessions::*;
pub use subject::{SubjectError, SubjectName};
pub use tls::*;
pub use token::*;

/// Where the binary looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/gateway.toml";

/// A configuration that cannot be used; names the key (dotted path) and the problem.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key or a wrong type.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where (line, dotted key) and what: never the text of the line, which may hold
        /// a secret.
        message: String,
    },
    /// A key has a value that is not acceptable.
    #[error("config key `{key}`: {problem}")]
    Invalid {
        /// Dotted path of the key, e.g. `clients.ABC.channels`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Secrets the file names (`*_env` variables, key files) that are not there; all of
    /// them, not only the first.
    #[error("secrets not found: {}", env::describe(.0))]
    SecretsNotFound(Vec<MissingSecret>),
}

/// A [`ConfigError::Invalid`] for `key`.
pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// The whole TOML file, as written. `Serialize` is for `check-config --dump`: secrets are
/// held in [`Secret`] and [`SecretUrl`], which write `<redacted>`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerFile,
    /// `[token]`.
    #[serde(default)]
    pub token: TokenFile,
    /// Accepted `X-API-KEY` values, keyed by that value.
    #[serde(default)]
    pub channels: std::collections::BTreeMap<String, ChannelFile>,
    /// Clients keyed by their `apiKey`.
    #[serde(default)]
    pub clients: std::collections::BTreeMap<String, ClientFile>,
    /// Identity providers whose JWTs `auth = "jwt"` routes accept, by name.
    #[serde(default)]
    pub jwt_providers: std::collections::BTreeMap<String, JwtProviderFile>,
    /// Proxied routes, matched by longest prefix.
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    /// The bundled echo upstream, started in-process for the demo.
    pub demo_upstream: Option<DemoUpstreamFile>,
    /// HTTPS listeners.
    #[serde(default)]
    pub tls: Vec<TlsListenerFile>,
    /// TLS towards `https://` upstreams.
    pub upstream_tls: Option<UpstreamTlsFile>,
    /// The admin listener.
    #[serde(default)]
    pub admin: AdminFile,
    /// The gateway's long-term keys for the authenticated handshake.
    #[serde(default)]
    pub gateway_keys: Vec<GatewayKeyFile>,
    /// Where revocations, replay memory and rate-limit counters live.
    #[serde(default)]
    pub sessions: SessionsFile,
    /// The access line.
    #[serde(default)]
    pub access_log: AccessLogFile,
    /// Trace export.
    #[serde(default)]
    pub tracing: TracingFile,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The public listener and its limits.
    pub server: ServerConfig,
    /// The token endpoint and token keys.
    pub token: TokenConfig,
    /// Accepted `X-API-KEY` values.
    pub channels: HashMap<String, Arc<Channel>>,
    /// Clients by `apiKey`.
    pub clients: HashMap<String, Arc<ApiClient>>,
    /// Identity providers (`[jwt_providers.<name>]`), by name.
    pub jwt_providers: std::collections::BTreeMap<String, Arc<JwtProvider>>,
    /// Every header a provider writes a claim to: removed from every client request.
    pub claim_headers: Vec<http::HeaderName>,
    /// Proxied routes, longest prefix first.
    pub routes: Vec<Arc<Route>>,
    /// Address of the in-process demo echo upstream, if configured.
    pub demo_upstream: Option<SocketAddr>,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`), if enabled.
    pub admin: Option<AdminConfig>,
    /// HTTPS listeners (the plain listener is `server.listen`).
    pub tls: Vec<TlsListenerConfig>,
    /// TLS towards `https://` upstreams.
    pub upstream_tls: UpstreamTlsConfig,
    /// `[sessions]`: where revocations, replay memory and rate-limit counters live, and
    /// what this instance remembers of each session.
    pub sessions: SessionsConfig,
    /// The gateway's long-term keys (`[[gateway_keys]]`; random ones when none).
    pub gateway_keys: Arc<crate::token::gateway_keys::GatewayKeys>,
    /// The access line, if enabled (read at start only).
    pub access_log: Option<AccessLogConfig>,
    /// Trace export, if configured (read at start only).
    pub tracing: Option<crate::observe::trace::ExportSettings>,
}

impl Config {
    /// Reads and validates the file at `path`, resolving `*_env` from the process
    /// environment and `*_file` relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_text(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base, &|name| std::env::var(name).ok())
    }

    /// Parses and validates TOML text. `env` looks up environment variables (injected so
    /// tests need not mutate the process environment).
    pub fn parse(
        text: &str,
        path: &Path,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_file(parse_file(text, path)?, base, env)
    }

    /// The one validation step from the raw file to the typed configuration. Secrets that
    /// are not there are all named in one [`ConfigError::SecretsNotFound`].
    pub fn from_file(
        raw: FileConfig,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let secrets = env::Secrets::new(env);
        let config = Self::build(raw, base, &secrets)?;
        let missing = secrets.into_missing();
        if missing.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::SecretsNotFound(missing))
        }
    }

    /// Validation, with every secret taken from `secrets` (a missing one stood in for).
    pub(crate) fn build(
        raw: FileConfig,
        base: &Path,
        secrets: &env::Secrets<'_>,
    ) -> Result<Self, ConfigError> {
        // Every default in one place; what follows reads the filled file.
        let raw = defaults::fill(raw);
        let server = server::validate(raw.server)?;
        let replay = sessions::validate_replay(&raw.sessions)?;
        let sessions = SessionsConfig {
            replay,
            backend: sessions::validate(raw.sessions, base, secrets)?,
        };
        let token = token::validate(raw.token, base, secrets)?;
        let channels = token::validate_channels(raw.channels)?;
        let gateway_keys = Arc::new(token::validate_gateway_keys(
            raw.gateway_keys,
            base,
            secrets,
        )?);
        let clients = token::validate_clients(raw.clients, &channels, secrets)?;
        let jwt_providers = jwt::validate(raw.jwt_providers, base)?;
        let mut claim_headers: Vec<http::HeaderName> = jwt_providers
            .values()
            .flat_map(|p| p.claim_headers.iter().map(|(_, header)| header.clone()))
            .collect();
        claim_headers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        claim_headers.dedup();
        for name in &claim_headers {
            let identity = &token.identity_headers;
            if *name == identity.client
                || *name == identity.channel
                || *name == token.authorization_header
            {
                return Err(invalid(
                    "jwt_providers",
                    format!(
                        "claims_to_headers writes to `{name}`, a header of the gateway's own \
                         (token.client_header, token.channel_header, token.authorization_header)"
                    ),
                ));
            }
        }
        let routes = routes::validate(
            raw.routes,
            &token.path,
            matches!(sessions.backend, StateBackend::Redis(_)),
            &jwt_providers,
        )?;
        let demo_upstream = raw.demo_upstream.map(|d| d.listen);
        let admin = admin::validate(raw.admin)?;
        let tls = tls::validate_listeners(raw.tls, base)?;
        let proxied = server.proxy_protocol || tls.iter().any(|t| t.proxy_protocol);
        if proxied && server.trusted_proxies.is_empty() {
            return Err(invalid(
                "server.trusted_proxies",
                "the PROXY protocol is accepted only from trusted proxies: list them",
            ));
        }
        distinct_listeners(&server, &tls, admin.as_ref(), demo_upstream)?;
        let upstream_tls = tls::validate_upstream(raw.upstream_tls, base)?;
        let access_log = observe::validate_access_log(raw.access_log, base)?;
        let tracing = observe::validate_tracing(raw.tracing)?;
        Ok(Config {
            server,
            token,
            channels,
            clients,
            jwt_providers,
            claim_headers,
            routes,
            demo_upstream,
            tls,
            upstream_tls,
            admin,
            sessions,
            gateway_keys,
            access_log,
            tracing,
        })
    }
}

/// Two listeners on one address (with a port other than 0) could never both bind: refused
/// here, so `check-config` finds it, rather than at start. (Two `[[tls]]` tables without
/// `listen` both take the default.)
fn distinct_listeners(
    server: &ServerConfig,
    tls: &[TlsListenerConfig],
    admin: Option<&AdminConfig>,
    demo_upstream: Option<SocketAddr>,
) -> Result<(), ConfigError> {
    let mut seen: Vec<(String, SocketAddr)> = Vec::new();
    let listeners = std::iter::once(("server.listen".to_owned(), server.listen))
        .chain(
            tls.iter()
                .enumerate()
                .map(|(i, t)| (format!("tls[{i}].listen"), t.listen)),
        )
        .chain(admin.map(|a| ("admin.listen".to_owned(), a.listen)))
        .chain(demo_upstream.map(|d| ("demo_upstream.listen".to_owned(), d)));
    for (key, addr) in listeners {
        if addr.port() != 0
            && let Some((other, _)) = seen.iter().find(|(_, a)| *a == addr)
        {
            return Err(invalid(
                key,
                format!("{addr} is also `{other}`: two listeners cannot share an address"),
            ));
        }
        seen.push((key, addr));
    }
    Ok(())
}

/// The configuration file's text, wiped from memory when dropped (it may hold secrets).
pub(crate) fn read_text(path: &Path) -> Result<zeroize::Zeroizing<String>, ConfigError> {
    std::fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })
}

/// TOML text → [`FileConfig`]. The error names the line and the dotted key, and gives the
/// parser's message without the snippet of the file it would otherwise quote.
pub fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        let inner = error.into_inner();
        let line = inner
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let mut message = String::new();
        if let Some(line) = line {
            message.push_str(&format!("line {line}: "));
        }
        if key != "." && !key.is_empty() {
            message.push_str(&format!("key `{key}`: "));
        }
        message.push_str(inner.message().trim_end());
        ConfigError::Parse {
            path: path.to_owned(),
            message,
        }
    })
}

/// The value of a key that [`defaults::fill`] always sets, read after it. Absent only through
/// a bug in `fill`, which is reported, not guessed at: validation holds no default.
pub(crate) fn filled<T>(key: &str, value: Option<T>) -> Result<T, ConfigError> {
    value.ok_or_else(|| {
        invalid(
            key,
            "has no value after the defaults were filled in (a bug in sealgate: please report it)",
        )
    })
}

/// A filled count (of any integer type); 0 is refused.
pub(crate) fn positive<T: PartialEq + Default>(
    key: &str,
    value: Option<T>,
) -> Result<T, ConfigError> {
    let v = filled(key, value)?;
    if v == T::default() {
        return Err(invalid(key, "must be at least 1"));
    }
    Ok(v)
}

/// A filled duration in milliseconds; 0 is refused.
pub(crate) fn millis(key: &str, value: Option<u64>) -> Result<Duration, ConfigError> {
    match filled(key, value)? {
        0 => Err(invalid(key, "must be at least 1 ms")),
        v => Ok(Duration::from_millis(v)),
    }
}

/// Exactly one of the given sources must be set; returns which one with its value.
pub(crate) fn exactly_one<'a>(
    key: &str,
    options: [(&'a str, Option<String>); 3],
) -> Result<(&'a str, String), ConfigError> {
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let mut set = options.into_iter().filter_map(|(n, v)| v.map(|v| (n, v)));
    match (set.next(), set.next()) {
        (Some(one), None) => Ok(one),
        _ => Err(invalid(
            key,
            format!("set exactly one of `{}`", names.join("`, `")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"), Path::new("."), &|name| {
            (name == "SECRET_VAR").then(|| "from-env".to_owned())
        })
    }

    #[test]
    fn the_bundled_demo_config_is_valid() {
        let text = include_str!("../../config/gateway.toml");
        let config = parse(text).unwrap();
        assert!(config.channels.contains_key("MOB-APP-2001"));
        assert!(config.clients.contains_key("MOB-APP") && config.clients.contains_key("ABC"));
        assert_eq!(config.token.path, DEFAULT_TOKEN_PATH);
    }

    #[test]
    fn two_listeners_on_one_address_are_refused_at_load() {
        let pair = "[[tls.certificates]]\ncert_file = \"c\"\nkey_file = \"k\"\n";
        let refused = |text: &str, key: &str| match parse(text) {
            Err(ConfigError::Invalid { key: k, problem }) => {
                assert_eq!(k, key, "{problem}");
                assert!(problem.contains("two listeners"), "{problem}");
            }
            other => panic!("{text}: {other:?}"),
        };
        // Two [[tls]] without `listen` take the same default.
        refused(&format!("[[tls]]\n{pair}[[tls]]\n{pair}"), "tls[1].listen");
        refused(
            "[server]\nlisten = \"127.0.0.1:9000\"\n[demo_upstream]\n",
            "demo_upstream.listen",
        );
        refused(
            "[server]\nlisten = \"127.0.0.1:7000\"\n[admin]\nlisten = \"127.0.0.1:7000\"\n",
            "admin.listen",
        );
        // Port 0 is a different port each time; a disabled admin listener binds nothing.
        parse("[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n").unwrap();
        parse("[server]\nlisten = \"127.0.0.1:9901\"\n[admin]\nenabled = false\n").unwrap();
    }

    #[test]
    fn gateway_keys_without_a_signing_key_are_refused() {
        // Every token answer is signed (docs/protocol.md §1.1): an `enc` key alone would
        // leave the answers unsigned.
        let key = b64::encode(&[4; 32]);
        let enc_only = format!("[[gateway_keys]]\nkid = \"e\"\nuse = \"enc\"\nkey = \"{key}\"\n");
        match parse(&enc_only) {
            Err(ConfigError::Invalid { key, problem }) => {
                assert_eq!(key, "gateway_keys");
                assert!(problem.contains("no `sig` key"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        parse(&enc_only.replace("enc", "sig")).unwrap();
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../../config/gateway.example.toml");
        let env = |name: &str| match name {
            "SEALGATE_TOKEN_KEY" => Some(b64::encode(&[1; 32])),
            "SEALGATE_SECRET_BATCH" => Some("batch-secret".to_owned()),
            "SEALGATE_GATEWAY_SIG_KEY" => Some(b64::encode(&[2; 32])),
            "SEALGATE_GATEWAY_ENC_KEY" => Some(b64::encode(&[3; 32])),
            _ => None,
        };
        Config::parse(text, Path::new("x"), Path::new("."), &env).unwrap();
    }

    #[test]
    fn the_packaged_config_runs_only_with_its_secrets() {
        // The Debian package's /etc/sealgate/gateway.toml (.ci/deb-test runs it for real).
        let text = include_str!("../../config/debian/gateway.toml");
        let env = |name: &str| match name {
            "SEALGATE_TOKEN_KEY" => Some(b64::encode(&[1; 32])),
            "SEALGATE_GATEWAY_SIG_KEY" => Some(b64::encode(&[2; 32])),
            "SEALGATE_GATEWAY_ENC_KEY" => Some(b64::encode(&[3; 32])),
            "SEALGATE_SECRET_MOBILE_APP" => Some("a-long-random-secret".to_owned()),
            _ => None,
        };
        let config = Config::parse(text, Path::new("x"), Path::new("."), &env).unwrap();
        assert!(!config.token.keys.is_ephemeral() && !config.gateway_keys.is_ephemeral());
        assert!(config.admin.unwrap().listen.ip().is_loopback());
        let err = Config::parse(text, Path::new("x"), Path::new("."), &|_| None).unwrap_err();
        assert!(err.to_string().contains("SEALGATE_TOKEN_KEY"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n").unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn a_parse_error_names_the_line_but_never_quotes_it() {
        let err = parse("[clients.A]\nsecret = \"hunter2\"\nchannels = 7\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("clients.A.channels"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse("[clients.A]\nsecret = \"hunter2\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_raw_file_never_prints_a_secret() {
        let text = "[[token.keys]]\nkid = \"k\"\nkey = \"TOKEN-KEY-CANARY\"\n\
                    [clients.A]\nsecret = \"SECRET-CANARY\"\n\
                    [sessions.redis]\nurl = \"redis://:REDIS-CANARY@h\"\n";
        let file = parse_file(text, Path::new("t")).unwrap();
        let printed = format!("{file:?}");
        for canary in ["TOKEN-KEY-CANARY", "SECRET-CANARY", "REDIS-CANARY"] {
            assert!(!printed.contains(canary), "{printed}");
        }
    }

    #[test]
    fn a_client_on_an_unknown_channel_names_the_key() {
        let err = parse("[clients.A]\nsecret = \"s\"\nchannels = [\"NOPE\"]\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("clients.A.channels") && text.contains("NOPE"),
            "{text}"
        );
    }

    #[test]
    fn the_redis_backend_is_validated_and_its_url_never_printed() {
        let config = parse(
            "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://:hunter2@127.0.0.1:6379/0\"\non_unavailable = \"degrade\"\n",
        )
        .unwrap();
        let StateBackend::Redis(redis) = &config.sessions.backend else {
            panic!("not the redis backend: {:?}", config.sessions.backend);
        };
        assert_eq!(redis.on_unavailable, Unavailable::Degrade);
        assert_eq!(redis.timeout, DEFAULT_REDIS_TIMEOUT);
        assert_eq!(redis.key_prefix, DEFAULT_REDIS_KEY_PREFIX);
        assert!(!format!("{config:?}").contains("hunter2"));
        let cluster = parse(
            "[sessions]\nbackend = \"redis\"\n[sessions.redis]\ncluster_nodes = [\"redis://a:7000\", \"redis://b:7000\"]\n",
        )
        .unwrap();
        assert!(matches!(
            cluster.sessions.backend,
            StateBackend::Redis(RedisConfig { target: RedisTarget::Cluster(ref n), .. }) if n.len() == 2
        ));
        assert!(matches!(
            parse("").unwrap().sessions.backend,
            StateBackend::Memory
        ));
    }

    #[test]
    fn a_client_needs_exactly_one_secret_source() {
        let both = parse("[clients.A]\nsecret = \"s\"\nsecret_env = \"SECRET_VAR\"\n").unwrap_err();
        assert!(both.to_string().contains("exactly one"), "{both}");
        let none = parse("[clients.A]\n").unwrap_err();
        assert!(none.to_string().contains("clients.A"), "{none}");
        let missing = parse("[clients.A]\nsecret_env = \"UNSET\"\n").unwrap_err();
        assert!(missing.to_string().contains("UNSET"), "{missing}");
        let ok = parse("[clients.A]\nsecret_env = \"SECRET_VAR\"\n").unwrap();
        assert!(ok.clients["A"].secret.verify(b"from-env"));
    }

    #[test]
    fn an_empty_environment_variable_is_refused_and_named() {
        // `VAR=` in an EnvironmentFile sets VAR to "": that must stop the start, not give
        // a client an empty secret.
        let env = |name: &str| match name {
            "EMPTY" => Some(String::new()),
            "BLANK" => Some(" \t".to_owned()),
            _ => None,
        };
        let parse = |text: &str| Config::parse(text, Path::new("t"), Path::new("."), &env);
        let cases = [
            (
                "[clients.A]\nsecret_env = \"EMPTY\"\n",
                "clients.A.secret_env",
            ),
            (
                "[clients.A]\nsecret_env = \"BLANK\"\n",
                "clients.A.secret_env",
            ),
            (
                "[[token.keys]]\nkid = \"k\"\nkey_env = \"EMPTY\"\n",
                "token.keys[0].key_env",
            ),
            (
                "[[gateway_keys]]\nkid = \"s\"\nuse = \"sig\"\nkey_env = \"EMPTY\"\n",
                "gateway_keys[0].key_env",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl_env = \"EMPTY\"\n",
                "sessions.redis.url_env",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("is empty"),
                "{text} -> {err}"
            );
            assert!(err.contains("`EMPTY`") || err.contains("`BLANK`"), "{err}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let cases = [
            ("[channels.C]\nkdf = \"md5\"\n", "channels.C.kdf"),
            ("[server]\nlisten = \"localhost\"\n", "server.listen"),
            ("[token]\nsessions = \"redis\"\n", "token.sessions"),
            (
                "[[token.keys]]\nkid = \"a\"\nkey = \"AAAA\"\n",
                "token.keys[0].key",
            ),
            (
                "[[token.keys]]\nkid = \"bad kid\"\nkey = \"AAAA\"\n",
                "token.keys[0].kid",
            ),
            ("[[routes]]\nprefix = \"/a\"\n", "routes[0].upstreams"),
            (
                "[[routes]]\nprefix = \"/a\"\nupstreams = [\"ftp://x\"]\n",
                "routes[0].upstreams[0]",
            ),
            ("[[tls]]\nlisten = \"127.0.0.1:0\"\n", "tls[0].certificates"),
            (
                "[[tls]]\nclient_cert = \"optional\"\n[[tls.certificates]]\ncert_file = \"a\"\nkey_file = \"b\"\n",
                "tls[0].client_cert",
            ),
            (
                "[[routes]]\nprefix = \"/a\"\nauth = \"none\"\nencrypted_request = true\nupstreams = [\"http://127.0.0.1:1\"]\n",
                "routes[0].auth",
            ),
            ("[server]\nmax_connections = 0\n", "server.max_connections"),
            ("[token]\nleeway_secs = 301\n", "token.leeway_secs"),
            (
                "[server]\nforwarded_hosts = [\"https://x\"]\n",
                "server.forwarded_hosts[0]",
            ),
            (
                "[clients.A]\nsecret = \"s\"\ncert_subject = \"CN\"\n",
                "clients.A.cert_subject",
            ),
            ("[sessions]\nbackend = \"etcd\"\n", "sessions.backend"),
            ("[sessions]\nbackend = \"redis\"\n", "sessions.redis"),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\n",
                "sessions.redis",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"http://x\"\n",
                "sessions.redis.url",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://a\"\ncluster_nodes = [\"redis://b\"]\n",
                "sessions.redis",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://a\"\non_unavailable = \"ignore\"\n",
                "sessions.redis.on_unavailable",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://a\"\nkey_prefix = \"a b\"\n",
                "sessions.redis.key_prefix",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text} -> {err}");
        }
    }

    #[test]
    fn routes_are_ordered_longest_prefix_first() {
        let text = "[[routes]]\nprefix = \"/api/\"\nupstreams = [\"http://127.0.0.1:1\"]\n\
                    [[routes]]\nprefix = \"/api/v2/\"\nupstreams = [\"http://127.0.0.1:2/base/\"]\n";
        let config = parse(text).unwrap();
        assert_eq!(config.routes[0].prefix, "/api/v2/");
        assert_eq!(config.routes[0].upstreams[0].base_path, "/base");
    }
}

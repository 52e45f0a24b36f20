//! The test configuration as typed values: [`ConfigBuilder::new`] is the configuration every
//! integration test starts from (channels for each KDF, the demo clients, a fixed token key,
//! four routes to one upstream), and [`ConfigBuilder::with`] changes any field of the
//! [`FileConfig`] before the one validation step ([`Config::from_file`]) — so a change to a
//! key that does not exist is a compile error, not a silent no-op.

use std::net::SocketAddr;
use std::path::Path;

use sealgate::config::{
    AdminFile, ChannelFile, ClientFile, Config, ConfigError, DEFAULT_TOKEN_PATH, FileConfig,
    RouteAuth, RouteFile, ServerFile, TokenFile, TokenKeyFile,
};
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::b64;

/// The token key of the test configuration (so tests can open tokens themselves).
pub const TOKEN_KEY: [u8; 32] = [0x5a; 32];

/// The token endpoint's path in the test configuration (the default one).
pub const TOKEN_PATH: &str = DEFAULT_TOKEN_PATH;

/// A configuration under construction: the raw [`FileConfig`], edited in place.
#[derive(Debug)]
pub struct ConfigBuilder {
    file: FileConfig,
}

impl ConfigBuilder {
    /// The configuration exercising every feature, with every route to `upstream`:
    ///
    /// - `[server]` on `127.0.0.1:0`, a 2 s body deadline, a 5 s shutdown grace; `[admin]`
    ///   on `127.0.0.1:0`;
    /// - `[token]`: 1000 requests per session, revocation on, one key `test-1` =
    ///   [`TOKEN_KEY`];
    /// - channels `MOB-APP-2001` (defaults), `CH-HKDF`, `CH-CONCAT`, `CH-RAW` (one per KDF)
    ///   and `CH-SHORT` (1 s tokens);
    /// - clients `MOB-APP`/`TEST123` (every channel), `ABC`/`BankeZy123`, `DISABLED`/`pw`
    ///   (disabled) and `RAW-ONLY`/`pw` (only `CH-RAW`);
    /// - routes `/api/` (token), `/api/small/` (512-byte bodies), `/plain/` (no auth, 64 MiB
    ///   bodies) and `/token-plain/` (token, no encryption, prefix stripped onto `/base`).
    pub fn new(upstream: SocketAddr) -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let url = format!("http://{upstream}");
        let channel = |kdf: Option<Kdf>, token_lifetime_secs: Option<u64>| ChannelFile {
            kdf,
            token_lifetime_secs,
            ..Default::default()
        };
        let file = FileConfig {
            server: ServerFile {
                listen: Some(any_port),
                body_read_timeout_ms: Some(2000),
                shutdown_grace_ms: Some(5000),
                // One worker: the suites count upstream connections and connection slots
                // exactly; tests/it/workers.rs runs several.
                workers: Some(1),
                ..Default::default()
            },
            admin: AdminFile {
                listen: Some(any_port),
                ..Default::default()
            },
            // Off unless a test turns it on (to a file): stdout is the test harness's.
            access_log: sealgate::config::AccessLogFile {
                enabled: Some(false),
                ..Default::default()
            },
            token: TokenFile {
                max_requests_per_session: Some(1000),
                revocation: Some(true),
                keys: vec![token_key_file("test-1", &TOKEN_KEY)],
                ..Default::default()
            },
            channels: [
                ("MOB-APP-2001", channel(None, None)),
                ("CH-HKDF", channel(Some(Kdf::HkdfSha256), None)),
                ("CH-CONCAT", channel(Some(Kdf::ConcatKdf), None)),
                ("CH-RAW", channel(Some(Kdf::Raw), None)),
                ("CH-SHORT", channel(None, Some(1))),
            ]
            .into_iter()
            .map(|(id, c)| (id.to_owned(), c))
            .collect(),
            clients: [
                (
                    "MOB-APP",
                    client_file(
                        "TEST123",
                        &["MOB-APP-2001", "CH-HKDF", "CH-CONCAT", "CH-RAW", "CH-SHORT"],
                    ),
                ),
                ("ABC", client_file("BankeZy123", &["MOB-APP-2001"])),
                (
                    "DISABLED",
                    ClientFile {
                        enabled: Some(false),
                        ..client_file("pw", &["MOB-APP-2001"])
                    },
                ),
                ("RAW-ONLY", client_file("pw", &["CH-RAW"])),
            ]
            .into_iter()
            .map(|(id, c)| (id.to_owned(), c))
            .collect(),
            routes: vec![
                RouteFile {
                    auth: Some(RouteAuth::Token),
                    ..route_file("/api/", &url)
                },
                RouteFile {
                    max_body_bytes: Some(512),
                    ..route_file("/api/small/", &url)
                },
                RouteFile {
                    auth: Some(RouteAuth::None),
                    max_body_bytes: Some(64 * 1024 * 1024),
                    ..route_file("/plain/", &url)
                },
                RouteFile {
                    strip_prefix: Some(true),
                    encrypted_request: Some(false),
                    encrypted_response: Some(false),
                    ..route_file("/token-plain/", &format!("{url}/base"))
                },
            ],
            ..Default::default()
        };
        ConfigBuilder { file }
    }

    /// Changes the configuration: `edit` may set, replace or remove any field.
    pub fn with(mut self, edit: impl FnOnce(&mut FileConfig)) -> Self {
        edit(&mut self.file);
        self
    }

    /// Adds a route (routes are matched by longest prefix, so the order does not matter).
    pub fn route(self, route: RouteFile) -> Self {
        self.with(|f| f.routes.push(route))
    }

    /// Adds (or replaces) the client whose `apiKey` is `api_key`.
    pub fn client(self, api_key: &str, client: ClientFile) -> Self {
        self.with(|f| {
            f.clients.insert(api_key.to_owned(), client);
        })
    }

    /// The configuration as it stands.
    pub fn file(&self) -> &FileConfig {
        &self.file
    }

    /// The raw configuration, for a test that validates it itself.
    pub fn into_file(self) -> FileConfig {
        self.file
    }

    /// Validates the configuration (relative paths from `.`, no environment variables).
    pub fn try_build(self) -> Result<Config, ConfigError> {
        Config::from_file(self.file, Path::new("."), &|_| None)
    }

    /// The validated configuration; panics (fails the test) if it is not valid.
    pub fn build(self) -> Config {
        self.try_build().expect("test config is valid")
    }
}

/// `[[routes]]` with `prefix` and one upstream URL; every other key unset.
pub fn route_file(prefix: &str, upstream_url: &str) -> RouteFile {
    RouteFile {
        prefix: Some(prefix.to_owned()),
        upstreams: vec![upstream_url.into()],
        ..Default::default()
    }
}

/// `[clients.X]` with a plain `secret` and its `channels`; every other key unset.
pub fn client_file(secret: &str, channels: &[&str]) -> ClientFile {
    ClientFile {
        secret: Some(secret.into()),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        ..Default::default()
    }
}

/// `[[token.keys]]` with `kid` and the key given inline (base64url).
pub fn token_key_file(kid: &str, key: &[u8; 32]) -> TokenKeyFile {
    TokenKeyFile {
        kid: Some(kid.to_owned()),
        key: Some(b64::encode(key).into()),
        ..Default::default()
    }
}

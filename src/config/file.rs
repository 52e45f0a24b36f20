//! The configuration file as written: raw serde structs, every field optional where a
//! default exists, unknown keys refused. Nothing here is trusted until
//! [`super::Config::from_file`] has validated it.

#![allow(
    missing_docs,
    reason = "each field is a config key, documented with its default in config/gateway.example.toml"
)]

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub token: TokenFile,
    /// Accepted `X-API-KEY` values, keyed by that value.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelFile>,
    /// Clients keyed by their `apiKey`.
    #[serde(default)]
    pub clients: BTreeMap<String, ClientFile>,
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
    /// Where revocations, replay memory and rate-limit counters live.
    #[serde(default)]
    pub sessions: SessionsFile,
}

/// `[sessions]`: the session-state backend.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsFile {
    pub backend: Option<String>,
    pub redis: Option<RedisFile>,
}

/// `[sessions.redis]`: exactly one of `url` (standalone) and `cluster_nodes` (cluster seeds).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisFile {
    pub url: Option<String>,
    pub url_env: Option<String>,
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
    pub key_prefix: Option<String>,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub on_unavailable: Option<String>,
}

impl std::fmt::Debug for RedisFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs may carry a password.
        f.debug_struct("RedisFile").finish_non_exhaustive()
    }
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
}

/// `[[tls]]`: one HTTPS listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListenerFile {
    pub listen: Option<String>,
    #[serde(default)]
    pub certificates: Vec<CertFile>,
    pub client_ca_file: Option<String>,
    pub client_cert: Option<String>,
    pub handshake_timeout_ms: Option<u64>,
    pub reload_poll_ms: Option<u64>,
}

/// `[[tls.certificates]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertFile {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

/// `[upstream_tls]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsFile {
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
}

/// `[server]`: the public listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub listen: Option<String>,
    pub max_connections: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub header_read_timeout_ms: Option<u64>,
    pub body_read_timeout_ms: Option<u64>,
    pub shutdown_grace_ms: Option<u64>,
    pub max_headers: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub upstream_connect_timeout_ms: Option<u64>,
}

/// `[token]`: the token endpoint and the tokens it issues.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    pub path: Option<String>,
    pub issuer: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub sessions: Option<String>,
    pub max_sessions: Option<usize>,
    pub sweep_interval_ms: Option<u64>,
    pub leeway_secs: Option<u64>,
    pub max_requests_per_session: Option<usize>,
    pub authorization_header: Option<String>,
    pub revocation: Option<bool>,
    pub client_id_header: Option<String>,
    pub channel_header: Option<String>,
    pub rate_limit_per_client_per_minute: Option<u32>,
    pub rate_limit_per_address_per_minute: Option<u32>,
    #[serde(default)]
    pub keys: Vec<TokenKeyFile>,
}

/// `[[token.keys]]`: one token key; exactly one of `key`, `key_env`, `key_file`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKeyFile {
    pub kid: Option<String>,
    pub key: Option<String>,
    pub key_env: Option<String>,
    pub key_file: Option<String>,
}

/// `[channels."X-API-KEY value"]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelFile {
    pub kdf: Option<String>,
    pub token_lifetime_secs: Option<u64>,
}

/// `[clients."apiKey"]`: exactly one of `secret`, `secret_hash`, `secret_env`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    pub secret_env: Option<String>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub channels: Vec<String>,
    pub cert_subject: Option<String>,
}

/// `[[routes]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub prefix: Option<String>,
    pub strip_prefix: Option<bool>,
    #[serde(default)]
    pub upstreams: Vec<String>,
    pub auth: Option<String>,
    pub encrypted_request: Option<bool>,
    pub encrypted_response: Option<bool>,
    pub max_body_bytes: Option<usize>,
    pub upstream_timeout_ms: Option<u64>,
}

/// `[demo_upstream]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUpstreamFile {
    pub listen: Option<String>,
}

//! `[token]`, `[channels.*]` and `[clients.*]`: the token endpoint, the tokens it issues,
//! the token keys, the accepted channels and the clients that may ask for tokens.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde::{Deserialize, Serialize};

use super::env::{SecretUse, Secrets};
use super::{ConfigError, Secret, SubjectName, exactly_one, filled, invalid, millis, positive};
use crate::crypto::Key32;
use crate::crypto::ecdh::EphemeralKeyPair;
use crate::crypto::kdf::Kdf;
use crate::jose::b64;
use crate::token::credentials::SecretVerifier;
use crate::token::gateway_keys::{GatewayKey, GatewayKeys, KeyUse};
use crate::token::keys::{KeyRing, Kid, TokenKey};
use crate::wire::{X_CHANNEL, X_CLIENT_ID};

/// The token endpoint's path.
pub const DEFAULT_TOKEN_PATH: &str = "/token-service/new/v2/token";
/// `iss` of the tokens this gateway issues and accepts.
pub const DEFAULT_ISSUER: &str = "sealgate";
/// Largest token request body accepted (docs/protocol.md §1: 16 KiB).
pub const DEFAULT_TOKEN_MAX_BODY: usize = 16 * 1024;
/// Live sessions held in memory at most.
pub const DEFAULT_MAX_SESSIONS: usize = 1_000_000;
/// How often expired sessions are swept from memory.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Clock skew tolerated when checking `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Encrypted request bodies one session may send; each one's IV is remembered to refuse
/// replays, so this bounds that memory (12 bytes an IV). A client then gets a new token.
pub const DEFAULT_MAX_REQUESTS_PER_SESSION: usize = 100_000;
/// Header carrying the bearer token on protected routes.
pub const DEFAULT_AUTHORIZATION_HEADER: &str = "authorization";
/// A channel's token lifetime.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Tokens one source address may get per minute. Per client the default is unlimited:
/// an `apiKey` is usually shared by every install of an app.
pub const DEFAULT_RATE_LIMIT_PER_ADDRESS: u32 = 120;

/// Slow (argon2id) secret checks run at once, each on a blocking thread with ~19 MiB: a
/// burst of wrong secrets waits for these few, it cannot take the blocking pool.
pub const DEFAULT_MAX_CONCURRENT_SECRET_CHECKS: usize = 4;
/// How long a token request waits for a secret-check slot before it is answered
/// `503 TOK003` with `Retry-After`.
pub const SECRET_CHECK_WAIT: Duration = Duration::from_secs(2);

/// The largest `token.leeway_secs` accepted: clock skew is seconds, and every second of
/// leeway is a second a token (and its replay memory) outlives its `exp`.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// `[token]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct TokenFile {
    pub path: Option<String>,
    pub issuer: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub sessions: Option<SessionMode>,
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
    pub max_concurrent_secret_checks: Option<usize>,
    pub accept_unbound_sealed_token_requests: Option<bool>,
    pub cors: Option<super::CorsFile>,
    #[serde(default)]
    pub keys: Vec<TokenKeyFile>,
}

/// `[[token.keys]]` as written: one token key; exactly one of `key`, `key_env`, `key_file`.
/// `issue = false`: the key verifies tokens but does not seal new ones yet (the first key
/// with `issue = true`, the default, does), so it can be added on every instance before any
/// instance issues with it.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct TokenKeyFile {
    pub kid: Option<String>,
    pub key: Option<Secret>,
    pub key_env: Option<String>,
    pub key_file: Option<String>,
    pub issue: Option<bool>,
}

/// `[[gateway_keys]]` as written: one long-term P-256 key of the gateway; exactly one of
/// `key`, `key_env`, `key_file` (the private scalar, 32 bytes base64url:
/// `sealgate gen-gateway-key`). `issue = false`: listed in the JWK Set (after the keys in
/// force) and, for `enc`, still opening, but never the one in force: not signing (`sig`),
/// not the one clients take first (`enc`).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct GatewayKeyFile {
    pub kid: Option<String>,
    #[serde(rename = "use")]
    pub usage: Option<KeyUse>,
    pub key: Option<Secret>,
    pub key_env: Option<String>,
    pub key_file: Option<String>,
    pub issue: Option<bool>,
}

/// `[channels."X-API-KEY value"]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct ChannelFile {
    pub kdf: Option<Kdf>,
    pub token_lifetime_secs: Option<u64>,
    pub require_request_binding: Option<bool>,
    pub require_sealed_token_request: Option<bool>,
}

/// `[clients."apiKey"]` as written: exactly one of `secret`, `secret_hash`, `secret_env`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct ClientFile {
    pub secret: Option<Secret>,
    pub secret_hash: Option<Secret>,
    pub secret_env: Option<String>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub channels: Vec<String>,
    pub cert_subject: Option<String>,
}

/// Whether the session key travels inside the token (`token.sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// The token carries `K` (encrypted under a token key), so any instance holding the same
    /// token keys serves the session, like a TLS session ticket (RFC 5077). The default.
    #[default]
    Ticket,
    /// `K` never leaves this process's memory; a restart ends every session.
    Local,
}

/// The header names that carry the caller's identity upstream (configurable for legacy
/// backends that expect their own).
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    /// Carries the `apiKey`.
    pub client: HeaderName,
    /// Carries the channel.
    pub channel: HeaderName,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            client: X_CLIENT_ID,
            channel: X_CHANNEL,
        }
    }
}

/// `[token]`, validated.
#[derive(Debug)]
pub struct TokenConfig {
    /// See [`DEFAULT_TOKEN_PATH`].
    pub path: String,
    /// See [`DEFAULT_ISSUER`].
    pub issuer: String,
    /// See [`DEFAULT_TOKEN_MAX_BODY`].
    pub max_body_bytes: usize,
    /// See [`SessionMode`].
    pub session_mode: SessionMode,
    /// See [`DEFAULT_MAX_SESSIONS`].
    pub max_sessions: usize,
    /// See [`DEFAULT_SWEEP_INTERVAL`].
    pub sweep_interval: Duration,
    /// See [`DEFAULT_LEEWAY`].
    pub leeway: Duration,
    /// See [`DEFAULT_MAX_REQUESTS_PER_SESSION`].
    pub max_requests_per_session: usize,
    /// See [`DEFAULT_AUTHORIZATION_HEADER`].
    pub authorization_header: HeaderName,
    /// The headers carrying the caller's `apiKey` and channel to upstreams.
    pub identity_headers: IdentityHeaders,
    /// Whether `DELETE` on the token path revokes the bearer token's session.
    pub revocation: bool,
    /// Tokens one `apiKey` may get per minute (0: unlimited).
    pub rate_limit_per_client: u32,
    /// Tokens one source address may get per minute (0: unlimited).
    pub rate_limit_per_address: u32,
    /// See [`DEFAULT_MAX_CONCURRENT_SECRET_CHECKS`] (read at start only).
    pub max_concurrent_secret_checks: usize,
    /// Whether a sealed token request without `iat` and `chn` is still accepted on channels
    /// that do not require the sealed form (docs/protocol.md §1.1; off by default: such a request,
    /// once captured, could be replayed for tokens at will).
    pub accept_unbound_sealed_token_requests: bool,
    /// Cross-origin token requests from browsers, when allowed (`[token.cors]`).
    pub cors: Option<tower_http::cors::CorsLayer>,
    /// The token keys: the first with `issue = true` issues, all verify.
    pub keys: KeyRing,
}

impl TokenConfig {
    /// The leeway in whole seconds.
    pub fn leeway_secs(&self) -> i64 {
        i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX)
    }

    /// The last second a token expiring at `exp` is accepted (`exp` plus the leeway): how
    /// long its session's revocation and replay memory must be kept.
    pub fn accepted_until(&self, exp: i64) -> i64 {
        exp.saturating_add(self.leeway_secs())
    }
}

/// A channel: one accepted `X-API-KEY` value.
#[derive(Debug)]
pub struct Channel {
    /// The `X-API-KEY` value.
    pub id: Arc<str>,
    /// How `K` is derived from `Z` for this channel's sessions.
    pub kdf: Kdf,
    /// How long a token issued on this channel is accepted.
    pub token_lifetime: Duration,
    /// Every sealed body must carry `htm`/`htp`, and every bodyless request on a token
    /// route an `X-Request-Seal` (docs/protocol.md §4.1). Default `false`.
    pub require_request_binding: bool,
    /// Token requests must be sealed to the gateway's `enc` key (docs/protocol.md §1.1).
    /// Default `false`.
    pub require_sealed_token_request: bool,
}

/// A client that may ask for tokens.
#[derive(Debug)]
pub struct ApiClient {
    /// The `apiKey`.
    pub id: Arc<str>,
    /// Checks the presented `secret` in constant time.
    pub secret: SecretVerifier,
    /// A disabled client is refused with `TOK004`.
    pub enabled: bool,
    /// Channels this client may use.
    pub channels: HashSet<Arc<str>>,
    /// If set, the token request must come over mTLS with a client certificate whose
    /// subject is this name, compared attribute by attribute (see [`SubjectName`]).
    pub cert_subject: Option<SubjectName>,
}

fn header_name(key: &str, value: Option<String>) -> Result<HeaderName, ConfigError> {
    match filled(key, value)? {
        // Many upstream servers (CGI, WSGI, Rack, PHP, nginx's underscores_in_headers) read
        // `_` and `-` as one character: a client's `x-client-id` would reach them as this
        // header. The gateway strips a client's copies of the `-` spelling under every
        // alias, so that is the only spelling allowed.
        text if text.contains('_') => Err(invalid(
            key,
            format!(
                "`{text}` contains `_`: upstream servers commonly read `_` and `-` as the \
                 same character, so a client could send its own value under the other \
                 spelling; write it with `-` (`{}`)",
                text.replace('_', "-")
            ),
        )),
        text => HeaderName::from_bytes(text.as_bytes())
            .map_err(|_| invalid(key, format!("`{text}` is not a valid header name"))),
    }
}

pub(super) fn validate(
    t: TokenFile,
    base: &Path,
    secrets: &Secrets<'_>,
) -> Result<TokenConfig, ConfigError> {
    let path = filled("token.path", t.path)?;
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(invalid(
            "token.path",
            "must be an absolute path without query or fragment",
        ));
    }
    let header_text = filled("token.authorization_header", t.authorization_header)?;
    let authorization_header = HeaderName::from_bytes(header_text.as_bytes())
        .map_err(|_| invalid("token.authorization_header", "not a valid header name"))?;
    let mut keys = Vec::new();
    let mut issuing = None;
    for (i, k) in t.keys.into_iter().enumerate() {
        let key = format!("token.keys[{i}]");
        let kid_text = k
            .kid
            .ok_or_else(|| invalid(format!("{key}.kid"), "is required"))?;
        let kid = Kid::parse(&kid_text).map_err(|e| invalid(format!("{key}.kid"), e))?;
        if keys.iter().any(|existing: &TokenKey| existing.kid == kid) {
            return Err(invalid(
                format!("{key}.kid"),
                format!("`{kid_text}` is used twice"),
            ));
        }
        let material = key_material(
            &key,
            k.key,
            k.key_env,
            k.key_file,
            base,
            secrets,
            SecretUse::TokenKey,
        )?;
        if issuing.is_none() && filled(&format!("{key}.issue"), k.issue)? {
            issuing = Some(i);
        }
        keys.push(TokenKey { kid, key: material });
    }
    let keys = match issuing {
        _ if keys.is_empty() => {
            KeyRing::ephemeral().map_err(|e| invalid("token.keys", e.to_string()))?
        }
        Some(issuing) => KeyRing::with_issuing(keys, issuing),
        None => {
            return Err(invalid(
                "token.keys",
                format!(
                    "every key has issue = false ({}): one must seal new tokens; set issue = \
                     true (the default) on the key in force",
                    kid_list(keys.iter().map(|k| &k.kid))
                ),
            ));
        }
    };
    Ok(TokenConfig {
        path,
        issuer: filled("token.issuer", t.issuer)?,
        max_body_bytes: positive("token.max_body_bytes", t.max_body_bytes)?,
        session_mode: filled("token.sessions", t.sessions)?,
        max_sessions: positive("token.max_sessions", t.max_sessions)?,
        sweep_interval: millis("token.sweep_interval_ms", t.sweep_interval_ms)?,
        leeway: match filled("token.leeway_secs", t.leeway_secs)? {
            secs if secs > MAX_LEEWAY_SECS => {
                return Err(invalid(
                    "token.leeway_secs",
                    format!("at most {MAX_LEEWAY_SECS}: a token outlives its expiry by this much"),
                ));
            }
            secs => Duration::from_secs(secs),
        },
        max_requests_per_session: positive(
            "token.max_requests_per_session",
            t.max_requests_per_session,
        )?,
        authorization_header,
        identity_headers: IdentityHeaders {
            client: header_name("token.client_id_header", t.client_id_header)?,
            channel: header_name("token.channel_header", t.channel_header)?,
        },
        revocation: filled("token.revocation", t.revocation)?,
        rate_limit_per_client: filled(
            "token.rate_limit_per_client_per_minute",
            t.rate_limit_per_client_per_minute,
        )?,
        rate_limit_per_address: filled(
            "token.rate_limit_per_address_per_minute",
            t.rate_limit_per_address_per_minute,
        )?,
        max_concurrent_secret_checks: positive(
            "token.max_concurrent_secret_checks",
            t.max_concurrent_secret_checks,
        )?,
        accept_unbound_sealed_token_requests: filled(
            "token.accept_unbound_sealed_token_requests",
            t.accept_unbound_sealed_token_requests,
        )?,
        cors: match t.cors {
            None => None,
            Some(c) => Some(super::cors::validate("token.cors", c)?),
        },
        keys,
    })
}

pub(super) fn validate_channels(
    raw: BTreeMap<String, ChannelFile>,
) -> Result<HashMap<String, Arc<Channel>>, ConfigError> {
    let mut channels = HashMap::new();
    for (id, ch) in raw {
        let key = format!("channels.{id}");
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(key, "a channel id must be non-empty visible ASCII"));
        }
        let lifetime = Duration::from_secs(filled(
            &format!("{key}.token_lifetime_secs"),
            ch.token_lifetime_secs,
        )?);
        if lifetime.is_zero() || lifetime > Duration::from_secs(7 * 24 * 3600) {
            return Err(invalid(
                format!("{key}.token_lifetime_secs"),
                "must be 1 s to 7 days",
            ));
        }
        let id: Arc<str> = id.into();
        channels.insert(
            id.to_string(),
            Arc::new(Channel {
                id,
                kdf: filled(&format!("{key}.kdf"), ch.kdf)?,
                token_lifetime: lifetime,
                require_request_binding: filled(
                    &format!("{key}.require_request_binding"),
                    ch.require_request_binding,
                )?,
                require_sealed_token_request: filled(
                    &format!("{key}.require_sealed_token_request"),
                    ch.require_sealed_token_request,
                )?,
            }),
        );
    }
    Ok(channels)
}

pub(super) fn validate_clients(
    raw: BTreeMap<String, ClientFile>,
    channels: &HashMap<String, Arc<Channel>>,
    secrets: &Secrets<'_>,
) -> Result<HashMap<String, Arc<ApiClient>>, ConfigError> {
    let mut clients = HashMap::new();
    for (id, c) in raw {
        let key = format!("clients.{id}");
        if id.is_empty() {
            return Err(invalid(key, "a client apiKey must be non-empty"));
        }
        let secret = client_secret(&key, c.secret, c.secret_hash, c.secret_env, secrets)?;
        let mut allowed = HashSet::new();
        for ch in c.channels {
            let channel = channels.get(&ch).ok_or_else(|| {
                invalid(format!("{key}.channels"), format!("unknown channel `{ch}`"))
            })?;
            allowed.insert(channel.id.clone());
        }
        let cert_subject = match c.cert_subject {
            None => None,
            Some(text) => Some(
                SubjectName::parse(&text)
                    .map_err(|e| invalid(format!("{key}.cert_subject"), e.to_string()))?,
            ),
        };
        let id: Arc<str> = id.into();
        let client = ApiClient {
            id,
            secret,
            enabled: filled(&format!("{key}.enabled"), c.enabled)?,
            channels: allowed,
            cert_subject,
        };
        clients.insert(client.id.to_string(), Arc::new(client));
    }
    Ok(clients)
}

/// Validates `[[gateway_keys]]`; with none, one random key of each use. Of each use that
/// has keys, at least one must be in force (`issue`, true by default).
pub(super) fn validate_gateway_keys(
    raw: Vec<GatewayKeyFile>,
    base: &Path,
    secrets: &Secrets<'_>,
) -> Result<GatewayKeys, ConfigError> {
    if raw.is_empty() {
        return GatewayKeys::ephemeral().map_err(|e| invalid("gateway_keys", e.to_string()));
    }
    let mut keys: Vec<GatewayKey> = Vec::new();
    for (i, k) in raw.into_iter().enumerate() {
        let key = format!("gateway_keys[{i}]");
        let kid_text = k
            .kid
            .ok_or_else(|| invalid(format!("{key}.kid"), "is required"))?;
        let kid = Kid::parse(&kid_text).map_err(|e| invalid(format!("{key}.kid"), e))?;
        if keys.iter().any(|existing| existing.kid == kid) {
            return Err(invalid(
                format!("{key}.kid"),
                format!("`{kid_text}` is used twice"),
            ));
        }
        let usage = k
            .usage
            .ok_or_else(|| invalid(format!("{key}.use"), "is required: \"sig\" or \"enc\""))?;
        let scalar = key_material(
            &key,
            k.key,
            k.key_env,
            k.key_file,
            base,
            secrets,
            SecretUse::GatewayKey,
        )?;
        let pair = EphemeralKeyPair::from_scalar_bytes(scalar.expose()).ok_or_else(|| {
            invalid(
                &key,
                "not a P-256 private key (see `sealgate gen-gateway-key`)",
            )
        })?;
        keys.push(GatewayKey {
            kid,
            usage,
            pair,
            issue: filled(&format!("{key}.issue"), k.issue)?,
        });
    }
    for usage in [KeyUse::Sig, KeyUse::Enc] {
        let mut of_use = keys.iter().filter(|k| k.usage == usage).peekable();
        if of_use.peek().is_some() && !keys.iter().any(|k| k.usage == usage && k.issue) {
            return Err(invalid(
                "gateway_keys",
                format!(
                    "every `{}` key has issue = false ({}): one must be in force; set issue = \
                     true (the default) on it",
                    usage.as_str(),
                    kid_list(of_use.map(|k| &k.kid))
                ),
            ));
        }
    }
    // Every answer is signed (docs/protocol.md §1.1): a set of keys without a `sig` key
    // would answer unsigned, which pinned clients refuse.
    if !keys.iter().any(|k| k.usage == KeyUse::Sig) {
        return Err(invalid(
            "gateway_keys",
            "no `sig` key: every token answer is signed with one (docs/protocol.md §1.1); \
             add one (`sealgate gen-gateway-key`)",
        ));
    }
    Ok(GatewayKeys::new(keys))
}

/// `` `a`, `b` ``: key ids for a message.
fn kid_list<'a>(kids: impl Iterator<Item = &'a Kid>) -> String {
    kids.map(|kid| format!("`{}`", kid.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A 32-byte key from exactly one of `key` (inline), `key_env` and `key_file`, base64url
/// without padding.
fn key_material(
    key: &str,
    inline: Option<Secret>,
    from_env: Option<String>,
    from_file: Option<String>,
    base: &Path,
    secrets: &Secrets<'_>,
    usage: SecretUse,
) -> Result<Key32, ConfigError> {
    let (source, value) = exactly_one(
        key,
        [
            ("key", inline.map(|k| k.expose().to_owned())),
            ("key_env", from_env),
            ("key_file", from_file),
        ],
    )?;
    let value = zeroize::Zeroizing::new(value);
    let field = format!("{key}.{source}");
    let text = match source {
        "key_env" => secrets.var(&field, &value, usage)?,
        "key_file" => secrets.file(&field, &base.join(&*value), usage)?,
        _ => value,
    };
    let bytes =
        zeroize::Zeroizing::new(b64::decode_strict(text.trim().as_bytes()).map_err(|_| {
            invalid(
                &field,
                "must be 32 bytes as base64url without padding (see `sealgate gen-key`)",
            )
        })?);
    Key32::from_slice(&bytes)
        .ok_or_else(|| invalid(&field, format!("must be 32 bytes, not {}", bytes.len())))
}

fn client_secret(
    key: &str,
    plain: Option<Secret>,
    hash: Option<Secret>,
    from_env: Option<String>,
    secrets: &Secrets<'_>,
) -> Result<SecretVerifier, ConfigError> {
    let (source, value) = exactly_one(
        key,
        [
            ("secret", plain.map(|s| s.expose().to_owned())),
            ("secret_hash", hash.map(|s| s.expose().to_owned())),
            ("secret_env", from_env),
        ],
    )?;
    let value = zeroize::Zeroizing::new(value);
    let field = format!("{key}.{source}");
    match source {
        "secret_hash" => SecretVerifier::from_hash(&value).map_err(|e| invalid(field, e)),
        "secret_env" => {
            let secret = secrets.var(&field, &value, SecretUse::ClientSecret)?;
            Ok(SecretVerifier::from_plaintext(secret.as_bytes()))
        }
        _ => {
            if value.is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
            Ok(SecretVerifier::from_plaintext(value.as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let env = |name: &str| (name == "KEY").then(|| b64::encode(&[7; 32]));
        Config::parse(text, Path::new("t"), Path::new("."), &env)
    }

    #[test]
    fn the_first_token_key_that_issues_seals_and_every_key_verifies() {
        let config = parse(
            "[[token.keys]]\nkid = \"new\"\nkey_env = \"KEY\"\nissue = false\n\
             [[token.keys]]\nkid = \"old\"\nkey_env = \"KEY\"\n\
             [[token.keys]]\nkid = \"older\"\nkey_env = \"KEY\"\n",
        )
        .unwrap();
        assert_eq!(config.token.keys.issuing().unwrap().kid.as_str(), "old");
        assert!(config.token.keys.find("new").is_some());
    }

    #[test]
    fn a_ring_where_no_key_issues_is_refused_naming_the_keys() {
        let err = parse(
            "[[token.keys]]\nkid = \"new\"\nkey_env = \"KEY\"\nissue = false\n\
             [[token.keys]]\nkid = \"old\"\nkey_env = \"KEY\"\nissue = false\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("token.keys") && err.contains("`new`") && err.contains("`old`"),
            "{err}"
        );
    }

    #[test]
    fn each_gateway_key_use_needs_a_key_in_force() {
        let key = |kid: &str, usage: &str, issue: bool| {
            format!(
                "[[gateway_keys]]\nkid = \"{kid}\"\nuse = \"{usage}\"\nkey_env = \"KEY\"\nissue = {issue}\n"
            )
        };
        let config = parse(&format!(
            "{}{}{}",
            key("sig-new", "sig", false),
            key("sig-old", "sig", true),
            key("enc-new", "enc", true)
        ))
        .unwrap();
        assert_eq!(
            config.gateway_keys.signing().unwrap().kid.as_str(),
            "sig-old"
        );
        let err = parse(&format!(
            "{}{}",
            key("sig-new", "sig", true),
            key("enc-new", "enc", false)
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("gateway_keys") && err.contains("`enc`") && err.contains("`enc-new`"),
            "{err}"
        );
    }
}

//! `check-config`: a configuration that loads may still be unsafe in production (a random
//! token key, a plaintext secret, the `raw` KDF, a public admin listener…). [`check()`]
//! validates a file as the gateway would and returns, beside the configuration, every such
//! [`Warning`] (a stable code, the key, what to do) and, when checking without the
//! production secrets, every secret that was missing.
//!
//! Owns: what is valid but unwise. Loading the certificates a configuration names is the
//! binary's part (it uses the same functions as the server at start, which live above this
//! module).

use std::fmt;

use super::env::Secrets;
use super::*;
use crate::crypto::kdf::Kdf;

/// Something valid but unsafe in production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A stable code (`WARN001`…), for CI filters and docs/configuration.md's table.
    pub code: &'static str,
    /// The dotted key it is about.
    pub key: String,
    /// What is wrong and what to do; never a secret's value.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`: {}", self.code, self.key, self.message)
    }
}

/// The demo configuration's client secrets (`config/gateway.toml`), which anyone can read.
pub const DEMO_SECRETS: [&str; 2] = ["TEST123", "BankeZy123"];

/// A file checked: the configuration (with placeholders for missing secrets when checked
/// without them: never to be served), the file as written (for `--dump`), what was missing
/// and what is unsafe.
#[derive(Debug)]
pub struct Checked {
    /// The validated configuration.
    pub config: Config,
    /// The file as written.
    pub file: FileConfig,
    /// Secrets named but not found (only when checked without secrets; otherwise they are
    /// an error).
    pub missing: Vec<MissingSecret>,
    /// What is unsafe in production, ordered by code.
    pub warnings: Vec<Warning>,
}

/// Reads and checks the file at `path` against the process environment. With
/// `without_secrets`, secrets that are not there (`*_env` variables, key files) are listed
/// in [`Checked::missing`] instead of failing, and placeholders of the right shape stand in.
pub fn load(path: &Path, without_secrets: bool) -> Result<Checked, ConfigError> {
    let text = super::read_text(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    check(
        &text,
        path,
        base,
        &|name| std::env::var(name).ok(),
        without_secrets,
    )
}

/// [`load`] over TOML text and an injected environment.
pub fn check(
    text: &str,
    path: &Path,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    without_secrets: bool,
) -> Result<Checked, ConfigError> {
    let file = parse_file(text, path)?;
    let secrets = Secrets::new(env);
    let config = Config::build(parse_file(text, path)?, base, &secrets)?;
    let missing = secrets.into_missing();
    if !without_secrets && !missing.is_empty() {
        return Err(ConfigError::SecretsNotFound(missing));
    }
    let warnings = lint(&file, &config, base, &missing);
    Ok(Checked {
        config,
        file,
        missing,
        warnings,
    })
}

/// Every warning for `file` (validated into `config`; `missing`: the secrets stood in for).
pub fn lint(
    file: &FileConfig,
    config: &Config,
    base: &Path,
    missing: &[MissingSecret],
) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |code, key: String, message: String| {
        out.push(Warning { code, key, message });
    };
    if file.token.keys.is_empty() {
        warn(
            "WARN001",
            "token.keys".into(),
            "no token key: a random one is made at start, so tokens die with the process and \
             differ between instances; configure [[token.keys]] (`sealgate gen-key`) with \
             key_file or key_env"
                .into(),
        );
    }
    if file.gateway_keys.is_empty() {
        warn(
            "WARN002",
            "gateway_keys".into(),
            "no gateway key: random ones are made at start, so clients cannot pin them and \
             they differ between instances; configure [[gateway_keys]] (`sealgate \
             gen-gateway-key`)"
                .into(),
        );
    }
    for (id, client) in &file.clients {
        if client.secret.is_some() {
            warn(
                "WARN003",
                format!("clients.{id}.secret"),
                "a plaintext secret in the file: use secret_hash (`sealgate hash-secret`) or \
                 secret_env"
                    .into(),
            );
        }
    }
    let inline_keys = file
        .token
        .keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.key.is_some())
        .map(|(i, _)| format!("token.keys[{i}].key"))
        .chain(
            file.gateway_keys
                .iter()
                .enumerate()
                .filter(|(_, k)| k.key.is_some())
                .map(|(i, _)| format!("gateway_keys[{i}].key")),
        );
    for key in inline_keys {
        warn(
            "WARN004",
            key,
            "a key written in the file: use key_file (which a reload re-reads, for rotation) \
             or key_env"
                .into(),
        );
    }
    for (id, channel) in &file.channels {
        if channel.kdf == Some(Kdf::Raw) {
            warn(
                "WARN005",
                format!("channels.{id}.kdf"),
                "\"raw\" uses the ECDH output itself as the session key (a curve coordinate, \
                 not a uniform key): for legacy clients only; use \"hkdf-sha256\""
                    .into(),
            );
        }
    }
    if let Some(admin) = &config.admin
        && !admin.listen.ip().is_loopback()
    {
        warn(
            "WARN006",
            "admin.listen".into(),
            format!(
                "the admin listener (metrics, readiness) is on {}, not loopback: keep it off \
                 the public interface",
                admin.listen
            ),
        );
    }
    for id in file.clients.keys() {
        let Some(client) = config.clients.get(id) else {
            continue;
        };
        // argon2 is left out: checking it costs tens of milliseconds a secret.
        let demo = !client.secret.is_slow()
            && DEMO_SECRETS
                .iter()
                .any(|demo| client.secret.verify(demo.as_bytes()));
        if demo {
            warn(
                "WARN007",
                format!("clients.{id}"),
                "the secret is one of the demo configuration's, which anyone can read".into(),
            );
        }
    }
    if file.demo_upstream.is_some() {
        warn(
            "WARN008",
            "demo_upstream".into(),
            "the demo echo upstream is started in-process: for the demo only".into(),
        );
    }
    if config.sessions.backend == StateBackend::Memory
        && config.sessions.replay.accept_tokens_from_before_start
    {
        warn(
            "WARN009",
            "sessions.accept_tokens_from_before_start".into(),
            "tokens issued before a restart are accepted with an empty replay memory: a body \
             accepted before the restart can be replayed after it"
                .into(),
        );
    }
    if let StateBackend::Redis(redis) = &config.sessions.backend {
        if redis.on_unavailable == Unavailable::Degrade {
            warn(
                "WARN010",
                "sessions.redis.on_unavailable".into(),
                "\"degrade\": during a Redis outage, a body replayed to another instance and a \
                 revocation made on another instance go unseen"
                    .into(),
            );
        }
        let placeholder = missing.iter().any(|m| m.key == "sessions.redis.url_env");
        let urls: Vec<(String, &str)> = match &redis.target {
            RedisTarget::Standalone(url) if !placeholder => {
                let key = if file
                    .sessions
                    .redis
                    .as_ref()
                    .is_some_and(|r| r.url.is_some())
                {
                    "sessions.redis.url"
                } else {
                    "sessions.redis.url_env"
                };
                vec![(key.to_owned(), url.as_str())]
            }
            RedisTarget::Standalone(_) => Vec::new(),
            RedisTarget::Cluster(nodes) => nodes
                .iter()
                .enumerate()
                .map(|(i, url)| (format!("sessions.redis.cluster_nodes[{i}]"), url.as_str()))
                .collect(),
        };
        for (key, url) in urls {
            if let Some(host) = plaintext_remote_host(url) {
                warn(
                    "WARN011",
                    key,
                    format!(
                        "plain redis:// to {host}: the Redis password and the session state \
                         cross the network in clear; use rediss://"
                    ),
                );
            }
        }
        if let Some(url) = file.sessions.redis.as_ref().and_then(|r| r.url.as_ref())
            && url.has_credentials()
        {
            warn(
                "WARN012",
                "sessions.redis.url".into(),
                "a Redis password written in the file: use url_env".into(),
            );
        }
    }
    for (i, net) in config.server.trusted_proxies.iter().enumerate() {
        if net.prefix_len() == 0 {
            warn(
                "WARN013",
                format!("server.trusted_proxies[{i}]"),
                format!(
                    "`{net}` trusts every address: any client can write the address the \
                     gateway believes (X-Forwarded-For, the PROXY protocol)"
                ),
            );
        }
    }
    let key_files = file
        .token
        .keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| Some((format!("token.keys[{i}].key_file"), k.key_file.as_ref()?)))
        .chain(file.gateway_keys.iter().enumerate().filter_map(|(i, k)| {
            Some((format!("gateway_keys[{i}].key_file"), k.key_file.as_ref()?))
        }));
    for (key, name) in key_files {
        if let Some(mode) = readable_by_others(&base.join(name)) {
            warn(
                "WARN014",
                key,
                format!(
                    "the key file is readable by everyone (mode {mode:o}): chmod o-r it (0600, or \
                     0640 with a group only the gateway's user is in)"
                ),
            );
        }
    }
    let mtls = config.tls.iter().any(|t| t.client_ca_file.is_some());
    for (id, client) in &file.clients {
        if client.cert_subject.is_some() && !mtls {
            warn(
                "WARN015",
                format!("clients.{id}.cert_subject"),
                "no [[tls]] listener asks for client certificates (client_ca_file), so this \
                 client can never get a token"
                    .into(),
            );
        }
    }
    out.sort_by(|a, b| (a.code, &a.key).cmp(&(b.code, &b.key)));
    out
}

/// The host of a `redis://` URL (no TLS) that is not on this machine.
fn plaintext_remote_host(url: &str) -> Option<String> {
    let parsed = redis::parse_redis_url(url)?;
    if parsed.scheme() != "redis" {
        return None;
    }
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local).then(|| host.to_owned())
}

/// The permission bits of a file everyone may read (None: they may not, or it cannot be read
/// at all, which validation has reported). A group-readable key is a deliberate choice (the
/// Debian package's keys are 0640 root:sealgate, so the service reads what root owns) and
/// is not warned about.
fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        let metadata = std::fs::metadata(path).ok()?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777;
        (mode & 0o004 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64;

    fn codes(text: &str) -> Vec<(&'static str, String)> {
        let env = |name: &str| match name {
            "KEY" => Some(b64::encode(&[1; 32])),
            "DEMO" => Some("TEST123".to_owned()),
            "REDIS" => Some("redis://10.0.0.5:6379".to_owned()),
            _ => None,
        };
        check(text, Path::new("t"), Path::new("."), &env, false)
            .unwrap()
            .warnings
            .into_iter()
            .map(|w| (w.code, w.key))
            .collect()
    }

    /// Token and gateway keys from the environment: no warning of their own.
    const KEYS: &str = "[[token.keys]]\nkid = \"t\"\nkey_env = \"KEY\"\n\
                        [[gateway_keys]]\nkid = \"g\"\nuse = \"sig\"\nkey_env = \"KEY\"\n";

    #[test]
    fn a_production_like_file_has_no_warning() {
        let text = format!(
            "{KEYS}[channels.C]\n[clients.A]\nsecret_hash = \
             \"sha256:3ee0893528997320817be8e5ce4c5f04:7ae1b04c9777d2b9000b7aa7482e8aeeec075d60b1cf9bc2179237ffdfa4882b\"\n\
             channels = [\"C\"]\n"
        );
        assert_eq!(codes(&text), []);
    }

    #[test]
    fn the_demo_configuration_warns_of_its_random_keys_plaintext_and_demo_secrets() {
        let found = codes(include_str!("../../config/gateway.toml"));
        let expected = [
            ("WARN001", "token.keys"),
            ("WARN002", "gateway_keys"),
            ("WARN003", "clients.ABC.secret"),
            ("WARN003", "clients.MOB-APP.secret"),
            ("WARN007", "clients.ABC"),
            ("WARN007", "clients.MOB-APP"),
            ("WARN008", "demo_upstream"),
        ];
        let found: Vec<(&str, &str)> = found.iter().map(|(c, k)| (*c, k.as_str())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn each_unsafe_setting_has_its_code_and_key() {
        let cases = [
            (
                "[[token.keys]]\nkid = \"inline\"\nkey = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"\n",
                "WARN004",
                "token.keys[1].key",
            ),
            (
                "[channels.OLD]\nkdf = \"raw\"\n",
                "WARN005",
                "channels.OLD.kdf",
            ),
            (
                "[admin]\nlisten = \"0.0.0.0:9901\"\n",
                "WARN006",
                "admin.listen",
            ),
            (
                "[channels.C]\n[clients.A]\nsecret_env = \"DEMO\"\nchannels = [\"C\"]\n",
                "WARN007",
                "clients.A",
            ),
            (
                "[sessions]\naccept_tokens_from_before_start = true\n",
                "WARN009",
                "sessions.accept_tokens_from_before_start",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"rediss://h\"\non_unavailable = \"degrade\"\n",
                "WARN010",
                "sessions.redis.on_unavailable",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl_env = \"REDIS\"\n",
                "WARN011",
                "sessions.redis.url_env",
            ),
            (
                "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"rediss://:pw@h\"\n",
                "WARN012",
                "sessions.redis.url",
            ),
            (
                "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\n",
                "WARN013",
                "server.trusted_proxies[1]",
            ),
            (
                "[channels.C]\n[clients.A]\nsecret_env = \"KEY\"\nchannels = [\"C\"]\ncert_subject = \"CN=a\"\n",
                "WARN015",
                "clients.A.cert_subject",
            ),
        ];
        for (text, code, key) in cases {
            let found = codes(&format!("{KEYS}{text}"));
            assert_eq!(found, [(code, key.to_owned())], "{text}");
        }
        // Loopback Redis in clear, and the memory backend's default, are fine.
        let local =
            "[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"redis://127.0.0.1:6379\"\n";
        assert_eq!(codes(&format!("{KEYS}{local}")), []);
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_is_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token.key"), b64::encode(&[1; 32])).unwrap();
        let text = "[[token.keys]]\nkid = \"t\"\nkey_file = \"token.key\"\n\
                    [[gateway_keys]]\nkid = \"g\"\nuse = \"sig\"\nkey_env = \"KEY\"\n";
        let warnings = |mode| {
            std::fs::set_permissions(
                dir.path().join("token.key"),
                std::fs::Permissions::from_mode(mode),
            )
            .unwrap();
            let env = |_: &str| Some(b64::encode(&[2; 32]));
            check(text, Path::new("t"), dir.path(), &env, false)
                .unwrap()
                .warnings
        };
        let open = warnings(0o644);
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].code, open[0].key.as_str()),
            ("WARN014", "token.keys[0].key_file")
        );
        assert!(warnings(0o600).is_empty());
        assert!(warnings(0o640).is_empty(), "group-readable, as packaged");
    }

    #[test]
    fn without_secrets_every_missing_one_is_named_and_the_rest_is_checked() {
        let text = "[[token.keys]]\nkid = \"t\"\nkey_env = \"TOKEN_KEY\"\n\
                    [[gateway_keys]]\nkid = \"g\"\nuse = \"sig\"\nkey_file = \"/nonexistent/gateway.key\"\n\
                    [channels.C]\n[clients.A]\nsecret_env = \"CLIENT_SECRET\"\nchannels = [\"C\"]\n\
                    [sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl_env = \"REDIS_URL\"\n";
        let none = |_: &str| None;
        let checked = check(text, Path::new("t"), Path::new("."), &none, true).unwrap();
        let named: Vec<String> = checked.missing.iter().map(ToString::to_string).collect();
        assert_eq!(
            named,
            [
                "environment variable `REDIS_URL` (`sessions.redis.url_env`)",
                "environment variable `TOKEN_KEY` (`token.keys[0].key_env`)",
                "file /nonexistent/gateway.key (`gateway_keys[0].key_file`)",
                "environment variable `CLIENT_SECRET` (`clients.A.secret_env`)",
            ]
        );
        assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
        // Without the flag the same file fails, naming all four.
        let err = check(text, Path::new("t"), Path::new("."), &none, false)
            .unwrap_err()
            .to_string();
        for name in ["REDIS_URL", "TOKEN_KEY", "gateway.key", "CLIENT_SECRET"] {
            assert!(err.contains(name), "{err}");
        }
        // A real error still fails.
        let broken = format!("{text}[server]\nmax_connections = 0\n");
        let err = check(&broken, Path::new("t"), Path::new("."), &none, true).unwrap_err();
        assert!(err.to_string().contains("server.max_connections"), "{err}");
    }
}

//! `check-config --dump`: the effective configuration as TOML — the file as written with
//! every default filled in by [`defaults::fill`], the same filled
//! file validation reads — with every secret redacted.
//!
//! It is the raw [`FileConfig`] serialized, not a second description of the configuration:
//! secrets are held in [`Secret`] and [`SecretUrl`], whose
//! `Serialize` writes `<redacted>`, so the dump cannot show one whichever section it is in.
//! Environment variable names and file paths are not secret and are shown; values read from
//! the environment or from key files never enter the raw configuration.

use super::*;

/// The effective configuration of `file` as TOML, secrets redacted.
pub fn dump(file: FileConfig) -> Result<String, ConfigError> {
    toml::to_string(&defaults::fill(file)).map_err(|error| ConfigError::Parse {
        path: PathBuf::from("<dump>"),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64;

    /// A file that sets every key of every section (a test below checks that it does), each
    /// string to a value of its own.
    const EVERY_KEY: &str = r#"
[server]
listen = "127.0.0.1:8080"
max_connections = 1
max_in_flight = 1
header_read_timeout_ms = 1
body_read_timeout_ms = 1
shutdown_grace_ms = 1
max_headers = 1
max_header_bytes = 8192
upstream_connect_timeout_ms = 1
forwarded_hosts = ["CANARY-FORWARDED-HOST"]
http2_max_concurrent_streams = 1
http2_keepalive_interval_ms = 1
http2_keepalive_timeout_ms = 1
trusted_proxies = ["CANARY-TRUSTED-PROXY"]
proxy_protocol = false
drain_delay_ms = 1
send_timeout_ms = 1
max_connections_per_address = 1
workers = 1

[token]
path = "/CANARY-TOKEN-PATH"
issuer = "CANARY-ISSUER"
max_body_bytes = 1
sessions = "ticket"
max_sessions = 1
sweep_interval_ms = 1
leeway_secs = 1
max_requests_per_session = 1
authorization_header = "CANARY-AUTHORIZATION-HEADER"
revocation = false
client_id_header = "CANARY-CLIENT-ID-HEADER"
channel_header = "CANARY-CHANNEL-HEADER"
rate_limit_per_client_per_minute = 1
rate_limit_per_address_per_minute = 1
max_concurrent_secret_checks = 1
accept_unbound_sealed_token_requests = false

[token.cors]
allowed_origins = ["CANARY-ORIGIN"]
allowed_methods = ["CANARY-METHOD"]
allowed_headers = ["CANARY-ALLOWED-HEADER"]
exposed_headers = ["CANARY-EXPOSED-HEADER"]
allow_credentials = false
max_age_secs = 1

[[token.keys]]
kid = "CANARY-KID"
key = "SECRET-CANARY-TOKEN-KEY"
key_env = "CANARY_TOKEN_KEY_ENV"
key_file = "CANARY-TOKEN-KEY-FILE"
issue = true

[channels.CANARY-CHANNEL]
kdf = "raw"
token_lifetime_secs = 1
require_request_binding = false
require_sealed_token_request = false

[clients.CANARY-CLIENT]
secret = "SECRET-CANARY-CLIENT-SECRET"
secret_hash = "SECRET-CANARY-CLIENT-HASH"
secret_env = "CANARY_CLIENT_SECRET_ENV"
enabled = true
channels = ["CANARY-CLIENT-CHANNEL"]
cert_subject = "CANARY-CERT-SUBJECT"

[jwt_providers.CANARY-PROVIDER]
issuer = "CANARY-ISSUER"
audiences = ["CANARY-AUDIENCE"]
algorithms = ["ES256"]
jwks_url = "CANARY-JWKS-URL"
jwks_ca_file = "CANARY-JWKS-CA-FILE"
jwks_file = "CANARY-JWKS-FILE"
leeway_secs = 1
refresh_interval_secs = 1
min_refresh_interval_secs = 1
fetch_timeout_ms = 1
max_lifetime_secs = 1
required_claims = ["CANARY-REQUIRED-CLAIM"]

[jwt_providers.CANARY-PROVIDER.claims_to_headers]
CANARY-CLAIM = "CANARY-CLAIM-HEADER"

[[routes]]
prefix = "/CANARY-PREFIX"
jwt_provider = "CANARY-JWT-PROVIDER"
strip_prefix = false
upstreams = ["CANARY-UPSTREAM", { url = "CANARY-WEIGHTED-UPSTREAM", weight = 1 }]
auth = "token"
encrypted_request = true
encrypted_response = true
max_body_bytes = 1
upstream_timeout_ms = 1
sealed_response_headers = ["CANARY-SEALED-RESPONSE-HEADER"]
hosts = ["CANARY-HOST"]
max_in_flight = 1
eject_after_failures = 1
eject_failure_percent = 1
eject_min_requests = 1
max_ejected_percent = 1
ejection_ms = 1
connect_timeout_ms = 1
reuse_after_idle_ms = 1
body_read_timeout_ms = 1
upstream_protocol = "http1"

[routes.retry]
attempts = 1
budget_percent = 1
min_per_window = 1

[routes.websocket]
idle_timeout_ms = 1
max_duration_ms = 1
max_tunnels = 1

[routes.rate_limit]
key = "client"
requests = 1
period_secs = 1
burst = 1
store = "local"
ipv6_prefix = 1

[routes.health_check]
path = "/CANARY-HEALTH-PATH"
interval_ms = 1
timeout_ms = 1
healthy_threshold = 1
unhealthy_threshold = 1

[routes.cors]
allowed_origins = ["CANARY-ROUTE-ORIGIN"]
allowed_methods = ["CANARY-ROUTE-METHOD"]
allowed_headers = ["CANARY-ROUTE-ALLOWED-HEADER"]
exposed_headers = ["CANARY-ROUTE-EXPOSED-HEADER"]
allow_credentials = false
max_age_secs = 1

[demo_upstream]
listen = "127.0.0.1:9000"

[[tls]]
listen = "127.0.0.1:8443"
client_ca_file = "CANARY-CLIENT-CA-FILE"
client_cert = "optional"
handshake_timeout_ms = 1
reload_poll_ms = 1
proxy_protocol = false

[[tls.certificates]]
cert_file = "CANARY-CERT-FILE"
key_file = "CANARY-KEY-FILE"

[upstream_tls]
ca_file = "CANARY-UPSTREAM-CA-FILE"
client_cert_file = "CANARY-UPSTREAM-CERT-FILE"
client_key_file = "CANARY-UPSTREAM-KEY-FILE"

[admin]
enabled = true
listen = "127.0.0.1:9901"
max_connections = 1
header_read_timeout_ms = 1

[[gateway_keys]]
kid = "CANARY-GATEWAY-KID"
use = "sig"
key = "SECRET-CANARY-GATEWAY-KEY"
key_env = "CANARY_GATEWAY_KEY_ENV"
key_file = "CANARY-GATEWAY-KEY-FILE"
issue = true

[sessions]
backend = "redis"
replay_memory_sessions = 1
replay_memory_per_address = 1
replay_memory_per_prefix = 1
accept_tokens_from_before_start = false

[sessions.redis]
url = "redis://user:SECRET-CANARY-REDIS-PASSWORD@CANARY-REDIS-HOST:6379/0"
url_env = "CANARY_REDIS_URL_ENV"
cluster_nodes = ["redis://:SECRET-CANARY-REDIS-NODE-PASSWORD@CANARY-REDIS-NODE:7000"]
key_prefix = "CANARY-KEY-PREFIX"
timeout_ms = 1
connect_timeout_ms = 1
on_unavailable = "degrade"
ca_file = "CANARY-REDIS-CA-FILE"
client_cert_file = "CANARY-REDIS-CERT-FILE"
client_key_file = "CANARY-REDIS-KEY-FILE"

[access_log]
enabled = true
path = "CANARY-ACCESS-LOG-PATH"
format = "json"
queue_lines = 1

[tracing]
otlp_endpoint = "http://user:SECRET-CANARY-OTLP-PASSWORD@CANARY-OTLP-HOST:4318/v1/traces"
service_name = "CANARY-SERVICE-NAME"
sample_ratio = 0.5
follow_client_sampling = true
queue_spans = 1
export_timeout_ms = 1
export_interval_ms = 1
"#;

    /// The string values that are secret: the canary test checks none reaches the dump.
    /// Every other `CANARY-*` value is not secret and must be shown (so that a new string
    /// key is a decision: redacted by its type, or listed here as shown).
    const SECRET_CANARIES: &[&str] = &[
        "SECRET-CANARY-TOKEN-KEY",
        "SECRET-CANARY-CLIENT-SECRET",
        "SECRET-CANARY-CLIENT-HASH",
        "SECRET-CANARY-GATEWAY-KEY",
        "SECRET-CANARY-REDIS-PASSWORD",
        "SECRET-CANARY-REDIS-NODE-PASSWORD",
        "SECRET-CANARY-OTLP-PASSWORD",
    ];

    /// Every table of `value` with its dotted path (array elements as `[0]`).
    fn tables<'a>(path: String, value: &'a toml::Value, out: &mut Vec<(String, &'a toml::Table)>) {
        match value {
            toml::Value::Table(table) => {
                for (key, child) in table {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    tables(child_path, child, out);
                }
                out.push((path, table));
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    tables(format!("{path}[{i}]"), item, out);
                }
            }
            _ => {}
        }
    }

    /// The keys serde expects in the table at `path`, read from the error that an unknown
    /// key there provokes (`deny_unknown_fields`: "unknown field …, expected one of …").
    fn expected_keys(path: &str) -> Option<Vec<String>> {
        let mut document: toml::Value = toml::from_str(EVERY_KEY).unwrap();
        let mut at = &mut document;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (name, index) = match part.split_once('[') {
                Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            at = at.get_mut(name)?;
            if let Some(i) = index {
                at = at.get_mut(i)?;
            }
        }
        at.as_table_mut()?
            .insert("zz_not_a_key".into(), toml::Value::Integer(1));
        let text = toml::to_string(&document).unwrap();
        let message = parse_file(&text, Path::new("t")).err()?.to_string();
        let expected = message
            .split_once("unknown field")?
            .1
            .split_once(", expected")?
            .1;
        Some(
            expected
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect(),
        )
    }

    #[test]
    fn the_canary_file_sets_every_key_of_every_section() {
        let document: toml::Value = toml::from_str(EVERY_KEY).unwrap();
        let mut all = Vec::new();
        tables(String::new(), &document, &mut all);
        let mut checked = 0;
        for (path, table) in all {
            // Maps by id have no fields (their entries are checked), and the untagged
            // `{ url, weight }` of an upstream names none in its error.
            let Some(expected) = expected_keys(&path) else {
                let map = ["channels", "clients", "jwt_providers"].contains(&path.as_str())
                    || path.ends_with(".claims_to_headers");
                assert!(
                    map || path.contains("upstreams"),
                    "no field list for `{path}`"
                );
                continue;
            };
            for key in expected {
                assert!(
                    table.contains_key(&key),
                    "the canary file does not set `{path}.{key}`: add it (with a CANARY value \
                     if it is a string, listed in SECRET_CANARIES if it is secret)"
                );
            }
            checked += 1;
        }
        assert_eq!(checked, 24, "tables checked");
    }

    #[test]
    fn the_dump_shows_every_setting_but_no_secret() {
        let file = parse_file(EVERY_KEY, Path::new("t")).unwrap();
        let printed = dump(file).unwrap();
        for canary in SECRET_CANARIES {
            assert!(!printed.contains(canary), "{canary} in\n{printed}");
        }
        // Every other string is shown as written (URLs with credentials are the secret ones).
        let shown: Vec<&str> = EVERY_KEY
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.contains("CANARY") && !s.contains("SECRET-CANARY"))
            .collect();
        assert!(shown.len() > 40, "{shown:?}");
        for value in shown {
            assert!(printed.contains(value), "{value} not in\n{printed}");
        }
        assert!(printed.contains("redis://<redacted>@CANARY-REDIS-HOST:6379/0"));
        // Debug, too, shows no secret.
        let debug = format!("{:?}", parse_file(EVERY_KEY, Path::new("t")).unwrap());
        for canary in SECRET_CANARIES {
            assert!(!debug.contains(canary), "{canary} in\n{debug}");
        }
    }

    #[test]
    fn the_dump_of_an_empty_file_is_every_default_and_validates_the_same() {
        let printed = dump(FileConfig::default()).unwrap();
        assert!(printed.contains("max_connections = 10000"), "{printed}");
        assert!(printed.contains("backend = \"memory\""), "{printed}");
        let parse =
            |text: &str| Config::parse(text, Path::new("t"), Path::new("."), &|_| None).unwrap();
        // Ephemeral keys print as `<redacted>` and a kid, so the two compare equal.
        assert_eq!(format!("{:?}", parse(&printed)), format!("{:?}", parse("")));
    }

    #[test]
    fn the_dump_validates_to_the_same_configuration_as_the_file() {
        let text = r#"
[token]
revocation = true
[token.cors]
allowed_origins = ["https://app.bank.example"]
[[token.keys]]
kid = "old"
key_env = "TOKEN_KEY"
[[token.keys]]
kid = "new"
key_env = "TOKEN_KEY"
issue = false
[channels.C]
kdf = "concat-kdf"
[clients.A]
secret_env = "CLIENT_SECRET"
channels = ["C"]
[[routes]]
prefix = "/api/"
upstreams = ["http://127.0.0.1:9000", { url = "http://127.0.0.1:9001", weight = 2 }]
[routes.health_check]
[routes.retry]
[routes.cors]
allowed_origins = ["*"]
[[routes]]
prefix = "/plain/"
upstreams = ["http://127.0.0.1:9000"]
auth = "none"
[[tls]]
client_ca_file = "ca.pem"
[[tls.certificates]]
cert_file = "cert.pem"
key_file = "key.pem"
[[gateway_keys]]
kid = "sig"
use = "sig"
key_env = "GATEWAY_KEY"
[sessions]
backend = "redis"
[sessions.redis]
url_env = "REDIS_URL"
"#;
        let env = |name: &str| match name {
            "TOKEN_KEY" => Some(b64::encode(&[1; 32])),
            "GATEWAY_KEY" => Some(b64::encode(&[2; 32])),
            "CLIENT_SECRET" => Some("s".to_owned()),
            "REDIS_URL" => Some("redis://:pw@10.0.0.5:6379/0".to_owned()),
            _ => None,
        };
        let parse = |text: &str| Config::parse(text, Path::new("t"), Path::new("."), &env).unwrap();
        let printed = dump(parse_file(text, Path::new("t")).unwrap()).unwrap();
        assert!(!printed.contains("pw"), "{printed}");
        assert!(printed.contains("client_cert = \"required\""), "{printed}");
        assert_eq!(
            format!("{:?}", parse(&printed)),
            format!("{:?}", parse(text))
        );
    }

    /// The key rows of `docs/configuration.md`: `(table, key, default cell)`. Each table is
    /// a heading holding its TOML header in backticks (``### `[[routes]]` ``; a heading may
    /// name several tables that take the same keys), each key a row ``| `key` | default |``.
    fn documented_rows() -> Vec<(String, String, String)> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let text = std::fs::read_to_string(path).unwrap();
        let mut rows = Vec::new();
        let mut current: Vec<String> = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                current = line
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|header| header.starts_with('['))
                    .map(|header| header.trim_matches(['[', ']']).to_owned())
                    .collect();
                // A heading with no rows still names its table.
                rows.extend(
                    current
                        .iter()
                        .map(|t| (t.clone(), String::new(), String::new())),
                );
            } else if line.starts_with("| `") {
                let cells: Vec<&str> = line.split(" | ").collect();
                let key = cells[0].trim_start_matches("| ").trim_matches('`');
                for table in &current {
                    rows.push((table.clone(), key.to_owned(), cells[1].to_owned()));
                }
            }
        }
        rows
    }

    /// The keys `docs/configuration.md` documents, by table.
    fn documented_keys() -> std::collections::BTreeMap<String, Vec<String>> {
        let mut tables = std::collections::BTreeMap::new();
        for (table, key, _) in documented_rows() {
            let keys: &mut Vec<String> = tables.entry(table).or_default();
            if !key.is_empty() {
                keys.push(key);
            }
        }
        tables
    }

    #[test]
    fn the_configuration_page_documents_every_key_and_no_other() {
        let documented = documented_keys();
        let document: toml::Value = toml::from_str(EVERY_KEY).unwrap();
        let mut all = Vec::new();
        tables(String::new(), &document, &mut all);
        let mut expected_tables = std::collections::BTreeSet::new();
        for (path, _) in all {
            let Some(keys) = expected_keys(&path) else {
                continue;
            };
            if path.is_empty() {
                continue;
            }
            let table = doc_table(&path);
            let Some(rows) = documented.get(&table) else {
                panic!("docs/configuration.md has no heading for `[{table}]`");
            };
            for key in &keys {
                // A sub-table (`routes.retry`) is documented under its own heading.
                let sub_table = documented.contains_key(&format!("{table}.{key}"));
                assert!(
                    rows.contains(key) || sub_table,
                    "docs/configuration.md does not document `{table}.{key}`"
                );
            }
            for row in rows {
                assert!(
                    keys.contains(row),
                    "docs/configuration.md documents `{table}.{row}`, which is not a key"
                );
            }
            expected_tables.insert(table);
        }
        for table in documented.keys() {
            // A table written only as a heading with no keys of its own is fine if the code
            // has it; one the code does not have is stale.
            assert!(
                expected_tables.contains(table),
                "docs/configuration.md documents `[{table}]`, which is not a table"
            );
        }
        assert!(expected_tables.len() >= 20, "{expected_tables:?}");
    }

    /// `routes[0].retry` → `routes.retry`; a named channel or client → `<name>`: the table
    /// as `docs/configuration.md` heads it.
    fn doc_table(path: &str) -> String {
        let mut table = String::new();
        for (i, part) in path.split('.').enumerate() {
            let part = part.split('[').next().unwrap_or(part);
            let named =
                i == 1 && (table == "channels" || table == "clients" || table == "jwt_providers");
            if i > 0 {
                table.push('.');
            }
            table.push_str(if named { "<name>" } else { part });
        }
        table
    }

    /// Every table of the page with its required keys only: filled and dumped, it is the
    /// default of every other key.
    const SKELETON: &str = r#"
[token.cors]
allowed_origins = ["https://app.example"]
[[token.keys]]
kid = "k"
key_env = "K"
[[gateway_keys]]
kid = "g"
use = "sig"
key_env = "G"
[channels.C]
[clients.A]
secret_env = "S"
channels = ["C"]
[[routes]]
prefix = "/api/"
upstreams = ["http://127.0.0.1:9"]
[routes.retry]
[routes.health_check]
[routes.cors]
allowed_origins = ["https://app.example"]
[[tls]]
client_ca_file = "ca.pem"
[[tls.certificates]]
cert_file = "c.pem"
key_file = "k.pem"
[sessions]
backend = "redis"
[sessions.redis]
url_env = "R"
[tracing]
otlp_endpoint = "http://127.0.0.1:4318/v1/traces"
[demo_upstream]
"#;

    #[test]
    fn the_configuration_page_gives_the_defaults_the_dump_fills_in() {
        let given: toml::Value = toml::from_str(SKELETON).unwrap();
        let filled: toml::Value =
            toml::from_str(&dump(parse_file(SKELETON, Path::new("t")).unwrap()).unwrap()).unwrap();
        let documented: std::collections::BTreeMap<(String, String), String> = documented_rows()
            .into_iter()
            .map(|(table, key, default)| ((table, key), default))
            .collect();
        let mut all = Vec::new();
        tables(String::new(), &filled, &mut all);
        let mut compared = 0;
        let mut wrong = Vec::new();
        for (path, table) in all {
            let given_here = |key: &str| {
                let mut at = Some(&given);
                for part in path.split('.').filter(|p| !p.is_empty()) {
                    let (name, index) = match part.split_once('[') {
                        Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                        None => (part, None),
                    };
                    at = at.and_then(|v| v.get(name));
                    if let Some(i) = index {
                        at = at.and_then(|v| v.get(i));
                    }
                }
                at.and_then(|v| v.get(key)).is_some()
            };
            for (key, value) in table {
                let is_table = value.is_table()
                    || value
                        .as_array()
                        .is_some_and(|a| a.first().is_some_and(toml::Value::is_table));
                if is_table || given_here(key) || path.is_empty() {
                    continue;
                }
                let Some(cell) = documented.get(&(doc_table(&path), key.clone())) else {
                    continue; // the keys test names what is missing
                };
                let text = value.to_string();
                compared += 1;
                if !cell.contains(&text) {
                    wrong.push(format!(
                        "`{}.{key}`: the dump fills in {text}, the page says {cell}",
                        doc_table(&path)
                    ));
                }
            }
        }
        assert!(compared > 80, "only {compared} defaults compared");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

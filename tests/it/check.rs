//! `sealgate check-config`, run as a platform team's CI would: the real binary on files in a
//! temporary folder. Certificates and keys are loaded as at start, unsafe settings warn
//! (and fail under `--strict`), `--without-secrets` names every missing secret, and
//! `--dump` shows the effective configuration without a secret.

use std::path::Path;
use std::process::Output;

use sealgate::jose::b64;

/// The variables the files below name; removed from the child's environment unless given.
const VARIABLES: [&str; 4] = [
    "CHECK_TOKEN_KEY",
    "CHECK_GATEWAY_KEY",
    "CHECK_CLIENT_SECRET",
    "CHECK_REDIS_URL",
];

/// `sealgate --config <path> <args>`, logging at `info`, the environment's
/// `SEALGATE_CONFIG` removed.
fn sealgate(path: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"));
    command
        .arg("--config")
        .arg(path)
        .args(args)
        .env_remove("SEALGATE_CONFIG")
        .env("SEALGATE_LOG", "info");
    command
}

/// Runs `sealgate --config <dir>/gateway.toml check-config <args>` with only `env` of
/// [`VARIABLES`] set.
fn check(dir: &Path, text: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let mut command = sealgate(&path, &[&["check-config"], args].concat());
    for name in VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes a self-signed certificate and its key as `<stem>.pem` and `<stem>-key.pem`.
fn self_signed(dir: &Path, stem: &str) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join(format!("{stem}.pem")), certified.cert.pem()).unwrap();
    let key = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Production-like keys from the environment, and a client secret hash: no warning.
const SAFE: &str = r#"
[[token.keys]]
kid = "t1"
key_env = "CHECK_TOKEN_KEY"
[[gateway_keys]]
kid = "g1"
use = "sig"
key_env = "CHECK_GATEWAY_KEY"
[channels.C]
[clients.A]
secret_env = "CHECK_CLIENT_SECRET"
channels = ["C"]
"#;

fn safe_env() -> Vec<(&'static str, String)> {
    vec![
        ("CHECK_TOKEN_KEY", b64::encode(&[1; 32])),
        ("CHECK_GATEWAY_KEY", b64::encode(&[2; 32])),
        ("CHECK_CLIENT_SECRET", "a long random secret".to_owned()),
    ]
}

#[test]
fn a_listener_certificate_that_is_missing_or_does_not_match_its_key_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), "a");
    self_signed(dir.path(), "b");
    let listener = |cert: &str, key: &str| {
        format!(
            "{SAFE}[[tls]]\nlisten = \"127.0.0.1:0\"\n[[tls.certificates]]\n\
             cert_file = \"{cert}\"\nkey_file = \"{key}\"\n"
        )
    };
    let good = check(
        dir.path(),
        &listener("a.pem", "a-key.pem"),
        &[],
        &safe_env(),
    );
    assert!(good.status.success(), "{}", stderr(&good));

    let mismatched = check(
        dir.path(),
        &listener("a.pem", "b-key.pem"),
        &[],
        &safe_env(),
    );
    assert_eq!(mismatched.status.code(), Some(1));
    let text = stderr(&mismatched);
    assert!(
        text.contains("tls[0]") && text.contains("b-key.pem") && text.contains("does not match"),
        "{text}"
    );

    let missing = check(
        dir.path(),
        &listener("nope.pem", "a-key.pem"),
        &[],
        &safe_env(),
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("nope.pem"),
        "{}",
        stderr(&missing)
    );

    // Not a PEM at all, as the mTLS client CA.
    std::fs::write(dir.path().join("garbage.pem"), "not a certificate").unwrap();
    let mtls = format!(
        "{SAFE}[[tls]]\nlisten = \"127.0.0.1:0\"\nclient_ca_file = \"garbage.pem\"\n\
         [[tls.certificates]]\ncert_file = \"a.pem\"\nkey_file = \"a-key.pem\"\n"
    );
    let bad_ca = check(dir.path(), &mtls, &[], &safe_env());
    assert_eq!(bad_ca.status.code(), Some(1), "{}", stderr(&bad_ca));
    assert!(
        stderr(&bad_ca).contains("garbage.pem"),
        "{}",
        stderr(&bad_ca)
    );
}

#[test]
fn upstream_and_redis_client_certificates_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), "a");
    self_signed(dir.path(), "b");
    let upstream = format!(
        "{SAFE}[upstream_tls]\nclient_cert_file = \"a.pem\"\nclient_key_file = \"b-key.pem\"\n"
    );
    let output = check(dir.path(), &upstream, &[], &safe_env());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("upstream_tls"),
        "{}",
        stderr(&output)
    );

    let redis = |key: &str| {
        format!(
            "{SAFE}[sessions]\nbackend = \"redis\"\n[sessions.redis]\n\
             url = \"rediss://127.0.0.1:6380/0\"\nca_file = \"a.pem\"\n\
             client_cert_file = \"a.pem\"\nclient_key_file = \"{key}\"\n"
        )
    };
    let good = check(dir.path(), &redis("a-key.pem"), &[], &safe_env());
    assert!(good.status.success(), "{}", stderr(&good));
    let bad = check(dir.path(), &redis("b-key.pem"), &[], &safe_env());
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("sessions.redis") && stderr(&bad).contains("b-key.pem"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn unsafe_settings_warn_with_their_codes_and_strict_fails_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[admin]
listen = "0.0.0.0:0"
[channels.LEGACY]
kdf = "raw"
[clients.A]
secret = "CANARY-PLAINTEXT-SECRET"
channels = ["LEGACY"]
[sessions]
accept_tokens_from_before_start = true
"#;
    let output = check(dir.path(), text, &[], &[]);
    let report = stderr(&output);
    assert!(output.status.success(), "{report}");
    for line in [
        "WARN001 `token.keys`",
        "WARN002 `gateway_keys`",
        "WARN003 `clients.A.secret`",
        "WARN005 `channels.LEGACY.kdf`",
        "WARN006 `admin.listen`",
        "WARN009 `sessions.accept_tokens_from_before_start`",
    ] {
        assert!(report.contains(line), "{line} not in\n{report}");
    }
    assert!(!report.contains("CANARY-PLAINTEXT-SECRET"), "{report}");

    let strict = check(dir.path(), text, &["--strict"], &[]);
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    // A file without warnings passes --strict.
    let safe = check(dir.path(), SAFE, &["--strict"], &safe_env());
    assert!(safe.status.success(), "{}", stderr(&safe));
    assert!(!stderr(&safe).contains("WARN"), "{}", stderr(&safe));
}

#[test]
fn without_secrets_every_missing_variable_is_listed_and_the_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{SAFE}[sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl_env = \"CHECK_REDIS_URL\"\n"
    );
    let strict = check(dir.path(), &text, &[], &[]);
    assert_eq!(strict.status.code(), Some(1));
    let ci = check(dir.path(), &text, &["--without-secrets", "--strict"], &[]);
    let report = stderr(&ci);
    assert!(ci.status.success(), "{report}");
    for (source, name) in [
        (&strict, "all of them in the error"),
        (&ci, "each on its own line"),
    ] {
        for variable in VARIABLES {
            assert!(
                stderr(source).contains(&format!("`{variable}`")),
                "{name}: {variable} not in\n{}",
                stderr(source)
            );
        }
    }
    assert_eq!(
        report.matches("missing: environment variable").count(),
        4,
        "{report}"
    );
    // A real error still fails in this mode.
    let broken = format!("{text}[server]\nmax_in_flight = 0\n");
    let output = check(dir.path(), &broken, &["--without-secrets"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("server.max_in_flight"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_dump_is_the_effective_configuration_with_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[[token.keys]]
kid = "inline"
key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
[[gateway_keys]]
kid = "g1"
use = "sig"
key_env = "CHECK_GATEWAY_KEY"
[channels.C]
[clients.A]
secret = "CANARY-CLIENT-SECRET"
channels = ["C"]
[clients.B]
secret_hash = "sha256:3ee0893528997320817be8e5ce4c5f04:7ae1b04c9777d2b9000b7aa7482e8aeeec075d60b1cf9bc2179237ffdfa4882b"
channels = ["C"]
[clients.E]
secret_env = "CHECK_CLIENT_SECRET"
channels = ["C"]
[sessions]
backend = "redis"
[sessions.redis]
url = "redis://:CANARY-REDIS-PASSWORD@127.0.0.1:6379/0"
"#;
    let env = vec![
        ("CHECK_GATEWAY_KEY", b64::encode(&[2; 32])),
        ("CHECK_CLIENT_SECRET", "CANARY-ENV-SECRET".to_owned()),
    ];
    let output = check(dir.path(), text, &["--dump"], &env);
    assert!(output.status.success(), "{}", stderr(&output));
    let dump = String::from_utf8(output.stdout.clone()).unwrap();
    let all = format!("{dump}{}", stderr(&output));
    for secret in [
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
        "CANARY-CLIENT-SECRET",
        "7ae1b04c9777d2b9000b7aa7482e8aeeec075d60b1cf9bc2179237ffdfa4882b",
        "CANARY-REDIS-PASSWORD",
        "CANARY-ENV-SECRET",
        &b64::encode(&[2; 32]),
    ] {
        assert!(!all.contains(secret), "{secret} in\n{all}");
    }
    let parsed: toml::Value = toml::from_str(&dump).unwrap();
    assert_eq!(
        parsed["token"]["keys"][0]["key"].as_str(),
        Some("<redacted>")
    );
    assert_eq!(parsed["token"]["keys"][0]["issue"].as_bool(), Some(true));
    assert_eq!(
        parsed["clients"]["A"]["secret"].as_str(),
        Some("<redacted>")
    );
    assert_eq!(
        parsed["clients"]["B"]["secret_hash"].as_str(),
        Some("<redacted>")
    );
    // Variable names and defaults are shown.
    assert_eq!(
        parsed["clients"]["E"]["secret_env"].as_str(),
        Some("CHECK_CLIENT_SECRET")
    );
    assert_eq!(
        parsed["sessions"]["redis"]["url"].as_str(),
        Some("redis://<redacted>@127.0.0.1:6379/0")
    );
    assert_eq!(
        parsed["server"]["max_connections"].as_integer(),
        Some(10_000)
    );
    assert_eq!(parsed["channels"]["C"]["kdf"].as_str(), Some("hkdf-sha256"));
    assert_eq!(
        parsed["sessions"]["redis"]["timeout_ms"].as_integer(),
        Some(100)
    );
}

/// Runs the binary's `check-config --without-secrets` on a file of the repository, with
/// none of the production variables set.
fn check_shipped(file: &str) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut command = sealgate(&path, &["check-config", "--without-secrets"]);
    // Every variable either file names, so none leaks in from the machine running CI.
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("SEALGATE_") {
            command.env_remove(word);
        }
    }
    command.output().unwrap()
}

/// The missing environment variables a `--without-secrets` report names, each with the
/// key that names it: `(variable, key)`.
fn missing_variables(report: &str) -> Vec<(String, String)> {
    report
        .lines()
        .filter_map(|line| line.strip_prefix("missing: environment variable `"))
        .filter_map(|rest| {
            let (name, rest) = rest.split_once("` (`")?;
            Some((name.to_owned(), rest.trim_end_matches("`)").to_owned()))
        })
        .collect()
}

#[test]
fn the_reference_and_the_packaged_files_pass_without_secrets_and_name_the_same_variables() {
    let example = check_shipped("config/gateway.example.toml");
    let packaged = check_shipped("config/debian/gateway.toml");
    for (name, output) in [("example", &example), ("packaged", &packaged)] {
        assert!(output.status.success(), "{name}: {}", stderr(output));
        assert!(
            stderr(output).contains("configuration is valid"),
            "{name}: {}",
            stderr(output)
        );
    }
    // The example's TLS listener names a key this machine does not have: listed, not failed.
    assert!(
        stderr(&example).contains("missing: file") && stderr(&example).contains("key_file`)"),
        "{}",
        stderr(&example)
    );
    // An operator moving from one file to the other keeps the same variables: the same
    // names for the keys, and SEALGATE_SECRET_<apiKey> for each client's secret.
    let keys = |report: &str| -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for (name, key) in missing_variables(report) {
            match key.strip_prefix("clients.") {
                Some(client) => {
                    let client = client.trim_end_matches(".secret_env");
                    let expected = format!(
                        "SEALGATE_SECRET_{}",
                        client.to_uppercase().replace('-', "_")
                    );
                    assert_eq!(name, expected, "the secret of client {client}");
                }
                None => {
                    names.insert(name);
                }
            }
        }
        names
    };
    let (example, packaged) = (keys(&stderr(&example)), keys(&stderr(&packaged)));
    assert_eq!(
        example,
        [
            "SEALGATE_GATEWAY_ENC_KEY",
            "SEALGATE_GATEWAY_SIG_KEY",
            "SEALGATE_TOKEN_KEY"
        ]
        .map(str::to_owned)
        .into(),
    );
    assert_eq!(example, packaged);
}

#[test]
fn a_tls_key_that_is_present_is_still_loaded_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), "a");
    self_signed(dir.path(), "b");
    let text = format!(
        "{SAFE}[[tls]]\nlisten = \"127.0.0.1:0\"\n[[tls.certificates]]\n\
         cert_file = \"a.pem\"\nkey_file = \"b-key.pem\"\n"
    );
    let output = check(dir.path(), &text, &["--without-secrets"], &safe_env());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("tls[0]") && stderr(&output).contains("does not match"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_port_clash_names_the_listener_that_could_not_bind() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let clash = taken.local_addr().unwrap();
    for (section, listener) in [
        (
            format!("[server]\nlisten = \"{clash}\"\n"),
            "public listener (`server.listen`)",
        ),
        (
            format!("[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"{clash}\"\n"),
            "admin listener (`admin.listen`)",
        ),
    ] {
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, format!("{section}{SAFE}")).unwrap();
        let mut command = sealgate(&path, &[]);
        for (name, value) in safe_env() {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains(&format!("cannot bind the {listener} on {clash}")),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn without_secrets_an_absent_private_key_hides_nothing_else_of_its_tls() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), "a");
    self_signed(dir.path(), "b");
    std::fs::write(dir.path().join("garbage.pem"), "not a certificate").unwrap();
    let listener = |extra: &str, cert: &str, key: &str| {
        format!(
            "[[tls]]\nlisten = \"127.0.0.1:0\"\n{extra}[[tls.certificates]]\n\
             cert_file = \"{cert}\"\nkey_file = \"{key}\"\n"
        )
    };
    let run = |text: String| check(dir.path(), &text, &["--without-secrets"], &safe_env());

    // The key is not here: listed, and the listener's client CA is still read.
    let bad_ca = run(format!(
        "{SAFE}{}",
        listener(
            "client_ca_file = \"garbage.pem\"\n",
            "a.pem",
            "absent-key.pem"
        )
    ));
    assert_eq!(bad_ca.status.code(), Some(1), "{}", stderr(&bad_ca));
    let text = stderr(&bad_ca);
    assert!(
        text.contains("missing: file") && text.contains("absent-key.pem"),
        "{text}"
    );
    assert!(
        text.contains("tls[0]") && text.contains("garbage.pem"),
        "{text}"
    );

    // ... and its certificate file, when it is here: it must be one.
    let bad_cert = run(format!(
        "{SAFE}{}",
        listener("", "garbage.pem", "absent-key.pem")
    ));
    assert_eq!(bad_cert.status.code(), Some(1), "{}", stderr(&bad_cert));
    assert!(
        stderr(&bad_cert).contains("config key `tls[0].certificates[0].cert_file`")
            && stderr(&bad_cert).contains("garbage.pem"),
        "{}",
        stderr(&bad_cert)
    );
    // A certificate deployed with its absent key, absent too: both listed.
    let both = run(format!(
        "{SAFE}{}",
        listener("", "absent.pem", "absent-key.pem")
    ));
    assert!(both.status.success(), "{}", stderr(&both));
    assert!(
        stderr(&both).contains("(`tls[0].certificates[0].cert_file`)"),
        "{}",
        stderr(&both)
    );

    // A listener set aside does not renumber the next: its error names tls[1].
    let second = run(format!(
        "{SAFE}{}{}",
        listener("", "a.pem", "absent-key.pem"),
        listener("", "a.pem", "b-key.pem")
    ));
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("`tls[1]`") && stderr(&second).contains("does not match"),
        "{}",
        stderr(&second)
    );

    // Upstream and Redis client keys that are not here are listed too, not failed.
    let clients = run(format!(
        "{SAFE}[upstream_tls]\nclient_cert_file = \"a.pem\"\nclient_key_file = \"absent-1.pem\"\n\
         [sessions]\nbackend = \"redis\"\n[sessions.redis]\nurl = \"rediss://127.0.0.1:6380/0\"\n\
         client_cert_file = \"a.pem\"\nclient_key_file = \"absent-2.pem\"\n"
    ));
    assert!(clients.status.success(), "{}", stderr(&clients));
    for key in [
        "upstream_tls.client.key_file",
        "sessions.redis.client.key_file",
    ] {
        assert!(
            stderr(&clients).contains(key),
            "{key}: {}",
            stderr(&clients)
        );
    }
}

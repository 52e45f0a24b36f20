//! The reload operators use: the real binary, its configuration file, and SIGHUP.

use std::net::SocketAddr;
use std::path::Path;

use http::StatusCode;
use sealgate::crypto::kdf::Kdf;
use sealgate::testkit::*;

use crate::process::Binary;

/// A configuration file for the binary: `/plain/` to `plain`, `/api/` (token, sealed) to
/// `api`, one channel, the clients given as `(apiKey, secret)`, a token key read from
/// `token.key` beside the file.
fn config_text(dir: &Path, plain: SocketAddr, api: SocketAddr, clients: &[(&str, &str)]) -> String {
    let mut text = format!(
        r#"
[server]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[access_log]
enabled = false

[token]
path = "{TOKEN_PATH}"
sessions = "ticket"

[[token.keys]]
kid = "k1"
key_file = "{key}"

[channels."MOB-APP-2001"]
kdf = "hkdf-sha256"

[[routes]]
prefix = "/plain/"
upstreams = ["http://{plain}"]
auth = "none"

[[routes]]
prefix = "/api/"
upstreams = ["http://{api}"]
auth = "token"
"#,
        key = dir.join("token.key").display()
    );
    for (api_key, secret) in clients {
        text.push_str(&format!(
            "\n[clients.\"{api_key}\"]\nsecret = \"{secret}\"\nchannels = [\"MOB-APP-2001\"]\n"
        ));
    }
    text
}

fn write_key(dir: &Path, key: &[u8; 32]) {
    let path = dir.join("token.key");
    std::fs::write(&path, sealgate::jose::b64::encode(key)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn paths(upstream: &TestUpstream) -> Vec<String> {
    upstream
        .requests()
        .iter()
        .map(|r| r.uri.path().to_owned())
        .collect()
}

#[tokio::test]
async fn sighup_rereads_the_file_and_a_broken_file_keeps_the_running_configuration() {
    let (first, second) = (
        spawn_upstream(Behaviour::Echo).await,
        spawn_upstream(Behaviour::Echo).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    write_key(dir.path(), &[1; 32]);
    let clients = [("MOB-APP", "TEST123")];
    std::fs::write(
        &file,
        config_text(dir.path(), first.addr, first.addr, &clients),
    )
    .unwrap();
    let gateway = Binary::start(&file).await;
    assert_eq!(
        post(&gateway.url("/plain/one"), &[], "").await.status,
        StatusCode::OK
    );
    assert_eq!(paths(&first), ["/plain/one"]);

    // The file changes: /plain/ moves to the second upstream and a client is added.
    let clients = [("MOB-APP", "TEST123"), ("NEW", "new-secret")];
    std::fs::write(
        &file,
        config_text(dir.path(), second.addr, first.addr, &clients),
    )
    .unwrap();
    gateway.signal("HUP");
    gateway.reloads("ok", 1.0).await;
    assert_eq!(
        post(&gateway.url("/plain/two"), &[], "").await.status,
        StatusCode::OK
    );
    assert_eq!(paths(&second), ["/plain/two"]);
    handshake_at(
        &gateway.url(""),
        "MOB-APP-2001",
        "NEW",
        "new-secret",
        Kdf::HkdfSha256,
    )
    .await;

    // A broken file is refused, said in the log, and the running configuration kept.
    std::fs::write(&file, "[server\nlisten = ").unwrap();
    gateway.signal("HUP");
    gateway.reloads("refused", 1.0).await;
    assert!(gateway.logged("configuration reload refused; keeping the running configuration"));
    assert_eq!(
        post(&gateway.url("/plain/three"), &[], "").await.status,
        StatusCode::OK
    );
    assert_eq!(paths(&second), ["/plain/two", "/plain/three"]);
    handshake_at(
        &gateway.url(""),
        "MOB-APP-2001",
        "NEW",
        "new-secret",
        Kdf::HkdfSha256,
    )
    .await;
    assert_eq!(
        gateway
            .metric("sealgate_config_reloads_total{outcome=\"ok\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn sighup_rereads_a_token_key_file() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    write_key(dir.path(), &[1; 32]);
    let clients = [("MOB-APP", "TEST123")];
    std::fs::write(
        &file,
        config_text(dir.path(), upstream.addr, upstream.addr, &clients),
    )
    .unwrap();
    let gateway = Binary::start(&file).await;
    let sealed_call = async |s: &ClientSession| {
        post(
            &gateway.url("/api/x"),
            &[
                ("authorization", &format!("Bearer {}", s.token)),
                ("content-type", "application/jose"),
            ],
            seal(s, b"{}", None),
        )
        .await
    };
    let before = handshake_at(
        &gateway.url(""),
        "MOB-APP-2001",
        "MOB-APP",
        "TEST123",
        Kdf::HkdfSha256,
    )
    .await;
    assert_eq!(sealed_call(&before).await.status, StatusCode::OK);

    // The key file is replaced (the same kid, a new key: a compromised key withdrawn), the
    // configuration file is not.
    write_key(dir.path(), &[2; 32]);
    gateway.signal("HUP");
    gateway.reloads("ok", 1.0).await;
    let refused = sealed_call(&before).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.codes()
    );
    let after = handshake_at(
        &gateway.url(""),
        "MOB-APP-2001",
        "MOB-APP",
        "TEST123",
        Kdf::HkdfSha256,
    )
    .await;
    assert_eq!(sealed_call(&after).await.status, StatusCode::OK);
}

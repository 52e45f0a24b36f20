//! The reload operators use: the real binary, its configuration file, and SIGHUP.

use std::net::SocketAddr;
use std::path::Path;

use http::StatusCode;
use sealgate::crypto::kdf::Kdf;
use sealgate_testkit::*;

use crate::process::Binary;

/// A configuration file for the binary: `/plain/` to `plain`, `/api/` (token, sealed) to
/// `api`, one channel, the clients given as `(apiKey, secret)`, a token key read from
/// `token.key` beside the file.
pub(crate) fn config_text(
    dir: &Path,
    plain: SocketAddr,
    api: SocketAddr,
    clients: &[(&str, &str)],
) -> String {
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

/// The files a test gateway reads: its configuration and the token key beside it.
pub(crate) struct Files(tempfile::TempDir);

impl Files {
    /// A folder with the token key `key`, and no configuration yet.
    pub(crate) fn new(key: &[u8; 32]) -> Files {
        let files = Files(tempfile::tempdir().unwrap());
        files.write_key(key);
        files
    }

    pub(crate) fn config(&self) -> std::path::PathBuf {
        self.0.path().join("gateway.toml")
    }

    /// Writes the configuration of [`config_text`].
    pub(crate) fn write_config(
        &self,
        plain: SocketAddr,
        api: SocketAddr,
        clients: &[(&str, &str)],
    ) {
        let text = config_text(self.0.path(), plain, api, clients);
        std::fs::write(self.config(), text).unwrap();
    }

    fn write_key(&self, key: &[u8; 32]) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.path().join("token.key");
        std::fs::write(&path, sealgate::jose::b64::encode(key)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// A token from `gateway` for the client `api_key` on the configuration's one channel.
async fn token(gateway: &Binary, api_key: &str, secret: &str) -> ClientSession {
    handshake_at(
        &gateway.url(""),
        "MOB-APP-2001",
        api_key,
        secret,
        Kdf::HkdfSha256,
    )
    .await
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
    let files = Files::new(&[1; 32]);
    files.write_config(first.addr, first.addr, &[("MOB-APP", "TEST123")]);
    let gateway = Binary::start(&files.config()).await;
    assert_eq!(
        post(&gateway.url("/plain/one"), &[], "").await.status,
        StatusCode::OK
    );
    assert_eq!(paths(&first), ["/plain/one"]);

    // The file changes: /plain/ moves to the second upstream and a client is added.
    let clients = [("MOB-APP", "TEST123"), ("NEW", "new-secret")];
    files.write_config(second.addr, first.addr, &clients);
    gateway.signal("HUP");
    gateway.reloads("ok", 1.0).await;
    assert_eq!(
        post(&gateway.url("/plain/two"), &[], "").await.status,
        StatusCode::OK
    );
    assert_eq!(paths(&second), ["/plain/two"]);
    token(&gateway, "NEW", "new-secret").await;

    // A broken file is refused, said in the log, and the running configuration kept.
    std::fs::write(files.config(), "[server\nlisten = ").unwrap();
    gateway.signal("HUP");
    gateway.reloads("refused", 1.0).await;
    assert!(gateway.logged("configuration reload refused; keeping the running configuration"));
    assert_eq!(
        post(&gateway.url("/plain/three"), &[], "").await.status,
        StatusCode::OK
    );
    assert_eq!(paths(&second), ["/plain/two", "/plain/three"]);
    token(&gateway, "NEW", "new-secret").await;
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
    let files = Files::new(&[1; 32]);
    files.write_config(upstream.addr, upstream.addr, &[("MOB-APP", "TEST123")]);
    let gateway = Binary::start(&files.config()).await;
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
    let before = token(&gateway, "MOB-APP", "TEST123").await;
    assert_eq!(sealed_call(&before).await.status, StatusCode::OK);

    // The key file is replaced (the same kid, a new key: a compromised key withdrawn), the
    // configuration file is not.
    files.write_key(&[2; 32]);
    gateway.signal("HUP");
    gateway.reloads("ok", 1.0).await;
    let refused = sealed_call(&before).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.codes()
    );
    let after = token(&gateway, "MOB-APP", "TEST123").await;
    assert_eq!(sealed_call(&after).await.status, StatusCode::OK);
}

//! Spawning the gateway and a recording upstream on port 0, and a client that speaks the
//! wire contract (key pair, token request, session key, sealed bodies).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sealgate::config::Config;
use sealgate::crypto::Key32;
use sealgate::crypto::ecdh::EphemeralKeyPair;
use sealgate::crypto::kdf::Kdf;
use sealgate::gateway::Gateway;
use sealgate::jose::{b64, jwe, jwk};
use sealgate::server::Server;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The token key the test configuration uses (so tests can open tokens themselves).
pub const TOKEN_KEY: [u8; 32] = [0x5a; 32];
pub const TOKEN_PATH: &str = "/token-service/new/v2/token";

/// A configuration exercising every feature; `{upstream}` is replaced by the recording
/// upstream's address and `{extra}` by test-specific TOML.
pub fn test_config(upstream: SocketAddr, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
body_read_timeout_ms = 2000
shutdown_grace_ms = 5000

[admin]
listen = "127.0.0.1:0"

[token]
max_requests_per_session = 1000
revocation = true

[[token.keys]]
kid = "test-1"
key = "{key}"

[channels."MOB-APP-2001"]

[channels.CH-HKDF]
kdf = "hkdf-sha256"

[channels.CH-CONCAT]
kdf = "concat-kdf"

[channels.CH-RAW]
kdf = "raw"

[channels.CH-SHORT]
token_lifetime_secs = 1

[clients."MOB-APP"]
secret = "TEST123"
channels = ["MOB-APP-2001", "CH-HKDF", "CH-CONCAT", "CH-RAW", "CH-SHORT"]

[clients.ABC]
secret = "BankeZy123"
channels = ["MOB-APP-2001"]

[clients.DISABLED]
secret = "pw"
enabled = false
channels = ["MOB-APP-2001"]

[clients.RAW-ONLY]
secret = "pw"
channels = ["CH-RAW"]

[[routes]]
prefix = "/api/"
upstreams = ["http://{upstream}"]
auth = "token"

[[routes]]
prefix = "/api/small/"
upstreams = ["http://{upstream}"]
max_body_bytes = 512

[[routes]]
prefix = "/plain/"
upstreams = ["http://{upstream}"]
auth = "none"
max_body_bytes = 67108864

[[routes]]
prefix = "/token-plain/"
upstreams = ["http://{upstream}/base"]
strip_prefix = true
encrypted_request = false
encrypted_response = false

{extra}
"#,
        key = b64::encode(&TOKEN_KEY),
    )
}

/// A running gateway.
pub struct TestApp {
    pub addr: SocketAddr,
    pub tls_addrs: Vec<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    pub gateway: Gateway,
    shutdown: Option<oneshot::Sender<()>>,
    pub stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Signals shutdown (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

pub fn parse_config(config_text: &str) -> Config {
    Config::parse(config_text, Path::new("test.toml"), Path::new("."), &|_| {
        None
    })
    .expect("test config is valid")
}

pub async fn spawn_app(config_text: &str) -> TestApp {
    let config = parse_config(config_text);
    let gateway = Gateway::new(Arc::new(config)).expect("upstream TLS set-up");
    let server = Server::bind(gateway.clone()).await.expect("bind");
    let addr = server.local_addr().unwrap();
    let tls_addrs = server.tls_addrs();
    let admin_addr = server.admin_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let stopped = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        tls_addrs,
        admin_addr,
        gateway,
        shutdown: Some(tx),
        stopped: Some(stopped),
    }
}

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: http::Uri,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How the recording upstream answers.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with a JSON echo of the request (the demo echo).
    Echo,
    /// A fixed status, content type and body.
    Fixed(u16, &'static str, &'static [u8]),
    /// Never answers.
    Hang,
    /// Answers 200 "ok" after this many milliseconds.
    Slow(u64),
}

pub struct TestUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Recorded>>>,
}

impl TestUpstream {
    pub fn requests(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }
}

pub async fn spawn_upstream(behaviour: Behaviour) -> TestUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let log = Arc::clone(&log);
                    let behaviour = behaviour.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        log.lock().unwrap().push(Recorded {
                            method: parts.method.clone(),
                            uri: parts.uri.clone(),
                            version: parts.version,
                            headers: parts.headers.clone(),
                            body: body.clone(),
                        });
                        let response = match behaviour {
                            Behaviour::Echo => echo_response(&parts, &body),
                            Behaviour::Fixed(status, content_type, bytes) => {
                                http::Response::builder()
                                    .status(status)
                                    .header("content-type", content_type)
                                    .header("x-upstream", "yes")
                                    .body(Full::new(Bytes::from_static(bytes)))
                                    .unwrap()
                            }
                            Behaviour::Slow(ms) => {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                http::Response::new(Full::new(Bytes::from_static(b"ok")))
                            }
                            Behaviour::Hang => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                unreachable!()
                            }
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    TestUpstream { addr, received }
}

fn echo_response(parts: &http::request::Parts, body: &Bytes) -> http::Response<Full<Bytes>> {
    let echoed = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "body": String::from_utf8_lossy(body),
    });
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-upstream", "yes")
        .body(Full::new(Bytes::from(echoed.to_string())))
        .unwrap()
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// `(resCode, resDesc)` of a gateway answer.
    pub fn codes(&self) -> (String, String) {
        let v = self.json();
        (
            v["resCode"].as_str().unwrap().to_owned(),
            v["resDesc"].as_str().unwrap().to_owned(),
        )
    }
}

pub fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub async fn send(request: Request<Full<Bytes>>) -> Reply {
    let response = http_client().request(request).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn post(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut builder = Request::post(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    send(builder.body(Full::new(body.into())).unwrap()).await
}

/// A client's ephemeral key and its `publicKey` field value.
pub struct ClientKey {
    pub pair: EphemeralKeyPair,
    pub public_key_field: String,
}

pub fn client_key() -> ClientKey {
    let pair = EphemeralKeyPair::generate().unwrap();
    let json = jwk::public_to_json(&pair.public_key());
    ClientKey {
        public_key_field: b64::encode(json.as_bytes()),
        pair,
    }
}

pub fn token_body(api_key: &str, secret: &str, public_key: &str) -> String {
    serde_json::json!({"apiKey": api_key, "secret": secret, "publicKey": public_key}).to_string()
}

/// A client session: the token and the key derived from `serverPublicKey`.
pub struct ClientSession {
    pub token: String,
    pub key: Key32,
    pub response: Value,
}

/// The full client handshake against a running gateway.
pub async fn handshake(
    app: &TestApp,
    channel: &str,
    api_key: &str,
    secret: &str,
    kdf: Kdf,
) -> ClientSession {
    let key = client_key();
    let reply = post(
        &app.url(TOKEN_PATH),
        &[("x-api-key", channel), ("content-type", "text/plain")],
        token_body(api_key, secret, &key.public_key_field),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let response = reply.json();
    let server_jwk =
        b64::decode_strict(response["serverPublicKey"].as_str().unwrap().as_bytes()).unwrap();
    let server_public = jwk::parse_public_p256(&server_jwk).unwrap();
    let z = key.pair.agree(&server_public);
    ClientSession {
        token: response["token"].as_str().unwrap().to_owned(),
        key: kdf.derive(&z),
        response,
    }
}

/// Seals a request body as a client would.
pub fn seal(session: &ClientSession, plaintext: &[u8], cty: Option<&str>) -> String {
    jwe::seal(
        plaintext,
        &session.key,
        &jwe::Header {
            kid: None,
            cty: cty.map(str::to_owned),
        },
    )
    .unwrap()
}

/// An encrypted POST through the gateway.
pub async fn call(app: &TestApp, session: &ClientSession, path: &str, sealed: &str) -> Reply {
    post(
        &app.url(path),
        &[
            ("authorization", &format!("Bearer {}", session.token)),
            ("content-type", "application/jose"),
        ],
        sealed.to_owned(),
    )
    .await
}

/// A GET on the admin listener.
pub async fn admin_get(app: &TestApp, path: &str) -> Reply {
    let url = format!("http://{}{}", app.admin_addr.expect("admin listener"), path);
    send(Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
}

/// The value of one exposition line, e.g. `sealgate_tokens_total{code="TOK200"}`.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// The admin listener's `/metrics` text.
pub async fn metrics_text(app: &TestApp) -> String {
    String::from_utf8(admin_get(app, "/metrics").await.body.to_vec()).unwrap()
}

/// `DELETE` on the token path with the session's token (revocation).
pub async fn revoke(app: &TestApp, session: &ClientSession) -> Reply {
    send(
        Request::delete(app.url(TOKEN_PATH))
            .header("authorization", format!("Bearer {}", session.token))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

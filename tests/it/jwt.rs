//! `auth = "jwt"`: bearer JWTs from an identity provider, verified against its JWK Set
//! served over HTTPS by a local server (or read from a file). Tokens and keys are made by
//! an independent library (jsonwebtoken, on RustCrypto); the attacks: `alg: none`, HMAC
//! signed with the public key, another key under a known `kid`, a `kid` flood, claims a
//! client writes itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken as jwt;
use sealgate::config::{JwtProviderFile, RouteAuth, RouteFile, UpstreamTlsFile, WebSocketFile};
use serde_json::{Value, json};

use crate::tls::Pki;
use sealgate_testkit::*;

const ISSUER: &str = "https://idp.bank.example/";
const AUDIENCE: &str = "partner-api";

/// An ES256 key of the identity provider's, made by AWS-LC and used through jsonwebtoken.
struct IdpKey {
    encoding: jwt::EncodingKey,
    jwk: Value,
}

impl IdpKey {
    fn new(kid: &str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let encoding = jwt::EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = jwt::jwk::Jwk::from_encoding_key(&encoding, jwt::Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        IdpKey {
            encoding,
            jwk: serde_json::to_value(&jwk).unwrap(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jwt::Header::new(jwt::Algorithm::ES256);
        header.kid = self.jwk["kid"].as_str().map(str::to_owned);
        jwt::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn claims() -> Value {
    let now = sealgate::clock::now_secs();
    json!({
        "iss": ISSUER, "aud": [AUDIENCE, "other"], "sub": "partner-7",
        "iat": now - 5, "exp": now + 300, "scope": "payments:read",
    })
}

/// The identity provider's JWK Set endpoint, over HTTPS with a test CA: it serves whatever
/// set the test puts in `keys`, and counts the fetches.
struct Idp {
    port: u16,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    /// Milliseconds the endpoint waits before answering.
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

async fn spawn_idp(pki: &Pki, keys: Value) -> Idp {
    let acceptor = pki.acceptor("idp", &[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let keys = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (served, counted, delay) = (
        Arc::clone(&keys),
        Arc::clone(&fetches),
        Arc::clone(&delay_ms),
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let (served, counted, delay) = (
                Arc::clone(&served),
                Arc::clone(&counted),
                Arc::clone(&delay),
            );
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request: http::Request<_>| {
                    let _: &hyper::body::Incoming = request.body();
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().to_string();
                    let pause = std::time::Duration::from_millis(delay.load(Ordering::SeqCst));
                    async move {
                        tokio::time::sleep(pause).await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Idp {
        port,
        keys,
        fetches,
        delay_ms,
    }
}

fn provider(idp: &Idp, pki: &Pki) -> JwtProviderFile {
    JwtProviderFile {
        issuer: Some(ISSUER.into()),
        audiences: vec![AUDIENCE.into()],
        jwks_url: Some(format!("https://localhost:{}/jwks", idp.port)),
        jwks_ca_file: Some(pki.path("ca.pem").display().to_string()),
        min_refresh_interval_secs: Some(60),
        claims_to_headers: [
            ("sub".to_owned(), "x-partner-id".to_owned()),
            ("scope".to_owned(), "x-scope".to_owned()),
        ]
        .into(),
        ..Default::default()
    }
}

async fn gateway(provider: JwtProviderFile) -> (TestApp, TestUpstream) {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = ConfigBuilder::new(upstream.addr)
        .route(RouteFile {
            auth: Some(RouteAuth::Jwt),
            jwt_provider: Some("bank-idp".into()),
            ..route_file("/partner/", &format!("http://{}", upstream.addr))
        })
        .with(|f| {
            f.jwt_providers.insert("bank-idp".into(), provider);
        });
    (spawn_app(config.build()).await, upstream)
}

async fn call_with(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> Reply {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    headers.extend_from_slice(extra);
    post(&app.url("/partner/pay"), &headers, "{}").await
}

fn assert_refused(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "{:?}", reply.body);
    assert_eq!(reply.codes().0, code);
}

#[tokio::test]
async fn a_valid_token_passes_with_its_claims_as_headers_and_forged_ones_removed() {
    let pki = Pki::new();
    let key = IdpKey::new("k1");
    let idp = spawn_idp(&pki, json!({"keys": [key.jwk]})).await;
    let (app, upstream) = gateway(provider(&idp, &pki)).await;
    let reply = call_with(
        &app,
        &key.sign(&claims()),
        &[("x-partner-id", "someone-else"), ("x_scope", "admin")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let seen = &upstream.requests()[0].headers;
    assert_eq!(
        seen.get_all("x-partner-id").iter().collect::<Vec<_>>(),
        ["partner-7"]
    );
    assert_eq!(seen["x-scope"], "payments:read");
    assert!(!seen.contains_key("x_scope"));
    assert!(
        !seen.contains_key("authorization"),
        "the token stays at the gateway"
    );
    // The claim headers are the gateway's on every route: a plain route removes them too.
    let plain = post(&app.url("/plain/x"), &[("x-partner-id", "forged")], "").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(!upstream.requests()[1].headers.contains_key("x-partner-id"));
    // No token, or not Bearer.
    assert_refused(
        &post(&app.url("/partner/pay"), &[], "").await,
        401,
        "AUTH001",
    );
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_refused() {
    let pki = Pki::new();
    let key = IdpKey::new("k1");
    let idp = spawn_idp(&pki, json!({"keys": [key.jwk]})).await;
    let (app, upstream) = gateway(provider(&idp, &pki)).await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());

    // alg: none, with and without a signature.
    let none = format!(
        "{}.{}",
        b64(&json!({"alg": "none", "kid": "k1"})),
        b64(&claims())
    );
    for token in [format!("{none}."), format!("{none}.c2ln")] {
        let reply = call_with(&app, &token, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token}");
    }
    // HS256 keyed with the provider's public key (the key-confusion attack).
    let public = serde_json::to_vec(&key.jwk).unwrap();
    let mut header = jwt::Header::new(jwt::Algorithm::HS256);
    header.kid = Some("k1".into());
    let hmac = jwt::encode(
        &header,
        &claims(),
        &jwt::EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    assert_refused(&call_with(&app, &hmac, &[]).await, 401, "AUTH004");
    // Another key under the provider's kid.
    let impostor = IdpKey::new("k1");
    assert_refused(
        &call_with(&app, &impostor.sign(&claims()), &[]).await,
        401,
        "AUTH004",
    );
    let mut expired = claims();
    expired["exp"] = json!(sealgate::clock::now_secs() - 120);
    assert_refused(
        &call_with(&app, &key.sign(&expired), &[]).await,
        401,
        "AUTH005",
    );
    let mut early = claims();
    early["nbf"] = json!(sealgate::clock::now_secs() + 600);
    assert_refused(
        &call_with(&app, &key.sign(&early), &[]).await,
        401,
        "AUTH006",
    );
    for (claim, value) in [
        ("aud", json!("another-api")),
        ("iss", json!("https://evil.example/")),
    ] {
        let mut wrong = claims();
        wrong[claim] = value;
        assert_refused(
            &call_with(&app, &key.sign(&wrong), &[]).await,
            401,
            "AUTH004",
        );
    }
    assert!(
        upstream.requests().is_empty(),
        "nothing refused reached the upstream"
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_a_kid_flood_costs_the_provider_one_request_per_interval()
{
    let pki = Pki::new();
    let old = IdpKey::new("k1");
    let idp = spawn_idp(&pki, json!({"keys": [old.jwk]})).await;
    let (app, _upstream) = gateway(JwtProviderFile {
        min_refresh_interval_secs: Some(1),
        fetch_timeout_ms: Some(1000),
        ..provider(&idp, &pki)
    })
    .await;
    assert_eq!(
        call_with(&app, &old.sign(&claims()), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "one fetch at start");

    // The provider publishes a new key, then signs with it: the first token naming it makes
    // the gateway fetch the set again (once the minimum interval since the last fetch is up).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let new = IdpKey::new("k2");
    *idp.keys.lock().unwrap() = json!({"keys": [old.jwk, new.jwk]});
    assert_eq!(
        call_with(&app, &new.sign(&claims()), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // A client sending random kids: at most one fetch per interval, however many tokens.
    let flood = std::time::Instant::now();
    for i in 0..100 {
        let random = IdpKey::new(&format!("random-{i}"));
        assert_refused(
            &call_with(&app, &random.sign(&claims()), &[]).await,
            401,
            "AUTH003",
        );
    }
    let extra = idp.fetches.load(Ordering::SeqCst) - 2;
    let allowed = 1 + flood.elapsed().as_secs() as usize;
    assert!(
        extra <= allowed,
        "{extra} fetches for 100 random kids in {:?}",
        flood.elapsed()
    );
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_503_and_a_file_needs_no_network() {
    let pki = Pki::new();
    let key = IdpKey::new("k1");
    // Nothing listens there: the keys cannot be had.
    let (held, dead_port) = {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        (socket, port)
    };
    let unreachable = JwtProviderFile {
        jwks_url: Some(format!("https://localhost:{dead_port}/jwks")),
        fetch_timeout_ms: Some(500),
        ..provider(
            &Idp {
                port: dead_port,
                keys: Arc::default(),
                fetches: Arc::default(),
                delay_ms: Arc::default(),
            },
            &pki,
        )
    };
    let (app, _upstream) = gateway(unreachable).await;
    assert_refused(
        &call_with(&app, &key.sign(&claims()), &[]).await,
        503,
        "AUTH012",
    );
    drop(held);

    // Air-gapped: the set from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({"keys": [key.jwk]}).to_string()).unwrap();
    let from_file = JwtProviderFile {
        jwks_url: None,
        jwks_ca_file: None,
        jwks_file: Some(file.display().to_string()),
        ..provider(
            &Idp {
                port: dead_port,
                keys: Arc::default(),
                fetches: Arc::default(),
                delay_ms: Arc::default(),
            },
            &pki,
        )
    };
    let (app, _upstream) = gateway(from_file).await;
    assert_eq!(
        call_with(&app, &key.sign(&claims()), &[]).await.status,
        StatusCode::OK
    );
}

#[test]
fn providers_that_cannot_protect_a_route_are_refused_at_load() {
    let upstream: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
    let refused = |provider: JwtProviderFile, route: RouteFile| {
        ConfigBuilder::new(upstream)
            .route(route)
            .with(|f| {
                f.jwt_providers.insert("idp".into(), provider);
            })
            .try_build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let good = || JwtProviderFile {
        issuer: Some(ISSUER.into()),
        audiences: vec![AUDIENCE.into()],
        jwks_url: Some("https://idp.example/jwks".into()),
        ..Default::default()
    };
    let route = || RouteFile {
        auth: Some(RouteAuth::Jwt),
        jwt_provider: Some("idp".into()),
        ..route_file("/p/", "http://127.0.0.1:9")
    };
    let cases = [
        (
            JwtProviderFile {
                jwks_url: Some("http://idp.example/jwks".into()),
                ..good()
            },
            route(),
            "must be an https:// URL",
        ),
        (
            JwtProviderFile {
                audiences: vec![],
                ..good()
            },
            route(),
            "needs at least one audience",
        ),
        (
            JwtProviderFile {
                claims_to_headers: [("sub".to_owned(), "x-forwarded-for".to_owned())].into(),
                ..good()
            },
            route(),
            "the gateway's or HTTP's own",
        ),
        (
            good(),
            RouteFile {
                jwt_provider: Some("nobody".into()),
                ..route()
            },
            "is not in [jwt_providers]",
        ),
        (
            good(),
            RouteFile {
                encrypted_request: Some(true),
                ..route()
            },
            "encryption needs a session",
        ),
    ];
    let cases = cases.into_iter().chain(
        [
            "x-client-id",
            "x_partner",
            "true-client-ip",
            "x-http-method-override",
        ]
        .map(|header| {
            (
                JwtProviderFile {
                    claims_to_headers: [("sub".to_owned(), header.to_owned())].into(),
                    ..good()
                },
                route(),
                "",
            )
        }),
    );
    for (provider, route, expected) in cases {
        let error = refused(provider, route);
        assert!(!error.is_empty(), "accepted, expected {expected:?}");
        assert!(error.contains(expected), "{expected:?} in {error:?}");
    }
    // Unknown algorithm names (none, HS256) cannot even be written.
    let text = format!(
        "[jwt_providers.idp]\nissuer = \"{ISSUER}\"\naudiences = [\"a\"]\n\
         jwks_url = \"https://idp.example/jwks\"\nalgorithms = [\"HS256\"]\n"
    );
    let parsed = sealgate::config::parse_file(&text, std::path::Path::new("t"));
    assert!(parsed.is_err(), "HS256 accepted in algorithms");
}

#[tokio::test]
async fn the_upstreams_ca_is_no_authority_on_the_providers_keys() {
    let pki = Pki::new();
    let key = IdpKey::new("k1");
    let idp = spawn_idp(&pki, json!({"keys": [key.jwk]})).await;
    // The provider's certificate is signed by the CA the upstreams are verified with; the
    // provider itself names no CA, so the public roots judge it, and refuse it.
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let ca = pki.path("ca.pem").display().to_string();
    let config = ConfigBuilder::new(upstream.addr)
        .route(RouteFile {
            auth: Some(RouteAuth::Jwt),
            jwt_provider: Some("bank-idp".into()),
            ..route_file("/partner/", &format!("http://{}", upstream.addr))
        })
        .with(|f| {
            f.jwt_providers.insert(
                "bank-idp".into(),
                JwtProviderFile {
                    jwks_ca_file: None,
                    fetch_timeout_ms: Some(1000),
                    min_refresh_interval_secs: Some(1),
                    ..provider(&idp, &pki)
                },
            );
            f.upstream_tls = Some(UpstreamTlsFile {
                ca_file: Some(ca),
                ..Default::default()
            });
        });
    let app = spawn_app(config.build()).await;
    assert_refused(
        &call_with(&app, &key.sign(&claims()), &[]).await,
        503,
        "AUTH012",
    );
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 0, "no JWK Set was read");
}

#[tokio::test]
async fn a_websocket_opened_with_a_jwt_closes_when_the_token_expires() {
    let pki = Pki::new();
    let key = IdpKey::new("k1");
    let idp = spawn_idp(&pki, json!({"keys": [key.jwk]})).await;
    // A WebSocket echo upstream on a JWT route.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_close() || ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let config = ConfigBuilder::new(echo)
        .route(RouteFile {
            auth: Some(RouteAuth::Jwt),
            jwt_provider: Some("bank-idp".into()),
            encrypted_request: Some(false),
            encrypted_response: Some(false),
            websocket: Some(WebSocketFile::default()),
            ..route_file("/partner-ws/", &format!("http://{echo}"))
        })
        .with(|f| {
            f.jwt_providers.insert(
                "bank-idp".into(),
                JwtProviderFile {
                    leeway_secs: Some(0),
                    ..provider(&idp, &pki)
                },
            );
        });
    let app = spawn_app(config.build()).await;
    let mut short = claims();
    short["exp"] = json!(sealgate::clock::now_secs() + 2);
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/partner-ws/x", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", key.sign(&short)).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let started = std::time::Instant::now();
    use futures_util::StreamExt;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(6), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    assert!(closed.is_ok(), "the tunnel outlived its token");
    assert!(
        started.elapsed() <= std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_goes_away_cannot_cancel_the_fetch_its_token_started() {
    let pki = Pki::new();
    let old = IdpKey::new("k1");
    let idp = spawn_idp(&pki, json!({"keys": [old.jwk]})).await;
    let (app, _upstream) = gateway(JwtProviderFile {
        min_refresh_interval_secs: Some(1),
        fetch_timeout_ms: Some(1000),
        ..provider(&idp, &pki)
    })
    .await;
    assert_eq!(
        call_with(&app, &old.sign(&claims()), &[]).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The provider rotates, and answers slowly; the first client with the new key gives up
    // (and its request is dropped) while the fetch it started is under way.
    let new = IdpKey::new("k2");
    *idp.keys.lock().unwrap() = json!({"keys": [old.jwk, new.jwk]});
    idp.delay_ms.store(400, Ordering::SeqCst);
    let token = new.sign(&claims());
    let impatient = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        call_with(&app, &token, &[]),
    )
    .await;
    assert!(impatient.is_err(), "the client was meant to give up");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    // The fetch finished anyway: the next client with the new key passes at once.
    assert_eq!(call_with(&app, &token, &[]).await.status, StatusCode::OK);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
}

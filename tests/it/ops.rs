//! Operations: metrics, health, live reload, key rotation, revocation, limits, logs and
//! shutdown of the real binary.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use sealgate::config::Config;
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::b64;

use sealgate_testkit::*;

#[tokio::test]
async fn metrics_change_as_requests_pass() {
    let upstream = spawn_demo_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream).build()).await;
    let before = metrics_text(&app).await;
    assert_eq!(
        metric(&before, "sealgate_tokens_total{res_code=\"TOK200\"}"),
        0.0
    );

    let s = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    assert_eq!(
        call(&app, &s, "/api/x", &seal(&s, b"{}", None))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        post(&app.url("/api/x"), &[], "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let bad = post(&app.url(TOKEN_PATH), &[("x-api-key", "NOPE")], "").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);

    let reply = admin_get(&app, "/metrics").await;
    assert_eq!(
        reply.headers["content-type"],
        sealgate::admin::METRICS_CONTENT_TYPE
    );
    let after = String::from_utf8(reply.body.to_vec()).unwrap();
    assert_eq!(
        metric(&after, "sealgate_tokens_total{res_code=\"TOK200\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, "sealgate_tokens_total{res_code=\"TOK002\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "sealgate_requests_total{route=\"/api/\",method=\"POST\",code=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "sealgate_requests_total{route=\"/api/\",method=\"POST\",code=\"401\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "sealgate_rejected_total{route=\"/api/\",res_code=\"AUTH001\"}"
        ),
        1.0
    );
    assert_eq!(metric(&after, "sealgate_sessions_live"), 1.0);
    assert_eq!(
        metric(
            &after,
            "sealgate_upstream_duration_seconds_count{route=\"/api/\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "sealgate_request_duration_seconds_count{route=\"token\"}"
        ),
        2.0
    );
    for name in sealgate_metric_names() {
        assert!(
            after.contains(&format!("# TYPE {name}")),
            "{name} is not exported"
        );
    }
}

/// The metrics this test exercised (a labelled family appears once it has a series).
fn sealgate_metric_names() -> Vec<&'static str> {
    use sealgate::metrics::names::*;
    vec![
        REQUESTS,
        REQUEST_DURATION,
        UPSTREAM_DURATION,
        TOKENS,
        REJECTED,
        SESSIONS_LIVE,
        CONNECTIONS_OPEN,
        REVOCATIONS,
    ]
}

#[tokio::test]
async fn readiness_fails_while_draining_and_health_stays_up() {
    let slow = spawn_upstream(Behaviour::Slow(800)).await;
    let mut app = spawn_app(ConfigBuilder::new(slow.addr).build()).await;
    assert_eq!(admin_get(&app, "/healthz").await.status, StatusCode::OK);
    assert_eq!(admin_get(&app, "/readyz").await.status, StatusCode::OK);
    let url = app.url("/plain/slow");
    let in_flight = tokio::spawn(async move { post(&url, &[], "x").await });
    // In flight from the moment the upstream has it (it answers 800 ms later).
    eventually("the request to reach the upstream", async || {
        slow.requests().len() == 1
    })
    .await;
    app.begin_shutdown();
    eventually("/readyz to fail once shutdown begins", async || {
        admin_get(&app, "/readyz").await.status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let ready = admin_get(&app, "/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(&ready.body[..], b"draining\n");
    assert_eq!(admin_get(&app, "/healthz").await.status, StatusCode::OK);
    assert_eq!(
        in_flight.await.unwrap().status,
        StatusCode::OK,
        "the in-flight request finished"
    );
}

/// Drives encrypted calls in a loop until stopped; returns (ok, failed).
fn traffic(
    app: &TestApp,
    session: Arc<ClientSession>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    let base = app.url("");
    tokio::spawn(async move {
        let (mut ok, mut failed) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let reply = post(
                &format!("{base}/api/loop"),
                &[("authorization", &format!("Bearer {}", session.token))],
                seal(&session, b"{}", None),
            )
            .await;
            if reply.status == StatusCode::OK {
                ok += 1;
            } else {
                failed.push(format!("{} {:?}", reply.status, reply.body));
            }
        }
        (ok, failed)
    })
}

#[tokio::test]
async fn a_reload_switches_a_route_and_adds_a_client_under_traffic_with_no_failed_request() {
    let first = spawn_upstream(Behaviour::Echo).await;
    let second = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(first.addr).build()).await;
    let session =
        Arc::new(handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await);
    let newcomer = client_key();
    let refused = post(
        &app.url(TOKEN_PATH),
        &[("x-api-key", "MOB-APP-2001")],
        token_body("NEWCOMER", "fresh", &newcomer.public_key_field),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&app, Arc::clone(&session), Arc::clone(&stop));
    eventually("traffic to flow to the first upstream", async || {
        first.requests().len() >= 10
    })
    .await;
    let reloaded = ConfigBuilder::new(second.addr)
        .client("NEWCOMER", client_file("fresh", &["MOB-APP-2001"]))
        .build();
    app.gateway.reload(reloaded).unwrap();
    eventually("traffic to move to the new upstream", async || {
        second.requests().len() >= 10
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.await.unwrap();
    assert!(failed.is_empty(), "failed during reload: {failed:?}");
    assert!(ok > 10, "only {ok} requests went through");
    let (on_first, on_second) = (first.requests().len(), second.requests().len());
    assert!(
        on_first > 0 && on_second > 0,
        "traffic moved from the old upstream to the new: {on_first} then {on_second}"
    );
    let before = second.requests().len();
    assert_eq!(
        call(&app, &session, "/api/after", &seal(&session, b"{}", None))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        second.requests().len(),
        before + 1,
        "new requests use the new route"
    );
    let welcomed = post(
        &app.url(TOKEN_PATH),
        &[("x-api-key", "MOB-APP-2001")],
        token_body("NEWCOMER", "fresh", &newcomer.public_key_field),
    )
    .await;
    assert_eq!(
        welcomed.status,
        StatusCode::OK,
        "the added client gets a token"
    );
    let metrics = metrics_text(&app).await;
    assert_eq!(
        metric(&metrics, "sealgate_config_reloads_total{outcome=\"ok\"}"),
        1.0
    );
}

fn with_keys(upstream: std::net::SocketAddr, keys: &[(&str, u8)]) -> Config {
    // Replace the test configuration's single key with this ring.
    ConfigBuilder::new(upstream)
        .with(|f| {
            f.token.keys = keys
                .iter()
                .map(|(kid, byte)| token_key_file(kid, &[*byte; 32]))
                .collect();
        })
        .build()
}

fn kid_of(token: &str) -> String {
    let header: serde_json::Value = serde_json::from_slice(
        &b64::decode_strict(token.split('.').next().unwrap().as_bytes()).unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn token_keys_rotate_with_no_failed_request() {
    let upstream = spawn_demo_upstream().await;
    let app = spawn_app(with_keys(upstream, &[("old", 1)])).await;
    let old =
        Arc::new(handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await);
    assert_eq!(kid_of(&old.token), "old");

    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&app, Arc::clone(&old), Arc::clone(&stop));
    // Calls answered 200 (a failing call shows in `failed` below).
    let served = "sealgate_requests_total{route=\"/api/\",method=\"POST\",code=\"200\"}";
    eventually("calls with the old key's token to go through", async || {
        metric(&metrics_text(&app).await, served) >= 3.0
    })
    .await;
    // Step 1: the new key issues, the old one still verifies.
    app.gateway
        .reload(with_keys(upstream, &[("new", 2), ("old", 1)]))
        .unwrap();
    let before = metric(&metrics_text(&app).await, served);
    eventually(
        "calls with the old key's token to go on once the new key issues",
        async || metric(&metrics_text(&app).await, served) >= before + 3.0,
    )
    .await;
    let fresh = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    assert_eq!(kid_of(&fresh.token), "new");
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.await.unwrap();
    assert!(failed.is_empty() && ok > 5, "{ok} ok, failed: {failed:?}");

    // Step 2, once the old key's tokens have expired: remove it. Its tokens are now refused
    // as signed by an unknown key, while the new key's tokens carry on.
    app.gateway
        .reload(with_keys(upstream, &[("new", 2)]))
        .unwrap();
    let reply = call(&app, &old, "/api/x", &seal(&old, b"{}", None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.codes().0, "AUTH003");
    assert_eq!(
        call(&app, &fresh, "/api/x", &seal(&fresh, b"{}", None))
            .await
            .status,
        StatusCode::OK
    );
}

/// The test configuration with this token key ring: (kid, key byte, issue).
fn with_ring(upstream: std::net::SocketAddr, keys: &[(&str, u8, bool)]) -> Config {
    ConfigBuilder::new(upstream)
        .with(|f| {
            f.token.keys = keys
                .iter()
                .map(|(kid, byte, issue)| sealgate::config::TokenKeyFile {
                    issue: Some(*issue),
                    ..token_key_file(kid, &[*byte; 32])
                })
                .collect();
        })
        .build()
}

/// A fresh token from `app`, and the status another instance answers a sealed call with.
async fn issued_by(app: &TestApp) -> ClientSession {
    handshake(app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await
}

async fn served_by(app: &TestApp, s: &ClientSession) -> (StatusCode, String) {
    let reply = call(app, s, "/api/x", &seal(s, b"{}", None)).await;
    let code = if reply.status == StatusCode::OK {
        String::new()
    } else {
        reply.codes().0
    };
    (reply.status, code)
}

#[tokio::test]
async fn a_key_with_issue_false_rolls_out_over_two_instances_with_no_refused_token() {
    let upstream = spawn_demo_upstream().await;
    let old = ("old", 1, true);
    // Two instances behind one balancer, both on the old key.
    let a = spawn_app(with_ring(upstream, &[old])).await;
    let b = spawn_app(with_ring(upstream, &[old])).await;

    // Rollout, step 1: the new key is added with issue = false on A first (even listed
    // first). A still issues with the old key, so B, not yet reloaded, serves its tokens.
    a.gateway
        .reload(with_ring(upstream, &[("new", 2, false), old]))
        .unwrap();
    let during = issued_by(&a).await;
    assert_eq!(kid_of(&during.token), "old");
    assert_eq!(
        served_by(&b, &during).await,
        (StatusCode::OK, String::new())
    );
    assert_eq!(
        served_by(&a, &during).await,
        (StatusCode::OK, String::new())
    );
    b.gateway
        .reload(with_ring(upstream, &[("new", 2, false), old]))
        .unwrap();

    // Step 2, once every instance has it: the new key issues (issue = true, or just moved
    // first), on A before B. A's tokens now carry the new kid, and B verifies them.
    a.gateway
        .reload(with_ring(upstream, &[("new", 2, true), old]))
        .unwrap();
    let after = issued_by(&a).await;
    assert_eq!(kid_of(&after.token), "new");
    assert_eq!(served_by(&b, &after).await, (StatusCode::OK, String::new()));
    assert_eq!(served_by(&a, &after).await, (StatusCode::OK, String::new()));
    // B still issues with the old key until its own reload, and A serves those too.
    let from_b = issued_by(&b).await;
    assert_eq!(kid_of(&from_b.token), "old");
    assert_eq!(
        served_by(&a, &from_b).await,
        (StatusCode::OK, String::new())
    );
    b.gateway
        .reload(with_ring(upstream, &[("new", 2, true), old]))
        .unwrap();
    assert_eq!(kid_of(&issued_by(&b).await.token), "new");
    // Tokens issued during the rollout are still served everywhere.
    assert_eq!(
        served_by(&b, &during).await,
        (StatusCode::OK, String::new())
    );

    // What issue = false prevents: a key put in force on one instance before the others
    // have it makes tokens they refuse.
    let c = spawn_app(with_ring(upstream, &[old])).await;
    assert_eq!(
        served_by(&c, &issued_by(&a).await).await,
        (StatusCode::UNAUTHORIZED, "AUTH003".to_owned())
    );
}

#[tokio::test]
async fn a_gateway_key_with_issue_false_is_listed_after_the_key_in_force_and_does_not_sign() {
    use sealgate::config::GatewayKeyFile;
    use sealgate::token::gateway_keys::KeyUse;
    let key = |kid: &str, byte: u8, issue: bool| GatewayKeyFile {
        kid: Some(kid.to_owned()),
        usage: Some(KeyUse::Sig),
        key: Some(b64::encode(&[byte; 32]).into()),
        issue: Some(issue),
        ..Default::default()
    };
    let upstream = spawn_demo_upstream().await;
    let app = spawn_app(
        ConfigBuilder::new(upstream)
            .with(|f| f.gateway_keys = vec![key("sig-new", 4, false), key("sig-old", 2, true)])
            .build(),
    )
    .await;
    let jwks = send(
        http::Request::get(app.url("/.well-known/jwks.json"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["sig-old", "sig-new"]);
    let s = issued_by(&app).await;
    let signature = s.response.signature.as_deref().unwrap();
    assert_eq!(kid_of(signature), "sig-old");
}

#[tokio::test]
async fn a_revoked_token_is_refused_even_though_its_ticket_is_valid() {
    let upstream = spawn_demo_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream).build()).await;
    let s = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let other = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let reply = revoke(&app, &s).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.codes().0, "TOK200");
    let refused = call(&app, &s, "/api/x", &seal(&s, b"{}", None)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.codes().0, "AUTH007");
    assert_eq!(
        call(&app, &other, "/api/x", &seal(&other, b"{}", None))
            .await
            .status,
        StatusCode::OK,
        "other sessions carry on"
    );
    let unauthenticated = send(
        http::Request::delete(app.url(TOKEN_PATH))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_issuance_is_rate_limited_per_source_address() {
    let config = ConfigBuilder::new(refused_addr())
        .with(|f| f.token.rate_limit_per_address_per_minute = Some(3))
        .build();
    let app = spawn_app(config).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let key = client_key();
        let reply = post(
            &app.url(TOKEN_PATH),
            &[("x-api-key", "MOB-APP-2001")],
            token_body("MOB-APP", "TEST123", &key.public_key_field),
        )
        .await;
        statuses.push(reply.status.as_u16());
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.codes(), ("TOK003".to_owned(), "Failure".to_owned()));
            assert_eq!(reply.headers["retry-after"], "60");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_431() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let mut many = http::Request::get(app.url("/plain/x"));
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "v");
    }
    assert_eq!(
        send(many.body(Full::new(Bytes::new())).unwrap())
            .await
            .status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let large = http::Request::get(app.url("/plain/x"))
        .header("x-big", "a".repeat(100 * 1024))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(large).await.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert!(upstream.requests().is_empty());
}

/// A `MakeWriter` that appends everything to one shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_token_key_or_body_reaches_the_logs_even_at_trace() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    const SECRET: &str = "CANARY-SECRET-4471";
    let upstream = spawn_demo_upstream().await;
    // The access line (JSON, to a file) and span export on too: their fields are checked
    // for the same canaries.
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    let collector = crate::observe::spawn_collector(false).await;
    let builder =
        ConfigBuilder::new(upstream).client("CANARY", client_file(SECRET, &["MOB-APP-2001"]));
    let builder =
        crate::observe::with_access_log(builder, &access, sealgate::config::AccessFormat::Json);
    let config = crate::observe::with_tracing(builder, collector.addr, 1024).build();
    let app = spawn_app(config).await;
    let s = handshake(&app, "MOB-APP-2001", "CANARY", SECRET, Kdf::HkdfSha256).await;
    let body = br#"{"card":"CANARY-BODY-9932"}"#;
    let sealed = seal(&s, body, Some("application/json"));
    assert_eq!(
        call(&app, &s, "/api/pay", &sealed).await.status,
        StatusCode::OK
    );
    // Failures log too: a wrong secret and a tampered token.
    let wrong = post(
        &app.url(TOKEN_PATH),
        &[("x-api-key", "MOB-APP-2001")],
        token_body(
            "CANARY",
            "CANARY-WRONG-1234",
            &client_key().public_key_field,
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let tampered = format!("{}x", s.token);
    post(
        &app.url("/api/pay"),
        &[("authorization", &format!("Bearer {tampered}"))],
        sealed.clone(),
    )
    .await;
    // Token, call, wrong secret, tampered token: four access lines.
    let access_lines = crate::observe::lines(&access, 4).await.join("\n");
    // The spans of the handshake and of the sealed call (its upstream span) are exported.
    eventually("the run's spans to reach the collector", async || {
        let raw = String::from_utf8_lossy(&collector.raw.lock().unwrap()).into_owned();
        raw.contains("token.issue") && raw.contains("upstream")
    })
    .await;
    let spans = String::from_utf8_lossy(&collector.raw.lock().unwrap()).into_owned();
    drop(app);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("token issued") && logs.contains("TRACE"),
        "the capture saw the run:\n{logs:.2000}"
    );
    let key_b64 = b64::encode(s.key.expose());
    let token_middle = &s.token[s.token.len() / 2..s.token.len() / 2 + 24];
    for canary in [
        SECRET,
        "CANARY-WRONG-1234",
        "CANARY-BODY-9932",
        key_b64.as_str(),
        hex::encode(s.key.expose()).as_str(),
        token_middle,
        &sealed[sealed.len() - 30..],
    ] {
        assert!(!logs.contains(canary), "`{canary}` reached the logs");
        assert!(
            !access_lines.contains(canary),
            "`{canary}` reached the access log"
        );
        assert!(!spans.contains(canary), "`{canary}` reached a span");
    }
}

/// The file the binary reads: the parts of the test configuration this test uses (the
/// listeners on port 0, the shutdown grace, the `/plain/` route), as TOML text.
fn binary_config(upstream: std::net::SocketAddr) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
body_read_timeout_ms = 2000
shutdown_grace_ms = 5000

[admin]
listen = "127.0.0.1:0"

[[routes]]
prefix = "/plain/"
upstreams = ["http://{upstream}"]
auth = "none"
max_body_bytes = 67108864
"#
    )
}

#[tokio::test]
async fn sigterm_lets_slow_in_flight_requests_finish_and_the_process_exits_0() {
    let slow = spawn_upstream(Behaviour::Slow(1000)).await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, binary_config(slow.addr)).unwrap();
    let mut gateway = crate::process::Binary::start(&config_path).await;
    let addr = gateway.addr;
    const N: usize = 8;
    let done = Arc::new(AtomicUsize::new(0));
    let requests: Vec<_> = (0..N)
        .map(|i| {
            let url = format!("http://{addr}/plain/slow/{i}");
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let reply = post(&url, &[], "x").await;
                done.fetch_add(1, Ordering::SeqCst);
                reply.status
            })
        })
        .collect();
    eventually("all requests to be in flight at the upstream", async || {
        slow.requests().len() == N
    })
    .await;
    gateway.signal("TERM");
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    let status = tokio::time::timeout(Duration::from_secs(10), gateway.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(done.load(Ordering::SeqCst), N);
}

#[tokio::test]
async fn idle_keep_alive_and_trickled_heads_are_cut_at_the_header_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const DEADLINE: Duration = Duration::from_millis(500);
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = ConfigBuilder::new(upstream.addr)
        .with(|f| f.server.header_read_timeout_ms = Some(DEADLINE.as_millis() as u64))
        .build();
    let app = spawn_app(config).await;
    // A deadline, not a per-read idle timeout: the cut comes within about twice it.
    let in_time = |after: Duration| after >= DEADLINE.mul_f32(0.9) && after <= 2 * DEADLINE;

    // An idle keep-alive connection: one request, then silence.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /plain/a HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answered = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest))
        .await
        .expect("the idle connection was not closed")
        .ok();
    let idle_for = answered.elapsed();
    assert!(
        in_time(idle_for),
        "idle connection closed after {idle_for:?}"
    );

    // A slowloris: the head trickles in one byte every 50 ms and never completes in time.
    let slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let started = std::time::Instant::now();
    let (mut from_server, mut to_server) = slow.into_split();
    let trickle = tokio::spawn(async move {
        for byte in b"GET /plain/b HTTP/1.1\r\nhost: x\r\nx-a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
            if to_server.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), from_server.read_to_end(&mut rest))
        .await
        .expect("the trickled head was not cut")
        .ok();
    let cut_after = started.elapsed();
    trickle.abort();
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    assert!(in_time(cut_after), "trickled head cut after {cut_after:?}");
    // Meanwhile other clients are served.
    assert_eq!(
        post(&app.url("/plain/c"), &[], "").await.status,
        StatusCode::OK
    );
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| r.uri.path() != "/plain/b")
    );
}

#[tokio::test]
async fn on_shutdown_readyz_fails_at_once_while_connections_are_still_accepted_for_the_drain_delay()
{
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let mut app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.server.drain_delay_ms = Some(700))
            .build(),
    )
    .await;
    assert_eq!(admin_get(&app, "/readyz").await.status, 200);
    let shutdown_at = std::time::Instant::now();
    app.begin_shutdown();
    eventually("/readyz to fail once shutdown begins", async || {
        admin_get(&app, "/readyz").await.status == 503
    })
    .await;
    // A new connection, during the delay, is still served.
    let reply = post(&app.url("/plain/x"), &[], "still open").await;
    assert_eq!(reply.status, 200);
    // After the delay the listener is closed, and not before.
    eventually(
        "connections to be refused once the drain delay is over",
        async || tokio::net::TcpStream::connect(app.addr).await.is_err(),
    )
    .await;
    assert!(
        shutdown_at.elapsed() >= std::time::Duration::from_millis(700),
        "the listener closed {:?} after the shutdown signal, within the drain delay",
        shutdown_at.elapsed()
    );
}

#[test]
fn gen_cert_takes_several_names_after_one_flag() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["gen-cert", "--dir"])
        .arg(dir.path())
        .args(["--name", "api.bank.example", "127.0.0.2"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pem = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let chain = sealgate::tls::read_certs(&dir.path().join("cert.pem")).unwrap();
    assert!(!pem.is_empty() && chain.len() == 1);
    let (_, cert) = x509_parser::parse_x509_certificate(chain[0].as_ref()).unwrap();
    let names = format!(
        "{:?}",
        cert.subject_alternative_name().unwrap().unwrap().value
    );
    assert!(
        names.contains("api.bank.example") && names.contains("IPAddress([127, 0, 0, 2])"),
        "{names}"
    );
}

#[test]
fn the_configuration_file_may_come_from_sealgate_config() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gateway.toml");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("check-config")
        .env("SEALGATE_CONFIG", &config)
        .current_dir(std::env::temp_dir())
        .status()
        .unwrap();
    assert!(status.success(), "check-config read SEALGATE_CONFIG");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("check-config")
        .env("SEALGATE_CONFIG", "/nonexistent/gateway.toml")
        .current_dir(std::env::temp_dir())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "a missing file named by SEALGATE_CONFIG fails"
    );
}

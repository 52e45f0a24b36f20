//! The gateway's promises, each attacked the way issue #13's review broke it, through real
//! sockets and with the configuration that makes it hardest: a sealed body is accepted
//! **once**, it reaches **only the route it was meant for**, and the identity an upstream
//! reads is **the caller's**; and idle sockets cannot hold the gateway.

use std::time::Duration;

use sealgate::crypto::kdf::Kdf;
use sealgate_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHANNEL: &str = "MOB-APP-2001";

async fn session(app: &TestApp) -> ClientSession {
    handshake(app, CHANNEL, "MOB-APP", "TEST123", Kdf::HkdfSha256).await
}

/// Sends raw bytes on a new connection and returns the status code of the answer.
async fn raw_status(app: &TestApp, request: &str) -> u16 {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[tokio::test]
async fn a_sealed_body_is_accepted_once_even_when_the_session_store_is_full() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    // A store of one session: the attacker fills it, so the victim's session is served
    // uncached, rebuilt from its ticket on every request.
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.token.max_sessions = Some(1))
            .build(),
    )
    .await;
    let _filler = session(&app).await;
    let victim = session(&app).await;
    let sealed = seal(&victim, br#"{"amount":100}"#, None);
    // Each call is a new connection, so nothing per-connection remembers the body.
    let mut accepted = 0;
    for _ in 0..4 {
        let reply = call(&app, &victim, "/api/echo", &sealed).await;
        if reply.status == 200 {
            accepted += 1;
        } else {
            assert_eq!(reply.codes().0, "AUTH008", "{:?}", reply.codes());
        }
    }
    assert_eq!(accepted, 1, "a body must be accepted exactly once");
    assert_eq!(
        upstream.requests().len(),
        1,
        "the upstream saw the body once"
    );
}

#[tokio::test]
async fn one_sealed_body_on_many_connections_at_the_same_instant_is_accepted_once() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    race_one_body(&[app.addr; 16], &session(&app).await, &upstream).await;
}

#[tokio::test]
async fn a_sealed_body_replayed_after_expiry_within_the_leeway_is_refused() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.token.sweep_interval_ms = Some(20))
            .build(),
    )
    .await;
    // CH-SHORT issues 1 s tokens; the leeway (60 s) keeps them accepted after `exp`.
    let short = handshake(&app, "CH-SHORT", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let sealed = seal(&short, b"{}", None);
    assert_eq!(call(&app, &short, "/api/echo", &sealed).await.status, 200);
    // Past `exp`: the sweep drops the cached session; its replay memory must stay.
    app.clock.advance(Duration::from_secs(5));
    eventually(
        "the sweep to drop the expired session from the cache",
        async || app.gateway.sessions().is_empty(),
    )
    .await;
    let replay = call(&app, &short, "/api/echo", &sealed).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.codes().0, "AUTH008");
    let fresh = call(&app, &short, "/api/echo", &seal(&short, b"{}", None)).await;
    assert_eq!(
        fresh.status, 200,
        "the token itself is still within its leeway"
    );
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test]
async fn tokens_issued_before_a_restart_are_refused_unless_the_operator_accepts_the_risk() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    // The "restart" (a new gateway with the same token keys, the old one gone) within the
    // very second the token was issued in, where a comparison of whole seconds ties: five
    // times, each begun just after a second starts so all of it fits in that second.
    let mut old = None;
    for round in 0..5 {
        tokio::time::sleep(Duration::from_millis(
            1000 - sealgate::clock::now_ms().rem_euclid(1000) as u64 + 5,
        ))
        .await;
        let second = sealgate::clock::now_secs();
        let before = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
        let token = session(&before).await;
        let sealed = seal(&token, b"{}", None);
        assert_eq!(
            call(&before, &token, "/api/echo", &sealed).await.status,
            200
        );
        drop(before);
        let after = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
        let replay = call(&after, &token, "/api/echo", &sealed).await;
        assert_eq!(
            sealgate::clock::now_secs(),
            second,
            "round {round} did not fit in one second (a slow machine): nothing was proved"
        );
        assert_eq!(replay.status, 401, "round {round}");
        assert_eq!(replay.codes().0, "AUTH010");
        old = Some((token, after));
    }
    let (old, after) = old.unwrap();
    let new = session(&after).await;
    assert_eq!(
        call(&after, &new, "/api/echo", &seal(&new, b"{}", None))
            .await
            .status,
        200,
        "a new handshake works at once"
    );
    let lenient = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.sessions.accept_tokens_from_before_start = Some(true))
            .build(),
    )
    .await;
    let fresh_body = seal(&old, b"{}", None);
    assert_eq!(
        call(&lenient, &old, "/api/echo", &fresh_body).await.status,
        200
    );
}

#[tokio::test]
async fn idle_connections_cannot_hold_every_slot() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.server.max_connections = Some(4);
                // Every client here is 127.0.0.1: the global limit is under test.
                f.server.max_connections_per_address = Some(4);
                f.server.header_read_timeout_ms = Some(300);
            })
            .build(),
    )
    .await;
    let mut idle = Vec::new();
    for i in 0..4 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 1 {
            // An HTTP/2 preface and an empty SETTINGS frame, then nothing.
            stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    // Every slot is taken; a real client must still be served once the idle ones are cut.
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        send(
            http::Request::get(app.url("/plain/ping"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        ),
    )
    .await
    .expect("a normal client was kept waiting by idle sockets");
    assert_eq!(reply.status, 200);
    for mut stream in idle {
        let mut buf = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "an idle connection was left open");
    }
}

#[tokio::test]
async fn identity_and_address_headers_cannot_be_smuggled_under_aliases() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let s = session(&app).await;
    let sealed = seal(&s, b"{}", None);
    let aliases = [
        ("x_client_id", "ADMIN"),
        ("X-Client_Id", "ADMIN"),
        ("x_channel", "INTERNAL"),
        ("x_forwarded_for", "10.0.0.1"),
        ("x-real-ip", "10.0.0.1"),
        ("x_real_ip", "10.0.0.1"),
        ("client-ip", "10.0.0.1"),
        ("true-client-ip", "10.0.0.1"),
        ("x_client_cert_subject", "CN=admin"),
        // What a client says about its connection, read by some framework or other.
        ("x-forwarded-ssl", "on"),
        ("x-forwarded-scheme", "https"),
        ("x-url-scheme", "https"),
        ("front-end-https", "on"),
        ("x-original-host", "admin.internal"),
        ("x-host", "admin.internal"),
        ("x_forwarded_ssl", "on"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-scheme", "https"),
        ("x-forwarded-client-cert", "Subject=\"CN=admin\""),
        ("ssl_client_cert", "-----BEGIN CERTIFICATE-----"),
        ("x-arr-clientcert", "MIIB"),
    ];
    let mut headers: Vec<(&str, &str)> = aliases.to_vec();
    let bearer = format!("Bearer {}", s.token);
    headers.push(("authorization", &bearer));
    headers.push(("content-type", "application/jose"));
    let reply = post(&app.url("/api/echo"), &headers, sealed).await;
    assert_eq!(reply.status, 200, "{:?}", reply.codes());
    let got = &upstream.requests()[0].headers;
    assert_eq!(got["x-client-id"], "MOB-APP");
    assert_eq!(got.get_all("x-client-id").iter().count(), 1);
    assert_eq!(got["x-forwarded-for"], "127.0.0.1");
    for (name, _) in aliases {
        let lower = name.to_ascii_lowercase();
        let present = got.keys().any(|k| k.as_str() == lower);
        assert!(
            !present || lower == "x-client-id",
            "`{name}` reached the upstream: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_trusted_proxy_states_the_client_address_and_a_client_cannot() {
    // From a trusted proxy (the loopback network here), `X-Real-IP`, `Client-IP`,
    // `True-Client-IP` and `Forwarded` pass (docs/protocol.md §4.2); identity and the other
    // aliases never do. The same headers from an untrusted client are removed: the test
    // above.
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.server.trusted_proxies = vec!["127.0.0.0/8".to_owned()])
            .build(),
    )
    .await;
    let s = session(&app).await;
    let bearer = format!("Bearer {}", s.token);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/jose"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-real-ip", "203.0.113.7"),
        ("client-ip", "203.0.113.7"),
        ("true-client-ip", "203.0.113.7"),
        ("forwarded", "for=203.0.113.7"),
        ("cf-connecting-ip", "198.51.100.1"),
        ("x_client_id", "ADMIN"),
    ];
    let reply = post(&app.url("/api/echo"), &headers, seal(&s, b"{}", None)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.codes());
    let got = &upstream.requests()[0].headers;
    assert_eq!(got["x-forwarded-for"], "203.0.113.7");
    for name in ["x-real-ip", "client-ip", "true-client-ip"] {
        assert_eq!(got[name], "203.0.113.7", "{name}");
    }
    assert_eq!(got["forwarded"], "for=203.0.113.7");
    assert!(!got.contains_key("cf-connecting-ip"), "{got:?}");
    assert!(!got.keys().any(|k| k.as_str() == "x_client_id"), "{got:?}");
    assert_eq!(got["x-client-id"], "MOB-APP");
}

#[tokio::test]
async fn an_ambiguous_or_oversized_head_never_reaches_the_upstream() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.server.max_headers = Some(50))
            .build(),
    )
    .await;
    // Two Host headers (RFC 9112 §3.2): which routes and which the upstream reads could
    // differ.
    let two_hosts = "GET /plain/a HTTP/1.1\r\nHost: a.example\r\nHost: admin.internal\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(&app, two_hosts).await, 400);
    // An overlong UTF-8 dot (`%c0%ae`), which lax decoders read as `.`: `/plain/../api`.
    let overlong =
        "GET /plain/%c0%ae%c0%ae/api/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(&app, overlong).await, 400);
    // Over HTTP/2 (h2c here) the header count is the gateway's to enforce, as hyper does
    // for HTTP/1: past 50 fields, 431.
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = |fields: usize| {
        let mut builder = http::Request::get(app.url("/plain/h2"));
        for i in 0..fields {
            builder = builder.header(format!("x-field-{i}"), "v");
        }
        builder
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let ok = h2.request(request(10)).await.unwrap();
    assert_eq!(
        (ok.version(), ok.status().as_u16()),
        (http::Version::HTTP_2, 200)
    );
    // 120 short fields fit the head's byte limit; only the count refuses them.
    let refused = h2.request(request(120)).await.unwrap();
    assert_eq!(refused.status().as_u16(), 431);
    let body = http_body_util::BodyExt::collect(refused.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("HEAD002"));
    let seen: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.uri.path().to_owned())
        .collect();
    assert_eq!(
        seen,
        ["/plain/h2"],
        "only the acceptable request was forwarded"
    );
}

#[test]
fn an_identity_header_name_with_an_underscore_is_refused_at_load() {
    for key in ["client_id_header", "channel_header"] {
        let error = ConfigBuilder::new(refused_addr())
            .with(|f| match key {
                "client_id_header" => f.token.client_id_header = Some("x_client_id".into()),
                _ => f.token.channel_header = Some("x_channel".into()),
            })
            .try_build()
            .unwrap_err()
            .to_string();
        assert!(error.contains(&format!("token.{key}")), "{error}");
        assert!(error.contains("`_`"), "{error}");
    }
}

#[test]
fn an_upstream_url_with_credentials_is_refused_at_load() {
    let dead = refused_addr();
    let error = ConfigBuilder::new(dead)
        .route(route_file(
            "/creds/",
            &format!("http://svc:CANARY-PASSWORD@{dead}/base"),
        ))
        .try_build()
        .unwrap_err()
        .to_string();
    assert!(error.contains("upstreams[0]"), "{error}");
    assert!(error.contains("credentials"), "{error}");
    assert!(
        !error.contains("CANARY-PASSWORD"),
        "the error repeats the secret: {error}"
    );
}

#[tokio::test]
async fn a_routes_auth_cannot_be_walked_around_through_a_catch_all_route() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .route({
                let mut route = route_file("/", &format!("http://{}", upstream.addr));
                route.auth = Some(sealgate::config::RouteAuth::None);
                route
            })
            .build(),
    )
    .await;
    for path in [
        "//api/echo",
        "///api/echo",
        "/x/..;/api/echo",
        "/x/%2e%2e/api/echo",
        "/%61pi/echo",
        "/api%2fecho",
        "/x/..%3b/api/echo",
    ] {
        let status = raw_status(
            &app,
            &format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            status == 401 || status == 400,
            "{path} answered {status}: it reached a route without its token"
        );
    }
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| !r.uri.path().contains("api")),
        "the upstream saw a token route's path unauthenticated: {:?}",
        upstream
            .requests()
            .iter()
            .map(|r| r.uri.clone())
            .collect::<Vec<_>>()
    );
    // The normal path through the catch-all still works, and is forwarded as matched.
    assert_eq!(
        raw_status(
            &app,
            "GET //public//x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        .await,
        200
    );
    assert_eq!(upstream.requests().last().unwrap().uri.path(), "/public/x");
}

#[tokio::test]
async fn x_forwarded_host_is_sent_only_for_a_configured_public_host_name() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.server.forwarded_hosts = vec!["api.bank.example".into()])
            .build(),
    )
    .await;
    for (host, expected) in [
        ("api.bank.example", Some("api.bank.example")),
        ("API.bank.example:6666", Some("api.bank.example")),
        ("evil.example", None),
    ] {
        raw_status(
            &app,
            &format!("GET /plain/x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let last = upstream.requests().last().unwrap().clone();
        assert_eq!(
            last.headers
                .get("x-forwarded-host")
                .map(|v| v.to_str().unwrap()),
            expected,
            "Host: {host}"
        );
    }
}

#[tokio::test]
async fn a_sealed_response_carries_no_upstream_header_and_is_not_cached() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let s = session(&app).await;
    let reply = call(&app, &s, "/api/echo", &seal(&s, b"{}", None)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/jose");
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert!(
        !reply.headers.contains_key("x-upstream"),
        "an upstream header passed beside a sealed response"
    );
}

/// A POST of a token request for `api_key`/`secret` from the local address `from`.
async fn token_request_from(app: &TestApp, from: &str, api_key: &str, secret: &str) -> Reply {
    let key = client_key();
    let request = http::Request::post(app.url(TOKEN_PATH))
        .header("x-api-key", CHANNEL)
        .body(http_body_util::Full::new(bytes::Bytes::from(token_body(
            api_key,
            secret,
            &key.public_key_field,
        ))))
        .unwrap();
    send_from(from, request).await
}

/// Sends `request` from the loopback address `from` and reads the answer whole.
async fn send_from(
    from: &str,
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> Reply {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_local_address(Some(from.parse().unwrap()));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Full<bytes::Bytes>>(connector);
    let response = client.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A sealed call to `/api/echo` sent from the loopback address `from`.
async fn sealed_call_from(app: &TestApp, from: &str, s: &ClientSession, sealed: &str) -> Reply {
    let request = http::Request::post(app.url("/api/echo"))
        .header("authorization", format!("Bearer {}", s.token))
        .header("content-type", "application/jose")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            sealed.to_owned(),
        )))
        .unwrap();
    send_from(from, request).await
}

#[tokio::test]
async fn one_address_spends_its_own_share_of_the_replay_memory() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.sessions.replay_memory_sessions = Some(12);
                f.sessions.replay_memory_per_address = Some(3);
                f.sessions.replay_memory_per_prefix = Some(6);
            })
            .build(),
    )
    .await;
    // The flood: 10 sessions used from one address, each with one body.
    let mut flood = Vec::new();
    for _ in 0..10 {
        let s = session(&app).await;
        let sealed = seal(&s, b"{}", None);
        let reply = sealed_call_from(&app, "127.0.0.2", &s, &sealed).await;
        assert_eq!(reply.status, 200, "{:?}", reply.codes());
        flood.push((s, sealed));
    }
    // Its share is 3: its 7 oldest sessions were evicted for its newest, and are refused,
    // a replay of what they sent included; its 3 newest carry on.
    for (i, (s, sealed)) in flood.iter().enumerate() {
        let replay = sealed_call_from(&app, "127.0.0.2", s, sealed).await;
        let fresh = sealed_call_from(&app, "127.0.0.2", s, &seal(s, b"{}", None)).await;
        if i < 7 {
            assert_eq!(
                replay.codes().0,
                "AUTH011",
                "session {i}: a replay is refused"
            );
            assert_eq!(
                (fresh.status.as_u16(), fresh.codes().0.as_str()),
                (401, "AUTH011"),
                "session {i}: evicted sessions are refused"
            );
        } else {
            assert_eq!(replay.codes().0, "AUTH008", "session {i}");
            assert_eq!(fresh.status, 200, "session {i}");
        }
    }
    assert_eq!(
        upstream.requests().len(),
        10 + 3,
        "nothing replayed reached the upstream"
    );
    // Elsewhere, in another prefix: served, whatever the flood did.
    for from in ["127.0.1.1", "127.0.2.1", "127.0.3.1"] {
        let s = session(&app).await;
        let reply = sealed_call_from(&app, from, &s, &seal(&s, b"{}", None)).await;
        assert_eq!(reply.status, 200, "from {from}: {:?}", reply.codes());
    }
    let metrics = metrics_text(&app).await;
    assert_eq!(
        metric(
            &metrics,
            "sealgate_rejected_total{route=\"/api/\",res_code=\"AUTH011\"}"
        ),
        14.0
    );
}

#[tokio::test]
async fn wrong_secrets_from_elsewhere_cannot_lock_the_real_client_out() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.token.rate_limit_per_client_per_minute = Some(3))
            .build(),
    )
    .await;
    // The attacker, from 127.0.0.2, guesses until it is throttled.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let reply = token_request_from(&app, "127.0.0.2", "MOB-APP", "guess").await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    // The real client, elsewhere, still gets its tokens, up to its own allowance.
    for _ in 0..3 {
        let reply = token_request_from(&app, "127.0.0.1", "MOB-APP", "TEST123").await;
        assert_eq!(reply.status, 200, "{:?}", reply.codes());
    }
    let reply = token_request_from(&app, "127.0.0.1", "MOB-APP", "TEST123").await;
    assert_eq!(reply.status, 429, "the client's own allowance still holds");
}

#[tokio::test]
async fn a_burst_of_wrong_argon2_secrets_runs_at_most_two_checks_at_once() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let hash = sealgate::token::credentials::hash_argon2(b"right").unwrap();
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.token.max_concurrent_secret_checks = Some(2))
            .client(
                "SLOW",
                sealgate::config::ClientFile {
                    secret_hash: Some(hash.into()),
                    channels: vec![CHANNEL.to_owned()],
                    ..Default::default()
                },
            )
            .build(),
    )
    .await;
    // 24 wrong secrets at once; half the clients hang up after 20 ms, so their checks are
    // abandoned while queued or running (an abandoned check must keep its slot until done).
    let burst: Vec<_> = (0..24)
        .map(|i| {
            let url = app.url(TOKEN_PATH);
            let key = client_key();
            tokio::spawn(async move {
                let request = post(
                    &url,
                    &[("x-api-key", CHANNEL)],
                    token_body("SLOW", &format!("wrong-{i}"), &key.public_key_field),
                );
                if i % 2 == 0 {
                    let _ = tokio::time::timeout(Duration::from_millis(20), request).await;
                    None
                } else {
                    Some(request.await.status.as_u16())
                }
            })
        })
        .collect();
    // The gauge is raised inside the check itself; each argon2id check takes tens of
    // milliseconds, so a sample every millisecond sees any overlap past the slots.
    let running = app.gateway.metrics().secret_checks_running.clone();
    let mut most = 0;
    let mut answered = Vec::new();
    let mut pending = burst;
    while !pending.is_empty() || running.get() != 0 {
        most = most.max(running.get());
        let (done, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|t| t.is_finished());
        for task in done {
            answered.extend(task.await.unwrap());
        }
        pending = rest;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(answered.len(), 12);
    assert!(
        answered.iter().all(|s| *s == 401 || *s == 503),
        "every wrong secret is refused or asked to retry: {answered:?}"
    );
    assert_eq!(
        most, 2,
        "argon2id checks running at once during a burst of 24 with 2 slots"
    );
}

#[tokio::test]
async fn the_admin_listener_cannot_be_held_by_idle_sockets() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.admin.max_connections = Some(2);
                f.admin.header_read_timeout_ms = Some(300);
            })
            .build(),
    )
    .await;
    let admin = app.admin_addr.unwrap();
    let _idle = [
        TcpStream::connect(admin).await.unwrap(),
        TcpStream::connect(admin).await.unwrap(),
    ];
    let reply = tokio::time::timeout(Duration::from_secs(5), admin_get(&app, "/readyz"))
        .await
        .expect("/readyz was kept waiting by idle admin sockets");
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_reload_that_takes_a_client_off_its_channel_ends_its_sessions() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let s = handshake(&app, CHANNEL, "ABC", "BankeZy123", Kdf::HkdfSha256).await;
    assert_eq!(
        call(&app, &s, "/api/echo", &seal(&s, b"{}", None))
            .await
            .status,
        200
    );
    let moved = ConfigBuilder::new(upstream.addr)
        .with(|f| f.clients.get_mut("ABC").unwrap().channels = vec!["CH-HKDF".to_owned()])
        .build();
    app.gateway.reload(moved).unwrap();
    let reply = call(&app, &s, "/api/echo", &seal(&s, b"{}", None)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.codes().0, "AUTH007");
}

#[tokio::test]
async fn seals_under_each_token_key_are_counted() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    session(&app).await;
    session(&app).await;
    let text = metrics_text(&app).await;
    assert_eq!(
        metric(&text, "sealgate_token_key_seals_total{kid=\"test-1\"}"),
        2.0
    );
}

#[test]
fn gen_cert_writes_a_private_key_only_its_owner_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["gen-cert", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(dir.path().join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "key.pem mode {:o}", mode & 0o777);
}

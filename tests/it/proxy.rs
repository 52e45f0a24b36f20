//! Protected and plain routes (docs/protocol.md §4) through a real socket and a recording upstream.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use sealgate::config::{RouteAuth, RouteFile, SessionMode};
use sealgate::crypto::Key32;
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::{b64, jwe};

use sealgate_testkit::*;

/// A gateway on the test configuration plus `routes`, and its recording upstream.
async fn setup(
    behaviour: Behaviour,
    routes: impl IntoIterator<Item = RouteFile>,
) -> (TestApp, TestUpstream) {
    let upstream = spawn_upstream(behaviour).await;
    let config = ConfigBuilder::new(upstream.addr)
        .with(|f| f.routes.extend(routes))
        .build();
    let app = spawn_app(config).await;
    (app, upstream)
}

async fn session(app: &TestApp) -> ClientSession {
    handshake(app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await
}

fn open(session: &ClientSession, reply: &Reply) -> (jwe::Header, Vec<u8>) {
    jwe::open(&reply.body, &session.key, usize::MAX)
        .expect("the response opens with the session key")
}

fn assert_gateway_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "{:?}", reply.body);
    assert_eq!(reply.codes().0, code);
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "gateway errors are never encrypted"
    );
}

/// A free loopback port with nothing listening.
/// A port on which connections are refused, held for as long as the returned socket lives:
/// bound but not listening, so no concurrent test can take it and start answering.
fn closed_port() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

#[tokio::test]
async fn an_encrypted_request_reaches_the_upstream_as_plaintext_and_the_response_comes_back_sealed()
{
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let s = session(&app).await;
    let plaintext = br#"{"amount":100,"to":"ACC-1"}"#;
    let reply = call(
        &app,
        &s,
        "/api/transfer?dry=1",
        &seal(&s, plaintext, Some("application/json")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.headers["content-type"], "application/jose");
    // A sealed response leaks nothing in clear (docs/protocol.md §4): by default no upstream
    // header passes beside it, and it is never cached.
    assert!(
        !reply.headers.contains_key("x-upstream"),
        "an upstream header passed beside a sealed response"
    );
    assert_eq!(reply.headers["cache-control"], "no-store");
    let (header, opened) = open(&s, &reply);
    assert_eq!(header.cty.as_deref(), Some("application/json"));
    let echoed: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/api/transfer");
    assert_eq!(echoed["query"], "dry=1");
    assert_eq!(echoed["body"], std::str::from_utf8(plaintext).unwrap());
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, http::Method::POST);
    assert_eq!(&seen[0].body[..], plaintext);
}

#[tokio::test]
async fn the_upstream_receives_exactly_the_documented_headers() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let s = session(&app).await;
    let sealed = seal(&s, b"{}", Some("application/vnd.bank+json"));
    let request = http::Request::post(app.url("/api/x"))
        .header("authorization", format!("Bearer {}", s.token))
        .header("content-type", "text/plain")
        .header("x-client-id", "admin")
        .header("x-channel", "spoofed")
        .header("x-forwarded-for", "6.6.6.6")
        .header("connection", "x-hop")
        .header("x-hop", "secret")
        .header("x-custom", "kept")
        .header("x-request-id", "req-123")
        .body(Full::new(Bytes::from(sealed)))
        .unwrap();
    let reply = send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["x-request-id"], "req-123");
    let got = &upstream.requests()[0];
    let mut names: Vec<&str> = got.headers.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "content-length",
            "content-type",
            "host",
            "x-channel",
            "x-client-id",
            "x-custom",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-request-id"
        ]
    );
    let h = &got.headers;
    assert_eq!(h["content-type"], "application/vnd.bank+json");
    assert_eq!(h["content-length"], "2");
    assert_eq!(h["x-client-id"], "MOB-APP");
    assert_eq!(h["x-channel"], "MOB-APP-2001");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    // No `server.forwarded_hosts` configured: the client's Host is not passed on.
    assert!(!h.contains_key("x-forwarded-host"));
    assert_eq!(h["x-request-id"], "req-123");
    assert_eq!(h["host"], upstream.addr.to_string());
    assert_eq!(got.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn a_missing_token_is_401_with_a_bearer_challenge() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let reply = post(&app.url("/api/x"), &[], "x").await;
    assert_gateway_error(&reply, 401, "AUTH001");
    assert!(
        reply.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn tampered_truncated_and_unknown_key_tokens_are_401() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let s = session(&app).await;
    let body = seal(&s, b"{}", None);
    let mut segments: Vec<String> = s.token.split('.').map(str::to_owned).collect();

    // A flipped ciphertext bit: does not decrypt.
    let mut ct = b64::decode_strict(segments[3].as_bytes()).unwrap();
    ct[0] ^= 1;
    let tampered = [
        segments[0].clone(),
        String::new(),
        segments[2].clone(),
        b64::encode(&ct),
        segments[4].clone(),
    ]
    .join(".");
    // The tag cut to 1 byte: refused before any decryption (the CVE-2023-37464 class).
    let tag = b64::decode_strict(segments[4].as_bytes()).unwrap();
    segments[4] = b64::encode(&tag[..1]);
    let truncated = segments.join(".");
    // A well-formed token under a kid the gateway does not have.
    let unknown_kid = jwe::seal(
        b"{}",
        &Key32::from_bytes([1; 32]),
        &jwe::Header {
            kid: Some("nope".into()),
            cty: None,
            ..Default::default()
        },
    )
    .unwrap();

    for (token, code) in [
        (tampered, "AUTH004"),
        (truncated, "AUTH002"),
        (unknown_kid, "AUTH003"),
        ("garbage".to_owned(), "AUTH002"),
    ] {
        let reply = post(
            &app.url("/api/x"),
            &[("authorization", &format!("Bearer {token}"))],
            body.clone(),
        )
        .await;
        assert_gateway_error(&reply, 401, code);
        assert!(
            reply.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = ConfigBuilder::new(upstream.addr)
        .with(|f| f.token.leeway_secs = Some(0))
        .build();
    let app = spawn_app(config).await;
    let s = handshake(&app, "CH-SHORT", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let ok = call(&app, &s, "/api/x", &seal(&s, b"{}", None)).await;
    assert_eq!(ok.status, StatusCode::OK, "valid before expiry");
    // Past the 1-second lifetime, on the gateway's clock.
    app.clock.advance(Duration::from_millis(2100));
    let reply = call(&app, &s, "/api/x", &seal(&s, b"{}", None)).await;
    assert_gateway_error(&reply, 401, "AUTH005");
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn a_body_sealed_under_another_sessions_key_is_400() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let mine = session(&app).await;
    let theirs = session(&app).await;
    let reply = call(&app, &mine, "/api/x", &seal(&theirs, b"{}", None)).await;
    assert_gateway_error(&reply, 400, "BODY002");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_400_and_never_forwarded() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let s = session(&app).await;
    let good = seal(&s, b"{}", None);
    let parts: Vec<&str> = good.split('.').collect();
    let zip_header = b64::encode(br#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#);
    let other_enc = b64::encode(br#"{"alg":"dir","enc":"A128GCM"}"#);
    for body in [
        "not a jwe".to_owned(),
        format!("{good}.extra"),
        format!(
            "{}.{}.{}.{}.{}",
            zip_header, "", parts[2], parts[3], parts[4]
        ),
        format!(
            "{}.{}.{}.{}.{}",
            other_enc, "", parts[2], parts[3], parts[4]
        ),
        format!(
            r#"{{"protected":"{}","iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
            parts[0], parts[2], parts[3], parts[4]
        ),
    ] {
        let reply = call(&app, &s, "/api/x", &body).await;
        assert_gateway_error(&reply, 400, "BODY001");
    }
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_replayed_body_is_refused_and_the_upstream_sees_it_once() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let s = session(&app).await;
    let body = seal(&s, br#"{"pay":1}"#, None);
    assert_eq!(
        call(&app, &s, "/api/pay", &body).await.status,
        StatusCode::OK
    );
    let replay = call(&app, &s, "/api/pay", &body).await;
    assert_gateway_error(&replay, 401, "AUTH008");
    assert_eq!(upstream.requests().len(), 1);
    // A fresh IV for the same plaintext is a new request.
    assert_eq!(
        call(&app, &s, "/api/pay", &seal(&s, br#"{"pay":1}"#, None))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_body_over_the_route_limit_is_413() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let s = session(&app).await;
    let reply = call(&app, &s, "/api/small/x", &seal(&s, &[b'a'; 1024], None)).await;
    assert_gateway_error(&reply, 413, "BODY003");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn no_matching_route_is_404() {
    let (app, _upstream) = setup(Behaviour::Echo, []).await;
    assert_gateway_error(
        &post(&app.url("/nothing/here"), &[], "").await,
        404,
        "ROUTE001",
    );
    // Prefixes match whole segments.
    assert_gateway_error(&post(&app.url("/apix"), &[], "").await, 404, "ROUTE001");
}

#[tokio::test]
async fn dot_segments_and_upgrades_are_refused() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    assert_gateway_error(
        &post(&app.url("/plain/%2e%2e/api/x"), &[], "").await,
        400,
        "ROUTE003",
    );
    let upgrade = post(
        &app.url("/plain/ws"),
        &[("connection", "upgrade"), ("upgrade", "websocket")],
        "",
    )
    .await;
    assert_gateway_error(&upgrade, 501, "ROUTE002");
    assert!(upstream.requests().is_empty());
    // An h2c upgrade offer (Java's HttpClient sends one by default) is declined by ignoring
    // it: the request is served over HTTP/1.1 and the offer is not forwarded.
    let h2c = post(
        &app.url("/plain/h2c"),
        &[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA"),
        ],
        "",
    )
    .await;
    assert_eq!(h2c.status, StatusCode::OK);
    let got = &upstream.requests()[0];
    assert!(!got.headers.contains_key("upgrade") && !got.headers.contains_key("http2-settings"));
}

#[tokio::test]
async fn an_upstream_that_refuses_connections_is_502() {
    let (_held, dead) = closed_port();
    let dead_route = RouteFile {
        auth: Some(RouteAuth::None),
        ..route_file("/dead/", &format!("http://{dead}"))
    };
    let (app, _upstream) = setup(Behaviour::Echo, [dead_route]).await;
    assert_gateway_error(
        &post(&app.url("/dead/x"), &[], "hi").await,
        502,
        "UPSTREAM001",
    );
}

#[tokio::test]
async fn an_upstream_that_hangs_is_504_after_the_route_timeout() {
    let hanging = spawn_upstream(Behaviour::Hang).await;
    let slow_route = RouteFile {
        upstream_timeout_ms: Some(300),
        ..route_file("/slow/", &format!("http://{}", hanging.addr))
    };
    let (app, _upstream) = setup(Behaviour::Echo, [slow_route]).await;
    let s = session(&app).await;
    let reply = call(&app, &s, "/slow/x", &seal(&s, b"{}", None)).await;
    assert_gateway_error(&reply, 504, "UPSTREAM004");
    assert_eq!(hanging.requests().len(), 1, "sent once, never retried");
}

#[tokio::test]
async fn upstream_error_statuses_come_back_encrypted_with_their_status() {
    let (app, _upstream) = setup(Behaviour::Fixed(503, "text/plain", b"backend down"), []).await;
    let s = session(&app).await;
    let reply = call(&app, &s, "/api/x", &seal(&s, b"{}", None)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers["content-type"], "application/jose");
    let (header, opened) = open(&s, &reply);
    assert_eq!(header.cty.as_deref(), Some("text/plain"));
    assert_eq!(opened, b"backend down");
}

#[tokio::test]
async fn a_plain_route_streams_a_large_body_through_untouched() {
    let (app, upstream) = setup(Behaviour::Fixed(200, "text/plain", b"ok"), []).await;
    let body: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let reply = post(
        &app.url("/plain/upload"),
        &[("content-type", "application/octet-stream")],
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"ok");
    let got = &upstream.requests()[0];
    assert_eq!(got.body.len(), body.len());
    assert!(got.body == body, "the upstream received the same bytes");
    assert_eq!(got.headers["content-type"], "application/octet-stream");
    assert!(
        !got.headers.contains_key("x-client-id"),
        "no identity on an unauthenticated route"
    );
}

#[tokio::test]
async fn a_token_route_without_encryption_strips_the_prefix_and_passes_identity() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let s = session(&app).await;
    let reply = post(
        &app.url("/token-plain/accounts/7?x=1"),
        &[
            ("authorization", &format!("Bearer {}", s.token)),
            ("content-type", "text/csv"),
        ],
        "a,b",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["path"], "/base/accounts/7");
    let got = &upstream.requests()[0];
    assert_eq!(got.uri.path(), "/base/accounts/7");
    assert_eq!(got.uri.query(), Some("x=1"));
    assert_eq!(&got.body[..], b"a,b");
    assert_eq!(got.headers["x-client-id"], "MOB-APP");
    assert!(!got.headers.contains_key("authorization"));
}

#[tokio::test]
async fn a_second_instance_with_the_same_token_keys_serves_a_ticket_session() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = || ConfigBuilder::new(upstream.addr).build();
    // Both running (as behind a balancer): a token issued by one, used on the other. (An
    // instance started after a token was issued refuses it on the memory backend, AUTH010.)
    let first = spawn_app(config()).await;
    let second = spawn_app(config()).await;
    let s = session(&first).await;
    drop(first);
    assert!(second.gateway.sessions().is_empty());
    let reply = call(&second, &s, "/api/x", &seal(&s, b"{\"a\":1}", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let echoed: serde_json::Value = serde_json::from_slice(&open(&s, &reply).1).unwrap();
    assert_eq!(echoed["body"], "{\"a\":1}");
    assert_eq!(
        second.gateway.sessions().len(),
        1,
        "the ticket refilled the cache"
    );
}

#[tokio::test]
async fn in_local_mode_another_instance_does_not_know_the_session() {
    let upstream = spawn_demo_upstream().await;
    let config = || {
        ConfigBuilder::new(upstream)
            .with(|f| f.token.sessions = Some(SessionMode::Local))
            .build()
    };
    let first = spawn_app(config()).await;
    let second = spawn_app(config()).await;
    let s = session(&first).await;
    assert_eq!(
        call(&first, &s, "/api/x", &seal(&s, b"{}", None))
            .await
            .status,
        StatusCode::OK
    );
    assert_gateway_error(
        &call(&second, &s, "/api/x", &seal(&s, b"{}", None)).await,
        401,
        "AUTH007",
    );
}

#[tokio::test]
async fn in_flight_requests_finish_when_the_gateway_shuts_down() {
    let slow = spawn_upstream(Behaviour::Slow(500)).await;
    let mut app = spawn_app(ConfigBuilder::new(slow.addr).build()).await;
    let url = app.url("/plain/slow");
    let requests: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let url = url.clone();
                async move { post(&url, &[], "x").await }
            })
        })
        .collect();
    // Once all four are at the upstream (which then takes 500 ms to answer), signal
    // shutdown while they are in flight.
    eventually("the four requests to reach the upstream", async || {
        slow.requests().len() == 4
    })
    .await;
    app.begin_shutdown();
    for request in requests {
        let reply = request.await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "an in-flight request was lost"
        );
    }
    let stopped = app.stopped.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(app.addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn the_library_client_round_trips_and_renews_a_short_token() {
    let (app, upstream) = setup(Behaviour::Echo, []).await;
    let client = sealgate::client::Client::new(sealgate::client::ClientConfig {
        base: app.url("").parse().unwrap(),
        token_path: TOKEN_PATH.to_owned(),
        channel: "CH-SHORT".to_owned(),
        api_key: "MOB-APP".to_owned(),
        secret: "TEST123".to_owned(),
        kdf: Kdf::HkdfSha256,
        ca_file: None,

        trust: Default::default(),
    })
    .unwrap();
    let reply = client
        .call(
            http::Method::PUT,
            "/api/item/1",
            b"{\"n\":1}",
            Some("application/json"),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.was_sealed);
    let echoed: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(echoed["method"], "PUT");
    // A 1-second token is always within the renewal margin: every call gets a new session.
    client
        .call(http::Method::PUT, "/api/item/1", b"{}", None)
        .await
        .unwrap();
    assert_eq!(app.gateway.sessions().len(), 2);
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test]
async fn identity_header_names_are_configurable_for_legacy_backends() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = ConfigBuilder::new(upstream.addr)
        .with(|f| {
            f.token.client_id_header = Some("x-legacy-user".to_owned());
            f.token.channel_header = Some("x-legacy-channel".to_owned());
        })
        .build();
    let app = spawn_app(config).await;
    let s = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let reply = post(
        &app.url("/api/x"),
        &[
            ("authorization", &format!("Bearer {}", s.token)),
            ("x-legacy-user", "admin"),
        ],
        seal(&s, b"{}", None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let h = &upstream.requests()[0].headers;
    assert_eq!(
        h.get_all("x-legacy-user").iter().collect::<Vec<_>>(),
        ["MOB-APP"]
    );
    assert_eq!(h["x-legacy-channel"], "MOB-APP-2001");
    assert!(!h.contains_key("x-client-id") && !h.contains_key("x-channel"));
}

#[tokio::test]
async fn past_the_in_flight_limit_requests_are_shed_with_503() {
    let slow = spawn_upstream(Behaviour::Slow(600)).await;
    let config = ConfigBuilder::new(slow.addr)
        .with(|f| f.server.max_in_flight = Some(1))
        .build();
    let app = spawn_app(config).await;
    let url = app.url("/plain/slow");
    let first = tokio::spawn(async move { post(&url, &[], "x").await });
    // The first request holds the only slot from the moment the upstream has it (for 600 ms).
    eventually("the first request to reach the upstream", async || {
        slow.requests().len() == 1
    })
    .await;
    let shed = post(&app.url("/plain/other"), &[], "y").await;
    assert_gateway_error(&shed, 503, "GATEWAY503");
    assert_eq!(shed.headers["retry-after"], "1");
    assert_eq!(
        first.await.unwrap().status,
        StatusCode::OK,
        "the admitted request completes"
    );
    assert_eq!(
        post(&app.url("/plain/after"), &[], "z").await.status,
        StatusCode::OK,
        "capacity is back"
    );
}

#[tokio::test]
async fn a_token_reused_on_one_connection_is_checked_again_after_a_reload_and_a_revocation() {
    let upstream = spawn_demo_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream).build()).await;
    let s = handshake(&app, "MOB-APP-2001", "ABC", "BankeZy123", Kdf::HkdfSha256).await;
    let other = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    // Every request below on this one keep-alive connection.
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut send_on_connection = async |session: &ClientSession| {
        let request = http::Request::post(app.url("/api/x"))
            .header("authorization", format!("Bearer {}", session.token))
            .body(Full::new(Bytes::from(seal(session, b"{}", None))))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, body)
    };
    assert_eq!(send_on_connection(&s).await.0, StatusCode::OK);
    assert_eq!(send_on_connection(&s).await.0, StatusCode::OK);
    // The client is disabled by a reload: the token verified a moment ago on this very
    // connection is refused.
    let disabled = ConfigBuilder::new(upstream)
        .with(|f| f.clients.get_mut("ABC").unwrap().enabled = Some(false))
        .build();
    assert_ne!(
        disabled.clients["ABC"].enabled,
        app.gateway.config().clients["ABC"].enabled
    );
    app.gateway.reload(disabled).unwrap();
    let (status, body) = send_on_connection(&s).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8_lossy(&body).contains("AUTH007"),
        "{body:?}"
    );
    // Another token on the same connection: verified afresh, then revoked.
    assert_eq!(send_on_connection(&other).await.0, StatusCode::OK);
    assert_eq!(revoke(&app, &other).await.status, StatusCode::OK);
    let (status, body) = send_on_connection(&other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8_lossy(&body).contains("AUTH007"),
        "{body:?}"
    );
}

//! Request rate limits (`[routes.rate_limit]`), from the client's side: what is counted
//! together, what the refusal says, and that no value a client writes picks its own key.
//! The shared limit across instances is in `tests/redis`.

use std::time::Duration;

use http::StatusCode;
use sealgate::config::{RateKey, RateLimitFile, RateStore};
use sealgate::crypto::kdf::Kdf;

use sealgate_testkit::*;

/// `requests` per minute, all at once, keyed on `key`, counted in memory.
fn per_minute(key: RateKey, requests: u32) -> RateLimitFile {
    RateLimitFile {
        key: Some(key),
        requests: Some(requests),
        period_secs: Some(60),
        store: Some(RateStore::Local),
        ..Default::default()
    }
}

/// A gateway whose routes `/api/` and `/plain/` carry the given limits.
async fn limited(
    api: Option<RateLimitFile>,
    plain: Option<RateLimitFile>,
) -> (TestApp, TestUpstream) {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = ConfigBuilder::new(upstream.addr).with(|f| {
        f.routes[0].rate_limit = api;
        f.routes[2].rate_limit = plain;
    });
    (spawn_app(config.build()).await, upstream)
}

async fn session_of(app: &TestApp, api_key: &str, secret: &str) -> ClientSession {
    handshake(app, "MOB-APP-2001", api_key, secret, Kdf::HkdfSha256).await
}

async fn sealed_call(app: &TestApp, s: &ClientSession) -> Reply {
    call(app, s, "/api/x", &seal(s, b"{}", None)).await
}

/// The refusal every client library reads: 429, `RATE001`, a `Retry-After` in whole seconds
/// and the draft's two headers with nothing left.
fn assert_refused(reply: &Reply, key: &str, requests: u32) -> u64 {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.codes().0, "RATE001");
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.headers["ratelimit-policy"],
        format!("\"{key}\";q={requests};w=60").as_str()
    );
    let state = reply.headers["ratelimit"].to_str().unwrap();
    assert!(state.starts_with(&format!("\"{key}\";r=0;t=")), "{state}");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One request comes back every 60 / requests seconds.
    let interval = 60 / u64::from(requests);
    assert!((1..=interval).contains(&retry_after), "{retry_after}");
    retry_after
}

#[tokio::test]
async fn a_client_limit_holds_over_all_its_sessions_and_spares_other_clients() {
    let (app, upstream) = limited(Some(per_minute(RateKey::Client, 3)), None).await;
    let first = session_of(&app, "MOB-APP", "TEST123").await;
    let mut left = Vec::new();
    for _ in 0..2 {
        let reply = sealed_call(&app, &first).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers["ratelimit-policy"], "\"client\";q=3;w=60");
        left.push(reply.headers["ratelimit"].to_str().unwrap().to_owned());
    }
    assert_eq!(left[0], "\"client\";r=2;t=20");
    assert_eq!(left[1], "\"client\";r=1;t=40");
    // A new handshake is the same client: a fresh token buys no fresh allowance.
    let second = session_of(&app, "MOB-APP", "TEST123").await;
    assert_eq!(sealed_call(&app, &second).await.status, StatusCode::OK);
    assert_refused(&sealed_call(&app, &second).await, "client", 3);
    assert_refused(&sealed_call(&app, &first).await, "client", 3);
    assert_eq!(
        upstream.requests().len(),
        3,
        "refused requests never reach the upstream"
    );
    // Another client has its own allowance.
    let other = session_of(&app, "ABC", "BankeZy123").await;
    assert_eq!(sealed_call(&app, &other).await.status, StatusCode::OK);

    let metrics = metrics_text(&app).await;
    assert_eq!(
        metric(
            &metrics,
            "sealgate_rate_limited_total{route=\"/api/\",key=\"client\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &metrics,
            "sealgate_rejected_total{route=\"/api/\",res_code=\"RATE001\"}"
        ),
        2.0
    );
}

#[tokio::test]
async fn a_refused_request_spends_nothing_and_the_allowance_comes_back_with_time() {
    let (app, _upstream) = limited(Some(per_minute(RateKey::Session, 2)), None).await;
    let s = session_of(&app, "MOB-APP", "TEST123").await;
    for _ in 0..2 {
        assert_eq!(sealed_call(&app, &s).await.status, StatusCode::OK);
    }
    // Hammering a closed limit does not keep it closed: each refusal leaves it as it was.
    for _ in 0..5 {
        assert_refused(&sealed_call(&app, &s).await, "session", 2);
    }
    // One interval (30 s) later, exactly one request is back.
    app.clock.advance(Duration::from_secs(30));
    let back = sealed_call(&app, &s).await;
    assert_eq!(back.status, StatusCode::OK);
    assert_eq!(back.headers["ratelimit"], "\"session\";r=0;t=60");
    assert_refused(&sealed_call(&app, &s).await, "session", 2);
    // A session key: another session of the same client is counted apart.
    let other = session_of(&app, "MOB-APP", "TEST123").await;
    assert_eq!(sealed_call(&app, &other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_the_token_refuses_spends_nothing_of_the_clients_allowance() {
    let (app, _upstream) = limited(Some(per_minute(RateKey::Client, 1)), None).await;
    let s = session_of(&app, "MOB-APP", "TEST123").await;
    // Someone without the token, or with a forged one, cannot use the client's allowance up.
    for token in ["", "Bearer nope", "Bearer eyJhbGciOiJkaXIifQ.x.y.z.w"] {
        let headers: &[(&str, &str)] = if token.is_empty() {
            &[]
        } else {
            &[("authorization", token)]
        };
        let reply = post(&app.url("/api/x"), headers, "{}").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sealed_call(&app, &s).await.status, StatusCode::OK);
    assert_refused(&sealed_call(&app, &s).await, "client", 1);
}

#[tokio::test]
async fn an_address_limit_is_not_escaped_by_writing_x_forwarded_for() {
    // The peer is not a trusted proxy: X-Forwarded-For is the client's own word, and the
    // address counted is the connection's.
    let (app, upstream) = limited(None, Some(per_minute(RateKey::Address, 2))).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let forged = format!("198.51.100.{i}, 2001:db8::{i}");
        let reply = post(
            &app.url("/plain/x"),
            &[
                ("x-forwarded-for", forged.as_str()),
                ("x-real-ip", forged.as_str()),
                ("forwarded", &format!("for=203.0.113.{i}")),
            ],
            "hi",
        )
        .await;
        statuses.push(reply.status.as_u16());
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_refused(&reply, "address", 2);
        }
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429]);
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test]
async fn the_ratelimit_headers_are_the_gateways_not_the_upstreams() {
    let upstream = spawn_upstream(Behaviour::Fixed(200, "text/plain", b"ok")).await;
    // An upstream that claims a generous limit of its own must not be believed by clients.
    let lying = spawn_lying_upstream().await;
    let config = ConfigBuilder::new(upstream.addr).with(|f| {
        f.routes[2].upstreams = vec![format!("http://{lying}").into()];
        f.routes[2].rate_limit = Some(per_minute(RateKey::Address, 5));
    });
    let app = spawn_app(config.build()).await;
    let reply = post(&app.url("/plain/x"), &[], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers.get_all("ratelimit").iter().count(), 1);
    assert_eq!(reply.headers["ratelimit"], "\"address\";r=4;t=12");
    assert_eq!(reply.headers["ratelimit-policy"], "\"address\";q=5;w=60");
}

/// An upstream that answers every request with its own `RateLimit` headers.
async fn spawn_lying_upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nratelimit: \"address\";r=999;t=1\r\n\
                          ratelimit-policy: \"address\";q=1000;w=1\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    addr
}

#[test]
fn limits_that_cannot_hold_are_refused_at_load() {
    let upstream: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
    let refused = |route: usize, limit: RateLimitFile| {
        ConfigBuilder::new(upstream)
            .with(|f| f.routes[route].rate_limit = Some(limit))
            .try_build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let on_plain = refused(2, per_minute(RateKey::Client, 5));
    assert!(on_plain.contains("routes[2].rate_limit.key"), "{on_plain}");
    let shared = refused(
        0,
        RateLimitFile {
            store: Some(RateStore::Shared),
            ..per_minute(RateKey::Client, 5)
        },
    );
    assert!(shared.contains("sessions.backend"), "{shared}");
    let zero = refused(0, per_minute(RateKey::Client, 0));
    assert!(zero.contains("routes[0].rate_limit.requests"), "{zero}");
    let missing = refused(
        0,
        RateLimitFile {
            requests: None,
            ..per_minute(RateKey::Client, 1)
        },
    );
    assert!(missing.contains("is required"), "{missing}");
    let endless = refused(
        0,
        RateLimitFile {
            burst: Some(1_000_000),
            period_secs: Some(86_400),
            ..per_minute(RateKey::Client, 1)
        },
    );
    assert!(endless.contains("30 days"), "{endless}");
    // Left to its defaults: per second, a burst of `requests`, the client on a token route.
    let config = ConfigBuilder::new(upstream)
        .with(|f| {
            f.routes[0].rate_limit = Some(RateLimitFile {
                requests: Some(10),
                ..Default::default()
            });
        })
        .build();
    let limit = config.routes.iter().find(|r| r.prefix == "/api/").unwrap();
    let limit = limit.rate_limit.as_ref().unwrap();
    assert_eq!(
        (limit.key, limit.period_secs, limit.burst, limit.shared),
        (RateKey::Client, 1, 10, false)
    );
}

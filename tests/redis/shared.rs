//! Three gateways behind no balancer at all: each test talks to A, B and C directly, which is
//! the worst case a balancer can produce (every request on a different instance).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use redis::Commands;
use sealgate::config::{BackendKind, RedisFile, SessionMode, Unavailable};
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::b64;

use crate::server::{RedisCluster, RedisServer};
use sealgate_testkit::*;

const CHANNEL: &str = "MOB-APP-2001";

/// The test configuration on the Redis backend, `target` being the `[sessions.redis]` with
/// only its `url` or `cluster_nodes` set.
fn config(upstream: std::net::SocketAddr, target: RedisFile) -> ConfigBuilder {
    ConfigBuilder::new(upstream).with(|f| {
        f.sessions.backend = Some(BackendKind::Redis);
        f.sessions.redis = Some(RedisFile {
            key_prefix: Some("t".to_owned()),
            timeout_ms: Some(300),
            ..target
        });
    })
}

/// `[sessions.redis]` for one standalone server.
fn standalone(server: &RedisServer) -> RedisFile {
    RedisFile {
        url: Some(server.url().into()),
        ..Default::default()
    }
}

/// Three gateways, each on its own `config()`.
async fn three(config: impl Fn() -> ConfigBuilder) -> [TestApp; 3] {
    [
        spawn_app(config().build()).await,
        spawn_app(config().build()).await,
        spawn_app(config().build()).await,
    ]
}

/// Two requests a minute per address on `/plain/`, counted where the sessions are.
fn plain_limit(f: &mut sealgate::config::FileConfig) {
    f.routes[2].rate_limit = Some(sealgate::config::RateLimitFile {
        requests: Some(2),
        period_secs: Some(60),
        ..Default::default()
    });
}

/// In `local` mode: the token carries no key.
fn local(f: &mut sealgate::config::FileConfig) {
    f.token.sessions = Some(SessionMode::Local);
}

async fn session(app: &TestApp) -> ClientSession {
    handshake(app, CHANNEL, "MOB-APP", "TEST123", Kdf::HkdfSha256).await
}

/// A token request for the demo client with a new key pair.
async fn token_request(app: &TestApp) -> Reply {
    let key = client_key();
    post(
        &app.url(TOKEN_PATH),
        &[("x-api-key", CHANNEL)],
        token_body("MOB-APP", "TEST123", &key.public_key_field),
    )
    .await
}

/// A fresh sealed body through `app`; returns the status and `resCode` (empty on 200).
async fn fresh_call(app: &TestApp, s: &ClientSession, body: &[u8]) -> (StatusCode, String) {
    let reply = call(app, s, "/api/x", &seal(s, body, None)).await;
    outcome(&reply)
}

fn outcome(reply: &Reply) -> (StatusCode, String) {
    if reply.status == StatusCode::OK {
        (reply.status, String::new())
    } else {
        (reply.status, reply.codes().0)
    }
}

pub async fn a_ticket_session_made_on_one_instance_works_on_every_other() {
    let redis = RedisServer::start();
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let [a, b, c] = three(|| config(upstream.addr, standalone(&redis))).await;
    let s = session(&a).await;
    for (app, body) in [(&b, "to B"), (&c, "to C"), (&a, "to A")] {
        let reply = call(app, &s, "/api/x", &seal(&s, body.as_bytes(), None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    let bodies: Vec<_> = upstream.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, ["to B", "to C", "to A"].map(bytes::Bytes::from));
}

pub async fn a_local_session_is_found_in_redis_by_every_other_instance() {
    let redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let [a, b, c] = three(|| config(upstream, standalone(&redis)).with(local)).await;
    // An instance on the memory backend, same keys, running all along.
    let alone = spawn_app(ConfigBuilder::new(upstream).with(local).build()).await;
    let s = session(&a).await;
    // A local-mode token carries no key: B and C can only have K from Redis.
    assert_eq!(
        fresh_call(&b, &s, b"1").await,
        (StatusCode::OK, String::new())
    );
    assert_eq!(
        fresh_call(&c, &s, b"2").await,
        (StatusCode::OK, String::new())
    );
    assert_eq!(c.gateway.sessions().len(), 1, "C cached the session");
    // The memory-backend instance never sees it.
    assert_eq!(
        fresh_call(&alone, &s, b"3").await,
        (StatusCode::UNAUTHORIZED, "AUTH007".to_owned())
    );
}

pub async fn a_revocation_on_one_instance_is_refused_on_every_other() {
    let redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let [a, b, c] = three(|| config(upstream, standalone(&redis))).await;
    let s = session(&a).await;
    let other = session(&c).await;
    // Every instance has the session cached before the revocation.
    for (i, app) in [&a, &b, &c].into_iter().enumerate() {
        let body = format!("before {i}");
        assert_eq!(fresh_call(app, &s, body.as_bytes()).await.0, StatusCode::OK);
    }
    let reply = revoke(&b, &s).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.codes().0, "TOK200");
    for (i, app) in [&a, &b, &c].into_iter().enumerate() {
        let body = format!("after {i}");
        assert_eq!(
            fresh_call(app, &s, body.as_bytes()).await,
            (StatusCode::UNAUTHORIZED, "AUTH007".to_owned()),
            "instance {i}"
        );
    }
    // A token route without an encrypted body checks revocation too.
    let plain = post(
        &a.url("/token-plain/x"),
        &[("authorization", &format!("Bearer {}", s.token))],
        "x",
    )
    .await;
    assert_eq!(plain.codes().0, "AUTH007");
    assert_eq!(
        fresh_call(&a, &other, b"unrelated").await.0,
        StatusCode::OK,
        "other sessions carry on"
    );
}

pub async fn a_body_replayed_to_another_instance_is_refused() {
    let redis = RedisServer::start();
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let [a, b, c] = three(|| config(upstream.addr, standalone(&redis))).await;
    let s = session(&a).await;
    let sealed = seal(&s, br#"{"amount":100}"#, None);
    assert_eq!(
        call(&b, &s, "/api/pay", &sealed).await.status,
        StatusCode::OK
    );
    for app in [&a, &b, &c] {
        let replay = call(app, &s, "/api/pay", &sealed).await;
        assert_eq!(
            outcome(&replay),
            (StatusCode::UNAUTHORIZED, "AUTH008".to_owned())
        );
    }
    assert_eq!(
        upstream.requests().len(),
        1,
        "the upstream saw the body once"
    );
}

/// The race: one sealed body on 18 connections spread over three instances, the last byte
/// of each released at the same instant. Exactly one is accepted (five bodies in a row).
pub async fn one_body_sent_to_every_instance_at_the_same_instant_is_accepted_once() {
    let redis = RedisServer::start();
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let [a, b, c] = three(|| config(upstream.addr, standalone(&redis))).await;
    let s = session(&a).await;
    race_one_body(&[a.addr, b.addr, c.addr].repeat(6), &s, &upstream).await;
}

/// A captured sealed token request (docs/protocol.md §1.1) mints one token across every instance
/// sharing Redis, whichever instance sees it first.
pub async fn a_sealed_token_request_is_accepted_once_across_instances() {
    use sealgate::config::GatewayKeyFile;
    use sealgate::token::gateway_keys::KeyUse;
    let redis = RedisServer::start();
    let upstream = spawn_upstream(Behaviour::Echo).await;
    // The same keys on every instance, as a deployment has: each could open the request.
    let shared_keys = |f: &mut sealgate::config::FileConfig| {
        let key = |kid: &str, usage, byte: u8| GatewayKeyFile {
            kid: Some(kid.to_owned()),
            usage: Some(usage),
            key: Some(b64::encode(&[byte; 32]).into()),
            ..Default::default()
        };
        f.gateway_keys = vec![key("sig-1", KeyUse::Sig, 4), key("enc-1", KeyUse::Enc, 3)];
    };
    let [a, b, c] = three(|| config(upstream.addr, standalone(&redis)).with(shared_keys)).await;
    let jwks = send(
        http::Request::get(a.url("/.well-known/jwks.json"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await
    .body
    .clone();
    let trust = sealgate::client::GatewayTrust::from_jwks(&jwks).unwrap();
    let (kid, enc) = trust.encryption_key.unwrap();
    let body = token_body("MOB-APP", "TEST123", &client_key().public_key_field);
    let now = sealgate::clock::now_secs();
    let sealed =
        sealgate::client::seal_token_request(body.as_bytes(), &kid, &enc, CHANNEL, now).unwrap();
    let jose = [("x-api-key", CHANNEL), ("content-type", "application/jose")];
    assert_eq!(
        post(&b.url(TOKEN_PATH), &jose, sealed.clone()).await.status,
        StatusCode::OK
    );
    for app in [&a, &b, &c] {
        let replay = post(&app.url(TOKEN_PATH), &jose, sealed.clone()).await;
        assert_eq!(
            outcome(&replay),
            (StatusCode::BAD_REQUEST, "TOK003".to_owned())
        );
    }
    // A fresh one is served on every instance.
    for app in [&a, &b, &c] {
        let fresh = sealgate::client::seal_token_request(body.as_bytes(), &kid, &enc, CHANNEL, now)
            .unwrap();
        assert_eq!(
            post(&app.url(TOKEN_PATH), &jose, fresh).await.status,
            StatusCode::OK
        );
    }
}

pub async fn the_per_session_request_limit_holds_across_instances() {
    let redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let [a, b, c] = three(|| {
        config(upstream, standalone(&redis)).with(|f| f.token.max_requests_per_session = Some(3))
    })
    .await;
    let s = session(&a).await;
    for app in [&a, &b, &c] {
        assert_eq!(fresh_call(app, &s, b"x").await.0, StatusCode::OK);
    }
    assert_eq!(
        fresh_call(&b, &s, b"x").await,
        (StatusCode::UNAUTHORIZED, "AUTH009".to_owned())
    );
}

pub async fn a_request_rate_limit_holds_across_instances_and_expires_in_redis() {
    let redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    // Left to its default, the store is Redis, as the sessions are.
    let [a, b, c] = three(|| {
        config(upstream, standalone(&redis)).with(|f| {
            f.routes[0].rate_limit = Some(sealgate::config::RateLimitFile {
                key: Some(sealgate::config::RateKey::Client),
                requests: Some(3),
                period_secs: Some(60),
                ..Default::default()
            });
        })
    })
    .await;
    let s = session(&a).await;
    let mut outcomes = Vec::new();
    for app in [&a, &b, &c, &a, &b, &c] {
        let (status, code) = fresh_call(app, &s, b"x").await;
        outcomes.push(format!("{} {code}", status.as_u16()));
    }
    assert_eq!(
        outcomes,
        [
            "200 ",
            "200 ",
            "200 ",
            "429 RATE001",
            "429 RATE001",
            "429 RATE001"
        ]
    );
    // One key, holding when the limit is whole again: about 60 s from now, never forever.
    let mut conn = redis.connection();
    let keys: Vec<String> = conn.keys("t:gcra:*").unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].ends_with(" client MOB-APP"), "{keys:?}");
    let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut conn).unwrap();
    assert!((50_000..=61_000).contains(&ttl), "{ttl}");
}

pub async fn token_issuance_limits_hold_across_instances() {
    let redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let [a, b, c] = three(|| {
        config(upstream, standalone(&redis))
            .with(|f| f.token.rate_limit_per_address_per_minute = Some(3))
    })
    .await;
    let window = || sealgate::clock::now_secs().div_euclid(60);
    let started_in = window();
    let mut statuses = Vec::new();
    for app in [&a, &b, &c, &a, &b] {
        let reply = token_request(app).await;
        statuses.push(reply.status.as_u16());
    }
    if window() == started_in {
        assert_eq!(statuses, [200, 200, 200, 429, 429]);
    } else {
        // A minute boundary fell between the requests and reset the count: try again.
        Box::pin(token_issuance_limits_hold_across_instances()).await;
    }
}

pub async fn what_is_stored_in_redis_is_sealed_and_expires() {
    let redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let a = spawn_app(config(upstream, standalone(&redis)).with(local).build()).await;
    let s = session(&a).await;
    assert_eq!(fresh_call(&a, &s, b"x").await.0, StatusCode::OK);
    assert_eq!(revoke(&a, &s).await.status, StatusCode::OK);

    let mut redis_conn = redis.connection();
    let mut keys: Vec<String> = redis_conn.keys("t:*").unwrap();
    keys.sort();
    let rate: Vec<_> = keys.extract_if(.., |k| k.starts_with("t:rate:")).collect();
    let window = sealgate::clock::now_secs().div_euclid(60);
    assert!(
        rate.iter()
            .any(|k| k.starts_with("t:rate:address:127.0.0.1:")),
        "{rate:?} (window {window})"
    );
    // The jti is inside the encrypted token: take it from a key name, then check that the
    // one session has exactly its three keys.
    let jti = keys[0].split(['{', '}']).nth(1).unwrap().to_owned();
    assert_eq!(
        keys,
        [
            format!("t:{{{jti}}}:ivs"),
            format!("t:{{{jti}}}:revoked"),
            format!("t:{{{jti}}}:session"),
        ]
    );
    let lifetime = 30 * 60 + 60; // the default token lifetime plus the default leeway
    for key in &keys {
        let ttl: i64 = redis_conn.ttl(key).unwrap();
        assert!(ttl > 0 && ttl <= lifetime, "{key} expires in {ttl} s");
    }
    let record: String = redis_conn.get(&keys[2]).unwrap();
    assert_eq!(record.split('.').count(), 5, "a compact JWE");
    let k = b64::encode(s.key.expose());
    assert!(!record.contains(&k), "K is not stored in clear");
    let header = b64::decode_strict(record.split('.').next().unwrap().as_bytes()).unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        r#"{"alg":"dir","enc":"A256GCM","kid":"test-1"}"#
    );
}

/// Requests in a loop on `apps` (round robin), each with a fresh body, until `stop`; the
/// outcomes in order.
fn traffic(
    apps: Vec<Arc<TestApp>>,
    s: Arc<ClientSession>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(StatusCode, String)>> {
    tokio::spawn(async move {
        let mut outcomes = Vec::new();
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let app = &apps[i % apps.len()];
            outcomes.push(fresh_call(app, &s, format!("{i}").as_bytes()).await);
            i += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        outcomes
    })
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn redis_down_with_refuse_policy_answers_503_then_recovers_without_restart() {
    let mut redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let [a, b, _c] = three(|| config(upstream, standalone(&redis)).with(plain_limit)).await;
    let s = Arc::new(session(&a).await);
    let doomed = session(&b).await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(vec![a.clone(), b.clone()], s.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;

    redis.stop();
    wait_for("/readyz to fail", async || {
        admin_get(&a, "/readyz").await.status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let during = fresh_call(&b, &s, b"during").await;
    assert_eq!(
        during,
        (StatusCode::SERVICE_UNAVAILABLE, "STATE001".to_owned())
    );
    let token = token_request(&a).await;
    assert_eq!(token.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(token.codes().0, "TOK003");
    assert_eq!(token.headers["retry-after"], "1");
    // A shared rate limit that cannot be counted refuses as the rest of the state does.
    let limited = post(&a.url("/plain/x"), &[], "").await;
    assert_eq!(
        outcome(&limited),
        (StatusCode::SERVICE_UNAVAILABLE, "STATE001".to_owned())
    );
    // A revocation that cannot reach Redis is 503 (retry), but this instance already
    // refuses the session.
    let refused = revoke(&a, &doomed).await;
    assert_eq!(
        outcome(&refused),
        (StatusCode::SERVICE_UNAVAILABLE, "STATE001".to_owned())
    );
    assert_eq!(
        fresh_call(&a, &doomed, b"x").await,
        (StatusCode::UNAUTHORIZED, "AUTH007".to_owned())
    );
    let errors = metric(
        &metrics_text(&a).await,
        "sealgate_redis_errors_total{op=\"admit\"}",
    );
    assert!(errors >= 1.0, "redis errors counted: {errors}");

    redis.restart();
    wait_for("a request to pass again", async || {
        fresh_call(&a, &s, b"after").await.0 == StatusCode::OK
    })
    .await;
    wait_for("/readyz to pass", async || {
        admin_get(&b, "/readyz").await.status == StatusCode::OK
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = load.await.unwrap();
    // Nothing but successes and the policy's 503 under the outage: no 500, no request
    // served without its checks.
    let refused = outcomes.iter().filter(|o| o.0 != StatusCode::OK).count();
    assert!(refused > 0, "the outage was seen by the traffic");
    for o in &outcomes {
        assert!(
            o.0 == StatusCode::OK || *o == (StatusCode::SERVICE_UNAVAILABLE, "STATE001".to_owned()),
            "{o:?}"
        );
    }
    assert_eq!(outcomes.last().unwrap().0, StatusCode::OK, "recovered");
    eprintln!(
        "refuse policy: {} requests, {refused} refused with STATE001 during the outage",
        outcomes.len()
    );
}

pub async fn redis_down_with_degrade_policy_serves_from_memory_then_recovers() {
    let mut redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let degrade = || RedisFile {
        on_unavailable: Some(Unavailable::Degrade),
        ..standalone(&redis)
    };
    let [a, b, _c] = three(|| config(upstream, degrade()).with(plain_limit)).await;
    let s = session(&a).await;
    assert_eq!(fresh_call(&a, &s, b"before").await.0, StatusCode::OK);

    redis.stop();
    let sealed = seal(&s, b"during", None);
    assert_eq!(call(&a, &s, "/api/x", &sealed).await.status, StatusCode::OK);
    // Degraded, each instance still remembers what it accepted itself.
    assert_eq!(
        outcome(&call(&a, &s, "/api/x", &sealed).await),
        (StatusCode::UNAUTHORIZED, "AUTH008".to_owned())
    );
    let token = token_request(&b).await;
    assert_eq!(token.status, StatusCode::OK, "tokens are still issued");
    assert_eq!(admin_get(&a, "/readyz").await.status, StatusCode::OK);
    let degraded = metric(
        &metrics_text(&a).await,
        "sealgate_state_degraded_total{op=\"admit\"}",
    );
    assert!(degraded >= 2.0, "degraded checks counted: {degraded}");
    // The shared rate limit is counted in this instance's memory meanwhile.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(post(&a.url("/plain/x"), &[], "").await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let degraded = metric(
        &metrics_text(&a).await,
        "sealgate_state_degraded_total{op=\"request_rate_limit\"}",
    );
    assert!(degraded >= 3.0, "degraded rate checks counted: {degraded}");

    redis.restart();
    let sealed = seal(&s, b"after", None);
    wait_for("redis to be used again", async || {
        call(&a, &s, "/api/x", &sealed).await.status == StatusCode::OK
    })
    .await;
    // Back on Redis: B sees what A accepted.
    assert_eq!(
        outcome(&call(&b, &s, "/api/x", &sealed).await),
        (StatusCode::UNAUTHORIZED, "AUTH008".to_owned())
    );
}

/// `degrade` keeps this instance's replay memory: a body accepted while Redis was up is
/// refused on the same instance after Redis went away (IVs are recorded here too).
pub async fn a_body_accepted_before_redis_went_away_is_refused_while_degraded() {
    let mut redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let degrade = RedisFile {
        on_unavailable: Some(Unavailable::Degrade),
        ..standalone(&redis)
    };
    let a = spawn_app(config(upstream, degrade).build()).await;
    let s = session(&a).await;
    let sealed = seal(&s, b"accepted while redis was up", None);
    assert_eq!(call(&a, &s, "/api/x", &sealed).await.status, StatusCode::OK);
    redis.stop();
    assert_eq!(
        outcome(&call(&a, &s, "/api/x", &sealed).await),
        (StatusCode::UNAUTHORIZED, "AUTH008".to_owned())
    );
    assert_eq!(
        fresh_call(&a, &s, b"new").await.0,
        StatusCode::OK,
        "degraded, still served"
    );
}

/// A `local`-mode session record read out of Redis is not a bearer token: it is sealed
/// under a key derived for records, which token verification never uses.
pub async fn a_session_record_from_redis_is_not_a_bearer_token() {
    let redis = RedisServer::start();
    let upstream = spawn_demo_upstream().await;
    let a = spawn_app(config(upstream, standalone(&redis)).with(local).build()).await;
    let s = session(&a).await;
    assert_eq!(fresh_call(&a, &s, b"x").await.0, StatusCode::OK);
    let mut redis_conn = redis.connection();
    let keys: Vec<String> = redis_conn.keys("t:*:session").unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let record: String = redis_conn.get(&keys[0]).unwrap();
    let forged = ClientSession {
        token: record,
        key: sealgate::crypto::Key32::from_bytes(*s.key.expose()),
        response: s.response.clone(),
    };
    for method in [http::Method::GET, http::Method::DELETE, http::Method::POST] {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(a.url("/token-plain/x"))
            .header("authorization", format!("Bearer {}", forged.token))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let reply = send(request).await;
        assert_eq!(
            outcome(&reply),
            (StatusCode::UNAUTHORIZED, "AUTH004".to_owned()),
            "{method}"
        );
    }
    assert_eq!(
        call(&a, &forged, "/api/x", &seal(&forged, b"y", None))
            .await
            .codes()
            .0,
        "AUTH004"
    );
}

/// Managed Redis requires TLS: three instances share sessions, replays and revocations
/// over `rediss://`, trusting the server's certificate from `ca_file`.
pub async fn three_instances_share_state_over_rediss() {
    let redis = RedisServer::start_tls();
    let upstream = spawn_demo_upstream().await;
    let tls = || RedisFile {
        url: Some(redis.url().into()),
        ca_file: Some(redis.ca_file().display().to_string()),
        ..Default::default()
    };
    let [a, b, c] = three(|| config(upstream, tls())).await;
    let s = session(&a).await;
    let sealed = seal(&s, b"over tls", None);
    assert_eq!(call(&b, &s, "/api/x", &sealed).await.status, StatusCode::OK);
    assert_eq!(
        outcome(&call(&c, &s, "/api/x", &sealed).await),
        (StatusCode::UNAUTHORIZED, "AUTH008".to_owned()),
        "the replay is seen across instances through Redis over TLS"
    );
    assert_eq!(revoke(&c, &s).await.status, StatusCode::OK);
    assert_eq!(
        outcome(&call(&a, &s, "/api/x", &seal(&s, b"after", None)).await),
        (StatusCode::UNAUTHORIZED, "AUTH007".to_owned())
    );
    let keys: Vec<String> = redis.connection().keys("t:*").unwrap();
    assert!(keys.iter().any(|k| k.ends_with(":ivs")), "{keys:?}");
    // Without the CA, the server's certificate is not trusted: the policy applies.
    let untrusted = spawn_app(config(upstream, standalone(&redis)).build()).await;
    let reply = token_request(&untrusted).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reply.codes()
    );
}

pub async fn an_unreachable_redis_at_start_does_not_stop_the_gateway() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let upstream = spawn_demo_upstream().await;
    let target = RedisFile {
        url: Some(url.into()),
        ..Default::default()
    };
    let a = spawn_app(config(upstream, target).build()).await;
    let token = token_request(&a).await;
    assert_eq!(token.status, StatusCode::SERVICE_UNAVAILABLE);
    redis.restart();
    wait_for("the token endpoint to serve", async || {
        token_request(&a).await.status == StatusCode::OK
    })
    .await;
    let s = session(&a).await;
    assert_eq!(fresh_call(&a, &s, b"x").await.0, StatusCode::OK);
}

pub async fn a_redis_cluster_shares_sessions_revocations_and_replays() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let upstream = spawn_demo_upstream().await;
    let [a, b, c] = three(|| {
        let nodes = RedisFile {
            cluster_nodes: cluster.urls().into_iter().map(Into::into).collect(),
            ..Default::default()
        };
        config(upstream, nodes).with(local).with(|f| {
            f.token.rate_limit_per_address_per_minute = Some(100);
            f.routes[0].rate_limit = Some(sealgate::config::RateLimitFile {
                key: Some(sealgate::config::RateKey::Session),
                requests: Some(3),
                period_secs: Some(60),
                ..Default::default()
            });
        })
    })
    .await;
    // Several sessions, so their keys spread over the three masters' slots.
    let mut sessions = Vec::new();
    for app in [&a, &b, &c, &a, &b, &c] {
        sessions.push(session(app).await);
    }
    for (i, s) in sessions.iter().enumerate() {
        let sealed = seal(s, format!("body {i}").as_bytes(), None);
        assert_eq!(call(&b, s, "/api/x", &sealed).await.status, StatusCode::OK);
        assert_eq!(
            outcome(&call(&c, s, "/api/x", &sealed).await),
            (StatusCode::UNAUTHORIZED, "AUTH008".to_owned()),
            "session {i}"
        );
    }
    assert_eq!(revoke(&c, &sessions[0]).await.status, StatusCode::OK);
    assert_eq!(
        fresh_call(&a, &sessions[0], b"x").await,
        (StatusCode::UNAUTHORIZED, "AUTH007".to_owned())
    );
    assert_eq!(fresh_call(&a, &sessions[1], b"x").await.0, StatusCode::OK);
    // Each session's rate limit, counted on whichever master holds its key: two requests
    // so far (the replay counted too: the limit comes before the body is opened).
    assert_eq!(fresh_call(&a, &sessions[2], b"x").await.0, StatusCode::OK);
    assert_eq!(
        fresh_call(&b, &sessions[2], b"x").await,
        (StatusCode::TOO_MANY_REQUESTS, "RATE001".to_owned())
    );
    let mut spread = 0;
    for node in &cluster.nodes {
        let keys: Vec<String> = node.connection().keys("t:*").unwrap();
        spread += usize::from(!keys.is_empty());
    }
    assert!(spread >= 2, "keys landed on {spread} of 3 masters");
}

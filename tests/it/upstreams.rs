//! The upstream side, distrusted (STYLE habit 14, issue #23): a backend that breaks HTTP
//! framing never makes one client read another's answer; clients cannot decide which
//! instances are ejected; the upstreams' state survives a reload; retries stay within
//! their budget. Every test talks through real sockets to a real upstream, most of them to
//! the testkit's deliberately broken one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use sealgate::config::{RetryFile, RouteAuth, RouteFile, UpstreamFile};
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::jwe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use sealgate_testkit::*;

fn url(addr: std::net::SocketAddr) -> UpstreamFile {
    format!("http://{addr}").into()
}

fn plain_route(prefix: &str, upstreams: Vec<UpstreamFile>) -> RouteFile {
    RouteFile {
        prefix: Some(prefix.into()),
        upstreams,
        auth: Some(RouteAuth::None),
        ..Default::default()
    }
}

async fn request(app: &TestApp, method: &str, path: &str) -> Reply {
    send(
        http::Request::builder()
            .method(method)
            .uri(app.url(path))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

fn body(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// `count` requests to `prefix/echo/<tag>k` each get their own answer.
async fn next_requests_get_their_own(app: &TestApp, prefix: &str, tag: &str, count: usize) {
    for k in 0..count {
        let id = format!("{tag}{k}");
        let next = request(app, "GET", &format!("{prefix}echo/{id}")).await;
        assert_eq!(body(&next), id);
    }
}

/// A sealed call to the default configuration's `/api/echo/<id>` (the broken upstream's
/// echo).
async fn sealed_echo(app: &TestApp, session: &ClientSession, id: &str) -> Reply {
    call(
        app,
        session,
        &format!("/api/echo/{id}"),
        &seal(session, b"{}", None),
    )
    .await
}

/// What the sealed route answered, opened with the session's key.
fn opened(session: &ClientSession, reply: &Reply) -> Option<String> {
    let (_, plaintext) = jwe::open(&reply.body, &session.key, usize::MAX).ok()?;
    Some(String::from_utf8_lossy(&plaintext).into_owned())
}

/// Many victims on a sealed route and on a plain route, and attackers on the same plain
/// route of the same origin making the backend write a whole planted answer past the end
/// of theirs (after a HEAD, a 204 and a 304, and 0 to 20 ms past a Content-Length), at
/// once: every victim must get its own answer, in thousands of calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_crosses_between_requests_when_the_upstream_breaks_framing() {
    let upstream = spawn_broken_upstream().await;
    let app = Arc::new(spawn_app(ConfigBuilder::new(upstream.addr).build()).await);
    victims_beside_attackers(&app, 40).await;
}

/// `rounds` rounds of 8 sealed and 8 plain victims, 3 calls each, beside the 8 attacks of
/// [`no_answer_crosses_between_requests_when_the_upstream_breaks_framing`], at once; fails
/// if any victim reads an answer not its own.
pub(crate) async fn victims_beside_attackers(app: &Arc<TestApp>, rounds: usize) {
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(Arc::new(
            handshake(app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await,
        ));
    }
    let attacks = [
        ("HEAD", "/plain/body-after-head/a".to_owned()),
        ("GET", "/plain/status/204/a?ms=1".to_owned()),
        ("GET", "/plain/status/304/a?ms=5".to_owned()),
        ("GET", "/plain/past/a?ms=0".to_owned()),
        ("GET", "/plain/past/a?ms=1".to_owned()),
        ("GET", "/plain/past/a?ms=5".to_owned()),
        ("GET", "/plain/past/a?ms=10".to_owned()),
        ("GET", "/plain/past/a?ms=20".to_owned()),
    ];
    let (sealed_calls, plain_calls) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mixed: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    for round in 0..rounds {
        let mut tasks = tokio::task::JoinSet::new();
        for (v, session) in sessions.iter().enumerate() {
            let (app, session, mixed, calls) = (
                Arc::clone(app),
                Arc::clone(session),
                Arc::clone(&mixed),
                Arc::clone(&sealed_calls),
            );
            tasks.spawn(async move {
                for k in 0..3 {
                    let id = format!("s{round}x{v}x{k}");
                    let reply = sealed_echo(&app, &session, &id).await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    match opened(&session, &reply) {
                        Some(answer) if answer == id => {}
                        other => mixed
                            .lock()
                            .unwrap()
                            .push(format!("sealed {id}: {} {other:?}", reply.status)),
                    }
                }
            });
        }
        for v in 0..8 {
            let (app, mixed, calls) = (
                Arc::clone(app),
                Arc::clone(&mixed),
                Arc::clone(&plain_calls),
            );
            tasks.spawn(async move {
                for k in 0..3 {
                    let id = format!("p{round}x{v}x{k}");
                    let reply = request(&app, "GET", &format!("/plain/echo/{id}")).await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    if body(&reply) != id {
                        mixed.lock().unwrap().push(format!(
                            "plain {id}: {} {}",
                            reply.status,
                            body(&reply)
                        ));
                    }
                }
            });
        }
        for (method, path) in attacks.clone() {
            let app = Arc::clone(app);
            tasks.spawn(async move {
                let _ = request(&app, method, &path).await;
            });
        }
        while tasks.join_next().await.is_some() {}
    }
    let mixed = mixed.lock().unwrap().clone();
    let (sealed, plain) = (
        sealed_calls.load(Ordering::Relaxed),
        plain_calls.load(Ordering::Relaxed),
    );
    eprintln!(
        "{sealed} sealed and {plain} plain victim calls; mixed up: {}",
        mixed.len()
    );
    assert!(sealed + plain >= rounds * 48 - 20);
    assert!(
        mixed.is_empty(),
        "answers crossed between requests: {mixed:#?}"
    );
    let text = metrics_text(app).await;
    assert!(
        text.contains("sealgate_upstream_breaches_total{route=\"/plain/\""),
        "the breaches are counted"
    );
}

/// Each misbehaviour alone, then a request of another client on the same route: the next
/// client gets its own answer, never the planted one.
#[tokio::test]
async fn after_each_kind_of_broken_answer_the_next_request_gets_its_own() {
    let upstream = spawn_broken_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let cases = [
        ("HEAD", "/plain/body-after-head/a", 200),
        ("GET", "/plain/status/204/a?ms=2", 204),
        ("GET", "/plain/status/304/a?ms=2", 304),
        ("GET", "/plain/past/a?ms=0", 200),
        ("GET", "/plain/past/a?ms=3", 200),
    ];
    for (i, (method, path, status)) in cases.into_iter().enumerate() {
        let reply = request(&app, method, path).await;
        assert_eq!(reply.status.as_u16(), status, "{path}");
        for k in 0..3 {
            let id = format!("n{i}x{k}");
            let next = request(&app, "GET", &format!("/plain/echo/{id}")).await;
            assert_eq!(body(&next), id, "after {method} {path}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// An answer with both `Transfer-Encoding` and `Content-Length`, or a `101` nobody asked
/// for, is a 502 with its own code, counted as a breach; the next request is served.
#[tokio::test]
async fn ambiguous_framing_and_an_unasked_upgrade_are_502_upstream005() {
    let upstream = spawn_broken_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    for path in ["/plain/ambiguous/a", "/plain/upgrade/a"] {
        let reply = request(&app, "GET", path).await;
        assert_eq!(reply.status.as_u16(), 502, "{path}");
        assert_eq!(reply.codes().0, "UPSTREAM005", "{path}");
        let next = request(&app, "GET", "/plain/echo/next").await;
        assert_eq!(body(&next), "next");
    }
    let text = metrics_text(&app).await;
    for reason in ["ambiguous_length", "unasked_upgrade"] {
        let series = format!(
            "sealgate_upstream_breaches_total{{route=\"/plain/\",upstream=\"http://{}\",reason=\"{reason}\"}}",
            upstream.addr
        );
        assert_eq!(metric(&text, &series), 1.0, "{series}");
    }
    assert_eq!(
        metric(
            &text,
            "sealgate_upstream_errors_total{route=\"/plain/\",kind=\"framing\"}"
        ),
        2.0
    );
}

/// A backend that answers before it has read the upload, then reads the rest as a
/// request: what it answers to that never reaches another client.
#[tokio::test]
async fn an_early_answer_during_an_upload_does_not_leave_its_connection_to_others() {
    let upstream = spawn_broken_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let smuggled = "GET /plain/echo/planted HTTP/1.1\r\nhost: x\r\n\r\n";
    let early = post(&app.url("/plain/early/a"), &[], smuggled).await;
    assert_eq!(body(&early), "a");
    next_requests_get_their_own(&app, "/plain/", "e", 5).await;
}

/// A request that timed out (504) leaves nothing behind: the late answer is never read as
/// the next request's.
#[tokio::test]
async fn a_late_answer_after_a_504_reaches_no_one() {
    let upstream = spawn_broken_upstream().await;
    let mut route = plain_route("/slow/", vec![url(upstream.addr)]);
    route.upstream_timeout_ms = Some(150);
    let app = spawn_app(ConfigBuilder::new(upstream.addr).route(route).build()).await;
    let late = request(&app, "GET", "/slow/late/a?ms=300").await;
    assert_eq!(late.status.as_u16(), 504);
    tokio::time::sleep(Duration::from_millis(400)).await;
    next_requests_get_their_own(&app, "/slow/", "l", 5).await;
}

/// `Expect: 100-continue` is answered by the gateway and never forwarded: the upstream
/// gets the body with no expectation in front of it.
#[tokio::test]
async fn expect_100_continue_is_answered_here_and_not_forwarded() {
    let upstream = spawn_broken_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /plain/echo/x HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 25];
    stream.read_exact(&mut first).await.unwrap();
    assert!(
        String::from_utf8_lossy(&first).starts_with("HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
    stream.write_all(b"hello").await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest)).await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.starts_with("HTTP/1.1 200") && rest.ends_with('x'),
        "{rest}"
    );
    assert!(
        !upstream.saw_header("expect:"),
        "the expectation was forwarded"
    );
}

/// A plain route and a sealed route of the same origin never share a connection: the
/// upstream sees at least one connection per route.
#[tokio::test]
async fn routes_of_one_origin_do_not_share_connections() {
    let upstream = spawn_broken_upstream().await;
    // Connections reused at once: what is under test is which pool they are reused from.
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                for route in &mut f.routes {
                    route.reuse_after_idle_ms = Some(0);
                }
            })
            .build(),
    )
    .await;
    let session = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    for k in 0..3 {
        let id = format!("r{k}");
        assert_eq!(
            body(&request(&app, "GET", &format!("/plain/echo/{id}")).await),
            id
        );
        let reply = sealed_echo(&app, &session, &id).await;
        assert_eq!(opened(&session, &reply).as_deref(), Some(id.as_str()));
    }
    assert_eq!(
        upstream.connections.load(Ordering::Relaxed),
        2,
        "one kept-alive connection for each route"
    );
}

fn ejections(text: &str, route: &str, addr: std::net::SocketAddr) -> f64 {
    metric(
        text,
        &format!(
            "sealgate_upstream_ejections_total{{route=\"{route}\",upstream=\"http://{addr}\"}}"
        ),
    )
}

/// Requests that fail everywhere (a path that answers 500, uploads too slow to finish)
/// are the requests' doing: they eject nothing, however many.
#[tokio::test]
async fn clients_cannot_eject_instances_with_failing_paths_or_slow_uploads() {
    let (a, b) = (spawn_broken_upstream().await, spawn_broken_upstream().await);
    let mut route = plain_route("/pool/", vec![url(a.addr), url(b.addr)]);
    route.upstream_timeout_ms = Some(200);
    let app = spawn_app(ConfigBuilder::new(a.addr).route(route).build()).await;
    for _ in 0..60 {
        assert_eq!(
            request(&app, "GET", "/pool/fail/x").await.status.as_u16(),
            500
        );
    }
    // Slow uploads: a head announcing 100 bytes, 10 sent, then nothing until the deadline.
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..9 {
        let addr = app.addr;
        slow.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"POST /pool/echo/x HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\n0123456789")
                .await
                .unwrap();
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out)).await;
        });
    }
    while slow.join_next().await.is_some() {}
    let text = metrics_text(&app).await;
    assert_eq!(ejections(&text, "/pool/", a.addr), 0.0);
    assert_eq!(ejections(&text, "/pool/", b.addr), 0.0);
    assert_eq!(body(&request(&app, "GET", "/pool/echo/ok").await), "ok");
}

/// An instance that fails where its sibling answers is ejected once it has answered the
/// minimum volume, and then no request goes to it.
#[tokio::test]
async fn an_instance_failing_where_its_sibling_answers_is_ejected() {
    let sick = spawn_upstream(Behaviour::Fixed(503, "text/plain", b"sick")).await;
    let well = spawn_upstream(Behaviour::Echo).await;
    let route = plain_route("/pool/", vec![url(sick.addr), url(well.addr)]);
    let app = spawn_app(ConfigBuilder::new(well.addr).route(route).build()).await;
    let mut statuses = Vec::new();
    for _ in 0..80 {
        statuses.push(request(&app, "GET", "/pool/x").await.status.as_u16());
    }
    let text = metrics_text(&app).await;
    assert_eq!(ejections(&text, "/pool/", sick.addr), 1.0, "{statuses:?}");
    assert!(statuses[50..].iter().all(|s| *s == 200), "{statuses:?}");
    let failed = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        failed <= 25,
        "ejected within the documented bound: {failed} failed"
    );
}

/// With every instance refusing connections, at most the route's share is ejected.
#[tokio::test]
async fn no_more_than_the_share_of_instances_is_ejected_at_once() {
    let dead: Vec<_> = (0..2)
        .map(|_| {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            socket
        })
        .collect();
    let addrs: Vec<_> = dead.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut route = plain_route("/pool/", addrs.iter().map(|a| url(*a)).collect());
    route.eject_after_failures = Some(2);
    let app = spawn_app(ConfigBuilder::new(addrs[0]).route(route).build()).await;
    for _ in 0..20 {
        assert_eq!(
            post(&app.url("/pool/x"), &[], "x").await.status.as_u16(),
            502
        );
    }
    let text = metrics_text(&app).await;
    let out: f64 = addrs.iter().map(|a| ejections(&text, "/pool/", *a)).sum();
    assert!(out >= 1.0, "a dead instance goes out");
    let up: f64 = addrs
        .iter()
        .map(|a| {
            metric(
                &text,
                &format!(
                    "sealgate_upstream_instance_up{{route=\"/pool/\",upstream=\"http://{a}\"}}"
                ),
            )
        })
        .sum();
    assert_eq!(
        up, 1.0,
        "one of two stays in rotation (max_ejected_percent = 50)"
    );
}

/// A reload that keeps a route and an instance keeps what they have become: the ejection,
/// the pooled connection, the in-flight slots.
#[tokio::test]
async fn a_reload_keeps_ejections_pools_and_in_flight_slots() {
    let sick = spawn_upstream(Behaviour::Fixed(503, "text/plain", b"sick")).await;
    let well = spawn_broken_upstream().await;
    let slow = spawn_upstream(Behaviour::Slow(600)).await;
    let make = || {
        let mut busy = plain_route("/busy/", vec![url(slow.addr)]);
        busy.max_in_flight = Some(1);
        ConfigBuilder::new(well.addr)
            .route(plain_route("/pool/", vec![url(sick.addr), url(well.addr)]))
            .route(busy)
            .build()
    };
    let app = spawn_app(make()).await;
    for _ in 0..60 {
        request(&app, "GET", "/pool/echo/x").await;
    }
    let text = metrics_text(&app).await;
    assert_eq!(ejections(&text, "/pool/", sick.addr), 1.0);
    let connections = well.connections.load(Ordering::Relaxed);
    let held = tokio::spawn({
        let url = app.url("/busy/x");
        async move { post(&url, &[], "").await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.gateway.reload(make()).unwrap();
    assert_eq!(
        request(&app, "GET", "/busy/y").await.codes().0,
        "ROUTE004",
        "the request in flight still holds the route's one slot"
    );
    let mut seen = HashMap::new();
    for k in 0..10 {
        let id = format!("k{k}");
        let reply = request(&app, "GET", &format!("/pool/echo/{id}")).await;
        *seen.entry(reply.status.as_u16()).or_insert(0) += 1;
        assert_eq!(body(&reply), id, "the ejected instance stays out");
    }
    assert_eq!(
        well.connections.load(Ordering::Relaxed),
        connections,
        "the pooled connection was kept"
    );
    assert_eq!(held.await.unwrap().status.as_u16(), 200);
}

/// `[routes.retry]`: an idempotent request that met a 503 is sent to another instance, a
/// POST is not, and the budget bounds the retries.
#[tokio::test]
async fn idempotent_requests_are_retried_within_the_budget() {
    let sick = spawn_upstream(Behaviour::Fixed(503, "text/plain", b"sick")).await;
    let well = spawn_upstream(Behaviour::Echo).await;
    let mut route = plain_route("/retry/", vec![url(sick.addr), url(well.addr)]);
    route.retry = Some(RetryFile {
        attempts: Some(2),
        budget_percent: Some(0),
        min_per_window: Some(3),
    });
    // Ejection would hide the retries.
    route.eject_failure_percent = Some(100);
    let app = spawn_app(ConfigBuilder::new(well.addr).route(route).build()).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(request(&app, "GET", "/retry/x").await.status.as_u16());
    }
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        statuses[..3].iter().all(|s| *s == 200),
        "the first three meet the sick instance and are retried: {statuses:?}"
    );
    assert!(
        refused >= 1,
        "past the budget a 503 reaches the client: {statuses:?}"
    );
    let posts = post(&app.url("/retry/x"), &[], "").await.status.as_u16();
    let posts2 = post(&app.url("/retry/x"), &[], "").await.status.as_u16();
    assert!(
        posts == 503 || posts2 == 503,
        "a POST is never retried: {posts} {posts2}"
    );
    let text = metrics_text(&app).await;
    assert_eq!(
        metric(
            &text,
            "sealgate_upstream_retries_total{route=\"/retry/\",outcome=\"sent\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            "sealgate_upstream_retries_total{route=\"/retry/\",outcome=\"budget\"}"
        ),
        refused as f64,
        "every GET refused was a retry the budget refused"
    );
}

/// Twenty clients from one address that ask for a large answer and never read it: the
/// address gets its share of the connection slots (a quarter), a client from another
/// address is served, and the answers nobody reads are cut after `send_timeout_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_hold_neither_every_slot_nor_theirs_for_ever() {
    let big: &'static [u8] = Box::leak(vec![b'a'; 32 << 20].into_boxed_slice());
    let upstream = spawn_upstream(Behaviour::Fixed(200, "text/plain", big)).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.server.max_connections = Some(20);
                f.server.send_timeout_ms = Some(500);
            })
            .build(),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /plain/big HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    let cut = |reason: &str| {
        let app = &app;
        let series = format!("sealgate_connections_cut_total{{reason=\"{reason}\"}}");
        async move { metric(&metrics_text(app).await, &series) }
    };
    // Another address (the loopback network is all this host's) is served at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = socket.connect(app.addr).await.unwrap();
    other
        .write_all(b"GET /healthz-not-a-route HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut status = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), other.read_exact(&mut status))
        .await
        .expect("a client from another address was kept waiting")
        .unwrap();
    assert!(status.starts_with(b"HTTP/1.1 "), "{status:?}");
    assert_eq!(
        cut("address_share").await,
        15.0,
        "one address holds a quarter of 20"
    );
    // The five admitted are cut once their answers have made no progress for 500 ms.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cut("send_timeout").await < 5.0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cut("send_timeout").await, 5.0);
    drop(held);
}

/// The send deadline is about answers nobody reads, not about quiet connections: a
/// kept-alive connection that read its answer whole and waits past the deadline is not cut.
#[tokio::test]
async fn a_client_that_read_its_answer_is_not_cut_by_the_send_deadline() {
    let upstream = spawn_broken_upstream().await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.server.send_timeout_ms = Some(300))
            .build(),
    )
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    for id in ["first", "second"] {
        stream
            .write_all(format!("GET /plain/echo/{id} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(id.as_bytes()) {
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut chunk))
                .await
                .expect("an answer")
                .unwrap();
            assert!(
                n > 0,
                "the connection was cut: {:?}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&chunk[..n]);
        }
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    let text = metrics_text(&app).await;
    assert_eq!(
        metric(
            &text,
            "sealgate_connections_cut_total{reason=\"send_timeout\"}"
        ),
        0.0
    );
}

/// Bytes a backend writes 20 ms past an answer arrive while its connection rests (50 ms by
/// default), so they are caught as a breach and never read as the next request's answer,
/// however soon that request comes.
#[tokio::test]
async fn bytes_written_late_past_an_answer_are_caught_while_the_connection_rests() {
    let upstream = spawn_broken_upstream().await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    for round in 0..5 {
        let attack = request(&app, "GET", &format!("/plain/past/a{round}?ms=20")).await;
        assert_eq!(body(&attack), format!("a{round}"));
        // At once, and then through the 20 ms: each victim gets its own answer.
        for k in 0..8 {
            let id = format!("v{round}x{k}");
            assert_eq!(
                body(&request(&app, "GET", &format!("/plain/echo/{id}")).await),
                id
            );
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    let text = metrics_text(&app).await;
    assert!(
        text.contains("sealgate_upstream_breaches_total{route=\"/plain/\"")
            && text.contains("reason=\"bytes_while_idle\"} 1"),
        "the late bytes were caught while the connection rested: {}",
        text.lines()
            .filter(|l| l.contains("breaches"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

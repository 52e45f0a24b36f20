//! Behind a real load balancer (issue #15), through real sockets: the client address from
//! a trusted proxy's `X-Forwarded-For` or PROXY protocol header is what rate limits and
//! the upstream see; from anyone else those headers prove nothing.

use std::time::Duration;

use sealgate_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHANNEL: &str = "MOB-APP-2001";

/// A token request as a balancer forwards it, with `X-Forwarded-For: xff`.
async fn token_via(app: &TestApp, xff: &str) -> u16 {
    let key = client_key();
    post(
        &app.url(TOKEN_PATH),
        &[("x-api-key", CHANNEL), ("x-forwarded-for", xff)],
        token_body("MOB-APP", "TEST123", &key.public_key_field),
    )
    .await
    .status
    .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_rate_limited_on_its_own_address() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.server.trusted_proxies = vec!["127.0.0.0/8".into()];
                f.token.rate_limit_per_address_per_minute = Some(2);
            })
            .build(),
    )
    .await;
    // The client wrote its own entry first; the balancer appended the real address.
    let a = "6.6.6.6, 203.0.113.7";
    assert_eq!(
        [
            token_via(&app, a).await,
            token_via(&app, a).await,
            token_via(&app, a).await
        ],
        [200, 200, 429]
    );
    assert_eq!(
        token_via(&app, "203.0.113.8").await,
        200,
        "another client is not throttled"
    );
    // And the upstream reads the client's address, not the balancer's.
    post(
        &app.url("/plain/x"),
        &[("x-forwarded-for", "6.6.6.6, 203.0.113.9")],
        "",
    )
    .await;
    let seen = upstream.requests();
    assert_eq!(
        seen.last().unwrap().headers["x-forwarded-for"],
        "203.0.113.9"
    );
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_prove_nothing() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.server.trusted_proxies = vec!["10.0.0.0/8".into()];
                f.token.rate_limit_per_address_per_minute = Some(2);
            })
            .build(),
    )
    .await;
    // Each request claims another address; all of them are 127.0.0.1's.
    let statuses = [
        token_via(&app, "203.0.113.1").await,
        token_via(&app, "203.0.113.2").await,
        token_via(&app, "203.0.113.3").await,
    ];
    assert_eq!(statuses, [200, 200, 429]);
    post(
        &app.url("/plain/x"),
        &[("x-forwarded-for", "203.0.113.9")],
        "",
    )
    .await;
    assert_eq!(
        upstream.requests()[0].headers["x-forwarded-for"],
        "127.0.0.1"
    );
}

/// Sends `prefix` then a plain GET on a new connection; the status, or `None` if the
/// gateway closed the connection without answering.
async fn raw(app: &TestApp, prefix: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(prefix).await.unwrap();
    stream
        .write_all(b"GET /plain/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
}

fn proxy_v2(source: [u8; 4]) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend([0x21, 0x11, 0, 12]); // v2 PROXY, TCP over IPv4, 12 address bytes
    header.extend(source);
    header.extend([10, 0, 0, 1]);
    header.extend(5555u16.to_be_bytes());
    header.extend(80u16.to_be_bytes());
    header
}

#[tokio::test]
async fn the_proxy_protocol_v1_and_v2_name_the_client_and_is_required() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.server.trusted_proxies = vec!["127.0.0.1".into()];
                f.server.proxy_protocol = Some(true);
            })
            .build(),
    )
    .await;
    assert_eq!(
        raw(&app, b"PROXY TCP4 198.51.100.9 10.0.0.1 5555 80\r\n").await,
        Some(200)
    );
    assert_eq!(raw(&app, &proxy_v2([198, 51, 100, 10])).await, Some(200));
    assert_eq!(
        raw(&app, b"PROXY UNKNOWN\r\n").await,
        Some(200),
        "a balancer's health check"
    );
    let seen: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.headers["x-forwarded-for"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, ["198.51.100.9", "198.51.100.10", "127.0.0.1"]);
    // Malformed, or missing: closed without an answer, and nothing reaches the upstream.
    for bad in [
        &b"PROXY TCP4 198.51.100.9 nonsense 5555 80\r\n"[..],
        &b"PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n"[..],
        &b""[..],
    ] {
        assert_eq!(
            raw(&app, bad).await,
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(upstream.requests().len(), 3);
}

#[tokio::test]
async fn the_proxy_protocol_is_refused_from_an_untrusted_peer() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.server.trusted_proxies = vec!["10.0.0.0/8".into()];
                f.server.proxy_protocol = Some(true);
            })
            .build(),
    )
    .await;
    assert_eq!(
        raw(&app, b"PROXY TCP4 198.51.100.9 10.0.0.1 5555 80\r\n").await,
        None
    );
    assert!(upstream.requests().is_empty());
    let missing = ConfigBuilder::new(upstream.addr)
        .with(|f| f.server.proxy_protocol = Some(true))
        .try_build()
        .unwrap_err();
    assert!(
        missing.to_string().contains("server.trusted_proxies"),
        "{missing}"
    );
}

#[tokio::test]
async fn routes_match_a_host_before_a_longer_host_less_prefix() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let partner = spawn_upstream(Behaviour::Echo).await;
    let partner_route = sealgate::config::RouteFile {
        hosts: vec!["*.partner.example".into()],
        auth: Some(sealgate::config::RouteAuth::None),
        ..route_file("/", &format!("http://{}", partner.addr))
    };
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .route(partner_route)
            .build(),
    )
    .await;
    let get = |host: &'static str| {
        let url = app.url("/plain/x");
        async move {
            send(
                http::Request::get(url)
                    .header("host", host)
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap(),
            )
            .await
            .status
            .as_u16()
        }
    };
    assert_eq!(get("api.partner.example:8080").await, 200);
    assert_eq!(get("API.Partner.Example").await, 200);
    assert_eq!(
        partner.requests().len(),
        2,
        "the host route, over the longer /plain/ prefix"
    );
    assert_eq!(get("partner.example").await, 200);
    assert_eq!(
        upstream.requests().len(),
        1,
        "the bare domain is not under *.partner.example"
    );
}

fn web_cors() -> sealgate::config::CorsFile {
    sealgate::config::CorsFile {
        allowed_origins: vec!["https://app.bank.example".into()],
        allow_credentials: Some(true),
        ..Default::default()
    }
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Reply {
    send(
        http::Request::builder()
            .method("OPTIONS")
            .uri(app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, x-request-seal",
            )
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_browser_preflight_is_answered_by_the_gateway_for_allowed_origins_only() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.token.cors = Some(web_cors());
                for route in &mut f.routes {
                    route.cors = Some(web_cors());
                }
            })
            .build(),
    )
    .await;
    for path in [TOKEN_PATH, "/api/transfer"] {
        let allowed = preflight(&app, path, "https://app.bank.example", "POST").await;
        assert!(allowed.status.is_success(), "{path}: {}", allowed.status);
        let h = &allowed.headers;
        assert_eq!(
            h["access-control-allow-origin"], "https://app.bank.example",
            "{path}"
        );
        assert_eq!(h["access-control-allow-credentials"], "true");
        let allowed_headers = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_owned();
        for name in ["authorization", "x-api-key", "x-request-seal"] {
            assert!(allowed_headers.contains(name), "{path}: {allowed_headers}");
        }
        let refused = preflight(&app, path, "https://evil.example", "POST").await;
        assert!(
            !refused.headers.contains_key("access-control-allow-origin"),
            "{path}: another origin is not allowed"
        );
    }
    assert!(
        upstream.requests().is_empty(),
        "preflights never reach the upstream"
    );
    // An actual cross-origin call carries the headers too, and still needs its token.
    let reply = send(
        http::Request::post(app.url("/api/transfer"))
            .header("origin", "https://app.bank.example")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "https://app.bank.example"
    );
    assert_eq!(
        reply.headers["access-control-expose-headers"],
        "x-request-id,retry-after,ratelimit,ratelimit-policy"
    );
    // A page reads the gateway's JWK Set under the token endpoint's CORS; others cannot.
    for (origin, allowed) in [
        ("https://app.bank.example", true),
        ("https://evil.example", false),
    ] {
        let jwks = send(
            http::Request::get(app.url("/.well-known/jwks.json"))
                .header("origin", origin)
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await;
        assert_eq!(jwks.status, 200);
        assert_eq!(
            jwks.headers.get("access-control-allow-origin").is_some(),
            allowed,
            "{origin}"
        );
    }
}

/// Only a real preflight (`Origin` and `Access-Control-Request-Method`) is answered by the
/// CORS layer: any other `OPTIONS` is the client's own request, served by the route like
/// any method (on a plain route it reaches the upstream; on a token route it needs its
/// token).
#[tokio::test]
async fn an_options_request_that_is_not_a_preflight_goes_to_the_route() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                for route in &mut f.routes {
                    route.cors = Some(web_cors());
                }
            })
            .build(),
    )
    .await;
    let options = |path: &str, origin: Option<&str>| {
        let mut request = http::Request::builder()
            .method("OPTIONS")
            .uri(app.url(path));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        send(
            request
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
    };
    let plain = options("/plain/resource", None).await;
    assert_eq!(plain.status, 200);
    let with_origin = options("/plain/resource", Some("https://app.bank.example")).await;
    assert_eq!(with_origin.status, 200);
    assert_eq!(
        with_origin.headers["access-control-allow-origin"], "https://app.bank.example",
        "an actual cross-origin request still gets its CORS headers"
    );
    let other = options("/plain/resource", Some("https://evil.example")).await;
    assert_eq!(other.status, 200);
    assert!(!other.headers.contains_key("access-control-allow-origin"));
    let methods: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(methods, ["OPTIONS"; 3], "each reached the upstream");
    let token_route = options("/api/transfer", None).await;
    assert_eq!(token_route.status, 401, "a token route wants its token");
    assert_eq!(upstream.requests().len(), 3);
}

#[test]
fn a_wildcard_origin_is_refused_with_credentials() {
    let mut cors = web_cors();
    cors.allowed_origins = vec!["*".into()];
    let error = ConfigBuilder::new(refused_addr())
        .with(|f| f.token.cors = Some(cors))
        .try_build()
        .unwrap_err();
    assert!(
        error.to_string().contains("token.cors.allowed_origins"),
        "{error}"
    );
}

/// An upstream that can be killed (listener and every open connection) and started again
/// on the same port; answers 200 `ok` to everything and counts requests.
struct Killable {
    addr: std::net::SocketAddr,
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Killable {
    async fn start(addr: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = std::sync::Arc::clone(&served);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let count = std::sync::Arc::clone(&count);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Killable {
            addr,
            served,
            task: Some(task),
        }
    }

    fn kill(&mut self) {
        // Dropping the task drops its listener and its JoinSet, which aborts every
        // connection: the port refuses, and pooled connections die.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    fn served(&self) -> usize {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn pool_route(upstreams: Vec<sealgate::config::UpstreamFile>) -> sealgate::config::RouteFile {
    sealgate::config::RouteFile {
        prefix: Some("/pool/".into()),
        upstreams,
        auth: Some(sealgate::config::RouteAuth::None),
        ..Default::default()
    }
}

fn url(addr: std::net::SocketAddr) -> sealgate::config::UpstreamFile {
    format!("http://{addr}").into()
}

/// A POST with a streamed body: never retried, so a dead instance shows as a 502.
async fn post_pool(app: &TestApp) -> u16 {
    post(&app.url("/pool/x"), &[], "payload")
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn an_instance_killed_under_traffic_is_ejected_then_used_again_once_it_answers_its_check() {
    let a = Killable::start("127.0.0.1:0".parse().unwrap()).await;
    let mut b = Killable::start("127.0.0.1:0".parse().unwrap()).await;
    let mut route = pool_route(vec![url(a.addr), url(b.addr)]);
    route.eject_after_failures = Some(2);
    route.ejection_ms = Some(600_000);
    route.health_check = Some(sealgate::config::HealthCheckFile {
        path: Some("/health".into()),
        interval_ms: Some(100),
        healthy_threshold: Some(1),
        unhealthy_threshold: Some(3),
        ..Default::default()
    });
    let app = spawn_app(ConfigBuilder::new(a.addr).route(route).build()).await;
    for _ in 0..4 {
        assert_eq!(post_pool(&app).await, 200);
    }
    assert!(b.served() > 0, "both instances in rotation");
    b.kill();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(post_pool(&app).await);
    }
    let failed = statuses.iter().filter(|s| **s == 502).count();
    assert!(
        failed <= 2,
        "at most the ejection threshold failed: {statuses:?}"
    );
    assert!(
        statuses[statuses.len() - 20..].iter().all(|s| *s == 200),
        "{statuses:?}"
    );
    let text = metrics_text(&app).await;
    let ejections = metric(
        &text,
        &format!(
            "sealgate_upstream_ejections_total{{route=\"/pool/\",upstream=\"http://{}\"}}",
            b.addr
        ),
    );
    assert_eq!(ejections, 1.0, "the ejection is counted");
    // Back on the same port: its health check brings it back well before the ejection ends.
    // `served` counts the health checks too, so "used again" is read from the requests the
    // gateway counts as answered by it (probes are not counted there).
    let b_ok = format!(
        "sealgate_upstream_instance_requests_total{{route=\"/pool/\",upstream=\"http://{}\",outcome=\"ok\"}}",
        b.addr
    );
    let before = metric(&metrics_text(&app).await, &b_ok);
    let _restarted = Killable::start(b.addr).await;
    eventually(
        "the instance to be used again once it answers its check",
        async || {
            assert_eq!(post_pool(&app).await, 200);
            metric(&metrics_text(&app).await, &b_ok) > before
        },
    )
    .await;
}

#[tokio::test]
async fn a_connect_failure_is_retried_once_on_another_instance_and_counted_once() {
    let a = Killable::start("127.0.0.1:0".parse().unwrap()).await;
    // Bound, not listening: connections are refused, and no other test can take the port.
    let dead = tokio::net::TcpSocket::new_v4().unwrap();
    dead.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead_addr = dead.local_addr().unwrap();
    let mut route = pool_route(vec![url(dead_addr), url(a.addr)]);
    route.eject_after_failures = Some(0);
    let app = spawn_app(ConfigBuilder::new(a.addr).route(route).build()).await;
    for _ in 0..6 {
        let reply = send(
            http::Request::get(app.url("/pool/x"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(a.served(), 6, "each request reached the live instance once");
    let text = metrics_text(&app).await;
    let total = metric(
        &text,
        "sealgate_requests_total{route=\"/pool/\",method=\"GET\",code=\"200\"}",
    );
    assert_eq!(total, 6.0, "a retried request is counted once");
    let refused = metric(
        &text,
        &format!(
            "sealgate_upstream_instance_requests_total{{route=\"/pool/\",upstream=\"http://{dead_addr}\",outcome=\"unreachable\"}}"
        ),
    );
    assert!(
        refused >= 3.0,
        "the dead instance's refusals are counted: {refused}"
    );
}

#[tokio::test]
async fn weights_share_the_requests_in_proportion() {
    let a = Killable::start("127.0.0.1:0".parse().unwrap()).await;
    let b = Killable::start("127.0.0.1:0".parse().unwrap()).await;
    let heavy = sealgate::config::UpstreamFile::Weighted {
        url: format!("http://{}", a.addr),
        weight: Some(3),
    };
    let app = spawn_app(
        ConfigBuilder::new(a.addr)
            .route(pool_route(vec![heavy, url(b.addr)]))
            .build(),
    )
    .await;
    for _ in 0..8 {
        assert_eq!(post_pool(&app).await, 200);
    }
    assert_eq!((a.served(), b.served()), (6, 2));
}

#[tokio::test]
async fn a_route_at_its_limit_of_requests_in_flight_answers_503() {
    let slow = spawn_upstream(Behaviour::Slow(400)).await;
    let mut route = pool_route(vec![url(slow.addr)]);
    route.max_in_flight = Some(1);
    let app = spawn_app(ConfigBuilder::new(slow.addr).route(route).build()).await;
    let (first, second) = tokio::join!(post_pool(&app), async {
        // The first request holds the route's only slot while the upstream has it (400 ms).
        eventually("the first request to reach the upstream", async || {
            slow.requests().len() == 1
        })
        .await;
        post(&app.url("/pool/y"), &[], "").await
    });
    assert_eq!(first, 200);
    assert_eq!(second.status, 503);
    assert_eq!(second.codes().0, "ROUTE004");
    assert!(second.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_client_cannot_eject_an_instance_with_its_own_oversized_uploads() {
    let a = Killable::start("127.0.0.1:0".parse().unwrap()).await;
    let mut route = pool_route(vec![url(a.addr)]);
    route.eject_after_failures = Some(1);
    route.max_body_bytes = Some(16);
    let app = spawn_app(ConfigBuilder::new(a.addr).route(route).build()).await;
    for _ in 0..3 {
        // Chunked, so no Content-Length to refuse up front: the limit trips mid-stream.
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"POST /pool/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    }
    assert_eq!(post(&app.url("/pool/y"), &[], "ok").await.status, 200);
    let text = metrics_text(&app).await;
    let ejections = metric(
        &text,
        &format!(
            "sealgate_upstream_ejections_total{{route=\"/pool/\",upstream=\"http://{}\"}}",
            a.addr
        ),
    );
    assert_eq!(
        ejections, 0.0,
        "a client's own oversized uploads ejected the instance"
    );
}

//! What operators see of a request: the access line (file, JSON and text), the trace
//! (spans received by a collector stand-in, the parent the upstream is told), and the
//! metrics' conventions. All through real sockets.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use sealgate::config::{AccessFormat, AccessLogFile, TracingFile};
use sealgate::crypto::kdf::Kdf;
use sealgate_testkit::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The access log on, to `path`, in `format`.
pub(crate) fn with_access_log(
    builder: ConfigBuilder,
    path: &Path,
    format: AccessFormat,
) -> ConfigBuilder {
    let path = path.to_str().unwrap().to_owned();
    builder.with(move |f| {
        f.access_log = AccessLogFile {
            enabled: Some(true),
            path: Some(path),
            format: Some(format),
            queue_lines: None,
        };
    })
}

/// Waits until the file has `n` lines (the writer thread flushes when its queue is empty).
pub(crate) async fn lines(path: &Path, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "fewer than {n} access lines:\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

fn find(lines: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
    lines
        .iter()
        .find(|l| pred(l))
        .unwrap_or_else(|| panic!("no such line in {lines:#?}"))
}

#[tokio::test]
async fn the_access_line_says_who_did_what_where_and_how_it_went() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let upstream = spawn_demo_upstream().await;
    let config = with_access_log(ConfigBuilder::new(upstream), &log, AccessFormat::Json).build();
    let app = spawn_app(config).await;

    // 1: a token; 2: a sealed call carrying the client's trace; 3: a refusal.
    let s = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let sealed = seal(&s, br#"{"amount":12}"#, Some("application/json"));
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let ok = post(
        &app.url("/api/pay"),
        &[
            ("authorization", &format!("Bearer {}", s.token)),
            ("content-type", "application/jose"),
            ("traceparent", &traceparent),
        ],
        sealed.clone(),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let refused = post(&app.url("/api/pay"), &[], "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // 4 and 5: heads hyper refuses before the gateway sees a request.
    let mut garbage = TcpStream::connect(app.addr).await.unwrap();
    garbage.write_all(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer).await;
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
    let mut many = http::Request::get(app.url("/plain/x"));
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let many = send(many.body(Full::new(Bytes::new())).unwrap()).await;
    assert_eq!(many.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    let lines: Vec<Value> = lines(&log, 5)
        .await
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let token = find(&lines, |l| l["route"] == "token");
    assert_eq!(token["status"], 200);
    assert_eq!(token["res_code"], "TOK200");
    assert_eq!(token["client_id"], "MOB-APP");
    assert_eq!(token["channel"], "MOB-APP-2001");
    assert!(token["bytes_in"].as_u64().unwrap() > 100, "{token}");
    assert!(token["bytes_out"].as_u64().unwrap() > 100, "{token}");

    let call = find(&lines, |l| l["route"] == "/api/" && l["status"] == 200);
    assert_eq!(call["method"], "POST");
    assert_eq!(call["path"], "/api/pay");
    assert_eq!(call["upstream"], format!("http://{upstream}"));
    assert_eq!(call["client_id"], "MOB-APP");
    assert_eq!(call["channel"], "MOB-APP-2001");
    assert_eq!(call["bytes_in"], sealed.len() as u64);
    assert_eq!(call["bytes_out"], ok.body.len() as u64);
    assert!(call["upstream_us"].as_u64().unwrap() > 0);
    assert!(call["duration_us"].as_u64() >= call["upstream_us"].as_u64());
    assert_eq!(call["trace_id"], CLIENT_TRACE);
    assert_eq!(call["res_code"], Value::Null);
    assert_eq!(call["complete"], true);
    assert_eq!(call["tls"], Value::Null);
    assert_eq!(
        call["request_id"],
        ok.headers["x-request-id"].to_str().unwrap()
    );

    let refusal = find(&lines, |l| l["status"] == 401);
    assert_eq!(refusal["res_code"], "AUTH001");
    assert_eq!(refusal["client_id"], Value::Null);
    assert_eq!(refusal["upstream"], Value::Null);

    let bad = find(&lines, |l| l["status"] == 400);
    assert_eq!((&bad["method"], &bad["path"]), (&"-".into(), &"-".into()));
    find(&lines, |l| l["status"] == 431);

    // Nothing secret: not the token, the body, the secret or the key.
    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [
        &s.token[s.token.len() / 2..],
        &sealed[sealed.len() - 30..],
        "TEST123",
    ] {
        assert!(!text.contains(secret), "{secret} in the access log");
    }
}

#[tokio::test]
async fn the_text_access_line_is_one_line_of_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let upstream = spawn_demo_upstream().await;
    let config = with_access_log(ConfigBuilder::new(upstream), &log, AccessFormat::Text).build();
    let app = spawn_app(config).await;
    // A path with a query (never logged) and an encoded space.
    let reply = post(&app.url("/plain/a%20b?card=4111"), &[], "hello").await;
    assert_eq!(reply.status, StatusCode::OK);
    let line = lines(&log, 1).await.remove(0);
    for field in [
        " method=POST path=/plain/a%20b ",
        " route=/plain/ ",
        &format!(" upstream=http://{upstream} "),
        " status=200 res_code=- client_id=- channel=- bytes_in=5 ",
    ] {
        assert!(line.contains(field), "`{field}` in {line}");
    }
    assert!(!line.contains("4111"), "the query reached the log: {line}");
}

/// A stand-in for an OpenTelemetry collector: OTLP/HTTP, protobuf. `hang` makes it accept
/// and never answer (a stuck collector).
pub(crate) struct Collector {
    pub(crate) addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    pub(crate) raw: Arc<Mutex<Vec<u8>>>,
}

pub(crate) async fn spawn_collector(hang: bool) -> Collector {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let spans = Arc::new(Mutex::new(Vec::new()));
    let raw = Arc::new(Mutex::new(Vec::new()));
    let (spans2, raw2) = (Arc::clone(&spans), Arc::clone(&raw));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (spans, raw) = (Arc::clone(&spans2), Arc::clone(&raw2));
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (spans, raw) = (Arc::clone(&spans), Arc::clone(&raw));
                    async move {
                        if hang {
                            std::future::pending::<()>().await;
                        }
                        assert_eq!(request.uri().path(), "/v1/traces");
                        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        raw.lock().unwrap().extend_from_slice(&body);
                        let export = ExportTraceServiceRequest::decode(body).unwrap();
                        for resource in export.resource_spans {
                            for scope in resource.scope_spans {
                                spans.lock().unwrap().extend(scope.spans);
                            }
                        }
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Collector { addr, spans, raw }
}

pub(crate) fn with_tracing(
    builder: ConfigBuilder,
    collector: SocketAddr,
    queue: usize,
) -> ConfigBuilder {
    builder.with(move |f| {
        f.tracing = TracingFile {
            otlp_endpoint: Some(format!("http://{collector}/v1/traces").into()),
            export_interval_ms: Some(50),
            export_timeout_ms: Some(2000),
            queue_spans: Some(queue),
            ..Default::default()
        };
    })
}

/// Waits until the collector holds a span named `name` in trace `trace` (hex).
async fn wait_for_span(collector: &Collector, trace: &str, name: &str) -> Vec<Span> {
    for _ in 0..200 {
        let spans = collector.spans.lock().unwrap().clone();
        let in_trace: Vec<Span> = spans
            .into_iter()
            .filter(|s| hex::encode(&s.trace_id) == trace)
            .collect();
        if in_trace.iter().any(|s| s.name == name) {
            return in_trace;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no span {name} in trace {trace}");
}

#[tokio::test]
async fn spans_reach_the_collector_and_the_upstream_sees_the_right_parent() {
    let collector = spawn_collector(false).await;
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = with_tracing(ConfigBuilder::new(upstream.addr), collector.addr, 1024).build();
    let app = spawn_app(config).await;
    let s = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let reply = post(
        &app.url("/api/pay"),
        &[
            ("authorization", &format!("Bearer {}", s.token)),
            ("content-type", "application/jose"),
            (
                "traceparent",
                &format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"),
            ),
            ("tracestate", "vendor=abc"),
        ],
        seal(&s, b"{}", None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    let spans = wait_for_span(&collector, CLIENT_TRACE, "POST").await;
    let spans = if spans.iter().any(|s| s.name == "upstream") {
        spans
    } else {
        wait_for_span(&collector, CLIENT_TRACE, "upstream").await
    };
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
    };
    let server = named("POST");
    assert_eq!(hex::encode(&server.parent_span_id), CLIENT_SPAN);
    for child in ["token.verify", "body.open", "upstream", "body.seal"] {
        assert_eq!(
            named(child).parent_span_id,
            server.span_id,
            "{child} is a child of the request's span"
        );
    }
    let status = server
        .attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .expect("status attribute");
    assert!(format!("{status:?}").contains("200"), "{status:?}");

    // The upstream was told: same trace, parent = the upstream-call span, sampled, and the
    // client's tracestate carried on.
    let received = upstream.requests();
    let sent = received.last().unwrap();
    let parent = sent.headers["traceparent"].to_str().unwrap();
    let upstream_span = hex::encode(&named("upstream").span_id);
    assert_eq!(parent, format!("00-{CLIENT_TRACE}-{upstream_span}-01"));
    assert_eq!(sent.headers["tracestate"], "vendor=abc");
}

#[tokio::test]
async fn without_a_traceparent_a_trace_is_started_and_its_id_reaches_the_upstream() {
    let collector = spawn_collector(false).await;
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = with_tracing(ConfigBuilder::new(upstream.addr), collector.addr, 1024).build();
    let app = spawn_app(config).await;
    assert_eq!(
        post(&app.url("/plain/x"), &[], "").await.status,
        StatusCode::OK
    );
    let sent = upstream.requests().pop().unwrap();
    let parent = sent.headers["traceparent"].to_str().unwrap().to_owned();
    let trace = parent.split('-').nth(1).unwrap().to_owned();
    let spans = wait_for_span(&collector, &trace, "POST").await;
    let server = spans.iter().find(|s| s.name == "POST").unwrap();
    assert!(server.parent_span_id.is_empty(), "a root span");
}

#[tokio::test]
async fn with_export_off_the_clients_traceparent_passes_unchanged() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let reply = post(&app.url("/plain/x"), &[("traceparent", &traceparent)], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(sent.headers["traceparent"], traceparent.as_str());
}

#[tokio::test]
async fn a_stuck_collector_costs_dropped_spans_never_a_waiting_request() {
    let collector = spawn_collector(true).await;
    let upstream = spawn_demo_upstream().await;
    let config = with_tracing(ConfigBuilder::new(upstream), collector.addr, 4).build();
    let app = spawn_app(config).await;
    for _ in 0..40 {
        assert_eq!(
            post(&app.url("/plain/x"), &[], "").await.status,
            StatusCode::OK
        );
    }
    let text = metrics_text(&app).await;
    let dropped = metric(&text, "sealgate_trace_spans_dropped_total");
    // 40 requests make 80 spans; at most 4 wait and one batch is stuck in export.
    assert!(dropped >= 40.0, "dropped {dropped}\n{text}");
    assert!(collector.raw.lock().unwrap().is_empty());
}

#[tokio::test]
async fn metrics_follow_the_prometheus_conventions() {
    let upstream = spawn_demo_upstream().await;
    let dead = refused_addr();
    let config = ConfigBuilder::new(upstream)
        .route(sealgate::config::RouteFile {
            upstream_timeout_ms: Some(60_000),
            ..route_file("/slow/", &format!("http://{upstream}"))
        })
        .route(sealgate::config::RouteFile {
            auth: Some(sealgate::config::RouteAuth::None),
            ..route_file("/dead/", &format!("http://{dead}"))
        })
        .build();
    let app = spawn_app(config).await;
    assert_eq!(
        post(&app.url("/dead/x"), &[], "").await.status,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        post(&app.url("/api/x"), &[], "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let text = metrics_text(&app).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        metric(
            &text,
            &format!("sealgate_build_info{{version=\"{version}\"}}")
        ),
        1.0
    );
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(metric(&text, name) > 0.0, "{name}\n{text}");
    }
    assert!(
        text.contains("# TYPE process_cpu_seconds counter"),
        "{text}"
    );
    // The HTTP status is `code`; the gateway's refusal is `res_code`, on its own series.
    assert_eq!(
        metric(
            &text,
            "sealgate_requests_total{route=\"/dead/\",method=\"POST\",code=\"502\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "sealgate_rejected_total{route=\"/api/\",res_code=\"AUTH001\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "sealgate_upstream_errors_total{route=\"/dead/\",kind=\"unreachable\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            &format!(
                "sealgate_upstream_instance_requests_total{{route=\"/dead/\",upstream=\"http://{dead}\",outcome=\"unreachable\"}}"
            )
        ),
        1.0
    );
    // The buckets reach the longest configured timeout (60 s here).
    let largest = text
        .lines()
        .filter(|l| l.starts_with("sealgate_request_duration_seconds_bucket{"))
        .filter(|l| l.contains("route=\"/dead/\""))
        .filter_map(|l| {
            l.split("le=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .fold(0.0, f64::max);
    assert!(largest >= 60.0, "largest finite bucket {largest}\n{text}");
}

#[tokio::test]
async fn a_request_abandoned_before_its_answer_still_gets_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let upstream = spawn_upstream(Behaviour::Hang).await;
    let config =
        with_access_log(ConfigBuilder::new(upstream.addr), &log, AccessFormat::Json).build();
    let app = spawn_app(config).await;
    let mut client = TcpStream::connect(app.addr).await.unwrap();
    client
        .write_all(b"POST /plain/slow HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
        .await
        .unwrap();
    // The upstream has it; the client leaves before any answer.
    for _ in 0..200 {
        if !upstream.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(upstream.requests().len(), 1);
    drop(client);
    let line: Value = serde_json::from_str(&lines(&log, 1).await[0]).unwrap();
    assert_eq!(line["status"], 499, "{line}");
    assert_eq!(line["complete"], false);
    assert_eq!(line["path"], "/plain/slow");
    assert_eq!(line["upstream"], format!("http://{}", upstream.addr));
    assert_eq!(line["bytes_in"], 5);
}

#[tokio::test]
async fn a_long_method_and_path_are_cut_in_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config =
        with_access_log(ConfigBuilder::new(upstream.addr), &log, AccessFormat::Text).build();
    let app = spawn_app(config).await;
    let method = "X".repeat(5000);
    let path = format!("/plain/{}", "p".repeat(5000));
    let mut client = TcpStream::connect(app.addr).await.unwrap();
    client
        .write_all(
            format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer).await;
    let line = lines(&log, 1).await.remove(0);
    assert!(line.len() < 1600, "{} bytes", line.len());
    assert!(
        line.contains(&format!(" method={}\\xe2\\x80\\xa6 ", "X".repeat(32))),
        "{line}"
    );
}

//! gRPC through the gateway over HTTP/2 upstreams (`upstream_protocol = "http2"`, h2c here;
//! h2 by ALPN is in `tls.rs`), with tonic as both the client and the server (messages
//! derived by hand, so no protoc): unary and streaming calls, errors in trailers, the
//! deadline that ends a stream that never ends, and refusals as gRPC statuses.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sealgate::config::{RouteAuth, RouteFile, UpstreamProtocol};
use sealgate::crypto::kdf::Kdf;
use tonic::{Code, Status};

use sealgate_testkit::*;

/// The one message of the test service.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(uint32, tag = "2")]
    pub n: u32,
}

fn codec() -> tonic_prost::ProstCodec<Note, Note> {
    tonic_prost::ProstCodec::default()
}

/// An h2c server (HTTP/2 with prior knowledge) answering every request with `answer`;
/// counts its connections.
async fn spawn_h2c<F, Fut, B>(answer: F) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>)
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = http::Response<B>> + Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = answer.clone();
            let service = hyper::service::service_fn(move |request| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(answer(request).await) }
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (addr, connections)
}

/// A gRPC server (HTTP/2 with prior knowledge) of `test.Notes`: `Echo` (unary), `Fail`
/// (always `NOT_FOUND`), `Count` (`n` notes, one every `text` milliseconds), `Sink`
/// (counts the notes of a client stream). Records each call's headers.
async fn spawn_grpc_server() -> (SocketAddr, Arc<Mutex<Vec<http::HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (addr, _) = spawn_h2c(move |request| {
        let log = Arc::clone(&log);
        async move { notes(request, &log).await }
    })
    .await;
    (addr, seen)
}

async fn notes(
    request: http::Request<hyper::body::Incoming>,
    log: &Mutex<Vec<http::HeaderMap>>,
) -> http::Response<tonic::body::Body> {
    log.lock().unwrap().push(request.headers().clone());
    let mut grpc = tonic::server::Grpc::new(codec());
    match request.uri().path() {
        "/test.Notes/Echo" => {
            let echo = tower::service_fn(|r: tonic::Request<Note>| async move {
                let note = r.into_inner();
                Ok::<_, Status>(tonic::Response::new(Note {
                    text: format!("echo: {}", note.text),
                    n: note.n,
                }))
            });
            grpc.unary(echo, request).await
        }
        "/test.Notes/Fail" => {
            let fail = tower::service_fn(|_: tonic::Request<Note>| async {
                Err::<tonic::Response<Note>, _>(Status::not_found("no such note"))
            });
            grpc.unary(fail, request).await
        }
        "/test.Notes/Count" => {
            let count = tower::service_fn(|r: tonic::Request<Note>| async move {
                let note = r.into_inner();
                let pause = Duration::from_millis(note.text.parse().unwrap_or(0));
                let notes = futures_util::stream::unfold(0, move |i| async move {
                    if i >= note.n {
                        return None;
                    }
                    tokio::time::sleep(pause).await;
                    let note = Note {
                        text: format!("note {i}"),
                        n: i,
                    };
                    Some((Ok::<_, Status>(note), i + 1))
                });
                Ok::<_, Status>(tonic::Response::new(Box::pin(notes)))
            });
            grpc.server_streaming(count, request).await
        }
        "/test.Notes/Sink" => {
            let sink = tower::service_fn(|r: tonic::Request<tonic::Streaming<Note>>| async move {
                let mut stream = r.into_inner();
                let mut n = 0;
                while stream.message().await?.is_some() {
                    n += 1;
                }
                Ok::<_, Status>(tonic::Response::new(Note {
                    text: "sunk".into(),
                    n,
                }))
            });
            grpc.client_streaming(sink, request).await
        }
        _ => Status::unimplemented("no such method").into_http(),
    }
}

fn grpc_route(upstream: SocketAddr, auth: RouteAuth) -> RouteFile {
    RouteFile {
        auth: Some(auth),
        encrypted_request: Some(false),
        encrypted_response: Some(false),
        upstream_protocol: Some(UpstreamProtocol::Http2),
        upstream_timeout_ms: Some(1500),
        ..route_file("/test.Notes/", &format!("http://{upstream}"))
    }
}

async fn client(app: &TestApp) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(app.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Every call is preceded by `ready()`, as tonic's generated clients do.
    tonic::client::Grpc::new(channel)
}

fn path(method: &'static str) -> PathAndQuery {
    PathAndQuery::from_static(method)
}

#[tokio::test]
async fn unary_and_streaming_calls_and_their_errors_pass_through_with_trailers() {
    let (server, seen) = spawn_grpc_server().await;
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let config = crate::observe::with_access_log(
        ConfigBuilder::new(upstream.addr).route(grpc_route(server, RouteAuth::None)),
        &log,
        sealgate::config::AccessFormat::Json,
    );
    let app = spawn_app(config.build()).await;
    let mut grpc = client(&app).await;

    let note = Note {
        text: "hello".into(),
        n: 7,
    };
    grpc.ready().await.unwrap();
    let reply = grpc
        .unary(tonic::Request::new(note), path("/test.Notes/Echo"), codec())
        .await
        .unwrap();
    assert_eq!(reply.get_ref().text, "echo: hello");
    assert_eq!(reply.get_ref().n, 7);

    // An error travels in the trailers, code and message intact.
    grpc.ready().await.unwrap();
    let failed = grpc
        .unary(
            tonic::Request::new(Note::default()),
            path("/test.Notes/Fail"),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::NotFound);
    assert_eq!(failed.message(), "no such note");

    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(
            tonic::Request::new(Note {
                text: "0".into(),
                n: 5,
            }),
            path("/test.Notes/Count"),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(note) = stream.message().await.unwrap() {
        got.push(note.n);
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);

    grpc.ready().await.unwrap();

    let sunk = grpc
        .client_streaming(
            tonic::Request::new(futures_util::stream::iter((0..3).map(|n| Note {
                text: "x".into(),
                n,
            }))),
            path("/test.Notes/Sink"),
            codec(),
        )
        .await
        .unwrap();
    assert_eq!(sunk.get_ref().n, 3);

    // What the server saw: HTTP/2 with `te: trailers`, and the deadline it must keep.
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["te"], "trailers");
    assert_eq!(headers["grpc-timeout"], "1500m", "the route's bound");

    // The access lines name each call's gRPC status.
    let lines: Vec<serde_json::Value> = crate::observe::lines(&log, 4)
        .await
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<_> = lines.iter().map(|l| l["grpc_status"].clone()).collect();
    assert_eq!(statuses, [0, 5, 0, 0], "{lines:#?}");
}

#[tokio::test]
async fn a_shorter_grpc_timeout_is_kept_and_a_longer_one_is_capped() {
    let (server, seen) = spawn_grpc_server().await;
    let app = spawn_app(
        ConfigBuilder::new(server)
            .route(grpc_route(server, RouteAuth::None))
            .build(),
    )
    .await;
    let mut grpc = client(&app).await;
    for (asked, told) in [
        (Duration::from_millis(400), "400m"),
        (Duration::from_secs(60), "1500m"),
    ] {
        let mut request = tonic::Request::new(Note::default());
        request.set_timeout(asked);
        grpc.ready().await.unwrap();
        grpc.unary(request, path("/test.Notes/Echo"), codec())
            .await
            .unwrap();
        let headers = seen.lock().unwrap().last().unwrap().clone();
        assert_eq!(headers["grpc-timeout"], told);
    }
}

#[tokio::test]
async fn a_stream_that_never_ends_is_ended_at_the_deadline_either_way() {
    let (server, _) = spawn_grpc_server().await;
    let app = spawn_app(
        ConfigBuilder::new(server)
            .route(grpc_route(server, RouteAuth::None))
            .build(),
    )
    .await;
    let mut grpc = client(&app).await;

    // A client stream that never ends: the server never answers, the gateway does.
    let endless = futures_util::stream::unfold(0u32, |n| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((
            Note {
                text: "more".into(),
                n,
            },
            n + 1,
        ))
    });
    let started = Instant::now();
    grpc.ready().await.unwrap();
    let status = grpc
        .client_streaming(
            tonic::Request::new(endless),
            path("/test.Notes/Sink"),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("UPSTREAM004"), "{status:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A server stream that outlives the deadline ends with DEADLINE_EXCEEDED in its trailers
    // after what came before it.
    let started = Instant::now();
    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(
            tonic::Request::new(Note {
                text: "100".into(),
                n: 1000,
            }),
            path("/test.Notes/Count"),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    let ended = loop {
        match stream.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::DeadlineExceeded, "{ended:?}");
    assert!((5..=20).contains(&got), "{got} notes before the deadline");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn refusals_of_a_call_are_grpc_statuses_and_a_token_sets_identity_metadata() {
    let (server, seen) = spawn_grpc_server().await;
    let app = spawn_app(
        ConfigBuilder::new(server)
            .route(grpc_route(server, RouteAuth::Token))
            .build(),
    )
    .await;
    let mut grpc = client(&app).await;
    grpc.ready().await.unwrap();
    let refused = grpc
        .unary(
            tonic::Request::new(Note::default()),
            path("/test.Notes/Echo"),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().starts_with("AUTH001"), "{refused:?}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "the server was never asked"
    );

    let s = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let mut request = tonic::Request::new(Note {
        text: "mine".into(),
        n: 1,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", s.token).parse().unwrap(),
    );
    request
        .metadata_mut()
        .insert("x-client-id", "FORGED".parse().unwrap());
    grpc.ready().await.unwrap();
    let reply = grpc
        .unary(request, path("/test.Notes/Echo"), codec())
        .await
        .unwrap();
    assert_eq!(reply.get_ref().text, "echo: mine");
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["x-client-id"], "MOB-APP");
    assert!(!headers.contains_key("authorization"));
}

#[tokio::test]
async fn concurrent_requests_share_one_http2_connection_and_each_gets_its_own_answer() {
    // An h2c upstream that answers each request with its own `x-n` after a random pause, so
    // answers come back out of order on the shared connection.
    let (addr, connections) = spawn_h2c(|request| async move {
        let n = request.headers()["x-n"].to_str().unwrap().to_owned();
        let pause = n.parse::<u64>().unwrap() * 7 % 50;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        http::Response::new(http_body_util::Full::new(bytes::Bytes::from(format!(
            "answer {n}"
        ))))
    })
    .await;
    let route = RouteFile {
        auth: Some(RouteAuth::None),
        upstream_protocol: Some(UpstreamProtocol::Http2),
        ..route_file("/h2c/", &format!("http://{addr}"))
    };
    let app = spawn_app(ConfigBuilder::new(addr).route(route).build()).await;
    let calls = (0..200).map(|n| {
        let url = app.url("/h2c/x");
        async move {
            let reply = send(
                http::Request::get(url)
                    .header("x-n", n.to_string())
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap(),
            )
            .await;
            (n, reply)
        }
    });
    for (n, reply) in futures_util::future::join_all(calls).await {
        assert_eq!(reply.status, http::StatusCode::OK);
        assert_eq!(reply.body, format!("answer {n}").as_bytes());
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one HTTP/2 connection carried every request"
    );
}

#[tokio::test]
async fn answers_a_client_leaves_unread_do_not_hold_back_the_shared_connection() {
    // An h2c upstream: `/big` answers 4 MiB, `/small` a few bytes.
    let (addr, conns) = spawn_h2c(|request| async move {
        let body = if request.uri().path().ends_with("/big") {
            bytes::Bytes::from(vec![b'x'; 4 * 1024 * 1024])
        } else {
            bytes::Bytes::from_static(b"small")
        };
        http::Response::new(http_body_util::Full::new(body))
    })
    .await;
    let route = RouteFile {
        auth: Some(RouteAuth::None),
        upstream_protocol: Some(UpstreamProtocol::Http2),
        ..route_file("/h2c/", &format!("http://{addr}"))
    };
    let app = spawn_app(
        ConfigBuilder::new(addr)
            .route(route)
            .with(|f| f.server.send_timeout_ms = Some(800))
            .build(),
    )
    .await;
    // The attacker: one HTTP/2 connection asking for 95 big answers and reading none, more
    // than enough to fill the upstream connection's shared window.
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(1024)
        .initial_connection_window_size(65_535)
        .handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut unread = Vec::new();
    for _ in 0..95 {
        sender.ready().await.unwrap();
        let request = http::Request::get(app.url("/h2c/big"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        unread.push(sender.send_request(request));
    }
    let heads = futures_util::future::join_all(unread).await;
    assert!(heads.iter().all(Result::is_ok));
    // It reads a small answer now and then on the same connection, so the connection as a
    // whole is never idle (what `send_timeout_ms` cuts) though 80 of its answers are.
    let mut keeper = sender.clone();
    let small = app.url("/h2c/small");
    let keep_alive = tokio::spawn(async move {
        loop {
            if keeper.ready().await.is_err() {
                return;
            }
            let request = http::Request::get(&small)
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            if let Ok(response) = keeper.send_request(request).await {
                let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // Another client still gets its answer: the stalled streams are reset after
    // `send_timeout_ms`, giving their window back.
    let started = Instant::now();
    let victim = tokio::time::timeout(
        Duration::from_secs(10),
        send(
            http::Request::get(app.url("/h2c/small"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        ),
    )
    .await
    .expect("another client's answer was held back by unread ones");
    assert_eq!(victim.status, http::StatusCode::OK);
    assert_eq!(&victim.body[..], b"small");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        conns.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one shared connection"
    );
    keep_alive.abort();
    drop(heads);
}

/// An h2c upstream that, once a request's HEADERS arrive, answers with GOAWAY naming no
/// stream as processed (RFC 9113 §6.8: the request was not processed) and closes.
async fn spawn_refusing_h2_upstream() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut preface = [0u8; 24];
                if stream.read_exact(&mut preface).await.is_err() {
                    return;
                }
                // SETTINGS (empty), then read frames until a HEADERS one.
                let _ = stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
                loop {
                    let mut head = [0u8; 9];
                    if stream.read_exact(&mut head).await.is_err() {
                        return;
                    }
                    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                    let mut payload = vec![0u8; length];
                    if stream.read_exact(&mut payload).await.is_err() {
                        return;
                    }
                    match head[3] {
                        // SETTINGS without ACK: acknowledge it.
                        4 if head[4] & 1 == 0 => {
                            let _ = stream.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).await;
                        }
                        1 => break,
                        _ => {}
                    }
                }
                // GOAWAY: last stream 0, NO_ERROR.
                let goaway = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                let _ = stream.write_all(&goaway).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_request_an_http2_upstream_refused_unprocessed_goes_to_another_instance() {
    let refusing = spawn_refusing_h2_upstream().await;
    let (healthy, _) = spawn_grpc_server().await;
    let route = RouteFile {
        auth: Some(RouteAuth::None),
        upstream_protocol: Some(UpstreamProtocol::Http2),
        upstreams: vec![
            format!("http://{refusing}").into(),
            format!("http://{healthy}").into(),
        ],
        ..route_file("/test.Notes/", "http://unused")
    };
    let app = spawn_app(ConfigBuilder::new(healthy).route(route).build()).await;
    // Round robin sends every other request to the refusing instance first: each must
    // still be answered, by the other.
    for _ in 0..6 {
        let reply = send(
            http::Request::get(app.url("/test.Notes/Unknown"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await;
        // The healthy gRPC server answers an unknown method with a gRPC status, in a 200.
        assert_eq!(reply.status, http::StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.headers["grpc-status"], "12");
    }
}

#[tokio::test]
async fn request_trailers_do_not_carry_identity_headers_to_an_http2_upstream() {
    // An h2c upstream that answers with the names of the trailers it received.
    let (addr, _) = spawn_h2c(|request| async move {
        let collected = http_body_util::BodyExt::collect(request.into_body()).await;
        let names: Vec<String> = collected
            .ok()
            .and_then(|c| c.trailers().cloned())
            .map(|t| t.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
            names.join(","),
        )))
    })
    .await;
    let route = RouteFile {
        auth: Some(RouteAuth::None),
        upstream_protocol: Some(UpstreamProtocol::Http2),
        ..route_file("/h2c/", &format!("http://{addr}"))
    };
    let app = spawn_app(ConfigBuilder::new(addr).route(route).build()).await;
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-client-id", "FORGED".parse().unwrap());
    trailers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    let frames = futures_util::stream::iter([
        Ok::<_, Infallible>(http_body::Frame::data(bytes::Bytes::from_static(b"body"))),
        Ok(http_body::Frame::trailers(trailers)),
    ]);
    let request = http::Request::post(app.url("/h2c/x"))
        .body(http_body_util::StreamBody::new(frames))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    let seen = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&seen[..], b"", "trailers reached the upstream: {seen:?}");
}

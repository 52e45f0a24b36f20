//! Upstreams for tests, on loopback port 0: the bundled demo echo ([`sealgate::demo`]) where a
//! test needs only something that answers, and a recording upstream where a test must see
//! what the upstream received (method, URI, version, headers, body) or needs it to answer
//! in a particular way ([`Behaviour`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use sealgate::wire::{Body, full};

/// The demo echo upstream ([`sealgate::demo`]) serving on a loopback port; its address.
pub async fn spawn_demo_upstream() -> SocketAddr {
    let (addr, serve) = sealgate::demo::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the demo upstream");
    tokio::spawn(serve);
    addr
}

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: Method,
    /// The request target.
    pub uri: http::Uri,
    /// The HTTP version.
    pub version: http::Version,
    /// Every header.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// How the recording upstream answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with a JSON echo of the request (`method`, `path`, `query`, and `body` as a
    /// string) and `x-upstream: yes`.
    Echo,
    /// A fixed status, content type and body (with `x-upstream: yes`).
    Fixed(u16, &'static str, &'static [u8]),
    /// Never answers.
    Hang,
    /// Answers 200 "ok" after this many milliseconds.
    Slow(u64),
}

/// A running recording upstream.
#[derive(Debug)]
pub struct TestUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it has received, in order.
    pub received: Arc<Mutex<Vec<Recorded>>>,
}

impl TestUpstream {
    /// A copy of what it has received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.received.lock().unwrap().clone()
    }
}

/// Starts a recording upstream answering as `behaviour` (HTTP/1.1).
pub async fn spawn_upstream(behaviour: Behaviour) -> TestUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let log = Arc::clone(&log);
                    let behaviour = behaviour.clone();
                    async move { Ok::<_, Infallible>(answer(request, &log, behaviour).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    TestUpstream { addr, received }
}

/// Records `request` whole, then answers as `behaviour`.
async fn answer(
    request: Request<Incoming>,
    log: &Mutex<Vec<Recorded>>,
    behaviour: Behaviour,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    log.lock().unwrap().push(Recorded {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        version: parts.version,
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    match behaviour {
        Behaviour::Echo => echo_response(&parts, &body),
        Behaviour::Fixed(status, content_type, bytes) => Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("x-upstream", "yes")
            .body(full(Bytes::from_static(bytes)))
            .unwrap(),
        Behaviour::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Response::new(full(Bytes::from_static(b"ok")))
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            unreachable!()
        }
    }
}

/// The echo: unlike the demo's, the body is echoed as a string, and no headers.
fn echo_response(parts: &http::request::Parts, body: &Bytes) -> Response<Body> {
    let echoed = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "body": String::from_utf8_lossy(body),
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-upstream", "yes")
        .body(full(echoed.to_string()))
        .unwrap()
}

/// A loopback address that refuses connections: a socket bound to port 0 but never listening
/// (the kernel answers a SYN to it with a reset), kept open for the life of the test process
/// so no other test can take the port. Where a test needs "no upstream there", this is
/// certain; a fixed port such as `:9` or `:1` is only likely to be closed.
pub fn refused_addr() -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind port 0");
    let addr = socket.local_addr().expect("the bound address");
    // Leaked on purpose: closing it would free the port for a listener to appear on.
    std::mem::forget(socket);
    addr
}

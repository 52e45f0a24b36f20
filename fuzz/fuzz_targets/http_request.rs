//! Raw HTTP/1.1 bytes into the gateway's service over an in-memory connection: hyper's
//! parser and every handler behind it must never panic or hang (a connection still open
//! after 5 s is a hang, and fails the run like a panic).
#![no_main]
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sealgate::context::ConnInfo;
use sealgate::gateway::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
body_read_timeout_ms = 50
[token]
revocation = true
[channels.C]
[clients.A]
secret = "s"
channels = ["C"]
[[routes]]
prefix = "/api/"
upstreams = ["http://UPSTREAM"]
upstream_timeout_ms = 50
[[routes]]
prefix = "/plain/"
upstreams = ["http://UPSTREAM"]
auth = "none"
upstream_timeout_ms = 50
"#;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"));
/// The upstream: a socket bound to a loopback port but never listening, so every connection
/// to it is refused at once (a fixed port is only probably closed). Kept for the whole run.
static REFUSING: LazyLock<std::net::SocketAddr> = LazyLock::new(|| {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::mem::forget(socket);
    addr
});

static GATEWAY: LazyLock<Gateway> = LazyLock::new(|| {
    let config = CONFIG.replace("UPSTREAM", &REFUSING.to_string());
    let config = sealgate::config::Config::parse(&config, std::path::Path::new("f"), std::path::Path::new("."), &|_| None)
        .expect("config");
    RUNTIME.block_on(async { Gateway::new(Arc::new(config)).expect("gateway") })
});

fuzz_target!(|data: &[u8]| {
    let gateway = GATEWAY.clone();
    RUNTIME.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let info = ConnInfo::new("127.0.0.1:1".parse().expect("addr"), hyper::http::uri::Scheme::HTTP, None);
        let service = hyper::service::service_fn(move |request| {
            let (gateway, info) = (gateway.clone(), info.clone());
            async move { Ok::<_, std::convert::Infallible>(gateway.handle(request, info).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(server), service);
        let driver = tokio::spawn(connection);
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut out = Vec::new();
        // Every request here ends within ~100 ms (refused upstream, 50 ms deadlines, the
        // client's end of the stream closed): 5 s without the connection ending is a hang.
        let ended = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out)).await;
        driver.abort();
        assert!(ended.is_ok(), "the connection neither answered nor closed within 5 s (a hang)");
    });
});

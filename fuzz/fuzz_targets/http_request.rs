//! Raw HTTP/1.1 bytes into the gateway's service over an in-memory connection: hyper's
//! parser and every handler behind it must never panic or hang.
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
upstreams = ["http://127.0.0.1:9"]
upstream_timeout_ms = 50
[[routes]]
prefix = "/plain/"
upstreams = ["http://127.0.0.1:9"]
auth = "none"
upstream_timeout_ms = 50
"#;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"));
static GATEWAY: LazyLock<Gateway> = LazyLock::new(|| {
    let config = sealgate::config::Config::parse(CONFIG, std::path::Path::new("f"), std::path::Path::new("."), &|_| None)
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
        let _ = tokio::time::timeout(Duration::from_millis(500), client.read_to_end(&mut out)).await;
        driver.abort();
    });
});

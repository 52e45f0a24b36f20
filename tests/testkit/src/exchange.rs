//! Plain HTTP from the test's side: one request sent and its response read whole
//! ([`Reply`]), the admin listener, and reading one series out of the metrics text.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::app::TestApp;

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as received.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// `(resCode, resDesc)` of a gateway answer.
    pub fn codes(&self) -> (String, String) {
        let v = self.json();
        (
            v["resCode"].as_str().unwrap().to_owned(),
            v["resDesc"].as_str().unwrap().to_owned(),
        )
    }
}

/// A plain-HTTP client (a new connection pool each time).
pub fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends `request` on a new client and reads the response whole.
pub async fn send(request: Request<Full<Bytes>>) -> Reply {
    let response = http_client().request(request).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A POST of `body` to `url` with `headers`.
pub async fn post(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut builder = Request::post(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    send(builder.body(Full::new(body.into())).unwrap()).await
}

/// A GET on the admin listener.
pub async fn admin_get(app: &TestApp, path: &str) -> Reply {
    let url = format!("http://{}{}", app.admin_addr.expect("admin listener"), path);
    send(Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
}

/// The value of one exposition line, e.g. `sealgate_tokens_total{res_code="TOK200"}` (0 if
/// absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// The admin listener's `/metrics` text.
pub async fn metrics_text(app: &TestApp) -> String {
    String::from_utf8(admin_get(app, "/metrics").await.body.to_vec()).unwrap()
}

/// Sends `request` (raw HTTP/1.1 bytes, `connection: close`) on one new connection to each of
/// `targets` at the same instant: every connection first gets all but the last byte, then
/// the last bytes are released together (each by its own task, after a barrier). Returns
/// each answer's status, in the order of `targets`.
pub async fn send_at_once(targets: &[std::net::SocketAddr], request: &[u8]) -> Vec<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (head, last) = request.split_at(request.len() - 1);
    let mut held = Vec::new();
    for target in targets {
        let mut stream = tokio::net::TcpStream::connect(target).await.unwrap();
        stream.write_all(head).await.unwrap();
        held.push(stream);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(held.len()));
    let tasks: Vec<_> = held
        .into_iter()
        .map(|mut stream| {
            let (barrier, last) = (std::sync::Arc::clone(&barrier), last.to_vec());
            tokio::spawn(async move {
                barrier.wait().await;
                stream.write_all(&last).await.unwrap();
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    stream.read_to_end(&mut answer),
                )
                .await;
                let text = String::from_utf8_lossy(&answer);
                text.strip_prefix("HTTP/1.1 ")
                    .and_then(|rest| rest.get(..3))
                    .and_then(|code| code.parse().ok())
                    .unwrap_or_else(|| panic!("no status in {text:?}"))
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// The race for "a body is accepted once": five times, a fresh sealed body of `session`
/// (POST `/api/pay`) sent on one connection to each of `targets` at the same instant
/// ([`send_at_once`]). Panics unless each round has exactly one `200`, the rest `401`, and
/// `upstream` saw one more request each round.
pub async fn race_one_body(
    targets: &[std::net::SocketAddr],
    session: &super::ClientSession,
    upstream: &super::TestUpstream,
) {
    let before = upstream.requests().len();
    for round in 0..5 {
        let body = format!("{{\"amount\":{round}}}");
        let sealed = super::seal(session, body.as_bytes(), None);
        let request = format!(
            "POST /api/pay HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             content-type: application/jose\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{sealed}",
            session.token,
            sealed.len()
        );
        let statuses = send_at_once(targets, request.as_bytes()).await;
        let accepted = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(accepted, 1, "round {round}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 401),
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            upstream.requests().len(),
            before + round + 1,
            "the upstream saw each body once"
        );
    }
}

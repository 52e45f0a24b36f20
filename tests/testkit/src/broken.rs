//! A deliberately non-compliant upstream, written on raw TCP so that it can break HTTP the
//! way legacy backends do (STYLE habit 14). Each request's path says how it is answered;
//! every answer that is kept to the rules carries the path's last segment as its body, so a
//! client can check that the answer it got is its own. What a misbehaving answer writes
//! beyond its framing is a whole second answer, [`PLANTED`], which a gateway that reuses the
//! connection would hand to the next request.
//!
//! Paths (any prefix before them; `ID` is the caller's):
//! - `…/echo/ID`: `200`, body `ID` (keeps the rules);
//! - `…/body-after-head/ID`: to `HEAD`, the head, then the body a `GET` would get (Python's
//!   `do_HEAD = do_GET`), which is [`PLANTED`];
//! - `…/status/CODE/ID?ms=N`: `CODE` (`204`, `304`) and, `N` ms later, [`PLANTED`];
//! - `…/past/ID?ms=N`: `200` with body `ID`, and `N` ms later [`PLANTED`] past its length;
//! - `…/ambiguous/ID`: both `Transfer-Encoding: chunked` and `Content-Length`;
//! - `…/upgrade/ID`: `101 Switching Protocols`, then [`PLANTED`];
//! - `…/early/ID`: answers before reading the body, then reads what follows as requests;
//! - `…/late/ID?ms=N`: waits `N` ms, then answers `ID` and [`PLANTED`];
//! - `…/fail/ID`: `500`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The body of the answer a misbehaving upstream writes past its framing.
pub const PLANTED: &str = "PLANTED";

/// The second answer itself.
const PLANTED_ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nPLANTED";

/// A running broken upstream.
#[derive(Debug)]
pub struct BrokenUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Each request's method, target and header lines (lower case), in order.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl BrokenUpstream {
    /// Whether any request so far carried a header line starting with `prefix` (lower
    /// case, as `"expect:"`).
    pub fn saw_header(&self, prefix: &str) -> bool {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .any(|head| head.lines().any(|line| line.starts_with(prefix)))
    }
}

/// Starts a broken upstream on a loopback port.
pub async fn spawn_broken_upstream() -> BrokenUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (count, log) = (Arc::clone(&connections), Arc::clone(&requests));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let _ = serve(stream, log).await;
            });
        }
    });
    BrokenUpstream {
        addr,
        connections,
        requests,
    }
}

/// One parsed request head.
struct Head {
    method: String,
    path: String,
    query: String,
    content_length: usize,
}

async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer = Vec::new();
    loop {
        let Some((head, rest)) = read_head(&mut stream, &mut buffer).await? else {
            return Ok(());
        };
        buffer = rest;
        log.lock().unwrap().push(head.1);
        let head = head.0;
        let segments: Vec<&str> = head.path.split('/').collect();
        let id = segments.last().copied().unwrap_or("").to_owned();
        let kind = segments.iter().rev().nth(1).copied().unwrap_or("");
        let ms: u64 = head
            .query
            .split('&')
            .find_map(|pair| pair.strip_prefix("ms="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let status_kind = segments.iter().rev().nth(2).copied() == Some("status");
        if kind != "early" {
            // Read the body (the early answer does not).
            while buffer.len() < head.content_length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            buffer.drain(..head.content_length);
        }
        if status_kind {
            let code = kind;
            stream
                .write_all(format!("HTTP/1.1 {code} X\r\n\r\n").as_bytes())
                .await?;
            plant_later(&mut stream, ms).await?;
            continue;
        }
        match kind {
            "body-after-head" if head.method == "HEAD" => {
                stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                            PLANTED_ANSWER.len()
                        )
                        .as_bytes(),
                    )
                    .await?;
                stream.write_all(PLANTED_ANSWER).await?;
            }
            "past" => {
                stream.write_all(&answer(200, &id)).await?;
                plant_later(&mut stream, ms).await?;
            }
            "ambiguous" => {
                stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n{:x}\r\n{id}\r\n0\r\n\r\n",
                            id.len()
                        )
                        .as_bytes(),
                    )
                    .await?;
                stream.write_all(PLANTED_ANSWER).await?;
            }
            "upgrade" => {
                stream
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n")
                    .await?;
                stream.write_all(PLANTED_ANSWER).await?;
            }
            "late" => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                stream.write_all(&answer(200, &id)).await?;
                stream.write_all(PLANTED_ANSWER).await?;
            }
            "fail" => stream.write_all(&answer(500, &id)).await?,
            // `early` and `echo` alike answer at once; `early` then reads the body that
            // follows as the next request.
            _ => stream.write_all(&answer(200, &id)).await?,
        }
    }
}

async fn plant_later(stream: &mut TcpStream, ms: u64) -> std::io::Result<()> {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    stream.write_all(PLANTED_ANSWER).await
}

fn answer(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one request head; returns it (parsed, and its text) and the bytes read past it.
async fn read_head(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Option<((Head, String), Vec<u8>)>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let rest = buffer[end + 4..].to_vec();
            let mut lines = text.lines();
            let mut first = lines.next().unwrap_or("").split(' ');
            let method = first.next().unwrap_or("").to_ascii_uppercase();
            let target = first.next().unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let content_length = lines
                .filter_map(|line| line.strip_prefix("content-length:"))
                .find_map(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let head = Head {
                method,
                path: path.to_owned(),
                query: query.to_owned(),
                content_length,
            };
            return Ok(Some(((head, text), rest)));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

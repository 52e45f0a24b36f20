//! The access line: one per request, written after its response body has gone (or was
//! abandoned), by a writer thread fed through a bounded queue — a slow disk or a full pipe
//! never holds a request up. When the queue is full the line is dropped and counted
//! (`sealgate_access_log_dropped_total`).
//!
//! A line has the request's facts an auditor asks for and nothing a client sent as a
//! secret: route, upstream instance, status, the gateway's `resCode`, client id and
//! channel once known, bytes in and out, total and upstream time, trace id, TLS version.
//! Never a header value, the query string, a body, a token or a key.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

use super::Trail;

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Standard output.
    Stdout,
    /// A file, appended to (created 0640 if missing) and reopened on request (log rotation).
    File(PathBuf),
}

/// How a line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `key=value` pairs after an RFC 3339 time, one line per request.
    Text,
    /// One JSON object per line.
    Json,
}

/// One request's access line.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the response ended.
    pub time: SystemTime,
    /// The request id (`X-Request-Id`).
    pub request_id: String,
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client's address (after PROXY protocol and trusted `X-Forwarded-For`).
    pub client: IpAddr,
    /// The method ([`method_text`]), `-` when hyper refused the request before it could be
    /// read.
    pub method: Cow<'static, str>,
    /// The path ([`path_text`]: never the query); none when hyper refused the request
    /// before it could be read.
    pub path: Option<String>,
    /// HTTP version.
    pub version: http::Version,
    /// `TLSv1.2`, `TLSv1.3`, or none on a plain listener.
    pub tls: Option<&'static str>,
    /// The route label (`token`, a prefix, `none`).
    pub route: Arc<String>,
    /// The upstream instance, when one was tried.
    pub upstream: Option<Arc<String>>,
    /// The HTTP status.
    pub status: u16,
    /// The gateway's `resCode`, when the gateway answered.
    pub res_code: Option<&'static str>,
    /// The client id and channel, when known.
    pub identity: Option<(Arc<str>, Arc<str>)>,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// From the request head to the end of the response body.
    pub duration: Duration,
    /// To the upstream's response head.
    pub upstream_time: Option<Duration>,
    /// The W3C trace id (32 hex digits), when the request is traced or carried one.
    pub trace_id: Option<String>,
    /// False when the client went away before the whole response was sent.
    pub complete: bool,
    /// A gRPC call's `grpc-status` (from the trailers, or the head of a trailers-only
    /// answer).
    pub grpc_status: Option<u16>,
}

impl Record {
    /// A record of a request from `peer` (client `client`) answered `status` on `route`:
    /// every other field empty, for the caller to fill in.
    pub fn new(
        request_id: String,
        peer: SocketAddr,
        client: IpAddr,
        tls: Option<&'static str>,
        route: Arc<String>,
        status: u16,
    ) -> Self {
        Record {
            time: SystemTime::now(),
            request_id,
            peer,
            client,
            method: Cow::Borrowed("-"),
            path: None,
            version: http::Version::default(),
            tls,
            route,
            upstream: None,
            status,
            res_code: None,
            identity: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::ZERO,
            upstream_time: None,
            trace_id: None,
            complete: true,
            grpc_status: None,
        }
    }
}

/// A record waiting for its response body to end: [`Logged`] completes it with the bytes
/// sent and the time taken, and the [`Trail`] with what the handler learned.
#[derive(Debug)]
pub struct Pending {
    log: Arc<AccessLog>,
    record: Record,
    trail: Arc<Trail>,
    started: Instant,
    /// A gRPC call: its `grpc-status` goes on the line.
    grpc: bool,
}

impl Pending {
    /// `record`'s trail fields are filled in from `trail` when the line is written.
    pub fn new(log: Arc<AccessLog>, record: Record, trail: Arc<Trail>, started: Instant) -> Self {
        Pending {
            log,
            record,
            trail,
            started,
            grpc: false,
        }
    }

    /// The response head is known: its route and status.
    pub fn answered(&mut self, route: Arc<String>, status: u16) {
        self.record.route = route;
        self.record.status = status;
    }

    /// The request is a gRPC call: its `grpc-status` is read from `head` (a trailers-only
    /// answer) or, later, from the answer's trailers. Nothing is read for other requests,
    /// so an upstream cannot put a gRPC status on a line that is not a call's.
    pub fn expect_grpc_status(&mut self, head: &http::HeaderMap) {
        self.grpc = true;
        self.grpc_status_in(head);
    }

    /// A `grpc-status` was seen in `headers` (a head or trailers) of a gRPC call.
    fn grpc_status_in(&mut self, headers: &http::HeaderMap) {
        if !self.grpc {
            return;
        }
        if let Some(status) = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u16>().ok())
        {
            self.record.grpc_status = Some(status);
        }
    }

    /// Writes the line: `bytes_out` sent, `complete` unless the client went away first.
    pub fn finish(self, bytes_out: u64, complete: bool) {
        let Pending {
            log,
            mut record,
            trail,
            started,
            grpc: _,
        } = self;
        let facts = trail.facts();
        record.time = SystemTime::now();
        record.duration = started.elapsed();
        record.bytes_in = trail.bytes_in();
        record.bytes_out = bytes_out;
        record.upstream_time = trail.upstream_time();
        record.upstream = facts.upstream;
        record.identity = facts.identity;
        record.res_code = record.res_code.or(facts.res_code);
        record.complete = complete;
        log.write(record);
    }
}

/// Holds a request's [`Pending`] line until its response head exists; dropped before that
/// (the client went away and hyper dropped the handler), it writes the line as it stands:
/// status 499 (the client closed the request), not complete.
#[derive(Debug)]
pub struct AccessGuard(Option<Pending>);

impl AccessGuard {
    /// Guards `pending`.
    pub fn new(pending: Pending) -> Self {
        AccessGuard(Some(pending))
    }

    /// The line, to be completed by the response body ([`Logged`]).
    pub fn take(&mut self) -> Option<Pending> {
        self.0.take()
    }
}

impl Drop for AccessGuard {
    fn drop(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.finish(0, false);
        }
    }
}

/// The longest method and path an access line keeps (a method is a token of any length,
/// a path up to the head's size): longer ones are cut and end in `…`.
const MAX_METHOD: usize = 32;
const MAX_PATH: usize = 1024;

/// The method as logged: the standard ones without allocating, others cut to 32 bytes.
pub fn method_text(method: &http::Method) -> Cow<'static, str> {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
    ];
    match STANDARD.iter().find(|m| **m == method.as_str()) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(cut(method.as_str(), MAX_METHOD)),
    }
}

/// The path as logged (never the query), copied so that a queued line does not keep the
/// request's head buffer alive, and cut to 1 KiB.
pub fn path_text(uri: &http::Uri) -> String {
    cut(uri.path(), MAX_PATH)
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A response body that writes the request's access line when it ends or is dropped.
#[derive(Debug)]
pub struct Logged<B> {
    body: B,
    bytes_out: u64,
    ended: bool,
    pending: Option<Pending>,
}

impl<B: http_body::Body> Logged<B> {
    /// Wraps `body`; `bodiless` when nothing follows the head whatever the body holds (HEAD,
    /// 204, 304), so hyper never polls it.
    pub fn new(body: B, pending: Pending, bodiless: bool) -> Self {
        Logged {
            ended: bodiless || body.is_end_stream(),
            body,
            bytes_out: 0,
            pending: Some(pending),
        }
    }
}

impl<B> http_body::Body for Logged<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let poll = std::pin::Pin::new(&mut this.body).poll_frame(cx);
        match &poll {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes_out += data.len() as u64;
                } else if let (Some(trailers), Some(pending)) =
                    (frame.trailers_ref(), this.pending.as_mut())
                {
                    pending.grpc_status_in(trailers);
                }
                this.ended = this.body.is_end_stream();
            }
            std::task::Poll::Ready(None) => this.ended = true,
            _ => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl<B> Drop for Logged<B> {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finish(self.bytes_out, self.ended);
        }
    }
}

/// How long the writer sleeps between drains of its queue: lines reach the file within
/// about this long.
const WRITE_INTERVAL: Duration = Duration::from_millis(20);

enum Message {
    Line(Box<Record>),
    /// Write everything queued before, then answer.
    Flush(SyncSender<()>),
}

/// The access log's sending side. Cheap to share; `write` never blocks.
#[derive(Debug)]
pub struct AccessLog {
    sender: Option<SyncSender<Message>>,
    dropped: Counter,
    reopen: Arc<AtomicBool>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

impl AccessLog {
    /// No access log.
    pub fn disabled() -> Self {
        AccessLog {
            sender: None,
            dropped: Counter::default(),
            reopen: Arc::default(),
        }
    }

    /// Starts the writer thread. `capacity` lines may wait; more are dropped and counted in
    /// `dropped`. Fails when the file cannot be opened.
    pub fn start(
        sink: Sink,
        format: Format,
        capacity: usize,
        dropped: Counter,
    ) -> io::Result<Self> {
        let out = Output::open(&sink)?;
        let (sender, receiver) = mpsc::sync_channel(capacity.max(1));
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            sink,
            format,
            out,
            reopen: Arc::clone(&reopen),
        };
        std::thread::Builder::new()
            .name("sealgate-access-log".into())
            .spawn(move || writer.run(receiver))?;
        Ok(AccessLog {
            sender: Some(sender),
            dropped,
            reopen,
        })
    }

    /// Whether lines are written at all (callers skip building records otherwise).
    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues one line, or drops and counts it when the queue is full.
    pub fn write(&self, record: Record) {
        let Some(sender) = &self.sender else { return };
        match sender.try_send(Message::Line(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.inc();
            }
        }
    }

    /// Asks the writer to reopen its file before the next line (after log rotation).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Waits (up to `timeout`) until every line queued so far is written: at shutdown.
    pub fn flush(&self, timeout: Duration) {
        let Some(sender) = &self.sender else { return };
        let deadline = Instant::now() + timeout;
        let (done, wait) = mpsc::sync_channel(1);
        let mut message = Message::Flush(done);
        // Never a blocking send: a writer stuck on a blocked pipe must not hang shutdown.
        loop {
            match sender.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = wait.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

enum Output {
    Stdout(BufWriter<io::Stdout>),
    File(BufWriter<File>),
}

impl Output {
    fn open(sink: &Sink) -> io::Result<Self> {
        Ok(match sink {
            Sink::Stdout => Output::Stdout(BufWriter::with_capacity(64 * 1024, io::stdout())),
            Sink::File(path) => {
                let mut options = OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
                Output::File(BufWriter::with_capacity(64 * 1024, options.open(path)?))
            }
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(w) => w,
            Output::File(w) => w,
        }
    }
}

struct Writer {
    sink: Sink,
    format: Format,
    out: Output,
    reopen: Arc<AtomicBool>,
}

impl Writer {
    /// Drains the queue, writes, flushes, sleeps [`WRITE_INTERVAL`], again. Polling rather
    /// than blocking on the queue: a receiver blocked on the queue is woken (a futex call and
    /// a context switch) by every line sent, which cost more than the line itself; a
    /// sleeping one costs the sender nothing.
    fn run(mut self, receiver: Receiver<Message>) {
        let mut line = Vec::with_capacity(512);
        let mut clock = TimeText::default();
        loop {
            let mut wrote = false;
            loop {
                match receiver.try_recv() {
                    Ok(Message::Line(record)) => {
                        self.reopen_if_asked();
                        line.clear();
                        format_with(&record, self.format, &mut line, &mut clock);
                        if let Err(error) = self.out.writer().write_all(&line) {
                            tracing::error!(%error, "access log: write failed; line lost");
                        }
                        wrote = true;
                    }
                    Ok(Message::Flush(done)) => {
                        self.flush();
                        let _ = done.try_send(());
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.flush();
                        return;
                    }
                }
            }
            if wrote {
                self.flush();
            }
            std::thread::sleep(WRITE_INTERVAL);
        }
    }

    fn reopen_if_asked(&mut self) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.flush();
            match Output::open(&self.sink) {
                Ok(out) => self.out = out,
                Err(error) => {
                    tracing::error!(%error, "access log: cannot reopen the file; writing to the old one")
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Err(error) = self.out.writer().flush() {
            tracing::error!(%error, "access log: flush failed");
        }
    }
}

/// The RFC 3339 text of the current second, formatted once per second rather than once
/// per line (in a profile of the plain route the per-line formatting was the writer's
/// largest cost).
#[derive(Debug, Default)]
pub struct TimeText {
    second: u64,
    text: String,
}

impl TimeText {
    /// `time` as `2026-11-28T16:10:00.123456Z` (UTC, microseconds).
    fn write(&mut self, time: SystemTime, out: &mut String) {
        let since = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let second = since.as_secs();
        if self.text.is_empty() || second != self.second {
            self.second = second;
            self.text =
                time::OffsetDateTime::from(SystemTime::UNIX_EPOCH + Duration::from_secs(second))
                    .format(&time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second]"
                    ))
                    .unwrap_or_else(|_| "-".to_owned());
        }
        out.clear();
        out.push_str(&self.text);
        out.push('.');
        let micros = since.subsec_micros();
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(micros);
        for _ in digits.len()..6 {
            out.push('0');
        }
        out.push_str(digits);
        out.push('Z');
    }
}

/// Writes `record` as one line (ending in `\n`) in `format`.
pub fn format(record: &Record, format: Format, out: &mut Vec<u8>) {
    format_with(record, format, out, &mut TimeText::default());
}

/// [`format()`], reusing `clock`'s text of the current second.
pub fn format_with(record: &Record, format: Format, out: &mut Vec<u8>, clock: &mut TimeText) {
    let mut time = String::with_capacity(32);
    clock.write(record.time, &mut time);
    let version = version_str(record.version);
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let (client_id, channel) = match &record.identity {
        Some((client, channel)) => (Some(&**client), Some(&**channel)),
        None => (None, None),
    };
    match format {
        Format::Json => {
            let line = JsonLine {
                time: &time,
                request_id: &record.request_id,
                peer: record.peer,
                client: record.client,
                method: &record.method,
                path: record.path.as_deref().unwrap_or("-"),
                version,
                tls: record.tls,
                route: &record.route,
                upstream: record.upstream.as_deref().map(String::as_str),
                status: record.status,
                res_code: record.res_code,
                client_id,
                channel,
                bytes_in: record.bytes_in,
                bytes_out: record.bytes_out,
                duration_us: micros(record.duration),
                upstream_us: record.upstream_time.map(micros),
                trace_id: record.trace_id.as_deref(),
                complete: record.complete,
                grpc_status: record.grpc_status,
            };
            // Serializing plain fields into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &line);
        }
        Format::Text => {
            // Pieces appended by hand, numbers through `itoa`: with `write!` the line cost
            // about 6,400 instructions, a tenth of the plain route's user-space work.
            let mut digits = itoa::Buffer::new();
            let put = |out: &mut Vec<u8>, key: &[u8], value: &[u8]| {
                out.extend_from_slice(key);
                out.extend_from_slice(value);
            };
            out.extend_from_slice(time.as_bytes());
            put(out, b" request_id=", record.request_id.as_bytes());
            out.extend_from_slice(b" peer=");
            push_socket_addr(out, record.peer);
            out.extend_from_slice(b" client=");
            crate::wire::push_ip(out, record.client);
            out.extend_from_slice(b" method=");
            escaped(&record.method, out);
            out.extend_from_slice(b" path=");
            escaped(record.path.as_deref().unwrap_or("-"), out);
            put(out, b" version=", version.as_bytes());
            put(out, b" tls=", record.tls.unwrap_or("-").as_bytes());
            out.extend_from_slice(b" route=");
            escaped(&record.route, out);
            out.extend_from_slice(b" upstream=");
            escaped(record.upstream.as_deref().map_or("-", String::as_str), out);
            put(out, b" status=", digits.format(record.status).as_bytes());
            put(
                out,
                b" res_code=",
                record.res_code.unwrap_or("-").as_bytes(),
            );
            out.extend_from_slice(b" client_id=");
            escaped(client_id.unwrap_or("-"), out);
            out.extend_from_slice(b" channel=");
            escaped(channel.unwrap_or("-"), out);
            put(
                out,
                b" bytes_in=",
                digits.format(record.bytes_in).as_bytes(),
            );
            put(
                out,
                b" bytes_out=",
                digits.format(record.bytes_out).as_bytes(),
            );
            let duration = micros(record.duration);
            put(out, b" duration_us=", digits.format(duration).as_bytes());
            let upstream = record.upstream_time.map(micros);
            let upstream = upstream.map_or("-", |us| digits.format(us));
            put(out, b" upstream_us=", upstream.as_bytes());
            put(
                out,
                b" trace_id=",
                record.trace_id.as_deref().unwrap_or("-").as_bytes(),
            );
            let complete: &[u8] = if record.complete { b"true" } else { b"false" };
            put(out, b" complete=", complete);
            let grpc = record.grpc_status.map_or("-", |s| digits.format(s));
            put(out, b" grpc_status=", grpc.as_bytes());
        }
    }
    out.push(b'\n');
}

#[derive(Serialize)]
struct JsonLine<'a> {
    time: &'a str,
    request_id: &'a str,
    peer: SocketAddr,
    client: IpAddr,
    method: &'a str,
    path: &'a str,
    version: &'a str,
    tls: Option<&'a str>,
    route: &'a str,
    upstream: Option<&'a str>,
    status: u16,
    res_code: Option<&'a str>,
    client_id: Option<&'a str>,
    channel: Option<&'a str>,
    bytes_in: u64,
    bytes_out: u64,
    duration_us: u64,
    upstream_us: Option<u64>,
    trace_id: Option<&'a str>,
    complete: bool,
    grpc_status: Option<u16>,
}

/// `addr` as `Display` writes it (`ip:port`, `[ip]:port`), IPv4 by hand ([`crate::wire::push_ip`]).
fn push_socket_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            crate::wire::push_ip(out, IpAddr::V4(*v4.ip()));
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(v4.port()).as_bytes());
        }
        SocketAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// A value in a text line: printable ASCII other than space, `"` and `\` as is; anything
/// else as `\xHH`, so a value can neither split a line nor forge a field.
fn escaped(value: &str, out: &mut Vec<u8>) {
    let safe = |b: u8| b.is_ascii_graphic() && b != b'"' && b != b'\\';
    if value.is_empty() {
        out.push(b'-');
        return;
    }
    if value.bytes().all(safe) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for &b in value.as_bytes() {
        if safe(b) {
            out.push(b);
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

fn version_str(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            request_id: "rid-1".into(),
            peer: "127.0.0.1:5000".parse().unwrap(),
            client: "10.0.0.9".parse().unwrap(),
            method: Cow::Borrowed("POST"),
            path: Some(path_text(&http::Uri::from_static(
                "/api/pay%20me%0a%20status=200?secret=1",
            ))),
            version: http::Version::HTTP_11,
            tls: Some("TLSv1.3"),
            route: Arc::new("/api/".into()),
            upstream: Some(Arc::new("http://10.1.1.1:80".into())),
            status: 401,
            res_code: Some("AUTH004"),
            identity: Some((Arc::from("MOB-APP"), Arc::from("MOB-APP-2001"))),
            bytes_in: 12,
            bytes_out: 34,
            duration: Duration::from_micros(1500),
            upstream_time: None,
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            complete: true,
            grpc_status: Some(5),
        }
    }

    #[test]
    fn a_text_line_is_one_line_whose_values_cannot_forge_fields() {
        let mut out = Vec::new();
        format(&record(), Format::Text, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.starts_with("2023-11-14T22:13:20.000000Z "), "{line}");
        assert!(
            line.contains("path=/api/pay%20me%0a%20status=200 "),
            "{line}"
        );
        assert!(
            !line.contains("secret"),
            "the query is never written: {line}"
        );
        assert_eq!(line.matches(" status=").count(), 1, "{line}");
        for field in [
            "route=/api/ ",
            "upstream=http://10.1.1.1:80 ",
            "status=401 res_code=AUTH004 client_id=MOB-APP channel=MOB-APP-2001 ",
            "bytes_in=12 bytes_out=34 duration_us=1500 upstream_us=- ",
            "tls=TLSv1.3",
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
            " complete=true grpc_status=5\n",
        ] {
            assert!(line.contains(field), "{field} in {line}");
        }
    }

    #[test]
    fn the_time_is_rfc_3339_with_microseconds_and_the_second_cache_follows_the_clock() {
        let mut clock = TimeText::default();
        let mut text = String::new();
        let at =
            |s: u64, us: u64| SystemTime::UNIX_EPOCH + Duration::from_micros(s * 1_000_000 + us);
        clock.write(at(1_700_000_000, 42), &mut text);
        assert_eq!(text, "2023-11-14T22:13:20.000042Z");
        clock.write(at(1_700_000_000, 999_999), &mut text);
        assert_eq!(text, "2023-11-14T22:13:20.999999Z");
        clock.write(at(1_700_000_061, 5), &mut text);
        assert_eq!(text, "2023-11-14T22:14:21.000005Z");
    }

    #[test]
    fn a_json_line_parses_and_has_every_field() {
        let mut out = Vec::new();
        format(&record(), Format::Json, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["status"], 401);
        assert_eq!(value["res_code"], "AUTH004");
        assert_eq!(value["client_id"], "MOB-APP");
        assert_eq!(value["upstream"], "http://10.1.1.1:80");
        assert_eq!(value["path"], "/api/pay%20me%0a%20status=200");
        assert_eq!(value["upstream_us"], serde_json::Value::Null);
        assert_eq!(value["tls"], "TLSv1.3");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // A writer that cannot keep up: its file is a pipe nobody reads would block; a
        // capacity of 1 and a burst shows the drop path without depending on timing.
        let dir = tempfile::tempdir().unwrap();
        let dropped = Counter::default();
        let log = AccessLog::start(
            Sink::File(dir.path().join("access.log")),
            Format::Text,
            1,
            dropped.clone(),
        )
        .unwrap();
        for _ in 0..10_000 {
            log.write(record());
        }
        log.flush(Duration::from_secs(10));
        let written = std::fs::read_to_string(dir.path().join("access.log"))
            .unwrap()
            .lines()
            .count() as u64;
        assert_eq!(written + dropped.get(), 10_000);
        assert!(dropped.get() > 0, "a queue of one line dropped nothing");
    }
}

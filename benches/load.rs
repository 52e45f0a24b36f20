//! The end-to-end load harness: one run, one machine, every variant side by side.
//!
//! `cargo bench --bench load` (options through env: `LOAD_SECS` per round, default 5;
//! `LOAD_ROUNDS`, default 3; `LOAD_CONNS`, default 32; `LOAD_RATE` for the fixed-load
//! latency pass, default 10000 req/s; `LOAD_ONLY=d` to run one variant, for a profiler). It starts, each in its own process
//! (this binary re-executed with `SEALGATE_BENCH_ROLE`, one tokio worker each):
//!   upstream — answers every request with a 1 KiB JSON body;
//!   (b) a bare pass-through proxy on hyper-util, no logic;
//!   (c) sealgate, plain route (`auth = "none"`);
//!   (d) sealgate, token route, 1 KiB request encrypted, response encrypted;
//!   (e) nginx `proxy_pass`, when `nginx` is on the PATH;
//!   (f) as (d) on the Redis backend (a second sealgate process and a `redis-server` on
//!       CPU 0), when `redis-server` is on the PATH: what shared state costs;
//!   (g) as (d), each body bound to its request (`typ`, `htm`, `htp`): what binding costs;
//!   (h) as (c) behind a trusted proxy (each request's `X-Forwarded-For` parsed) with an
//!       active health check on the route: what the balancer features cost;
//! and (a) is the upstream called directly. Pinning (2 cores here): the proxy under test on
//! CPU 1, the load generator and the upstream on CPU 0, with `taskset`. The variants run
//! interleaved over the rounds; the table gives medians. Latency is recorded in an
//! HdrHistogram; CPU time per request and peak RSS come from /proc for the proxy process.
//! When CPU 0 (load generator + upstream) is busier than 90 %, the row says the load
//! generator, not the server, was the bottleneck.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::panic,
    reason = "bench harness"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sealgate::crypto::Key32;
use sealgate::crypto::ecdh::EphemeralKeyPair;
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::jwe;
use tokio::net::TcpListener;

mod common;
use common::{cpu_seconds, env_or, free_port, median, own_cpu_seconds, which};
use sealgate::config::{BackendKind, FileConfig, HealthCheckFile, RedisFile, RouteAuth};

/// The allocator the `sealgate` binary uses, for every variant alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROLE: &str = "SEALGATE_BENCH_ROLE";
const UPSTREAM_BODY_LEN: usize = 1024;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("upstream") => serve_role(upstream_role()),
        Ok("bare") => serve_role(bare_role()),
        Ok("sealgate") => serve_role(sealgate_role()),
        _ => {
            // `cargo test --benches` / `cargo bench --no-run` runs nothing here.
            if std::env::args().any(|a| a == "--bench") {
                harness();
            }
        }
    }
}

fn serve_role(fut: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut);
}

async fn announce(listener: &TcpListener) {
    println!("{}", listener.local_addr().unwrap());
}

async fn upstream_role() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    announce(&listener).await;
    let body = Bytes::from(format!(
        "{{\"data\":\"{}\"}}",
        "x".repeat(UPSTREAM_BODY_LEN - 11)
    ));
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let body = body.clone();
                async move {
                    let _ = request.into_body().collect().await;
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .unwrap(),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn bare_role() {
    let upstream: SocketAddr = std::env::var("UPSTREAM").unwrap().parse().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    announce(&listener).await;
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, Incoming>(connector);
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut request: Request<Incoming>| {
                let client = client.clone();
                async move {
                    let path = request
                        .uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned();
                    *request.uri_mut() = format!("http://{upstream}{path}").parse().unwrap();
                    let response = client.request(request).await.unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn sealgate_role() {
    let upstream = std::env::var("UPSTREAM").unwrap().parse().unwrap();
    let variant = std::env::var("VARIANT").unwrap();
    let config = common::validate(bench_config(upstream, &variant));
    let gateway = sealgate::gateway::Gateway::new(Arc::new(config)).unwrap();
    let server = sealgate::server::Server::bind(gateway).await.unwrap();
    println!("{}", server.local_addr().unwrap());
    server.run(std::future::pending()).await.unwrap();
}

/// The gateway of a variant: `plain`, the shared bench configuration
/// ([`common::gateway_file`]); `balanced`, behind a balancer (the loopback network a
/// trusted proxy, so `X-Forwarded-For` is parsed on every request, and the plain route's
/// upstream health-checked every second); `redis:<port>`, its state on that Redis.
fn bench_config(upstream: SocketAddr, variant: &str) -> FileConfig {
    let mut file = common::gateway_file(upstream, SocketAddr::from(([127, 0, 0, 1], 0)), None);
    // One worker, as nginx gets one worker process.
    file.server.workers = Some(1);
    match variant.split_once(':') {
        None if variant == "plain" => {}
        None if variant == "balanced" => {
            file.server.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
            let plain = file
                .routes
                .iter_mut()
                .find(|r| r.auth == Some(RouteAuth::None))
                .unwrap();
            plain.health_check = Some(HealthCheckFile {
                path: Some("/".to_owned()),
                interval_ms: Some(1000),
                ..Default::default()
            });
        }
        Some(("redis", port)) => {
            file.sessions.backend = Some(BackendKind::Redis);
            file.sessions.redis = Some(RedisFile {
                url: Some(format!("redis://127.0.0.1:{port}").as_str().into()),
                ..Default::default()
            });
        }
        _ => panic!("no bench variant {variant}"),
    }
    file
}

struct Proc {
    child: Child,
    addr: SocketAddr,
}

/// A `redis-server` with nothing persisted, killed on drop.
struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` on `cpu`, when it is installed.
fn spawn_redis(cpu: usize) -> Option<Redis> {
    if !which("redis-server") {
        return None;
    }
    let port = free_port();
    let mut argv = pin_prefix(cpu);
    argv.push("redis-server".into());
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Redis(child, port))
}

/// Kills nginx however the harness ends (it would otherwise outlive a panic).
struct Nginx(Child, SocketAddr);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT to the master stops its workers too; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pin_prefix(cpu: usize) -> Vec<String> {
    if which("taskset") {
        vec!["taskset".into(), "-c".into(), cpu.to_string()]
    } else {
        vec![]
    }
}

fn spawn_role(role: &str, cpu: usize, env: &[(&str, String)]) -> Proc {
    let exe = std::env::current_exe().unwrap();
    let mut argv = pin_prefix(cpu);
    argv.push(exe.display().to_string());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env(ROLE, role)
        .env("SEALGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    Proc {
        child,
        addr: line.trim().parse().unwrap(),
    }
}

fn spawn_nginx(upstream: SocketAddr, dir: &std::path::Path) -> Option<Nginx> {
    if !which("nginx") {
        return None;
    }
    let port = free_port();
    let conf = format!(
        "daemon off; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};\n\
           upstream up {{ server {upstream}; keepalive 64; }}\n\
           keepalive_requests 100000000; keepalive_timeout 300s;\n\
           server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }} }}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut argv = pin_prefix(1);
    argv.extend([
        "nginx".into(),
        "-c".into(),
        dir.join("nginx.conf").display().to_string(),
    ]);
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Nginx(child, SocketAddr::from(([127, 0, 0, 1], port))));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Encrypted,
    /// As `Encrypted`, each body also bound to its request (`typ`, `htm`, `htp`:
    /// docs/protocol.md §4.1): what binding costs.
    Bound,
    /// As `Plain`, each request carrying `X-Forwarded-For` as a balancer writes it.
    Forwarded,
}

struct Round {
    rps: f64,
    histogram: hdrhistogram::Histogram<u64>,
    cpu_per_request_us: f64,
    loadgen_busy: f64,
}

/// Opens one keep-alive HTTP/1.1 connection.
async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn token(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
) -> (String, Key32) {
    let pair = EphemeralKeyPair::generate().unwrap();
    let body = sealgate::client::token_request_body("A", "s", &pair);
    let request = Request::post("/token-service/new/v2/token")
        .header("host", "bench")
        .header("x-api-key", "C")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let key = sealgate::client::session_key(
        v["serverPublicKey"].as_str().unwrap(),
        &pair,
        Kdf::HkdfSha256,
    )
    .unwrap();
    (v["token"].as_str().unwrap().to_owned(), key)
}

/// Drives `addr` for `secs` with `conns` connections: each sends its next request as soon
/// as the last is answered (closed loop, `rate` None: the server's capacity), or at a fixed
/// total `rate` of requests per second spread over the connections (open loop: latency at
/// a load every variant can carry).
async fn drive(
    addr: SocketAddr,
    kind: Kind,
    conns: usize,
    secs: u64,
    pid: u32,
    rate: Option<f64>,
) -> Round {
    let plaintext = Bytes::from(format!("{{\"data\":\"{}\"}}", "y".repeat(1024 - 11)));
    // Sessions are set up before the clock starts.
    let mut clients = Vec::new();
    for _ in 0..conns {
        let mut sender = connect(addr).await;
        let session = if matches!(kind, Kind::Encrypted | Kind::Bound) {
            Some(token(&mut sender).await)
        } else {
            None
        };
        clients.push((sender, session));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (cpu0, own0, t0) = (cpu_seconds(pid), process_cpu(), Instant::now());
    let mut tasks = Vec::new();
    // Paced: connection i sends at t0 + i·gap/conns + k·gap (evenly staggered).
    let gap = rate.map(|rate| Duration::from_secs_f64(conns as f64 / rate));
    for (i, (mut sender, session)) in clients.into_iter().enumerate() {
        let (stop, plaintext) = (Arc::clone(&stop), plaintext.clone());
        let bind = kind == Kind::Bound;
        tasks.push(tokio::spawn(async move {
            let mut histogram =
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let mut next = gap.map(|gap| t0 + gap.mul_f64(i as f64 / conns as f64));
            while !stop.load(Ordering::Relaxed) {
                // Paced, a request's latency runs from when it was due, not from when it
                // went: a server that falls behind delays the sends, and timing from the
                // send would hide that queue (coordinated omission).
                let mut due = None;
                if let (Some(at), Some(gap)) = (next.as_mut(), gap) {
                    tokio::time::sleep_until((*at).into()).await;
                    due = Some(*at);
                    *at += gap;
                }
                let request = match &session {
                    None if kind == Kind::Forwarded => Request::post("/plain/x")
                        .header("host", "bench")
                        .header("content-type", "application/json")
                        .header("x-forwarded-for", "198.51.100.7, 203.0.113.9")
                        .body(Full::new(plaintext.clone())),
                    None => Request::post("/plain/x")
                        .header("host", "bench")
                        .header("content-type", "application/json")
                        .body(Full::new(plaintext.clone())),
                    Some((token, key)) => {
                        // A fresh IV for every request.
                        let sealed = jwe::seal(
                            &plaintext,
                            key,
                            &jwe::Header {
                                kid: None,
                                cty: Some("application/json".into()),
                                typ: bind.then(|| jwe::TYP_REQUEST.to_owned()),
                                htm: bind.then(|| "POST".to_owned()),
                                htp: bind.then(|| "/api/x".to_owned()),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                        Request::post("/api/x")
                            .header("host", "bench")
                            .header("authorization", format!("Bearer {token}"))
                            .body(Full::new(Bytes::from(sealed)))
                    }
                }
                .unwrap();
                // Closed loop, latency is the exchange alone (the client's sealing and
                // opening are outside the window); paced, it runs from the due time, so the
                // client's sealing (~10 µs) is inside it for every variant alike.
                let started = due.unwrap_or_else(Instant::now);
                let response = sender.send_request(request).await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let latency = started.elapsed();
                if let Some((_, key)) = &session {
                    jwe::open(&body, key, usize::MAX).unwrap();
                }
                histogram.record(latency.as_micros() as u64).unwrap();
            }
            histogram
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for task in tasks {
        histogram.add(task.await.unwrap()).unwrap();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let requests = histogram.len() as f64;
    Round {
        rps: requests / elapsed,
        cpu_per_request_us: (cpu_seconds(pid) - cpu0) / requests * 1e6,
        loadgen_busy: (process_cpu() - own0) / elapsed,
        histogram,
    }
}

fn process_cpu() -> f64 {
    own_cpu_seconds(std::process::id())
}

async fn token_rates(addr: SocketAddr, conns: usize, secs: u64) -> (f64, f64) {
    // In-process: key pair + ECDH + KDF + seal + ES256 signature, the work of one token.
    let config = common::validate(bench_config("127.0.0.1:9".parse().unwrap(), "plain"));
    let (client, channel) = (
        Arc::clone(&config.clients["A"]),
        Arc::clone(&config.channels["C"]),
    );
    let public = EphemeralKeyPair::generate().unwrap().public_key();
    // The same work as the endpoint: the answer is signed with the gateway's `sig` key
    // (a random one here, as in the gateway under test).
    let signing = config.gateway_keys.signing().expect("a signing key");
    let (started, mut n) = (Instant::now(), 0u64);
    while started.elapsed() < Duration::from_secs(2) {
        let issued = sealgate::handshake::issue::issue(
            &client,
            &channel,
            &public,
            &config.token,
            sealgate::clock::now_ms(),
            false,
        )
        .unwrap();
        let signature = sealgate::handshake::issue::handshake_signature(
            signing,
            &public,
            &issued.response,
            &channel.id,
        );
        std::hint::black_box(signature);
        n += 1;
    }
    let in_process = n as f64 / started.elapsed().as_secs_f64();
    // Over HTTP: client keys made before the clock.
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..256)
            .map(|_| {
                Bytes::from(sealgate::client::token_request_body(
                    "A",
                    "s",
                    &EphemeralKeyPair::generate().unwrap(),
                ))
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let t0 = Instant::now();
    for c in 0..conns {
        let (stop, bodies) = (Arc::clone(&stop), Arc::clone(&bodies));
        let mut sender = connect(addr).await;
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = bodies[(c + done as usize) % bodies.len()].clone();
                let request = Request::post("/token-service/new/v2/token")
                    .header("host", "bench")
                    .header("x-api-key", "C")
                    .body(Full::new(body))
                    .unwrap();
                let response = sender.send_request(request).await.unwrap();
                assert!(response.status().is_success());
                let _ = response.into_body().collect().await;
                done += 1;
            }
            done
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    (total as f64 / t0.elapsed().as_secs_f64(), in_process)
}

fn session_memory() -> (f64, f64) {
    let rss = || -> f64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let before = rss();
    let store = sealgate::session::SessionStore::new(2_000_000);
    let (client, channel): (Arc<str>, Arc<str>) = ("A".into(), "C".into());
    for _ in 0..1_000_000 {
        let id = sealgate::session::SessionId::random().unwrap();
        let s = sealgate::session::Session::new(
            id,
            Arc::clone(&client),
            Arc::clone(&channel),
            Key32::from_bytes([1; 32]),
            i64::MAX,
        );
        store.insert(Arc::new(s), 0).unwrap();
    }
    let after = rss();
    assert_eq!(store.len(), 1_000_000);
    (after - before, (after - before) * 1024.0 * 1024.0 / 1e6)
}

fn harness() {
    let (secs, rounds, conns) = (
        env_or("LOAD_SECS", 5),
        env_or("LOAD_ROUNDS", 3),
        env_or("LOAD_CONNS", 32) as usize,
    );
    let (mib, bytes_per) = session_memory();
    println!(
        "session store: 1,000,000 live sessions take {mib:.0} MiB resident ({bytes_per:.0} bytes each)"
    );

    if which("taskset") {
        let _ = Command::new("taskset")
            .args(["-cp", "0", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    } else {
        println!("(taskset not found: processes are not pinned)");
    }
    let upstream = spawn_role("upstream", 0, &[]);
    let bare = spawn_role("bare", 1, &[("UPSTREAM", upstream.addr.to_string())]);
    let gateway = |variant: String| {
        spawn_role(
            "sealgate",
            1,
            &[
                ("UPSTREAM", upstream.addr.to_string()),
                ("VARIANT", variant),
            ],
        )
    };
    let gate = gateway("plain".to_owned());
    let balanced = gateway("balanced".to_owned());
    let nginx_dir = tempfile::tempdir().unwrap();
    let nginx = spawn_nginx(upstream.addr, nginx_dir.path());
    let redis = spawn_redis(0);
    let gate_redis = redis.as_ref().map(|r| gateway(format!("redis:{}", r.1)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    let mut variants: Vec<(&str, SocketAddr, Kind, u32)> = vec![
        (
            "a upstream direct",
            upstream.addr,
            Kind::Plain,
            upstream.child.id(),
        ),
        ("b bare proxy", bare.addr, Kind::Plain, bare.child.id()),
        ("c sealgate plain", gate.addr, Kind::Plain, gate.child.id()),
        (
            "d sealgate encrypted",
            gate.addr,
            Kind::Encrypted,
            gate.child.id(),
        ),
        (
            "h sealgate plain, behind a trusted proxy, health-checked",
            balanced.addr,
            Kind::Forwarded,
            balanced.child.id(),
        ),
        (
            "g sealgate encrypted, bound",
            gate.addr,
            Kind::Bound,
            gate.child.id(),
        ),
    ];
    match &nginx {
        Some(Nginx(child, addr)) => {
            variants.push(("e nginx proxy_pass", *addr, Kind::Plain, child.id()))
        }
        None => println!("(nginx not installed: variant e skipped)"),
    }
    match &gate_redis {
        Some(p) => variants.push((
            "f sealgate encrypted, redis",
            p.addr,
            Kind::Encrypted,
            p.child.id(),
        )),
        None => println!("(redis-server not installed: variant f skipped)"),
    }
    // LOAD_ONLY=d runs one variant alone (for profiling); the ratios then are not printed.
    if let Ok(only) = std::env::var("LOAD_ONLY") {
        variants.retain(|(name, ..)| name.starts_with(&only));
        for (name, _, _, pid) in &variants {
            println!("profiling target: {name}, pid {pid}");
        }
    }
    println!(
        "{conns} keep-alive connections, {rounds} interleaved rounds of {secs} s, 1 KiB bodies both ways\n"
    );
    let mut results: Vec<Vec<Round>> = variants.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, (name, addr, kind, pid)) in variants.iter().enumerate() {
            let r = runtime.block_on(drive(*addr, *kind, conns, secs, *pid, None));
            eprintln!("round {} {name}: {:.0} req/s", round + 1, r.rps);
            results[i].push(r);
        }
    }
    println!(
        "| variant | req/s | p50 µs | p99 µs | p99.9 µs | proxy CPU µs/req | proxy peak RSS MiB | load gen CPU |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut rps = Vec::new();
    for ((name, _, _, pid), rounds) in variants.iter().zip(&results) {
        let mut merged = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for r in rounds {
            merged.add(&r.histogram).unwrap();
        }
        let m = median(rounds.iter().map(|r| r.rps).collect());
        let busy = median(rounds.iter().map(|r| r.loadgen_busy).collect());
        let flag = if busy > 0.9 {
            " (load generator bound)"
        } else {
            ""
        };
        println!(
            "| {name} | {m:.0} | {} | {} | {} | {:.1} | {:.1} | {:.0} %{flag} |",
            merged.value_at_quantile(0.5),
            merged.value_at_quantile(0.99),
            merged.value_at_quantile(0.999),
            median(rounds.iter().map(|r| r.cpu_per_request_us).collect()),
            peak_rss_mib(*pid),
            busy * 100.0
        );
        rps.push((name.to_owned(), m, merged.value_at_quantile(0.99)));
    }
    if rps.len() < 4 {
        return;
    }
    let b = rps[1].1;
    println!();
    for (name, m, _) in rps.iter().skip(2) {
        println!("ratio {name} / b bare proxy: {:.2}", m / b);
    }
    println!("p99 ratio d / b: {:.2}", rps[3].2 as f64 / rps[1].2 as f64);
    let find = |prefix: &str| rps.iter().find(|(name, ..)| name.starts_with(prefix));
    if let (Some(d), Some(g)) = (find("d "), find("g ")) {
        println!(
            "ratio g bound / d unbound (what binding costs): {:.2}",
            g.1 / d.1
        );
    }
    if let (Some(c), Some(h)) = (find("c "), find("h ")) {
        println!(
            "ratio h balanced / c plain (trusted-proxy parse and health checks): {:.2}",
            h.1 / c.1
        );
    }
    // Latency at one fixed load that every variant carries, so that it is not the
    // queueing of a saturated server (which, at a fixed number of connections, is just the
    // inverse of its throughput).
    let rate = env_or("LOAD_RATE", 10_000) as f64;
    println!("\nat a fixed {rate:.0} req/s (open loop, {conns} connections, {secs} s each):\n");
    println!("| variant | req/s | p50 µs | p99 µs | p99.9 µs | proxy CPU µs/req |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut paced = Vec::new();
    for (name, addr, kind, pid) in &variants {
        let r = runtime.block_on(drive(*addr, *kind, conns, secs, *pid, Some(rate)));
        println!(
            "| {name} | {:.0} | {} | {} | {} | {:.1} |",
            r.rps,
            r.histogram.value_at_quantile(0.5),
            r.histogram.value_at_quantile(0.99),
            r.histogram.value_at_quantile(0.999),
            r.cpu_per_request_us
        );
        paced.push(r.histogram.value_at_quantile(0.99) as f64);
    }
    println!(
        "p99 ratios at {rate:.0} req/s: c / b {:.2}, d / b {:.2}",
        paced[2] / paced[1],
        paced[3] / paced[1]
    );
    if let Some((_, f, f99)) = rps.iter().find(|(name, ..)| name.starts_with('f')) {
        println!(
            "redis backend / memory backend (f / d): {:.2} req/s, p99 {:.2}",
            f / rps[3].1,
            *f99 as f64 / rps[3].2 as f64
        );
    }
    let (http, in_process) = runtime.block_on(token_rates(gate.addr, conns, secs));
    println!(
        "token endpoint: {http:.0} tokens/s over HTTP, {in_process:.0} issues/s in process (one core): ratio {:.2}",
        http / in_process
    );
    drop(nginx);
    drop(gate_redis);
    drop(redis);
}

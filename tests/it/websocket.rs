//! WebSocket pass-through (`[routes.websocket]`) with a real client and server
//! (tokio-tungstenite, independent of hyper), and the attacks on it: an upgrade that hides a
//! second request, an upstream that switches protocols without accepting the handshake, a
//! tunnel that never ends.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use sealgate::config::{RouteAuth, RouteFile, WebSocketFile};
use sealgate::crypto::kdf::Kdf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use sealgate_testkit::*;

/// A WebSocket echo server that records each handshake's headers.
async fn spawn_echo_server() -> (SocketAddr, Arc<Mutex<Vec<http::HeaderMap>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                #[allow(
                    clippy::result_large_err,
                    reason = "tungstenite's callback type, not ours"
                )]
                let record =
                    |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                     response| {
                        log.lock().unwrap().push(request.headers().clone());
                        Ok(response)
                    };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_close() {
                        break;
                    }
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn websocket_route(prefix: &str, upstream: SocketAddr, auth: RouteAuth) -> RouteFile {
    RouteFile {
        auth: Some(auth),
        encrypted_request: Some(false),
        encrypted_response: Some(false),
        websocket: Some(WebSocketFile::default()),
        ..route_file(prefix, &format!("http://{upstream}"))
    }
}

async fn gateway_with(routes: Vec<RouteFile>) -> TestApp {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let mut config = ConfigBuilder::new(upstream.addr);
    for route in routes {
        config = config.route(route);
    }
    spawn_app(config.build()).await
}

fn ws_url(app: &TestApp, path: &str) -> String {
    format!("ws://{}{path}", app.addr)
}

#[tokio::test]
async fn messages_pass_both_ways_and_the_tunnel_is_counted_until_it_closes() {
    let (echo, _) = spawn_echo_server().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let config = crate::observe::with_access_log(
        ConfigBuilder::new(upstream.addr).route(websocket_route("/ws/", echo, RouteAuth::None)),
        &log,
        sealgate::config::AccessFormat::Json,
    );
    let app = spawn_app(config.build()).await;
    let (mut ws, response) = tokio_tungstenite::connect_async(ws_url(&app, "/ws/chat"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(response.headers().contains_key("x-request-id"));
    for message in [
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text("x".repeat(200_000)),
    ] {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), message);
    }
    // While it is open: one connection, one tunnel, though the HTTP exchange is over.
    let during = metrics_text(&app).await;
    assert_eq!(metric(&during, "sealgate_tunnels_open"), 1.0, "{during}");
    assert_eq!(metric(&during, "sealgate_connections_open"), 1.0);
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    eventually("the tunnel to be counted closed", async || {
        let text = metrics_text(&app).await;
        metric(
            &text,
            "sealgate_tunnels_closed_total{route=\"/ws/\",reason=\"closed\"}",
        ) == 1.0
            && metric(&text, "sealgate_tunnels_open") == 0.0
            && metric(&text, "sealgate_connections_open") == 0.0
    })
    .await;
    // One access line, written when the tunnel closed, with the bytes of both ways.
    let lines = crate::observe::lines(&log, 1).await;
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["status"], 101, "{line}");
    assert_eq!(line["route"], "/ws/");
    assert_eq!(line["complete"], true);
    // Frames carry a few bytes of framing (and the client's masks) beyond the payloads.
    let (up, down) = (
        line["bytes_in"].as_u64().unwrap(),
        line["bytes_out"].as_u64().unwrap(),
    );
    assert!((200_010..200_100).contains(&up), "{line}");
    assert!((200_010..200_100).contains(&down), "{line}");
}

#[tokio::test]
async fn a_token_route_verifies_the_token_at_the_upgrade_and_sets_identity_headers() {
    let (echo, seen) = spawn_echo_server().await;
    let app = gateway_with(vec![websocket_route("/ws/", echo, RouteAuth::Token)]).await;
    // No token: refused before any upstream is asked, and the connection is not upgraded.
    let refused = tokio_tungstenite::connect_async(ws_url(&app, "/ws/chat")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    assert!(seen.lock().unwrap().is_empty());

    let s = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let mut request = ws_url(&app, "/ws/chat").into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", s.token).parse().unwrap(),
    );
    request
        .headers_mut()
        .insert("x-client-id", "FORGED".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi"));
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(
        headers["x-client-id"], "MOB-APP",
        "the client's own is replaced"
    );
    assert_eq!(headers["x-channel"], "MOB-APP-2001");
    assert!(
        !headers.contains_key("authorization"),
        "the token stays at the gateway"
    );
}

#[tokio::test]
async fn upgrades_are_refused_where_the_route_does_not_allow_them_or_the_handshake_is_wrong() {
    let (echo, seen) = spawn_echo_server().await;
    let app = gateway_with(vec![websocket_route("/ws/", echo, RouteAuth::None)]).await;
    let handshake_to = |path: &str, extra: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    };
    // A route without [routes.websocket] (auth = "none", plain): 501 ROUTE002.
    let plain = raw_exchange(app.addr, &handshake_to("/plain/x", "")).await;
    assert!(plain.starts_with("HTTP/1.1 501"), "{plain}");
    assert!(plain.contains("ROUTE002"), "{plain}");
    // A handshake with a body (bytes an upstream could take for a second request): 400.
    let with_body = raw_exchange(
        app.addr,
        &(handshake_to("/ws/x", "Content-Length: 18\r\n") + "GET /x HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert!(with_body.starts_with("HTTP/1.1 400"), "{with_body}");
    assert!(with_body.contains("ROUTE005"), "{with_body}");
    // Another protocol than WebSocket, on a WebSocket route: 400.
    let other = raw_exchange(
        app.addr,
        &handshake_to("/ws/x", "").replace("Upgrade: websocket", "Upgrade: tls/1.3"),
    )
    .await;
    assert!(other.contains("ROUTE005"), "{other}");
    assert!(seen.lock().unwrap().is_empty(), "no upstream was asked");
}

/// Writes `request` and reads what comes back until the gateway closes or 1 s passes.
async fn raw_exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_for(&mut stream, Duration::from_secs(1)).await
}

async fn read_for(stream: &mut TcpStream, time: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(time, async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_request_hidden_behind_a_refused_upgrade_is_parsed_and_routed_by_the_gateway() {
    // The upstream is no WebSocket server: it answers the handshake 200 like any GET. The
    // bytes after the handshake must then be a request the gateway reads and routes, never
    // raw bytes on the upstream's socket.
    let upstream = spawn_upstream(Behaviour::Fixed(200, "text/plain", b"not a websocket")).await;
    let app = gateway_with(vec![websocket_route(
        "/ws/",
        upstream.addr,
        RouteAuth::None,
    )])
    .await;
    let smuggled = "GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\
                    GET /internal/admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let answers = raw_exchange(app.addr, smuggled).await;
    assert!(answers.starts_with("HTTP/1.1 200"), "{answers}");
    assert!(answers.contains("not a websocket"));
    // The second request met the gateway's router: no route for /internal/.
    assert!(answers.contains("HTTP/1.1 404"), "{answers}");
    assert!(answers.contains("ROUTE001"), "{answers}");
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1, "the upstream saw the handshake only");
    assert_eq!(requests[0].uri.path(), "/ws/chat");
}

#[tokio::test]
async fn a_101_that_does_not_accept_the_handshake_is_not_joined() {
    // A broken upstream that switches protocols whatever it is asked (no Accept, or the
    // Accept of another key): joining would hand the client its raw socket.
    for accept in ["", "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}\r\nRAW-BYTES"
        );
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(reply.as_bytes()).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let app = gateway_with(vec![websocket_route("/ws/", addr, RouteAuth::None)]).await;
        match tokio_tungstenite::connect_async(ws_url(&app, "/ws/chat")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
                let body = response.body().clone().unwrap_or_default();
                let body = String::from_utf8_lossy(&body);
                assert!(body.contains("UPSTREAM002"), "{body}");
                assert!(!body.contains("RAW-BYTES"));
            }
            other => panic!("expected a 502, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_quiet_tunnel_is_closed_at_its_idle_deadline() {
    let (echo, _) = spawn_echo_server().await;
    let route = RouteFile {
        websocket: Some(WebSocketFile {
            idle_timeout_ms: Some(300),
            ..Default::default()
        }),
        ..websocket_route("/ws/", echo, RouteAuth::None)
    };
    let app = gateway_with(vec![route]).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app, "/ws/chat"))
        .await
        .unwrap();
    ws.send(Message::text("one")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("one"));
    // Then nothing: the gateway closes the socket (no close frame: it does not speak the
    // protocol, it only carries it).
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the idle tunnel was not closed");
    eventually("the idle close to be counted", async || {
        metric(
            &metrics_text(&app).await,
            "sealgate_tunnels_closed_total{route=\"/ws/\",reason=\"idle\"}",
        ) == 1.0
    })
    .await;
}

#[tokio::test]
async fn shutdown_waits_for_an_open_tunnel_until_it_closes() {
    let (echo, _) = spawn_echo_server().await;
    let mut app = gateway_with(vec![websocket_route("/ws/", echo, RouteAuth::None)]).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app, "/ws/chat"))
        .await
        .unwrap();
    app.begin_shutdown();
    let mut stopped = app.stopped.take().unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(700), &mut stopped)
            .await
            .is_err(),
        "the server stopped with a tunnel open"
    );
    // The tunnel still carries messages during the drain.
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("still here")
    );
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    tokio::time::timeout(Duration::from_secs(4), stopped)
        .await
        .expect("the server stopped once the tunnel closed")
        .unwrap()
        .unwrap();
}

#[test]
fn a_websocket_route_cannot_seal_bodies() {
    let error = ConfigBuilder::new(([127, 0, 0, 1], 9).into())
        .route(RouteFile {
            websocket: Some(WebSocketFile::default()),
            ..route_file("/ws/", "http://127.0.0.1:9")
        })
        .try_build()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("routes[4].websocket"), "{error}");
    assert!(error.contains("encrypted_request = false"), "{error}");
}

#[tokio::test]
async fn the_handshake_checked_is_the_handshake_sent_even_if_connection_names_its_fields() {
    let (echo, seen) = spawn_echo_server().await;
    let app = gateway_with(vec![websocket_route("/ws/", echo, RouteAuth::None)]).await;
    // `Connection` naming the key and version would have them stripped as hop-by-hop: the
    // gateway would then join a tunnel for a handshake it never checked.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
              Connection: Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = read_for(&mut stream, Duration::from_millis(500)).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert!(answer.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{answer}");
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(headers["sec-websocket-version"], "13");
}

#[tokio::test]
async fn a_route_holds_at_most_max_tunnels_and_frees_a_place_when_one_closes() {
    let (echo, _) = spawn_echo_server().await;
    let route = RouteFile {
        websocket: Some(WebSocketFile {
            max_tunnels: Some(2),
            ..Default::default()
        }),
        ..websocket_route("/ws/", echo, RouteAuth::None)
    };
    let app = gateway_with(vec![route]).await;
    let url = ws_url(&app, "/ws/chat");
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (_second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        other => panic!("a third tunnel: {other:?}"),
    }
    // Plain requests on the route's gateway are not affected.
    assert_eq!(
        post(&app.url("/plain/x"), &[], "").await.status,
        StatusCode::OK
    );
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    drop(first);
    eventually("a place to come free", async || {
        tokio_tungstenite::connect_async(&url).await.is_ok()
    })
    .await;
}

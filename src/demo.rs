//! The bundled demo upstream: an HTTP/1.1 echo server that answers every request with a
//! JSON description of what it received (method, path, query, headers, body). It stands in
//! for a legacy backend so the demo configuration serves end to end with no other setup,
//! and shows exactly what sealgate forwards.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::wire::{Body, json as json_response};

/// Largest body the echo server reads.
pub const MAX_ECHO_BODY: usize = 8 * 1024 * 1024;

/// Binds the echo server; returns its address and the future that serves it.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let serve = async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|request| async {
                    Ok::<_, std::convert::Infallible>(echo(request).await)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    };
    Ok((local, serve))
}

/// Describes the request as JSON.
pub async fn echo(request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body: Bytes = match http_body_util::Limited::new(body, MAX_ECHO_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": "body too large"}),
            );
        }
    };
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(values)) => values.push(value),
            Some(existing) => *existing = Value::Array(vec![existing.clone(), value]),
            None => {
                headers.insert(name.as_str().to_owned(), value);
            }
        }
    }
    let body_value = match std::str::from_utf8(&body) {
        Ok(text) => {
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        Err(_) => json!({ "base64": crate::jose::b64::encode(&body) }),
    };
    json_response(
        StatusCode::OK,
        &json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body": body_value,
        }),
    )
}

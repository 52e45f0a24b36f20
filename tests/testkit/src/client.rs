//! The client side of the wire contract for tests, on [`sealgate::client`]: the handshake is
//! [`sealgate::client::Client::request_token`] (key pair, token request, session key), and the
//! helpers here only add what a test needs beyond it — a token request body with any
//! `publicKey` text (to send malformed ones), sealing a body under a session's key, and one
//! encrypted POST or revocation.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;

use super::app::TestApp;
use super::config::TOKEN_PATH;
use super::exchange::{Reply, post, send};
use sealgate::client::{Client, ClientConfig, TokenResponse, token_request_body};
use sealgate::crypto::Key32;
use sealgate::crypto::ecdh::EphemeralKeyPair;
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::jwe;

/// A client's ephemeral key and its `publicKey` field value.
pub struct ClientKey {
    /// The key pair.
    pub pair: EphemeralKeyPair,
    /// The `publicKey` member exactly as the crate's client writes it.
    pub public_key_field: String,
}

/// A new ephemeral key pair and its `publicKey` field.
pub fn client_key() -> ClientKey {
    let pair = EphemeralKeyPair::generate().unwrap();
    let body: Value = serde_json::from_str(&token_request_body("", "", &pair)).unwrap();
    ClientKey {
        public_key_field: body["publicKey"].as_str().unwrap().to_owned(),
        pair,
    }
}

/// A token request body with any `publicKey` text (well-formed or not).
pub fn token_body(api_key: &str, secret: &str, public_key: &str) -> String {
    serde_json::json!({"apiKey": api_key, "secret": secret, "publicKey": public_key}).to_string()
}

/// A client session: the token and the key derived from `serverPublicKey`.
pub struct ClientSession {
    /// The token, sent as `Bearer`.
    pub token: String,
    /// The session key `K`.
    pub key: Key32,
    /// The token endpoint's answer.
    pub response: TokenResponse,
}

/// The full client handshake against a running gateway (the crate's client); panics if the
/// token is refused.
pub async fn handshake(
    app: &TestApp,
    channel: &str,
    api_key: &str,
    secret: &str,
    kdf: Kdf,
) -> ClientSession {
    handshake_at(&app.url(""), channel, api_key, secret, kdf).await
}

/// [`handshake`] with the gateway at `base` (`http://host:port`), such as a gateway the
/// test started as a process.
pub async fn handshake_at(
    base: &str,
    channel: &str,
    api_key: &str,
    secret: &str,
    kdf: Kdf,
) -> ClientSession {
    let client = Client::new(ClientConfig {
        base: base.parse().unwrap(),
        token_path: TOKEN_PATH.to_owned(),
        channel: channel.to_owned(),
        api_key: api_key.to_owned(),
        secret: secret.to_owned(),
        kdf,
        ca_file: None,
        trust: Default::default(),
    })
    .unwrap();
    let (response, session) = client
        .request_token()
        .await
        .unwrap_or_else(|e| panic!("handshake on {channel} as {api_key}: {e}"));
    ClientSession {
        token: session.token,
        key: session.key,
        response,
    }
}

/// Seals a request body as a client would.
pub fn seal(session: &ClientSession, plaintext: &[u8], cty: Option<&str>) -> String {
    jwe::seal(
        plaintext,
        &session.key,
        &jwe::Header {
            kid: None,
            cty: cty.map(str::to_owned),
            ..Default::default()
        },
    )
    .unwrap()
}

/// An encrypted POST of `sealed` to `path` through the gateway.
pub async fn call(app: &TestApp, session: &ClientSession, path: &str, sealed: &str) -> Reply {
    post(
        &app.url(path),
        &[
            ("authorization", &format!("Bearer {}", session.token)),
            ("content-type", "application/jose"),
        ],
        sealed.to_owned(),
    )
    .await
}

/// `DELETE` on the token path with the session's token (revocation).
pub async fn revoke(app: &TestApp, session: &ClientSession) -> Reply {
    send(
        Request::delete(app.url(TOKEN_PATH))
            .header("authorization", format!("Bearer {}", session.token))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

//! # sealgate-client
//!
//! A Rust client for sealgate's wire contract (the repository's `docs/protocol.md`): the
//! authenticated handshake (ephemeral key pair, sealed token request, signature check,
//! session key for each KDF), bound sealed calls and sealed answers opened, and a session
//! that renews its token a minute before it expires. It depends on the contract's formats
//! (`sealgate-protocol`) and an HTTP client, not on the gateway: another Rust program uses
//! it as `sealgate-client = { path = "clients/rust" }`. The gateway's tests, its load
//! harness and its `sealgate client` command use it too.
//!
//! The pure steps ([`token_request_body`], [`session_key`], [`seal_token_request`],
//! [`verify_handshake`]) are separate from the HTTP ones ([`Client`]), so another transport
//! can reuse them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use thiserror::Error;
use tokio::sync::Mutex;

use sealgate_protocol::crypto::Key32;
use sealgate_protocol::crypto::ecdh::EphemeralKeyPair;
use sealgate_protocol::crypto::kdf::Kdf;
use sealgate_protocol::jose::b64;
use sealgate_protocol::jose::jwe::{self, Header, JweError};
use sealgate_protocol::jose::jwk::{self, JwkError};

/// A token is renewed when it has less than this left.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// What can go wrong on the client side.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The token endpoint refused.
    #[error("token refused: {status} {res_code} {res_desc}")]
    TokenRefused {
        /// HTTP status.
        status: StatusCode,
        /// `resCode`.
        res_code: String,
        /// `resDesc`.
        res_desc: String,
    },
    /// The token response is not as the contract says.
    #[error("malformed token response: {0}")]
    BadTokenResponse(&'static str),
    /// `serverPublicKey` is not acceptable.
    #[error("serverPublicKey: {0}")]
    ServerKey(#[from] JwkError),
    /// A response body did not open.
    #[error("response body: {0}")]
    Jwe(#[from] JweError),
    /// The OS random source failed.
    #[error("no randomness")]
    Random,
    /// The TLS set-up (CA bundle) is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The handshake signature is missing, does not verify with the pinned key, or is not
    /// over this client's key, this `serverPublicKey`, this expiry and this channel: the
    /// answer may not come from the gateway. No session key is derived.
    #[error("handshake signature refused: {0}")]
    Handshake(&'static str),
    /// A sealed response without `typ` `response+jwe` (docs/protocol.md §4.1).
    #[error("sealed response is not typed response+jwe")]
    ResponseType,
}

/// What the client knows of the gateway's keys (docs/protocol.md §1.1).
#[derive(Debug, Clone, Default)]
pub struct GatewayTrust {
    /// The gateway's `sig` keys by `kid`, in the order listed: when any is set, every token
    /// response's signature must verify with the one its header names and name this
    /// client's key, the `serverPublicKey` received, the expiry and the channel. Keeping
    /// every listed key lets the gateway move to a newer one without breaking clients.
    pub signing_keys: Vec<(String, p256::PublicKey)>,
    /// The gateway's `enc` key and its `kid`: when set, the token request is sealed to it
    /// (ECDH-ES), so no intermediary sees `secret`.
    pub encryption_key: Option<(String, p256::PublicKey)>,
}

impl GatewayTrust {
    /// From a JWK Set's JSON (`/.well-known/jwks.json`, or a pinned copy): every `sig` key
    /// and the first `enc` key.
    pub fn from_jwks(json: &[u8]) -> Result<Self, ClientError> {
        let set: serde_json::Value = serde_json::from_slice(json)
            .map_err(|_| ClientError::Handshake("the JWK Set is not JSON"))?;
        let keys = set["keys"]
            .as_array()
            .ok_or(ClientError::Handshake("the JWK Set has no keys"))?;
        let mut trust = GatewayTrust::default();
        for key in keys {
            let public = jwk::parse_public_p256(key.to_string().as_bytes())?;
            match key["use"].as_str() {
                Some("sig") => {
                    let kid = key["kid"]
                        .as_str()
                        .ok_or(ClientError::Handshake("a sig key without kid"))?;
                    trust.signing_keys.push((kid.to_owned(), public));
                }
                Some("enc") if trust.encryption_key.is_none() => {
                    let kid = key["kid"]
                        .as_str()
                        .ok_or(ClientError::Handshake("an enc key without kid"))?;
                    trust.encryption_key = Some((kid.to_owned(), public));
                }
                _ => {}
            }
        }
        Ok(trust)
    }
}

/// Checks a token response's handshake signature (docs/protocol.md §1.1) against the pinned `sig`
/// keys: ES256 with `typ` `handshake+jws` by the key its `kid` names, over this client's
/// key thumbprint, the `serverPublicKey` received, the expiry and the channel.
pub fn verify_handshake(
    response: &TokenResponse,
    signing_keys: &[(String, p256::PublicKey)],
    client_public: &p256::PublicKey,
    channel: &str,
) -> Result<(), ClientError> {
    let jws = response
        .signature
        .as_deref()
        .ok_or(ClientError::Handshake("no signature"))?;
    let header = jws
        .split('.')
        .next()
        .and_then(|h| b64::decode_strict(h.as_bytes()).ok())
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .ok_or(ClientError::Handshake("not a JWS"))?;
    let kid = header["kid"].as_str().unwrap_or_default();
    let (_, signing_key) = signing_keys
        .iter()
        .find(|(known, _)| known == kid)
        .ok_or(ClientError::Handshake("signed by a key that is not pinned"))?;
    let (_, payload) =
        sealgate_protocol::jose::jws::verify_compact(jws, signing_key, "handshake+jws")
            .map_err(|_| ClientError::Handshake("does not verify with the gateway's key"))?;
    let claims: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|_| ClientError::Handshake("payload is not JSON"))?;
    let same = claims["cpk"] == jwk::thumbprint(client_public).as_str()
        && claims["spk"] == response.server_public_key.as_str()
        && claims["exp"] == response.expiry
        && claims["chn"] == channel;
    if same {
        Ok(())
    } else {
        Err(ClientError::Handshake(
            "signed for another key, server key, expiry or channel",
        ))
    }
}

/// Seals a token request body to the gateway's `enc` key (docs/protocol.md §1.1): a compact JWE,
/// `ECDH-ES` + `A256GCM`, with a fresh ephemeral key as `epk`, sealed at `iat` (unix
/// seconds) for `channel` (the `X-API-KEY` it will be sent with): the gateway refuses it on
/// another channel, outside its leeway of `iat`, or a second time.
pub fn seal_token_request(
    plaintext: &[u8],
    kid: &str,
    gateway: &p256::PublicKey,
    channel: &str,
    iat: i64,
) -> Result<String, ClientError> {
    let ephemeral = EphemeralKeyPair::generate().map_err(|_| ClientError::Random)?;
    // RFC 7518 §4.6.2 for direct key agreement with A256GCM is the channels' `concat-kdf`.
    let key = Kdf::ConcatKdf.derive(&ephemeral.agree_once(gateway));
    let header = sealed_token_request_header(kid, &ephemeral.public_key(), iat, channel);
    Ok(jwe::seal_with_protected(plaintext, &key, &header)?)
}

/// The protected header of a sealed token request, members in the order the published
/// vectors use: `alg`, `enc`, `kid`, `epk`, `iat`, `chn`.
pub fn sealed_token_request_header(
    kid: &str,
    epk: &p256::PublicKey,
    iat: i64,
    channel: &str,
) -> String {
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    format!(
        r#"{{"alg":"ECDH-ES","enc":"A256GCM","kid":{},"epk":{},"iat":{iat},"chn":{}}}"#,
        quoted(kid),
        jwk::public_to_json(epk),
        quoted(channel)
    )
}

/// The token request body for `api_key`/`secret` with the client's public key.
pub fn token_request_body(api_key: &str, secret: &str, pair: &EphemeralKeyPair) -> String {
    let public = b64::encode(jwk::public_to_json(&pair.public_key()).as_bytes());
    serde_json::json!({ "apiKey": api_key, "secret": secret, "publicKey": public }).to_string()
}

/// `K` from the token response's `serverPublicKey` and the client's key pair.
pub fn session_key(
    server_public_key: &str,
    pair: &EphemeralKeyPair,
    kdf: Kdf,
) -> Result<Key32, ClientError> {
    let json = b64::decode_lenient(server_public_key.as_bytes())
        .map_err(|_| ClientError::BadTokenResponse("serverPublicKey is not base64url"))?;
    let server = jwk::parse_public_p256(&json)?;
    Ok(kdf.derive(&pair.agree_once(&server)))
}

/// The token endpoint's success body (serialized in the published member order).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct TokenResponse {
    /// `TOK200`.
    #[serde(rename = "resCode")]
    pub res_code: String,
    /// `Success`.
    #[serde(rename = "resDesc")]
    pub res_desc: String,
    /// The opaque token.
    pub token: String,
    /// Expiry, ms since the epoch.
    pub expiry: i64,
    /// The server's public JWK, base64url.
    #[serde(rename = "serverPublicKey")]
    pub server_public_key: String,
    /// The handshake signature (docs/protocol.md §1.1), when the gateway sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A live session: the token and `K`.
pub struct Session {
    /// The token to send as `Bearer`.
    pub token: String,
    /// The session key.
    pub key: Key32,
    /// Expiry, ms since the epoch.
    pub expiry_ms: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expiry_ms", &self.expiry_ms)
            .finish_non_exhaustive()
    }
}

/// Who the client is and where the gateway is.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http://host:port` of the gateway.
    pub base: Uri,
    /// The token endpoint's path.
    pub token_path: String,
    /// The `X-API-KEY` channel.
    pub channel: String,
    /// `apiKey`.
    pub api_key: String,
    /// `secret`.
    pub secret: String,
    /// The channel's KDF.
    pub kdf: Kdf,
    /// CA bundle (PEM) to verify an `https://` gateway instead of the webpki roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// The gateway's keys, when pinned or fetched: the token response's signature is then
    /// required and checked, and the token request sealed.
    pub trust: GatewayTrust,
}

/// What an app can do about an error: the vocabulary every sealgate client library uses
/// (the repository's `docs/clients.md`, "Error kinds").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `TOK002`, `TOK004`: the channel, `apiKey` or secret is wrong. Not retryable.
    CredentialsRefused,
    /// `TOK003` with `400`, `BODY…`, `AUTH001`, `AUTH002`, `AUTH004` and other `4xx`: a
    /// client bug (for the `AUTH` codes, make a new handshake before the next call).
    RequestRefused,
    /// `429` or `503`: wait for `Retry-After`.
    RetryLater,
    /// `AUTH003`, `AUTH005`, `AUTH007`, `AUTH009`, `AUTH010`, `AUTH011`: make a new
    /// handshake and send again (the gateway refused before the upstream).
    SessionExpired,
    /// `AUTH008`: these bytes were accepted before; send again only if safe to repeat.
    Replayed,
    /// `AUTH006`: the gateway instances' clocks differ.
    ClockSkew,
    /// The token answer's signature, key or form is not acceptable.
    HandshakeInvalid,
    /// A sealed answer that does not open or is not typed `response+jwe`.
    ResponseInvalid,
    /// Any other `{resCode, resDesc}` of the gateway's.
    GatewayError,
    /// The HTTP exchange failed.
    Transport,
}

impl ErrorKind {
    /// The kind of a gateway refusal with `status` and `res_code`.
    pub fn of(status: StatusCode, res_code: &str) -> Self {
        match res_code {
            "TOK002" | "TOK004" => ErrorKind::CredentialsRefused,
            "AUTH003" | "AUTH005" | "AUTH007" | "AUTH009" | "AUTH010" | "AUTH011" => {
                ErrorKind::SessionExpired
            }
            "AUTH008" => ErrorKind::Replayed,
            "AUTH006" => ErrorKind::ClockSkew,
            _ if status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE =>
            {
                ErrorKind::RetryLater
            }
            _ if status.is_client_error() => ErrorKind::RequestRefused,
            _ => ErrorKind::GatewayError,
        }
    }
}

impl ClientError {
    /// What an app can do about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Http(_) | ClientError::Tls(_) | ClientError::Random => {
                ErrorKind::Transport
            }
            ClientError::TokenRefused {
                status, res_code, ..
            } => ErrorKind::of(*status, res_code),
            ClientError::BadTokenResponse(_)
            | ClientError::ServerKey(_)
            | ClientError::Handshake(_) => ErrorKind::HandshakeInvalid,
            ClientError::Jwe(_) | ClientError::ResponseType => ErrorKind::ResponseInvalid,
        }
    }
}

/// A response, opened if it was sealed.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body: the plaintext if the gateway sealed it, else as received.
    pub body: Bytes,
    /// Whether the body was sealed (and so was opened).
    pub was_sealed: bool,
    /// The sealed body's `cty`.
    pub cty: Option<String>,
}

impl Reply {
    /// When the gateway refused the call (an answer in clear, not `2xx`, with a `resCode`):
    /// its kind and `resCode`. An upstream's own answer, sealed, is not a refusal.
    pub fn refusal(&self) -> Option<(ErrorKind, String)> {
        if self.was_sealed || self.status.is_success() {
            return None;
        }
        let body: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let res_code = body.get("resCode")?.as_str()?;
        Some((ErrorKind::of(self.status, res_code), res_code.to_owned()))
    }
}

/// An HTTP client that holds a session and renews it.
pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    config: ClientConfig,
    session: Mutex<Option<Arc<Session>>>,
}

impl Client {
    /// A client for `config`, speaking HTTP/2 or HTTP/1.1 as ALPN decides over TLS.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let tls = tls_config(config.ca_file.as_deref())?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(connector);
        let http = HyperClient::builder(TokioExecutor::new()).build(https);
        Ok(Client {
            http,
            config,
            session: Mutex::new(None),
        })
    }

    fn url(&self, path_and_query: &str) -> Result<Uri, ClientError> {
        let base = self.config.base.to_string();
        format!("{}{}", base.trim_end_matches('/'), path_and_query)
            .parse()
            .map_err(|_| ClientError::Http(format!("bad path {path_and_query}")))
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), ClientError> {
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// Fetches the gateway's JWK Set and trusts it from now on (trust on first use; pin a
    /// copy instead to trust nothing fetched).
    pub async fn fetch_jwks(&mut self) -> Result<(), ClientError> {
        let url = self.url(sealgate_protocol::JWKS_PATH)?;
        self.fetch_jwks_from(url).await
    }

    /// Fetches a JWK Set from `url` and trusts it from now on.
    pub async fn fetch_jwks_from(&mut self, url: Uri) -> Result<(), ClientError> {
        let request = Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, _, body) = self.exchange(request).await?;
        if status != StatusCode::OK {
            return Err(ClientError::Handshake(
                "no JWK Set at /.well-known/jwks.json",
            ));
        }
        self.config.trust = GatewayTrust::from_jwks(&body)?;
        Ok(())
    }

    /// Whether token answers are checked: with a pinned or fetched JWK Set that has a `sig`
    /// key, an answer whose signature does not verify is refused.
    pub fn checks_signatures(&self) -> bool {
        !self.config.trust.signing_keys.is_empty()
    }

    /// Asks for a new token; returns the response and the derived session. With a pinned
    /// `sig` key the signature must verify before `K` is derived; with an `enc` key the
    /// request is sealed.
    pub async fn request_token(&self) -> Result<(TokenResponse, Session), ClientError> {
        let pair = EphemeralKeyPair::generate().map_err(|_| ClientError::Random)?;
        let body = zeroize::Zeroizing::new(token_request_body(
            &self.config.api_key,
            &self.config.secret,
            &pair,
        ));
        let (content_type, body) = match &self.config.trust.encryption_key {
            Some((kid, gateway)) => (
                "application/jose",
                seal_token_request(
                    body.as_bytes(),
                    kid,
                    gateway,
                    &self.config.channel,
                    now_ms() / 1000,
                )?,
            ),
            None => ("application/json", body.to_string()),
        };
        let request = Request::post(self.url(&self.config.token_path)?)
            .header("x-api-key", &self.config.channel)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, _, body) = self.exchange(request).await?;
        if status != StatusCode::OK {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            return Err(ClientError::TokenRefused {
                status,
                res_code: text("resCode"),
                res_desc: text("resDesc"),
            });
        }
        let response: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| ClientError::BadTokenResponse("not the documented JSON"))?;
        if !self.config.trust.signing_keys.is_empty() {
            verify_handshake(
                &response,
                &self.config.trust.signing_keys,
                &pair.public_key(),
                &self.config.channel,
            )?;
        }
        let key = session_key(&response.server_public_key, &pair, self.config.kdf)?;
        let session = Session {
            token: response.token.clone(),
            key,
            expiry_ms: response.expiry,
        };
        Ok((response, session))
    }

    /// The current session, renewed when it has less than [`RENEW_BEFORE`] left.
    pub async fn session(&self) -> Result<Arc<Session>, ClientError> {
        let mut guard = self.session.lock().await;
        let now = now_ms();
        let renew_ms = i64::try_from(RENEW_BEFORE.as_millis()).unwrap_or(i64::MAX);
        if let Some(session) = guard.as_ref().filter(|s| s.expiry_ms - now > renew_ms) {
            return Ok(Arc::clone(session));
        }
        let (_, session) = self.request_token().await?;
        let session = Arc::new(session);
        *guard = Some(Arc::clone(&session));
        Ok(session)
    }

    /// Sends `body` sealed (with `cty`) to `path_and_query`, bound to the method and the
    /// target (`htm`, `htp`); a request without a body carries the same binding in
    /// `X-Request-Seal`. Opens a sealed response, refusing one not typed `response+jwe`.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: &[u8],
        cty: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let session = self.session().await?;
        let uri = self.url(path_and_query)?;
        // Bound to the target as sent: with a base URL that has a path, that is more than
        // `path_and_query`.
        let target = uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_owned();
        let bound = Header {
            typ: Some(jwe::TYP_REQUEST.to_owned()),
            htm: Some(method.as_str().to_owned()),
            htp: Some(target),
            ..Header::default()
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, format!("Bearer {}", session.token));
        let sealed = if body.is_empty() {
            let seal = jwe::seal(b"", &session.key, &bound)?;
            builder = builder.header("x-request-seal", seal);
            String::new()
        } else {
            builder = builder.header(CONTENT_TYPE, "application/jose");
            let header = Header {
                cty: cty.map(str::to_owned),
                ..bound
            };
            jwe::seal(body, &session.key, &header)?
        };
        let request = builder
            .body(Full::new(Bytes::from(sealed)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, headers, body) = self.exchange(request).await?;
        let sealed = headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v == "application/jose");
        if !sealed {
            return Ok(Reply {
                status,
                headers,
                body,
                was_sealed: false,
                cty: None,
            });
        }
        let (header, plaintext) = jwe::open(&body, &session.key, usize::MAX)?;
        if header.typ.as_deref() != Some(jwe::TYP_RESPONSE) {
            return Err(ClientError::ResponseType);
        }
        Ok(Reply {
            status,
            headers,
            body: Bytes::from(plaintext),
            was_sealed: true,
            cty: header.cty,
        })
    }
}

/// Milliseconds since the Unix epoch, as `expiry` is given.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// rustls (TLS 1.3 and 1.2, the `ring` provider) trusting the CA certificates in the PEM
/// file `ca_file`, or the webpki roots without one. ALPN is left to hyper-rustls, which
/// offers the HTTP versions the connector enables.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, ClientError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let tls = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
    let roots = match ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| tls(&format!("{}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| tls(&format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| tls(&format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(tls(&format!("{}: no certificate found", path.display())));
            }
            roots
        }
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_its_kind() {
        let kind =
            |status: u16, code: &str| ErrorKind::of(StatusCode::from_u16(status).unwrap(), code);
        assert_eq!(kind(401, "TOK004"), ErrorKind::CredentialsRefused);
        assert_eq!(kind(401, "TOK002"), ErrorKind::CredentialsRefused);
        assert_eq!(kind(400, "TOK003"), ErrorKind::RequestRefused);
        assert_eq!(kind(429, "TOK003"), ErrorKind::RetryLater);
        assert_eq!(kind(503, "GATEWAY503"), ErrorKind::RetryLater);
        assert_eq!(kind(429, "RATE001"), ErrorKind::RetryLater);
        assert_eq!(kind(400, "ROUTE005"), ErrorKind::RequestRefused);
        for code in [
            "AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011",
        ] {
            assert_eq!(kind(401, code), ErrorKind::SessionExpired, "{code}");
        }
        for code in ["AUTH001", "AUTH002", "AUTH004", "BODY002", "BODY007"] {
            assert_eq!(kind(400, code), ErrorKind::RequestRefused, "{code}");
        }
        assert_eq!(kind(409, "AUTH008"), ErrorKind::Replayed);
        assert_eq!(kind(401, "AUTH006"), ErrorKind::ClockSkew);
        assert_eq!(kind(502, "UPS001"), ErrorKind::GatewayError);
    }
}

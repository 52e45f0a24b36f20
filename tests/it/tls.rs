//! TLS at the edge and to the upstream, with certificates made at test time (rcgen).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName};
use sealgate::config::{
    CertFile, ClientCertMode, ClientFile, RouteAuth, RouteFile, TlsListenerFile, UpstreamTlsFile,
};
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::jwe;
use tokio::net::TcpStream;

use sealgate_testkit::*;

/// A test CA that issues server and client certificates into a temporary folder.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "sealgate test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            ca,
            ca_key,
        };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).unwrap();
        pki
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues a certificate; returns (cert path, key path).
    pub(crate) fn issue(
        &self,
        stem: &str,
        names: &[&str],
        cn: &str,
        client: bool,
    ) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if client {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (cert_path, key_path) = (
            self.path(&format!("{stem}.pem")),
            self.path(&format!("{stem}-key.pem")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    /// A TLS acceptor for a server certificate for `localhost` (named `stem`), offering
    /// `alpn`.
    pub(crate) fn acceptor(&self, stem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
        let (cert, key) = self.issue(stem, &["localhost"], stem, false);
        let mut config = rustls::ServerConfig::builder_with_provider(sealgate::tls::provider())
            .with_protocol_versions(sealgate::tls::VERSIONS)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                sealgate::tls::read_certs(&cert).unwrap(),
                sealgate::tls::read_key(&key).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        roots
    }

    fn client_config(
        &self,
        client_cert: Option<(&Path, &Path)>,
        alpn: &[&[u8]],
    ) -> rustls::ClientConfig {
        let builder = rustls::ClientConfig::builder_with_provider(sealgate::tls::provider())
            .with_protocol_versions(sealgate::tls::VERSIONS)
            .unwrap()
            .with_root_certificates(self.roots());
        let mut config = match client_cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    sealgate::tls::read_certs(cert).unwrap(),
                    sealgate::tls::read_key(key).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

/// `[[tls.certificates]]` for a certificate and its key.
fn cert_file(cert: &Path, key: &Path) -> CertFile {
    CertFile {
        cert_file: Some(cert.display().to_string()),
        key_file: Some(key.display().to_string()),
    }
}

/// An HTTPS listener on port 0 serving `cert`, polling its files every 100 ms.
fn tls_listener(cert: &Path, key: &Path) -> TlsListenerFile {
    TlsListenerFile {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        reload_poll_ms: Some(100),
        certificates: vec![cert_file(cert, key)],
        ..Default::default()
    }
}

/// The test configuration to `upstream` with `listener` added.
fn with_listener(upstream: std::net::SocketAddr, listener: TlsListenerFile) -> ConfigBuilder {
    ConfigBuilder::new(upstream).with(|f| f.tls.push(listener))
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A hyper client over TLS (hyper-rustls sets ALPN from `version`, so `config` has none).
fn https_client(config: rustls::ClientConfig, version: Version) -> HttpsClient {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let connector = if version == Version::HTTP_2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    Client::builder(TokioExecutor::new())
        .http2_only(version == Version::HTTP_2)
        .build(connector)
}

async fn https_send(client: &HttpsClient, request: Request<Full<Bytes>>) -> (Version, Reply) {
    let response = client.request(request).await.expect("https request");
    let version = response.version();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        version,
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        },
    )
}

fn token_request(url: &str, key: &ClientKey, client: &str, secret: &str) -> Request<Full<Bytes>> {
    Request::post(url)
        .header("x-api-key", "MOB-APP-2001")
        .body(Full::new(Bytes::from(token_body(
            client,
            secret,
            &key.public_key_field,
        ))))
        .unwrap()
}

#[tokio::test]
async fn the_token_and_an_encrypted_round_trip_work_over_https_with_h2_and_http1() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let access = pki.path("access.log");
    let builder = with_listener(upstream.addr, tls_listener(&cert, &key));
    let builder =
        crate::observe::with_access_log(builder, &access, sealgate::config::AccessFormat::Json);
    let app = spawn_app(builder.build()).await;
    let port = app.tls_addrs[0].port();
    for version in [Version::HTTP_2, Version::HTTP_11] {
        let client = https_client(pki.client_config(None, &[]), version);
        let ck = client_key();
        let (got, reply) = https_send(
            &client,
            token_request(
                &format!("https://localhost:{port}{TOKEN_PATH}"),
                &ck,
                "MOB-APP",
                "TEST123",
            ),
        )
        .await;
        assert_eq!(got, version);
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let response = reply.json();
        let session_key = sealgate::client::session_key(
            response["serverPublicKey"].as_str().unwrap(),
            &ck.pair,
            Kdf::HkdfSha256,
        )
        .unwrap();
        let sealed =
            jwe::seal(b"{\"over\":\"tls\"}", &session_key, &jwe::Header::default()).unwrap();
        let request = Request::post(format!("https://localhost:{port}/api/tls"))
            .header(
                "authorization",
                format!("Bearer {}", response["token"].as_str().unwrap()),
            )
            .body(Full::new(Bytes::from(sealed)))
            .unwrap();
        let (got, reply) = https_send(&client, request).await;
        assert_eq!(got, version);
        assert_eq!(reply.status, StatusCode::OK);
        let (_, opened) = jwe::open(&reply.body, &session_key, usize::MAX).unwrap();
        let echoed: serde_json::Value = serde_json::from_slice(&opened).unwrap();
        assert_eq!(echoed["body"], "{\"over\":\"tls\"}");
    }
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|r| r.headers["x-forwarded-proto"] == "https" && r.version == Version::HTTP_11)
    );
    // The access lines name the TLS version and the client's HTTP version.
    let lines = crate::observe::lines(&access, 4).await;
    for line in &lines {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["tls"], "TLSv1.3", "{line}");
    }
    assert_eq!(lines.iter().filter(|l| l.contains("\"HTTP/2\"")).count(), 2);
}

/// A TLS 1.x `ClientHello` written byte by byte (RFC 5246 §7.4.1.2), so what is offered does
/// not depend on what the local TLS library is still willing to send: `version` is the
/// client version (0x0302 for 1.1, 0x0303 for 1.2; no `supported_versions`, so no 1.3),
/// `suites` the cipher suites offered.
fn client_hello(version: u16, suites: &[u16]) -> Vec<u8> {
    fn with_len16(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }
    fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend(with_len16(body));
        out
    }
    let mut name = vec![0u8]; // host_name
    name.extend(with_len16(b"localhost"));
    let mut extensions = extension(0x0000, &with_len16(&name)); // server_name
    // supported_groups: x25519, secp256r1, secp384r1.
    extensions.extend(extension(0x000a, &with_len16(&[0, 0x1d, 0, 0x17, 0, 0x18])));
    extensions.extend(extension(0x000b, &[1, 0])); // ec_point_formats: uncompressed
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256.
    extensions.extend(extension(0x000d, &with_len16(&[4, 3, 8, 4, 4, 1])));
    extensions.extend(extension(0x0017, &[])); // extended_master_secret
    extensions.extend(extension(0xff01, &[0])); // renegotiation_info, empty
    let mut hello = version.to_be_bytes().to_vec();
    hello.extend([7u8; 32]); // random
    hello.push(0); // no session id
    let suites: Vec<u8> = suites.iter().flat_map(|s| s.to_be_bytes()).collect();
    hello.extend(with_len16(&suites));
    hello.extend([1, 0]); // compression: null only
    hello.extend(with_len16(&extensions));
    let mut handshake = vec![1u8]; // client_hello
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![0x16, 3, 1];
    record.extend(with_len16(&handshake));
    record
}

/// What a server answered a `ClientHello` with.
#[derive(Debug, PartialEq)]
enum HelloAnswer {
    /// An alert: its description (RFC 5246 §7.2).
    Alert(u8),
    /// A `ServerHello`: the protocol version and the cipher suite chosen.
    ServerHello { version: u16, suite: u16 },
}

async fn answer_to_hello(addr: std::net::SocketAddr, hello: &[u8]) -> HelloAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(hello).await.unwrap();
    let mut header = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header))
        .await
        .expect("an answer to the ClientHello")
        .expect("a TLS record, not a closed connection");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    stream.read_exact(&mut body).await.unwrap();
    match header[0] {
        0x15 => HelloAnswer::Alert(body[1]),
        0x16 => {
            assert_eq!(body[0], 2, "a ServerHello first");
            let version = u16::from_be_bytes([body[4], body[5]]);
            let session_id = usize::from(body[38]);
            let at = 39 + session_id;
            let suite = u16::from_be_bytes([body[at], body[at + 1]]);
            HelloAnswer::ServerHello { version, suite }
        }
        other => panic!("record type {other}"),
    }
}

/// TLS 1.2 cipher suites without an AEAD: CBC with HMAC (SHA-1, SHA-256, SHA-384), ECDHE,
/// DHE and static RSA, and 3DES.
const CBC_SUITES: [u16; 14] = [
    0xc009, 0xc00a, 0xc023, 0xc024, 0xc013, 0xc014, 0xc027, 0xc028, 0x0033, 0x0039, 0x002f, 0x0035,
    0x003c, 0x000a,
];
/// The AEAD suites for ECDSA and RSA certificates: AES-GCM and ChaCha20-Poly1305.
const AEAD_SUITES: [u16; 6] = [0xc02b, 0xc02c, 0xcca9, 0xc02f, 0xc030, 0xcca8];
const ALERT_HANDSHAKE_FAILURE: u8 = 40;
const ALERT_PROTOCOL_VERSION: u8 = 70;

#[tokio::test]
async fn tls_1_1_is_refused_with_a_protocol_version_alert_while_1_2_is_served() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let app = spawn_app(with_listener(refused_addr(), tls_listener(&cert, &key)).build()).await;
    let addr = app.tls_addrs[0];
    // A TLS 1.1 client offering everything, CBC and AEAD: the server's answer is the alert.
    let everything: Vec<u16> = CBC_SUITES.iter().chain(&AEAD_SUITES).copied().collect();
    assert_eq!(
        answer_to_hello(addr, &client_hello(0x0302, &everything)).await,
        HelloAnswer::Alert(ALERT_PROTOCOL_VERSION)
    );
    // The same offer as TLS 1.2 is served, with an AEAD suite although CBC comes first.
    match answer_to_hello(addr, &client_hello(0x0303, &everything)).await {
        HelloAnswer::ServerHello { version, suite } => {
            assert_eq!(version, 0x0303);
            assert!(AEAD_SUITES.contains(&suite), "suite {suite:#06x}");
        }
        other => panic!("{other:?}"),
    }
    // TLS 1.3 too (a real client: rustls offering only 1.3).
    let roots = pki.roots();
    let config = rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn only_aead_cipher_suites_are_accepted() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let app = spawn_app(with_listener(refused_addr(), tls_listener(&cert, &key)).build()).await;
    let addr = app.tls_addrs[0];
    // A client offering only CBC suites is refused, all together and each alone.
    assert_eq!(
        answer_to_hello(addr, &client_hello(0x0303, &CBC_SUITES)).await,
        HelloAnswer::Alert(ALERT_HANDSHAKE_FAILURE)
    );
    for suite in CBC_SUITES {
        assert_eq!(
            answer_to_hello(addr, &client_hello(0x0303, &[suite])).await,
            HelloAnswer::Alert(ALERT_HANDSHAKE_FAILURE),
            "suite {suite:#06x}"
        );
    }
    // Each AEAD suite that fits the certificate's key (ECDSA here) is served.
    for suite in [0xc02b, 0xc02c, 0xcca9] {
        assert_eq!(
            answer_to_hello(addr, &client_hello(0x0303, &[suite])).await,
            HelloAnswer::ServerHello {
                version: 0x0303,
                suite
            }
        );
    }
}

#[tokio::test]
async fn an_idle_socket_on_the_tls_port_is_closed_at_the_handshake_deadline_and_counted() {
    use tokio::io::AsyncReadExt;
    const DEADLINE: Duration = Duration::from_millis(500);
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let listener = TlsListenerFile {
        handshake_timeout_ms: Some(DEADLINE.as_millis() as u64),
        ..tls_listener(&cert, &key)
    };
    let app = spawn_app(with_listener(refused_addr(), listener).build()).await;
    let mut idle = TcpStream::connect(app.tls_addrs[0]).await.unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut out))
        .await
        .expect("the idle socket was not closed")
        .ok();
    let closed_after = started.elapsed();
    assert!(out.is_empty(), "{out:?}");
    assert!(
        closed_after >= DEADLINE.mul_f32(0.9) && closed_after <= 2 * DEADLINE,
        "closed after {closed_after:?} for a deadline of {DEADLINE:?}"
    );
    let text = metrics_text(&app).await;
    assert_eq!(
        metric(&text, "sealgate_tls_handshakes_total{outcome=\"timeout\"}"),
        1.0,
        "{text}"
    );
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_and_forwards_its_subject() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let (ccert, ckey) = pki.issue("client", &[], "mobile-app", true);
    let listener = TlsListenerFile {
        client_ca_file: Some(pki.path("ca.pem").display().to_string()),
        ..tls_listener(&cert, &key)
    };
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(with_listener(upstream.addr, listener).build()).await;
    let port = app.tls_addrs[0].port();
    let url = format!("https://localhost:{port}{TOKEN_PATH}");

    let anonymous = https_client(pki.client_config(None, &[]), Version::HTTP_11);
    let refused = anonymous
        .request(token_request(&url, &client_key(), "MOB-APP", "TEST123"))
        .await;
    assert!(
        refused.is_err(),
        "a client without a certificate must not get through"
    );

    let with_cert = https_client(
        pki.client_config(Some((&ccert, &ckey)), &[]),
        Version::HTTP_11,
    );
    let (_, reply) = https_send(
        &with_cert,
        token_request(&url, &client_key(), "MOB-APP", "TEST123"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let request = Request::get(format!("https://localhost:{port}/plain/who"))
        .header("x-client-cert-subject", "CN=forged")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (_, reply) = https_send(&with_cert, request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        upstream.requests()[0].headers["x-client-cert-subject"],
        "CN=mobile-app"
    );
}

#[tokio::test]
async fn a_client_bound_to_a_certificate_subject_needs_that_certificate() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let (ccert, ckey) = pki.issue("client", &[], "mobile-app", true);
    let (other_cert, other_key) = pki.issue("other", &[], "someone-else", true);
    let listener = TlsListenerFile {
        client_ca_file: Some(pki.path("ca.pem").display().to_string()),
        client_cert: Some(ClientCertMode::Optional),
        ..tls_listener(&cert, &key)
    };
    let bound = ClientFile {
        cert_subject: Some("CN=mobile-app".to_owned()),
        ..client_file("pw", &["MOB-APP-2001"])
    };
    let config = with_listener(refused_addr(), listener)
        .client("BOUND", bound)
        .build();
    let app = spawn_app(config).await;
    let url = format!("https://localhost:{}{TOKEN_PATH}", app.tls_addrs[0].port());
    let cases: [(Option<(&Path, &Path)>, StatusCode); 3] = [
        (None, StatusCode::UNAUTHORIZED),
        (Some((&other_cert, &other_key)), StatusCode::UNAUTHORIZED),
        (Some((&ccert, &ckey)), StatusCode::OK),
    ];
    for (identity, want) in cases {
        let client = https_client(pki.client_config(identity, &[]), Version::HTTP_11);
        let (_, reply) =
            https_send(&client, token_request(&url, &client_key(), "BOUND", "pw")).await;
        assert_eq!(reply.status, want, "{identity:?}");
        if want != StatusCode::OK {
            assert_eq!(reply.codes().0, "TOK004");
        }
    }
    // Optional mode: an unbound client needs no certificate.
    let anonymous = https_client(pki.client_config(None, &[]), Version::HTTP_11);
    let (_, reply) = https_send(
        &anonymous,
        token_request(&url, &client_key(), "MOB-APP", "TEST123"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn an_mtls_identity_cannot_be_forged_by_a_subject_string() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    // The genuine client: two RDNs, O=Bank then CN=partner-app.
    let genuine = {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Bank");
        params
            .distinguished_name
            .push(DnType::CommonName, "partner-app");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &pki.ca, &pki.ca_key).unwrap();
        let (c, k) = (pki.path("genuine.pem"), pki.path("genuine-key.pem"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    };
    // The forgery: one attribute whose value is the text of the genuine subject.
    let (forged_cert, forged_key) = pki.issue("forged", &[], "partner-app, O=Bank", true);
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let listener = TlsListenerFile {
        client_ca_file: Some(pki.path("ca.pem").display().to_string()),
        client_cert: Some(ClientCertMode::Optional),
        ..tls_listener(&cert, &key)
    };
    let bound = ClientFile {
        cert_subject: Some("CN=partner-app, O=Bank".to_owned()),
        ..client_file("pw", &["MOB-APP-2001"])
    };
    let app = spawn_app(
        with_listener(upstream.addr, listener)
            .client("BOUND", bound)
            .build(),
    )
    .await;
    let base = format!("https://localhost:{}", app.tls_addrs[0].port());
    let url = format!("{base}{TOKEN_PATH}");
    let forged = https_client(
        pki.client_config(Some((&forged_cert, &forged_key)), &[]),
        Version::HTTP_11,
    );
    let (_, reply) = https_send(&forged, token_request(&url, &client_key(), "BOUND", "pw")).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "the forged subject got a token"
    );
    assert_eq!(reply.codes().0, "TOK004");
    let real = https_client(
        pki.client_config(Some((&genuine.0, &genuine.1)), &[]),
        Version::HTTP_11,
    );
    let (_, reply) = https_send(&real, token_request(&url, &client_key(), "BOUND", "pw")).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Upstream, the two subjects read differently: the forgery's comma is escaped.
    for client in [&forged, &real] {
        let request = Request::get(format!("{base}/plain/x"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        https_send(client, request).await;
    }
    let seen: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| {
            r.headers["x-client-cert-subject"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        seen,
        ["CN=partner-app\\, O\\=Bank", "CN=partner-app,O=Bank"]
    );
}

/// Connects with SNI `name` and returns the served leaf certificate.
async fn served_certificate(
    pki: &Pki,
    addr: std::net::SocketAddr,
    name: &str,
) -> CertificateDer<'static> {
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(pki.client_config(None, &[b"http/1.1"])));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[tokio::test]
async fn sni_selects_among_several_certificates() {
    let pki = Pki::new();
    let (a, a_key) = pki.issue("a", &["a.bank.test"], "a", false);
    let (b, b_key) = pki.issue("b", &["*.b.bank.test"], "b", false);
    let mut listener = tls_listener(&a, &a_key);
    listener.certificates.push(cert_file(&b, &b_key));
    let app = spawn_app(with_listener(refused_addr(), listener).build()).await;
    let addr = app.tls_addrs[0];
    let a_der = sealgate::tls::read_certs(&a).unwrap()[0].clone();
    let b_der = sealgate::tls::read_certs(&b).unwrap()[0].clone();
    assert_eq!(served_certificate(&pki, addr, "a.bank.test").await, a_der);
    assert_eq!(
        served_certificate(&pki, addr, "api.b.bank.test").await,
        b_der
    );
}

#[tokio::test]
async fn a_replaced_certificate_is_used_for_new_handshakes_while_open_connections_carry_on() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "first", false);
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(with_listener(upstream.addr, tls_listener(&cert, &key)).build()).await;
    let addr = app.tls_addrs[0];
    let first = served_certificate(&pki, addr, "localhost").await;

    // One connection, held open across the reload.
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(pki.client_config(None, &[b"http/1.1"])));
    let tls = connector
        .connect(
            ServerName::try_from("localhost").unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        )
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let get = || {
        Request::get("/plain/x")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    assert_eq!(
        sender.send_request(get()).await.unwrap().status(),
        StatusCode::OK
    );

    // Replace the files in place; the poller picks the change up.
    let (new_cert, new_key) = pki.issue("next", &["localhost"], "second", false);
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    let second = sealgate::tls::read_certs(&cert).unwrap()[0].clone();
    assert_ne!(first, second);
    eventually("new handshakes to use the new certificate", async || {
        served_certificate(&pki, addr, "localhost").await == second
    })
    .await;
    assert_eq!(
        sender.send_request(get()).await.unwrap().status(),
        StatusCode::OK,
        "the open connection carries on"
    );

    // A broken file is refused and the working certificate kept. (Replacing the pair
    // above may itself have been refused once, between the two copies.)
    let refused = async || {
        metric(
            &metrics_text(&app).await,
            "sealgate_certificate_reloads_total{outcome=\"refused\"}",
        )
    };
    let refused_before = refused().await;
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    eventually("the broken certificate file to be refused", async || {
        refused().await > refused_before
    })
    .await;
    assert_eq!(served_certificate(&pki, addr, "localhost").await, second);
}

#[tokio::test]
async fn an_https_upstream_is_reached_with_the_configured_ca() {
    let pki = Pki::new();
    // A TLS upstream: the recording upstream behind a TLS terminator of our own making.
    let plain = spawn_upstream(Behaviour::Echo).await;
    let acceptor = pki.acceptor("upstream", &[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_port = listener.local_addr().unwrap().port();
    let target = plain.addr;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut backend = TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
            });
        }
    });
    let route = || RouteFile {
        auth: Some(RouteAuth::None),
        ..route_file("/secure/", &format!("https://localhost:{tls_port}"))
    };
    let trusting = ConfigBuilder::new(plain.addr).route(route()).with(|f| {
        f.upstream_tls = Some(UpstreamTlsFile {
            ca_file: Some(pki.path("ca.pem").display().to_string()),
            ..Default::default()
        });
    });
    let app = spawn_app(trusting.build()).await;
    let reply = post(&app.url("/secure/hello"), &[], "over tls").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.json()["body"], "over tls");
    assert_eq!(plain.requests()[0].uri.path(), "/secure/hello");

    // With the webpki roots only, the test CA's certificate is not trusted: 502.
    let untrusting = spawn_app(ConfigBuilder::new(plain.addr).route(route()).build()).await;
    let reply = post(&untrusting.url("/secure/hello"), &[], "x").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.codes().0, "UPSTREAM001");
    assert_eq!(
        plain.requests().len(),
        1,
        "the untrusted upstream never saw the request"
    );
}

/// An HTTPS upstream offering `alpn` that answers each request with the HTTP version it
/// came in, as `h2` or `http/1.1` per what ALPN chose.
async fn spawn_alpn_upstream(pki: &Pki, alpn: &[&[u8]]) -> u16 {
    let acceptor = pki.acceptor("h2-upstream", alpn);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    |request: Request<hyper::body::Incoming>| async move {
                        let version = format!("{:?}", request.version());
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(version),
                        )))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn an_http2_route_speaks_h2_chosen_by_alpn_and_refuses_an_upstream_that_does_not() {
    let pki = Pki::new();
    let h2 = spawn_alpn_upstream(&pki, &[b"h2", b"http/1.1"]).await;
    let h1_only = spawn_alpn_upstream(&pki, &[b"http/1.1"]).await;
    let route = |prefix: &str, port: u16, protocol| RouteFile {
        auth: Some(RouteAuth::None),
        upstream_protocol: Some(protocol),
        ..route_file(prefix, &format!("https://localhost:{port}"))
    };
    use sealgate::config::UpstreamProtocol::{Http1, Http2};
    let config = ConfigBuilder::new(refused_addr())
        .route(route("/h2/", h2, Http2))
        .route(route("/h1/", h2, Http1))
        .route(route("/h1-only/", h1_only, Http2))
        .with(|f| {
            f.upstream_tls = Some(UpstreamTlsFile {
                ca_file: Some(pki.path("ca.pem").display().to_string()),
                ..Default::default()
            });
        });
    let app = spawn_app(config.build()).await;
    for _ in 0..3 {
        let reply = post(&app.url("/h2/x"), &[], "").await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(&reply.body[..], b"HTTP/2.0");
    }
    // The same instance on an HTTP/1.1 route: ALPN offers http/1.1 alone.
    let reply = post(&app.url("/h1/x"), &[], "").await;
    assert_eq!(&reply.body[..], b"HTTP/1.1");
    // An upstream that will not choose h2 is not spoken to in another version.
    let refused = post(&app.url("/h1-only/x"), &[], "").await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    assert_eq!(refused.codes().0, "UPSTREAM001");
}

#[tokio::test]
async fn the_library_client_calls_an_https_gateway_trusting_a_given_ca() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(with_listener(upstream.addr, tls_listener(&cert, &key)).build()).await;
    let client = sealgate::client::Client::new(sealgate::client::ClientConfig {
        base: format!("https://localhost:{}", app.tls_addrs[0].port())
            .parse()
            .unwrap(),
        token_path: TOKEN_PATH.to_owned(),
        channel: "MOB-APP-2001".to_owned(),
        api_key: "ABC".to_owned(),
        secret: "BankeZy123".to_owned(),
        kdf: Kdf::HkdfSha256,
        ca_file: Some(pki.path("ca.pem")),

        trust: Default::default(),
    })
    .unwrap();
    let reply = client
        .call(http::Method::POST, "/api/x", b"{\"k\":1}", None)
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.was_sealed);
    assert_eq!(upstream.requests()[0].headers["x-client-id"], "ABC");
}

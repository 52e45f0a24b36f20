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

use sealgate::testkit::*;

/// A test CA that issues server and client certificates into a temporary folder.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Self {
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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues a certificate; returns (cert path, key path).
    fn issue(&self, stem: &str, names: &[&str], cn: &str, client: bool) -> (PathBuf, PathBuf) {
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

fn openssl_handshake(addr: std::net::SocketAddr, version_flag: &str) -> (bool, String) {
    let output = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            version_flag,
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-servername",
            "localhost",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl is installed (the machine image ships it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // s_client prints "New, TLSv1.x, Cipher is …" on success, "New, (NONE), …" on failure.
    let negotiated = text.contains("New, TLSv1.");
    (negotiated, text)
}

#[tokio::test]
async fn tls_1_1_is_refused_while_1_2_and_1_3_are_served() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("server", &["localhost"], "localhost", false);
    let app =
        spawn_app(with_listener("127.0.0.1:9".parse().unwrap(), tls_listener(&cert, &key)).build())
            .await;
    let addr = app.tls_addrs[0];
    let (ok12, text12) = tokio::task::spawn_blocking(move || openssl_handshake(addr, "-tls1_2"))
        .await
        .unwrap();
    assert!(ok12, "TLS 1.2 should be served:\n{text12}");
    let (ok13, text13) = tokio::task::spawn_blocking(move || openssl_handshake(addr, "-tls1_3"))
        .await
        .unwrap();
    assert!(ok13, "TLS 1.3 should be served:\n{text13}");
    let (ok11, text11) = tokio::task::spawn_blocking(move || openssl_handshake(addr, "-tls1_1"))
        .await
        .unwrap();
    assert!(!ok11, "TLS 1.1 was negotiated:\n{text11}");
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
    let config = with_listener("127.0.0.1:9".parse().unwrap(), listener)
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
    let app = spawn_app(with_listener("127.0.0.1:9".parse().unwrap(), listener).build()).await;
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
    let mut served = first.clone();
    for _ in 0..50 {
        served = served_certificate(&pki, addr, "localhost").await;
        if served == second {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, second, "new handshakes use the new certificate");
    assert_eq!(
        sender.send_request(get()).await.unwrap().status(),
        StatusCode::OK,
        "the open connection carries on"
    );

    // A broken file is refused and the working certificate kept.
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(served_certificate(&pki, addr, "localhost").await, second);
}

#[tokio::test]
async fn an_https_upstream_is_reached_with_the_configured_ca() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("upstream", &["localhost"], "upstream", false);
    // A TLS upstream: the recording upstream behind a TLS terminator of our own making.
    let plain = spawn_upstream(Behaviour::Echo).await;
    let server_config = rustls::ServerConfig::builder_with_provider(sealgate::tls::provider())
        .with_protocol_versions(sealgate::tls::VERSIONS)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            sealgate::tls::read_certs(&cert).unwrap(),
            sealgate::tls::read_key(&key).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
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

//! The authenticated handshake (docs/protocol.md §1.1) and bound messages (§4.1), through real
//! sockets: the JWK Set, the signed answer (checked by our client and by josekit), the
//! sealed token request (sealed by our client and by josekit), and every refusal of
//! issue #14: a response sent back as a request, a bound body on another method, path or
//! query, an unknown `typ`, a replayed `X-Request-Seal`, a bodyless request without one
//! where required, a signature over another client's key, a sealed token request under an
//! unknown `kid` or with an off-curve `epk`.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use sealgate::client::{Client, ClientConfig, ClientError, GatewayTrust};
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::{b64, jwe, jwk};
use sealgate_testkit::*;

const CHANNEL: &str = "MOB-APP-2001";

fn client(app: &TestApp, channel: &str, trust: GatewayTrust) -> Client {
    Client::new(ClientConfig {
        base: app.url("").parse().unwrap(),
        token_path: TOKEN_PATH.to_owned(),
        channel: channel.to_owned(),
        api_key: "MOB-APP".to_owned(),
        secret: "TEST123".to_owned(),
        kdf: Kdf::HkdfSha256,
        ca_file: None,
        trust,
    })
    .unwrap()
}

async fn jwks(app: &TestApp) -> serde_json::Value {
    let reply = send(
        Request::get(app.url("/.well-known/jwks.json"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()
}

fn key_of(set: &serde_json::Value, usage: &str) -> serde_json::Value {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["use"] == usage)
        .unwrap()
        .clone()
}

/// A bound, sealed request as a client makes it.
fn bound(s: &ClientSession, body: &[u8], method: &str, target: &str) -> String {
    jwe::seal(
        body,
        &s.key,
        &jwe::Header {
            typ: Some(jwe::TYP_REQUEST.to_owned()),
            htm: Some(method.to_owned()),
            htp: Some(target.to_owned()),
            ..Default::default()
        },
    )
    .unwrap()
}

async fn sealed_call(
    app: &TestApp,
    s: &ClientSession,
    method: Method,
    target: &str,
    body: String,
) -> Reply {
    send(
        Request::builder()
            .method(method)
            .uri(app.url(target))
            .header("authorization", format!("Bearer {}", s.token))
            .header("content-type", "application/jose")
            .body(Full::new(Bytes::from(body)))
            .unwrap(),
    )
    .await
}

async fn sealed_get(app: &TestApp, s: &ClientSession, target: &str, seal: Option<&str>) -> Reply {
    let mut builder =
        Request::get(app.url(target)).header("authorization", format!("Bearer {}", s.token));
    if let Some(seal) = seal {
        builder = builder.header("x-request-seal", seal);
    }
    send(builder.body(Full::new(Bytes::new())).unwrap()).await
}

#[tokio::test]
async fn the_jwk_set_lists_a_signing_and_an_encryption_key_and_may_be_cached() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let reply = send(
        Request::get(app.url("/.well-known/jwks.json"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["cache-control"], "max-age=300");
    let set = reply.json();
    let sig = key_of(&set, "sig");
    let enc = key_of(&set, "enc");
    assert_eq!(
        (sig["alg"].as_str(), enc["alg"].as_str()),
        (Some("ES256"), Some("ECDH-ES"))
    );
    for key in [&sig, &enc] {
        assert!(key["kid"].is_string() && key.get("d").is_none(), "{key}");
        jwk::parse_public_p256(key.to_string().as_bytes()).unwrap();
    }
    let post = post(&app.url("/.well-known/jwks.json"), &[], "x").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_client_that_pins_the_gateway_key_verifies_the_signed_answer_and_josekit_agrees() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let set = jwks(&app).await;
    let trust = GatewayTrust::from_jwks(set.to_string().as_bytes()).unwrap();
    // Our client: the signature verifies, over its own key, before K is derived; the
    // token request went sealed; every later call is bound and its answer typed.
    let ours = client(&app, CHANNEL, trust.clone());
    let (response, _) = ours.request_token().await.unwrap();
    let reply = ours
        .call(
            Method::POST,
            "/api/echo?x=1",
            br#"{"a":1}"#,
            Some("application/json"),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.was_sealed);
    let got = ours
        .call(Method::GET, "/api/echo", b"", None)
        .await
        .unwrap();
    assert_eq!(
        got.status,
        StatusCode::OK,
        "a bodyless call, sealed by X-Request-Seal"
    );
    // josekit, independently: an ES256 JWS by the listed sig key, typ handshake+jws, whose
    // payload names this response.
    let sig_jwk = josekit::jwk::Jwk::from_bytes(key_of(&set, "sig").to_string()).unwrap();
    let verifier = josekit::jws::ES256.verifier_from_jwk(&sig_jwk).unwrap();
    let (payload, header) =
        josekit::jws::deserialize_compact(response.signature.as_deref().unwrap(), &verifier)
            .unwrap();
    assert_eq!(header.token_type(), Some("handshake+jws"));
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["spk"], response.server_public_key.as_str());
    assert_eq!(claims["exp"], response.expiry);
    assert_eq!(claims["chn"], CHANNEL);
    assert_eq!(
        claims["cpk"].as_str().unwrap().len(),
        43,
        "a SHA-256 thumbprint"
    );
}

#[tokio::test]
async fn a_signature_over_another_clients_key_is_refused() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let set = jwks(&app).await;
    let trust = GatewayTrust::from_jwks(set.to_string().as_bytes()).unwrap();
    let victim = handshake(&app, CHANNEL, "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let someone_else = client_key();
    let refused = sealgate::client::verify_handshake(
        &victim.response,
        &trust.signing_keys,
        &someone_else.pair.public_key(),
        CHANNEL,
    );
    assert!(
        matches!(refused, Err(ClientError::Handshake(_))),
        "{refused:?}"
    );
    // And a swapped serverPublicKey (a man in the middle's own) is refused as well.
    let mut swapped = victim.response.clone();
    swapped.server_public_key =
        b64::encode(jwk::public_to_json(&someone_else.pair.public_key()).as_bytes());
    let refused = sealgate::client::verify_handshake(
        &swapped,
        &trust.signing_keys,
        &someone_else.pair.public_key(),
        CHANNEL,
    );
    assert!(matches!(refused, Err(ClientError::Handshake(_))));
}

/// A token request sealed by josekit to the listed `enc` key, sealed now for `channel`
/// (`iat` and `chn` in the protected header, docs/protocol.md §1.1).
fn josekit_sealed_request(enc: &serde_json::Value, kid: &str, body: &str) -> String {
    josekit_sealed_request_with(enc, kid, body, Some((sealgate::clock::now_secs(), CHANNEL)))
}

/// [`josekit_sealed_request`] with the given `iat` and `chn`, or neither (an older client).
fn josekit_sealed_request_with(
    enc: &serde_json::Value,
    kid: &str,
    body: &str,
    bound: Option<(i64, &str)>,
) -> String {
    let jwk = josekit::jwk::Jwk::from_bytes(enc.to_string()).unwrap();
    let encrypter = josekit::jwe::ECDH_ES.encrypter_from_jwk(&jwk).unwrap();
    let mut header = josekit::jwe::JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_key_id(kid);
    if let Some((iat, chn)) = bound {
        header.set_claim("iat", Some(iat.into())).unwrap();
        header.set_claim("chn", Some(chn.into())).unwrap();
    }
    josekit::jwe::serialize_compact(body.as_bytes(), &header, &encrypter).unwrap()
}

#[tokio::test]
async fn a_sealed_token_request_opens_and_its_refusals_are_tok003() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.channels
                    .get_mut("CH-HKDF")
                    .unwrap()
                    .require_sealed_token_request = Some(true)
            })
            .build(),
    )
    .await;
    let set = jwks(&app).await;
    let enc = key_of(&set, "enc");
    let kid = enc["kid"].as_str().unwrap();
    let key = client_key();
    let body = token_body("MOB-APP", "TEST123", &key.public_key_field);
    let url = app.url(TOKEN_PATH);
    let jose = |channel| [("x-api-key", channel), ("content-type", "application/jose")];
    // Sealed by an independent JOSE library: accepted.
    let reply = post(
        &url,
        &jose(CHANNEL),
        josekit_sealed_request(&enc, kid, &body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.codes());
    // Under an unknown kid.
    let reply = post(
        &url,
        &jose(CHANNEL),
        josekit_sealed_request(&enc, "nope", &body),
    )
    .await;
    assert_eq!(
        (reply.status, reply.codes().0.as_str()),
        (StatusCode::BAD_REQUEST, "TOK003")
    );
    // With an epk that is not on the curve (the AAD then does not matter: refused first).
    let sealed = josekit_sealed_request(&enc, kid, &body);
    let header_segment = sealed.split('.').next().unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&b64::decode_strict(header_segment.as_bytes()).unwrap()).unwrap();
    header["epk"]["y"] = serde_json::Value::String(b64::encode(&[7u8; 32]));
    let forged = format!(
        "{}{}",
        b64::encode(header.to_string().as_bytes()),
        &sealed[header_segment.len()..]
    );
    let reply = post(&url, &jose(CHANNEL), forged).await;
    assert_eq!(
        (reply.status, reply.codes().0.as_str()),
        (StatusCode::BAD_REQUEST, "TOK003")
    );
    // Garbage under application/jose.
    let reply = post(&url, &jose(CHANNEL), body.clone()).await;
    assert_eq!(reply.codes().0, "TOK003");
    // A plain request where the channel requires sealing.
    let reply = post(&url, &[("x-api-key", "CH-HKDF")], body.clone()).await;
    assert_eq!(
        (reply.status, reply.codes().0.as_str()),
        (StatusCode::BAD_REQUEST, "TOK003")
    );
    let reply = post(
        &url,
        &jose("CH-HKDF"),
        josekit_sealed_request_with(
            &enc,
            kid,
            &body,
            Some((sealgate::clock::now_secs(), "CH-HKDF")),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// The attacker holds one sealed token request, captured on the wire (they know neither the
/// secret nor any key): it mints one token, the client's, and nothing more.
#[tokio::test]
async fn a_captured_sealed_token_request_mints_one_token_on_its_own_channel_only() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let set = jwks(&app).await;
    let enc = key_of(&set, "enc");
    let kid = enc["kid"].as_str().unwrap();
    let url = app.url(TOKEN_PATH);
    let jose = |channel| [("x-api-key", channel), ("content-type", "application/jose")];
    let body = token_body("MOB-APP", "TEST123", &client_key().public_key_field);
    let codes = |reply: &Reply| (reply.status, reply.codes().0);
    let refused = (StatusCode::BAD_REQUEST, "TOK003".to_owned());

    // Replayed: the first is served, each replay refused.
    let captured = josekit_sealed_request(&enc, kid, &body);
    assert_eq!(
        post(&url, &jose(CHANNEL), captured.clone()).await.status,
        StatusCode::OK
    );
    for _ in 0..3 {
        assert_eq!(
            codes(&post(&url, &jose(CHANNEL), captured.clone()).await),
            refused
        );
    }
    // Still refused once its iat is past the leeway (the memory may then forget it).
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(
        codes(&post(&url, &jose(CHANNEL), captured.clone()).await),
        refused
    );

    // Sealed for one channel, sent under another: refused, and it stays unused, so the
    // client's own request then succeeds where it was meant to go.
    let now = app.clock.now_secs();
    let for_hkdf = josekit_sealed_request_with(&enc, kid, &body, Some((now, "CH-HKDF")));
    assert_eq!(
        codes(&post(&url, &jose(CHANNEL), for_hkdf.clone()).await),
        refused
    );
    assert_eq!(
        post(&url, &jose("CH-HKDF"), for_hkdf).await.status,
        StatusCode::OK
    );

    // Sealed too long ago or too far ahead (beyond the 60 s leeway): refused.
    for iat in [now - 62, now + 62] {
        let sealed = josekit_sealed_request_with(&enc, kid, &body, Some((iat, CHANNEL)));
        assert_eq!(
            codes(&post(&url, &jose(CHANNEL), sealed).await),
            refused,
            "iat {iat}"
        );
    }
    // Within it: served.
    let sealed = josekit_sealed_request_with(&enc, kid, &body, Some((now - 55, CHANNEL)));
    assert_eq!(
        post(&url, &jose(CHANNEL), sealed).await.status,
        StatusCode::OK
    );

    // iat or chn alone, or of the wrong type: refused.
    for (name, value) in [
        ("iat", serde_json::json!(now)),
        ("chn", serde_json::json!(CHANNEL)),
    ] {
        let jwk = josekit::jwk::Jwk::from_bytes(enc.to_string()).unwrap();
        let encrypter = josekit::jwe::ECDH_ES.encrypter_from_jwk(&jwk).unwrap();
        let mut header = josekit::jwe::JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_key_id(kid);
        header.set_claim(name, Some(value)).unwrap();
        let sealed = josekit::jwe::serialize_compact(body.as_bytes(), &header, &encrypter).unwrap();
        assert_eq!(
            codes(&post(&url, &jose(CHANNEL), sealed).await),
            refused,
            "{name} alone"
        );
    }
    let jwk = josekit::jwk::Jwk::from_bytes(enc.to_string()).unwrap();
    let encrypter = josekit::jwe::ECDH_ES.encrypter_from_jwk(&jwk).unwrap();
    let mut header = josekit::jwe::JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_key_id(kid);
    header
        .set_claim("iat", Some(serde_json::json!(now as f64 + 0.5)))
        .unwrap();
    header.set_claim("chn", Some(CHANNEL.into())).unwrap();
    let sealed = josekit::jwe::serialize_compact(body.as_bytes(), &header, &encrypter).unwrap();
    assert_eq!(
        codes(&post(&url, &jose(CHANNEL), sealed).await),
        refused,
        "a fractional iat"
    );

    // Only a request that gets a token is remembered: one whose credentials are refused
    // is judged again each time (a stranger cannot fill the memory, nor use up anything).
    let wrong = token_body("MOB-APP", "wrong", &client_key().public_key_field);
    let sealed = josekit_sealed_request_with(&enc, kid, &wrong, Some((now, CHANNEL)));
    for _ in 0..2 {
        let reply = post(&url, &jose(CHANNEL), sealed.clone()).await;
        assert_eq!(
            (reply.status, reply.codes().0.as_str()),
            (StatusCode::UNAUTHORIZED, "TOK004")
        );
    }

    // The older form (no iat, no chn) is refused by default.
    let unbound = josekit_sealed_request_with(&enc, kid, &body, None);
    assert_eq!(codes(&post(&url, &jose(CHANNEL), unbound).await), refused);
}

#[tokio::test]
async fn unbound_sealed_token_requests_pass_only_where_the_operator_allows_them() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| {
                f.token.accept_unbound_sealed_token_requests = Some(true);
                f.channels
                    .get_mut("CH-HKDF")
                    .unwrap()
                    .require_sealed_token_request = Some(true);
            })
            .build(),
    )
    .await;
    let set = jwks(&app).await;
    let enc = key_of(&set, "enc");
    let kid = enc["kid"].as_str().unwrap();
    let body = token_body("MOB-APP", "TEST123", &client_key().public_key_field);
    let sealed = || josekit_sealed_request_with(&enc, kid, &body, None);
    let url = app.url(TOKEN_PATH);
    let send_on = async |channel: &str, sealed: String| {
        post(
            &url,
            &[("x-api-key", channel), ("content-type", "application/jose")],
            sealed,
        )
        .await
    };
    assert_eq!(send_on(CHANNEL, sealed()).await.status, StatusCode::OK);
    // A channel that requires the sealed form requires the bound one.
    let reply = send_on("CH-HKDF", sealed()).await;
    assert_eq!(
        (reply.status, reply.codes().0.as_str()),
        (StatusCode::BAD_REQUEST, "TOK003")
    );
}

#[tokio::test]
async fn a_sealed_response_sent_back_as_a_request_is_refused() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let s = handshake(&app, CHANNEL, "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let reply = call(&app, &s, "/api/profile", &seal(&s, b"{}", None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let (header, _) = jwe::open(&reply.body, &s.key, usize::MAX).unwrap();
    assert_eq!(header.typ.as_deref(), Some(jwe::TYP_RESPONSE));
    let sent_back = String::from_utf8(reply.body.to_vec()).unwrap();
    let refused = call(&app, &s, "/api/transfer", &sent_back).await;
    assert_eq!(
        (refused.status, refused.codes().0.as_str()),
        (StatusCode::BAD_REQUEST, "BODY006")
    );
    // Any typ but request+jwe is refused too.
    let odd = jwe::seal(
        b"{}",
        &s.key,
        &jwe::Header {
            typ: Some("JWT".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        call(&app, &s, "/api/transfer", &odd).await.codes().0,
        "BODY006"
    );
    assert_eq!(
        upstream.requests().len(),
        1,
        "only the first request reached the upstream"
    );
}

#[tokio::test]
async fn a_bound_body_is_refused_on_another_method_path_or_query() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(ConfigBuilder::new(upstream.addr).build()).await;
    let s = handshake(&app, CHANNEL, "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let body = bound(&s, br#"{"amount":1}"#, "POST", "/api/transfer?to=me");
    for (method, target) in [
        (Method::PUT, "/api/transfer?to=me"),
        (Method::POST, "/api/other?to=me"),
        (Method::POST, "/api/transfer?to=attacker&amount=9999"),
        (Method::POST, "/api/transfer"),
        // The same route after normalisation, but not the target the client bound.
        (Method::POST, "//api/transfer?to=me"),
        (Method::POST, "/api/%74ransfer?to=me"),
    ] {
        let reply = sealed_call(&app, &s, method.clone(), target, body.clone()).await;
        assert_eq!(
            (reply.status, reply.codes().0.as_str()),
            (StatusCode::BAD_REQUEST, "BODY007"),
            "{method} {target}"
        );
    }
    assert!(upstream.requests().is_empty());
    // Where it was bound, once; the refusals above did not use up its IV.
    let reply = sealed_call(&app, &s, Method::POST, "/api/transfer?to=me", body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.codes());
    let again = sealed_call(&app, &s, Method::POST, "/api/transfer?to=me", body).await;
    assert_eq!(again.codes().0, "AUTH008");
}

#[tokio::test]
async fn a_bodyless_request_is_sealed_by_x_request_seal_once_and_only_where_bound() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(binding_required_on_ch_hkdf(upstream.addr)).await;
    let s = handshake(&app, CHANNEL, "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let seal = bound(&s, b"", "GET", "/api/account/7");
    let reply = sealed_get(&app, &s, "/api/account/7", Some(&seal)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.codes());
    assert!(
        !upstream.requests()[0]
            .headers
            .contains_key("x-request-seal"),
        "the seal is never forwarded"
    );
    let replayed = sealed_get(&app, &s, "/api/account/7", Some(&seal)).await;
    assert_eq!(replayed.codes().0, "AUTH008");
    let elsewhere = sealed_get(
        &app,
        &s,
        "/api/account/8",
        Some(&bound(&s, b"", "GET", "/api/account/7")),
    )
    .await;
    assert_eq!(elsewhere.codes().0, "BODY007");
    let not_empty = sealed_get(
        &app,
        &s,
        "/api/account/7",
        Some(&bound(&s, b"x", "GET", "/api/account/7")),
    )
    .await;
    assert_eq!(not_empty.codes().0, "BODY009");
    // On a channel that requires binding: no seal, or an unbound body, is refused.
    let strict = handshake(&app, "CH-HKDF", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let bare = sealed_get(&app, &strict, "/api/account/7", None).await;
    assert_eq!(
        (bare.status, bare.codes().0.as_str()),
        (StatusCode::BAD_REQUEST, "BODY008")
    );
    let unbound = call(&app, &strict, "/api/transfer", &seal_unbound(&strict)).await;
    assert_eq!(unbound.codes().0, "BODY008");
    let ok = sealed_call(
        &app,
        &strict,
        Method::POST,
        "/api/transfer",
        bound(&strict, b"{}", "POST", "/api/transfer"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
}

/// The test configuration with `require_request_binding` on the `CH-HKDF` channel.
fn binding_required_on_ch_hkdf(upstream: std::net::SocketAddr) -> sealgate::config::Config {
    ConfigBuilder::new(upstream)
        .with(|f| {
            f.channels
                .get_mut("CH-HKDF")
                .unwrap()
                .require_request_binding = Some(true)
        })
        .build()
}

fn seal_unbound(s: &ClientSession) -> String {
    seal(s, b"{}", None)
}

#[tokio::test]
async fn gateway_keys_rotate_by_reload_with_the_old_key_still_listed() {
    use sealgate::config::GatewayKeyFile;
    use sealgate::token::gateway_keys::KeyUse;
    let key = |kid: &str, usage, byte: u8| GatewayKeyFile {
        kid: Some(kid.to_owned()),
        usage: Some(usage),
        key: Some(b64::encode(&[byte; 32]).into()),
        ..Default::default()
    };
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let old = || {
        vec![
            key("sig-old", KeyUse::Sig, 2),
            key("enc-old", KeyUse::Enc, 3),
        ]
    };
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.gateway_keys = old())
            .build(),
    )
    .await;
    let before = jwks(&app).await;
    let pinned = GatewayTrust::from_jwks(before.to_string().as_bytes()).unwrap();
    // The new key goes first; the old one stays listed after it.
    let mut rotated = vec![key("sig-new", KeyUse::Sig, 4)];
    rotated.extend(old());
    app.gateway
        .reload(
            ConfigBuilder::new(upstream.addr)
                .with(|f| f.gateway_keys = rotated)
                .build(),
        )
        .unwrap();
    let after = jwks(&app).await;
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["sig-new", "sig-old", "enc-old"]);
    let s = handshake(&app, CHANNEL, "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let header = b64::decode_strict(
        s.response
            .signature
            .as_deref()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    assert!(
        String::from_utf8(header)
            .unwrap()
            .contains("\"kid\":\"sig-new\"")
    );
    // A client still pinned to the old set: its sealed request still opens (enc-old is
    // listed), but the answer is signed by a key it does not know, so it refuses it.
    let stale = client(&app, CHANNEL, pinned);
    assert!(matches!(
        stale.request_token().await,
        Err(ClientError::Handshake(_))
    ));
    let fresh = client(
        &app,
        CHANNEL,
        GatewayTrust::from_jwks(after.to_string().as_bytes()).unwrap(),
    );
    fresh.request_token().await.unwrap();
}

#[tokio::test]
async fn where_binding_is_required_a_plain_token_route_needs_a_seal_even_with_an_empty_chunked_body()
 {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(binding_required_on_ch_hkdf(upstream.addr)).await;
    let strict = handshake(&app, "CH-HKDF", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "GET /token-plain/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
        strict.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("BODY008"), "{text}");
    assert!(upstream.requests().is_empty());
    let seal = bound(&strict, b"", "GET", "/token-plain/x");
    assert_eq!(
        sealed_get(&app, &strict, "/token-plain/x", Some(&seal))
            .await
            .status,
        StatusCode::OK
    );
}

/// The Rust client names each refusal with the error kinds every client library uses
/// (docs/clients.md, "Error kinds"): a wrong secret, an expired session, a route that
/// answers in clear with its own status; and it binds the target as sent when its base URL
/// has a path.
#[tokio::test]
async fn the_rust_client_names_refusals_with_the_shared_error_kinds() {
    use sealgate::client::ErrorKind;
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.token.leeway_secs = Some(0))
            .build(),
    )
    .await;
    let trust = GatewayTrust::from_jwks(jwks(&app).await.to_string().as_bytes()).unwrap();
    let wrong = Client::new(ClientConfig {
        base: app.url("").parse().unwrap(),
        token_path: TOKEN_PATH.to_owned(),
        channel: CHANNEL.to_owned(),
        api_key: "MOB-APP".to_owned(),
        secret: "TEST123x".to_owned(),
        kdf: Kdf::HkdfSha256,
        ca_file: None,
        trust: trust.clone(),
    })
    .unwrap();
    let refused = wrong.request_token().await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::CredentialsRefused, "{refused}");
    assert!(!refused.to_string().contains("TEST123x"), "{refused}");

    let ours = client(&app, CHANNEL, trust);
    let ok = ours
        .call(Method::POST, "/api/echo", b"{}", Some("application/json"))
        .await
        .unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.refusal(), None, "a sealed answer is not a refusal");
    // Past the token's life on the gateway's clock, while the client still holds it.
    app.clock.advance(Duration::from_secs(24 * 3600));
    let late = ours
        .call(Method::GET, "/api/echo", b"", None)
        .await
        .unwrap();
    assert_eq!(
        late.refusal(),
        Some((ErrorKind::SessionExpired, "AUTH005".to_owned())),
        "{:?}",
        late.status
    );
}

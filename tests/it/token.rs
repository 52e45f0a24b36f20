//! The token endpoint (docs/protocol.md §1–§3) through a real socket.

use http::StatusCode;
use sealgate::config::{ClientFile, SessionMode};
use sealgate::crypto::Key32;
use sealgate::crypto::kdf::Kdf;
use sealgate::jose::{b64, jwk};
use sealgate::session::SessionId;

use sealgate_testkit::*;

async fn app() -> TestApp {
    // The token tests need no upstream; point routes at a closed port.
    // The wire contract exactly: revocation (DELETE) off.
    let config = ConfigBuilder::new(refused_addr())
        .with(|f| f.token.revocation = None)
        .build();
    spawn_app(config).await
}

async fn token_request(app: &TestApp, channel: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("content-type", "text/plain")];
    if let Some(channel) = channel {
        headers.push(("x-api-key", channel));
    }
    post(&app.url(TOKEN_PATH), &headers, body.to_owned()).await
}

fn assert_failure(reply: &Reply, status: u16, code: &str, desc: &str) {
    assert_eq!(reply.status.as_u16(), status, "{:?}", reply.body);
    assert_eq!(reply.codes(), (code.to_owned(), desc.to_owned()));
    let members: Vec<_> = reply.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        members.len(),
        2,
        "a failure body has only resCode and resDesc: {members:?}"
    );
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(reply.headers["content-type"], "application/json");
}

const INVALID_KEY: (&str, &str) = ("TOK002", "Invalid API Key Passed");
const FAILURE: (&str, &str) = ("TOK003", "Failure");
const NOT_ALLOWED: (&str, &str) = ("TOK004", "Your credentials not allowed to generate token");

#[tokio::test]
async fn the_published_sample_with_its_channel_header_returns_tok200() {
    let app = app().await;
    let key = client_key();
    let before_ms = sealgate::clock::now_ms();
    let reply = token_request(
        &app,
        Some("MOB-APP-2001"),
        &token_body("MOB-APP", "TEST123", &key.public_key_field),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.headers["cache-control"], "no-store");
    let body = reply.json();
    let members: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    // The seed's five members, in its order, then the handshake signature (docs/protocol.md §1.1).
    assert_eq!(
        members,
        [
            "resCode",
            "resDesc",
            "token",
            "expiry",
            "serverPublicKey",
            "signature"
        ]
    );
    assert_eq!(body["resCode"], "TOK200");
    assert_eq!(body["resDesc"], "Success");
    assert_eq!(body["token"].as_str().unwrap().split('.').count(), 5);
    // Default lifetime 30 minutes, in milliseconds since the epoch, a JSON integer.
    let expiry = body["expiry"].as_i64().expect("expiry is an integer");
    let lifetime = expiry - before_ms;
    assert!(
        (1_799_000..=1_801_000).contains(&lifetime),
        "lifetime {lifetime} ms"
    );
    // serverPublicKey: unpadded base64url of a public JWK with exactly kty, crv, x, y.
    let text = body["serverPublicKey"].as_str().unwrap();
    assert!(!text.contains('='));
    let jwk_json: serde_json::Value =
        serde_json::from_slice(&b64::decode_strict(text.as_bytes()).unwrap()).unwrap();
    let mut names: Vec<_> = jwk_json.as_object().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["crv", "kty", "x", "y"]);
    assert!(jwk::parse_public_p256(jwk_json.to_string().as_bytes()).is_ok());
}

#[tokio::test]
async fn the_published_request_sample_with_a_cut_short_public_key_returns_tok003() {
    let app = app().await;
    let full = client_key().public_key_field;
    let cut = &full[..full.len() / 2];
    let reply = token_request(
        &app,
        Some("MOB-APP-2001"),
        &token_body("MOB-APP", "TEST123", cut),
    )
    .await;
    assert_failure(&reply, 400, FAILURE.0, FAILURE.1);
}

#[tokio::test]
async fn both_demo_clients_get_tokens_and_application_json_works_the_same() {
    let app = app().await;
    for (client, secret) in [("MOB-APP", "TEST123"), ("ABC", "BankeZy123")] {
        let key = client_key();
        let reply = post(
            &app.url(TOKEN_PATH),
            &[
                ("x-api-key", "MOB-APP-2001"),
                ("content-type", "application/json"),
            ],
            token_body(client, secret, &key.public_key_field),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{client}");
        assert_eq!(reply.json()["resCode"], "TOK200");
    }
}

#[tokio::test]
async fn check_1_missing_or_unknown_channel_is_tok002() {
    let app = app().await;
    let body = token_body("MOB-APP", "TEST123", &client_key().public_key_field);
    assert_failure(
        &token_request(&app, None, &body).await,
        401,
        INVALID_KEY.0,
        INVALID_KEY.1,
    );
    assert_failure(
        &token_request(&app, Some("NOPE"), &body).await,
        401,
        INVALID_KEY.0,
        INVALID_KEY.1,
    );
    // The channel is an exact match: case matters.
    assert_failure(
        &token_request(&app, Some("mob-app-2001"), &body).await,
        401,
        INVALID_KEY.0,
        INVALID_KEY.1,
    );
}

#[tokio::test]
async fn check_2_a_body_that_is_not_an_object_with_three_strings_is_tok003() {
    let app = app().await;
    let pk = client_key().public_key_field;
    for body in [
        "not json".to_owned(),
        String::new(),
        r#"["MOB-APP","TEST123"]"#.to_owned(),
        r#"{"apiKey":"MOB-APP","secret":"TEST123"}"#.to_owned(),
        format!(r#"{{"apiKey":"MOB-APP","secret":123,"publicKey":"{pk}"}}"#),
        format!(r#"{{"apiKey":null,"secret":"TEST123","publicKey":"{pk}"}}"#),
        format!(r#"{{"apiKey":"X","apiKey":"MOB-APP","secret":"TEST123","publicKey":"{pk}"}}"#),
    ] {
        let reply = token_request(&app, Some("MOB-APP-2001"), &body).await;
        assert_failure(&reply, 400, FAILURE.0, FAILURE.1);
    }
}

#[tokio::test]
async fn check_3_an_unknown_client_is_tok002() {
    let app = app().await;
    let body = token_body("NOBODY", "TEST123", &client_key().public_key_field);
    assert_failure(
        &token_request(&app, Some("MOB-APP-2001"), &body).await,
        401,
        INVALID_KEY.0,
        INVALID_KEY.1,
    );
}

#[tokio::test]
async fn check_4_wrong_secret_disabled_client_or_foreign_channel_is_tok004() {
    let app = app().await;
    let pk = client_key().public_key_field;
    for (channel, client, secret) in [
        ("MOB-APP-2001", "MOB-APP", "TEST124"),
        ("MOB-APP-2001", "MOB-APP", "TEST12"),
        ("MOB-APP-2001", "MOB-APP", ""),
        ("MOB-APP-2001", "MOB-APP", "BankeZy123"),
        ("MOB-APP-2001", "DISABLED", "pw"),
        ("MOB-APP-2001", "RAW-ONLY", "pw"),
    ] {
        let reply = token_request(&app, Some(channel), &token_body(client, secret, &pk)).await;
        assert_failure(&reply, 401, NOT_ALLOWED.0, NOT_ALLOWED.1);
    }
}

#[tokio::test]
async fn check_5_an_unacceptable_public_key_is_tok003() {
    let app = app().await;
    let good = client_key();
    let good_json =
        String::from_utf8(b64::decode_strict(good.public_key_field.as_bytes()).unwrap()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&good_json).unwrap();
    let (x, y) = (v["x"].as_str().unwrap(), v["y"].as_str().unwrap());
    let variants = [
        "%%%not base64%%%".to_owned(),
        b64::encode(b"not json"),
        b64::encode(format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","d":"{x}"}}"#).as_bytes()),
        b64::encode(format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#).as_bytes()),
        b64::encode(format!(r#"{{"kty":"EC","crv":"P-384","x":"{x}","y":"{y}"}}"#).as_bytes()),
        b64::encode(format!(r#"{{"kty":"RSA","crv":"P-256","x":"{x}","y":"{y}"}}"#).as_bytes()),
        b64::encode(format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}"}}"#).as_bytes()),
        b64::encode(r#"{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.as_bytes()),
    ];
    for pk in variants {
        let reply = token_request(
            &app,
            Some("MOB-APP-2001"),
            &token_body("MOB-APP", "TEST123", &pk),
        )
        .await;
        assert_failure(&reply, 400, FAILURE.0, FAILURE.1);
    }
}

#[tokio::test]
async fn checks_run_in_the_published_order() {
    let app = app().await;
    let bad_pk = "AAAA";
    // 1 before 2: an unknown channel with a malformed body is TOK002.
    assert_failure(
        &token_request(&app, Some("NOPE"), "garbage").await,
        401,
        INVALID_KEY.0,
        INVALID_KEY.1,
    );
    // 3 before 5: an unknown client with a bad key is TOK002.
    let r = token_request(
        &app,
        Some("MOB-APP-2001"),
        &token_body("NOBODY", "x", bad_pk),
    )
    .await;
    assert_failure(&r, 401, INVALID_KEY.0, INVALID_KEY.1);
    // 4 before 5: a wrong secret with a bad key is TOK004.
    let r = token_request(
        &app,
        Some("MOB-APP-2001"),
        &token_body("MOB-APP", "wrong", bad_pk),
    )
    .await;
    assert_failure(&r, 401, NOT_ALLOWED.0, NOT_ALLOWED.1);
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_tok003() {
    let app = app().await;
    let pk = client_key().public_key_field;
    let padding = "x".repeat(16 * 1024);
    let body = format!(
        r#"{{"apiKey":"MOB-APP","secret":"TEST123","publicKey":"{pk}","pad":"{padding}"}}"#
    );
    assert_failure(
        &token_request(&app, Some("MOB-APP-2001"), &body).await,
        413,
        FAILURE.0,
        FAILURE.1,
    );
}

#[tokio::test]
async fn other_methods_get_405_with_allow_post() {
    let app = app().await;
    for method in [http::Method::GET, http::Method::PUT, http::Method::DELETE] {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(app.url(TOKEN_PATH))
            .header("x-api-key", "MOB-APP-2001")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let reply = send(request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.headers["allow"], "POST");
    }
}

#[tokio::test]
async fn padded_and_standard_base64_public_keys_are_accepted() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
    let app = app().await;
    let key = client_key();
    let json = b64::decode_strict(key.public_key_field.as_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let (mut seen_padding, mut seen_std_chars) = (false, false);
    // A `kid` of '?'s (0x3F) puts 0b111111 groups ('/') into standard base64, and varying
    // its length varies the padding.
    for n in 0..6 {
        let mut v = v.clone();
        v["kid"] = "?".repeat(n).into();
        let text = v.to_string();
        let standard = STANDARD.encode(text.as_bytes());
        seen_padding |= standard.ends_with('=');
        seen_std_chars |= standard.contains(['+', '/']);
        for form in [
            standard.clone(),
            STANDARD_NO_PAD.encode(text.as_bytes()),
            URL_SAFE.encode(text.as_bytes()),
        ] {
            let reply = token_request(
                &app,
                Some("MOB-APP-2001"),
                &token_body("MOB-APP", "TEST123", &form),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{form}");
        }
    }
    assert!(
        seen_padding && seen_std_chars,
        "padding {seen_padding}, +/ {seen_std_chars}"
    );
}

#[tokio::test]
async fn a_webcrypto_export_with_extra_members_is_accepted() {
    let app = app().await;
    let key = client_key();
    let json = b64::decode_strict(key.public_key_field.as_bytes()).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["ext"] = true.into();
    v["key_ops"] = serde_json::json!([]);
    v["kid"] = "webcrypto".into();
    let pk = b64::encode(v.to_string().as_bytes());
    let reply = token_request(
        &app,
        Some("MOB-APP-2001"),
        &token_body("MOB-APP", "TEST123", &pk),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// Opens a token with josekit (an independent JOSE implementation) under the test token key.
fn open_token_with_josekit(token: &str) -> serde_json::Value {
    let decrypter = josekit::jwe::Dir.decrypter_from_bytes(TOKEN_KEY).unwrap();
    let (payload, header) = josekit::jwe::deserialize_compact(token, &decrypter).unwrap();
    assert_eq!(header.algorithm(), Some("dir"));
    assert_eq!(header.content_encryption(), Some("A256GCM"));
    assert_eq!(header.key_id(), Some("test-1"));
    serde_json::from_slice(&payload).unwrap()
}

#[tokio::test]
async fn the_key_a_client_derives_equals_the_gateways_session_key_for_each_kdf() {
    let app = app().await;
    for (channel, kdf) in [
        ("CH-HKDF", Kdf::HkdfSha256),
        ("CH-CONCAT", Kdf::ConcatKdf),
        ("CH-RAW", Kdf::Raw),
        ("MOB-APP-2001", Kdf::HkdfSha256),
    ] {
        let session = handshake(&app, channel, "MOB-APP", "TEST123", kdf).await;
        let claims = open_token_with_josekit(&session.token);
        assert_eq!(claims["sub"], "MOB-APP");
        assert_eq!(claims["chn"], channel);
        assert_eq!(claims["iss"], "sealgate");
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
        assert_eq!(
            claims["exp"].as_i64().unwrap() * 1000,
            session.response.expiry
        );
        let id = SessionId::parse(claims["jti"].as_str().unwrap()).unwrap();
        let held = app
            .gateway
            .sessions()
            .get(&id)
            .expect("the gateway holds the session");
        assert_eq!(
            held.key, session.key,
            "{channel}: client and gateway keys differ"
        );
        // Ticket mode: the token itself carries the same key.
        let ticket = Key32::from_slice(
            &b64::decode_strict(claims["key"].as_str().unwrap().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(ticket, session.key);
    }
}

#[tokio::test]
async fn every_token_has_its_own_server_key_and_session() {
    let app = app().await;
    let a = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let b = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    assert_ne!(a.response.server_public_key, b.response.server_public_key);
    assert_ne!(a.key, b.key);
    assert_eq!(app.gateway.sessions().len(), 2);
}

#[tokio::test]
async fn local_mode_keeps_the_key_out_of_the_token() {
    let config = ConfigBuilder::new(refused_addr())
        .with(|f| f.token.sessions = Some(SessionMode::Local))
        .build();
    let app = spawn_app(config).await;
    let session = handshake(&app, "MOB-APP-2001", "MOB-APP", "TEST123", Kdf::HkdfSha256).await;
    let claims = open_token_with_josekit(&session.token);
    assert!(claims.get("key").is_none(), "{claims}");
    let id = SessionId::parse(claims["jti"].as_str().unwrap()).unwrap();
    assert_eq!(app.gateway.sessions().get(&id).unwrap().key, session.key);
}

#[tokio::test]
async fn an_argon2_hashed_secret_is_checked() {
    let hash = sealgate::token::credentials::hash_argon2(b"human-chosen").unwrap();
    let human = ClientFile {
        secret_hash: Some(hash.into()),
        channels: vec!["MOB-APP-2001".to_owned()],
        ..Default::default()
    };
    let config = ConfigBuilder::new(refused_addr())
        .client("HUMAN", human)
        .build();
    let app = spawn_app(config).await;
    let pk = client_key().public_key_field;
    let ok = token_request(
        &app,
        Some("MOB-APP-2001"),
        &token_body("HUMAN", "human-chosen", &pk),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let bad = token_request(
        &app,
        Some("MOB-APP-2001"),
        &token_body("HUMAN", "human-chosen!", &pk),
    )
    .await;
    assert_failure(&bad, 401, NOT_ALLOWED.0, NOT_ALLOWED.1);
}

//! Public known-answer vectors run through our own code: Wycheproof ECDH P-256 through our
//! JWK point parsing and ECDH, Wycheproof HKDF-SHA256 through our KDF function.

use sealgate::crypto::ecdh::EphemeralKeyPair;
use sealgate::crypto::kdf::hkdf_sha256;
use sealgate::jose::{b64, jwk};
use wycheproof::TestResult;

/// Left-pads or strips an ASN.1-style big-endian integer to 32 bytes.
fn scalar32(bytes: &[u8]) -> Option<[u8; 32]> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    if trimmed.len() > 32 {
        return None;
    }
    let mut out = [0u8; 32];
    out[32 - trimmed.len()..].copy_from_slice(&trimmed);
    Some(out)
}

#[test]
fn wycheproof_ecdh_p256_through_our_jwk_parsing_and_ecdh() {
    let set =
        wycheproof::ecdh::TestSet::load(wycheproof::ecdh::TestName::EcdhSecp256r1Ecpoint).unwrap();
    let (mut agreed, mut refused, mut not_a_jwk) = (0, 0, 0);
    for group in &set.test_groups {
        for test in &group.tests {
            let public: &[u8] = &test.public_key;
            // A JWK carries exactly an uncompressed point's x and y; other encodings
            // (compressed, infinity, wrong length) cannot even be written as one.
            if public.len() != 65 || public[0] != 0x04 {
                assert_ne!(
                    test.result,
                    TestResult::Valid,
                    "tc {} should be expressible",
                    test.tc_id
                );
                not_a_jwk += 1;
                continue;
            }
            let (x, y) = (&public[1..33], &public[33..]);
            let json = format!(
                r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
                b64::encode(x),
                b64::encode(y)
            );
            match jwk::parse_public_p256(json.as_bytes()) {
                Ok(peer) => {
                    assert_ne!(
                        test.result,
                        TestResult::Invalid,
                        "tc {} ({}) accepted",
                        test.tc_id,
                        test.comment
                    );
                    let scalar = scalar32(&test.private_key).unwrap();
                    let pair = EphemeralKeyPair::from_scalar_bytes(&scalar).unwrap();
                    let z = pair.agree(&peer);
                    assert_eq!(
                        &z.expose()[..],
                        &test.shared_secret[..],
                        "tc {}",
                        test.tc_id
                    );
                    agreed += 1;
                }
                Err(_) => {
                    assert_eq!(
                        test.result,
                        TestResult::Invalid,
                        "tc {} ({}) refused",
                        test.tc_id,
                        test.comment
                    );
                    refused += 1;
                }
            }
        }
    }
    eprintln!(
        "wycheproof ECDH P-256: {agreed} agreed, {refused} refused as invalid, {not_a_jwk} not expressible as a JWK"
    );
    assert!(
        agreed > 50 && refused > 0,
        "{agreed} agreed, {refused} refused"
    );
}

#[test]
fn wycheproof_hkdf_sha256_through_our_kdf_function() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        for test in &group.tests {
            // Outputs over 255 × 32 bytes are invalid by RFC 5869; no caller of ours can ask.
            if test.result == TestResult::Invalid {
                continue;
            }
            let mut okm = vec![0u8; test.size];
            hkdf_sha256(&test.ikm, &test.salt, &test.info, &mut okm);
            assert_eq!(okm, *test.okm, "tc {}", test.tc_id);
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

/// The published wire-contract vectors (made with Python `cryptography`).
fn published_vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../clients/test-vectors.json")).unwrap()
}

/// The string at `path` in the vectors.
fn vector_text(v: &serde_json::Value, path: &[&str]) -> String {
    let mut node = v;
    for p in path {
        node = &node[*p];
    }
    node.as_str()
        .unwrap_or_else(|| panic!("{path:?}"))
        .to_owned()
}

/// The key pair whose private scalar (hex) is at `path` in the vectors.
fn vector_pair(v: &serde_json::Value, path: &[&str]) -> EphemeralKeyPair {
    EphemeralKeyPair::from_scalar_bytes(&hex::decode(vector_text(v, path)).unwrap()).unwrap()
}

/// The published wire-contract vectors (made with Python `cryptography`), which every
/// reference client also checks.
#[test]
fn the_published_protocol_vectors_hold_for_our_code() {
    use sealgate::crypto::Key32;
    use sealgate::crypto::kdf::Kdf;
    use sealgate::jose::jwe;

    let v = published_vectors();
    let text = |path: &[&str]| vector_text(&v, path);
    let pair = |who: &str| vector_pair(&v, &[who, "d"]);
    let (client, server) = (pair("client"), pair("server"));
    for (who, p) in [("client", &client), ("server", &server)] {
        let json = jwk::public_to_json(&p.public_key());
        assert_eq!(json, text(&[who, "jwk"]), "{who} JWK");
        assert_eq!(b64::encode(json.as_bytes()), text(&[who, "encoded"]));
    }
    let server_public = jwk::parse_public_p256(text(&["server", "jwk"]).as_bytes()).unwrap();
    let client_public = jwk::parse_public_p256(text(&["client", "jwk"]).as_bytes()).unwrap();
    let z = client.agree(&server_public);
    assert_eq!(z, server.agree(&client_public));
    assert_eq!(hex::encode(z.expose()), text(&["z"]));
    for kdf in [Kdf::HkdfSha256, Kdf::ConcatKdf, Kdf::Raw] {
        assert_eq!(
            hex::encode(kdf.derive(&z).expose()),
            text(&["k", kdf.as_str()]),
            "{kdf}"
        );
    }
    let k = Key32::from_slice(&hex::decode(text(&["k", "hkdf-sha256"])).unwrap()).unwrap();
    let iv: [u8; 12] = hex::decode(text(&["request", "iv"]))
        .unwrap()
        .try_into()
        .unwrap();
    let header = jwe::Header {
        kid: None,
        cty: Some("application/json".into()),
        ..Default::default()
    };
    assert_eq!(jwe::header_json(&header), text(&["request", "protected"]));
    let sealed =
        jwe::seal_with_iv(text(&["request", "plaintext"]).as_bytes(), &k, &header, &iv).unwrap();
    assert_eq!(sealed, text(&["request", "jwe"]));
    let (got, plaintext) =
        jwe::open(text(&["response", "jwe"]).as_bytes(), &k, usize::MAX).unwrap();
    assert_eq!(plaintext, text(&["response", "plaintext"]).as_bytes());
    assert_eq!(
        got.cty.as_deref(),
        Some(text(&["response", "cty"]).as_str())
    );
}

#[test]
fn wycheproof_aes_256_gcm_through_our_codec_primitive() {
    use sealgate::crypto::Key32;
    use sealgate::jose::jwe::{self, JweError};
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let (mut passed, mut refused_iv, mut refused_tag) = (0, 0, 0);
    for group in set.test_groups.iter().filter(|g| g.key_size == 256) {
        for test in &group.tests {
            let key = Key32::from_slice(&test.key).unwrap();
            match jwe::aead_open(&key, &test.nonce, &test.aad, &test.ct, &test.tag) {
                Ok(plaintext) => {
                    assert_eq!(test.result, TestResult::Valid, "tc {} accepted", test.tc_id);
                    assert_eq!(plaintext, *test.pt, "tc {}", test.tc_id);
                    passed += 1;
                }
                Err(JweError::IvLength) => {
                    assert_ne!(test.nonce.len(), 12, "tc {}", test.tc_id);
                    refused_iv += 1;
                }
                Err(JweError::TagLength) => {
                    assert_ne!(test.tag.len(), 16, "tc {}", test.tc_id);
                    refused_tag += 1;
                }
                Err(e) => {
                    assert_eq!(e, JweError::Decrypt);
                    assert_eq!(
                        test.result,
                        TestResult::Invalid,
                        "tc {} ({}) refused",
                        test.tc_id,
                        test.comment
                    );
                }
            }
        }
    }
    eprintln!(
        "wycheproof AES-256-GCM: {passed} opened, {refused_iv} non-12-byte IVs and {refused_tag} short tags refused"
    );
    assert!(passed > 20 && refused_iv > 0);
}

#[test]
fn the_published_handshake_and_binding_vectors_hold_for_our_code() {
    use sealgate::client::{TokenResponse, verify_handshake};
    use sealgate::crypto::Key32;
    use sealgate::jose::jwe;

    let v = published_vectors();
    let text = |path: &[&str]| vector_text(&v, path);
    let pair = |path: &[&str]| vector_pair(&v, path);
    let client_public = jwk::parse_public_p256(text(&["client", "jwk"]).as_bytes()).unwrap();
    // The RFC 7638 thumbprint.
    assert_eq!(
        jwk::thumbprint(&client_public),
        text(&["handshake", "client_thumbprint"])
    );
    // The signed answer, made by Python `cryptography`, verifies with our code.
    let sig = pair(&["handshake", "gateway_sig", "d"]);
    let (kid, payload) = sealgate::token::gateway_keys::verify_compact(
        &text(&["handshake", "signature"]),
        &sig.public_key(),
        "handshake+jws",
    )
    .unwrap();
    assert_eq!(kid.as_deref(), Some("sig-1"));
    assert_eq!(payload, text(&["handshake", "signed_payload"]).as_bytes());
    let response = TokenResponse {
        res_code: "TOK200".into(),
        res_desc: "Success".into(),
        token: "t".into(),
        expiry: v["handshake"]["expiry"].as_i64().unwrap(),
        server_public_key: text(&["server", "encoded"]),
        signature: Some(text(&["handshake", "signature"])),
    };
    verify_handshake(
        &response,
        &[("sig-1".to_owned(), sig.public_key())],
        &client_public,
        "MOB-APP-2001",
    )
    .unwrap();
    // The sealed token request opens with our ECDH-ES.
    let enc = pair(&["handshake", "gateway_enc", "d"]);
    let sealed = text(&["handshake", "sealed_request", "jwe"]);
    let parsed = jwe::parse_as(sealed.as_bytes(), 1 << 16, jwe::Alg::EcdhEs).unwrap();
    assert_eq!(parsed.header.kid.as_deref(), Some("enc-1"));
    // Bound to its time and channel (docs/protocol.md §1.1), and our client writes the same header
    // text, member for member.
    let iat = v["handshake"]["sealed_request"]["iat"].as_i64().unwrap();
    let chn = text(&["handshake", "sealed_request", "chn"]);
    assert_eq!(parsed.header.iat, Some(iat));
    assert_eq!(parsed.header.chn.as_deref(), Some(chn.as_str()));
    let epk = pair(&["handshake", "sealed_request", "epk", "d"]);
    assert_eq!(
        sealgate::client::sealed_token_request_header("enc-1", &epk.public_key(), iat, &chn),
        text(&["handshake", "sealed_request", "protected"])
    );
    assert_eq!(
        parsed.decrypt_ecdh_es(&enc).unwrap(),
        text(&["handshake", "sealed_request", "plaintext"]).as_bytes()
    );
    // Bound messages: our header text, and so our AAD and ciphertext, are Python's.
    let k = Key32::from_slice(&hex::decode(text(&["k", "hkdf-sha256"])).unwrap()).unwrap();
    let iv = |path: &[&str]| -> [u8; 12] { hex::decode(text(path)).unwrap().try_into().unwrap() };
    let body = jwe::Header {
        cty: Some("application/json".into()),
        typ: Some(jwe::TYP_REQUEST.into()),
        htm: Some("POST".into()),
        htp: Some("/api/transfer?from=1".into()),
        ..Default::default()
    };
    assert_eq!(
        jwe::header_json(&body),
        text(&["binding", "body", "protected"])
    );
    assert_eq!(
        jwe::seal_with_iv(
            text(&["binding", "body", "plaintext"]).as_bytes(),
            &k,
            &body,
            &iv(&["binding", "body", "iv"])
        )
        .unwrap(),
        text(&["binding", "body", "jwe"])
    );
    let seal = jwe::Header {
        typ: Some(jwe::TYP_REQUEST.into()),
        htm: Some("GET".into()),
        htp: Some("/api/account/7".into()),
        ..Default::default()
    };
    assert_eq!(
        jwe::seal_with_iv(b"", &k, &seal, &iv(&["binding", "seal", "iv"])).unwrap(),
        text(&["binding", "seal", "jwe"])
    );
    let (header, plaintext) = jwe::open(
        text(&["binding", "response", "jwe"]).as_bytes(),
        &k,
        1 << 16,
    )
    .unwrap();
    assert_eq!(header.typ.as_deref(), Some(jwe::TYP_RESPONSE));
    assert_eq!(
        plaintext,
        text(&["binding", "response", "plaintext"]).as_bytes()
    );
}

//! The JWE codec against an independent implementation (josekit) both ways, and a mutation
//! corpus that must be refused with a stable code and no panic.

use josekit::jwe::{self as jk, JweHeader};
use sealgate::crypto::Key32;
use sealgate::jose::b64;
use sealgate::jose::jwe::{self, Header, JweError};

const KEY: [u8; 32] = [0x11; 32];
const MAX: usize = 1 << 20;

fn key() -> Key32 {
    Key32::from_bytes(KEY)
}

fn josekit_seal(plaintext: &[u8], extra: &[(&str, &str)]) -> String {
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    for (name, value) in extra {
        header.set_claim(name, Some((*value).into())).unwrap();
    }
    let encrypter = jk::Dir.encrypter_from_bytes(KEY).unwrap();
    jk::serialize_compact(plaintext, &header, &encrypter).unwrap()
}

#[test]
fn josekit_sealed_jwes_open_with_our_codec() {
    for (plaintext, extra) in [
        (&b"{\"a\":1}"[..], vec![]),
        (b"", vec![]),
        (
            &[0xffu8; 3000][..],
            vec![("cty", "application/octet-stream"), ("kid", "k")],
        ),
    ] {
        let sealed = josekit_seal(plaintext, &extra);
        let (header, opened) = jwe::open(sealed.as_bytes(), &key(), MAX).unwrap();
        assert_eq!(opened, plaintext);
        let cty = extra
            .iter()
            .find(|(n, _)| *n == "cty")
            .map(|(_, v)| v.to_string());
        assert_eq!(header.cty, cty);
    }
}

#[test]
fn our_jwes_open_with_josekit() {
    let header = Header {
        kid: Some("k1".into()),
        cty: Some("application/json".into()),
        ..Default::default()
    };
    let sealed = jwe::seal(b"{\"b\":2}", &key(), &header).unwrap();
    let decrypter = jk::Dir.decrypter_from_bytes(KEY).unwrap();
    let (payload, got) = jk::deserialize_compact(&sealed, &decrypter).unwrap();
    assert_eq!(payload, b"{\"b\":2}");
    assert_eq!(got.key_id(), Some("k1"));
    assert_eq!(got.content_type(), Some("application/json"));
}

fn segments(sealed: &str) -> Vec<String> {
    sealed.split('.').map(str::to_owned).collect()
}

fn with_header(sealed: &str, header_json: &str) -> String {
    // Re-encrypting is not needed: header checks run before decryption.
    let mut s = segments(sealed);
    s[0] = b64::encode(header_json.as_bytes());
    s.join(".")
}

fn refused(input: &str) -> JweError {
    match jwe::open(input.as_bytes(), &key(), MAX) {
        Ok(_) => panic!("accepted: {input:.80}"),
        Err(e) => e,
    }
}

#[test]
fn the_mutation_corpus_is_refused_with_stable_codes() {
    let good = jwe::seal(b"{\"amount\":100}", &key(), &Header::default()).unwrap();
    let s = segments(&good);
    let mut tried = 0;

    // Every segment dropped, emptied, and bit-flipped.
    for i in 0..5 {
        let mut dropped = s.clone();
        dropped.remove(i);
        assert_eq!(refused(&dropped.join(".")), JweError::SegmentCount);

        // (The encrypted key, segment 1, is empty already.)
        if i != 1 {
            let mut emptied = s.clone();
            emptied[i] = String::new();
            let code = refused(&emptied.join("."));
            let want = [
                JweError::Header,
                JweError::IvLength,
                JweError::Decrypt,
                JweError::TagLength,
            ];
            assert!(want.contains(&code), "segment {i} emptied: {code:?}");
        }

        let bytes = b64::decode_strict(s[i].as_bytes()).unwrap();
        for bit in [0usize, 7, bytes.len().saturating_mul(8).saturating_sub(1)] {
            if bytes.is_empty() {
                continue;
            }
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let mut m = s.clone();
            m[i] = b64::encode(&flipped);
            let code = refused(&m.join("."));
            assert!(
                matches!(
                    code,
                    JweError::Decrypt
                        | JweError::Header
                        | JweError::Algorithm
                        | JweError::Encryption
                ),
                "segment {i} bit {bit}: {code:?}"
            );
            tried += 1;
        }
    }
    // A non-empty encrypted key.
    let mut m = s.clone();
    m[1] = b64::encode(&[0; 32]);
    assert_eq!(refused(&m.join(".")), JweError::EncryptedKey);

    // Tags cut or grown, IVs of the wrong length.
    let tag = b64::decode_strict(s[4].as_bytes()).unwrap();
    for len in [1usize, 4, 8, 12, 15, 17] {
        let mut m = s.clone();
        let mut t = tag.clone();
        t.resize(len, 0);
        m[4] = b64::encode(&t);
        assert_eq!(refused(&m.join(".")), JweError::TagLength, "tag of {len}");
    }
    for len in [0usize, 8, 16] {
        let mut m = s.clone();
        m[2] = b64::encode(&vec![0; len]);
        assert_eq!(refused(&m.join(".")), JweError::IvLength, "iv of {len}");
    }

    // Each forbidden header member, other alg/enc, duplicates, non-objects.
    for name in jwe::FORBIDDEN_HEADER_MEMBERS {
        let h = format!(r#"{{"alg":"dir","enc":"A256GCM","{name}":"x"}}"#);
        assert_eq!(
            refused(&with_header(&good, &h)),
            JweError::ForbiddenMember(name)
        );
    }
    for (h, want) in [
        (r#"{"alg":"A256KW","enc":"A256GCM"}"#, JweError::Algorithm),
        (r#"{"alg":"none","enc":"A256GCM"}"#, JweError::Algorithm),
        (r#"{"enc":"A256GCM"}"#, JweError::Algorithm),
        (r#"{"alg":"dir","enc":"A128GCM"}"#, JweError::Encryption),
        (
            r#"{"alg":"dir","enc":"A256CBC-HS512"}"#,
            JweError::Encryption,
        ),
        (r#"{"alg":"dir"}"#, JweError::Encryption),
        (
            r#"{"alg":"dir","enc":"A256GCM","alg":"dir"}"#,
            JweError::Header,
        ),
        (
            r#"{"alg":"dir","enc":"A256GCM","cty":7}"#,
            JweError::MemberType("cty"),
        ),
        (r#"["dir"]"#, JweError::Header),
        ("not json", JweError::Header),
    ] {
        assert_eq!(refused(&with_header(&good, h)), want, "{h}");
    }

    // Six segments; the JSON serialization; padding and the standard alphabet.
    assert_eq!(refused(&format!("{good}.")), JweError::SegmentCount);
    let json = format!(
        r#"{{"protected":"{}","iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
        s[0], s[2], s[3], s[4]
    );
    assert_eq!(refused(&json), JweError::SegmentCount);
    let mut m = s.clone();
    m[3].push('=');
    assert!(matches!(refused(&m.join(".")), JweError::Base64(_)));
    assert!(tried >= 10);
}

#[test]
fn a_zip_bomb_is_refused_before_anything_is_inflated() {
    // ~80 MB of zeros deflates to ~80 KB: josekit would inflate it without a cap.
    let plaintext = vec![0u8; 80 * 1024 * 1024];
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_compression("DEF");
    let encrypter = jk::Dir.encrypter_from_bytes(KEY).unwrap();
    let bomb = jk::serialize_compact(&plaintext, &header, &encrypter).unwrap();
    assert!(
        bomb.len() > 60_000 && bomb.len() < 200_000,
        "{}",
        bomb.len()
    );
    assert_eq!(refused(&bomb), JweError::ForbiddenMember("zip"));
}

#[test]
fn over_long_input_is_refused_before_decoding() {
    let big = "A".repeat(MAX + 1);
    assert_eq!(refused(&big), JweError::TooLong);
}

//! Property tests of the codec and of token claims.

use proptest::prelude::*;
use sealgate::crypto::Key32;
use sealgate::jose::jwe::{self, Header};
use sealgate::token::keys::{KeyRing, Kid, TokenKey};

const KEY: [u8; 32] = [0x33; 32];

fn key() -> Key32 {
    Key32::from_bytes(KEY)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn seal_then_open_round_trips_any_plaintext(plaintext in proptest::collection::vec(any::<u8>(), 0..65536), cty in proptest::option::of("[a-z]{1,10}/[a-z+.-]{1,20}")) {
        let header = Header::with_cty(cty);
        let sealed = jwe::seal(&plaintext, &key(), &header).unwrap();
        let (got, opened) = jwe::open(sealed.as_bytes(), &key(), usize::MAX).unwrap();
        prop_assert_eq!(opened, plaintext);
        prop_assert_eq!(got, header);
    }

    /// The codec's AES-256-GCM is AWS-LC's; RustCrypto's `aes-gcm` is a second, independent
    /// implementation. Both directions must agree on every key, IV, AAD and plaintext, and a
    /// tag either refuses is refused by the other.
    #[test]
    fn our_aes_gcm_agrees_with_rustcrypto_both_ways(key_bytes in any::<[u8; 32]>(), iv in any::<[u8; 12]>(), aad in proptest::collection::vec(any::<u8>(), 0..64), plaintext in proptest::collection::vec(any::<u8>(), 0..4096), flip in proptest::option::of((any::<prop::sample::Index>(), 0u8..8))) {
        use aes_gcm::aead::AeadInPlace;
        use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
        use sealgate::jose::b64;
        let theirs = Aes256Gcm::new(&key_bytes.into());
        let ours = Key32::from_bytes(key_bytes);

        // RustCrypto seals, we open.
        let mut ciphertext = plaintext.clone();
        let mut tag = theirs.encrypt_in_place_detached(&Nonce::from(iv), &aad, &mut ciphertext).unwrap();
        if let Some((index, bit)) = flip {
            tag[index.index(16)] ^= 1 << bit;
        }
        let opened = jwe::aead_open(&ours, &iv, &aad, &ciphertext, &tag);
        match flip {
            None => prop_assert_eq!(opened.unwrap(), plaintext.clone()),
            Some(_) => prop_assert_eq!(opened, Err(jwe::JweError::Decrypt)),
        }

        // We seal, RustCrypto opens (the AAD of a JWE is its header segment).
        let sealed = jwe::seal_with_iv(&plaintext, &ours, &Header::default(), &iv).unwrap();
        let parts: Vec<&str> = sealed.split('.').collect();
        let mut buffer = b64::decode_strict(parts[3].as_bytes()).unwrap();
        let tag = b64::decode_strict(parts[4].as_bytes()).unwrap();
        prop_assert_eq!(b64::decode_strict(parts[2].as_bytes()).unwrap(), iv.to_vec());
        let tag: [u8; 16] = tag.try_into().unwrap();
        theirs
            .decrypt_in_place_detached(&Nonce::from(iv), parts[0].as_bytes(), &mut buffer, &Tag::from(tag))
            .unwrap();
        prop_assert_eq!(buffer, plaintext);
    }

    #[test]
    fn any_single_bit_flip_is_refused(plaintext in proptest::collection::vec(any::<u8>(), 0..512), position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let sealed = jwe::seal(&plaintext, &key(), &Header::default()).unwrap().into_bytes();
        let mut mutated = sealed.clone();
        let i = position.index(mutated.len());
        mutated[i] ^= 1 << bit;
        prop_assert!(jwe::open(&mutated, &key(), usize::MAX).is_err(), "flip at {} bit {} accepted", i, bit);
    }

    #[test]
    fn truncating_or_extending_any_segment_is_refused(plaintext in proptest::collection::vec(any::<u8>(), 1..512), segment in 0usize..5, cut in 1usize..8, extension in "[A-Za-z0-9_-]{1,8}") {
        let sealed = jwe::seal(&plaintext, &key(), &Header::default()).unwrap();
        let parts: Vec<&str> = sealed.split('.').collect();
        let mut longer: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        longer[segment].push_str(&extension);
        prop_assert!(jwe::open(longer.join(".").as_bytes(), &key(), usize::MAX).is_err(), "extended segment {} accepted", segment);
        if !parts[segment].is_empty() {
            let mut shorter: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            let keep = shorter[segment].len().saturating_sub(cut);
            shorter[segment].truncate(keep);
            prop_assert!(jwe::open(shorter.join(".").as_bytes(), &key(), usize::MAX).is_err(), "truncated segment {} accepted", segment);
        }
    }

    #[test]
    fn claims_with_wrong_typed_dates_are_refused(field in prop::sample::select(vec!["exp", "iat", "nbf"]), value in prop::sample::select(vec!["\"1700000000\"", "true", "null", "[1]", "{}", "1.5", "1e3"])) {
        let mut claims = serde_json::json!({"iss":"sealgate","sub":"A","chn":"C","iat":100,"exp":200,"jti":"AAAAAAAAAAAAAAAAAAAAAA"});
        claims[field] = serde_json::from_str(value).unwrap();
        let token = jwe::seal(claims.to_string().as_bytes(), &key(), &Header { kid: Some("k".into()), ..Default::default() }).unwrap();
        let ring = KeyRing::new(vec![TokenKey { kid: Kid::parse("k").unwrap(), key: key() }]);
        let verified = sealgate::auth::verify(&token, &ring, "sealgate", 0, 150);
        prop_assert!(verified.is_err(), "{} = {} accepted", field, value);
    }
}

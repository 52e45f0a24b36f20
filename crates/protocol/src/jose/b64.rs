//! Base64 decoding with the exact leniency the wire contract allows, and no more.
//!
//! JOSE segments (RFC 7515 §2, "Base64url Encoding") are base64url *without* padding and
//! are decoded strictly. The token request's `publicKey` field is the one documented
//! exception: padding may be present and the standard alphabet (`+/`) is accepted too,
//! because mobile SDKs commonly emit either.

// base64-simd rather than the `base64` crate's general-purpose engine: on the sealed route
// the two decoded and encoded segments cost ~21,000 instructions a request with it (17 % of
// the route's user-space work); the SIMD engine is as strict (the padding, the alphabet and
// canonical trailing bits), which a test below checks against `base64` as the reference.
use base64_simd::URL_SAFE_NO_PAD;
use thiserror::Error;

/// A base64 input that is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum B64Error {
    /// A character outside the alphabet, a bad length, or non-canonical trailing bits.
    #[error("not valid base64url")]
    Invalid,
}

/// Encodes as base64url without padding (RFC 7515 §2).
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode_to_string(bytes)
}

/// Appends the base64url (no padding) form of `bytes` to `out`, with no intermediate
/// string.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_append(bytes, out);
}

/// Decodes strict base64url without padding. Non-canonical encodings (stray trailing bits)
/// are refused so that one byte string has exactly one accepted text form.
pub fn decode_strict(text: &[u8]) -> Result<Vec<u8>, B64Error> {
    URL_SAFE_NO_PAD
        .decode_to_vec(text)
        .map_err(|_| B64Error::Invalid)
}

/// Decodes base64url or standard base64, with or without `=` padding: the token request's
/// `publicKey` rule. Padding, if present, must be correct for the length.
pub fn decode_lenient(text: &[u8]) -> Result<Vec<u8>, B64Error> {
    let unpadded_len = text.iter().rposition(|&c| c != b'=').map_or(0, |i| i + 1);
    let padding = text.len() - unpadded_len;
    if padding > 2 || (padding > 0 && !text.len().is_multiple_of(4)) {
        return Err(B64Error::Invalid);
    }
    let normalized: Vec<u8> = text[..unpadded_len]
        .iter()
        .map(|&c| match c {
            b'+' => b'-',
            b'/' => b'_',
            other => other,
        })
        .collect();
    decode_strict(&normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The engine agrees with the `base64` crate's strict URL-safe, unpadded engine on
        /// every text: the same bytes accepted, the same refused. Texts are drawn near the
        /// alphabet (with `=`, `+`, `/`, whitespace and a high byte mixed in) so that most
        /// are almost valid.
        #[test]
        fn decoding_agrees_with_the_reference(
            text in proptest::collection::vec(proptest::sample::select(
                b"AQgw-_zZ09aB=+/ \n\xc3".to_vec()), 0..80)
        ) {
            use base64::Engine as _;
            let reference = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&text).ok();
            proptest::prop_assert_eq!(decode_strict(&text).ok(), reference);
        }

        /// Encoding agrees with the reference, and decodes back.
        #[test]
        fn encoding_agrees_with_the_reference(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            use base64::Engine as _;
            let text = encode(&bytes);
            proptest::prop_assert_eq!(&text, &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes));
            let mut appended = "x.".to_owned();
            encode_into(&bytes, &mut appended);
            proptest::prop_assert_eq!(&appended[2..], text.as_str());
            proptest::prop_assert_eq!(decode_strict(text.as_bytes()).unwrap(), bytes);
        }
    }

    #[test]
    fn strict_decoding_refuses_padding_and_standard_alphabet() {
        assert_eq!(decode_strict(b"-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(decode_strict(b"-_8=").is_err());
        assert!(decode_strict(b"+/8").is_err());
        assert!(decode_strict(b"a").is_err());
    }

    #[test]
    fn strict_decoding_refuses_non_canonical_trailing_bits() {
        // "QQ" is the canonical form of "A"; "QR" carries stray low bits.
        assert_eq!(decode_strict(b"QQ").unwrap(), b"A");
        assert!(decode_strict(b"QR").is_err());
    }

    #[test]
    fn lenient_decoding_accepts_padding_and_either_alphabet() {
        let want = vec![0xfb, 0xff];
        assert_eq!(decode_lenient(b"-_8").unwrap(), want);
        assert_eq!(decode_lenient(b"-_8=").unwrap(), want);
        assert_eq!(decode_lenient(b"+/8=").unwrap(), want);
        assert_eq!(decode_lenient(b"+/8").unwrap(), want);
    }

    #[test]
    fn lenient_decoding_still_refuses_wrong_padding_and_junk() {
        assert!(decode_lenient(b"-_8==").is_err());
        assert!(decode_lenient(b"QQ=").is_err());
        assert!(decode_lenient(b"Q===").is_err());
        assert!(decode_lenient(b"QQ==QQ==").is_err());
        assert!(decode_lenient(b"Q Q=").is_err());
    }
}

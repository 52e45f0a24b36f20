//! Strict base64url and JSON objects whose member names do not repeat.
//!
//! One byte string has exactly one accepted text form: base64url without padding, the
//! URL-safe alphabet only, and canonical trailing bits (RFC 7515 §2). A JSON object whose
//! member names repeat is refused: RFC 7515 §4 and RFC 7519 §4 let a parser either refuse
//! it or keep the last member, and two parsers that choose differently read one token two
//! ways (a proxy and its backend, say). `serde_json::Map` silently keeps the last one,
//! hence the visitor below. Only the top level is checked; nested objects are values this
//! crate never interprets.

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Decodes strict base64url: no padding, no `+` or `/`, no whitespace, no stray trailing
/// bits (the `base64` crate's `URL_SAFE_NO_PAD` refuses all of these; the tests below pin
/// that down).
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// A JSON object, and whether any member name appeared more than once (the map then holds
/// the last value; callers refuse such an object, or skip it).
#[derive(Debug, Default)]
pub(crate) struct Object {
    pub(crate) members: Map<String, Value>,
    pub(crate) repeated_name: bool,
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Object, A::Error> {
        let mut object = Object::default();
        while let Some(name) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if object.members.insert(name, value).is_some() {
                object.repeated_name = true;
            }
        }
        Ok(object)
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Parses `bytes` as exactly one JSON object with unique member names; `None` for anything
/// else (not JSON, not an object, trailing data, a repeated name). The cause is not kept:
/// serde_json's messages can quote the input, which is not to be echoed.
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Object>(bytes) {
        Ok(Object {
            members,
            repeated_name: false,
        }) => Some(members),
        _ => None,
    }
}

/// The visits of every JSON value that is neither an object nor an array, each giving
/// `$other`: a visitor that takes any value, and cares only for one shape.
macro_rules! visit_scalars_as {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// One element of a JWK Set's `keys` array: an object (perhaps with a repeated member
/// name), or some other JSON value, consumed and dropped. A bad element is skipped, not
/// fatal to the whole set, so the visitor takes every JSON value.
#[derive(Debug)]
pub(crate) enum Element {
    /// A JSON object.
    Object(Object),
    /// Any other JSON value.
    Other,
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;

        impl<'de> Visitor<'de> for ElementVisitor {
            type Value = Element;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Element, A::Error> {
                ObjectVisitor.visit_map(access).map(Element::Object)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Element, A::Error> {
                while access.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Element::Other)
            }

            visit_scalars_as!(Element::Other);
        }

        deserializer.deserialize_any(ElementVisitor)
    }
}

/// The value of a JWK Set's `keys` member: an array, or some other JSON value.
#[derive(Debug)]
enum KeysMember {
    Array(Vec<Element>),
    Other,
}

impl<'de> Deserialize<'de> for KeysMember {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;

        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = KeysMember;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<KeysMember, A::Error> {
                let mut elements = Vec::new();
                while let Some(element) = access.next_element::<Element>()? {
                    elements.push(element);
                }
                Ok(KeysMember::Array(elements))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<KeysMember, A::Error> {
                while access.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(KeysMember::Other)
            }

            visit_scalars_as!(KeysMember::Other);
        }

        deserializer.deserialize_any(KeysVisitor)
    }
}

/// A JWK Set document (RFC 7517 §5): a JSON object with unique member names and a `keys`
/// array; other members are ignored.
#[derive(Debug)]
pub(crate) struct KeySetDocument {
    /// The `keys` array, or `None` when the member is absent or not an array.
    pub(crate) keys: Option<Vec<Element>>,
}

impl<'de> Deserialize<'de> for KeySetDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;

        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = KeySetDocument;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWK Set object")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<KeySetDocument, A::Error> {
                let mut names = HashSet::new();
                let mut keys = None;
                while let Some(name) = access.next_key::<String>()? {
                    if name == "keys" {
                        keys = match access.next_value::<KeysMember>()? {
                            KeysMember::Array(elements) => Some(elements),
                            KeysMember::Other => None,
                        };
                    } else {
                        access.next_value::<IgnoredAny>()?;
                    }
                    if !names.insert(name) {
                        return Err(de::Error::custom("a member name repeats"));
                    }
                }
                Ok(KeySetDocument { keys })
            }
        }

        deserializer.deserialize_map(DocumentVisitor)
    }
}

/// Parses a JWK Set document; `None` when it is not one JSON object with unique member
/// names.
pub(crate) fn parse_key_set(bytes: &[u8]) -> Option<KeySetDocument> {
    serde_json::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(b64url_decode("").unwrap(), Vec::<u8>::new());
        // Padding, the standard alphabet, whitespace, a length no encoding has.
        for text in [
            "-_8=",
            "QQ==",
            "QQ=",
            "+/8",
            "Q Q",
            "QQ\n",
            "a",
            "QUJD\u{e9}",
        ] {
            assert_eq!(b64url_decode(text), None, "{text:?}");
        }
    }

    #[test]
    fn base64url_refuses_non_canonical_trailing_bits() {
        // "QQ" is the one encoding of "A"; "QR" carries stray low bits.
        assert_eq!(b64url_decode("QQ").unwrap(), b"A");
        assert_eq!(b64url_decode("QR"), None);
        assert_eq!(b64url_decode("QUI").unwrap(), b"AB");
        assert_eq!(b64url_decode("QUJ"), None);
    }

    #[test]
    fn objects_must_be_objects_with_unique_names() {
        assert!(parse_object(br#"{"a":1,"b":{"a":1,"a":2}}"#).is_some());
        assert!(parse_object(br#" {"a":1} "#).is_some());
        for text in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"a":1,"b":2,"a":1}"#,
            b"[]",
            b"\"x\"",
            b"1",
            b"null",
            b"",
            b"{",
            b"{} {}",
            b"{}x",
            b"\xef\xbb\xbf{}",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(parse_object(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn key_set_documents_take_any_elements_and_refuse_repeated_top_level_names() {
        let doc = parse_key_set(
            br#"{"keys":[{"a":1},{"a":1,"a":2},[1,[2]],"x",1,-1,1.5,true,null],"other":{"x":[1]}}"#,
        )
        .unwrap();
        let keys = doc.keys.unwrap();
        assert_eq!(keys.len(), 9);
        assert!(matches!(&keys[0], Element::Object(o) if !o.repeated_name));
        assert!(matches!(&keys[1], Element::Object(o) if o.repeated_name));
        assert!(keys[2..].iter().all(|e| matches!(e, Element::Other)));

        assert!(parse_key_set(br#"{"other":1}"#).unwrap().keys.is_none());
        assert!(
            parse_key_set(br#"{"keys":{"a":[]}}"#)
                .unwrap()
                .keys
                .is_none()
        );
        assert!(parse_key_set(br#"{"keys":"x"}"#).unwrap().keys.is_none());
        assert!(parse_key_set(br#"{"keys":[],"keys":[]}"#).is_none());
        assert!(parse_key_set(br#"{"x":1,"keys":[],"x":2}"#).is_none());
        assert!(parse_key_set(br#"[{"keys":[]}]"#).is_none());
        assert!(parse_key_set(br#"{"keys":[]} x"#).is_none());
    }
}

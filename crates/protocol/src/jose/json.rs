//! Strict JSON objects: the top level must be an object and no member name may repeat.
//!
//! RFC 7515 §4 and RFC 7516 §4 require duplicate header parameter names to be rejected (or
//! the last one used); accepting them invites two parsers to disagree on one header, so we
//! reject. `serde_json::Map` silently keeps the last duplicate, hence this visitor.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON object whose member names are known to be unique.
#[derive(Debug, Clone, PartialEq)]
pub struct StrictObject(pub Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique member names")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
                    }
                    let value: Value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl StrictObject {
    /// Parses bytes as one JSON object with unique member names (nested values are not
    /// checked for duplicates: none of the members we read is itself an object).
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The string value of member `name`, `Ok(None)` when absent, `Err(())` when present
    /// with another type.
    #[allow(
        clippy::result_unit_err,
        reason = "callers map the type error to their own"
    )]
    pub fn str_member(&self, name: &str) -> Result<Option<&str>, ()> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(()),
        }
    }

    /// The integer value of member `name` (a JSON number with no fraction or exponent that
    /// fits an `i64`), `Ok(None)` when absent, `Err(())` when present as anything else.
    #[allow(
        clippy::result_unit_err,
        reason = "callers map the type error to their own"
    )]
    pub fn int_member(&self, name: &str) -> Result<Option<i64>, ()> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
            Some(_) => Err(()),
        }
    }

    /// Whether member `name` is present, whatever its value.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_rejected() {
        assert!(StrictObject::parse(br#"{"a":1,"a":2}"#).is_err());
        assert!(StrictObject::parse(br#"{"a":1,"b":2}"#).is_ok());
    }

    #[test]
    fn non_objects_are_rejected() {
        for text in [&b"[]"[..], b"\"x\"", b"1", b"null", b"", b"{", b"{} {}"] {
            assert!(StrictObject::parse(text).is_err(), "{text:?}");
        }
    }
}

//! Secret values as written in the file: a client secret or its hash, a key given inline, a
//! Redis URL that may carry a password. Each is held in a type that never shows its value:
//! `Debug` and `Serialize` (the `check-config --dump` output) write `<redacted>`, and the
//! text is zeroized on drop. A new secret field of the raw configuration takes one of these
//! types; the canary test of [`super::dump`] fails for a string field that shows its value
//! without being declared not secret.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

/// What a redacted value is written as.
pub const REDACTED: &str = "<redacted>";

/// A secret string of the file (`clients.*.secret`, `secret_hash`, `token.keys[].key`,
/// `gateway_keys[].key`).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The value, for the one validation step that turns it into a key or a verifier.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(Zeroizing::new(text))
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Secret(Zeroizing::new(text.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// A Redis URL as written (`sessions.redis.url`, `cluster_nodes`): its scheme, host, port
/// and database are shown, its user name, password and query (`redis+unix://…?pass=`)
/// never. A URL the client library cannot parse is redacted whole.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct SecretUrl(Zeroizing<String>);

impl SecretUrl {
    /// The URL, password included, for the Redis client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with every part that may be secret replaced by `<redacted>`.
    pub fn redacted(&self) -> String {
        let Some(url) = redis::parse_redis_url(&self.0) else {
            return REDACTED.to_owned();
        };
        let mut shown = format!("{}://", url.scheme());
        if !url.username().is_empty() || url.password().is_some() {
            shown.push_str(REDACTED);
            shown.push('@');
        }
        shown.push_str(url.host_str().unwrap_or(""));
        if let Some(port) = url.port() {
            shown.push_str(&format!(":{port}"));
        }
        shown.push_str(url.path());
        if url.query().is_some() || url.fragment().is_some() {
            shown.push('?');
            shown.push_str(REDACTED);
        }
        shown
    }

    /// Whether the URL carries a password (or a user name, which Redis may take as one).
    pub fn has_credentials(&self) -> bool {
        redis::parse_redis_url(&self.0).is_none_or(|url| {
            !url.username().is_empty() || url.password().is_some() || url.query().is_some()
        })
    }
}

impl From<String> for SecretUrl {
    fn from(text: String) -> Self {
        SecretUrl(Zeroizing::new(text))
    }
}

impl From<&str> for SecretUrl {
    fn from(text: &str) -> Self {
        SecretUrl(Zeroizing::new(text.to_owned()))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_its_value() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"<redacted>\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_redis_url_shows_where_it_points_but_no_credential() {
        let cases = [
            (
                "redis://:hunter2@10.0.0.5:6379/0",
                "redis://<redacted>@10.0.0.5:6379/0",
            ),
            (
                "rediss://user:hunter2@cache.internal/1",
                "rediss://<redacted>@cache.internal/1",
            ),
            ("redis://10.0.0.5:6379", "redis://10.0.0.5:6379"),
            (
                "redis+unix:///run/redis.sock?db=1&pass=hunter2",
                "redis+unix:///run/redis.sock?<redacted>",
            ),
            ("not a url hunter2", REDACTED),
        ];
        for (url, shown) in cases {
            let url = SecretUrl::from(url);
            assert_eq!(url.redacted(), shown);
            assert!(!format!("{url:?}").contains("hunter2"));
        }
        assert!(SecretUrl::from("redis://:pw@h").has_credentials());
        assert!(!SecretUrl::from("redis://h:6379/0").has_credentials());
    }
}

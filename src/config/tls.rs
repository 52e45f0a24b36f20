//! `[[tls]]` (the HTTPS listeners, their certificates and client-certificate checks) and
//! `[upstream_tls]` (TLS towards `https://` upstreams).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, filled, invalid, millis};

/// Where an HTTPS listener binds when `listen` is not given.
pub const DEFAULT_TLS_LISTEN: &str = "127.0.0.1:8443";
/// Time for a client to complete the TLS handshake.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often certificate files are checked for changes.
pub const DEFAULT_TLS_RELOAD_POLL: Duration = Duration::from_secs(5);

/// `[[tls]]` as written: one HTTPS listener.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct TlsListenerFile {
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub certificates: Vec<CertFile>,
    pub client_ca_file: Option<String>,
    pub client_cert: Option<ClientCertMode>,
    pub handshake_timeout_ms: Option<u64>,
    pub reload_poll_ms: Option<u64>,
    pub proxy_protocol: Option<bool>,
}

/// `[[tls.certificates]]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct CertFile {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

/// `[upstream_tls]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each field is the config key of the same name, documented in config/gateway.example.toml"
)]
pub struct UpstreamTlsFile {
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
}

/// Whether an mTLS listener requires a client certificate (`tls[].client_cert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertMode {
    /// The handshake fails without a certificate signed by the client CA. The default.
    #[default]
    Required,
    /// A certificate is verified if sent; clients without one still connect.
    Optional,
}

/// One configured certificate chain and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// PEM chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// `[[tls]]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListenerConfig {
    /// Where it binds.
    pub listen: SocketAddr,
    /// Chains and keys; the first is the default, SNI selects among them by DNS name.
    pub certificates: Vec<CertPaths>,
    /// CA bundle for client certificates (mTLS), if any.
    pub client_ca_file: Option<PathBuf>,
    /// See [`ClientCertMode`].
    pub client_cert: ClientCertMode,
    /// See [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// See [`DEFAULT_TLS_RELOAD_POLL`].
    pub reload_poll: Duration,
    /// A PROXY protocol header (v1 or v2) precedes the TLS handshake on every connection.
    pub proxy_protocol: bool,
}

/// `[upstream_tls]`, validated; all `None` means the webpki roots and no client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTlsConfig {
    /// CA bundle to verify upstream certificates instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain presented to upstreams.
    pub client_cert_file: Option<PathBuf>,
    /// Its key.
    pub client_key_file: Option<PathBuf>,
}

pub(super) fn default_tls_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}

pub(super) fn validate_listeners(
    raw: Vec<TlsListenerFile>,
    base: &Path,
) -> Result<Vec<TlsListenerConfig>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, t)| validate_listener(&format!("tls[{i}]"), t, base))
        .collect()
}

fn validate_listener(
    key: &str,
    t: TlsListenerFile,
    base: &Path,
) -> Result<TlsListenerConfig, ConfigError> {
    if t.certificates.is_empty() {
        return Err(invalid(
            format!("{key}.certificates"),
            "needs at least one cert_file/key_file pair",
        ));
    }
    let mut certificates = Vec::new();
    for (j, c) in t.certificates.into_iter().enumerate() {
        let (Some(cert), Some(k)) = (c.cert_file, c.key_file) else {
            return Err(invalid(
                format!("{key}.certificates[{j}]"),
                "needs cert_file and key_file",
            ));
        };
        certificates.push(CertPaths {
            cert_file: base.join(cert),
            key_file: base.join(k),
        });
    }
    if t.client_cert.is_some() && t.client_ca_file.is_none() {
        return Err(invalid(
            format!("{key}.client_cert"),
            "needs client_ca_file",
        ));
    }
    Ok(TlsListenerConfig {
        listen: filled(&format!("{key}.listen"), t.listen)?,
        certificates,
        client_ca_file: t.client_ca_file.map(|f| base.join(f)),
        client_cert: t.client_cert.unwrap_or_default(),
        handshake_timeout: millis(
            &format!("{key}.handshake_timeout_ms"),
            t.handshake_timeout_ms,
        )?,
        reload_poll: millis(&format!("{key}.reload_poll_ms"), t.reload_poll_ms)?,
        proxy_protocol: filled(&format!("{key}.proxy_protocol"), t.proxy_protocol)?,
    })
}

pub(super) fn validate_upstream(
    raw: Option<UpstreamTlsFile>,
    base: &Path,
) -> Result<UpstreamTlsConfig, ConfigError> {
    let Some(u) = raw else {
        return Ok(UpstreamTlsConfig::default());
    };
    if u.client_cert_file.is_some() != u.client_key_file.is_some() {
        return Err(invalid(
            "upstream_tls",
            "set both client_cert_file and client_key_file, or neither",
        ));
    }
    Ok(UpstreamTlsConfig {
        ca_file: u.ca_file.map(|f| base.join(f)),
        client_cert_file: u.client_cert_file.map(|f| base.join(f)),
        client_key_file: u.client_key_file.map(|f| base.join(f)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tls_listen_address_is_the_documented_one() {
        assert_eq!(default_tls_listen().to_string(), DEFAULT_TLS_LISTEN);
    }
}

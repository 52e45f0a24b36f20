//! TLS with rustls and its `ring` crypto provider: listener configurations (TLS 1.2 and
//! 1.3 only, whose suites in rustls are all AEAD; ALPN `h2` and `http/1.1`; SNI selection
//! among several certificates; optional client certificates), certificates that can be
//! replaced on disk without a restart, and the client configuration for `https://`
//! upstreams.
//!
//! `ring` rather than rustls' default `aws-lc-rs`: it builds with only a C compiler, where
//! aws-lc-rs also needs cmake, which a fresh machine here does not have.

pub mod certs;

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

use crate::config::subject::Attribute;
use crate::config::{ClientCertMode, SubjectName, TlsListenerConfig, UpstreamTlsConfig};

pub use certs::CertStore;

/// A TLS set-up that cannot be used; says which file and why.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client CA bundle: {0}")]
    Verifier(String),
}

fn file_error(path: &Path, problem: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        problem: problem.to_string(),
    }
}

/// Makes `ring` the process's default rustls provider, for libraries that build their own
/// rustls configuration (the Redis client's `rediss://`), so every TLS connection of the
/// gateway uses one provider. Harmless when already installed.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The crypto provider every TLS context here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The protocol versions offered: TLS 1.3 and 1.2; nothing older.
pub const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// ALPN identifiers, preferred first (RFC 7301; RFC 9113 §3.2).
pub fn alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

/// Reads every certificate in a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate found"));
    }
    Ok(certs)
}

/// Reads the first private key in a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    warn_if_readable_by_others(path);
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

/// A private key file that everyone may read is a key others may have: said loudly, once
/// per load (not refused). Group-readable is a deliberate choice (0640 with a group only
/// the gateway's user is in, as the Debian package does) and is not warned about.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions());
        if mode & 0o004 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "private key file is readable by everyone: chmod o-r it"
            );
        }
    }
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| file_error(path, e))?;
    }
    Ok(roots)
}

/// The rustls server configuration of one listener, resolving certificates through `store`.
pub fn server_config(
    listener: &TlsListenerConfig,
    store: Arc<CertStore>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
    let builder = match client_verifier(listener)? {
        None => builder.with_no_client_auth(),
        Some(verifier) => builder.with_client_cert_verifier(verifier),
    };
    let mut config = builder.with_cert_resolver(store);
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// The verifier of a listener's client certificates (mTLS), when it has a client CA.
pub fn client_verifier(
    listener: &TlsListenerConfig,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, TlsError> {
    Ok(match &listener.client_ca_file {
        None => None,
        Some(path) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(path)?), provider());
            let verifier = match listener.client_cert {
                ClientCertMode::Required => verifier,
                ClientCertMode::Optional => verifier.allow_unauthenticated(),
            };
            Some(
                verifier
                    .build()
                    .map_err(|e| TlsError::Verifier(e.to_string()))?,
            )
        }
    })
}

/// The rustls client configuration for `https://` upstreams: the configured CA bundle or
/// the webpki roots, and an optional client certificate. SNI is the upstream's host.
pub fn upstream_client_config(upstream: &UpstreamTlsConfig) -> Result<ClientConfig, TlsError> {
    let roots = match &upstream.ca_file {
        Some(path) => roots(path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_root_certificates(roots);
    // ALPN is left empty: hyper-rustls sets it from the HTTP versions the connector enables.
    Ok(
        match (&upstream.client_cert_file, &upstream.client_key_file) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| {
                    file_error(
                        key,
                        format!("unusable with certificate {}: {e}", cert.display()),
                    )
                })?,
            _ => builder.with_no_client_auth(),
        },
    )
}

/// The subject of a verified client certificate, as a structure (compared attribute by
/// attribute, rendered with RFC 4514 escaping, most specific RDN first).
pub fn peer_subject(certs: Option<&[CertificateDer<'_>]>) -> Option<SubjectName> {
    let leaf = certs?.first()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut rdns: Vec<Vec<Attribute>> = parsed
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type();
                    let kind = x509_parser::objects::oid2abbrev(oid, registry).map_or_else(
                        |_| oid.to_id_string(),
                        |name| match name {
                            // RFC 4514 §3's keywords where x509-parser's names differ.
                            "commonName" => "CN".to_owned(),
                            other => other.to_owned(),
                        },
                    );
                    let value = attribute.as_str().map_or_else(
                        |_| format!("#{}", hex::encode(attribute.attr_value().data)),
                        str::to_owned,
                    );
                    Attribute { kind, value }
                })
                .collect()
        })
        .collect();
    // The certificate lists RDNs from the root of the tree; RFC 4514 §2.1 writes the most
    // specific first.
    rdns.reverse();
    Some(SubjectName::from_rdns(rdns))
}

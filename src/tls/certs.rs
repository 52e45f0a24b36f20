//! The certificates a listener serves, replaceable while running: handshakes read the
//! current set through an `ArcSwap`, a reload builds a new set and swaps it in only if every
//! file loads, so a broken file never replaces a working certificate.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{TlsError, provider, read_certs, read_key};
use crate::config::CertPaths;

#[derive(Debug)]
struct Entry {
    /// DNS names from the leaf's subjectAltName (lower case; `*.` wildcards kept).
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

/// A listener's certificates. The first is the default when SNI names none of them.
#[derive(Debug)]
pub struct CertStore {
    paths: Vec<CertPaths>,
    current: ArcSwap<Vec<Entry>>,
    stamp: std::sync::Mutex<Vec<Option<SystemTime>>>,
}

fn load(paths: &[CertPaths]) -> Result<Vec<Entry>, TlsError> {
    let provider = provider();
    paths
        .iter()
        .map(|p| {
            let chain = read_certs(&p.cert_file)?;
            let key = read_key(&p.key_file)?;
            let signing = provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| super::file_error(&p.key_file, e))?;
            let certified = CertifiedKey::new(chain, signing);
            certified.keys_match().map_err(|e| {
                super::file_error(&p.key_file, format!("does not match the certificate: {e}"))
            })?;
            let names = dns_names(
                certified
                    .end_entity_cert()
                    .map_err(|e| super::file_error(&p.cert_file, e))?
                    .as_ref(),
            );
            Ok(Entry {
                names,
                key: Arc::new(certified),
            })
        })
        .collect()
}

fn dns_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// RFC 6125 §6.4.3: a wildcard matches exactly one left-most label.
fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

fn stamps(paths: &[CertPaths]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .flat_map(|p| [&p.cert_file, &p.key_file])
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

impl CertStore {
    /// Loads every certificate; fails (naming the file) if any is unusable.
    pub fn load(paths: Vec<CertPaths>) -> Result<Self, TlsError> {
        let entries = load(&paths)?;
        let stamp = std::sync::Mutex::new(stamps(&paths));
        Ok(CertStore {
            paths,
            current: ArcSwap::from_pointee(entries),
            stamp,
        })
    }

    /// Re-reads the files. On success new handshakes use them; on failure the old
    /// certificates stay and the error is returned for the log.
    pub fn reload(&self) -> Result<(), TlsError> {
        let entries = load(&self.paths)?;
        self.current.store(Arc::new(entries));
        if let Ok(mut stamp) = self.stamp.lock() {
            *stamp = stamps(&self.paths);
        }
        Ok(())
    }

    /// Reloads if any file's modification time changed since the last load. Returns
    /// `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = stamps(&self.paths);
        let changed = self.stamp.lock().map(|s| *s != now).unwrap_or(true);
        if !changed {
            return None;
        }
        let result = self.reload();
        if result.is_err() {
            // Remember the broken files' times so the same failure is logged once.
            if let Ok(mut stamp) = self.stamp.lock() {
                *stamp = now;
            }
        }
        Some(result)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let entries = self.current.load();
        let by_name = hello.server_name().and_then(|sni| {
            let host = sni.to_ascii_lowercase();
            entries
                .iter()
                .find(|e| e.names.iter().any(|n| name_matches(n, &host)))
        });
        by_name
            .or_else(|| entries.first())
            .map(|e| Arc::clone(&e.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_label() {
        assert!(name_matches("*.bank.test", "api.bank.test"));
        assert!(!name_matches("*.bank.test", "a.b.bank.test"));
        assert!(!name_matches("*.bank.test", "bank.test"));
        assert!(name_matches("api.bank.test", "api.bank.test"));
        assert!(!name_matches("api.bank.test", "web.bank.test"));
    }
}

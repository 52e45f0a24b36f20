//! What every request handler is given, in one low module that the handlers
//! ([`crate::handshake`], [`crate::proxy`]) and the lifecycle ([`crate::gateway`]) all
//! import: the facts of the connection a request came on ([`ConnInfo`]) and the state that
//! outlives a configuration ([`AppState`]). Plain data; no behaviour lives here.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::cache::TokenCache;
use crate::clock::Clock;
use crate::config::SubjectName;
use crate::metrics::Metrics;
use crate::state::State;

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address (the TCP peer).
    pub peer: SocketAddr,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    pub scheme: http::uri::Scheme,
    /// The subject of the verified TLS client certificate (mTLS listeners), and its
    /// RFC 4514 text for the upstream.
    pub client_cert_subject: Option<Arc<(SubjectName, String)>>,
    /// The last token verified on this connection.
    pub tokens: Arc<TokenCache>,
}

impl ConnInfo {
    /// A new connection's information, with an empty token cache.
    pub fn new(
        peer: SocketAddr,
        scheme: http::uri::Scheme,
        client_cert_subject: Option<SubjectName>,
    ) -> Self {
        let client_cert_subject = client_cert_subject.map(|name| {
            let text = name.to_string();
            Arc::new((name, text))
        });
        ConnInfo {
            peer,
            scheme,
            client_cert_subject,
            tokens: Arc::default(),
        }
    }
}

/// The application state shared by every request that outlives a configuration.
#[derive(Debug)]
pub struct AppState {
    /// Sessions, revocations, replay memory and issuance counters (memory or Redis).
    pub state: State,
    /// Every exported metric.
    pub metrics: Metrics,
    /// The clock handlers read `now` from.
    pub clock: Clock,
    /// Slots for slow (argon2id) secret checks (see
    /// [`crate::config::DEFAULT_MAX_CONCURRENT_SECRET_CHECKS`]).
    pub secret_checks: tokio::sync::Semaphore,
    /// When this process's gateway was made (unix seconds): with the memory backend,
    /// tokens issued before it are refused (see `sessions.accept_tokens_from_before_start`).
    pub started_at: i64,
}

//! Bearer JWTs from an identity provider (`auth = "jwt"` routes): each provider's JWK Set,
//! kept in memory and fetched again on a schedule, and the verification of a token against
//! it (the crate `sealgate-jwt`, strict and pure, does the verifying).
//!
//! A key set comes from a file (read with the configuration) or from an `https://` URL,
//! fetched at start and every `refresh_interval_secs` by the background task, and again
//! when a token names a key the set lacks (a provider rotating its keys publishes the new
//! one before it signs with it). That fetch happens at most once per
//! `min_refresh_interval_secs` whatever tokens arrive: requests that find one under way
//! wait for it rather than start their own, and a flood of random `kid`s costs the
//! provider one request per interval. A fetch runs in a task of its own, so a client that
//! goes away cannot cancel it halfway (and so hold back every fetch for an interval). A
//! failed fetch keeps the set in hand; a set that parses to no usable key is not taken.
//!
//! The set's certificate is verified against the public roots, or the provider's
//! `jwks_ca_file`: never `[upstream_tls]`'s CA, which is no authority on the provider's
//! keys, and the gateway's client certificate is not shown to the provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use sealgate_jwt::{JwtError, KeySet, Verified};

use crate::auth::AuthError;
use crate::config::{JwksSource, JwtProvider};
use crate::upstream::Connector;

/// The largest JWK Set document read.
const MAX_JWKS_BYTES: usize = sealgate_jwt::keyset::MAX_KEY_SET_BYTES;

/// The key sets of every provider, kept across reloads (by [`JwtProvider::cache_key`]).
#[derive(Debug, Default)]
pub struct Registry {
    stores: Mutex<HashMap<String, Arc<KeyStore>>>,
}

impl Registry {
    /// The store for `provider`: the one a configuration before made, or a new one (with
    /// a file's keys already in it).
    pub fn store(&self, provider: &JwtProvider) -> Arc<KeyStore> {
        let mut stores = self
            .stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = stores
            .entry(provider.cache_key())
            .or_insert_with(|| Arc::new(KeyStore::new(provider)));
        if let JwksSource::File(keys) = &provider.source {
            // A reload re-reads the file.
            store.keys.store(Some(Arc::clone(keys)));
        }
        Arc::clone(store)
    }

    /// Forgets the stores no provider of `providers` uses.
    pub fn retain<'a>(&self, providers: impl Iterator<Item = &'a JwtProvider>) {
        let keep: Vec<String> = providers.map(JwtProvider::cache_key).collect();
        self.stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|key, _| keep.contains(key));
    }
}

/// One provider's key set and when it was last fetched.
#[derive(Debug)]
pub struct KeyStore {
    keys: ArcSwapOption<KeySet>,
    /// Fetches the set (`None` for a file, or when the provider's CA file did not load:
    /// logged, and every fetch then fails).
    connector: Option<Connector>,
    /// When a fetch last started (success or not), and last succeeded.
    fetched: Mutex<Fetched>,
    /// One fetch at a time; requests that need one wait here for it.
    gate: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Fetched {
    attempted: Option<Instant>,
    succeeded: Option<Instant>,
    /// Fetches finished (whatever their outcome): a request that asked for one while
    /// another was under way takes that one's result instead of fetching again.
    finished: u64,
}

impl KeyStore {
    fn new(provider: &JwtProvider) -> Self {
        let keys = match &provider.source {
            JwksSource::File(keys) => Some(Arc::clone(keys)),
            JwksSource::Url(_) => None,
        };
        let trust = crate::config::UpstreamTlsConfig {
            ca_file: provider.jwks_ca_file.clone(),
            ..Default::default()
        };
        let connector = match &provider.source {
            JwksSource::File(_) => None,
            JwksSource::Url(_) => Connector::new(&trust, provider.fetch_timeout)
                .inspect_err(|error| tracing::error!(provider = %provider.name, %error, "the JWK Set's CA file does not load: no key can be fetched"))
                .ok(),
        };
        KeyStore {
            keys: ArcSwapOption::new(keys),
            connector,
            fetched: Mutex::default(),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn fetched(&self) -> Fetched {
        *self.fetched_mut()
    }

    fn fetched_mut(&self) -> std::sync::MutexGuard<'_, Fetched> {
        self.fetched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a scheduled fetch is due: never fetched (and not tried within the minimum
    /// interval), or the last success is older than the refresh interval.
    pub fn due(&self, provider: &JwtProvider) -> bool {
        if !matches!(provider.source, JwksSource::Url(_)) {
            return false;
        }
        let fetched = self.fetched();
        let tried_lately = fetched
            .attempted
            .is_some_and(|at| at.elapsed() < provider.min_refresh_interval);
        let fresh = fetched
            .succeeded
            .is_some_and(|at| at.elapsed() < provider.refresh_interval);
        !fresh && !tried_lately
    }

    /// Fetches the set now (for the schedule, or a key the set lacks), unless one was
    /// fetched while this waited for the gate. Never more than one at a time. The fetch
    /// runs in a task of its own: dropping this future (a client gone) does not stop it.
    pub async fn refresh(self: &Arc<Self>, provider: &Arc<JwtProvider>) {
        let before = self.fetched().finished;
        let (store, provider) = (Arc::clone(self), Arc::clone(provider));
        let _ = tokio::spawn(async move { store.fetch(&provider, before).await }).await;
    }

    async fn fetch(&self, provider: &JwtProvider, before: u64) {
        let (JwksSource::Url(url), Some(connector)) = (&provider.source, &self.connector) else {
            return;
        };
        let _gate = self.gate.lock().await;
        if self.fetched().finished != before {
            // A fetch finished while this one waited (it may have been under way when this
            // was asked for): use what it got.
            return;
        }
        self.fetched_mut().attempted = Some(Instant::now());
        let fetched = connector
            .fetch(url, provider.fetch_timeout, MAX_JWKS_BYTES)
            .await
            .and_then(|bytes| KeySet::from_json(&bytes).map_err(|e| e.to_string()));
        match fetched {
            Ok(keys) if !keys.is_empty() => {
                for skipped in keys.skipped() {
                    tracing::info!(provider = %provider.name, kid = ?skipped.kid, reason = ?skipped.reason, "a key of the JWK Set is not used");
                }
                tracing::debug!(provider = %provider.name, keys = keys.len(), "JWK Set fetched");
                self.keys.store(Some(Arc::new(keys)));
                self.fetched_mut().succeeded = Some(Instant::now());
            }
            Ok(keys) => {
                tracing::warn!(provider = %provider.name, skipped = keys.skipped().len(), "the JWK Set has no usable key: the keys in hand are kept");
            }
            Err(error) => {
                tracing::warn!(provider = %provider.name, %error, "JWK Set fetch failed: the keys in hand are kept");
            }
        }
        self.fetched_mut().finished += 1;
    }

    /// Verifies `token` under `provider`'s policy at `now`. A key the set lacks (or, for a
    /// token naming none, a signature no key verifies) fetches the set once more, if the
    /// minimum interval allows, and the token is tried again.
    pub async fn verify(
        self: &Arc<Self>,
        token: &str,
        provider: &Arc<JwtProvider>,
        now: i64,
    ) -> Result<Verified, AuthError> {
        if self.keys.load().is_none() {
            // Never fetched yet (or every fetch failed): try now, within the interval, or
            // wait for the fetch under way (the first one, at start).
            if self.may_refresh(provider) {
                self.refresh(provider).await;
            } else {
                drop(self.gate.lock().await);
            }
        }
        let Some(keys) = self.keys.load_full() else {
            return Err(AuthError::KeysUnavailable);
        };
        // Each fetch waits at the gate, and each is bounded by the fetch timeout.
        match sealgate_jwt::verify(token, &keys, &provider.policy, now) {
            Err(error) if refreshable(&error, token) => {
                if self.may_refresh(provider) {
                    self.refresh(provider).await;
                } else if self.gate.try_lock().is_err() {
                    // A fetch is under way (the schedule's, or another request's): its
                    // keys may be the ones this token needs.
                    drop(self.gate.lock().await);
                } else {
                    return Err(refusal(error));
                }
                let keys = self.keys.load_full().ok_or(AuthError::KeysUnavailable)?;
                sealgate_jwt::verify(token, &keys, &provider.policy, now).map_err(refusal)
            }
            other => other.map_err(refusal),
        }
    }

    fn may_refresh(&self, provider: &JwtProvider) -> bool {
        matches!(provider.source, JwksSource::Url(_))
            && self
                .fetched()
                .attempted
                .is_none_or(|at| at.elapsed() >= provider.min_refresh_interval)
    }
}

/// Whether a refusal could be cured by newer keys: a `kid` the set lacks, or a token that
/// names no `kid` and does not verify (the provider may have rotated its only key).
fn refreshable(error: &JwtError, token: &str) -> bool {
    match error {
        JwtError::UnknownKid { .. } => true,
        JwtError::BadSignature => !token_names_kid(token),
        _ => false,
    }
}

/// Whether the token's header has a `kid` (read loosely: only to decide on a refresh; the
/// verifier reads it strictly).
fn token_names_kid(token: &str) -> bool {
    use base64::Engine;
    token
        .split('.')
        .next()
        .and_then(|header| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .ok()
        })
        .and_then(|header| serde_json::from_slice::<serde_json::Value>(&header).ok())
        .is_some_and(|header| header.get("kid").is_some())
}

/// The gateway's refusal for a verifier's.
fn refusal(error: JwtError) -> AuthError {
    match error {
        JwtError::Malformed(why) => AuthError::Malformed(why),
        JwtError::ForbiddenHeader(_) | JwtError::WrongType => {
            AuthError::Malformed("header not acceptable")
        }
        JwtError::UnknownKid { .. } => AuthError::UnknownKid,
        JwtError::Expired => AuthError::Expired,
        JwtError::NotYetValid => AuthError::NotYetValid,
        JwtError::AlgorithmNotAllowed => AuthError::Invalid("algorithm not allowed"),
        JwtError::KeyMismatch => AuthError::Invalid("key does not fit the algorithm"),
        JwtError::BadSignature => AuthError::Invalid("signature"),
        JwtError::WrongIssuer => AuthError::Invalid("issuer"),
        JwtError::WrongAudience => AuthError::Invalid("audience"),
        JwtError::LifetimeTooLong => AuthError::Invalid("lifetime too long"),
        JwtError::MissingClaim(_) => AuthError::Invalid("claim missing"),
    }
}

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
//! provider one request per interval. A failed fetch keeps the set in hand; a set that
//! parses to no usable key is not taken.

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
    /// When a fetch last started (success or not), and last succeeded.
    fetched: Mutex<Fetched>,
    /// One fetch at a time; requests that need one wait here for it.
    gate: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Fetched {
    attempted: Option<Instant>,
    succeeded: Option<Instant>,
}

impl KeyStore {
    fn new(provider: &JwtProvider) -> Self {
        let keys = match &provider.source {
            JwksSource::File(keys) => Some(Arc::clone(keys)),
            JwksSource::Url(_) => None,
        };
        KeyStore {
            keys: ArcSwapOption::new(keys),
            fetched: Mutex::default(),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn fetched(&self) -> Fetched {
        *self
            .fetched
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
    /// fetched while this waited for the gate. Never more than one at a time.
    pub async fn refresh(&self, provider: &JwtProvider, connector: &Connector) {
        let JwksSource::Url(url) = &provider.source else {
            return;
        };
        let before = self.fetched().attempted;
        let _gate = self.gate.lock().await;
        if self.fetched().attempted != before {
            // Another request fetched while this one waited: use what it got.
            return;
        }
        self.fetched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .attempted = Some(Instant::now());
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
                self.fetched
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .succeeded = Some(Instant::now());
            }
            Ok(keys) => {
                tracing::warn!(provider = %provider.name, skipped = keys.skipped().len(), "the JWK Set has no usable key: the keys in hand are kept");
            }
            Err(error) => {
                tracing::warn!(provider = %provider.name, %error, "JWK Set fetch failed: the keys in hand are kept");
            }
        }
    }

    /// Verifies `token` under `provider`'s policy at `now`. A key the set lacks (or, for a
    /// token naming none, a signature no key verifies) fetches the set once more, if the
    /// minimum interval allows, and the token is tried again.
    pub async fn verify(
        &self,
        token: &str,
        provider: &JwtProvider,
        connector: &Connector,
        now: i64,
    ) -> Result<Verified, AuthError> {
        if self.keys.load().is_none() {
            // Never fetched yet (or every fetch failed): try now, within the interval, or
            // wait for the fetch under way (the first one, at start).
            if self.may_refresh(provider) {
                self.refresh(provider, connector).await;
            } else {
                drop(self.gate.lock().await);
            }
        }
        let Some(keys) = self.keys.load_full() else {
            return Err(AuthError::KeysUnavailable);
        };
        // Each fetch waits at the gate, and each is bounded by the fetch timeout.
        match sealgate_jwt::verify(token, &keys, &provider.policy, now) {
            Err(error) if refreshable(&error, token) && self.may_refresh(provider) => {
                self.refresh(provider, connector).await;
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

//! The defaults, once: [`fill`] sets every key a file leaves out to its default. Validation
//! ([`Config::build`](super::Config)) reads the filled file and holds no default of its own,
//! and `check-config --dump` prints the filled file, so what the dump shows is what is
//! validated, by construction. The `DEFAULT_*` constants of each section's file are read
//! here and nowhere else in validation.

use std::time::Duration;

use super::*;
use crate::wire::{X_CHANNEL, X_CLIENT_ID};

/// `file` with every key left out set to its default (a key whose absence means "off", such
/// as `routes[].max_in_flight` or `[token.cors]`, stays absent).
pub fn fill(mut file: FileConfig) -> FileConfig {
    server(&mut file.server);
    token(&mut file.token);
    for channel in file.channels.values_mut() {
        channel.kdf.get_or_insert_default();
        channel
            .token_lifetime_secs
            .get_or_insert(DEFAULT_TOKEN_LIFETIME.as_secs());
        channel.require_request_binding.get_or_insert(false);
        channel.require_sealed_token_request.get_or_insert(false);
    }
    for client in file.clients.values_mut() {
        client.enabled.get_or_insert(true);
    }
    for provider in file.jwt_providers.values_mut() {
        provider
            .algorithms
            .get_or_insert_with(|| DEFAULT_JWT_ALGORITHMS.to_vec());
        provider
            .leeway_secs
            .get_or_insert(DEFAULT_JWT_LEEWAY.as_secs());
        provider
            .refresh_interval_secs
            .get_or_insert(DEFAULT_JWKS_REFRESH_INTERVAL.as_secs());
        provider
            .min_refresh_interval_secs
            .get_or_insert(DEFAULT_JWKS_MIN_REFRESH_INTERVAL.as_secs());
        provider
            .fetch_timeout_ms
            .get_or_insert(ms(DEFAULT_JWKS_FETCH_TIMEOUT));
    }
    let shared_state = file.sessions.backend == Some(BackendKind::Redis);
    for route in &mut file.routes {
        self::route(route, shared_state);
    }
    for listener in &mut file.tls {
        tls(listener);
    }
    let admin = &mut file.admin;
    admin.enabled.get_or_insert(true);
    admin
        .listen
        .get_or_insert_with(super::admin::default_admin_listen);
    admin
        .max_connections
        .get_or_insert(DEFAULT_ADMIN_MAX_CONNECTIONS);
    admin
        .header_read_timeout_ms
        .get_or_insert(ms(DEFAULT_ADMIN_HEADER_READ_TIMEOUT));
    for key in &mut file.gateway_keys {
        key.issue.get_or_insert(true);
    }
    sessions(&mut file.sessions);
    let access = &mut file.access_log;
    access.enabled.get_or_insert(true);
    access.path.get_or_insert_with(|| "-".to_owned());
    access.format.get_or_insert(AccessFormat::Text);
    access
        .queue_lines
        .get_or_insert(DEFAULT_ACCESS_LOG_QUEUE_LINES);
    // Tracing's other keys matter only with an endpoint: filled in when it is set.
    let tracing = &mut file.tracing;
    if tracing.otlp_endpoint.is_some() {
        tracing
            .service_name
            .get_or_insert_with(|| "sealgate".to_owned());
        tracing.sample_ratio.get_or_insert(1.0);
        tracing.follow_client_sampling.get_or_insert(false);
        tracing.queue_spans.get_or_insert(DEFAULT_TRACE_QUEUE_SPANS);
        tracing
            .export_timeout_ms
            .get_or_insert(ms(DEFAULT_TRACE_EXPORT_TIMEOUT));
        tracing
            .export_interval_ms
            .get_or_insert(ms(DEFAULT_TRACE_EXPORT_INTERVAL));
    }
    file
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn server(s: &mut ServerFile) {
    s.listen.get_or_insert_with(super::server::default_listen);
    s.max_connections.get_or_insert(DEFAULT_MAX_CONNECTIONS);
    s.max_in_flight.get_or_insert(DEFAULT_MAX_IN_FLIGHT);
    s.header_read_timeout_ms
        .get_or_insert(ms(DEFAULT_HEADER_READ_TIMEOUT));
    s.body_read_timeout_ms
        .get_or_insert(ms(DEFAULT_BODY_READ_TIMEOUT));
    s.shutdown_grace_ms
        .get_or_insert(ms(DEFAULT_SHUTDOWN_GRACE));
    s.max_headers.get_or_insert(DEFAULT_MAX_HEADERS);
    s.max_header_bytes.get_or_insert(DEFAULT_MAX_HEADER_BYTES);
    s.upstream_connect_timeout_ms
        .get_or_insert(ms(DEFAULT_UPSTREAM_CONNECT_TIMEOUT));
    s.http2_max_concurrent_streams
        .get_or_insert(DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS);
    s.http2_keepalive_interval_ms
        .get_or_insert(ms(DEFAULT_HTTP2_KEEPALIVE_INTERVAL));
    s.http2_keepalive_timeout_ms
        .get_or_insert(ms(DEFAULT_HTTP2_KEEPALIVE_TIMEOUT));
    s.proxy_protocol.get_or_insert(false);
    s.drain_delay_ms.get_or_insert(ms(DEFAULT_DRAIN_DELAY));
    s.send_timeout_ms.get_or_insert(ms(DEFAULT_SEND_TIMEOUT));
    // 0: one worker per CPU the process may run on, counted at start (server::workers).
    s.workers.get_or_insert(0);
    let max_connections = s.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    s.max_connections_per_address
        .get_or_insert((max_connections / DEFAULT_ADDRESS_SHARE_DIVISOR).max(1));
}

fn token(t: &mut TokenFile) {
    t.path.get_or_insert_with(|| DEFAULT_TOKEN_PATH.to_owned());
    t.issuer.get_or_insert_with(|| DEFAULT_ISSUER.to_owned());
    t.max_body_bytes.get_or_insert(DEFAULT_TOKEN_MAX_BODY);
    t.sessions.get_or_insert_default();
    t.max_sessions.get_or_insert(DEFAULT_MAX_SESSIONS);
    t.sweep_interval_ms
        .get_or_insert(ms(DEFAULT_SWEEP_INTERVAL));
    t.leeway_secs.get_or_insert(DEFAULT_LEEWAY.as_secs());
    t.max_requests_per_session
        .get_or_insert(DEFAULT_MAX_REQUESTS_PER_SESSION);
    t.authorization_header
        .get_or_insert_with(|| DEFAULT_AUTHORIZATION_HEADER.to_owned());
    t.revocation.get_or_insert(false);
    t.client_id_header
        .get_or_insert_with(|| X_CLIENT_ID.as_str().to_owned());
    t.channel_header
        .get_or_insert_with(|| X_CHANNEL.as_str().to_owned());
    t.rate_limit_per_client_per_minute.get_or_insert(0);
    t.rate_limit_per_address_per_minute
        .get_or_insert(DEFAULT_RATE_LIMIT_PER_ADDRESS);
    t.max_concurrent_secret_checks
        .get_or_insert(DEFAULT_MAX_CONCURRENT_SECRET_CHECKS);
    t.accept_unbound_sealed_token_requests.get_or_insert(false);
    if let Some(c) = &mut t.cors {
        cors(c);
    }
    for key in &mut t.keys {
        key.issue.get_or_insert(true);
    }
}

fn cors(c: &mut CorsFile) {
    let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    c.allowed_methods
        .get_or_insert_with(|| list(&DEFAULT_CORS_ALLOWED_METHODS));
    c.allowed_headers
        .get_or_insert_with(|| list(&DEFAULT_CORS_ALLOWED_HEADERS));
    c.exposed_headers
        .get_or_insert_with(|| list(&DEFAULT_CORS_EXPOSED_HEADERS));
    c.allow_credentials.get_or_insert(false);
    c.max_age_secs.get_or_insert(DEFAULT_CORS_MAX_AGE.as_secs());
}

fn route(r: &mut RouteFile, shared_state: bool) {
    r.strip_prefix.get_or_insert(false);
    r.upstream_protocol.get_or_insert_default();
    let with_token = *r.auth.get_or_insert_default() == RouteAuth::Token;
    r.encrypted_request.get_or_insert(with_token);
    r.encrypted_response.get_or_insert(with_token);
    r.max_body_bytes.get_or_insert(DEFAULT_ROUTE_MAX_BODY);
    r.upstream_timeout_ms
        .get_or_insert(ms(DEFAULT_UPSTREAM_TIMEOUT));
    r.eject_after_failures
        .get_or_insert(DEFAULT_EJECT_AFTER_FAILURES);
    r.eject_failure_percent
        .get_or_insert(DEFAULT_EJECT_FAILURE_PERCENT);
    r.eject_min_requests
        .get_or_insert(DEFAULT_EJECT_MIN_REQUESTS);
    r.max_ejected_percent
        .get_or_insert(DEFAULT_MAX_EJECTED_PERCENT);
    r.ejection_ms.get_or_insert(ms(DEFAULT_EJECTION));
    r.reuse_after_idle_ms
        .get_or_insert(ms(DEFAULT_REUSE_AFTER_IDLE));
    if let Some(retry) = &mut r.retry {
        retry.attempts.get_or_insert(DEFAULT_RETRY_ATTEMPTS);
        retry
            .budget_percent
            .get_or_insert(DEFAULT_RETRY_BUDGET_PERCENT);
        retry
            .min_per_window
            .get_or_insert(DEFAULT_RETRY_MIN_PER_WINDOW);
    }
    if let Some(h) = &mut r.health_check {
        h.path.get_or_insert_with(|| "/".to_owned());
        h.interval_ms.get_or_insert(ms(DEFAULT_HEALTH_INTERVAL));
        h.timeout_ms.get_or_insert(ms(DEFAULT_HEALTH_TIMEOUT));
        h.healthy_threshold.get_or_insert(DEFAULT_HEALTHY_THRESHOLD);
        h.unhealthy_threshold
            .get_or_insert(DEFAULT_UNHEALTHY_THRESHOLD);
    }
    if let Some(c) = &mut r.cors {
        cors(c);
    }
    if let Some(w) = &mut r.websocket {
        w.idle_timeout_ms
            .get_or_insert(ms(DEFAULT_WEBSOCKET_IDLE_TIMEOUT));
        w.max_duration_ms
            .get_or_insert(ms(DEFAULT_WEBSOCKET_MAX_DURATION));
        w.max_tunnels.get_or_insert(DEFAULT_WEBSOCKET_MAX_TUNNELS);
    }
    if let Some(l) = &mut r.rate_limit {
        l.key.get_or_insert(if with_token {
            RateKey::Client
        } else {
            RateKey::Address
        });
        l.period_secs.get_or_insert(DEFAULT_RATE_PERIOD.as_secs());
        l.ipv6_prefix.get_or_insert(DEFAULT_RATE_IPV6_PREFIX);
        if let Some(requests) = l.requests {
            l.burst.get_or_insert(requests);
        }
        l.store.get_or_insert(if shared_state {
            RateStore::Shared
        } else {
            RateStore::Local
        });
    }
}

fn tls(t: &mut TlsListenerFile) {
    t.listen.get_or_insert_with(super::tls::default_tls_listen);
    if t.client_ca_file.is_some() {
        // Only with a CA: `client_cert` without one is refused.
        t.client_cert.get_or_insert_default();
    }
    t.handshake_timeout_ms
        .get_or_insert(ms(DEFAULT_TLS_HANDSHAKE_TIMEOUT));
    t.reload_poll_ms.get_or_insert(ms(DEFAULT_TLS_RELOAD_POLL));
    t.proxy_protocol.get_or_insert(false);
}

fn sessions(s: &mut SessionsFile) {
    s.backend.get_or_insert_default();
    let sessions = *s
        .replay_memory_sessions
        .get_or_insert(DEFAULT_REPLAY_MEMORY_SESSIONS);
    let (per_address, per_prefix) = replay_share_defaults(sessions);
    let per_address = *s.replay_memory_per_address.get_or_insert(per_address);
    s.replay_memory_per_prefix
        .get_or_insert(per_prefix.max(per_address));
    s.accept_tokens_from_before_start.get_or_insert(false);
    if let Some(r) = &mut s.redis {
        r.key_prefix
            .get_or_insert_with(|| DEFAULT_REDIS_KEY_PREFIX.to_owned());
        r.timeout_ms.get_or_insert(ms(DEFAULT_REDIS_TIMEOUT));
        r.connect_timeout_ms
            .get_or_insert(ms(DEFAULT_REDIS_CONNECT_TIMEOUT));
        r.on_unavailable.get_or_insert_default();
    }
}

/// The default shares of a replay memory of `sessions`: per address and per prefix.
pub fn replay_share_defaults(sessions: usize) -> (usize, usize) {
    (
        (sessions / DEFAULT_REPLAY_SHARE_PER_ADDRESS).max(1),
        (sessions / DEFAULT_REPLAY_SHARE_PER_PREFIX).max(1),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The defaults live in [`super::fill`] alone: outside this file and the dump's, a
    /// `DEFAULT_*` constant may be defined, documented or asserted in a test, never read by
    /// validation (which would make a second table that could drift from the dump).
    #[test]
    fn validation_reads_no_default_of_its_own() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if ["defaults.rs", "dump.rs"].contains(&name.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                let is_doc = line.starts_with("//");
                let is_definition = line.starts_with("pub const DEFAULT_")
                    || line.starts_with("pub(crate) const DEFAULT_")
                    || line.starts_with("const DEFAULT_");
                if line.contains("DEFAULT_") && !is_doc && !is_definition {
                    found.push(format!("{name}:{}: {line}", n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "defaults read outside config/defaults.rs:\n{}",
            found.join("\n")
        );
    }
}

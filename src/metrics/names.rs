//! Metric names, in one place (docs/operations.md's metrics table lists the same). The registry
//! appends `_total` to counters in the exposition.

/// Gauge: 1, label `version`: the running build.
pub const BUILD_INFO: &str = "sealgate_build_info";
/// Counter: requests answered, labels `route`, `method`, `code` (the HTTP status).
pub const REQUESTS: &str = "sealgate_requests";
/// Histogram: whole-request latency in seconds, label `route`.
pub const REQUEST_DURATION: &str = "sealgate_request_duration_seconds";
/// Histogram: time until the upstream's response head, label `route`.
pub const UPSTREAM_DURATION: &str = "sealgate_upstream_duration_seconds";
/// Counter: token endpoint answers, label `res_code` (`TOK200`, `TOK002`, …).
pub const TOKENS: &str = "sealgate_tokens";
/// Gauge: WebSocket tunnels open.
pub const TUNNELS_OPEN: &str = "sealgate_tunnels_open";
/// Counter: WebSocket tunnels closed, labels `route` and `reason` (`closed`: both sides
/// closed; `idle`, `max_duration`: a deadline; `error`: a socket failed).
pub const TUNNELS_CLOSED: &str = "sealgate_tunnels_closed";
/// Counter: requests refused by a route's rate limit (`RATE001`), labels `route` and `key`
/// (`client`, `session`, `address`).
pub const RATE_LIMITED: &str = "sealgate_rate_limited";
/// Counter: proxied requests refused by the gateway (verify and decrypt failures and the
/// rest), labels `route` and `res_code` (`AUTH004`, `BODY002`, …).
pub const REJECTED: &str = "sealgate_rejected";
/// Counter: upstream failures, labels `route` and `kind` (`unreachable`, `invalid`,
/// `too_large`, `timeout`).
pub const UPSTREAM_ERRORS: &str = "sealgate_upstream_errors";
/// Gauge: sessions held in memory.
pub const SESSIONS_LIVE: &str = "sealgate_sessions_live";
/// Gauge: client connections open.
pub const CONNECTIONS_OPEN: &str = "sealgate_connections_open";
/// Gauge: argon2id secret checks running now (at most `token.max_concurrent_secret_checks`).
pub const SECRET_CHECKS_RUNNING: &str = "sealgate_secret_checks_running";
/// Counter: TLS handshakes, label `outcome` (`ok`, `failed`, `timeout`).
pub const TLS_HANDSHAKES: &str = "sealgate_tls_handshakes";
/// Counter: reloads of a listener's certificate files (on a change or SIGHUP), label
/// `outcome` (`ok`, `refused`: the files did not load, the served certificates were kept).
pub const CERTIFICATE_RELOADS: &str = "sealgate_certificate_reloads";
/// Counter: configuration reloads, label `outcome` (`ok`, `refused`).
pub const CONFIG_RELOADS: &str = "sealgate_config_reloads";
/// Counter: sessions revoked.
pub const REVOCATIONS: &str = "sealgate_revocations";
/// Counter: messages sealed under each token key by this process, by `kid` (tokens
/// and session records). AES-GCM with random 96-bit IVs allows 2^32 per key (NIST SP
/// 800-38D §8.3); a warning is logged from 2^30 on.
pub const TOKEN_KEY_SEALS: &str = "sealgate_token_key_seals";
/// Histogram: Redis call latency in seconds, label `op`.
pub const REDIS_DURATION: &str = "sealgate_redis_duration_seconds";
/// Counter: Redis calls that failed or timed out, label `op`.
pub const REDIS_ERRORS: &str = "sealgate_redis_errors";
/// Counter: checks served from this instance's memory because Redis was unavailable and
/// `on_unavailable = "degrade"`, label `op`.
pub const STATE_DEGRADED: &str = "sealgate_state_degraded";
/// Gauge: 1 when the last Redis health check succeeded.
pub const REDIS_UP: &str = "sealgate_redis_up";
/// Counter: requests to each upstream instance, by `route`, `upstream` and `outcome`
/// (`ok`, `5xx`, or the failure: `unreachable`, `invalid`, `too_large`, `timeout`).
pub const UPSTREAM_INSTANCE_REQUESTS: &str = "sealgate_upstream_instance_requests";
/// Gauge: 1 when an upstream instance is in its route's rotation, 0 when ejected or
/// marked down by its health check, by `route` and `upstream`.
pub const UPSTREAM_INSTANCE_UP: &str = "sealgate_upstream_instance_up";
/// Counter: ejections of an upstream instance by outlier detection (connections refused in
/// a row, or a failure ratio well above its siblings'), by `route` and `upstream`.
pub const UPSTREAM_EJECTIONS: &str = "sealgate_upstream_ejections";
/// Counter: upstream answers that broke HTTP framing (`reason`: `bytes_while_idle`,
/// `ambiguous_length`, `unasked_upgrade`), by `route` and `upstream`; each suspends
/// keep-alive to the instance for a while.
pub const UPSTREAM_BREACHES: &str = "sealgate_upstream_breaches";
/// Counter: retries on another instance, by `route` and `outcome` (`sent`, or `budget`
/// when the retry budget refused one).
pub const UPSTREAM_RETRIES: &str = "sealgate_upstream_retries";
/// Counter: client connections refused or cut by the gateway, by `reason`
/// (`address_share`: the address holds its share of connections; `send_timeout`: the
/// client read nothing of its answer for `server.send_timeout_ms`).
pub const CONNECTIONS_CUT: &str = "sealgate_connections_cut";
/// Counter: client connections accepted, by `worker` (`server.workers`): how evenly the
/// workers share them.
pub const WORKER_CONNECTIONS: &str = "sealgate_worker_connections";
/// Histogram: time to an upstream instance's response head, by `route` and `upstream`.
pub const UPSTREAM_INSTANCE_DURATION: &str = "sealgate_upstream_instance_duration_seconds";
/// Counter: access lines dropped because the writer's queue was full.
pub const ACCESS_LOG_DROPPED: &str = "sealgate_access_log_dropped";
/// Counter: spans dropped because the export queue was full.
pub const TRACE_SPANS_DROPPED: &str = "sealgate_trace_spans_dropped";

package io.sealgate.client;

/**
 * What went wrong, in terms of what an app can do about it. The same vocabulary in every sealgate
 * client library (docs/clients.md, "What to do with an error").
 */
public enum ErrorKind {
    /** {@code TOK002}, {@code TOK004}: the channel, {@code apiKey} or secret is wrong, or the client is disabled. Not retryable. */
    CREDENTIALS_REFUSED,
    /**
     * The gateway refused the request as malformed: {@code TOK003} with 400, {@code BODY001/002/006–009},
     * {@code AUTH001/002/004}, and every other 4xx gateway error. A client bug (or a wrong pinned key, a
     * device clock far off for a sealed token request). Not retried automatically; after
     * {@code AUTH001/002/004} the client drops its session, so the next call makes a new handshake.
     */
    REQUEST_REFUSED,
    /** 429 or 503: wait ({@link SealgateException#retryAfterSeconds()} when the gateway said how long), then try again. */
    RETRY_LATER,
    /**
     * {@code AUTH003}, {@code AUTH005}, {@code AUTH007}, {@code AUTH009}, {@code AUTH010}, {@code AUTH011}: the
     * session is over. The client already made a new handshake and sent the call once more; this is raised
     * when that second attempt was refused the same way.
     */
    SESSION_EXPIRED,
    /**
     * {@code AUTH008}: these exact bytes were accepted before, so the first attempt may have reached the
     * upstream. Never retried automatically; call again only if the operation is safe to repeat.
     */
    REPLAYED,
    /** {@code AUTH006}: the token looks issued in the future (clocks differ by more than the leeway). */
    CLOCK_SKEW,
    /**
     * Found by this client: the token answer is not signed by a trusted key, is signed over something else,
     * carries a bad server key, or is malformed; or the gateway's JWK Set is unusable. Nothing was derived.
     */
    HANDSHAKE_INVALID,
    /**
     * Found by this client: a sealed answer that does not open or is not typed {@code response+jwe}, or a
     * 2xx (or other non-error) answer in clear from a route that seals its answers.
     */
    RESPONSE_INVALID,
    /** Any other gateway error {@code {resCode, resDesc}}, such as {@code UPSTREAM001}–{@code 005} or {@code GATEWAY500}. */
    GATEWAY_ERROR,
    /** The connection failed (I/O error, timeout, TLS failure). */
    TRANSPORT
}

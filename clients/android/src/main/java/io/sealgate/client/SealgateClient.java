package io.sealgate.client;

import java.io.Closeable;
import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PublicKey;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A sealgate client: the authenticated handshake, the session, and bound, sealed calls
 * (docs/protocol.md §1.1, §2, §4, §4.1).
 *
 * <pre>{@code
 * SealgateClient client = SealgateClient.builder("https://api.example.com")
 *     .channel("MOB-APP-2001").apiKey("MOB-APP").secret(secretChars)
 *     .trust(GatewayTrust.fromJwks(pinnedJwksText))
 *     .build();
 * Response r = client.call("POST", "/api/transfer?from=1", json.getBytes(UTF_8), "application/json");
 * }</pre>
 *
 * <p><b>Handshake.</b> The first call (or {@link #handshake()}) makes a new P-256 key pair and asks
 * for a token. With a {@link GatewayTrust} the request is sealed (ECDH-ES + A256GCM) to the gateway's
 * {@code enc} key with {@code iat} and {@code chn} in its header and a new {@code epk} every attempt,
 * and the answer's ES256 signature is checked, by the {@code sig} key its {@code kid} names, before
 * anything is derived from it. A JWK Set without an {@code enc} key is refused by
 * {@link GatewayTrust}. Only {@link Builder#allowUnsignedHandshake()} makes the seed's plain,
 * unsigned exchange, which trusts TLS alone. A JWK Set fetched from the gateway
 * ({@link Builder#fetchTrustFromGateway()}) is fetched once and kept for the client's life.
 *
 * <p><b>Session.</b> The token, its expiry and the session key {@code K} stay in memory only. The
 * session is renewed by a new handshake when less than {@link Builder#renewBeforeMillis(long)} (60 s)
 * remains before its expiry. When a call is refused with a {@link ErrorKind#SESSION_EXPIRED} code
 * (a 401 in clear with the gateway's {@code {"resCode","resDesc"}}), the session is dropped; a call
 * whose method is idempotent ({@code GET}, {@code HEAD}, {@code OPTIONS}, {@code PUT},
 * {@code DELETE}) is then sent once more after a new handshake, and any other call
 * ({@code POST}, {@code PATCH}…) is not: the refusal travels in clear, so it could be forged after
 * the call reached the upstream; the exception is thrown and the next call makes the new
 * handshake. With {@link Builder#requireSealedResponses(boolean) requireSealedResponses(false)} no
 * call is sent again. A call refused with {@code AUTH001}, {@code AUTH002} or {@code AUTH004} is not sent again
 * ({@link ErrorKind#REQUEST_REFUSED}), but its session is dropped, so the next call makes a new
 * handshake. {@code K} is zeroed when its session is replaced and on {@link #close()}.
 *
 * <p><b>Calls.</b> {@link #call(String, String, byte[], String)} seals the body under {@code K} with
 * {@code typ} {@code request+jwe}, {@code htm} (the method) and {@code htp} (the target as sent); a
 * call without a body carries the same binding in {@code X-Request-Seal}. A sealed answer is opened
 * and must be typed {@code response+jwe}; the gateway's own errors become {@link SealgateException}s.
 *
 * <p>Thread-safe: calls may run in parallel; a handshake is made by one thread while the others
 * wait for it. Calls block: do not make them on Android's main thread.
 */
public final class SealgateClient implements Closeable {
    /** The token path of the contract. */
    public static final String DEFAULT_TOKEN_PATH = "/token-service/new/v2/token";
    /** Renew when less than a minute remains before the token's expiry. */
    public static final long DEFAULT_RENEW_BEFORE_MILLIS = 60000L;

    private static final int MAX_TOKEN_LENGTH = 4096;
    /** The gateway refuses a protected header segment over 1024 characters (§4), and a seal over 2048 bytes (§4.1). */
    private static final int MAX_HEADER_SEGMENT = 1024;

    private final String base;
    private final String basePath;
    private final String tokenPath;
    private final String channel;
    private final String apiKey;
    private final char[] secret;
    private final Kdf kdf;
    private final HttpTransport transport;
    private final TimeSource time;
    private final long renewBeforeMillis;
    private final boolean requireSealedResponses;
    private final boolean fetchTrust;
    private final boolean allowInsecureJwksFetch;

    private final Object lock = new Object();
    private GatewayTrust trust;
    private Session session;
    private long generations;
    private boolean closed;

    private SealgateClient(Builder b, String base, String basePath) {
        this.base = base;
        this.basePath = basePath;
        this.tokenPath = b.tokenPath;
        this.channel = b.channel;
        this.apiKey = b.apiKey;
        this.secret = b.secret.clone();
        this.kdf = b.kdf;
        this.transport = b.transport != null ? b.transport : new UrlConnectionTransport();
        this.time = b.time;
        this.renewBeforeMillis = b.renewBeforeMillis;
        this.requireSealedResponses = b.requireSealedResponses;
        this.fetchTrust = b.fetchTrust;
        this.allowInsecureJwksFetch = b.allowInsecureJwksFetch;
        this.trust = b.trust;
    }

    /**
     * Starts building a client.
     *
     * @param baseUrl the gateway, {@code http://} or {@code https://}, optionally with a path prefix
     *                ({@code https://example.com/gw}); a trailing {@code /} is ignored
     */
    public static Builder builder(String baseUrl) {
        return new Builder(baseUrl);
    }

    /** Configures a {@link SealgateClient}. {@link #channel}, {@link #apiKey}, {@link #secret} and a trust choice are required. */
    public static final class Builder {
        private final String baseUrl;
        private String channel;
        private String apiKey;
        private char[] secret;
        private Kdf kdf = Kdf.HKDF_SHA256;
        private String tokenPath = DEFAULT_TOKEN_PATH;
        private GatewayTrust trust;
        private boolean fetchTrust;
        private boolean allowInsecureJwksFetch;
        private boolean unsigned;
        private HttpTransport transport;
        private TimeSource time = TimeSource.SYSTEM;
        private long renewBeforeMillis = DEFAULT_RENEW_BEFORE_MILLIS;
        private boolean requireSealedResponses = true;

        private Builder(String baseUrl) {
            if (baseUrl == null) throw new NullPointerException("baseUrl");
            this.baseUrl = baseUrl;
        }

        /** The channel, sent as {@code X-API-KEY} (such as {@code MOB-APP-2001}). Required. */
        public Builder channel(String channel) {
            this.channel = channel;
            return this;
        }

        /** The client's {@code apiKey} (such as {@code MOB-APP}). Required. */
        public Builder apiKey(String apiKey) {
            this.apiKey = apiKey;
            return this;
        }

        /**
         * The client's secret. The array is copied (wipe yours after {@link #build()}); {@link #build()}
         * wipes the builder's copy once the client has its own (so set the secret again to build
         * another client), and the client wipes its copy on {@link SealgateClient#close()}. Required.
         */
        public Builder secret(char[] secret) {
            if (this.secret != null) Arrays.fill(this.secret, '\0');
            this.secret = secret == null ? null : secret.clone();
            return this;
        }

        /** The client's secret, as a string (prefer {@link #secret(char[])}, which can be wiped). */
        public Builder secret(String secret) {
            return secret(secret == null ? null : secret.toCharArray());
        }

        /** The channel's KDF; {@link Kdf#HKDF_SHA256} by default. */
        public Builder kdf(Kdf kdf) {
            if (kdf == null) throw new NullPointerException("kdf");
            this.kdf = kdf;
            return this;
        }

        /** The token path, when the operator changed it; {@value SealgateClient#DEFAULT_TOKEN_PATH} by default. */
        public Builder tokenPath(String tokenPath) {
            this.tokenPath = tokenPath;
            return this;
        }

        /** Trusts this (pinned) JWK Set: the recommended choice. */
        public Builder trust(GatewayTrust trust) {
            this.trust = trust;
            return this;
        }

        /**
         * Fetches the JWK Set from {@code <base>/.well-known/jwks.json} before the first handshake,
         * over the same connection, and keeps it for the client's life (a signature by a {@code kid}
         * it does not hold is {@link ErrorKind#HANDSHAKE_INVALID}; the set is never fetched again).
         * This protects nothing against an attacker who is already on that connection; prefer a
         * pinned set. Over {@code http://} only from {@code localhost}, {@code 127.0.0.1} or
         * {@code [::1]}, unless {@link #allowInsecureJwksFetch()}.
         */
        public Builder fetchTrustFromGateway() {
            this.fetchTrust = true;
            return this;
        }

        /**
         * With {@link #fetchTrustFromGateway()}, allows the fetch over {@code http://} from a host other
         * than {@code localhost}, {@code 127.0.0.1} or {@code [::1]} ({@link #build()} refuses it
         * otherwise). Whoever is on that path can hand over keys of their own.
         */
        public Builder allowInsecureJwksFetch() {
            this.allowInsecureJwksFetch = true;
            return this;
        }

        /**
         * Makes the seed contract's plain, unsigned token request: the secret is protected by TLS
         * alone and the server's key is not authenticated. Only allowed with no trust configured.
         */
        public Builder allowUnsignedHandshake() {
            this.unsigned = true;
            return this;
        }

        /** The HTTP transport; a {@link UrlConnectionTransport} by default. */
        public Builder transport(HttpTransport transport) {
            this.transport = transport;
            return this;
        }

        /** The clock for {@code iat} and renewal; {@link TimeSource#SYSTEM} by default. */
        public Builder timeSource(TimeSource time) {
            if (time == null) throw new NullPointerException("time");
            this.time = time;
            return this;
        }

        /** How long before the token's expiry a call renews the session; 60 s by default. */
        public Builder renewBeforeMillis(long millis) {
            if (millis < 0) throw new IllegalArgumentException("negative renewal margin");
            this.renewBeforeMillis = millis;
            return this;
        }

        /**
         * Whether every answer must be sealed (the default, right for routes with {@code auth = "token"},
         * which seal every upstream answer): an answer in clear is then a gateway error (4xx, 5xx) or refused
         * ({@link ErrorKind#RESPONSE_INVALID}). Set false only for routes configured with
         * {@code encrypted_response = false}; answers in clear then come back with {@link Response#isSealed()} false.
         */
        public Builder requireSealedResponses(boolean require) {
            this.requireSealedResponses = require;
            return this;
        }

        /**
         * Builds the client. Makes no network call. The builder's copy of the secret is wiped once
         * the client has its own.
         *
         * @throws IllegalArgumentException when a setting is missing or invalid, or when the JWK Set
         *         would be fetched over {@code http://} from a host other than localhost without
         *         {@link #allowInsecureJwksFetch()}
         */
        public SealgateClient build() {
            if (channel == null || apiKey == null || secret == null) throw new IllegalArgumentException("channel, apiKey and secret are required");
            requireHeaderValue(channel, "channel");
            if (channel.isEmpty()) throw new IllegalArgumentException("empty channel");
            int choices = (trust != null ? 1 : 0) + (fetchTrust ? 1 : 0) + (unsigned ? 1 : 0);
            if (choices != 1) {
                throw new IllegalArgumentException("choose exactly one of trust(…), fetchTrustFromGateway() and allowUnsignedHandshake()");
            }
            checkTarget(tokenPath, "tokenPath");
            if (tokenPath.indexOf('?') >= 0) throw new IllegalArgumentException("tokenPath has a query");
            String trimmed = trimBase(baseUrl);
            URL url;
            try {
                url = new URL(trimmed);
            } catch (MalformedURLException e) {
                throw new IllegalArgumentException("baseUrl is not a URL");
            }
            String scheme = url.getProtocol().toLowerCase(Locale.ROOT);
            if (!scheme.equals("http") && !scheme.equals("https")) throw new IllegalArgumentException("baseUrl must be http or https");
            if (url.getQuery() != null || url.getRef() != null || url.getUserInfo() != null || url.getHost().isEmpty()) {
                throw new IllegalArgumentException("baseUrl must be scheme://host[:port][/path], without user, query or fragment");
            }
            String path = url.getPath();
            if (!path.isEmpty()) checkTarget(path, "baseUrl path");
            if (fetchTrust) GatewayTrust.checkFetchUrl(trimmed, allowInsecureJwksFetch);
            SealgateClient client = new SealgateClient(this, trimmed, path);
            Arrays.fill(secret, '\0'); // the client holds its own copy
            secret = null;
            return client;
        }
    }

    /** A session: the token, its expiry (ms since the epoch) and K. */
    static final class Session {
        final String token;
        final long expiry;
        final byte[] key;
        final long generation;

        Session(String token, long expiry, byte[] key, long generation) {
            this.token = token;
            this.expiry = expiry;
            this.key = key;
            this.generation = generation;
        }

        void destroy() {
            Arrays.fill(key, (byte) 0);
        }

        @Override
        public String toString() {
            return "Session[" + generation + ", expires " + expiry + "]";
        }
    }

    /** What one call uses: the token and a copy of K (zeroed after the call). */
    private static final class Snapshot {
        final String token;
        final byte[] key;
        final long generation;

        Snapshot(Session s) {
            this.token = s.token;
            this.key = s.key.clone();
            this.generation = s.generation;
        }
    }

    // ---- calls ----

    /**
     * A call without a body (bound by {@code X-Request-Seal}).
     *
     * @see #call(String, String, byte[], String)
     */
    public Response call(String method, String pathAndQuery) throws SealgateException {
        return call(method, pathAndQuery, (byte[]) null, null);
    }

    /**
     * A call with a text body, sent as UTF-8.
     *
     * @see #call(String, String, byte[], String)
     */
    public Response call(String method, String pathAndQuery, String body, String contentType) throws SealgateException {
        return call(method, pathAndQuery, body == null ? null : body.getBytes(StandardCharsets.UTF_8), contentType);
    }

    /**
     * Makes a bound, sealed call, making or renewing the session first when needed.
     *
     * @param method the HTTP method, such as {@code POST} (bound as {@code htm}, case included)
     * @param pathAndQuery the target, such as {@code /api/transfer?from=1}: it must start with
     *        {@code /}, be already percent-encoded, and hold only {@code A-Z a-z 0-9 - . _ ~ ! $ & ( ) * + , ; = : @ / ?}
     *        and {@code %XX}, no {@code .} or {@code ..} segment (so that no HTTP stack rewrites it:
     *        it is bound byte for byte as {@code htp}, after the base URL's path)
     * @param body the plaintext body, or null (or empty) for none; {@code GET} and {@code HEAD} take none
     * @param contentType the body's media type ({@code cty}: the upstream receives it as
     *        {@code Content-Type}), or null (the upstream then gets {@code application/json})
     * @return the answer; with sealed responses required (the default), always sealed and opened
     * @throws SealgateException on a gateway refusal, a handshake or answer that fails the checks, or an I/O failure
     * @throws IllegalArgumentException on an invalid method, target or content type
     * @throws IllegalStateException after {@link #close()}
     */
    public Response call(String method, String pathAndQuery, byte[] body, String contentType) throws SealgateException {
        checkMethod(method);
        checkTarget(pathAndQuery, "pathAndQuery");
        if (contentType != null) requireHeaderValue(contentType, "contentType");
        boolean hasBody = body != null && body.length > 0;
        if (hasBody && (method.equals("GET") || method.equals("HEAD"))) throw new IllegalArgumentException(method + " takes no body");
        String htp = basePath + pathAndQuery;
        String header = Jose.dirHeader(hasBody ? contentType : null, Jose.REQUEST_TYP, method, htp);
        if ((header.getBytes(StandardCharsets.UTF_8).length + 2) / 3 * 4 > MAX_HEADER_SEGMENT) {
            throw new IllegalArgumentException("target and content type too long to bind (the gateway reads a header of at most 1024 characters)");
        }
        String url = base + pathAndQuery;

        Snapshot s = acquire();
        try {
            HttpTransport.Reply reply = send(s, method, url, htp, body, contentType);
            if (isSessionRefusal(reply)) {
                // The session is over: drop it (the next call, or the attempt below, makes a new handshake).
                invalidate(s.generation);
                // Sent again only when running it twice does no harm, and only when the refusal can be
                // told apart from an upstream's answer: the refusal travels in clear, so whoever
                // terminates TLS could forge it after passing the call on. Otherwise it is thrown below.
                if (requireSealedResponses && isIdempotent(method)) {
                    Arrays.fill(s.key, (byte) 0);
                    s = acquire();
                    reply = send(s, method, url, htp, body, contentType);
                    // Refused again: drop this session too (the next call starts afresh), and report it.
                    if (isSessionRefusal(reply)) invalidate(s.generation);
                }
            }
            try {
                return answer(reply, s);
            } catch (SealgateException e) {
                // The token itself was refused (AUTH001/002/004): not sent again (REQUEST_REFUSED),
                // but the session is dropped, so the next call makes a new handshake.
                if (isTokenRefusal(e.resCode())) invalidate(s.generation);
                throw e;
            }
        } finally {
            Arrays.fill(s.key, (byte) 0);
        }
    }

    private HttpTransport.Reply send(Snapshot s, String method, String url, String htp, byte[] body, String contentType)
        throws SealgateException {
        Map<String, String> headers = new LinkedHashMap<String, String>();
        headers.put("Authorization", "Bearer " + s.token);
        headers.put("Accept", "application/jose, application/json");
        byte[] out;
        try {
            if (body != null && body.length > 0) {
                out = Jose.seal(s.key, body, contentType, Jose.randomIv(), Jose.REQUEST_TYP, method, htp).getBytes(StandardCharsets.US_ASCII);
                headers.put("Content-Type", "application/jose");
            } else {
                headers.put("X-Request-Seal", Jose.seal(s.key, new byte[0], null, Jose.randomIv(), Jose.REQUEST_TYP, method, htp));
                out = method.equals("POST") || method.equals("PUT") || method.equals("PATCH") ? new byte[0] : null;
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the platform could not seal with AES-256-GCM", e);
        }
        try {
            return transport.send(method, url, headers, out);
        } catch (IOException e) {
            throw new SealgateException(ErrorKind.TRANSPORT, "the call failed: " + describe(e), e);
        }
    }

    /** A 401 in clear whose body is exactly the gateway's {@code {"resCode","resDesc"}} with a session code. */
    private static boolean isSessionRefusal(HttpTransport.Reply reply) {
        if (reply.status() != 401 || isJose(reply)) return false;
        String code = Errors.gatewayCode(reply);
        return code != null && Errors.classify(401, code) == ErrorKind.SESSION_EXPIRED;
    }

    /**
     * The methods a call refused with {@link ErrorKind#SESSION_EXPIRED} is sent again for, once, after a
     * new handshake: {@code GET}, {@code HEAD}, {@code OPTIONS}, {@code PUT}, {@code DELETE}. The same
     * rule in every sealgate client library.
     */
    static boolean isIdempotent(String method) {
        return method.equals("GET") || method.equals("HEAD") || method.equals("OPTIONS") || method.equals("PUT") || method.equals("DELETE");
    }

    /** A refusal of the token itself: {@code AUTH001} (missing), {@code AUTH002} (malformed), {@code AUTH004} (invalid). */
    private static boolean isTokenRefusal(String resCode) {
        return "AUTH001".equals(resCode) || "AUTH002".equals(resCode) || "AUTH004".equals(resCode);
    }

    private static boolean isJose(HttpTransport.Reply reply) {
        String ct = reply.header("Content-Type");
        if (ct == null) return false;
        int semi = ct.indexOf(';');
        return (semi < 0 ? ct : ct.substring(0, semi)).trim().equalsIgnoreCase("application/jose");
    }

    private Response answer(HttpTransport.Reply reply, Snapshot s) throws SealgateException {
        int status = reply.status();
        if (isJose(reply)) {
            try {
                String compact = Json.utf8(reply.body());
                Jose.Opened opened = Jose.open(s.key, compact, Jose.RESPONSE_TYP);
                return new Response(reply, opened.plaintext, opened.cty, true);
            } catch (GeneralSecurityException e) {
                throw new SealgateException(ErrorKind.RESPONSE_INVALID, "the sealed answer was refused: " + e.getMessage(), status, null, -1, null);
            } catch (IllegalArgumentException e) {
                throw new SealgateException(ErrorKind.RESPONSE_INVALID, "the sealed answer was refused: not UTF-8", status, null, -1, null);
            }
        }
        if (status >= 400) {
            if (requireSealedResponses || Errors.isGatewayErrorBody(reply)) throw Errors.fromReply(reply, Errors.Where.ROUTE);
        } else if (requireSealedResponses) {
            throw new SealgateException(ErrorKind.RESPONSE_INVALID,
                "refused: the route answered HTTP " + status + " in clear, not sealed (application/jose)", status, null, -1, null);
        }
        return new Response(reply, reply.body(), reply.header("Content-Type"), false);
    }

    // ---- the session ----

    private Snapshot acquire() throws SealgateException {
        synchronized (lock) {
            if (closed) throw new IllegalStateException("the client is closed");
            if (session == null || session.expiry - time.currentTimeMillis() < renewBeforeMillis) replace(newSession());
            return new Snapshot(session);
        }
    }

    private void replace(Session next) {
        Session old = session;
        session = next;
        if (old != null) old.destroy();
    }

    private void invalidate(long generation) {
        synchronized (lock) {
            if (session != null && session.generation == generation) replace(null);
        }
    }

    /**
     * Makes a new handshake now and replaces the current session (whose key is zeroed). Calls do
     * this by themselves when needed; use it to warm up, or after an app-level sign-out.
     *
     * @throws SealgateException as a handshake in {@link #call} would
     */
    public void handshake() throws SealgateException {
        synchronized (lock) {
            if (closed) throw new IllegalStateException("the client is closed");
            replace(newSession());
        }
    }

    /** Forgets the current session (its key is zeroed); the next call makes a new handshake. */
    public void invalidateSession() {
        synchronized (lock) {
            replace(null);
        }
    }

    /** Whether a session is held (it may be near its expiry). */
    public boolean hasSession() {
        synchronized (lock) {
            return session != null;
        }
    }

    /** The expiry of the current session's token, in ms since the epoch (the gateway's clock), or 0 when none. */
    public long sessionExpiryMillis() {
        synchronized (lock) {
            return session == null ? 0 : session.expiry;
        }
    }

    /** The gateway trust in use: the pinned one, the fetched one once fetched, or null. */
    public GatewayTrust trust() {
        synchronized (lock) {
            return trust;
        }
    }

    /** The channel this client calls on. */
    public String channel() { return channel; }

    /** Package-private, for tests: the live session. */
    Session sessionForTesting() {
        synchronized (lock) {
            return session;
        }
    }

    /**
     * Zeroes the session key and the secret and forgets the session. Calls then throw
     * {@link IllegalStateException}. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            replace(null);
            Arrays.fill(secret, '\0');
        }
    }

    @Override
    public String toString() {
        return "SealgateClient[" + base + ", channel " + channel + ", " + kdf.wireName() + "]";
    }

    // ---- the handshake (§1, §1.1, §2) ----

    /** The trust in use; with fetchTrustFromGateway(), fetched at the first handshake, then kept for the client's life. */
    private GatewayTrust currentTrust() throws SealgateException {
        if (trust == null && fetchTrust) trust = GatewayTrust.fetch(base, transport, allowInsecureJwksFetch);
        return trust;
    }

    private Session newSession() throws SealgateException {
        GatewayTrust t = currentTrust();
        KeyPair pair;
        try {
            pair = P256.generate();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the platform could not make a P-256 key pair", e);
        }
        String clientJwk = P256.publicJwk(pair.getPublic());
        Map<String, String> headers = new LinkedHashMap<String, String>();
        headers.put("X-API-KEY", channel);
        headers.put("Accept", "application/json");
        byte[] plaintext = tokenRequestPlaintext(clientJwk);
        byte[] body;
        // Plain only for allowUnsignedHandshake(): a GatewayTrust always has an enc key.
        boolean plain = t == null;
        if (t != null && t.encryptionKey() == null) throw handshakeInvalid("the JWK Set has no enc key", null);
        try {
            if (!plain) {
                long iat = floorDiv(time.currentTimeMillis(), 1000); // whole seconds
                body = Jose.sealTokenRequest(plaintext, t.encryptionKeyId(), t.encryptionKey(), channel, iat, P256.generate(), Jose.randomIv())
                    .getBytes(StandardCharsets.US_ASCII);
                headers.put("Content-Type", "application/jose");
            } else {
                body = plaintext.clone();
                headers.put("Content-Type", "application/json");
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the platform could not seal the token request", e);
        } finally {
            Arrays.fill(plaintext, (byte) 0);
        }
        HttpTransport.Reply reply;
        try {
            reply = transport.send("POST", base + tokenPath, headers, body);
        } catch (IOException e) {
            throw new SealgateException(ErrorKind.TRANSPORT, "the token request failed: " + describe(e), e);
        } finally {
            if (plain) Arrays.fill(body, (byte) 0); // it holds the secret in clear
        }
        if (reply.status() != 200) throw Errors.fromReply(reply, Errors.Where.TOKEN);
        return readTokenAnswer(reply, pair, t);
    }

    private static long floorDiv(long x, long y) {
        long q = x / y;
        if ((x % y != 0) && ((x ^ y) < 0)) q--;
        return q;
    }

    /** {"apiKey":…,"secret":…,"publicKey":…} as bytes, the secret never in a String. */
    private byte[] tokenRequestPlaintext(String clientJwk) {
        SecretBuffer b = new SecretBuffer();
        char[] api = apiKey.toCharArray();
        b.ascii("{\"apiKey\":").jsonString(api).ascii(",\"secret\":").jsonString(secret)
            .ascii(",\"publicKey\":\"").ascii(Base64Url.encode(clientJwk)).ascii("\"}");
        return b.toByteArrayAndWipe();
    }

    private Session readTokenAnswer(HttpTransport.Reply reply, KeyPair pair, GatewayTrust t) throws SealgateException {
        String token;
        long expiry;
        String serverPublicKey;
        String signature;
        try {
            Map<String, Object> answer = Json.parseObject(reply.body());
            if (!"TOK200".equals(answer.get("resCode"))) throw new IllegalArgumentException("resCode is not TOK200");
            token = Json.string(answer, "token");
            expiry = Json.integer(answer, "expiry");
            serverPublicKey = Json.string(answer, "serverPublicKey");
            signature = Json.optString(answer, "signature");
        } catch (IllegalArgumentException e) {
            throw handshakeInvalid("malformed token answer: " + e.getMessage(), null);
        }
        if (!isToken(token)) throw handshakeInvalid("malformed token answer: the token is empty, too long or not printable ASCII", null);
        byte[] z = null;
        try {
            if (t != null) {
                if (signature == null) throw handshakeInvalid("the token answer is not signed", null);
                Jose.verifyHandshake(signature, serverPublicKey, expiry, pair.getPublic(), channel, t); // before anything is derived
            }
            PublicKey server;
            try {
                server = P256.fromJwkText(Json.utf8(Base64Url.decode(serverPublicKey)));
            } catch (IllegalArgumentException e) {
                throw new GeneralSecurityException("serverPublicKey: " + e.getMessage());
            }
            z = P256.agree(pair.getPrivate(), server);
            byte[] key = kdf.derive(z);
            return new Session(token, expiry, key, ++generations);
        } catch (GeneralSecurityException e) {
            throw handshakeInvalid("the token answer was refused: " + e.getMessage(), null);
        } finally {
            if (z != null) Arrays.fill(z, (byte) 0);
        }
    }

    private static SealgateException handshakeInvalid(String message, Throwable cause) {
        return new SealgateException(ErrorKind.HANDSHAKE_INVALID, message, 200, null, -1, cause);
    }

    // ---- checks ----

    static String trimBase(String baseUrl) {
        String b = baseUrl.trim();
        while (b.endsWith("/")) b = b.substring(0, b.length() - 1);
        return b;
    }

    private static boolean isToken(String token) {
        if (token.isEmpty() || token.length() > MAX_TOKEN_LENGTH) return false;
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c < 0x21 || c > 0x7e) return false;
        }
        return true;
    }

    private static void checkMethod(String method) {
        if (method == null || method.isEmpty() || method.length() > 32) throw new IllegalArgumentException("invalid method");
        for (int i = 0; i < method.length(); i++) {
            char c = method.charAt(i);
            if (!(c >= 'A' && c <= 'Z')) throw new IllegalArgumentException("the method must be upper-case letters");
        }
        if (method.equals("CONNECT") || method.equals("TRACE")) throw new IllegalArgumentException(method + " is not supported");
    }

    /** A path (and query) that no HTTP stack rewrites: see {@link #call(String, String, byte[], String)}. */
    static void checkTarget(String target, String what) {
        if (target == null || !target.startsWith("/")) throw new IllegalArgumentException(what + " must start with /");
        int query = target.indexOf('?');
        String path = query < 0 ? target : target.substring(0, query);
        for (int i = 0; i < target.length(); i++) {
            char c = target.charAt(i);
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || "-._~!$&()*+,;=:@/?".indexOf(c) >= 0;
            if (c == '%') {
                if (i + 2 >= target.length() || Character.digit(target.charAt(i + 1), 16) < 0 || Character.digit(target.charAt(i + 2), 16) < 0) {
                    throw new IllegalArgumentException(what + ": a % not followed by two hexadecimal digits");
                }
                ok = true;
            }
            if (!ok) throw new IllegalArgumentException(what + ": character " + (c < 0x20 || c > 0x7e ? "U+" + Integer.toHexString(c) : "'" + c + "'") + " must be percent-encoded");
        }
        for (String segment : path.split("/", -1)) {
            String lower = segment.toLowerCase(Locale.ROOT);
            if (lower.equals(".") || lower.equals("..") || lower.equals("%2e") || lower.equals("%2e%2e") || lower.equals(".%2e") || lower.equals("%2e.")) {
                throw new IllegalArgumentException(what + ": a . or .. segment");
            }
        }
    }

    private static void requireHeaderValue(String value, String what) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c > 0x7e) throw new IllegalArgumentException(what + " must be printable ASCII");
        }
    }

    private static String describe(IOException e) {
        // The class name and message of an I/O failure name a host or a timeout, never a secret.
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + (m.length() > 200 ? m.substring(0, 200) : m));
    }
}

package io.sealgate.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The gateway's public keys, read from its JWK Set (docs/protocol.md §1.1,
 * {@code /.well-known/jwks.json}): every {@code sig} key by its {@code kid} (each may sign a token
 * answer), and the first {@code enc} key (token requests are sealed to it).
 *
 * <p>Ship a pinned copy in the app ({@link #fromJwks(String)}, {@link #fromJwks(InputStream)}, for
 * example from {@code res/raw}), or fetch it once over a connection you trust ({@link #fetch}) and
 * keep {@link #toJwks()}. A set fetched over the very connection it protects does not protect it.
 *
 * <p>Every listed key with {@code "use":"sig"} or {@code "use":"enc"} must be a valid public P-256
 * key on the curve, with a {@code kid} of 1 to 64 characters {@code A-Z a-z 0-9 . _ -} and, when
 * {@code alg} is given, {@code ES256} or {@code ECDH-ES}; keys of other uses are ignored. At least
 * one {@code sig} key and one {@code enc} key are required (as in the JavaScript and Python
 * libraries): without an {@code enc} key the token request, and the secret in it, would go out
 * unsealed. Immutable and thread-safe.
 */
public final class GatewayTrust {
    private final Map<String, PublicKey> signingKeys;
    private final String encryptionKid;
    private final PublicKey encryptionKey;
    private final String jwksText;

    private GatewayTrust(Map<String, PublicKey> signingKeys, String encryptionKid, PublicKey encryptionKey, String jwksText) {
        this.signingKeys = signingKeys;
        this.encryptionKid = encryptionKid;
        this.encryptionKey = encryptionKey;
        this.jwksText = jwksText;
    }

    /**
     * Reads a JWK Set from its JSON text.
     *
     * @throws SealgateException {@link ErrorKind#HANDSHAKE_INVALID} when the set is malformed, or has no usable {@code sig} key
     *         or no {@code enc} key
     */
    public static GatewayTrust fromJwks(String jwkSetJson) throws SealgateException {
        if (jwkSetJson == null) throw new NullPointerException("jwkSetJson");
        try {
            Object parsed = Json.parse(jwkSetJson);
            if (!(parsed instanceof Map)) throw new IllegalArgumentException("not a JSON object");
            Object keys = ((Map<?, ?>) parsed).get("keys");
            if (!(keys instanceof List)) throw new IllegalArgumentException("no \"keys\" array");
            Map<String, PublicKey> sig = new LinkedHashMap<String, PublicKey>();
            String encKid = null;
            PublicKey enc = null;
            int index = 0;
            for (Object k : (List<?>) keys) {
                if (!(k instanceof Map)) throw new IllegalArgumentException("key " + index + " is not an object");
                @SuppressWarnings("unchecked")
                Map<String, Object> jwk = (Map<String, Object>) k;
                Object use = jwk.get("use");
                if ("sig".equals(use) || "enc".equals(use)) {
                    String kid = Json.optString(jwk, "kid");
                    if (!validKid(kid)) throw new IllegalArgumentException("key " + index + " has no valid kid");
                    String alg = Json.optString(jwk, "alg");
                    PublicKey key;
                    try {
                        key = P256.fromJwk(jwk);
                    } catch (GeneralSecurityException e) {
                        throw new IllegalArgumentException("key " + kid + ": " + e.getMessage());
                    }
                    if ("sig".equals(use)) {
                        if (alg != null && !"ES256".equals(alg)) throw new IllegalArgumentException("sig key " + kid + " is not ES256");
                        if (sig.containsKey(kid)) throw new IllegalArgumentException("two sig keys named " + kid);
                        sig.put(kid, key);
                    } else {
                        if (alg != null && !"ECDH-ES".equals(alg)) throw new IllegalArgumentException("enc key " + kid + " is not ECDH-ES");
                        if (enc == null) {
                            enc = key;
                            encKid = kid;
                        }
                    }
                }
                index++;
            }
            if (sig.isEmpty()) throw new IllegalArgumentException("no sig key");
            if (enc == null) throw new IllegalArgumentException("no enc key (the token request would not be sealed)");
            return new GatewayTrust(Collections.unmodifiableMap(sig), encKid, enc, jwkSetJson);
        } catch (IllegalArgumentException e) {
            throw new SealgateException(ErrorKind.HANDSHAKE_INVALID, "unusable JWK Set: " + e.getMessage());
        }
    }

    /**
     * Reads a JWK Set from a stream of UTF-8 JSON (an Android raw resource, an asset). The stream is
     * read to its end and closed.
     *
     * @throws IOException when the stream cannot be read
     * @throws SealgateException {@link ErrorKind#HANDSHAKE_INVALID} when the set is unusable
     */
    public static GatewayTrust fromJwks(InputStream utf8Json) throws IOException, SealgateException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            for (int n; (n = utf8Json.read(buf)) != -1; ) {
                out.write(buf, 0, n);
                if (out.size() > 1 << 20) throw new IOException("JWK Set larger than 1 MiB");
            }
            String text;
            try {
                text = Json.utf8(out.toByteArray());
            } catch (IllegalArgumentException e) {
                throw new SealgateException(ErrorKind.HANDSHAKE_INVALID, "unusable JWK Set: not UTF-8");
            }
            return fromJwks(text);
        } finally {
            utf8Json.close();
        }
    }

    /**
     * Fetches {@code <baseUrl>/.well-known/jwks.json} with the default transport. Only do this over
     * a connection you trust, then keep {@link #toJwks()}. Over {@code http://} only from
     * {@code localhost}, {@code 127.0.0.1} or {@code [::1]}: see {@link #fetch(String, HttpTransport, boolean)}.
     *
     * @param baseUrl the gateway's base URL, such as {@code https://api.example.com}
     * @throws SealgateException {@link ErrorKind#TRANSPORT}, a gateway error, or {@link ErrorKind#HANDSHAKE_INVALID}
     * @throws IllegalArgumentException for an {@code http://} URL to another host, or a URL that is not http(s)
     */
    public static GatewayTrust fetch(String baseUrl) throws SealgateException {
        return fetch(baseUrl, new UrlConnectionTransport(), false);
    }

    /**
     * As {@link #fetch(String)}, over the given transport.
     *
     * @param baseUrl the gateway's base URL
     * @param transport the HTTP transport
     * @return the gateway's keys
     * @throws SealgateException {@link ErrorKind#TRANSPORT}, a gateway error, or {@link ErrorKind#HANDSHAKE_INVALID}
     */
    public static GatewayTrust fetch(String baseUrl, HttpTransport transport) throws SealgateException {
        return fetch(baseUrl, transport, false);
    }

    /**
     * As {@link #fetch(String)}, over the given transport. A JWK Set fetched over {@code http://} from a
     * host other than {@code localhost}, {@code 127.0.0.1} or {@code [::1]} is refused
     * ({@link IllegalArgumentException}, before anything is sent) unless {@code allowInsecureJwksFetch}
     * is true: whoever is on that path could hand over keys of their own.
     *
     * @param baseUrl the gateway's base URL
     * @param transport the HTTP transport
     * @param allowInsecureJwksFetch true to allow {@code http://} to any host
     * @return the gateway's keys
     * @throws SealgateException {@link ErrorKind#TRANSPORT}, a gateway error, or {@link ErrorKind#HANDSHAKE_INVALID}
     */
    public static GatewayTrust fetch(String baseUrl, HttpTransport transport, boolean allowInsecureJwksFetch) throws SealgateException {
        checkFetchUrl(baseUrl, allowInsecureJwksFetch);
        String url = SealgateClient.trimBase(baseUrl) + "/.well-known/jwks.json";
        HttpTransport.Reply reply;
        try {
            reply = transport.send("GET", url, Collections.singletonMap("Accept", "application/jwk-set+json, application/json"), null);
        } catch (IOException e) {
            throw new SealgateException(ErrorKind.TRANSPORT, "fetching the JWK Set failed: " + e.getClass().getSimpleName(), e);
        }
        if (reply.status() != 200) throw Errors.fromReply(reply, Errors.Where.JWKS);
        try {
            return fromJwks(Json.utf8(reply.body()));
        } catch (IllegalArgumentException e) {
            throw new SealgateException(ErrorKind.HANDSHAKE_INVALID, "unusable JWK Set: not UTF-8");
        }
    }

    /**
     * Refuses ({@link IllegalArgumentException}) to fetch a JWK Set over {@code http://} from a host
     * other than {@code localhost}, {@code 127.0.0.1} or {@code ::1}, unless allowed.
     */
    static void checkFetchUrl(String baseUrl, boolean allowInsecureJwksFetch) {
        if (baseUrl == null) throw new NullPointerException("baseUrl");
        URL url;
        try {
            url = new URL(SealgateClient.trimBase(baseUrl));
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("baseUrl is not a URL");
        }
        String scheme = url.getProtocol().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) throw new IllegalArgumentException("baseUrl must be http or https");
        if (scheme.equals("https") || allowInsecureJwksFetch) return;
        String host = url.getHost().toLowerCase(Locale.ROOT);
        if (host.equals("localhost") || host.equals("127.0.0.1") || host.equals("[::1]") || host.equals("::1")) return;
        throw new IllegalArgumentException("the JWK Set would be fetched over http:// from a host other than localhost: "
            + "use https, pin the set, or allow it with allowInsecureJwksFetch");
    }

    private static boolean validKid(String kid) {
        if (kid == null || kid.isEmpty() || kid.length() > 64) return false;
        for (int i = 0; i < kid.length(); i++) {
            char c = kid.charAt(i);
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
            if (!ok) return false;
        }
        return true;
    }

    /** The {@code kid}s of the trusted {@code sig} keys, in the order listed. */
    public Set<String> signingKeyIds() { return signingKeys.keySet(); }

    /** The {@code kid} of the {@code enc} key token requests are sealed to. */
    public String encryptionKeyId() { return encryptionKid; }

    /** The JSON text this trust was read from (public keys only: safe to store or log). */
    public String toJwks() { return jwksText; }

    PublicKey signingKey(String kid) { return signingKeys.get(kid); }

    PublicKey encryptionKey() { return encryptionKey; }

    @Override
    public String toString() {
        return "GatewayTrust[sig " + signingKeys.keySet() + ", enc " + encryptionKid + "]";
    }
}

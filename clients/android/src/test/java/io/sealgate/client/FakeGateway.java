package io.sealgate.client;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PublicKey;
import java.security.Signature;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * An in-memory gateway for the unit tests: the token endpoint of §1 / §1.1 (sealed requests
 * opened with its enc key, answers signed with its sig key), and one sealing route that echoes
 * what it received. Knobs let a test break it in each way a client must notice.
 */
final class FakeGateway implements HttpTransport {
    static final String BASE = "https://gw.test";
    static final String CHANNEL = "MOB-APP-2001";
    static final String API_KEY = "MOB-APP";
    static final String SECRET = "s3cret-Pa55word-42";

    final AtomicLong clock = new AtomicLong(1_800_000_000_000L);
    final TimeSource time = new TimeSource() {
        @Override public long currentTimeMillis() { return clock.get(); }
    };
    long lifetimeMillis = 1_800_000;

    final KeyPair sig;
    final KeyPair enc;
    final KeyPair rogue; // signs when signWithRogueKey

    // knobs
    boolean signWithRogueKey;
    boolean signOverOtherChannel;
    boolean omitSignature;
    boolean offCurveServerKey;
    boolean expiryAsString;
    boolean untypedResponses;
    boolean tamperResponseTag;
    boolean answerInClear;
    final Deque<Reply> cannedRoute = new ArrayDeque<Reply>();
    final Deque<Reply> cannedToken = new ArrayDeque<Reply>();
    IOException failWith;
    String servedJwks; // when set, served at /.well-known/jwks.json instead of jwks()
    boolean forgeSessionRefusal; // the route runs the call, then answers a forged 401 AUTH005 in clear

    // what it saw
    int handshakes;
    int routeCalls;
    final List<Map<String, String>> tokenRequestHeaders = new ArrayList<Map<String, String>>();
    final List<Map<String, Object>> sealedRequestHeaders = new ArrayList<Map<String, Object>>();
    final List<String> tokens = new ArrayList<String>();
    final Map<String, byte[]> sessions = new HashMap<String, byte[]>();
    final Set<String> expiredTokens = new HashSet<String>();
    final List<Map<String, Object>> received = new ArrayList<Map<String, Object>>();
    final List<byte[]> receivedPlaintexts = new ArrayList<byte[]>();
    int jwksFetches;

    FakeGateway() throws GeneralSecurityException {
        sig = P256.generate();
        enc = P256.generate();
        rogue = P256.generate();
    }

    String jwks() {
        String s = P256.publicJwk(sig.getPublic());
        String e = P256.publicJwk(enc.getPublic());
        return "{\"keys\":[" + s.substring(0, s.length() - 1) + ",\"kid\":\"sig-t\",\"use\":\"sig\",\"alg\":\"ES256\"},"
            + e.substring(0, e.length() - 1) + ",\"kid\":\"enc-t\",\"use\":\"enc\",\"alg\":\"ECDH-ES\"}]}";
    }

    GatewayTrust trust() throws SealgateException {
        return GatewayTrust.fromJwks(jwks());
    }

    SealgateClient.Builder client() throws SealgateException {
        return SealgateClient.builder(BASE).channel(CHANNEL).apiKey(API_KEY).secret(SECRET.toCharArray())
            .trust(trust()).transport(this).timeSource(time);
    }

    static Reply json(int status, String body, String... headers) {
        Map<String, List<String>> h = new LinkedHashMap<String, List<String>>();
        h.put("Content-Type", Collections.singletonList("application/json"));
        for (int i = 0; i + 1 < headers.length; i += 2) h.put(headers[i], Collections.singletonList(headers[i + 1]));
        return new Reply(status, h, body.getBytes(StandardCharsets.UTF_8));
    }

    static Reply error(int status, String code, String desc, String... headers) {
        return json(status, "{\"resCode\":\"" + code + "\",\"resDesc\":\"" + desc + "\"}", headers);
    }

    @Override
    public synchronized Reply send(String method, String url, Map<String, String> headers, byte[] body) throws IOException {
        if (failWith != null) throw failWith;
        if (!url.startsWith(BASE)) throw new IOException("unknown host");
        String target = url.substring(BASE.length());
        try {
            if (target.equals("/.well-known/jwks.json")) {
                jwksFetches++;
                return json(200, servedJwks != null ? servedJwks : jwks());
            }
            if (target.equals(SealgateClient.DEFAULT_TOKEN_PATH)) return token(method, headers, body);
            return route(method, target, headers, body);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("fake gateway bug", e);
        }
    }

    private Reply token(String method, Map<String, String> headers, byte[] body) throws GeneralSecurityException {
        tokenRequestHeaders.add(new HashMap<String, String>(headers));
        if (!cannedToken.isEmpty()) return cannedToken.poll();
        if (!"POST".equals(method)) return error(405, "TOK003", "Failure");
        String channel = headers.get("X-API-KEY");
        if (!CHANNEL.equals(channel)) return error(401, "TOK002", "Invalid API Key Passed");
        byte[] plaintext;
        if ("application/jose".equals(headers.get("Content-Type"))) {
            String[] p = Jose.split(new String(body, StandardCharsets.US_ASCII), 5);
            if (p == null || !p[1].isEmpty()) return error(400, "TOK003", "Failure");
            Map<String, Object> header = Json.parseObject(Base64Url.decode(p[0]));
            sealedRequestHeaders.add(header);
            if (!"ECDH-ES".equals(header.get("alg")) || !"A256GCM".equals(header.get("enc")) || !"enc-t".equals(header.get("kid"))) {
                return error(400, "TOK003", "Failure");
            }
            if (!(header.get("iat") instanceof Long) || Math.abs((Long) header.get("iat") * 1000 - clock.get()) > 60_000) {
                return error(400, "TOK003", "Failure");
            }
            if (!channel.equals(header.get("chn"))) return error(400, "TOK003", "Failure");
            @SuppressWarnings("unchecked")
            PublicKey epk = P256.fromJwk((Map<String, Object>) header.get("epk"));
            byte[] cek = Kdf.CONCAT_KDF.derive(P256.agree(enc.getPrivate(), epk));
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(cek, "AES"), new GCMParameterSpec(128, Base64Url.decode(p[2])));
            cipher.updateAAD(p[0].getBytes(StandardCharsets.US_ASCII));
            cipher.update(Base64Url.decode(p[3]));
            try {
                plaintext = cipher.doFinal(Base64Url.decode(p[4]));
            } catch (GeneralSecurityException e) {
                return error(400, "TOK003", "Failure");
            }
        } else {
            plaintext = body;
        }
        Map<String, Object> request = Json.parseObject(plaintext);
        if (!API_KEY.equals(request.get("apiKey"))) return error(401, "TOK002", "Invalid API Key Passed");
        if (!SECRET.equals(request.get("secret"))) return error(401, "TOK004", "Your credentials not allowed to generate token");
        PublicKey client = P256.fromJwkText(new String(Base64Url.decode((String) request.get("publicKey")), StandardCharsets.UTF_8));

        handshakes++;
        KeyPair server = P256.generate();
        String spkJwk = P256.publicJwk(server.getPublic());
        if (offCurveServerKey) {
            spkJwk = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + Base64Url.encode(P256.fixed32(P256.GX)) + "\",\"y\":\""
                + Base64Url.encode(P256.fixed32(P256.GY.add(java.math.BigInteger.ONE))) + "\"}";
        }
        String spk = Base64Url.encode(spkJwk);
        long expiry = (clock.get() + lifetimeMillis) / 1000 * 1000;
        String token = "tok." + handshakes + "." + Base64Url.encode(Jose.randomIv());
        byte[] key = Kdf.HKDF_SHA256.derive(P256.agree(server.getPrivate(), client));
        sessions.put(token, key);
        tokens.add(token);

        String jwsHeader = Base64Url.encode("{\"alg\":\"ES256\",\"kid\":\"sig-t\",\"typ\":\"handshake+jws\"}");
        String payload = Base64Url.encode("{\"cpk\":\"" + Jose.thumbprint(client) + "\",\"spk\":\"" + spk + "\",\"exp\":" + expiry
            + ",\"chn\":\"" + (signOverOtherChannel ? "WEB-APP" : channel) + "\"}");
        Signature signer = Signature.getInstance("SHA256withECDSA");
        signer.initSign((signWithRogueKey ? rogue : sig).getPrivate());
        signer.update((jwsHeader + "." + payload).getBytes(StandardCharsets.US_ASCII));
        String signature = jwsHeader + "." + payload + "." + Base64Url.encode(P256.derToRaw(signer.sign()));

        return json(200, "{\"resCode\":\"TOK200\",\"resDesc\":\"Success\",\"token\":\"" + token + "\",\"expiry\":"
            + (expiryAsString ? "\"" + expiry + "\"" : String.valueOf(expiry)) + ",\"serverPublicKey\":\"" + spk + "\""
            + (omitSignature ? "" : ",\"signature\":\"" + signature + "\"") + "}", "Cache-Control", "no-store");
    }

    private Reply route(String method, String target, Map<String, String> headers, byte[] body) throws GeneralSecurityException {
        routeCalls++;
        if (!cannedRoute.isEmpty()) return cannedRoute.poll();
        String auth = headers.get("Authorization");
        if (auth == null) return error(401, "AUTH001", "Token missing");
        if (!auth.startsWith("Bearer ")) return error(401, "AUTH002", "Token malformed");
        String token = auth.substring(7);
        byte[] key = sessions.get(token);
        if (key == null) return error(401, "AUTH007", "Session revoked or unknown");
        if (expiredTokens.contains(token)) return error(401, "AUTH005", "Token expired");
        Jose.Opened opened;
        try {
            if (body != null && body.length > 0) {
                opened = Jose.open(key, new String(body, StandardCharsets.US_ASCII), Jose.REQUEST_TYP);
            } else {
                String seal = headers.get("X-Request-Seal");
                if (seal == null) return error(400, "BODY008", "Request binding required");
                opened = Jose.open(key, seal, Jose.REQUEST_TYP);
                if (opened.plaintext.length != 0) return error(400, "BODY009", "X-Request-Seal is not an empty sealed message");
            }
        } catch (GeneralSecurityException e) {
            return error(400, "BODY002", "Request body does not decrypt");
        }
        if (!method.equals(opened.header.get("htm")) || !target.equals(opened.header.get("htp"))) {
            return error(400, "BODY007", "Sealed message is bound to another request");
        }
        received.add(opened.header);
        receivedPlaintexts.add(opened.plaintext);
        if (forgeSessionRefusal) return error(401, "AUTH005", "Token expired"); // after the upstream ran it
        String answer = "{\"method\":" + Json.quote(method) + ",\"target\":" + Json.quote(target) + ",\"bytes\":" + opened.plaintext.length + "}";
        if (answerInClear) return json(200, answer);
        String sealed = Jose.seal(key, answer.getBytes(StandardCharsets.UTF_8), "application/json", Jose.randomIv(),
            untypedResponses ? null : Jose.RESPONSE_TYP, null, null);
        if (tamperResponseTag) sealed = sealed.substring(0, sealed.length() - 2) + (sealed.endsWith("A") ? "BA" : "AA");
        Map<String, List<String>> h = new LinkedHashMap<String, List<String>>();
        h.put("Content-Type", Collections.singletonList("application/jose"));
        h.put("X-Request-Id", Collections.singletonList("r" + routeCalls));
        return new Reply(200, h, sealed.getBytes(StandardCharsets.US_ASCII));
    }
}

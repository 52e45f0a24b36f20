// sealgate reference client for Java: the JDK 17 standard library only.
//   java SealgateClient.java --vectors ../test-vectors.json
//   java SealgateClient.java --url http://127.0.0.1:8080 [--jwks pinned-jwks.json]
// With the gateway's JWK Set (fetched, or pinned) the token request is sealed to its enc key,
// stamped with iat (now) and chn (the channel it is sent on), and the signed answer is
// checked before K is derived. Every call is bound (htm, htp); a call without a body
// carries X-Request-Seal; the answer must be sealed (one in clear is refused) and typed
// response+jwe. The token is renewed a minute before it expires.
// Prints "java: ALL CHECKS PASSED" last, only when everything asked for passed; exits 1 on a
// failure, 2 on an unknown flag or a flag without its value.
import java.math.BigInteger;
import java.net.URI;
import java.net.http.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.interfaces.ECPublicKey;
import java.security.spec.*;
import java.util.*;
import javax.crypto.*;
import javax.crypto.spec.*;

public class SealgateClient {
    static final byte[] HKDF_INFO = "token-service/v2 A256GCM".getBytes(StandardCharsets.US_ASCII);
    static final Base64.Encoder B64U = Base64.getUrlEncoder().withoutPadding();
    static final Base64.Decoder B64U_DEC = Base64.getUrlDecoder();
    static final SecureRandom RANDOM = new SecureRandom();

    static ECParameterSpec p256() throws Exception {
        AlgorithmParameters params = AlgorithmParameters.getInstance("EC");
        params.init(new ECGenParameterSpec("secp256r1"));
        return params.getParameterSpec(ECParameterSpec.class);
    }

    static byte[] fixed32(BigInteger n) {
        byte[] raw = n.toByteArray(), out = new byte[32];
        int len = Math.min(raw.length, 32);
        System.arraycopy(raw, raw.length - len, out, 32 - len, len);
        return out;
    }

    static String publicJwk(ECPublicKey key) {
        return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + B64U.encodeToString(fixed32(key.getW().getAffineX()))
            + "\",\"y\":\"" + B64U.encodeToString(fixed32(key.getW().getAffineY())) + "\"}";
    }

    /** Parses a public JWK and checks the point is on P-256 (y^2 = x^3 + ax + b mod p). */
    static ECPublicKey parsePublicJwk(String text) throws Exception {
        Map<?, ?> jwk = (Map<?, ?>) Json.parse(text);
        if (!"EC".equals(jwk.get("kty")) || !"P-256".equals(jwk.get("crv")) || jwk.containsKey("d")) throw new IllegalArgumentException("not a public P-256 JWK");
        byte[] xb = B64U_DEC.decode((String) jwk.get("x")), yb = B64U_DEC.decode((String) jwk.get("y"));
        if (xb.length != 32 || yb.length != 32) throw new IllegalArgumentException("coordinates must be 32 bytes");
        BigInteger x = new BigInteger(1, xb), y = new BigInteger(1, yb);
        ECParameterSpec spec = p256();
        BigInteger p = ((ECFieldFp) spec.getCurve().getField()).getP();
        BigInteger rhs = x.pow(3).add(spec.getCurve().getA().multiply(x)).add(spec.getCurve().getB()).mod(p);
        if (x.compareTo(p) >= 0 || y.compareTo(p) >= 0 || !y.pow(2).mod(p).equals(rhs)) throw new IllegalArgumentException("point not on P-256");
        return (ECPublicKey) KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(new ECPoint(x, y), spec));
    }

    /** Z: the 32-byte x-coordinate of the shared point. */
    static byte[] agree(PrivateKey mine, PublicKey theirs) throws Exception {
        KeyAgreement ka = KeyAgreement.getInstance("ECDH");
        ka.init(mine);
        ka.doPhase(theirs, true);
        return ka.generateSecret();
    }

    static byte[] hmac(byte[] key, byte[]... parts) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        for (byte[] part : parts) mac.update(part);
        return mac.doFinal();
    }

    static byte[] u32(int n) { return new byte[] {(byte) (n >>> 24), (byte) (n >>> 16), (byte) (n >>> 8), (byte) n}; }

    static byte[] derive(String kdf, byte[] z) throws Exception {
        switch (kdf) {
            case "hkdf-sha256": // RFC 5869: empty salt = 32 zero bytes; one block of output
                return hmac(hmac(new byte[32], z), HKDF_INFO, new byte[] {1});
            case "concat-kdf": { // RFC 7518 §4.6.2
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                byte[] alg = "A256GCM".getBytes(StandardCharsets.US_ASCII);
                for (byte[] part : new byte[][] {u32(1), z, u32(alg.length), alg, u32(0), u32(0), u32(256)}) sha.update(part);
                return sha.digest();
            }
            case "raw": return z;
            default: throw new IllegalArgumentException("unknown kdf " + kdf);
        }
    }

    /** Seals under K; typ/htm/htp bind a request (docs/protocol.md §4.1). The header text is the AAD,
     *  its members in this order (the gateway writes the same order). */
    static String seal(byte[] key, byte[] plaintext, String cty, byte[] iv, String typ, String htm, String htp) throws Exception {
        StringBuilder header = new StringBuilder("{\"alg\":\"dir\",\"enc\":\"A256GCM\"");
        String[][] members = {{"cty", cty}, {"typ", typ}, {"htm", htm}, {"htp", htp}};
        for (String[] m : members) if (m[1] != null) header.append(",\"").append(m[0]).append("\":").append(Json.quote(m[1]));
        return sealProtected(key, header.append("}").toString(), plaintext, iv);
    }

    static String seal(byte[] key, byte[] plaintext, String cty, byte[] iv) throws Exception { return seal(key, plaintext, cty, iv, null, null, null); }

    static String sealProtected(byte[] key, String header, byte[] plaintext, byte[] iv) throws Exception {
        String protectedB64 = B64U.encodeToString(header.getBytes(StandardCharsets.UTF_8));
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
        cipher.updateAAD(protectedB64.getBytes(StandardCharsets.US_ASCII)); // AAD: the encoded header
        byte[] sealed = cipher.doFinal(plaintext);
        byte[] ct = Arrays.copyOf(sealed, sealed.length - 16), tag = Arrays.copyOfRange(sealed, sealed.length - 16, sealed.length);
        return protectedB64 + ".." + B64U.encodeToString(iv) + "." + B64U.encodeToString(ct) + "." + B64U.encodeToString(tag);
    }

    /** RFC 7638: SHA-256 of {"crv","kty","x","y"} in that order, no spaces. */
    static String thumbprint(String jwkText) throws Exception {
        Map<?, ?> j = (Map<?, ?>) Json.parse(jwkText);
        String canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + j.get("x") + "\",\"y\":\"" + j.get("y") + "\"}";
        return B64U.encodeToString(MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8)));
    }

    /** docs/protocol.md §1.1: ES256 (r || s) by the gateway's sig key, over this client's key, this
     *  serverPublicKey, this expiry and this channel. */
    static void verifyHandshake(Map<?, ?> answer, String sigJwk, String clientJwk, String channel) throws Exception {
        String[] p = String.valueOf(answer.get("signature")).split("\\.", -1);
        if (p.length != 3) throw new IllegalStateException("no handshake signature");
        Map<?, ?> header = (Map<?, ?>) Json.parse(new String(B64U_DEC.decode(p[0]), StandardCharsets.UTF_8));
        if (!"ES256".equals(header.get("alg")) || !"handshake+jws".equals(header.get("typ"))) throw new IllegalStateException("not an ES256 handshake+jws signature");
        Signature verifier = Signature.getInstance("SHA256withECDSAinP1363Format");
        verifier.initVerify(parsePublicJwk(sigJwk));
        verifier.update((p[0] + "." + p[1]).getBytes(StandardCharsets.US_ASCII));
        if (!verifier.verify(B64U_DEC.decode(p[2]))) throw new IllegalStateException("handshake signature does not verify");
        Map<?, ?> claims = (Map<?, ?>) Json.parse(new String(B64U_DEC.decode(p[1]), StandardCharsets.UTF_8));
        boolean same = thumbprint(clientJwk).equals(claims.get("cpk")) && answer.get("serverPublicKey").equals(claims.get("spk"))
            && answer.get("expiry").equals(claims.get("exp")) && channel.equals(claims.get("chn"));
        if (!same) throw new IllegalStateException("signed for another key, server key, expiry or channel");
    }

    /** docs/protocol.md §1.1: the token request sealed ECDH-ES + A256GCM to the gateway's enc key, sealed
     *  at iat (seconds since the epoch) for channel (chn: the X-API-KEY it is sent with). The
     *  header is the AAD, so the gateway trusts both; it refuses the request on another
     *  channel, outside its clock leeway of iat, or a second time (a new epk every request). */
    static String sealTokenRequest(byte[] plaintext, String kid, String encJwk, String channel, long iat, KeyPair epk, byte[] iv) throws Exception {
        byte[] cek = derive("concat-kdf", agree(epk.getPrivate(), parsePublicJwk(encJwk)));
        // Members in this order (alg, enc, kid, epk, iat, chn), as the published vectors write them.
        String header = "{\"alg\":\"ECDH-ES\",\"enc\":\"A256GCM\",\"kid\":" + Json.quote(kid) + ",\"epk\":" + publicJwk((ECPublicKey) epk.getPublic())
            + ",\"iat\":" + iat + ",\"chn\":" + Json.quote(channel) + "}";
        return sealProtected(cek, header, plaintext, iv);
    }

    static String[] open(byte[] key, String compact) throws Exception { return open(key, compact, null); }

    static String[] open(byte[] key, String compact, String wantTyp) throws Exception { // returns {cty, plaintext}
        String[] p = compact.split("\\.", -1);
        if (p.length != 5 || !p[1].isEmpty()) throw new IllegalArgumentException("not a dir compact JWE");
        Map<?, ?> header = (Map<?, ?>) Json.parse(new String(B64U_DEC.decode(p[0]), StandardCharsets.UTF_8));
        if (!"dir".equals(header.get("alg")) || !"A256GCM".equals(header.get("enc"))) throw new IllegalArgumentException("unexpected alg/enc");
        if (wantTyp != null && !wantTyp.equals(header.get("typ"))) throw new IllegalArgumentException("sealed message is not typed " + wantTyp);
        byte[] iv = B64U_DEC.decode(p[2]), ct = B64U_DEC.decode(p[3]), tag = B64U_DEC.decode(p[4]);
        if (iv.length != 12 || tag.length != 16) throw new IllegalArgumentException("bad IV or tag length");
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
        cipher.updateAAD(p[0].getBytes(StandardCharsets.US_ASCII)); // the header segment as received
        byte[] input = new byte[ct.length + 16];
        System.arraycopy(ct, 0, input, 0, ct.length);
        System.arraycopy(tag, 0, input, ct.length, 16);
        return new String[] {(String) header.get("cty"), new String(cipher.doFinal(input), StandardCharsets.UTF_8)};
    }

    static void check(boolean ok, String what) { if (!ok) throw new IllegalStateException("mismatch: " + what); }

    static byte[] hex(String s) { byte[] out = new byte[s.length() / 2]; for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16); return out; }

    static String toHex(byte[] b) { StringBuilder sb = new StringBuilder(); for (byte x : b) sb.append(String.format("%02x", x)); return sb.toString(); }

    static void checkVectors(String path) throws Exception {
        Map<?, ?> v = (Map<?, ?>) Json.parse(Files.readString(Path.of(path)));
        Map<?, ?> client = (Map<?, ?>) v.get("client"), server = (Map<?, ?>) v.get("server"), k = (Map<?, ?>) v.get("k");
        PrivateKey cd = KeyFactory.getInstance("EC").generatePrivate(new ECPrivateKeySpec(new BigInteger((String) client.get("d"), 16), p256()));
        check(publicJwk(parsePublicJwk((String) client.get("jwk"))).equals(client.get("jwk")), "client JWK");
        byte[] z = agree(cd, parsePublicJwk((String) server.get("jwk")));
        check(toHex(z).equals(v.get("z")), "Z");
        for (Object kdf : k.keySet()) check(toHex(derive((String) kdf, z)).equals(k.get(kdf)), (String) kdf);
        byte[] key = hex((String) k.get("hkdf-sha256"));
        Map<?, ?> req = (Map<?, ?>) v.get("request"), resp = (Map<?, ?>) v.get("response");
        String sealed = seal(key, ((String) req.get("plaintext")).getBytes(StandardCharsets.UTF_8), "application/json", hex((String) req.get("iv")));
        check(sealed.equals(req.get("jwe")), "request JWE");
        String[] opened = open(key, (String) resp.get("jwe"));
        check(opened[1].equals(resp.get("plaintext")) && opened[0].equals(resp.get("cty")), "response");
        Map<?, ?> h = (Map<?, ?>) v.get("handshake");
        check(thumbprint((String) client.get("jwk")).equals(h.get("client_thumbprint")), "thumbprint");
        String sigJwk = (String) ((Map<?, ?>) h.get("gateway_sig")).get("jwk"), encJwk = (String) ((Map<?, ?>) h.get("gateway_enc")).get("jwk");
        Map<String, Object> answer = new HashMap<>(Map.of("serverPublicKey", server.get("encoded"), "expiry", h.get("expiry"), "signature", h.get("signature")));
        verifyHandshake(answer, sigJwk, (String) client.get("jwk"), (String) h.get("channel"));
        boolean forged = false;
        try { verifyHandshake(answer, sigJwk, (String) server.get("jwk"), (String) h.get("channel")); forged = true; } catch (IllegalStateException refused) { /* as it must be */ }
        check(!forged, "a signature over another client's key was accepted");
        Map<?, ?> r = (Map<?, ?>) h.get("sealed_request"), epkOut = (Map<?, ?>) r.get("epk");
        PrivateKey epkPrivate = KeyFactory.getInstance("EC").generatePrivate(new ECPrivateKeySpec(new BigInteger((String) epkOut.get("d"), 16), p256()));
        KeyPair epk = new KeyPair(parsePublicJwk((String) epkOut.get("jwk")), epkPrivate);
        long iat = ((java.math.BigDecimal) r.get("iat")).longValueExact();
        String sealedRequest = sealTokenRequest(((String) r.get("plaintext")).getBytes(StandardCharsets.UTF_8), "enc-1", encJwk, (String) r.get("chn"), iat, epk, hex((String) r.get("iv")));
        check(new String(B64U_DEC.decode(sealedRequest.split("\\.")[0]), StandardCharsets.UTF_8).equals(r.get("protected")), "sealed request header");
        check(sealedRequest.equals(r.get("jwe")), "sealed request");
        Map<?, ?> b = (Map<?, ?>) v.get("binding"), body = (Map<?, ?>) b.get("body"), sealOnly = (Map<?, ?>) b.get("seal"), typed = (Map<?, ?>) b.get("response");
        check(seal(key, ((String) body.get("plaintext")).getBytes(StandardCharsets.UTF_8), "application/json", hex((String) body.get("iv")), "request+jwe", "POST", "/api/transfer?from=1").equals(body.get("jwe")), "bound body");
        check(seal(key, new byte[0], null, hex((String) sealOnly.get("iv")), "request+jwe", "GET", "/api/account/7").equals(sealOnly.get("jwe")), "seal");
        check(open(key, (String) typed.get("jwe"), "response+jwe")[1].equals(typed.get("plaintext")), "typed response");
        System.out.println("java: test vectors OK");
    }

    /** A token and K, renewed a minute before the token expires; every call bound. */
    static final class Session {
        final HttpClient http = HttpClient.newHttpClient();
        final String base, channel, apiKey, secret, kdf;
        final Map<?, ?> jwks;
        String token; byte[] key; long expiry;

        Session(String base, String channel, String apiKey, String secret, String kdf, Map<?, ?> jwks) {
            this.base = base; this.channel = channel; this.apiKey = apiKey; this.secret = secret; this.kdf = kdf; this.jwks = jwks;
        }

        /** The first listed key of this use, or, with a kid, the listed one it names (every
         *  listed sig key is trusted, so the gateway can move to a newer one). */
        String jwk(String use, String kid) {
            for (Object k : (List<?>) jwks.get("keys")) {
                Map<?, ?> key = (Map<?, ?>) k;
                if (use.equals(key.get("use")) && (kid == null || kid.equals(key.get("kid")))) return Json.write(k);
            }
            throw new IllegalStateException("no such " + use + " key in the JWK Set");
        }

        void handshake() throws Exception {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair pair = gen.generateKeyPair();
            String clientJwk = publicJwk((ECPublicKey) pair.getPublic());
            String publicKey = B64U.encodeToString(clientJwk.getBytes(StandardCharsets.UTF_8));
            String body = "{\"apiKey\":" + Json.quote(apiKey) + ",\"secret\":" + Json.quote(secret) + ",\"publicKey\":\"" + publicKey + "\"}";
            String encJwk = jwk("enc", null);
            String kid = (String) ((Map<?, ?>) Json.parse(encJwk)).get("kid");
            byte[] iv = new byte[12];
            RANDOM.nextBytes(iv);
            KeyPairGenerator epkGen = KeyPairGenerator.getInstance("EC");
            epkGen.initialize(new ECGenParameterSpec("secp256r1"));
            long iat = System.currentTimeMillis() / 1000;
            String sealedBody = sealTokenRequest(body.getBytes(StandardCharsets.UTF_8), kid, encJwk, channel, iat, epkGen.generateKeyPair(), iv); // chn = X-API-KEY
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + "/token-service/new/v2/token"))
                .header("X-API-KEY", channel).header("Content-Type", "application/jose")
                .POST(HttpRequest.BodyPublishers.ofString(sealedBody)).build(), HttpResponse.BodyHandlers.ofString());
            Map<?, ?> answer = (Map<?, ?>) Json.parse(response.body());
            if (response.statusCode() != 200 || !"TOK200".equals(answer.get("resCode"))) throw new IllegalStateException("token refused: " + response.statusCode() + " " + response.body());
            String signedHeader = new String(B64U_DEC.decode(String.valueOf(answer.get("signature")).split("\\.")[0]), StandardCharsets.UTF_8);
            String sigKid = (String) ((Map<?, ?>) Json.parse(signedHeader)).get("kid");
            verifyHandshake(answer, jwk("sig", sigKid), clientJwk, channel); // before deriving K
            ECPublicKey server = parsePublicJwk(new String(B64U_DEC.decode((String) answer.get("serverPublicKey")), StandardCharsets.UTF_8));
            key = derive(kdf, agree(pair.getPrivate(), server));
            token = (String) answer.get("token");
            expiry = ((java.math.BigDecimal) answer.get("expiry")).longValue();
        }

        /** A bound call; without a body, bound by X-Request-Seal. Returns {status, plaintext}. */
        String[] call(String method, String target, String body) throws Exception {
            if (token == null || expiry - System.currentTimeMillis() < 60_000) handshake();
            byte[] iv = new byte[12];
            RANDOM.nextBytes(iv); // never reuse an IV with the same key
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + target)).header("Authorization", "Bearer " + token);
            if (body == null) {
                request.header("X-Request-Seal", seal(key, new byte[0], null, iv, "request+jwe", method, target)).method(method, HttpRequest.BodyPublishers.noBody());
            } else {
                String sealed = seal(key, body.getBytes(StandardCharsets.UTF_8), "application/json", iv, "request+jwe", method, target);
                request.header("Content-Type", "application/jose").method(method, HttpRequest.BodyPublishers.ofString(sealed));
            }
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            // A token route seals every upstream answer, whatever its status; only the gateway's
            // own errors come in clear. So an answer in clear is never data: refuse it.
            String contentType = response.headers().firstValue("content-type").orElse("");
            if (!contentType.equals("application/jose")) {
                String text = response.body().substring(0, Math.min(200, response.body().length()));
                if (response.statusCode() >= 400) throw new IllegalStateException("gateway error " + response.statusCode() + ": " + text);
                throw new IllegalStateException("refused: the sealed route answered " + response.statusCode() + " in clear (Content-Type: " + contentType + "), not application/jose: " + text);
            }
            return new String[] {String.valueOf(response.statusCode()), open(key, response.body(), "response+jwe")[1]};
        }
    }

    static void roundTrip(String base, String channel, String apiKey, String secret, String kdf, String jwksPath) throws Exception {
        Map<?, ?> jwks;
        if (jwksPath != null) {
            jwks = (Map<?, ?>) Json.parse(Files.readString(Path.of(jwksPath)));
        } else {
            HttpResponse<String> fetched = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(base + "/.well-known/jwks.json")).build(), HttpResponse.BodyHandlers.ofString());
            if (fetched.statusCode() != 200) throw new IllegalStateException("no JWK Set: " + fetched.statusCode());
            jwks = (Map<?, ?>) Json.parse(fetched.body());
        }
        Session session = new Session(base, channel, apiKey, secret, kdf, jwks);
        String sent = "{\"amount\":100,\"from\":\"java\"}";
        String[] reply = session.call("POST", "/api/echo?via=java", sent);
        check(reply[0].equals("200"), "call status " + reply[0]);
        Map<?, ?> echoed = (Map<?, ?>) Json.parse(reply[1]);
        check(echoed.get("body").equals(Json.parse(sent)), "echoed body");
        String[] got = session.call("GET", "/api/echo", null);
        check(got[0].equals("200") && "GET".equals(((Map<?, ?>) Json.parse(got[1])).get("method")), "bodyless call " + got[0]);
        System.out.println("java: authenticated handshake and bound round trips OK, the upstream received " + sent);
    }

    static final List<String> FLAGS = List.of("--vectors", "--url", "--jwks", "--channel", "--api-key", "--secret", "--kdf");

    static void usage(String problem) {
        System.err.println("java: " + problem + "\nusage: java SealgateClient.java [--vectors FILE] [--url BASE] [--jwks FILE] [--channel ID] [--api-key ID] [--secret S] [--kdf NAME]");
        System.exit(2);
    }

    public static void main(String[] args) {
        // --flag value pairs; an unknown flag or one without its value is refused (exit 2).
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (!FLAGS.contains(args[i])) usage("unknown argument " + args[i]);
            if (i + 1 == args.length || args[i + 1].startsWith("--")) usage(args[i] + " needs a value");
            a.put(args[i], args[i + 1]);
        }
        if (!a.containsKey("--vectors") && !a.containsKey("--url")) usage("nothing to do");
        String secret = a.getOrDefault("--secret", Optional.ofNullable(System.getenv("SEALGATE_CLIENT_SECRET")).orElse("TEST123"));
        try {
            if (a.containsKey("--vectors")) checkVectors(a.get("--vectors"));
            if (a.containsKey("--url")) roundTrip(a.get("--url"), a.getOrDefault("--channel", "MOB-APP-2001"), a.getOrDefault("--api-key", "MOB-APP"), secret, a.getOrDefault("--kdf", "hkdf-sha256"), a.get("--jwks"));
        } catch (Exception failed) {
            failed.printStackTrace();
            System.err.println("java: FAILED: " + failed);
            System.exit(1);
        }
        // The last line, only when everything asked for passed: CI looks for it.
        System.out.println("java: ALL CHECKS PASSED");
    }

    /** A minimal JSON reader (objects, arrays, strings, numbers, literals): the JDK has none. */
    static final class Json {
        private final String s; private int i;
        private Json(String s) { this.s = s; }
        static Object parse(String text) { Json j = new Json(text); Object v = j.value(); j.ws(); if (j.i != text.length()) throw new IllegalArgumentException("trailing data"); return v; }
        static String quote(String v) { return "\"" + v.replace("\\", "\\\\").replace("\"", "\\\"") + "\""; }
        /** Writes a parsed value back (objects keep their member order). */
        static String write(Object v) {
            if (v == null) return "null";
            if (v instanceof String) return quote((String) v);
            if (v instanceof Map) { StringJoiner j = new StringJoiner(",", "{", "}"); for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) j.add(quote((String) e.getKey()) + ":" + write(e.getValue())); return j.toString(); }
            if (v instanceof List) { StringJoiner j = new StringJoiner(",", "[", "]"); for (Object o : (List<?>) v) j.add(write(o)); return j.toString(); }
            return v.toString();
        }
        private void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }
        private Object value() {
            ws();
            char c = s.charAt(i);
            if (c == '{') { Map<String, Object> m = new LinkedHashMap<>(); i++; ws(); if (s.charAt(i) == '}') { i++; return m; }
                do { ws(); String k = string(); ws(); expect(':'); m.put(k, value()); ws(); } while (s.charAt(i++) == ','); i--; expect('}'); return m; }
            if (c == '[') { List<Object> l = new ArrayList<>(); i++; ws(); if (s.charAt(i) == ']') { i++; return l; }
                do { l.add(value()); ws(); } while (s.charAt(i++) == ','); i--; expect(']'); return l; }
            if (c == '"') return string();
            for (String lit : new String[] {"true", "false", "null"}) if (s.startsWith(lit, i)) { i += lit.length(); return lit.equals("null") ? null : Boolean.valueOf(lit); }
            int start = i; while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            return new java.math.BigDecimal(s.substring(start, i));
        }
        private void expect(char c) { if (s.charAt(i++) != c) throw new IllegalArgumentException("expected " + c + " at " + (i - 1)); }
        private String string() {
            expect('"'); StringBuilder b = new StringBuilder();
            while (s.charAt(i) != '"') { char c = s.charAt(i++);
                if (c == '\\') { char e = s.charAt(i++); switch (e) { case 'n': b.append('\n'); break; case 't': b.append('\t'); break; case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break; case 'f': b.append('\f'); break; case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break; default: b.append(e); } }
                else b.append(c); }
            i++; return b.toString();
        }
    }
}

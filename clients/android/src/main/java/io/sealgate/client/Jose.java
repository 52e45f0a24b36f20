package io.sealgate.client;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.util.Arrays;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The JOSE pieces of the contract, with the header texts written by hand: the header segment is
 * the AAD, and the thumbprint hashes an exact text, so their bytes are fixed here
 * (docs/protocol.md §1.1, §4, §4.1).
 */
final class Jose {
    static final SecureRandom RANDOM = new SecureRandom();

    static final String REQUEST_TYP = "request+jwe";
    static final String RESPONSE_TYP = "response+jwe";

    private Jose() {}

    /** What {@link #open} returns. */
    static final class Opened {
        final Map<String, Object> header;
        final String cty;
        final byte[] plaintext;

        Opened(Map<String, Object> header, String cty, byte[] plaintext) {
            this.header = header;
            this.cty = cty;
            this.plaintext = plaintext;
        }
    }

    static byte[] randomIv() {
        byte[] iv = new byte[12];
        RANDOM.nextBytes(iv);
        return iv;
    }

    /**
     * The protected header of a message sealed under K, members in the order {@code alg, enc,
     * cty, typ, htm, htp} (each optional one left out when null).
     */
    static String dirHeader(String cty, String typ, String htm, String htp) {
        StringBuilder h = new StringBuilder("{\"alg\":\"dir\",\"enc\":\"A256GCM\"");
        if (cty != null) h.append(",\"cty\":").append(Json.quote(cty));
        if (typ != null) h.append(",\"typ\":").append(Json.quote(typ));
        if (htm != null) h.append(",\"htm\":").append(Json.quote(htm));
        if (htp != null) h.append(",\"htp\":").append(Json.quote(htp));
        return h.append('}').toString();
    }

    /** A compact JWE {@code dir} + {@code A256GCM} under {@code key} (§4, §4.1). */
    static String seal(byte[] key, byte[] plaintext, String cty, byte[] iv, String typ, String htm, String htp)
        throws GeneralSecurityException {
        return sealProtected(key, dirHeader(cty, typ, htm, htp), plaintext, iv);
    }

    /** AES-256-GCM with the base64url header segment as AAD; empty encrypted-key segment. */
    static String sealProtected(byte[] key, String headerJson, byte[] plaintext, byte[] iv) throws GeneralSecurityException {
        if (key.length != 32) throw new GeneralSecurityException("an A256GCM key is 32 bytes");
        if (iv.length != 12) throw new GeneralSecurityException("an A256GCM IV is 12 bytes");
        String headerSegment = Base64Url.encode(headerJson.getBytes(StandardCharsets.UTF_8));
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
        cipher.updateAAD(headerSegment.getBytes(StandardCharsets.US_ASCII));
        byte[] sealed = cipher.doFinal(plaintext);
        byte[] ct = Arrays.copyOf(sealed, sealed.length - 16);
        byte[] tag = Arrays.copyOfRange(sealed, sealed.length - 16, sealed.length);
        return headerSegment + ".." + Base64Url.encode(iv) + "." + Base64Url.encode(ct) + "." + Base64Url.encode(tag);
    }

    /**
     * Opens a compact JWE {@code dir} + {@code A256GCM} under {@code key}, with the header segment
     * as received as AAD. With {@code requiredTyp}, a header whose {@code typ} is anything else
     * (or missing) is refused before decrypting.
     */
    static Opened open(byte[] key, String compact, String requiredTyp) throws GeneralSecurityException {
        try {
            String[] p = split(compact, 5);
            if (p == null) throw new GeneralSecurityException("not a compact JWE");
            if (!p[1].isEmpty()) throw new GeneralSecurityException("a dir JWE has an empty encrypted key");
            Map<String, Object> header = Json.parseObject(Base64Url.decode(p[0]));
            if (!"dir".equals(header.get("alg")) || !"A256GCM".equals(header.get("enc"))) {
                throw new GeneralSecurityException("not alg dir, enc A256GCM");
            }
            if (header.containsKey("zip") || header.containsKey("crit")) throw new GeneralSecurityException("zip or crit in the header");
            String typ = Json.optString(header, "typ");
            if (requiredTyp != null && !requiredTyp.equals(typ)) {
                throw new GeneralSecurityException("sealed message is not typed " + requiredTyp);
            }
            String cty = Json.optString(header, "cty");
            byte[] iv = Base64Url.decode(p[2]);
            byte[] ct = Base64Url.decode(p[3]);
            byte[] tag = Base64Url.decode(p[4]);
            if (iv.length != 12 || tag.length != 16) throw new GeneralSecurityException("IV must be 12 bytes and tag 16");
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
            cipher.updateAAD(p[0].getBytes(StandardCharsets.US_ASCII));
            byte[] input = new byte[ct.length + 16];
            System.arraycopy(ct, 0, input, 0, ct.length);
            System.arraycopy(tag, 0, input, ct.length, 16);
            return new Opened(header, cty, cipher.doFinal(input));
        } catch (IllegalArgumentException e) {
            throw new GeneralSecurityException("malformed JWE: " + e.getMessage());
        }
    }

    /** Splits on '.', requiring exactly {@code parts} segments; null otherwise. */
    static String[] split(String compact, int parts) {
        String[] out = new String[parts];
        int start = 0;
        for (int k = 0; k < parts - 1; k++) {
            int dot = compact.indexOf('.', start);
            if (dot < 0) return null;
            out[k] = compact.substring(start, dot);
            start = dot + 1;
        }
        if (compact.indexOf('.', start) >= 0) return null;
        out[parts - 1] = compact.substring(start);
        return out;
    }

    /** RFC 7638 thumbprint of a P-256 public key: SHA-256 of {@code {"crv","kty","x","y"}} in that order, no spaces. */
    static String thumbprint(PublicKey key) throws GeneralSecurityException {
        Map<String, Object> jwk = Json.parseObject(P256.publicJwk(key));
        String canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + jwk.get("x") + "\",\"y\":\"" + jwk.get("y") + "\"}";
        return Base64Url.encode(MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.US_ASCII)));
    }

    /**
     * The token request sealed with ECDH-ES (direct) + A256GCM to the gateway's {@code enc} key,
     * header members in the order {@code alg, enc, kid, epk, iat, chn} (§1.1). The content key is
     * the Concat KDF of Z; it is zeroed after use.
     */
    static String sealTokenRequest(byte[] plaintext, String kid, PublicKey encKey, String channel, long iat, KeyPair epk, byte[] iv)
        throws GeneralSecurityException {
        byte[] z = P256.agree(epk.getPrivate(), encKey);
        byte[] cek = Kdf.CONCAT_KDF.derive(z);
        Arrays.fill(z, (byte) 0);
        try {
            String header = "{\"alg\":\"ECDH-ES\",\"enc\":\"A256GCM\",\"kid\":" + Json.quote(kid) + ",\"epk\":"
                + P256.publicJwk(epk.getPublic()) + ",\"iat\":" + iat + ",\"chn\":" + Json.quote(channel) + "}";
            return sealProtected(cek, header, plaintext, iv);
        } finally {
            Arrays.fill(cek, (byte) 0);
        }
    }

    /**
     * Checks the handshake signature of a token answer (§1.1), in the order the contract gives:
     * header ({@code alg} ES256, {@code typ} handshake+jws, a trusted {@code kid}), signature,
     * then the claims ({@code cpk} this client's key, {@code spk}, {@code exp}, {@code chn}).
     */
    static void verifyHandshake(String signature, String serverPublicKey, long expiry, PublicKey clientKey, String channel,
        GatewayTrust trust) throws GeneralSecurityException {
        try {
            String[] p = split(signature, 3);
            if (p == null) throw new GeneralSecurityException("the handshake signature is not a compact JWS");
            Map<String, Object> header = Json.parseObject(Base64Url.decode(p[0]));
            if (!"ES256".equals(header.get("alg")) || !"handshake+jws".equals(header.get("typ"))) {
                throw new GeneralSecurityException("not an ES256 handshake+jws signature");
            }
            if (header.containsKey("crit")) throw new GeneralSecurityException("crit in the signature header");
            String kid = Json.optString(header, "kid");
            PublicKey sigKey = kid == null ? null : trust.signingKey(kid);
            if (sigKey == null) throw new GeneralSecurityException("the signature names no trusted sig key");
            Signature verifier = Signature.getInstance("SHA256withECDSA");
            verifier.initVerify(sigKey);
            verifier.update((p[0] + "." + p[1]).getBytes(StandardCharsets.US_ASCII));
            if (!verifier.verify(P256.rawToDer(Base64Url.decode(p[2])))) {
                throw new GeneralSecurityException("the handshake signature does not verify");
            }
            Map<String, Object> claims = Json.parseObject(Base64Url.decode(p[1]));
            boolean same = thumbprint(clientKey).equals(claims.get("cpk"))
                && serverPublicKey.equals(claims.get("spk"))
                && Long.valueOf(expiry).equals(claims.get("exp"))
                && channel.equals(claims.get("chn"));
            if (!same) throw new GeneralSecurityException("signed for another client key, server key, expiry or channel");
        } catch (IllegalArgumentException e) {
            throw new GeneralSecurityException("malformed handshake signature: " + e.getMessage());
        }
    }
}

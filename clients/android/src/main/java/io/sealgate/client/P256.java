package io.sealgate.client;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECFieldFp;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.security.spec.EllipticCurve;
import java.util.Map;
import javax.crypto.KeyAgreement;

/**
 * P-256 on APIs that Android has had since API 24: the curve's parameters written out (no
 * {@code AlgorithmParameters}), an explicit point-on-curve check on import (not every provider
 * makes it), the public JWK text, ECDH, and the conversion of a JOSE {@code r || s} signature to
 * the DER form that {@code SHA256withECDSA} verifies.
 */
final class P256 {
    /** SEC 2 / FIPS 186-4 secp256r1. */
    static final BigInteger P = new BigInteger("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", 16);
    static final BigInteger A = new BigInteger("ffffffff00000001000000000000000000000000fffffffffffffffffffffffc", 16);
    static final BigInteger B = new BigInteger("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", 16);
    static final BigInteger GX = new BigInteger("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296", 16);
    static final BigInteger GY = new BigInteger("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5", 16);
    static final BigInteger N = new BigInteger("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16);

    static final ECParameterSpec SPEC =
        new ECParameterSpec(new EllipticCurve(new ECFieldFp(P), A, B), new ECPoint(GX, GY), N, 1);

    private P256() {}

    /** A fresh key pair from the platform's default provider (never persisted). */
    static KeyPair generate() throws GeneralSecurityException {
        KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
        gen.initialize(new ECGenParameterSpec("secp256r1"), Jose.RANDOM);
        return gen.generateKeyPair();
    }

    /** y² = x³ + ax + b (mod p), with both coordinates reduced; the point at infinity has no affine form. */
    static boolean isOnCurve(BigInteger x, BigInteger y) {
        if (x.signum() < 0 || y.signum() < 0 || x.compareTo(P) >= 0 || y.compareTo(P) >= 0) return false;
        BigInteger rhs = x.pow(3).add(A.multiply(x)).add(B).mod(P);
        return y.multiply(y).mod(P).equals(rhs);
    }

    /** A public key from affine coordinates, refused unless the point is on the curve. */
    static PublicKey publicKey(BigInteger x, BigInteger y) throws GeneralSecurityException {
        if (!isOnCurve(x, y)) throw new GeneralSecurityException("point not on P-256");
        return KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(new ECPoint(x, y), SPEC));
    }

    /** Exactly 32 big-endian bytes (BigInteger gives 31 or 33 now and then). */
    static byte[] fixed32(BigInteger n) {
        byte[] raw = n.toByteArray();
        byte[] out = new byte[32];
        int len = Math.min(raw.length, 32);
        System.arraycopy(raw, raw.length - len, out, 32 - len, len);
        return out;
    }

    /** The public JWK text {@code {"kty":"EC","crv":"P-256","x":…,"y":…}}, no white space. */
    static String publicJwk(PublicKey key) {
        ECPoint w = ((ECPublicKey) key).getW();
        return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + Base64Url.encode(fixed32(w.getAffineX()))
            + "\",\"y\":\"" + Base64Url.encode(fixed32(w.getAffineY())) + "\"}";
    }

    /**
     * Reads a public P-256 JWK object: {@code kty} EC, {@code crv} P-256, {@code x} and {@code y}
     * in strict base64url of exactly 32 bytes, no private {@code d}, on the curve. Other members
     * are the caller's business.
     */
    static PublicKey fromJwk(Map<String, Object> jwk) throws GeneralSecurityException {
        try {
            if (!"EC".equals(jwk.get("kty")) || !"P-256".equals(jwk.get("crv"))) {
                throw new GeneralSecurityException("not a P-256 JWK");
            }
            if (jwk.containsKey("d")) throw new GeneralSecurityException("a private JWK where a public one is expected");
            byte[] x = Base64Url.decode(Json.string(jwk, "x"));
            byte[] y = Base64Url.decode(Json.string(jwk, "y"));
            if (x.length != 32 || y.length != 32) throw new GeneralSecurityException("JWK coordinates must be 32 bytes");
            return publicKey(new BigInteger(1, x), new BigInteger(1, y));
        } catch (IllegalArgumentException e) {
            throw new GeneralSecurityException("malformed JWK: " + e.getMessage());
        }
    }

    /** Reads a public JWK from its JSON text. */
    static PublicKey fromJwkText(String text) throws GeneralSecurityException {
        try {
            return fromJwk(Json.parseObject(text));
        } catch (IllegalArgumentException e) {
            throw new GeneralSecurityException("malformed JWK: " + e.getMessage());
        }
    }

    /** Z: the 32-byte x-coordinate of the shared point. */
    static byte[] agree(PrivateKey mine, PublicKey theirs) throws GeneralSecurityException {
        KeyAgreement ka = KeyAgreement.getInstance("ECDH");
        ka.init(mine);
        ka.doPhase(theirs, true);
        byte[] z = ka.generateSecret();
        if (z.length == 32) return z;
        // Some providers drop leading zero bytes; Z is defined as exactly 32 bytes.
        byte[] out = fixed32(new BigInteger(1, z));
        java.util.Arrays.fill(z, (byte) 0);
        return out;
    }

    /**
     * A JOSE ES256 signature ({@code r || s}, 32 bytes each, RFC 7518 §3.4) as the DER
     * {@code SEQUENCE { INTEGER r, INTEGER s }} that {@code SHA256withECDSA} verifies. Refuses any
     * other length, and r or s outside [1, n-1].
     */
    static byte[] rawToDer(byte[] raw) throws GeneralSecurityException {
        if (raw.length != 64) throw new GeneralSecurityException("an ES256 signature is 64 bytes");
        byte[] r = derInteger(raw, 0);
        byte[] s = derInteger(raw, 32);
        int body = r.length + s.length;
        // body < 128: r and s are at most 2 + 33 bytes each, so the short length form always fits.
        byte[] der = new byte[2 + body];
        der[0] = 0x30;
        der[1] = (byte) body;
        System.arraycopy(r, 0, der, 2, r.length);
        System.arraycopy(s, 0, der, 2 + r.length, s.length);
        return der;
    }

    private static byte[] derInteger(byte[] raw, int off) throws GeneralSecurityException {
        byte[] half = java.util.Arrays.copyOfRange(raw, off, off + 32);
        BigInteger v = new BigInteger(1, half);
        if (v.signum() == 0 || v.compareTo(N) >= 0) throw new GeneralSecurityException("signature value out of range");
        int start = 0;
        while (start < 31 && half[start] == 0) start++;
        boolean pad = (half[start] & 0x80) != 0;
        int len = 32 - start + (pad ? 1 : 0);
        byte[] out = new byte[2 + len];
        out[0] = 0x02;
        out[1] = (byte) len;
        System.arraycopy(half, start, out, 2 + (pad ? 1 : 0), 32 - start);
        return out;
    }

    /** The reverse of {@link #rawToDer}: a DER ECDSA signature as 64 bytes {@code r || s} (strict DER). */
    static byte[] derToRaw(byte[] der) throws GeneralSecurityException {
        if (der.length < 8 || der[0] != 0x30 || (der[1] & 0xff) != der.length - 2) {
            throw new GeneralSecurityException("not a DER ECDSA signature");
        }
        byte[] out = new byte[64];
        int at = readDerInteger(der, 2, out, 0);
        at = readDerInteger(der, at, out, 32);
        if (at != der.length) throw new GeneralSecurityException("not a DER ECDSA signature");
        return out;
    }

    private static int readDerInteger(byte[] der, int at, byte[] out, int outOff) throws GeneralSecurityException {
        if (at + 2 > der.length || der[at] != 0x02) throw new GeneralSecurityException("not a DER INTEGER");
        int len = der[at + 1] & 0xff;
        int start = at + 2;
        if (len == 0 || len > 33 || start + len > der.length) throw new GeneralSecurityException("bad DER INTEGER length");
        if ((der[start] & 0x80) != 0) throw new GeneralSecurityException("negative DER INTEGER");
        if (len > 1 && der[start] == 0 && (der[start + 1] & 0x80) == 0) throw new GeneralSecurityException("non-minimal DER INTEGER");
        int skip = 0;
        if (len == 33) {
            if (der[start] != 0) throw new GeneralSecurityException("DER INTEGER over 256 bits");
            skip = 1;
        }
        System.arraycopy(der, start + skip, out, outOff + 32 - (len - skip), len - skip);
        return start + len;
    }
}

package io.sealgate.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.util.Arrays;
import org.junit.Test;

/** The hand-built curve, the on-curve check, and the r||s / DER conversion. */
public class P256Test {
    private static String jwk(BigInteger x, BigInteger y) {
        return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + Base64Url.encode(P256.fixed32(x)) + "\",\"y\":\"" + Base64Url.encode(P256.fixed32(y)) + "\"}";
    }

    private static void refused(String text, String why) {
        try {
            P256.fromJwkText(text);
            fail("accepted " + why);
        } catch (GeneralSecurityException expected) {
            // refused
        }
    }

    @Test
    public void generatorIsOnTheCurveAndHasOrderN() {
        assertTrue(P256.isOnCurve(P256.GX, P256.GY));
        assertNull("n·G is the point at infinity", TestSupport.multiplyG(P256.N));
        BigInteger[] g = TestSupport.multiplyG(BigInteger.ONE);
        assertEquals(P256.GX, g[0]);
    }

    @Test
    public void offCurvePointRefused() throws Exception {
        assertFalse(P256.isOnCurve(P256.GX, P256.GY.add(BigInteger.ONE)));
        refused(jwk(P256.GX, P256.GY.add(BigInteger.ONE)), "an off-curve point");
        refused(jwk(BigInteger.ZERO, BigInteger.ZERO), "(0, 0), which stands for infinity in some encodings");
        // a coordinate not reduced mod p is refused, although y + p satisfies the equation mod p
        assertFalse(P256.isOnCurve(P256.GX, P256.GY.add(P256.P)));
        try {
            P256.publicKey(P256.GX, P256.GY.add(P256.P));
            fail("accepted an unreduced coordinate");
        } catch (GeneralSecurityException expected) {
            // refused
        }
        // and a valid one is accepted
        P256.fromJwkText(jwk(P256.GX, P256.GY));
    }

    @Test
    public void malformedJwksRefused() {
        String good = jwk(P256.GX, P256.GY);
        refused(good.replace("\"EC\"", "\"RSA\""), "kty RSA");
        refused(good.replace("P-256", "P-384"), "crv P-384");
        refused(good.replace("}", ",\"d\":\"AAAA\"}"), "a private member");
        refused(good.replace("\"x\":\"", "\"x\":\"AA"), "a 33-byte x");
        refused(good.replace("\"x\":\"", "\"x\":\"=").replace("\"}", "=\"}"), "padding");
        refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\"}", "no y");
        refused("{\"kty\":\"EC\",\"kty\":\"EC\"}", "a repeated member");
        // a coordinate must be exactly 32 bytes: 31 bytes (not left-padded) is refused
        String shortX = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + Base64Url.encode(new byte[31]) + "\",\"y\":\""
            + Base64Url.encode(P256.fixed32(P256.GY)) + "\"}";
        refused(shortX, "a 31-byte x");
    }

    @Test
    public void fixed32PadsAndTrims() {
        assertEquals(32, P256.fixed32(BigInteger.ONE).length);
        assertEquals(1, P256.fixed32(BigInteger.ONE)[31]);
        byte[] high = P256.fixed32(P256.P); // toByteArray gives 33 bytes (a sign byte)
        assertEquals(33, P256.P.toByteArray().length);
        assertEquals(new BigInteger(1, high), P256.P);
    }

    @Test
    public void derConversionRoundTripsKnownShapes() throws Exception {
        byte[] raw = new byte[64];
        raw[31] = 1;                // r = 1: one content byte
        raw[32] = (byte) 0x80;      // s has its high bit set: a 0x00 sign byte in DER
        raw[63] = 5;
        byte[] der = P256.rawToDer(raw);
        assertEquals(0x30, der[0]);
        assertEquals(der.length - 2, der[1]);
        assertArrayEquals(new byte[] {0x02, 0x01, 0x01}, Arrays.copyOfRange(der, 2, 5));
        assertEquals(0x02, der[5]);
        assertEquals(33, der[6]);
        assertEquals(0, der[7]);
        assertArrayEquals(raw, P256.derToRaw(der));
    }

    @Test
    public void derConversionAgreesWithThePlatformSigner() throws Exception {
        KeyPair pair = P256.generate();
        byte[] message = "header.payload".getBytes("US-ASCII");
        for (int i = 0; i < 50; i++) {
            Signature signer = Signature.getInstance("SHA256withECDSA");
            signer.initSign(pair.getPrivate());
            signer.update(message);
            byte[] der = signer.sign();
            byte[] raw = P256.derToRaw(der);
            assertEquals(64, raw.length);
            assertArrayEquals(der, P256.rawToDer(raw));
            Signature verifier = Signature.getInstance("SHA256withECDSA");
            verifier.initVerify(pair.getPublic());
            verifier.update(message);
            assertTrue(verifier.verify(P256.rawToDer(raw)));
        }
    }

    @Test
    public void derConversionRefusesBadInput() {
        byte[][] badRaw = {new byte[63], new byte[65], new byte[64] /* r = s = 0 */};
        for (byte[] b : badRaw) {
            try {
                P256.rawToDer(b);
                fail("converted a bad raw signature");
            } catch (GeneralSecurityException expected) {
                // refused
            }
        }
        byte[] nRaw = new byte[64];
        System.arraycopy(P256.fixed32(P256.N), 0, nRaw, 0, 32);
        nRaw[63] = 1;
        try {
            P256.rawToDer(nRaw);
            fail("converted r = n");
        } catch (GeneralSecurityException expected) {
            // refused
        }
        byte[][] badDer = {
            {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01},              // short
            {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},        // not a SEQUENCE
            {0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01},  // non-minimal r
            {0x30, 0x06, 0x02, 0x01, (byte) 0x81, 0x02, 0x01, 0x01}, // negative r
        };
        for (byte[] b : badDer) {
            try {
                P256.derToRaw(b);
                fail("converted bad DER");
            } catch (GeneralSecurityException expected) {
                // refused
            }
        }
    }

    @Test
    public void ecdhBothWaysAndJwkText() throws Exception {
        KeyPair a = P256.generate();
        KeyPair b = P256.generate();
        assertArrayEquals(P256.agree(a.getPrivate(), b.getPublic()), P256.agree(b.getPrivate(), a.getPublic()));
        String text = P256.publicJwk(a.getPublic());
        assertTrue(text.matches("\\{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"[A-Za-z0-9_-]{43}\",\"y\":\"[A-Za-z0-9_-]{43}\"\\}"));
        ECPublicKey back = (ECPublicKey) P256.fromJwkText(text);
        assertEquals(((ECPublicKey) a.getPublic()).getW(), back.getW());
    }
}

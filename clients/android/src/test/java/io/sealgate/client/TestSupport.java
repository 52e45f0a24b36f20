package io.sealgate.client;

import java.io.File;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.spec.ECPrivateKeySpec;
import java.util.Map;

/** Shared helpers for the tests. */
final class TestSupport {
    private TestSupport() {}

    static byte[] hex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return out;
    }

    static String toHex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static PrivateKey privateKey(String dHex) throws Exception {
        return KeyFactory.getInstance("EC").generatePrivate(new ECPrivateKeySpec(new BigInteger(dHex, 16), P256.SPEC));
    }

    /** d·G in affine coordinates, by double-and-add on the curve constants of P256 (independent of any provider). */
    static BigInteger[] multiplyG(BigInteger d) {
        BigInteger[] result = null;
        BigInteger[] addend = {P256.GX, P256.GY};
        for (int i = 0; i < d.bitLength(); i++) {
            if (d.testBit(i)) result = add(result, addend);
            addend = add(addend, addend);
        }
        return result;
    }

    private static BigInteger[] add(BigInteger[] a, BigInteger[] b) {
        BigInteger p = P256.P;
        if (a == null) return b;
        if (b == null) return a;
        BigInteger lambda;
        if (a[0].equals(b[0])) {
            if (!a[1].equals(b[1]) || a[1].signum() == 0) return null;
            lambda = a[0].pow(2).multiply(BigInteger.valueOf(3)).add(P256.A).multiply(a[1].shiftLeft(1).modInverse(p)).mod(p);
        } else {
            lambda = b[1].subtract(a[1]).multiply(b[0].subtract(a[0]).modInverse(p)).mod(p);
        }
        BigInteger x = lambda.pow(2).subtract(a[0]).subtract(b[0]).mod(p);
        BigInteger y = lambda.multiply(a[0].subtract(x)).subtract(a[1]).mod(p);
        return new BigInteger[] {x, y};
    }

    /** The published vectors: system property sealgate.vectors, else found from the working directory. */
    static Map<String, Object> vectors() throws IOException {
        String path = System.getProperty("sealgate.vectors");
        File file = null;
        if (path != null) {
            file = new File(path);
        } else {
            for (String candidate : new String[] {"clients/test-vectors.json", "../test-vectors.json", "../../clients/test-vectors.json", "test-vectors.json"}) {
                if (new File(candidate).isFile()) {
                    file = new File(candidate);
                    break;
                }
            }
        }
        if (file == null || !file.isFile()) throw new IOException("test-vectors.json not found: set -Dsealgate.vectors=PATH");
        return Json.parseObject(new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> obj(Map<String, Object> parent, String name) {
        return (Map<String, Object>) parent.get(name);
    }

    static String str(Map<String, Object> parent, String name) {
        return (String) parent.get(name);
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

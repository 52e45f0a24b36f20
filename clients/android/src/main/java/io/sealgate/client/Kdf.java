package io.sealgate.client;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * How the session key {@code K} is derived from the ECDH secret {@code Z} (docs/protocol.md §2).
 * The gateway's operator configures one per channel and tells app developers which.
 */
public enum Kdf {
    /** HKDF-SHA256, empty salt, info {@code token-service/v2 A256GCM}: the default, and the one for new apps. */
    HKDF_SHA256("hkdf-sha256"),
    /** The Concat KDF of RFC 7518 §4.6.2 (AlgorithmID {@code A256GCM}, empty PartyUInfo/PartyVInfo, 256 bits). */
    CONCAT_KDF("concat-kdf"),
    /** {@code K = Z}: for legacy apps only ({@code Z} is a curve coordinate, not a uniform key). */
    RAW("raw");

    private static final byte[] HKDF_INFO = "token-service/v2 A256GCM".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] A256GCM = "A256GCM".getBytes(StandardCharsets.US_ASCII);

    private final String wireName;

    Kdf(String wireName) { this.wireName = wireName; }

    /** The name the gateway's configuration uses ({@code hkdf-sha256}, {@code concat-kdf}, {@code raw}). */
    public String wireName() { return wireName; }

    /** The KDF of a configuration name, such as {@code "hkdf-sha256"}. */
    public static Kdf fromWireName(String name) {
        for (Kdf k : values()) if (k.wireName.equals(name)) return k;
        throw new IllegalArgumentException("unknown kdf");
    }

    /** K from Z; the result is a new array of 32 bytes. */
    byte[] derive(byte[] z) throws GeneralSecurityException {
        switch (this) {
            case HKDF_SHA256: {
                // RFC 5869: extract with an empty salt (HMAC pads it to 32 zero bytes), then one block of expand.
                byte[] prk = hmac(new byte[32], z);
                try {
                    Mac mac = Mac.getInstance("HmacSHA256");
                    mac.init(new SecretKeySpec(prk, "HmacSHA256"));
                    mac.update(HKDF_INFO);
                    mac.update((byte) 1);
                    return mac.doFinal();
                } finally {
                    java.util.Arrays.fill(prk, (byte) 0);
                }
            }
            case CONCAT_KDF: {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                sha.update(u32(1));
                sha.update(z);
                sha.update(u32(A256GCM.length));
                sha.update(A256GCM);
                sha.update(u32(0));
                sha.update(u32(0));
                sha.update(u32(256));
                return sha.digest();
            }
            case RAW:
                return z.clone();
            default:
                throw new AssertionError();
        }
    }

    private static byte[] hmac(byte[] key, byte[] data) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data);
    }

    private static byte[] u32(int n) {
        return new byte[] {(byte) (n >>> 24), (byte) (n >>> 16), (byte) (n >>> 8), (byte) n};
    }
}

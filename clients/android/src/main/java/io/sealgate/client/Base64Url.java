package io.sealgate.client;

/**
 * Strict base64url (RFC 4648 §5) without padding, as every JOSE field of the contract uses it
 * (docs/protocol.md, Conventions). {@code java.util.Base64} only exists from Android API 26.
 *
 * <p>Decoding refuses padding, the standard alphabet's {@code +} and {@code /}, white space, a
 * length that no byte string has (4n+1), and stray bits in the last character, so one byte
 * string has exactly one accepted text.
 */
final class Base64Url {
    private static final char[] ALPHABET =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".toCharArray();
    private static final int[] VALUES = new int[128];

    static {
        java.util.Arrays.fill(VALUES, -1);
        for (int i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET[i]] = i;
    }

    private Base64Url() {}

    static String encode(byte[] data) {
        StringBuilder out = new StringBuilder((data.length * 4 + 2) / 3);
        int i = 0;
        for (; i + 3 <= data.length; i += 3) {
            int n = (data[i] & 0xff) << 16 | (data[i + 1] & 0xff) << 8 | (data[i + 2] & 0xff);
            out.append(ALPHABET[n >>> 18]).append(ALPHABET[(n >>> 12) & 63])
                .append(ALPHABET[(n >>> 6) & 63]).append(ALPHABET[n & 63]);
        }
        int rest = data.length - i;
        if (rest == 1) {
            int n = (data[i] & 0xff) << 16;
            out.append(ALPHABET[n >>> 18]).append(ALPHABET[(n >>> 12) & 63]);
        } else if (rest == 2) {
            int n = (data[i] & 0xff) << 16 | (data[i + 1] & 0xff) << 8;
            out.append(ALPHABET[n >>> 18]).append(ALPHABET[(n >>> 12) & 63]).append(ALPHABET[(n >>> 6) & 63]);
        }
        return out.toString();
    }

    static String encode(String utf8Text) {
        return encode(utf8Text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Decodes strictly; throws {@link IllegalArgumentException} (whose message holds no input). */
    static byte[] decode(String text) {
        int len = text.length();
        if (len % 4 == 1) throw new IllegalArgumentException("base64url: impossible length");
        byte[] out = new byte[len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1)];
        int o = 0, i = 0;
        for (; i + 4 <= len; i += 4) {
            int n = value(text, i) << 18 | value(text, i + 1) << 12 | value(text, i + 2) << 6 | value(text, i + 3);
            out[o++] = (byte) (n >>> 16);
            out[o++] = (byte) (n >>> 8);
            out[o++] = (byte) n;
        }
        int rest = len - i;
        if (rest == 2) {
            int c1 = value(text, i + 1);
            if ((c1 & 0x0f) != 0) throw new IllegalArgumentException("base64url: stray bits in the last character");
            out[o] = (byte) (value(text, i) << 2 | c1 >>> 4);
        } else if (rest == 3) {
            int c2 = value(text, i + 2);
            if ((c2 & 0x03) != 0) throw new IllegalArgumentException("base64url: stray bits in the last character");
            int n = value(text, i) << 10 | value(text, i + 1) << 4 | c2 >>> 2;
            out[o++] = (byte) (n >>> 8);
            out[o] = (byte) n;
        }
        return out;
    }

    private static int value(String text, int at) {
        char c = text.charAt(at);
        int v = c < 128 ? VALUES[c] : -1;
        if (v < 0) throw new IllegalArgumentException("base64url: character outside the URL-safe alphabet at " + at);
        return v;
    }
}

package io.sealgate.client;

import java.util.Arrays;

/**
 * A growable byte buffer for text that holds a secret (the token request's plaintext): it never
 * goes through a {@code String}, and every array it drops or hands out can be zeroed. Best effort:
 * the JVM may still have copied the bytes.
 */
final class SecretBuffer {
    private byte[] buf = new byte[256];
    private int len;

    private void ensure(int more) {
        if (len + more <= buf.length) return;
        byte[] bigger = Arrays.copyOf(buf, Math.max(buf.length * 2, len + more));
        Arrays.fill(buf, (byte) 0);
        buf = bigger;
    }

    private void put(int b) {
        ensure(1);
        buf[len++] = (byte) b;
    }

    /** Appends ASCII text that holds no secret (JSON punctuation, member names). */
    SecretBuffer ascii(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c > 0x7f) throw new IllegalArgumentException("not ASCII");
            put(c);
        }
        return this;
    }

    /** Appends a JSON string (quoted, escaped as {@link Json#quote}), encoded as UTF-8. */
    SecretBuffer jsonString(char[] chars) {
        put('"');
        for (int i = 0; i < chars.length; i++) {
            char c = chars[i];
            switch (c) {
                case '"': put('\\'); put('"'); continue;
                case '\\': put('\\'); put('\\'); continue;
                case '\n': put('\\'); put('n'); continue;
                case '\r': put('\\'); put('r'); continue;
                case '\t': put('\\'); put('t'); continue;
                case '\b': put('\\'); put('b'); continue;
                case '\f': put('\\'); put('f'); continue;
                default: break;
            }
            if (c < 0x20) {
                ascii("\\u00");
                put(Character.forDigit(c >> 4, 16));
                put(Character.forDigit(c & 15, 16));
            } else if (c < 0x80) {
                put(c);
            } else if (c < 0x800) {
                put(0xc0 | c >> 6);
                put(0x80 | (c & 0x3f));
            } else if (Character.isHighSurrogate(c) && i + 1 < chars.length && Character.isLowSurrogate(chars[i + 1])) {
                int cp = Character.toCodePoint(c, chars[++i]);
                put(0xf0 | cp >> 18);
                put(0x80 | ((cp >> 12) & 0x3f));
                put(0x80 | ((cp >> 6) & 0x3f));
                put(0x80 | (cp & 0x3f));
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException("a lone surrogate in a secret string");
            } else {
                put(0xe0 | c >> 12);
                put(0x80 | ((c >> 6) & 0x3f));
                put(0x80 | (c & 0x3f));
            }
        }
        put('"');
        return this;
    }

    /** The bytes written, in a new array (the caller zeroes it); the buffer is zeroed. */
    byte[] toByteArrayAndWipe() {
        byte[] out = Arrays.copyOf(buf, len);
        wipe();
        return out;
    }

    void wipe() {
        Arrays.fill(buf, (byte) 0);
        len = 0;
    }
}

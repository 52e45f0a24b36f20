package io.sealgate.client;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader (RFC 8259) and the string quoting the writers need. {@code org.json}
 * is on Android but not on the JVM, and it takes the last of two repeated members; the gateway
 * refuses repeated members, and so does this reader, so that two parsers never read one text two
 * ways (docs/protocol.md, Conventions).
 *
 * <p>Values: objects are {@code Map<String, Object>} (member order kept), arrays
 * {@code List<Object>}, strings {@code String}, numbers written as integers (no fraction, no
 * exponent) {@code Long} (or {@code BigInteger} past 64 bits), other numbers {@code BigDecimal},
 * {@code Boolean}, and JSON {@code null} the sentinel {@link #NULL}. Error messages give a position,
 * never the text.
 */
final class Json {
    /** JSON {@code null}: a sentinel, so that a member set to null differs from a missing one. */
    static final Object NULL = new Object() {
        @Override public String toString() { return "null"; }
    };

    private static final int MAX_DEPTH = 64;

    private final String s;
    private int i;
    private int depth;

    private Json(String s) { this.s = s; }

    /** Parses one JSON text; anything but white space after it is refused. */
    static Object parse(String text) {
        Json j = new Json(text);
        j.ws();
        Object v = j.value();
        j.ws();
        if (j.i != text.length()) throw j.fail("data after the JSON value");
        return v;
    }

    /** Decodes strict UTF-8 (no BOM), then parses. */
    static Object parse(byte[] utf8) {
        return parse(utf8(utf8));
    }

    /** Strict UTF-8 decoding: malformed or unmappable input is refused. */
    static String utf8(byte[] bytes) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            CharBuffer chars = decoder.decode(ByteBuffer.wrap(bytes));
            return chars.toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("JSON: not UTF-8");
        }
    }

    /** Parses a text that must be a JSON object. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> parseObject(String text) {
        Object v = parse(text);
        if (!(v instanceof Map)) throw new IllegalArgumentException("JSON: not an object");
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> parseObject(byte[] utf8) {
        return parseObject(utf8(utf8));
    }

    /** The string member {@code name}, or null when it is missing; refused when it is not a string. */
    static String optString(Map<String, Object> object, String name) {
        Object v = object.get(name);
        if (v == null) return null;
        if (!(v instanceof String)) throw new IllegalArgumentException("JSON: member " + name + " is not a string");
        return (String) v;
    }

    /** The string member {@code name}; refused when missing or not a string. */
    static String string(Map<String, Object> object, String name) {
        String v = optString(object, name);
        if (v == null) throw new IllegalArgumentException("JSON: member " + name + " is missing");
        return v;
    }

    /** The integer member {@code name} (written without fraction or exponent, within 64 bits). */
    static long integer(Map<String, Object> object, String name) {
        Object v = object.get(name);
        if (!(v instanceof Long)) throw new IllegalArgumentException("JSON: member " + name + " is not a 64-bit integer");
        return (Long) v;
    }

    /** Quotes a string as a JSON string: {@code "} and {@code \} escaped, control characters as escapes, nothing else. */
    static String quote(String v) {
        StringBuilder b = new StringBuilder(v.length() + 2).append('"');
        for (int k = 0; k < v.length(); k++) {
            char c = v.charAt(k);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                case '\b': b.append("\\b"); break;
                case '\f': b.append("\\f"); break;
                default:
                    if (c < 0x20) {
                        b.append("\\u00").append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 15, 16));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    // ---- the reader ----

    private IllegalArgumentException fail(String what) {
        return new IllegalArgumentException("JSON: " + what + " at offset " + i);
    }

    private void ws() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') i++;
            else break;
        }
    }

    private char peek() {
        if (i >= s.length()) throw fail("unexpected end");
        return s.charAt(i);
    }

    private void expect(char c) {
        if (peek() != c) throw fail("expected '" + c + "'");
        i++;
    }

    private Object value() {
        char c = peek();
        switch (c) {
            case '{': return object();
            case '[': return array();
            case '"': return string();
            case 't': literal("true"); return Boolean.TRUE;
            case 'f': literal("false"); return Boolean.FALSE;
            case 'n': literal("null"); return NULL;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return number();
                throw fail("unexpected character");
        }
    }

    private void literal(String word) {
        if (!s.startsWith(word, i)) throw fail("bad literal");
        i += word.length();
    }

    private void enter() {
        if (++depth > MAX_DEPTH) throw fail("nested too deeply");
    }

    private Map<String, Object> object() {
        enter();
        expect('{');
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        ws();
        if (peek() == '}') {
            i++;
            depth--;
            return m;
        }
        while (true) {
            ws();
            if (peek() != '"') throw fail("expected a member name");
            String name = string();
            if (m.containsKey(name)) throw fail("repeated member");
            ws();
            expect(':');
            ws();
            m.put(name, value());
            ws();
            char c = peek();
            i++;
            if (c == '}') break;
            if (c != ',') { i--; throw fail("expected ',' or '}'"); }
        }
        depth--;
        return m;
    }

    private List<Object> array() {
        enter();
        expect('[');
        List<Object> l = new ArrayList<Object>();
        ws();
        if (peek() == ']') {
            i++;
            depth--;
            return l;
        }
        while (true) {
            ws();
            l.add(value());
            ws();
            char c = peek();
            i++;
            if (c == ']') break;
            if (c != ',') { i--; throw fail("expected ',' or ']'"); }
        }
        depth--;
        return l;
    }

    private String string() {
        expect('"');
        StringBuilder b = new StringBuilder();
        while (true) {
            char c = peek();
            i++;
            if (c == '"') break;
            if (c < 0x20) { i--; throw fail("control character in a string"); }
            if (c != '\\') {
                b.append(c);
                continue;
            }
            char e = peek();
            i++;
            switch (e) {
                case '"': b.append('"'); break;
                case '\\': b.append('\\'); break;
                case '/': b.append('/'); break;
                case 'b': b.append('\b'); break;
                case 'f': b.append('\f'); break;
                case 'n': b.append('\n'); break;
                case 'r': b.append('\r'); break;
                case 't': b.append('\t'); break;
                case 'u': {
                    char u = hex4();
                    if (Character.isHighSurrogate(u)) {
                        if (!s.startsWith("\\u", i)) throw fail("lone surrogate");
                        i += 2;
                        char low = hex4();
                        if (!Character.isLowSurrogate(low)) throw fail("lone surrogate");
                        b.append(u).append(low);
                    } else if (Character.isLowSurrogate(u)) {
                        throw fail("lone surrogate");
                    } else {
                        b.append(u);
                    }
                    break;
                }
                default:
                    i--;
                    throw fail("bad escape");
            }
        }
        return b.toString();
    }

    private char hex4() {
        if (i + 4 > s.length()) throw fail("short \\u escape");
        int v = 0;
        for (int k = 0; k < 4; k++) {
            int d = Character.digit(s.charAt(i + k), 16);
            if (d < 0) throw fail("bad \\u escape");
            v = v << 4 | d;
        }
        i += 4;
        return (char) v;
    }

    private Object number() {
        int start = i;
        boolean integer = true;
        if (peek() == '-') i++;
        char c = peek();
        if (c == '0') {
            i++;
        } else if (c >= '1' && c <= '9') {
            digits();
        } else {
            throw fail("bad number");
        }
        if (i < s.length() && s.charAt(i) == '.') {
            integer = false;
            i++;
            if (i >= s.length() || !isDigit(s.charAt(i))) throw fail("bad number");
            digits();
        }
        if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            integer = false;
            i++;
            if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
            if (i >= s.length() || !isDigit(s.charAt(i))) throw fail("bad number");
            digits();
        }
        String text = s.substring(start, i);
        if (!integer) return new BigDecimal(text);
        BigInteger big = new BigInteger(text);
        return big.bitLength() < 64 ? (Object) Long.valueOf(big.longValue()) : big;
    }

    private void digits() {
        while (i < s.length() && isDigit(s.charAt(i))) i++;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }
}

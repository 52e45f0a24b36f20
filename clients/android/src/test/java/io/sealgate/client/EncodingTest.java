package io.sealgate.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.Test;

/** Strict base64url and strict JSON. */
public class EncodingTest {
    // ---- base64url ----

    @Test
    public void base64urlRoundTripsEveryLength() {
        Random random = new Random(7);
        for (int len = 0; len < 100; len++) {
            byte[] data = new byte[len];
            random.nextBytes(data);
            String text = Base64Url.encode(data);
            assertTrue(text.indexOf('=') < 0 && text.indexOf('+') < 0 && text.indexOf('/') < 0);
            assertArrayEquals(data, Base64Url.decode(text));
        }
    }

    @Test
    public void base64urlKnownValues() {
        // RFC 4648 §10, without padding, in the URL-safe alphabet
        String[][] known = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
        for (String[] k : known) {
            assertEquals(k[1], Base64Url.encode(k[0].getBytes(StandardCharsets.US_ASCII)));
            assertEquals(k[0], new String(Base64Url.decode(k[1]), StandardCharsets.US_ASCII));
        }
        assertEquals("-_8", Base64Url.encode(new byte[] {(byte) 0xfb, (byte) 0xff}));
        assertArrayEquals(new byte[] {(byte) 0xfb, (byte) 0xff}, Base64Url.decode("-_8"));
    }

    private static void refused(String text) {
        try {
            Base64Url.decode(text);
            fail("accepted " + text);
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().startsWith("base64url:"));
        }
    }

    @Test
    public void base64urlRefusesPaddingStandardAlphabetAndStrayBits() {
        refused("Zg==");        // padding
        refused("Zm8=");        // padding
        refused("+_8");         // standard alphabet
        refused("-/8");         // standard alphabet
        refused("Zh");          // stray bits: "Zh" has low bits set, only "Zg" is canonical for "f"
        refused("Zm9");         // stray bits: only "Zm8" is canonical for "fo"
        refused("Z");           // impossible length
        refused("Zm9vY");       // impossible length
        refused("Zm 9v");       // white space
        refused("Zm9v\n");      // white space
        refused("Zm9\u00e9");   // outside ASCII
    }

    // ---- JSON ----

    private static void jsonRefused(String text) {
        try {
            Json.parse(text);
            fail("accepted " + text);
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().startsWith("JSON:"));
        }
    }

    @Test
    public void jsonReadsValues() {
        Map<String, Object> o = Json.parseObject(" {\"a\":1,\"b\":[true,false,null],\"c\":\"x\\u00e9\\ud83d\\ude00\\n\\/\",\"d\":-1.5e3,\"e\":{},\"f\":[],"
            + "\"g\":1796556554000,\"h\":123456789012345678901234567890} ");
        assertEquals(Long.valueOf(1), o.get("a"));
        List<?> b = (List<?>) o.get("b");
        assertEquals(Boolean.TRUE, b.get(0));
        assertEquals(Boolean.FALSE, b.get(1));
        assertSame(Json.NULL, b.get(2));
        assertEquals("x\u00e9\ud83d\ude00\n/", o.get("c"));
        assertEquals(new BigDecimal("-1.5e3"), o.get("d"));
        assertEquals(Long.valueOf(1796556554000L), o.get("g"));
        assertEquals(new BigInteger("123456789012345678901234567890"), o.get("h"));
        assertEquals("[a, b, c, d, e, f, g, h]", o.keySet().toString()); // member order kept
        assertEquals(1796556554000L, Json.integer(o, "g"));
    }

    @Test
    public void jsonRefusesRepeatedMembers() {
        jsonRefused("{\"a\":1,\"a\":1}");
        jsonRefused("{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"alg\":\"none\"}");
        jsonRefused("{\"x\":{\"k\":1,\"k\":2}}");
        // the same name, escaped differently, is the same name
        jsonRefused("{\"alg\":1,\"\\u0061lg\":2}");
    }

    @Test
    public void jsonRefusesWhatRfc8259Refuses() {
        String[] bad = {
            "", " ", "{", "{\"a\":1", "{\"a\":1,}", "[1,]", "{'a':1}", "{a:1}", "{\"a\" 1}", "01", "1.", ".5", "-", "1e", "+1",
            "NaN", "Infinity", "tru", "nul", "\"\\x\"", "\"a\nb\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\u12\"", "{} {}", "{}x",
            "\ufeff{}", "[1]\u00a0", "{\"a\":1}\u0000", "\"unterminated",
        };
        for (String b : bad) jsonRefused(b);
        StringBuilder deep = new StringBuilder();
        for (int i = 0; i < 100; i++) deep.append('[');
        for (int i = 0; i < 100; i++) deep.append(']');
        jsonRefused(deep.toString());
    }

    @Test
    public void jsonRefusesMalformedUtf8() {
        try {
            Json.parse(new byte[] {'"', (byte) 0xc0, (byte) 0xae, '"'});
            fail("accepted an overlong UTF-8 sequence");
        } catch (IllegalArgumentException expected) {
            // refused
        }
    }

    @Test
    public void jsonTypedAccessors() {
        Map<String, Object> o = Json.parseObject("{\"s\":\"x\",\"n\":1,\"f\":1.0,\"z\":null}");
        assertEquals("x", Json.string(o, "s"));
        for (String[] c : new String[][] {{"string", "n"}, {"string", "missing"}, {"integer", "f"}, {"integer", "s"}, {"integer", "z"}}) {
            try {
                if (c[0].equals("string")) Json.string(o, c[1]);
                else Json.integer(o, c[1]);
                fail("accepted " + c[1] + " as " + c[0]);
            } catch (IllegalArgumentException expected) {
                // refused
            }
        }
    }

    @Test
    public void jsonQuoteRoundTrips() {
        String nasty = "a\"b\\c/d\n\r\t\b\f\u0001\u001f\u00e9\ud83d\ude00";
        assertEquals(nasty, Json.parse(Json.quote(nasty)));
        assertEquals("\"/api/x?y=1\"", Json.quote("/api/x?y=1")); // '/' stays as it is (the header bytes matter)
    }

    @Test
    public void secretBufferWritesTheSameJsonAsQuote() {
        String[] samples = {"TEST123", "p\"a\\ss\nword", "\u00e9\u4e2d\ud83d\ude00", "\u0001x"};
        for (String s : samples) {
            byte[] written = new SecretBuffer().jsonString(s.toCharArray()).toByteArrayAndWipe();
            assertEquals(Json.quote(s), new String(written, StandardCharsets.UTF_8));
        }
    }
}

package io.sealgate.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.Assume;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Against a running gateway on the demo configuration (config/gateway.toml: channel MOB-APP-2001,
 * client MOB-APP / TEST123, the echo upstream behind /api/, a plain route /public/). The URL
 * comes from the environment variable SEALGATE_URL; without it these tests are skipped (and
 * ci.sh fails on a skip, with SEALGATE_REQUIRE_LIVE=1).
 */
public class LiveGatewayTest {
    private static final String CHANNEL = "MOB-APP-2001";
    private static final String API_KEY = "MOB-APP";
    private static final String SECRET = System.getenv("SEALGATE_CLIENT_SECRET") != null ? System.getenv("SEALGATE_CLIENT_SECRET") : "TEST123";
    private static String url;
    private static GatewayTrust trust;

    @BeforeClass
    public static void gateway() throws Exception {
        url = System.getenv("SEALGATE_URL");
        Assume.assumeTrue("SEALGATE_URL is not set: live tests skipped", url != null && !url.isEmpty());
        trust = GatewayTrust.fetch(url);
    }

    /** A transport that records what goes out and can change a request or send it twice. */
    static final class Wire implements HttpTransport {
        final HttpTransport inner = new UrlConnectionTransport(5000, 10000, 1 << 20);
        final List<String> methods = new ArrayList<String>();
        final List<String> urls = new ArrayList<String>();
        final List<Map<String, String>> headers = new ArrayList<Map<String, String>>();
        final List<byte[]> bodies = new ArrayList<byte[]>();
        final List<Reply> replies = new ArrayList<Reply>();
        volatile boolean tamperTokenCiphertext;
        volatile boolean tamperTokenKid;
        volatile boolean sendTwice;

        int tokenRequests() {
            int n = 0;
            for (String u : urls) if (u.endsWith(SealgateClient.DEFAULT_TOKEN_PATH)) n++;
            return n;
        }

        @Override
        public synchronized Reply send(String method, String url, Map<String, String> h, byte[] body) throws IOException {
            Map<String, String> out = new LinkedHashMap<String, String>(h);
            String auth = out.get("Authorization");
            if (auth != null && tamperTokenCiphertext) {
                // flip one character in the middle of the token's ciphertext segment (the 4th)
                String[] p = auth.substring(7).split("\\.", -1);
                char c = p[3].charAt(p[3].length() / 2);
                p[3] = p[3].substring(0, p[3].length() / 2) + (c == 'A' ? 'B' : 'A') + p[3].substring(p[3].length() / 2 + 1);
                out.put("Authorization", "Bearer " + p[0] + "." + p[1] + "." + p[2] + "." + p[3] + "." + p[4]);
            }
            if (auth != null && tamperTokenKid) {
                // another token key id in the token's protected header
                String[] p = auth.substring(7).split("\\.", 2);
                String header = new String(Base64Url.decode(p[0]), StandardCharsets.UTF_8);
                Map<String, Object> parsed = Json.parseObject(header);
                String kid = (String) parsed.get("kid");
                String forged = Base64Url.encode(header.replace("\"kid\":" + Json.quote(kid), "\"kid\":\"retired-key\""));
                out.put("Authorization", "Bearer " + forged + "." + p[1]);
            }
            methods.add(method);
            urls.add(url);
            headers.add(out);
            bodies.add(body == null ? null : body.clone());
            Reply reply = inner.send(method, url, out, body);
            if (sendTwice && auth != null) reply = inner.send(method, url, out, body);
            replies.add(reply);
            return reply;
        }
    }

    private static SealgateClient.Builder builder(Wire wire) {
        return SealgateClient.builder(url).channel(CHANNEL).apiKey(API_KEY).secret(SECRET.toCharArray()).trust(trust).transport(wire);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> echoed(Response r) {
        assertEquals(200, r.status());
        assertTrue(r.isSealed());
        assertEquals("application/json", r.contentType());
        return Json.parseObject(r.body());
    }

    @Test
    public void jwksFetchedAndPinned() throws Exception {
        assertFalse(trust.signingKeyIds().isEmpty());
        assertTrue(trust.encryptionKeyId() != null);
        GatewayTrust pinned = GatewayTrust.fromJwks(trust.toJwks());
        assertEquals(trust.signingKeyIds(), pinned.signingKeyIds());
        assertEquals(trust.encryptionKeyId(), pinned.encryptionKeyId());
    }

    @Test
    public void wholeFlowWithAFetchedJwkSet() throws Exception {
        Wire wire = new Wire();
        SealgateClient client = SealgateClient.builder(url).channel(CHANNEL).apiKey(API_KEY).secret(SECRET)
            .fetchTrustFromGateway().transport(wire).build();
        String sent = "{\"amount\":100,\"currency\":\"EUR\",\"from\":\"android\"}";
        Map<String, Object> echo = echoed(client.call("POST", "/api/echo?via=android", sent, "application/json"));
        assertTrue(wire.urls.get(0).endsWith("/.well-known/jwks.json"));
        assertTrue(wire.urls.get(1).endsWith(SealgateClient.DEFAULT_TOKEN_PATH));

        // the sealed token request: application/jose, a compact JWE whose header holds iat and chn
        assertEquals("application/jose", wire.headers.get(1).get("Content-Type"));
        assertEquals(CHANNEL, wire.headers.get(1).get("X-API-KEY"));
        String sealedRequest = new String(wire.bodies.get(1), StandardCharsets.US_ASCII);
        assertFalse("the secret is not in the token request's bytes", sealedRequest.contains(SECRET));
        Map<String, Object> header = Json.parseObject(Base64Url.decode(Jose.split(sealedRequest, 5)[0]));
        assertEquals("ECDH-ES", header.get("alg"));
        assertEquals(client.trust().encryptionKeyId(), header.get("kid"));
        assertEquals(CHANNEL, header.get("chn"));
        assertTrue(Math.abs((Long) header.get("iat") - System.currentTimeMillis() / 1000) < 5);
        // the answer was signed
        Map<String, Object> answer = Json.parseObject(wire.replies.get(1).body());
        assertEquals(3, ((String) answer.get("signature")).split("\\.").length);

        // the upstream received the plaintext, on the right method and path, from the right client
        assertEquals("POST", echo.get("method"));
        assertEquals("/api/echo", echo.get("path"));
        assertEquals("via=android", echo.get("query"));
        assertEquals(Json.parse(sent), echo.get("body"));
        @SuppressWarnings("unchecked")
        Map<String, Object> upstreamHeaders = (Map<String, Object>) echo.get("headers");
        assertEquals(API_KEY, upstreamHeaders.get("x-client-id"));
        assertEquals(CHANNEL, upstreamHeaders.get("x-channel"));
        assertEquals("application/json", upstreamHeaders.get("content-type"));
        assertNull("the token does not reach the upstream", upstreamHeaders.get("authorization"));
        // the body went out sealed, bound to its request
        String sealedBody = new String(wire.bodies.get(2), StandardCharsets.US_ASCII);
        assertFalse(sealedBody.contains("android"));
        Map<String, Object> bodyHeader = Json.parseObject(Base64Url.decode(Jose.split(sealedBody, 5)[0]));
        assertEquals("request+jwe", bodyHeader.get("typ"));
        assertEquals("POST", bodyHeader.get("htm"));
        assertEquals("/api/echo?via=android", bodyHeader.get("htp"));
        assertTrue(wire.headers.get(2).get("Authorization").startsWith("Bearer "));
        client.close();
    }

    @Test
    public void bodylessGetCarriesXRequestSeal() throws Exception {
        Wire wire = new Wire();
        SealgateClient client = builder(wire).build();
        Map<String, Object> echo = echoed(client.call("GET", "/api/echo?x=1"));
        assertEquals("GET", echo.get("method"));
        assertEquals("/api/echo", echo.get("path"));
        assertEquals("x=1", echo.get("query"));
        String seal = wire.headers.get(1).get("X-Request-Seal");
        Map<String, Object> sealHeader = Json.parseObject(Base64Url.decode(Jose.split(seal, 5)[0]));
        assertEquals("GET", sealHeader.get("htm"));
        assertEquals("/api/echo?x=1", sealHeader.get("htp"));
        assertNull(wire.bodies.get(1));
        @SuppressWarnings("unchecked")
        Map<String, Object> upstreamHeaders = (Map<String, Object>) echo.get("headers");
        assertNull("the gateway removes the seal", upstreamHeaders.get("x-request-seal"));
        // bodyless POST and DELETE too
        assertEquals("POST", echoed(client.call("POST", "/api/echo")).get("method"));
        assertEquals("DELETE", echoed(client.call("DELETE", "/api/echo/7")).get("method"));
        // and PUT with a body of another type
        Map<String, Object> put = echoed(client.call("PUT", "/api/echo/7", "plain text \u00e9", "text/plain; charset=utf-8"));
        assertEquals("plain text \u00e9", put.get("body"));
        assertEquals(1, wire.tokenRequests());
        client.close();
    }

    @Test
    public void renewalWithAnInjectedClock() throws Exception {
        // The demo token lives 1800 s. Renew when less than (lifetime - 20 s) remains: with the
        // clock 30 s ahead (within the gateway's 60 s iat leeway) the session must be renewed.
        final AtomicLong offset = new AtomicLong();
        TimeSource clock = new TimeSource() {
            @Override public long currentTimeMillis() { return System.currentTimeMillis() + offset.get(); }
        };
        Wire probeWire = new Wire();
        SealgateClient probe = builder(probeWire).build();
        probe.handshake();
        long lifetime = probe.sessionExpiryMillis() - System.currentTimeMillis();
        probe.close();
        assertTrue("lifetime " + lifetime, lifetime > 60_000);

        Wire wire = new Wire();
        SealgateClient client = builder(wire).timeSource(clock).renewBeforeMillis(lifetime - 20_000).build();
        echoed(client.call("GET", "/api/echo"));
        String firstToken = client.sessionForTesting().token;
        byte[] firstKey = client.sessionForTesting().key;
        echoed(client.call("GET", "/api/echo"));
        assertEquals(1, wire.tokenRequests());

        offset.set(30_000);
        echoed(client.call("POST", "/api/echo", "{\"after\":\"renewal\"}", "application/json"));
        assertEquals("renewed before the call", 2, wire.tokenRequests());
        assertNotEquals(firstToken, client.sessionForTesting().token);
        assertArrayEquals("the old K is zeroed", new byte[32], firstKey);
        client.close();
    }

    @Test
    public void wrongSecretIsCredentialsRefused() throws Exception {
        SealgateClient client = SealgateClient.builder(url).channel(CHANNEL).apiKey(API_KEY).secret("not-the-secret-XYZ").trust(trust).build();
        try {
            client.call("GET", "/api/echo");
            fail("a wrong secret got a token");
        } catch (SealgateException e) {
            assertEquals(ErrorKind.CREDENTIALS_REFUSED, e.kind());
            assertEquals("TOK004", e.resCode());
            assertEquals(401, e.status());
            assertFalse(e.toString().contains("not-the-secret-XYZ"));
        }
    }

    @Test
    public void unknownChannelIsCredentialsRefused() throws Exception {
        SealgateClient client = SealgateClient.builder(url).channel("NO-SUCH-CHANNEL").apiKey(API_KEY).secret(SECRET).trust(trust).build();
        try {
            client.handshake();
            fail("an unknown channel got a token");
        } catch (SealgateException e) {
            assertEquals(ErrorKind.CREDENTIALS_REFUSED, e.kind());
            assertEquals("TOK002", e.resCode());
        }
    }

    @Test
    public void tamperedTokenCiphertextIsRefused() throws Exception {
        Wire wire = new Wire();
        SealgateClient client = builder(wire).build();
        client.handshake();
        wire.tamperTokenCiphertext = true;
        try {
            client.call("POST", "/api/echo", "{}", "application/json");
            fail("a tampered token was accepted");
        } catch (SealgateException e) {
            // The gateway answers 401 AUTH004 (the token does not decrypt): REQUEST_REFUSED, not
            // sent again; the session is dropped, so the next call makes a new handshake.
            assertEquals(ErrorKind.REQUEST_REFUSED, e.kind());
            assertEquals("AUTH004", e.resCode());
            assertEquals(401, e.status());
            assertEquals(1, wire.tokenRequests());
            assertFalse(client.hasSession());
        }
        wire.tamperTokenCiphertext = false;
        echoed(client.call("GET", "/api/echo"));
        assertEquals(2, wire.tokenRequests());
    }

    @Test
    public void tamperedTokenKeyIdIsSessionExpiredAfterOneRetry() throws Exception {
        Wire wire = new Wire();
        SealgateClient client = builder(wire).build();
        client.handshake();
        wire.tamperTokenKid = true;
        try {
            client.call("GET", "/api/echo");
            fail("a token naming an unknown key was accepted");
        } catch (SealgateException e) {
            // 401 AUTH003 (token key unknown): a new handshake is made and the call sent again,
            // which the tampering wire breaks again, so the second refusal is raised.
            assertEquals(ErrorKind.SESSION_EXPIRED, e.kind());
            assertEquals("AUTH003", e.resCode());
            assertEquals(2, wire.tokenRequests());
        }
        wire.tamperTokenKid = false;
        echoed(client.call("GET", "/api/echo"));
    }

    @Test
    public void tamperedTokenKeyIdOnAPostIsRaisedWithoutSendingAgain() throws Exception {
        Wire wire = new Wire();
        SealgateClient client = builder(wire).build();
        client.handshake();
        wire.tamperTokenKid = true;
        try {
            client.call("POST", "/api/echo", "{\"once\":true}", "application/json");
            fail("a token naming an unknown key was accepted");
        } catch (SealgateException e) {
            // 401 AUTH003 on a POST: not idempotent, so not sent again; the session is dropped.
            assertEquals(ErrorKind.SESSION_EXPIRED, e.kind());
            assertEquals("AUTH003", e.resCode());
            assertEquals(1, wire.tokenRequests());
            assertFalse(client.hasSession());
        }
        int calls = 0;
        for (String u : wire.urls) if (u.contains("/api/")) calls++;
        assertEquals("the POST went out once", 1, calls);
        wire.tamperTokenKid = false;
        echoed(client.call("POST", "/api/echo", "{\"once\":true}", "application/json"));
        assertEquals("the next call made the new handshake", 2, wire.tokenRequests());
    }

    @Test
    public void aReplayIsReplayedAndNotRetried() throws Exception {
        Wire wire = new Wire();
        SealgateClient client = builder(wire).build();
        client.handshake();
        wire.sendTwice = true;
        try {
            client.call("POST", "/api/echo", "{\"pay\":1}", "application/json");
            fail("a replay was accepted");
        } catch (SealgateException e) {
            assertEquals(ErrorKind.REPLAYED, e.kind());
            assertEquals("AUTH008", e.resCode());
        }
        try {
            client.call("GET", "/api/echo");
            fail("a replayed seal was accepted");
        } catch (SealgateException e) {
            assertEquals(ErrorKind.REPLAYED, e.kind());
        }
        assertEquals(1, wire.tokenRequests());
    }

    @Test
    public void aClear2xxFromAPlainRouteIsRefused() throws Exception {
        SealgateClient client = builder(new Wire()).build();
        try {
            client.call("GET", "/public/echo");
            fail("an answer in clear was returned as data");
        } catch (SealgateException e) {
            assertEquals(ErrorKind.RESPONSE_INVALID, e.kind());
            assertEquals(200, e.status());
        }
        // unless the app says the route does not seal
        SealgateClient plain = builder(new Wire()).requireSealedResponses(false).build();
        Response r = plain.call("GET", "/public/echo");
        assertFalse(r.isSealed());
        assertEquals(200, r.status());
    }

    @Test
    public void noRouteIsRequestRefused() throws Exception {
        SealgateClient client = builder(new Wire()).build();
        try {
            client.call("GET", "/nowhere");
            fail();
        } catch (SealgateException e) {
            assertEquals(ErrorKind.REQUEST_REFUSED, e.kind());
            assertEquals("ROUTE001", e.resCode());
            assertEquals(404, e.status());
        }
    }

    @Test
    public void noSecretInMessages() throws Exception {
        List<Throwable> failures = new ArrayList<Throwable>();
        Wire wire = new Wire();
        SealgateClient client = builder(wire).build();
        Response ok = client.call("POST", "/api/echo", "{\"pin\":\"PIN-98765\"}", "application/json");
        String token = client.sessionForTesting().token;
        byte[] key = client.sessionForTesting().key.clone();
        wire.sendTwice = true;
        failures.add(catchAny(() -> client.call("POST", "/api/echo", "{\"pin\":\"PIN-98765\"}", "application/json")));
        wire.sendTwice = false;
        wire.tamperTokenCiphertext = true;
        failures.add(catchAny(() -> client.call("POST", "/api/echo", "{\"pin\":\"PIN-98765\"}", "application/json")));
        wire.tamperTokenCiphertext = false;
        failures.add(catchAny(() -> client.call("GET", "/public/echo")));
        failures.add(catchAny(() -> SealgateClient.builder(url).channel(CHANNEL).apiKey(API_KEY).secret(SECRET + "-wrong").trust(trust).build().handshake()));
        failures.add(catchAny(() -> SealgateClient.builder("http://127.0.0.1:1").channel(CHANNEL).apiKey(API_KEY).secret(SECRET).trust(trust).build().handshake()));
        String[] secrets = {SECRET, token, TestSupport.toHex(key), Base64Url.encode(key), "PIN-98765"};
        List<String> texts = new ArrayList<String>();
        texts.add(client.toString());
        texts.add(ok.toString());
        texts.add(trust.toString());
        for (Throwable f : failures) {
            for (Throwable t = f; t != null; t = t.getCause()) {
                texts.add(t.toString());
                texts.add(String.valueOf(t.getMessage()));
            }
        }
        for (String text : texts) {
            for (String secret : secrets) {
                assertFalse("a secret in " + text.replace(secret, "<SECRET>"), text.contains(secret));
            }
        }
        assertEquals(ErrorKind.TRANSPORT, ((SealgateException) failures.get(4)).kind());
        client.close();
    }

    interface ThrowingCall {
        void run() throws Exception;
    }

    private static Throwable catchAny(ThrowingCall call) {
        try {
            call.run();
        } catch (Exception e) {
            return e;
        }
        throw new AssertionError("no exception");
    }
}

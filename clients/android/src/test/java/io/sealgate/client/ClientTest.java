package io.sealgate.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Before;
import org.junit.Test;

/** The client's flow against {@link FakeGateway}: session, renewal, retries, error kinds, refusals, secrets. */
public class ClientTest {
    private FakeGateway gw;

    @Before
    public void setUp() throws Exception {
        gw = new FakeGateway();
    }

    private static SealgateException expect(ErrorKind kind, ThrowingCall call) throws Exception {
        try {
            call.run();
        } catch (SealgateException e) {
            assertEquals("kind of " + e, kind, e.kind());
            return e;
        }
        fail("no " + kind + " was raised");
        return null;
    }

    interface ThrowingCall {
        void run() throws Exception;
    }

    @Test
    public void sealedHandshakeAndBoundCalls() throws Exception {
        SealgateClient client = gw.client().build();
        assertFalse(client.hasSession());
        Response r = client.call("POST", "/api/echo?via=android", "{\"amount\":100}", "application/json");
        assertEquals(200, r.status());
        assertTrue(r.isSealed());
        assertEquals("application/json", r.contentType());
        assertEquals("r1", r.header("x-request-id"));
        Map<String, Object> echoed = Json.parseObject(r.body());
        assertEquals("POST", echoed.get("method"));
        assertEquals("/api/echo?via=android", echoed.get("target"));

        Map<String, Object> bound = gw.received.get(0);
        assertEquals("request+jwe", bound.get("typ"));
        assertEquals("POST", bound.get("htm"));
        assertEquals("/api/echo?via=android", bound.get("htp"));
        assertEquals("application/json", bound.get("cty"));
        assertEquals("[alg, enc, cty, typ, htm, htp]", bound.keySet().toString());
        assertEquals("{\"amount\":100}", new String(gw.receivedPlaintexts.get(0), StandardCharsets.UTF_8));

        Response get = client.call("GET", "/api/account/7");
        assertEquals("GET", Json.parseObject(get.body()).get("method"));
        Map<String, Object> seal = gw.received.get(1);
        assertEquals("[alg, enc, typ, htm, htp]", seal.keySet().toString());
        assertEquals("/api/account/7", seal.get("htp"));
        assertEquals(1, gw.handshakes);

        // the token request was sealed, stamped and sent on the channel
        assertEquals("application/jose", gw.tokenRequestHeaders.get(0).get("Content-Type"));
        assertEquals(FakeGateway.CHANNEL, gw.tokenRequestHeaders.get(0).get("X-API-KEY"));
        Map<String, Object> h = gw.sealedRequestHeaders.get(0);
        assertEquals("[alg, enc, kid, epk, iat, chn]", h.keySet().toString());
        assertEquals(gw.clock.get() / 1000, h.get("iat"));
        assertEquals(FakeGateway.CHANNEL, h.get("chn"));
        client.close();
    }

    @Test
    public void aBasePathIsPartOfTheBoundTarget() throws Exception {
        final List<String> urls = new ArrayList<String>();
        HttpTransport strip = new HttpTransport() {
            @Override
            public Reply send(String method, String url, Map<String, String> headers, byte[] body) throws IOException {
                urls.add(url);
                // the fake serves at its root: take the prefix off, as a reverse proxy in front of it would
                return gw.send(method, url.replace("/gw/", "/"), headers, body);
            }
        };
        SealgateClient client = SealgateClient.builder(FakeGateway.BASE + "/gw/").channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret(FakeGateway.SECRET).trust(gw.trust()).transport(strip).timeSource(gw.time).build();
        // the fake compares htp with the target it sees, so expect BODY007: the client bound the full target
        SealgateException e = expect(ErrorKind.REQUEST_REFUSED, () -> client.call("GET", "/api/x"));
        assertEquals("BODY007", e.resCode());
        assertEquals(FakeGateway.BASE + "/gw/api/x", urls.get(urls.size() - 1));
        assertEquals(FakeGateway.BASE + "/gw" + SealgateClient.DEFAULT_TOKEN_PATH, urls.get(0));
    }

    @Test
    public void aFreshEpkAndIatForEveryAttempt() throws Exception {
        SealgateClient client = gw.client().build();
        client.handshake();
        gw.clock.addAndGet(5_000);
        client.handshake();
        assertEquals(2, gw.sealedRequestHeaders.size());
        assertNotEquals(gw.sealedRequestHeaders.get(0).get("epk"), gw.sealedRequestHeaders.get(1).get("epk"));
        assertEquals(5L, (Long) gw.sealedRequestHeaders.get(1).get("iat") - (Long) gw.sealedRequestHeaders.get(0).get("iat"));
        assertNotEquals(gw.tokens.get(0), gw.tokens.get(1));
    }

    @Test
    public void parallelCallsShareOneHandshake() throws Exception {
        final SealgateClient client = gw.client().build();
        final List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<Throwable>());
        Thread[] threads = new Thread[8];
        for (int t = 0; t < threads.length; t++) {
            final int id = t;
            threads[t] = new Thread(new Runnable() {
                @Override
                public void run() {
                    try {
                        for (int i = 0; i < 5; i++) {
                            Response r = client.call("POST", "/api/t" + id, "{\"i\":" + i + "}", "application/json");
                            if (r.status() != 200 || !r.isSealed()) throw new AssertionError("bad answer " + r);
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) t.join();
        assertTrue(failures.toString(), failures.isEmpty());
        assertEquals(1, gw.handshakes);
        assertEquals(40, gw.received.size());
    }

    @Test
    public void renewsWhenLessThanSixtySecondsRemain() throws Exception {
        SealgateClient client = gw.client().build();
        client.call("GET", "/api/a");
        long expiry = client.sessionExpiryMillis();
        assertEquals(gw.clock.get() + gw.lifetimeMillis, expiry);
        byte[] firstKey = client.sessionForTesting().key;
        byte[] firstKeyCopy = firstKey.clone();

        gw.clock.set(expiry - 60_000); // exactly 60 s left: not yet
        client.call("GET", "/api/b");
        assertEquals(1, gw.handshakes);

        gw.clock.set(expiry - 59_999); // less than 60 s left: renew first
        client.call("GET", "/api/c");
        assertEquals(2, gw.handshakes);
        assertTrue(client.sessionExpiryMillis() > expiry);
        assertArrayEquals("the replaced session's key is zeroed", new byte[32], firstKey);
        assertFalse(java.util.Arrays.equals(firstKeyCopy, client.sessionForTesting().key));
        // and the call went out under the new token
        assertEquals(3, gw.received.size());
    }

    @Test
    public void aCustomRenewalMargin() throws Exception {
        SealgateClient client = gw.client().renewBeforeMillis(gw.lifetimeMillis + 1).build();
        client.call("GET", "/api/a");
        client.call("GET", "/api/a");
        assertEquals("every call renews when the margin exceeds the lifetime", 2, gw.handshakes);
    }

    @Test
    public void sessionExpiredOnAnIdempotentCallIsSentOnceMoreAfterANewHandshake() throws Exception {
        SealgateClient client = gw.client().build();
        client.call("GET", "/api/a");
        byte[] firstKey = client.sessionForTesting().key;
        gw.expiredTokens.add(gw.tokens.get(0));
        Response r = client.call("PUT", "/api/b", "{}", "application/json");
        assertEquals(200, r.status());
        assertEquals(2, gw.handshakes);
        assertEquals(3, gw.routeCalls); // a, b refused, b again
        assertArrayEquals(new byte[32], firstKey);
        // the body was sealed anew (another IV) under the new session
        assertEquals(2, gw.received.size());
        for (String method : new String[] {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}) {
            int handshakes = gw.handshakes;
            int routeCalls = gw.routeCalls;
            gw.cannedRoute.add(FakeGateway.error(401, "AUTH005", "Token expired"));
            assertEquals(method, 200, client.call(method, "/api/c").status());
            assertEquals(method + ": one new handshake", handshakes + 1, gw.handshakes);
            assertEquals(method + ": sent once more", routeCalls + 2, gw.routeCalls);
        }
    }

    @Test
    public void sessionExpiredOnAPostOrPatchIsRaisedWithoutSendingAgain() throws Exception {
        SealgateClient client = gw.client().build();
        for (String code : new String[] {"AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"}) {
            for (String method : new String[] {"POST", "PATCH"}) {
                client.handshake();
                int handshakes = gw.handshakes;
                int routeCalls = gw.routeCalls;
                int delivered = gw.received.size();
                byte[] key = client.sessionForTesting().key;
                // whoever terminates TLS passes the call on (it runs upstream), then forges the refusal
                gw.forgeSessionRefusal = true;
                SealgateException e = expect(ErrorKind.SESSION_EXPIRED, () -> client.call(method, "/api/pay", "{\"amount\":100}", "application/json"));
                gw.forgeSessionRefusal = false;
                assertEquals("AUTH005", e.resCode());
                assertEquals(401, e.status());
                assertEquals(method + ": not sent again", routeCalls + 1, gw.routeCalls);
                assertEquals(method + ": the upstream saw it once", delivered + 1, gw.received.size());
                assertEquals(method + ": no new handshake for nothing", handshakes, gw.handshakes);
                assertFalse(method + ": the session is dropped", client.hasSession());
                assertArrayEquals(new byte[32], key);
                // the canned refusal with each session code: the same
                gw.cannedRoute.add(FakeGateway.error(401, code, "x"));
                assertEquals(code, expect(ErrorKind.SESSION_EXPIRED, () -> client.call(method, "/api/pay", "{}", "application/json")).resCode());
                assertEquals(code + ": one handshake for that call, none after", handshakes + 1, gw.handshakes);
                assertEquals(routeCalls + 2, gw.routeCalls);
                assertFalse(client.hasSession());
                assertEquals(200, client.call("GET", "/api/a").status());
                assertEquals("the next call made the new handshake", handshakes + 2, gw.handshakes);
            }
        }
    }

    @Test
    public void aRefusalThatIsNotTheGatewaysSessionRefusalIsNotSentAgain() throws Exception {
        SealgateClient client = gw.client().build();
        HttpTransport.Reply[] answers = {
            FakeGateway.json(401, "{\"error\":\"token expired\",\"resCode\":\"AUTH005\"}"),              // an upstream's JSON
            FakeGateway.json(401, "{\"resCode\":\"AUTH005\",\"resDesc\":\"Token expired\",\"x\":1}"),     // not the gateway's shape
            FakeGateway.json(401, "{\"resCode\":\"AUTH005\"}"),
            FakeGateway.json(401, "{\"resCode\":\"AUTH005\",\"resDesc\":null}"),
            FakeGateway.json(401, "AUTH005"),
            FakeGateway.error(403, "AUTH005", "Token expired"),                                              // not with 401
        };
        for (HttpTransport.Reply answer : answers) {
            client.handshake();
            SealgateClient.Session session = client.sessionForTesting();
            int handshakes = gw.handshakes;
            int routeCalls = gw.routeCalls;
            gw.cannedRoute.add(answer);
            SealgateException e = expect(ErrorKind.REQUEST_REFUSED, () -> client.call("GET", "/api/a"));
            assertEquals(answer.status() == 403 ? "AUTH005" : null, e.resCode());
            assertEquals(routeCalls + 1, gw.routeCalls);
            assertEquals(handshakes, gw.handshakes);
            assertTrue("the session is kept", session == client.sessionForTesting());
        }
    }

    @Test
    public void withoutSealedAnswersRequiredA401IsNeverSentAgain() throws Exception {
        SealgateClient client = gw.client().requireSealedResponses(false).build();
        client.handshake();
        // an upstream's own 401 in clear: returned as it came, not sent again
        gw.cannedRoute.add(FakeGateway.json(401, "{\"error\":\"session expired\",\"code\":\"AUTH005\"}"));
        Response r = client.call("GET", "/public/a");
        assertEquals(401, r.status());
        assertFalse(r.isSealed());
        assertEquals(1, gw.routeCalls);
        assertTrue(client.hasSession());
        // the gateway's shape: raised, the session dropped, not sent again either (even for GET)
        gw.cannedRoute.add(FakeGateway.error(401, "AUTH005", "Token expired"));
        SealgateException e = expect(ErrorKind.SESSION_EXPIRED, () -> client.call("GET", "/public/a"));
        assertEquals("AUTH005", e.resCode());
        assertEquals(2, gw.routeCalls);
        assertEquals(1, gw.handshakes);
        assertFalse(client.hasSession());
    }

    @Test
    public void aSecondSessionExpiredIsRaised() throws Exception {
        SealgateClient client = gw.client().build();
        for (String code : new String[] {"AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"}) {
            int before = gw.handshakes;
            gw.cannedRoute.add(FakeGateway.error(401, code, "x"));
            gw.cannedRoute.add(FakeGateway.error(401, code, "x"));
            SealgateException e = expect(ErrorKind.SESSION_EXPIRED, () -> client.call("GET", "/api/a"));
            assertEquals(code, e.resCode());
            assertEquals(401, e.status());
            // one handshake for the call (no session), one more after the first refusal, not more
            assertEquals(code, before + 2, gw.handshakes);
            assertFalse(client.hasSession());
        }
    }

    @Test
    public void sessionExpiredMakesExactlyOneNewHandshake() throws Exception {
        SealgateClient client = gw.client().build();
        client.handshake();
        gw.cannedRoute.add(FakeGateway.error(401, "AUTH005", "Token expired"));
        gw.cannedRoute.add(FakeGateway.error(401, "AUTH005", "Token expired"));
        expect(ErrorKind.SESSION_EXPIRED, () -> client.call("GET", "/api/a"));
        assertEquals(2, gw.handshakes);
        assertEquals(2, gw.routeCalls);
        assertFalse("both refused sessions are dropped", client.hasSession());
    }

    @Test
    public void aRefusedTokenDropsTheSessionWithoutSendingAgain() throws Exception {
        SealgateClient client = gw.client().build();
        for (String code : new String[] {"AUTH001", "AUTH002", "AUTH004"}) {
            client.handshake();
            int handshakes = gw.handshakes;
            int routeCalls = gw.routeCalls;
            byte[] key = client.sessionForTesting().key;
            gw.cannedRoute.add(FakeGateway.error(401, code, "refused"));
            SealgateException e = expect(ErrorKind.REQUEST_REFUSED, () -> client.call("POST", "/api/pay", "{}", "application/json"));
            assertEquals(code, e.resCode());
            assertEquals(401, e.status());
            assertEquals(code + ": not sent again", routeCalls + 1, gw.routeCalls);
            assertEquals(code + ": no new handshake yet", handshakes, gw.handshakes);
            assertFalse(code + ": the session is dropped", client.hasSession());
            assertArrayEquals(code + ": its key is zeroed", new byte[32], key);
            assertEquals(200, client.call("GET", "/api/a").status());
            assertEquals(code + ": the next call makes a new handshake", handshakes + 1, gw.handshakes);
            assertTrue(client.hasSession());
        }
        assertEquals("only the later calls reached the route", 3, gw.received.size());
    }

    @Test
    public void replayedIsNeverRetried() throws Exception {
        SealgateClient client = gw.client().build();
        gw.cannedRoute.add(FakeGateway.error(401, "AUTH008", "Request replayed"));
        SealgateException e = expect(ErrorKind.REPLAYED, () -> client.call("POST", "/api/pay", "{}", "application/json"));
        assertEquals("AUTH008", e.resCode());
        assertEquals(1, gw.routeCalls);
        assertEquals(1, gw.handshakes);
    }

    @Test
    public void routeErrorsMapToKinds() throws Exception {
        SealgateClient client = gw.client().build();
        Object[][] cases = {
            {401, "AUTH001", ErrorKind.REQUEST_REFUSED}, {401, "AUTH002", ErrorKind.REQUEST_REFUSED}, {401, "AUTH004", ErrorKind.REQUEST_REFUSED},
            {401, "AUTH006", ErrorKind.CLOCK_SKEW}, {401, "AUTH008", ErrorKind.REPLAYED},
            {400, "BODY001", ErrorKind.REQUEST_REFUSED}, {400, "BODY002", ErrorKind.REQUEST_REFUSED}, {400, "BODY006", ErrorKind.REQUEST_REFUSED},
            {400, "BODY007", ErrorKind.REQUEST_REFUSED}, {400, "BODY008", ErrorKind.REQUEST_REFUSED}, {400, "BODY009", ErrorKind.REQUEST_REFUSED},
            {413, "BODY003", ErrorKind.REQUEST_REFUSED}, {404, "ROUTE001", ErrorKind.REQUEST_REFUSED}, {400, "ROUTE003", ErrorKind.REQUEST_REFUSED},
            {501, "ROUTE002", ErrorKind.GATEWAY_ERROR}, {502, "UPSTREAM001", ErrorKind.GATEWAY_ERROR}, {504, "UPSTREAM004", ErrorKind.GATEWAY_ERROR},
            {500, "GATEWAY500", ErrorKind.GATEWAY_ERROR}, {503, "GATEWAY503", ErrorKind.RETRY_LATER}, {503, "ROUTE004", ErrorKind.RETRY_LATER},
            {503, "STATE001", ErrorKind.RETRY_LATER}, {503, "STATE002", ErrorKind.RETRY_LATER},
            {400, "ROUTE005", ErrorKind.REQUEST_REFUSED}, {429, "RATE001", ErrorKind.RETRY_LATER},
        };
        for (Object[] c : cases) {
            gw.cannedRoute.add(FakeGateway.error((Integer) c[0], (String) c[1], "desc", "Retry-After", "1"));
            SealgateException e = expect((ErrorKind) c[2], () -> client.call("GET", "/api/a"));
            assertEquals(c[0], e.status());
            assertEquals(c[1], e.resCode());
            assertEquals(c[2] == ErrorKind.RETRY_LATER ? 1L : -1L, e.retryAfterSeconds());
            assertTrue(e.getMessage(), e.getMessage().contains((String) c[1]));
        }
        // one handshake, and one more after each of AUTH001, AUTH002, AUTH004 (which drop the session)
        assertEquals(4, gw.handshakes);
        // a 4xx/5xx without a gateway body is classified by its status
        gw.cannedRoute.add(new HttpTransport.Reply(431, null, null));
        SealgateException e = expect(ErrorKind.REQUEST_REFUSED, () -> client.call("GET", "/api/a"));
        assertNull(e.resCode());
        gw.cannedRoute.add(new HttpTransport.Reply(502, null, "<html>bad gateway</html>".getBytes(StandardCharsets.US_ASCII)));
        expect(ErrorKind.GATEWAY_ERROR, () -> client.call("GET", "/api/a"));
        gw.cannedRoute.add(FakeGateway.json(429, "{}", "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"));
        assertEquals(-1L, expect(ErrorKind.RETRY_LATER, () -> client.call("GET", "/api/a")).retryAfterSeconds());
    }

    @Test
    public void tokenErrorsMapToKinds() throws Exception {
        SealgateClient client = gw.client().build();
        Object[][] cases = {
            {401, "TOK002", ErrorKind.CREDENTIALS_REFUSED, null}, {401, "TOK004", ErrorKind.CREDENTIALS_REFUSED, null},
            {400, "TOK003", ErrorKind.REQUEST_REFUSED, null}, {405, "TOK003", ErrorKind.REQUEST_REFUSED, null},
            {408, "TOK003", ErrorKind.REQUEST_REFUSED, null}, {413, "TOK003", ErrorKind.REQUEST_REFUSED, null},
            {429, "TOK003", ErrorKind.RETRY_LATER, "60"}, {503, "TOK003", ErrorKind.RETRY_LATER, "5"},
            {500, "TOK003", ErrorKind.GATEWAY_ERROR, null},
        };
        for (Object[] c : cases) {
            gw.cannedToken.add(c[3] == null ? FakeGateway.error((Integer) c[0], (String) c[1], "Failure")
                : FakeGateway.error((Integer) c[0], (String) c[1], "Failure", "Retry-After", (String) c[3]));
            SealgateException e = expect((ErrorKind) c[2], () -> client.call("GET", "/api/a"));
            assertEquals(c[0], e.status());
            assertEquals(c[1], e.resCode());
            assertEquals(c[3] == null ? -1L : Long.parseLong((String) c[3]), e.retryAfterSeconds());
            assertFalse(client.hasSession());
        }
        assertEquals(0, gw.routeCalls);
    }

    @Test
    public void errorTableOfTheBrief() {
        String[] credentials = {"TOK002", "TOK004"};
        for (String c : credentials) assertEquals(ErrorKind.CREDENTIALS_REFUSED, Errors.classify(401, c));
        assertEquals(ErrorKind.REQUEST_REFUSED, Errors.classify(400, "TOK003"));
        for (String c : new String[] {"BODY001", "BODY002", "BODY006", "BODY007", "BODY008", "BODY009"}) {
            assertEquals(c, ErrorKind.REQUEST_REFUSED, Errors.classify(400, c));
        }
        for (String c : new String[] {"AUTH001", "AUTH002", "AUTH004"}) assertEquals(c, ErrorKind.REQUEST_REFUSED, Errors.classify(401, c));
        assertEquals(ErrorKind.RETRY_LATER, Errors.classify(429, "TOK003"));
        assertEquals(ErrorKind.RETRY_LATER, Errors.classify(503, null));
        for (String c : new String[] {"AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"}) {
            assertEquals(c, ErrorKind.SESSION_EXPIRED, Errors.classify(401, c));
        }
        assertEquals(ErrorKind.REQUEST_REFUSED, Errors.classify(403, "AUTH005"));
        assertEquals(ErrorKind.REQUEST_REFUSED, Errors.classify(400, "AUTH003"));
        assertEquals(ErrorKind.GATEWAY_ERROR, Errors.classify(500, "AUTH007"));
        assertTrue(SealgateClient.isIdempotent("GET") && SealgateClient.isIdempotent("HEAD") && SealgateClient.isIdempotent("OPTIONS")
            && SealgateClient.isIdempotent("PUT") && SealgateClient.isIdempotent("DELETE"));
        assertFalse(SealgateClient.isIdempotent("POST") || SealgateClient.isIdempotent("PATCH"));
        assertEquals(ErrorKind.REPLAYED, Errors.classify(401, "AUTH008"));
        assertEquals(ErrorKind.CLOCK_SKEW, Errors.classify(401, "AUTH006"));
        assertEquals(ErrorKind.GATEWAY_ERROR, Errors.classify(502, "UPSTREAM002"));
        assertEquals(ErrorKind.GATEWAY_ERROR, Errors.classify(500, null));
        assertEquals(ErrorKind.REQUEST_REFUSED, Errors.classify(404, "ROUTE001"));
    }

    @Test
    public void wrongSecretIsCredentialsRefused() throws Exception {
        SealgateClient client = SealgateClient.builder(FakeGateway.BASE).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret("wrong").trust(gw.trust()).transport(gw).timeSource(gw.time).build();
        SealgateException e = expect(ErrorKind.CREDENTIALS_REFUSED, () -> client.call("GET", "/api/a"));
        assertEquals("TOK004", e.resCode());
        assertEquals(401, e.status());
    }

    @Test
    public void handshakeRefusals() throws Exception {
        String[] knobs = {"signWithRogueKey", "signOverOtherChannel", "omitSignature", "offCurveServerKey", "expiryAsString"};
        for (String knob : knobs) {
            FakeGateway g = new FakeGateway();
            g.getClass().getDeclaredField(knob).setBoolean(g, true);
            SealgateClient client = g.client().build();
            SealgateException e = expect(ErrorKind.HANDSHAKE_INVALID, () -> client.call("GET", "/api/a"));
            assertFalse(knob, client.hasSession());
            assertEquals(knob, 0, g.routeCalls);
            assertNull(e.resCode());
        }
        // a 200 that is not TOK200, and one that is not JSON
        gw.cannedToken.add(FakeGateway.json(200, "{\"resCode\":\"TOK003\",\"resDesc\":\"Failure\"}"));
        gw.cannedToken.add(FakeGateway.json(200, "<html>"));
        gw.cannedToken.add(FakeGateway.json(200, "{\"resCode\":\"TOK200\",\"token\":\"a b\",\"expiry\":1,\"serverPublicKey\":\"x\",\"signature\":\"x\"}"));
        SealgateClient client = gw.client().build();
        for (int i = 0; i < 3; i++) expect(ErrorKind.HANDSHAKE_INVALID, () -> client.call("GET", "/api/a"));
    }

    @Test
    public void unsignedHandshakeOnlyWhenAskedFor() throws Exception {
        gw.omitSignature = true;
        SealgateClient client = SealgateClient.builder(FakeGateway.BASE).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret(FakeGateway.SECRET).allowUnsignedHandshake().transport(gw).timeSource(gw.time).build();
        assertEquals(200, client.call("GET", "/api/a").status());
        assertEquals("application/json", gw.tokenRequestHeaders.get(0).get("Content-Type"));
        assertTrue(gw.sealedRequestHeaders.isEmpty());
        assertNull(client.trust());
    }

    @Test
    public void aJwkSetWithoutEncKeyIsRefused() throws Exception {
        String s = P256.publicJwk(gw.sig.getPublic());
        final String sigOnly = "{\"keys\":[" + s.substring(0, s.length() - 1) + ",\"kid\":\"sig-t\",\"use\":\"sig\"}]}";
        SealgateException e = expect(ErrorKind.HANDSHAKE_INVALID, () -> GatewayTrust.fromJwks(sigOnly));
        assertTrue(e.getMessage(), e.getMessage().contains("no enc key"));
        // fetched from the gateway: refused too, and no token request goes out (the secret stays home)
        gw.servedJwks = sigOnly;
        SealgateClient client = SealgateClient.builder(FakeGateway.BASE).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret(FakeGateway.SECRET).fetchTrustFromGateway().transport(gw).timeSource(gw.time).build();
        expect(ErrorKind.HANDSHAKE_INVALID, () -> client.call("GET", "/api/a"));
        assertTrue(gw.tokenRequestHeaders.isEmpty());
        assertEquals(0, gw.routeCalls);
        // the plain request only with the explicit choice
        SealgateClient plain = SealgateClient.builder(FakeGateway.BASE).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret(FakeGateway.SECRET).allowUnsignedHandshake().transport(gw).timeSource(gw.time).build();
        assertEquals(200, plain.call("GET", "/api/a").status());
        assertEquals("application/json", gw.tokenRequestHeaders.get(0).get("Content-Type"));
    }

    @Test
    public void aJwkSetIsNotFetchedOverHttpFromAnotherHostUnlessAllowed() throws Exception {
        final List<String> urls = new ArrayList<String>();
        final HttpTransport anyHost = new HttpTransport() {
            @Override
            public Reply send(String method, String url, Map<String, String> headers, byte[] body) throws IOException {
                urls.add(url);
                return gw.send(method, FakeGateway.BASE + url.substring(url.indexOf('/', url.indexOf("//") + 2)), headers, body);
            }
        };
        for (final String base : new String[] {"http://gw.test", "http://10.0.0.7:8080", "http://127.0.0.2", "http://localhost.gw.test"}) {
            try {
                SealgateClient.builder(base).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY).secret(FakeGateway.SECRET)
                    .fetchTrustFromGateway().transport(anyHost).build();
                fail(base + ": built");
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().contains("allowInsecureJwksFetch"));
            }
            try {
                GatewayTrust.fetch(base, anyHost);
                fail(base + ": fetched");
            } catch (IllegalArgumentException expected) {
                // refused
            }
        }
        assertTrue("refused before anything was sent", urls.isEmpty());
        SealgateClient allowed = SealgateClient.builder("http://gw.test").channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret(FakeGateway.SECRET).fetchTrustFromGateway().allowInsecureJwksFetch().transport(anyHost).timeSource(gw.time).build();
        assertEquals(200, allowed.call("GET", "/api/a").status());
        assertEquals("http://gw.test/.well-known/jwks.json", urls.get(0));
        assertEquals("enc-t", GatewayTrust.fetch("http://gw.test", anyHost, true).encryptionKeyId());
        for (String base : new String[] {"http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080", "http://LOCALHOST", "https://gw.test"}) {
            SealgateClient client = SealgateClient.builder(base).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
                .secret(FakeGateway.SECRET).fetchTrustFromGateway().transport(anyHost).timeSource(gw.time).build();
            assertEquals(base, 200, client.call("GET", "/api/a").status());
            assertEquals(base, "enc-t", GatewayTrust.fetch(base, anyHost).encryptionKeyId());
        }
        // a pinned set needs no fetch, whatever the scheme
        SealgateClient.builder("http://gw.test").channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY).secret(FakeGateway.SECRET)
            .trust(gw.trust()).build();
    }

    @Test
    public void buildWipesTheBuildersCopyOfTheSecret() throws Exception {
        SealgateClient.Builder builder = gw.client();
        java.lang.reflect.Field field = SealgateClient.Builder.class.getDeclaredField("secret");
        field.setAccessible(true);
        char[] copy = (char[]) field.get(builder);
        assertEquals(FakeGateway.SECRET, new String(copy));
        SealgateClient client = builder.build();
        assertArrayEquals("wiped", new char[FakeGateway.SECRET.length()], copy);
        assertNull(field.get(builder));
        assertEquals("the client kept its own copy", 200, client.call("GET", "/api/a").status());
        try {
            builder.build();
            fail("built again without a secret");
        } catch (IllegalArgumentException expected) {
            // the secret must be set again
        }
        assertEquals(200, builder.secret(FakeGateway.SECRET).build().call("GET", "/api/a").status());
    }

    @Test
    public void trustFetchedOnceFromTheGateway() throws Exception {
        SealgateClient client = SealgateClient.builder(FakeGateway.BASE).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret(FakeGateway.SECRET).fetchTrustFromGateway().transport(gw).timeSource(gw.time).build();
        assertNull(client.trust());
        client.call("GET", "/api/a");
        client.handshake();
        assertEquals(1, gw.jwksFetches);
        assertEquals("[sig-t]", client.trust().signingKeyIds().toString());
        assertEquals("enc-t", client.trust().encryptionKeyId());
        // a signature the fetched set does not verify: refused, and the set is not fetched again
        gw.signWithRogueKey = true;
        for (int i = 0; i < 3; i++) expect(ErrorKind.HANDSHAKE_INVALID, () -> client.handshake());
        assertEquals(1, gw.jwksFetches);
    }

    @Test
    public void responsesThatMustBeRefused() throws Exception {
        SealgateClient client = gw.client().build();
        gw.untypedResponses = true;
        SealgateException e = expect(ErrorKind.RESPONSE_INVALID, () -> client.call("GET", "/api/a"));
        assertTrue(e.getMessage().contains("response+jwe"));
        assertEquals(200, e.status());
        gw.untypedResponses = false;
        gw.tamperResponseTag = true;
        expect(ErrorKind.RESPONSE_INVALID, () -> client.call("GET", "/api/a"));
        gw.tamperResponseTag = false;
        gw.answerInClear = true;
        e = expect(ErrorKind.RESPONSE_INVALID, () -> client.call("GET", "/api/a"));
        assertTrue(e.getMessage().contains("in clear"));
        // a sealed answer under another key
        gw.answerInClear = false;
        byte[] otherKey = new byte[32];
        String sealed = Jose.seal(otherKey, new byte[] {1}, null, Jose.randomIv(), Jose.RESPONSE_TYP, null, null);
        gw.cannedRoute.add(new HttpTransport.Reply(200, java.util.Collections.singletonMap("content-type",
            java.util.Collections.singletonList("application/jose; charset=utf-8")), sealed.getBytes(StandardCharsets.US_ASCII)));
        expect(ErrorKind.RESPONSE_INVALID, () -> client.call("GET", "/api/a"));
        // a sealed response posted as a request is not what the client opens: a request+jwe answer is refused
        String asRequest = Jose.seal(client.sessionForTesting().key, new byte[] {1}, null, Jose.randomIv(), Jose.REQUEST_TYP, "GET", "/api/a");
        gw.cannedRoute.add(new HttpTransport.Reply(200, java.util.Collections.singletonMap("Content-Type",
            java.util.Collections.singletonList("application/jose")), asRequest.getBytes(StandardCharsets.US_ASCII)));
        expect(ErrorKind.RESPONSE_INVALID, () -> client.call("GET", "/api/a"));
    }

    @Test
    public void answersInClearWhenTheRouteDoesNotSeal() throws Exception {
        SealgateClient client = gw.client().requireSealedResponses(false).build();
        gw.answerInClear = true;
        Response r = client.call("GET", "/api/a");
        assertFalse(r.isSealed());
        assertEquals("application/json", r.contentType());
        // a gateway error is still an error
        gw.cannedRoute.add(FakeGateway.error(502, "UPSTREAM001", "Upstream unreachable"));
        expect(ErrorKind.GATEWAY_ERROR, () -> client.call("GET", "/api/a"));
        // an upstream's own 404 in clear is returned
        gw.cannedRoute.add(FakeGateway.json(404, "{\"error\":\"not found\"}"));
        assertEquals(404, client.call("GET", "/api/a").status());
    }

    @Test
    public void transportFailuresAreTransport() throws Exception {
        SealgateClient client = gw.client().build();
        gw.failWith = new java.net.SocketTimeoutException("Read timed out");
        SealgateException e = expect(ErrorKind.TRANSPORT, () -> client.call("GET", "/api/a"));
        assertEquals(0, e.status());
        assertTrue(e.getCause() instanceof java.net.SocketTimeoutException);
        gw.failWith = null;
        client.handshake();
        gw.failWith = new IOException("connection reset");
        expect(ErrorKind.TRANSPORT, () -> client.call("POST", "/api/a", "{}", "application/json"));
    }

    @Test
    public void closeZeroesTheKeyAndRefusesCalls() throws Exception {
        SealgateClient client = gw.client().build();
        client.call("GET", "/api/a");
        byte[] key = client.sessionForTesting().key;
        client.close();
        assertArrayEquals(new byte[32], key);
        assertFalse(client.hasSession());
        try {
            client.call("GET", "/api/a");
            fail("a closed client made a call");
        } catch (IllegalStateException expected) {
            // refused
        }
        client.close(); // idempotent
        client.invalidateSession();
    }

    @Test
    public void invalidateSessionZeroesAndForgets() throws Exception {
        SealgateClient client = gw.client().build();
        client.call("GET", "/api/a");
        byte[] key = client.sessionForTesting().key;
        client.invalidateSession();
        assertArrayEquals(new byte[32], key);
        client.call("GET", "/api/a");
        assertEquals(2, gw.handshakes);
    }

    @Test
    public void builderAndCallArgumentsAreChecked() throws Exception {
        final GatewayTrust trust = gw.trust();
        ThrowingCall[] bad = {
            () -> SealgateClient.builder(FakeGateway.BASE).channel("C").apiKey("A").secret("S").build(),                                   // no trust choice
            () -> SealgateClient.builder(FakeGateway.BASE).channel("C").apiKey("A").secret("S").trust(trust).allowUnsignedHandshake().build(),
            () -> SealgateClient.builder(FakeGateway.BASE).channel("C").apiKey("A").secret("S").trust(trust).fetchTrustFromGateway().build(),
            () -> SealgateClient.builder(FakeGateway.BASE).apiKey("A").secret("S").trust(trust).build(),                                   // no channel
            () -> SealgateClient.builder("ftp://x").channel("C").apiKey("A").secret("S").trust(trust).build(),
            () -> SealgateClient.builder("https://x/?q=1").channel("C").apiKey("A").secret("S").trust(trust).build(),
            () -> SealgateClient.builder(FakeGateway.BASE).channel("C\r\nX: y").apiKey("A").secret("S").trust(trust).build(),
            () -> SealgateClient.builder(FakeGateway.BASE).channel("C").apiKey("A").secret("S").trust(trust).tokenPath("token").build(),
        };
        for (ThrowingCall c : bad) {
            try {
                c.run();
                fail("accepted a bad configuration");
            } catch (IllegalArgumentException expected) {
                // refused
            }
        }
        final SealgateClient client = gw.client().build();
        ThrowingCall[] badCalls = {
            () -> client.call("GET", "/api/a", "x", "text/plain"),         // GET with a body
            () -> client.call("get", "/api/a"),                             // lower-case method
            () -> client.call("GET", "api/a"),                              // not origin form
            () -> client.call("GET", "/api/a b"),                           // space
            () -> client.call("GET", "/api/a#frag"),                        // fragment
            () -> client.call("GET", "/api/\u00e9"),                        // not encoded
            () -> client.call("GET", "/api/%zz"),                           // bad escape
            () -> client.call("GET", "/api/../admin"),                      // dot segment
            () -> client.call("GET", "/api/%2e%2E/admin"),                  // encoded dot segment
            () -> client.call("GET", "/api/a?x='1'"),                       // ' is re-encoded by OkHttp in a query
            () -> client.call("POST", "/api/a", "x", "text/plain\r\nX: y"), // header injection in cty
            () -> client.call("GET", "/api/" + new String(new char[2000]).replace('\0', 'a')), // too long to bind
        };
        for (ThrowingCall c : badCalls) {
            try {
                c.run();
                fail("accepted a bad call");
            } catch (IllegalArgumentException expected) {
                // refused
            }
        }
        assertEquals(0, gw.handshakes);
        // what is fine
        client.call("DELETE", "/api/a/b-c_d.e~f/%41?x=1&y=a:b@c,d;e=(f)*+!$");
        assertEquals("/api/a/b-c_d.e~f/%41?x=1&y=a:b@c,d;e=(f)*+!$", gw.received.get(0).get("htp"));
        client.call("POST", "/api/a"); // bodyless POST: bound by X-Request-Seal
        assertEquals(2, gw.received.size());
    }

    @Test
    public void noSecretInAnyMessageOrToString() throws Exception {
        List<Object> seen = new ArrayList<Object>();
        SealgateClient client = gw.client().build();
        Response ok = client.call("POST", "/api/a", "{\"card\":\"4111-1111-1111-1111\"}", "application/json");
        seen.add(ok);
        seen.add(client);
        seen.add(client.trust());
        seen.add(client.sessionForTesting());
        String token = client.sessionForTesting().token;
        byte[] key = client.sessionForTesting().key.clone();

        // every failure path the fake can produce
        gw.cannedRoute.add(FakeGateway.error(401, "AUTH008", "Request replayed"));
        gw.cannedRoute.add(FakeGateway.error(400, "BODY002", "Request body does not decrypt"));
        gw.cannedRoute.add(FakeGateway.error(503, "GATEWAY503", "Service unavailable", "Retry-After", "1"));
        gw.cannedRoute.add(FakeGateway.json(500, "{\"resCode\":\"GATEWAY500\",\"resDesc\":\"Internal\\nerror\"}")); // a line break: never quoted
        for (int i = 0; i < 4; i++) seen.add(catchAny(() -> client.call("POST", "/api/a", "{\"card\":\"4111-1111-1111-1111\"}", "application/json")));
        gw.untypedResponses = true;
        seen.add(catchAny(() -> client.call("POST", "/api/a", "{\"card\":\"4111-1111-1111-1111\"}", "application/json")));
        gw.untypedResponses = false;
        gw.tamperResponseTag = true;
        seen.add(catchAny(() -> client.call("POST", "/api/a", "{\"card\":\"4111-1111-1111-1111\"}", "application/json")));
        gw.tamperResponseTag = false;
        gw.failWith = new IOException("boom");
        seen.add(catchAny(() -> client.call("POST", "/api/a", "{\"card\":\"4111-1111-1111-1111\"}", "application/json")));
        gw.failWith = null;
        seen.add(catchAny(() -> SealgateClient.builder(FakeGateway.BASE).channel(FakeGateway.CHANNEL).apiKey(FakeGateway.API_KEY)
            .secret(FakeGateway.SECRET + "x").trust(gw.trust()).transport(gw).timeSource(gw.time).build().handshake()));
        for (String knob : new String[] {"signWithRogueKey", "signOverOtherChannel", "offCurveServerKey"}) {
            FakeGateway g = new FakeGateway();
            g.getClass().getDeclaredField(knob).setBoolean(g, true);
            seen.add(catchAny(() -> g.client().build().handshake()));
        }
        seen.add(catchAny(() -> GatewayTrust.fromJwks("{\"keys\":[{\"kty\":\"EC\",\"use\":\"sig\",\"kid\":\"k\",\"d\":\"" + FakeGateway.SECRET + "\"}]}")));

        String[] secrets = {FakeGateway.SECRET, token, TestSupport.toHex(key), Base64Url.encode(key), "4111-1111-1111-1111"};
        int exceptions = 0;
        for (Object o : seen) {
            assertNotNull(o);
            List<String> texts = new ArrayList<String>();
            texts.add(o.toString());
            for (Throwable t = o instanceof Throwable ? (Throwable) o : null; t != null; t = t.getCause()) {
                exceptions++;
                texts.add(String.valueOf(t.getMessage()));
                texts.add(t.toString());
                for (StackTraceElement el : t.getStackTrace()) texts.add(el.toString());
            }
            for (String text : texts) {
                for (String secret : secrets) {
                    assertFalse("a secret in: " + text.replace(secret, "<SECRET>"), text.contains(secret));
                }
                // the hostile resDesc was cut to printable ASCII: no line break reaches a log
                assertFalse(text.contains("\n"));
            }
        }
        assertTrue(exceptions >= 12);
        client.close();
    }

    @Test
    public void theReceivedResDescNeverAppearsInAnException() throws Exception {
        final String canary = "CANARY-resDesc-7f3a";
        SealgateClient client = gw.client().build();
        List<SealgateException> caught = new ArrayList<SealgateException>();
        String[][] route = {
            {"401", "AUTH004"}, {"401", "AUTH005"}, {"401", "AUTH008"}, {"400", "BODY002"}, {"502", "UPSTREAM001"}, {"503", "GATEWAY503"},
            {"500", "GATEWAY500"}, {"418", "XYZ999"},
        };
        for (String[] c : route) {
            client.handshake();
            gw.cannedRoute.add(FakeGateway.error(Integer.parseInt(c[0]), c[1], canary));
            gw.cannedRoute.add(FakeGateway.error(Integer.parseInt(c[0]), c[1], canary)); // for a GET sent again
            caught.add((SealgateException) catchAny(() -> client.call("GET", "/api/a")));
            gw.cannedRoute.clear();
        }
        gw.cannedToken.add(FakeGateway.error(401, "TOK004", canary));
        caught.add((SealgateException) catchAny(() -> client.handshake()));
        gw.cannedToken.add(FakeGateway.error(429, "TOK003", canary, "Retry-After", "5"));
        caught.add((SealgateException) catchAny(() -> client.handshake()));
        HttpTransport refusing = new HttpTransport() {
            @Override
            public Reply send(String method, String url, Map<String, String> headers, byte[] body) {
                return FakeGateway.error(503, "GATEWAY503", canary);
            }
        };
        caught.add((SealgateException) catchAny(() -> GatewayTrust.fetch(FakeGateway.BASE, refusing)));
        for (SealgateException e : caught) {
            assertNotNull(e.resCode());
            assertFalse(e.getMessage(), e.getMessage().contains(canary));
            assertFalse(e.toString(), e.toString().contains(canary));
            assertTrue(e.getMessage(), e.getMessage().contains(e.resCode()));
        }
        assertTrue(caught.get(0).getMessage(), caught.get(0).getMessage().endsWith("HTTP 401 AUTH004 (Token invalid)"));
    }

    private static Object catchAny(ThrowingCall call) {
        try {
            call.run();
        } catch (Exception e) {
            return e;
        }
        throw new AssertionError("no exception");
    }
}

package io.sealgate.client;

import static io.sealgate.client.TestSupport.hex;
import static io.sealgate.client.TestSupport.obj;
import static io.sealgate.client.TestSupport.str;
import static io.sealgate.client.TestSupport.toHex;
import static io.sealgate.client.TestSupport.utf8;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.junit.BeforeClass;
import org.junit.Test;

/** Every published vector of clients/test-vectors.json (docs/protocol.md §5), byte for byte. */
public class VectorsTest {
    private static Map<String, Object> v;
    private static byte[] k;

    @BeforeClass
    public static void load() throws Exception {
        v = TestSupport.vectors();
        k = hex(str(obj(v, "k"), "hkdf-sha256"));
    }

    private static void checkKeyPair(Map<String, Object> key) throws Exception {
        BigInteger[] point = TestSupport.multiplyG(new BigInteger(str(key, "d"), 16));
        PublicKey pub = P256.publicKey(point[0], point[1]);
        assertEquals("public JWK of d", str(key, "jwk"), P256.publicJwk(pub));
        assertEquals("the JWK read back", str(key, "jwk"), P256.publicJwk(P256.fromJwkText(str(key, "jwk"))));
        assertEquals("encoded", str(key, "encoded"), Base64Url.encode(str(key, "jwk")));
    }

    @Test
    public void clientAndServerKeys() throws Exception {
        checkKeyPair(obj(v, "client"));
        checkKeyPair(obj(v, "server"));
    }

    @Test
    public void gatewayAndEpkKeys() throws Exception {
        Map<String, Object> h = obj(v, "handshake");
        checkKeyPair(obj(h, "gateway_sig"));
        checkKeyPair(obj(h, "gateway_enc"));
        checkKeyPair(obj(obj(h, "sealed_request"), "epk"));
    }

    @Test
    public void sharedSecretZ() throws Exception {
        PrivateKey client = TestSupport.privateKey(str(obj(v, "client"), "d"));
        byte[] z = P256.agree(client, P256.fromJwkText(str(obj(v, "server"), "jwk")));
        assertEquals(v.get("z"), toHex(z));
        // and from the other side
        PrivateKey server = TestSupport.privateKey(str(obj(v, "server"), "d"));
        assertEquals(v.get("z"), toHex(P256.agree(server, P256.fromJwkText(str(obj(v, "client"), "jwk")))));
    }

    @Test
    public void everyKdf() throws Exception {
        byte[] z = hex((String) v.get("z"));
        Map<String, Object> ks = obj(v, "k");
        assertEquals(3, ks.size());
        for (Map.Entry<String, Object> e : ks.entrySet()) {
            assertEquals(e.getKey(), e.getValue(), toHex(Kdf.fromWireName(e.getKey()).derive(z)));
        }
    }

    @Test
    public void requestJwe() throws Exception {
        Map<String, Object> r = obj(v, "request");
        assertEquals(str(r, "protected"), Jose.dirHeader("application/json", null, null, null));
        String jwe = Jose.seal(k, utf8(str(r, "plaintext")), "application/json", hex(str(r, "iv")), null, null, null);
        assertEquals(str(r, "jwe"), jwe);
    }

    @Test
    public void responseJwe() throws Exception {
        Map<String, Object> r = obj(v, "response");
        Jose.Opened opened = Jose.open(k, str(r, "jwe"), null);
        assertEquals(str(r, "plaintext"), new String(opened.plaintext, StandardCharsets.UTF_8));
        assertEquals(str(r, "cty"), opened.cty);
    }

    @Test
    public void untypedResponseRefusedWhenResponseTypIsRequired() throws Exception {
        try {
            Jose.open(k, str(obj(v, "response"), "jwe"), Jose.RESPONSE_TYP);
            fail("an untyped sealed response was accepted");
        } catch (GeneralSecurityException expected) {
            assertTrue(expected.getMessage().contains("response+jwe"));
        }
    }

    @Test
    public void clientThumbprint() throws Exception {
        Map<String, Object> h = obj(v, "handshake");
        assertEquals(str(h, "client_thumbprint"), Jose.thumbprint(P256.fromJwkText(str(obj(v, "client"), "jwk"))));
    }

    private static GatewayTrust vectorTrust() throws Exception {
        Map<String, Object> h = obj(v, "handshake");
        String sig = str(obj(h, "gateway_sig"), "jwk");
        String enc = str(obj(h, "gateway_enc"), "jwk");
        String jwks = "{\"keys\":[" + sig.substring(0, sig.length() - 1) + ",\"kid\":\"sig-1\",\"use\":\"sig\",\"alg\":\"ES256\"},"
            + enc.substring(0, enc.length() - 1) + ",\"kid\":\"enc-1\",\"use\":\"enc\",\"alg\":\"ECDH-ES\"}]}";
        return GatewayTrust.fromJwks(jwks);
    }

    private static void verify(String signature, String spk, long expiry, String clientJwk, String channel, GatewayTrust trust) throws Exception {
        Jose.verifyHandshake(signature, spk, expiry, P256.fromJwkText(clientJwk), channel, trust);
    }

    @Test
    public void handshakeSignatureAccepted() throws Exception {
        Map<String, Object> h = obj(v, "handshake");
        long expiry = (Long) h.get("expiry");
        verify(str(h, "signature"), str(obj(v, "server"), "encoded"), expiry, str(obj(v, "client"), "jwk"), str(h, "channel"), vectorTrust());
        // the payload is the one published
        String payload = Jose.split(str(h, "signature"), 3)[1];
        assertEquals(str(h, "signed_payload"), new String(Base64Url.decode(payload), StandardCharsets.UTF_8));
    }

    @Test
    public void handshakeSignatureRefusedForTheServerKeyInPlaceOfTheClientKey() throws Exception {
        Map<String, Object> h = obj(v, "handshake");
        long expiry = (Long) h.get("expiry");
        try {
            verify(str(h, "signature"), str(obj(v, "server"), "encoded"), expiry, str(obj(v, "server"), "jwk"), str(h, "channel"), vectorTrust());
            fail("the forged signature (over another client's key) was accepted");
        } catch (GeneralSecurityException expected) {
            // as it must be
        }
    }

    @Test
    public void handshakeSignatureRefusedForAnyOtherChange() throws Exception {
        Map<String, Object> h = obj(v, "handshake");
        long expiry = (Long) h.get("expiry");
        String sig = str(h, "signature");
        String spk = str(obj(v, "server"), "encoded");
        String client = str(obj(v, "client"), "jwk");
        String channel = str(h, "channel");
        String[] parts = Jose.split(sig, 3);
        char last = parts[2].charAt(10);
        String flipped = parts[0] + "." + parts[1] + "." + parts[2].substring(0, 10) + (last == 'A' ? 'B' : 'A') + parts[2].substring(11);
        Object[][] cases = {
            {"another expiry", sig, spk, expiry + 1, client, channel},
            {"another channel", sig, spk, expiry, client, "WEB-APP"},
            {"another server key", sig, str(obj(v, "client"), "encoded"), expiry, client, channel},
            {"a changed signature", flipped, spk, expiry, client, channel},
            {"two segments", parts[0] + "." + parts[1], spk, expiry, client, channel},
        };
        for (Object[] c : cases) {
            try {
                verify((String) c[1], (String) c[2], (Long) c[3], (String) c[4], (String) c[5], vectorTrust());
                fail("accepted with " + c[0]);
            } catch (GeneralSecurityException expected) {
                // refused
            }
        }
        // a sig key not trusted under that kid (the sets carry the enc key too: one without is refused)
        String sigJwk = str(obj(h, "gateway_sig"), "jwk");
        String encJwk = str(obj(h, "gateway_enc"), "jwk");
        String encMember = "," + encJwk.substring(0, encJwk.length() - 1) + ",\"kid\":\"enc-1\",\"use\":\"enc\"}";
        GatewayTrust otherKid = GatewayTrust.fromJwks("{\"keys\":[" + sigJwk.substring(0, sigJwk.length() - 1) + ",\"kid\":\"sig-2\",\"use\":\"sig\"}" + encMember + "]}");
        try {
            verify(sig, spk, expiry, client, channel, otherKid);
            fail("accepted a kid that is not trusted");
        } catch (GeneralSecurityException expected) {
            // refused
        }
        // the right kid on another key
        String otherJwk = str(obj(h, "gateway_enc"), "jwk");
        GatewayTrust otherKey = GatewayTrust.fromJwks("{\"keys\":[" + otherJwk.substring(0, otherJwk.length() - 1) + ",\"kid\":\"sig-1\",\"use\":\"sig\"}" + encMember + "]}");
        try {
            verify(sig, spk, expiry, client, channel, otherKey);
            fail("accepted a signature by another key");
        } catch (GeneralSecurityException expected) {
            // refused
        }
    }

    @Test
    public void sealedTokenRequest() throws Exception {
        Map<String, Object> h = obj(v, "handshake");
        Map<String, Object> r = obj(h, "sealed_request");
        Map<String, Object> epkOut = obj(r, "epk");
        KeyPair epk = new KeyPair(P256.fromJwkText(str(epkOut, "jwk")), TestSupport.privateKey(str(epkOut, "d")));
        PublicKey enc = P256.fromJwkText(str(obj(h, "gateway_enc"), "jwk"));
        assertEquals("enc-1", vectorTrust().encryptionKeyId());
        String jwe = Jose.sealTokenRequest(utf8(str(r, "plaintext")), "enc-1", enc, str(r, "chn"), (Long) r.get("iat"), epk, hex(str(r, "iv")));
        assertEquals(str(r, "protected"), new String(Base64Url.decode(Jose.split(jwe, 5)[0]), StandardCharsets.UTF_8));
        assertEquals(str(r, "jwe"), jwe);
        byte[] cek = Kdf.CONCAT_KDF.derive(P256.agree(epk.getPrivate(), enc));
        assertEquals(str(r, "cek"), toHex(cek));
    }

    @Test
    public void sealedTokenRequestOpensWithTheEncKey() throws Exception {
        // The gateway's side, as FakeGateway does it: proves the opener the client tests rely on.
        Map<String, Object> h = obj(v, "handshake");
        Map<String, Object> r = obj(h, "sealed_request");
        String[] p = Jose.split(str(r, "jwe"), 5);
        Map<String, Object> header = Json.parseObject(Base64Url.decode(p[0]));
        PublicKey epk = P256.fromJwk(TestSupport.obj(header, "epk"));
        byte[] cek = Kdf.CONCAT_KDF.derive(P256.agree(TestSupport.privateKey(str(obj(h, "gateway_enc"), "d")), epk));
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(cek, "AES"), new GCMParameterSpec(128, Base64Url.decode(p[2])));
        cipher.updateAAD(p[0].getBytes(StandardCharsets.US_ASCII));
        cipher.update(Base64Url.decode(p[3]));
        byte[] plain = cipher.doFinal(Base64Url.decode(p[4]));
        assertEquals(str(r, "plaintext"), new String(plain, StandardCharsets.UTF_8));
    }

    @Test
    public void boundBody() throws Exception {
        Map<String, Object> b = obj(obj(v, "binding"), "body");
        assertEquals(str(b, "protected"), Jose.dirHeader("application/json", "request+jwe", "POST", "/api/transfer?from=1"));
        String jwe = Jose.seal(k, utf8(str(b, "plaintext")), "application/json", hex(str(b, "iv")), "request+jwe", "POST", "/api/transfer?from=1");
        assertEquals(str(b, "jwe"), jwe);
    }

    @Test
    public void requestSeal() throws Exception {
        Map<String, Object> s = obj(obj(v, "binding"), "seal");
        assertEquals(str(s, "protected"), Jose.dirHeader(null, "request+jwe", "GET", "/api/account/7"));
        String jwe = Jose.seal(k, new byte[0], null, hex(str(s, "iv")), "request+jwe", "GET", "/api/account/7");
        assertEquals(str(s, "jwe"), jwe);
    }

    @Test
    public void typedResponse() throws Exception {
        Map<String, Object> r = obj(obj(v, "binding"), "response");
        Jose.Opened opened = Jose.open(k, str(r, "jwe"), Jose.RESPONSE_TYP);
        assertEquals(str(r, "plaintext"), new String(opened.plaintext, StandardCharsets.UTF_8));
        assertEquals("application/json", opened.cty);
        assertEquals(str(r, "protected"), new String(Base64Url.decode(Jose.split(str(r, "jwe"), 5)[0]), StandardCharsets.UTF_8));
    }

    @Test
    public void aBoundRequestIsNotAResponse() throws Exception {
        Map<String, Object> b = obj(obj(v, "binding"), "body");
        try {
            Jose.open(k, str(b, "jwe"), Jose.RESPONSE_TYP);
            fail("a request+jwe was opened as a response");
        } catch (GeneralSecurityException expected) {
            // refused
        }
        // but it opens as what it is
        assertArrayEquals(utf8(str(b, "plaintext")), Jose.open(k, str(b, "jwe"), Jose.REQUEST_TYP).plaintext);
    }
}

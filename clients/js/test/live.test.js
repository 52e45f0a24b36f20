// Against a running gateway (the demo configuration of clients/testing/start-gateway.sh),
// whose URL is in SEALGATE_URL; skipped without it. The echo upstream behind /api/ says what
// it received.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { inspect } from "node:util";
import { describe, test } from "node:test";
import {
  ErrorKind,
  GatewayTrust,
  SealgateClient,
  SealgateError,
  Session,
  b64uDecode,
  b64uEncode,
  exportPublicJwkText,
  kindFor,
} from "../src/index.js";

const URL_ = process.env.SEALGATE_URL;
const skip = URL_ ? false : "SEALGATE_URL is not set";
const SECRET = "TEST123";
const WRONG_SECRET = "wrong-Secret-5512";
const identity = { channel: "MOB-APP-2001", apiKey: "MOB-APP", secret: SECRET };
const dec = new TextDecoder();

let trust;
const seen = { errors: [], tokens: new Set() };
const client = (extra = {}) => new SealgateClient({ baseUrl: URL_, ...identity, trust, ...extra });

async function rejects(promise, kind) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SealgateError, `a SealgateError, not ${error?.stack ?? error}`);
    if (kind) assert.equal(error.kind, kind, error.message);
    seen.errors.push(error);
    return error;
  }
  assert.fail(`no ${kind}`);
}

describe("against a live gateway", { skip }, () => {
  test("the JWK Set: every sig key, the first enc key", async () => {
    trust = await GatewayTrust.fetch(URL_);
    assert.ok(trust.sigKids.length >= 1);
    assert.match(trust.encKid, /^[A-Za-z0-9._-]+$/);
  });

  test("whole flow: sealed token request, signed answer, bound POST with a JSON body", async () => {
    const c = client();
    const sent = { amount: 100, currency: "EUR", note: "été" };
    const reply = await c.call("POST", "/api/echo?via=js", { body: sent, headers: { "X-Request-Id": "js-live-1" } });
    seen.tokens.add(c.session.token);
    assert.equal(reply.status, 200);
    assert.equal(reply.sealed, true);
    assert.equal(reply.cty, "application/json");
    assert.equal(reply.headers.get("x-request-id"), "js-live-1");
    const echo = reply.json();
    assert.equal(echo.method, "POST");
    assert.equal(echo.path, "/api/echo");
    assert.equal(echo.query, "via=js");
    assert.deepEqual(echo.body, sent, "the upstream received the plaintext");
    assert.equal(echo.headers["content-type"], "application/json");
    assert.equal(echo.headers["x-channel"], identity.channel);
    assert.equal(echo.headers["x-client-id"], identity.apiKey);
    assert.equal(echo.headers.authorization, undefined, "the token is not forwarded");
    assert.equal(c.session.key.extractable, false);
  });

  test("a bodyless GET carries X-Request-Seal (removed before the upstream)", async () => {
    const c = client();
    const reply = await c.call("GET", "/api/echo?page=2");
    const echo = reply.json();
    assert.deepEqual([reply.status, echo.method, echo.path, echo.query], [200, "GET", "/api/echo", "page=2"]);
    assert.equal(echo.headers["x-request-seal"], undefined);
    assert.equal(echo.body, "");
    const del = await c.call("DELETE", "/api/items/7");
    assert.equal(del.json().method, "DELETE");
  });

  test("a 300 KB body, and text and bytes bodies", async () => {
    const c = client();
    const large = "x".repeat(300_000);
    const big = await c.call("POST", "/api/echo", { body: { large } });
    assert.equal(big.status, 200);
    assert.equal(big.json().body.large, large);
    assert.equal(big.json().headers["content-length"], String(JSON.stringify({ large }).length));
    const text = await c.call("PUT", "/api/echo", { body: "plain words" });
    assert.deepEqual([text.json().body, text.json().headers["content-type"]], ["plain words", "text/plain; charset=utf-8"]);
    const bytes = await c.call("PUT", "/api/echo", { body: new Uint8Array([0xff, 0xfe, 0x00]) });
    assert.deepEqual(bytes.json().body, { base64: "__4A" });
  });

  test("renewal: a near-expiry session is renewed before the call, and renewBeforeMs forces it", async () => {
    const c = client();
    const first = await c.ensureSession();
    c.session = new Session({ token: first.token, expiry: Date.now() + 30_000, key: first.key });
    const reply = await c.call("GET", "/api/echo");
    assert.equal(reply.status, 200);
    assert.notEqual(c.session.token, first.token, "a new handshake was made");
    assert.ok(c.session.expiry > Date.now() + 60_000);
    const eager = client({ renewBeforeMs: 10 * 3600_000 });
    await eager.call("GET", "/api/echo");
    const t1 = eager.session.token;
    await eager.call("GET", "/api/echo");
    assert.notEqual(eager.session.token, t1);
  });

  test("the unauthenticated (seed) handshake still works on this channel", async () => {
    const c = new SealgateClient({ baseUrl: URL_, ...identity, unauthenticatedHandshake: true });
    assert.equal((await c.call("GET", "/api/echo")).status, 200);
  });

  test("wrong secret, unknown apiKey, unknown channel: CREDENTIALS_REFUSED", async () => {
    const e = await rejects(client({ secret: WRONG_SECRET }).call("GET", "/api/echo"), ErrorKind.CREDENTIALS_REFUSED);
    assert.deepEqual([e.status, e.resCode], [401, "TOK004"]);
    const e2 = await rejects(client({ apiKey: "NOBODY" }).handshake(), ErrorKind.CREDENTIALS_REFUSED);
    assert.deepEqual([e2.status, e2.resCode], [401, "TOK002"]);
    const e3 = await rejects(client({ channel: "NO-SUCH-CHANNEL" }).handshake(), ErrorKind.CREDENTIALS_REFUSED);
    assert.equal(e3.resCode, "TOK002");
  });

  test("a tampered token: the gateway's answer, mapped; the next call makes a new handshake", async () => {
    const c = client();
    const good = await c.ensureSession();
    seen.tokens.add(good.token);
    const parts = good.token.split(".");
    const ct = b64uDecode(parts[3]);
    ct[5] ^= 1;
    parts[3] = b64uEncode(ct);
    c.session = new Session({ token: parts.join("."), expiry: good.expiry, key: good.key });
    const e = await rejects(c.call("POST", "/api/echo", { body: { a: 1 } }));
    assert.equal(e.kind, kindFor(e.status, e.resCode));
    assert.deepEqual([e.kind, e.status, e.resCode], [ErrorKind.REQUEST_REFUSED, 401, "AUTH004"]);
    assert.equal(c.session, null);
    assert.equal((await c.call("GET", "/api/echo")).status, 200);
    // A token whose kid names no token key: AUTH003, SESSION_EXPIRED, so the library makes a
    // new handshake and sends an idempotent call (PUT) again by itself.
    const current = c.session;
    const header = JSON.parse(dec.decode(b64uDecode(current.token.split(".")[0])));
    const other = [b64uEncode(new TextEncoder().encode(JSON.stringify({ ...header, kid: "retired-key" }))), ...current.token.split(".").slice(1)].join(".");
    c.session = new Session({ token: other, expiry: current.expiry, key: current.key });
    const reply = await c.call("PUT", "/api/echo", { body: { retried: true } });
    assert.deepEqual([reply.json().method, reply.json().body], ["PUT", { retried: true }]);
    assert.notEqual(c.session.token, current.token);
    // The same refusal on a POST is thrown, the session dropped, and the call not sent again.
    const renewed = c.session;
    let posts = 0;
    const counting = client({ fetch: async (url, init) => { if (String(url).includes("/api/")) posts++; return fetch(url, init); } });
    counting.session = new Session({ token: other, expiry: renewed.expiry, key: renewed.key });
    const e3 = await rejects(counting.call("POST", "/api/echo", { body: { once: true } }), ErrorKind.SESSION_EXPIRED);
    assert.deepEqual([e3.status, e3.resCode, posts, counting.session], [401, "AUTH003", 1, null]);
    assert.deepEqual((await counting.call("POST", "/api/echo", { body: { once: true } })).json().body, { once: true });
    assert.equal(posts, 2);
    // Garbage: AUTH002.
    c.session = new Session({ token: "not-a-token", expiry: current.expiry, key: current.key });
    const e2 = await rejects(c.call("GET", "/api/echo"), ErrorKind.REQUEST_REFUSED);
    assert.equal(e2.resCode, "AUTH002");
  });

  test("a replayed message: REPLAYED, never retried", async () => {
    let first = null;
    let sent = 0;
    const replaying = async (url, init) => {
      if (String(url).includes("/api/")) {
        sent++;
        if (first === null) first = { ...init, headers: new Headers(init.headers) };
        else init = first;
      }
      return fetch(url, init);
    };
    const c = client({ fetch: replaying });
    assert.equal((await c.call("GET", "/api/echo")).status, 200);
    const e = await rejects(c.call("GET", "/api/echo"), ErrorKind.REPLAYED);
    assert.deepEqual([e.status, e.resCode], [401, "AUTH008"]);
    assert.equal(sent, 2);
  });

  test("a message bound to another request, or sealed under another K: REQUEST_REFUSED", async () => {
    const rebinding = async (url, init) => fetch(String(url).replace("/api/echo", "/api/other"), init);
    const e = await rejects(client({ fetch: rebinding }).call("POST", "/api/echo", { body: {} }), ErrorKind.REQUEST_REFUSED);
    assert.equal(e.resCode, "BODY007");
    const e2 = await rejects(client({ kdf: "concat-kdf" }).call("POST", "/api/echo", { body: {} }), ErrorKind.REQUEST_REFUSED);
    assert.equal(e2.resCode, "BODY002");
    const e3 = await rejects(client({ kdf: "raw" }).call("GET", "/api/echo"), ErrorKind.REQUEST_REFUSED);
    assert.equal(e3.resCode, "BODY002");
  });

  test("a 2xx in clear (the plain /public/ route) is refused; /nothing is ROUTE001", async () => {
    const c = client();
    const e = await rejects(c.call("GET", "/public/anything"), ErrorKind.RESPONSE_INVALID);
    assert.equal(e.status, 200);
    const plain = await c.call("GET", "/public/anything", { expectSealed: false });
    assert.deepEqual([plain.sealed, plain.json().path], [false, "/public/anything"]);
    const e2 = await rejects(c.call("GET", "/nothing/here"), ErrorKind.REQUEST_REFUSED);
    assert.deepEqual([e2.status, e2.resCode], [404, "ROUTE001"]);
  });

  test("the wrong gateway keys: HANDSHAKE_INVALID, or the gateway refuses the sealed request", async () => {
    const jwks = trust.toJSON();
    const fresh = async (use) => {
      const pair = await webcrypto.subtle.generateKey(use === "sig" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "ECDH", namedCurve: "P-256" }, true, use === "sig" ? ["sign"] : ["deriveBits"]);
      return JSON.parse(await exportPublicJwkText(pair.publicKey));
    };
    const otherSig = { keys: jwks.keys.map((k) => k) };
    for (const k of otherSig.keys.keys()) if (otherSig.keys[k].use === "sig") otherSig.keys[k] = { ...otherSig.keys[k], ...(await fresh("sig")) };
    const e = await rejects(client({ trust: otherSig }).handshake(), ErrorKind.HANDSHAKE_INVALID);
    assert.match(e.message, /does not verify/);
    const renamed = { keys: jwks.keys.map((k) => (k.use === "sig" ? { ...k, kid: `${k.kid}-x` } : k)) };
    await rejects(client({ trust: renamed }).handshake(), ErrorKind.HANDSHAKE_INVALID);
    const otherEnc = { keys: await Promise.all(jwks.keys.map(async (k) => (k.use === "enc" ? { ...k, ...(await fresh("enc")) } : k))) };
    const e3 = await rejects(client({ trust: otherEnc }).handshake(), ErrorKind.REQUEST_REFUSED);
    assert.deepEqual([e3.status, e3.resCode], [400, "TOK003"]);
  });

  test("a sealed request out of the clock's leeway is refused (TOK003)", async () => {
    const e = await rejects(client({ now: () => Date.now() - 10 * 60_000 }).handshake(), ErrorKind.REQUEST_REFUSED);
    assert.deepEqual([e.status, e.resCode], [400, "TOK003"]);
  });

  test("TRANSPORT when nothing answers", async () => {
    const e = await rejects(new SealgateClient({ baseUrl: "http://127.0.0.1:9", ...identity, unauthenticatedHandshake: true }).handshake(), ErrorKind.TRANSPORT);
    assert.equal(e.status, 0);
  });

  test("no secret in any error message: secret, tokens, bodies", () => {
    assert.ok(seen.errors.length >= 12, `errors seen: ${seen.errors.length}`);
    const forbidden = [SECRET, WRONG_SECRET, ...[...seen.tokens].flatMap((t) => [t, t.slice(-30)]), "plain words"];
    for (const e of seen.errors) {
      for (const text of [e.message, String(e), e.stack ?? "", inspect(e, { depth: 0 })]) {
        for (const secret of forbidden) assert.ok(!text.includes(secret), `${e.kind} shows a secret: ${e.message}`);
      }
    }
  });
});

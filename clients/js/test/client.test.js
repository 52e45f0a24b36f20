// The client against a gateway in a fetch function (test/fake-gateway.js): the handshake,
// bound calls, the error vocabulary, the automatic retry, renewal, and no secret in any
// error message.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inspect } from "node:util";
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  ErrorKind,
  GatewayTrust,
  IDEMPOTENT_METHODS,
  SealgateClient,
  SealgateError,
  Session,
  b64uDecode,
  b64uEncode,
  kindFor,
  parseRetryAfter,
} from "../src/index.js";
import { API_KEY, CHANNEL, SECRET, fakeGateway, gatewayError } from "./fake-gateway.js";

const dec = new TextDecoder();
const BODY_MARKER = "plaintext-marker-4411";

/** A body that never ends (16 KiB chunks of "x"), and how many bytes were pulled from it. */
function endless() {
  let pulled = 0;
  const chunk = new Uint8Array(16_384).fill(120);
  const stream = new ReadableStream({
    pull(controller) {
      pulled += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return { stream, pulled: () => pulled };
}

function clientFor(gw, extra = {}) {
  return new SealgateClient({ baseUrl: "https://gw.test", channel: CHANNEL, apiKey: API_KEY, secret: SECRET, trust: gw.jwks, fetch: gw.fetch, ...extra });
}

async function rejects(promise, kind) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SealgateError, `a SealgateError, not ${error}`);
    assert.equal(error.kind, kind, error.message);
    allErrors.push(error);
    return error;
  }
  assert.fail(`no ${kind}`);
}

/** Every SealgateError the tests saw, checked for secrets at the end. */
const allErrors = [];

describe("handshake", () => {
  test("seals the token request to the first enc key with a fresh epk, iat and chn", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    await client.handshake();
    await client.handshake();
    const [first, second] = gw.tokens();
    assert.equal(first.headers.get("content-type"), "application/jose");
    assert.equal(first.headers.get("x-api-key"), CHANNEL);
    assert.equal(first.sealedHeader.kid, "enc-1");
    assert.equal(first.sealedHeader.chn, CHANNEL);
    assert.ok(Math.abs(first.sealedHeader.iat - Date.now() / 1000) < 5);
    assert.deepEqual(Object.keys(first.sealedHeader), ["alg", "enc", "kid", "epk", "iat", "chn"]);
    assert.notEqual(first.sealedHeader.epk.x, second.sealedHeader.epk.x, "a new epk every request");
    assert.ok(!dec.decode(first.body).includes(SECRET), "the secret is not in the sealed body's text");
  });

  test("a session holds the token, the expiry and K as a non-extractable CryptoKey", async () => {
    const gw = await fakeGateway();
    const session = await clientFor(gw).handshake();
    assert.ok(session instanceof Session);
    assert.equal(typeof session.token, "string");
    assert.ok(session.expiry > Date.now());
    assert.equal(session.key.extractable, false);
    assert.equal(session.key.algorithm.name, "AES-GCM");
    await assert.rejects(globalThis.crypto.subtle.exportKey("raw", session.key));
    assert.deepEqual(JSON.parse(JSON.stringify(session)), { expiry: session.expiry });
    assert.ok(!inspect(session).includes(session.token));
  });

  for (const kdf of ["hkdf-sha256", "concat-kdf", "raw"]) {
    test(`K agrees with the gateway's under ${kdf}`, async () => {
      const gw = await fakeGateway({ kdf });
      const reply = await clientFor(gw, { kdf }).call("POST", "/api/x", { body: { kdf } });
      assert.equal(JSON.parse(reply.json().body).kdf, kdf);
    });
  }

  const tweaks = {
    "a signature that does not verify": (a) => {
      const [h, p, s] = a.signature.split(".");
      const sig = b64uDecode(s);
      sig[3] ^= 0x40;
      return { ...a, signature: `${h}.${p}.${b64uEncode(sig)}` };
    },
    "no signature": (a) => {
      const { signature, ...rest } = a;
      return rest;
    },
    "a signature over another serverPublicKey": (a) => ({ ...a, serverPublicKey: b64uEncode(new TextEncoder().encode('{"kty":"EC","crv":"P-256","x":"x","y":"y"}')) }),
    "a signature over another expiry": (a) => ({ ...a, expiry: a.expiry + 1000 }),
    "a signature in DER rather than r || s": (a) => {
      const [h, p] = a.signature.split(".");
      return { ...a, signature: `${h}.${p}.${b64uEncode(new Uint8Array(70).fill(48))}` };
    },
    "a padded signature segment": (a) => ({ ...a, signature: `${a.signature}=` }),
    "a repeated member in the answer": (a) => JSON.stringify(a).replace('"resCode":"TOK200",', '"resCode":"TOK200","token":"other",'),
    "an expiry as a string": (a) => ({ ...a, expiry: String(a.expiry) }),
    "an expiry with a fraction": (a) => JSON.stringify(a).replace(/"expiry":(\d+)/, '"expiry":$1.5'),
    "no token": (a) => ({ ...a, token: "" }),
    "resCode other than TOK200": (a) => ({ ...a, resCode: "TOK201" }),
    "an answer that is not JSON": () => "<html>",
  };
  for (const [what, tweak] of Object.entries(tweaks)) {
    test(`HANDSHAKE_INVALID: ${what}`, async () => {
      const gw = await fakeGateway();
      gw.answerTweak = tweak;
      const client = clientFor(gw);
      await rejects(client.call("GET", "/api/x"), ErrorKind.HANDSHAKE_INVALID);
      assert.equal(client.session, null);
      assert.equal(gw.calls().length, 0, "no call without a checked handshake");
    });
  }

  test("HANDSHAKE_INVALID: signed by a key that is not trusted (unknown kid, or the trusted kid with another key)", async () => {
    const gw = await fakeGateway();
    gw.sigKid = "sig-2";
    await rejects(clientFor(gw).handshake(), ErrorKind.HANDSHAKE_INVALID);
    const other = await fakeGateway();
    gw.sigKid = "sig-1";
    gw.signWith = other.signWith;
    const error = await rejects(clientFor(gw).handshake(), ErrorKind.HANDSHAKE_INVALID);
    assert.match(error.message, /does not verify/);
  });

  test("the signature is checked before the server key is used", async () => {
    const gw = await fakeGateway();
    gw.answerTweak = (a) => {
      const [h, p, s] = a.signature.split(".");
      const sig = b64uDecode(s);
      sig[0] ^= 1;
      return { ...a, serverPublicKey: "not a key", signature: `${h}.${p}.${b64uEncode(sig)}` };
    };
    const error = await rejects(clientFor(gw).handshake(), ErrorKind.HANDSHAKE_INVALID);
    assert.match(error.message, /does not verify/);
  });

  test("with trust: \"fetch\", the JWK Set is fetched once from /.well-known/jwks.json", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw, { trust: "fetch" });
    await client.call("GET", "/api/a");
    await client.handshake();
    const jwks = gw.log.filter((r) => r.kind === "jwks");
    assert.equal(jwks.length, 1);
    assert.equal(jwks[0].url.href, "https://gw.test/.well-known/jwks.json");
    assert.deepEqual((await client.trust()).sigKids, ["sig-1"]);
  });

  test("with trust: \"fetch\", a signature by an unknown kid is HANDSHAKE_INVALID and the set is never fetched again", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw, { trust: "fetch" });
    await client.handshake();
    // An attacker arriving later signs with a key of their own, and would serve it in the set.
    const attacker = await fakeGateway();
    gw.signWith = attacker.signWith;
    gw.sigKid = "attacker-1";
    gw.jwks = { keys: [{ ...attacker.jwks.keys[0], kid: "attacker-1" }, gw.jwks.keys[1]] };
    for (let i = 0; i < 3; i++) {
      await rejects(client.handshake(), ErrorKind.HANDSHAKE_INVALID);
      client.forget();
      await rejects(client.call("GET", "/api/x"), ErrorKind.HANDSHAKE_INVALID);
    }
    assert.equal(gw.log.filter((r) => r.kind === "jwks").length, 1, "the set was fetched once, for the client's life");
    assert.deepEqual((await client.trust()).sigKids, ["sig-1"]);
    assert.equal(gw.calls().length, 0);
  });

  test("a JWK Set is not fetched over http: from a host other than localhost, unless allowed", async () => {
    const gw = await fakeGateway();
    for (const baseUrl of ["http://gw.test", "http://10.0.0.7:8080", "http://127.0.0.2", "http://localhost.gw.test"]) {
      assert.throws(() => clientFor(gw, { baseUrl, trust: "fetch" }), /allowInsecureJwksFetch/, baseUrl);
      await assert.rejects(GatewayTrust.fetch(baseUrl, { fetch: gw.fetch }), /allowInsecureJwksFetch/, baseUrl);
    }
    assert.equal(gw.log.length, 0, "refused before anything was sent");
    const allowed = clientFor(gw, { baseUrl: "http://gw.test", trust: "fetch", allowInsecureJwksFetch: true });
    assert.equal((await allowed.call("GET", "/api/x")).status, 200);
    assert.deepEqual((await GatewayTrust.fetch("http://gw.test", { fetch: gw.fetch, allowInsecureJwksFetch: true })).sigKids, ["sig-1"]);
    for (const baseUrl of ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080", "http://LOCALHOST", "https://gw.test"]) {
      assert.equal((await clientFor(gw, { baseUrl, trust: "fetch" }).call("GET", "/api/x")).status, 200, baseUrl);
      assert.deepEqual((await GatewayTrust.fetch(baseUrl, { fetch: gw.fetch })).sigKids, ["sig-1"], baseUrl);
    }
    // A pinned set needs no fetch, whatever the scheme.
    assert.equal((await clientFor(gw, { baseUrl: "http://gw.test" }).call("GET", "/api/x")).status, 200);
  });

  test("a JWK Set over 64 KiB is HANDSHAKE_INVALID, its reading stopped", async () => {
    const gw = await fakeGateway();
    const { stream, pulled } = endless();
    gw.script.push(async (req) => (req.kind === "jwks" ? new Response(stream, { status: 200, headers: { "Content-Type": "application/jwk-set+json" } }) : undefined));
    const e = await rejects(GatewayTrust.fetch("https://gw.test", { fetch: gw.fetch }), ErrorKind.HANDSHAKE_INVALID);
    assert.match(e.message, /larger than 65536 bytes/);
    assert.ok(pulled() <= 65_536 + 2 * 16_384, `read ${pulled()} bytes`);
    gw.script.push(async (req) => (req.kind === "jwks" ? new Response("{}", { status: 200, headers: { "Content-Length": "70000" } }) : undefined));
    await rejects(GatewayTrust.fetch("https://gw.test", { fetch: gw.fetch }), ErrorKind.HANDSHAKE_INVALID);
  });

  test("the unauthenticated (seed) handshake only when asked for, and then plain", async () => {
    const gw = await fakeGateway();
    assert.throws(() => new SealgateClient({ baseUrl: "https://gw.test", channel: CHANNEL, apiKey: API_KEY, secret: SECRET }), TypeError);
    assert.throws(() => clientFor(gw, { unauthenticatedHandshake: true }), TypeError);
    gw.answerTweak = (a) => ({ ...a, signature: undefined });
    const client = clientFor(gw, { trust: undefined, unauthenticatedHandshake: true });
    const reply = await client.call("POST", "/api/x", { body: "hi" });
    assert.equal(reply.json().body, "hi");
    assert.equal(gw.tokens()[0].headers.get("content-type"), "application/json");
  });
});

describe("calls", () => {
  test("a body is sealed and bound: typ request+jwe, htm, htp, cty", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    const reply = await client.call("post", "/api/transfer?from=1&to=2", { body: { amount: 100 } });
    const [call] = gw.calls();
    assert.equal(call.method, "POST");
    assert.equal(call.headers.get("content-type"), "application/jose");
    assert.equal(call.headers.get("x-request-seal"), null);
    const header = JSON.parse(dec.decode(b64uDecode(dec.decode(call.body).split(".")[0])));
    assert.deepEqual(header, { alg: "dir", enc: "A256GCM", cty: "application/json", typ: "request+jwe", htm: "POST", htp: "/api/transfer?from=1&to=2" });
    assert.equal(reply.status, 200);
    assert.equal(reply.ok, true);
    assert.equal(reply.sealed, true);
    assert.equal(reply.cty, "application/json");
    assert.deepEqual(reply.json(), { method: "POST", path: "/api/transfer", query: "from=1&to=2", cty: "application/json", body: '{"amount":100}' });
  });

  test("a bodyless call carries X-Request-Seal, an empty sealed message bound to it", async () => {
    const gw = await fakeGateway();
    const reply = await clientFor(gw).call("GET", "/api/account/7");
    const [call] = gw.calls();
    assert.equal(call.body.length, 0);
    const seal = call.headers.get("x-request-seal");
    assert.deepEqual(JSON.parse(dec.decode(b64uDecode(seal.split(".")[0]))), { alg: "dir", enc: "A256GCM", typ: "request+jwe", htm: "GET", htp: "/api/account/7" });
    assert.equal(call.opened.plaintext, "");
    assert.equal(reply.json().method, "GET");
  });

  test("body kinds: text, bytes, JSON; contentType becomes cty", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    assert.equal((await client.call("PUT", "/api/t", { body: "héllo" })).json().cty, "text/plain; charset=utf-8");
    assert.equal((await client.call("PUT", "/api/b", { body: new Uint8Array([65, 66]) })).json().cty, "application/octet-stream");
    const custom = await client.call("PUT", "/api/c", { body: "<a/>", contentType: "application/xml" });
    assert.deepEqual([custom.json().cty, custom.json().body], ["application/xml", "<a/>"]);
    assert.equal((await client.call("PATCH", "/api/j", { body: [1, 2] })).json().body, "[1,2]");
    assert.equal((await client.call("DELETE", "/api/e", { body: "" })).json().body, "", "an empty body goes as X-Request-Seal");
    assert.ok(gw.calls()[4].headers.get("x-request-seal"));
  });

  test("every message gets a fresh IV", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    for (let i = 0; i < 5; i++) await client.call("GET", "/api/x");
    const ivs = gw.calls().map((c) => c.headers.get("x-request-seal").split(".")[2]);
    assert.equal(new Set(ivs).size, 5);
  });

  test("a target that URL parsing would rewrite is refused before anything is sent", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    for (const bad of ["/api/../admin", "/api/./x", "/api/a b", "/api/x#frag", "/api/é", "api/x", "//api/x", "/api\\x", "/api?"]) {
      await assert.rejects(client.call("GET", bad), TypeError, bad);
    }
    await assert.rejects(client.call("GET /x", "/api/x"), TypeError);
    await assert.rejects(client.call("CONNECT", "/api/x"), TypeError);
    await assert.rejects(client.call("HEAD", "/api/x"), /HEAD answer has no body/);
    assert.equal(gw.log.length, 0);
  });

  test("a base URL with a path prefix is part of htp", async () => {
    const gw = await fakeGateway();
    const client = new SealgateClient({ baseUrl: "https://gw.test/edge/", channel: CHANNEL, apiKey: API_KEY, secret: SECRET, trust: gw.jwks, fetch: gw.fetch, tokenPath: "/token-service/new/v2/token" });
    const reply = await client.call("GET", "/api/x?q=1");
    assert.equal(gw.log[0].url.pathname, "/edge/token-service/new/v2/token");
    assert.equal(reply.json().path, "/edge/api/x");
  });

  test("RESPONSE_INVALID: a 2xx in clear, an untyped or wrongly typed sealed answer, one under another key, a corrupt one", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    const cases = [
      async () => new Response('{"ok":true}', { status: 200, headers: { "Content-Type": "application/json" } }),
      async () => new Response(null, { status: 204 }),
      async (req) => gw.sealedAnswer(req, '{"alg":"dir","enc":"A256GCM","cty":"application/json"}'),
      async (req) => gw.sealedAnswer(req, '{"alg":"dir","enc":"A256GCM","typ":"request+jwe"}'),
      async (req) => gw.sealedAnswer(req, '{"alg":"dir","enc":"A256GCM","typ":"response+jwe","typ":"response+jwe"}'),
      async (req) => gw.sealedAnswer(req, '{"alg":"dir","enc":"A256GCM","typ":"response+jwe","zip":"DEF"}'),
      async () => new Response("a.b.c", { status: 200, headers: { "Content-Type": "application/jose" } }),
    ];
    for (const answer of cases) {
      gw.script.push(async (req) => (req.kind === "call" ? answer(req) : undefined));
      const error = await rejects(client.call("GET", "/api/x"), ErrorKind.RESPONSE_INVALID);
      assert.ok(error.status >= 200 && error.status < 300);
    }
    const other = await fakeGateway();
    const stranger = await clientFor(other).handshake();
    gw.script.push(async (req) => {
      if (req.kind !== "call") return undefined;
      const { seal } = await import("../src/index.js");
      return new Response(await seal(stranger.key, new Uint8Array(1), { typ: "response+jwe" }), { status: 200, headers: { "Content-Type": "application/jose; charset=us-ascii" } });
    });
    await rejects(client.call("GET", "/api/x"), ErrorKind.RESPONSE_INVALID);
    // A sealed answer with an error status is still the upstream's data.
    gw.script.push(async (req) => (req.kind === "call" ? gw.sealedAnswer(req, '{"alg":"dir","enc":"A256GCM","typ":"response+jwe"}', '{"e":1}', 409) : undefined));
    const conflict = await client.call("POST", "/api/x", { body: {} });
    assert.deepEqual([conflict.status, conflict.ok, conflict.sealed, conflict.json()], [409, false, true, { e: 1 }]);
  });

  test("redirects are not followed: one in clear is TRANSPORT, a sealed 3xx is the upstream's", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    gw.script.push(async (req) => (req.kind === "call" ? new Response(null, { status: 302, headers: { Location: "https://elsewhere.test/" } }) : undefined));
    const e = await rejects(client.call("GET", "/api/x"), ErrorKind.TRANSPORT);
    assert.match(e.message, /redirect/);
    assert.equal(gw.calls()[0].init.redirect, "manual");
    gw.script.push(async (req) => (req.kind === "call" ? gw.sealedAnswer(req, '{"alg":"dir","enc":"A256GCM","typ":"response+jwe"}', "moved", 303) : undefined));
    const moved = await client.call("POST", "/api/x", { body: "x" });
    assert.deepEqual([moved.status, moved.text()], [303, "moved"]);
    gw.script.push(async (req) => (req.kind === "token" ? new Response(null, { status: 307, headers: { Location: "https://elsewhere.test/" } }) : undefined));
    await rejects(client.handshake(), ErrorKind.TRANSPORT);
  });

  test("an answer over maxResponseBytes is TRANSPORT, its reading stopped at the cap", async () => {
    assert.equal(DEFAULT_MAX_RESPONSE_BYTES, 32 * 1024 * 1024);
    const gw = await fakeGateway();
    const client = clientFor(gw, { maxResponseBytes: 100_000 });
    assert.equal(client.maxResponseBytes, 100_000);
    const { stream, pulled } = endless();
    gw.script.push(async (req) => (req.kind === "call" ? new Response(stream, { status: 200, headers: { "Content-Type": "application/jose" } }) : undefined));
    const e = await rejects(client.call("GET", "/api/x"), ErrorKind.TRANSPORT);
    assert.match(e.message, /maxResponseBytes/);
    assert.ok(pulled() <= 100_000 + 2 * 16_384, `read ${pulled()} bytes`);
    gw.script.push(async (req) => (req.kind === "call" ? new Response("x", { status: 200, headers: { "Content-Type": "application/jose", "Content-Length": "100001" } }) : undefined));
    await rejects(client.call("GET", "/api/x"), ErrorKind.TRANSPORT);
    gw.script.push(async (req) => (req.kind === "token" ? new Response(endless().stream, { status: 200 }) : undefined));
    await rejects(clientFor(gw, { maxResponseBytes: 100_000 }).handshake(), ErrorKind.TRANSPORT);
    // Under the cap, the answer is read as usual.
    assert.equal((await client.call("POST", "/api/x", { body: "x".repeat(50_000) })).status, 200);
    assert.throws(() => clientFor(gw, { maxResponseBytes: -1 }), TypeError);
    assert.throws(() => clientFor(gw, { maxResponseBytes: 1.5 }), TypeError);
  });

  test("expectSealed: false returns an answer in clear, but still maps the gateway's own errors", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    gw.script.push(async (req) => (req.kind === "call" ? new Response("plain", { status: 200, headers: { "Content-Type": "text/plain" } }) : undefined));
    const reply = await client.call("GET", "/api/x", { expectSealed: false });
    assert.deepEqual([reply.sealed, reply.cty, reply.text()], [false, "text/plain", "plain"]);
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(401, "AUTH008", "Request replayed") : undefined));
    await rejects(client.call("GET", "/api/x", { expectSealed: false }), ErrorKind.REPLAYED);
  });
});

describe("errors", () => {
  test("the vocabulary: kindFor maps every gateway code", () => {
    const table = [
      [401, "TOK002", "CREDENTIALS_REFUSED"], [401, "TOK004", "CREDENTIALS_REFUSED"],
      [400, "TOK003", "REQUEST_REFUSED"], [405, "TOK003", "REQUEST_REFUSED"], [408, "TOK003", "REQUEST_REFUSED"], [413, "TOK003", "REQUEST_REFUSED"],
      [429, "TOK003", "RETRY_LATER"], [503, "TOK003", "RETRY_LATER"], [500, "TOK003", "GATEWAY_ERROR"],
      [401, "AUTH001", "REQUEST_REFUSED"], [401, "AUTH002", "REQUEST_REFUSED"], [401, "AUTH004", "REQUEST_REFUSED"],
      [401, "AUTH003", "SESSION_EXPIRED"], [401, "AUTH005", "SESSION_EXPIRED"], [401, "AUTH007", "SESSION_EXPIRED"],
      [401, "AUTH009", "SESSION_EXPIRED"], [401, "AUTH010", "SESSION_EXPIRED"], [401, "AUTH011", "SESSION_EXPIRED"],
      [403, "AUTH005", "REQUEST_REFUSED"], [400, "AUTH003", "REQUEST_REFUSED"], [500, "AUTH007", "GATEWAY_ERROR"],
      [401, "AUTH008", "REPLAYED"], [401, "AUTH006", "CLOCK_SKEW"],
      [400, "BODY001", "REQUEST_REFUSED"], [400, "BODY002", "REQUEST_REFUSED"], [413, "BODY003", "REQUEST_REFUSED"], [408, "BODY004", "REQUEST_REFUSED"],
      [400, "BODY006", "REQUEST_REFUSED"], [400, "BODY007", "REQUEST_REFUSED"], [400, "BODY008", "REQUEST_REFUSED"], [400, "BODY009", "REQUEST_REFUSED"],
      [404, "ROUTE001", "REQUEST_REFUSED"], [400, "ROUTE003", "REQUEST_REFUSED"], [431, "HEAD002", "REQUEST_REFUSED"], [431, null, "REQUEST_REFUSED"],
      [501, "ROUTE002", "GATEWAY_ERROR"], [502, "UPSTREAM001", "GATEWAY_ERROR"], [504, "UPSTREAM004", "GATEWAY_ERROR"], [500, "GATEWAY500", "GATEWAY_ERROR"],
      [503, "GATEWAY503", "RETRY_LATER"], [503, "ROUTE004", "RETRY_LATER"], [503, "STATE001", "RETRY_LATER"], [503, "STATE002", "RETRY_LATER"], [502, null, "GATEWAY_ERROR"],
      [400, "ROUTE005", "REQUEST_REFUSED"], [429, "RATE001", "RETRY_LATER"],
    ];
    for (const [status, code, kind] of table) assert.equal(kindFor(status, code), kind, `${status} ${code}`);
    assert.deepEqual(Object.keys(ErrorKind).sort(), ["CLOCK_SKEW", "CREDENTIALS_REFUSED", "GATEWAY_ERROR", "HANDSHAKE_INVALID", "REPLAYED", "REQUEST_REFUSED", "RESPONSE_INVALID", "RETRY_LATER", "SESSION_EXPIRED", "TRANSPORT"]);
  });

  test("SealgateError carries kind, status, resCode and retryAfterSeconds", () => {
    const e = new SealgateError("RETRY_LATER", "wait", { status: 503, resCode: "STATE001", retryAfterSeconds: 1 });
    assert.ok(e instanceof Error);
    assert.deepEqual([e.name, e.kind, e.status, e.resCode, e.retryAfterSeconds], ["SealgateError", "RETRY_LATER", 503, "STATE001", 1]);
    const bare = new SealgateError("TRANSPORT", "x");
    assert.deepEqual([bare.status, bare.resCode, bare.retryAfterSeconds], [0, null, null]);
    assert.throws(() => new SealgateError("NOPE", "x"), TypeError);
    assert.equal(parseRetryAfter("60"), 60);
    assert.equal(parseRetryAfter(" 5 "), 5);
    assert.equal(parseRetryAfter("-1"), null);
    assert.equal(parseRetryAfter("soon"), null);
    assert.equal(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString()) > 25, true);
  });

  test("CREDENTIALS_REFUSED for TOK004 and TOK002, not retried", async () => {
    const gw = await fakeGateway();
    const wrong = clientFor(gw, { secret: "wrong-secret-xyz" });
    const e = await rejects(wrong.call("GET", "/api/x"), ErrorKind.CREDENTIALS_REFUSED);
    assert.deepEqual([e.status, e.resCode], [401, "TOK004"]);
    const e2 = await rejects(clientFor(gw, { apiKey: "NOBODY" }).handshake(), ErrorKind.CREDENTIALS_REFUSED);
    assert.equal(e2.resCode, "TOK002");
    assert.equal(gw.tokens().length, 2);
  });

  test("RETRY_LATER with Retry-After on the token endpoint (429) and a route (503)", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    gw.script.push(async (req) => (req.kind === "token" ? gatewayError(429, "TOK003", "Failure", { "Retry-After": "60" }) : undefined));
    const e = await rejects(client.call("GET", "/api/x"), ErrorKind.RETRY_LATER);
    assert.deepEqual([e.status, e.resCode, e.retryAfterSeconds], [429, "TOK003", 60]);
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(503, "STATE001", "Session state unavailable", { "Retry-After": "1" }) : undefined));
    const e2 = await rejects(client.call("GET", "/api/x"), ErrorKind.RETRY_LATER);
    assert.deepEqual([e2.status, e2.resCode, e2.retryAfterSeconds], [503, "STATE001", 1]);
    assert.equal(gw.calls().length, 1, "RETRY_LATER is not retried by the library");
  });

  const SESSION_CODES = ["AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"];
  for (const code of SESSION_CODES) {
    test(`SESSION_EXPIRED (${code}) on an idempotent call: one new handshake, the call sent once more, sealed afresh`, async () => {
      assert.deepEqual([...IDEMPOTENT_METHODS], ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
      for (const [method, body] of [["GET", undefined], ["PUT", { n: 1 }], ["DELETE", undefined], ["OPTIONS", undefined]]) {
        const gw = await fakeGateway();
        const client = clientFor(gw);
        const before = await client.handshake();
        gw.script.push(async (req) => (req.kind === "call" ? gatewayError(401, code, "expired", { "WWW-Authenticate": 'Bearer realm="sealgate", error="invalid_token"' }) : undefined));
        const reply = await client.call(method, "/api/x", { body });
        assert.equal(reply.status, 200);
        assert.equal(reply.json().method, method);
        const calls = gw.calls();
        assert.equal(calls.length, 2, method);
        assert.equal(gw.tokens().length, 2);
        assert.equal(gw.delivered.length, 1, "the upstream saw it once");
        assert.notEqual(calls[0].headers.get("authorization"), calls[1].headers.get("authorization"));
        if (body) assert.notEqual(dec.decode(calls[0].body), dec.decode(calls[1].body));
        else assert.notEqual(calls[0].headers.get("x-request-seal"), calls[1].headers.get("x-request-seal"));
        assert.notEqual(client.session, before);
      }
    });

    test(`SESSION_EXPIRED (${code}) on POST or PATCH: thrown, the session dropped, not sent again`, async () => {
      for (const method of ["POST", "PATCH"]) {
        const gw = await fakeGateway();
        const client = clientFor(gw);
        await client.handshake();
        // Whoever terminates TLS passes the call on (it runs upstream), then forges the refusal.
        gw.script.push(async (req) => (req.kind === "call" ? (await gw.route(req), gatewayError(401, code, "Token expired")) : undefined));
        const e = await rejects(client.call(method, "/api/pay", { body: { amount: 100 } }), ErrorKind.SESSION_EXPIRED);
        assert.deepEqual([e.status, e.resCode], [401, code]);
        assert.equal(gw.calls().length, 1, `${method}: not sent again`);
        assert.equal(gw.delivered.length, 1, "the upstream saw it once");
        assert.equal(gw.tokens().length, 1, "no handshake for nothing");
        assert.equal(client.session, null, "the session is dropped");
        assert.equal((await client.call("GET", "/api/x")).status, 200);
        assert.equal(gw.tokens().length, 2, "the next call makes the new handshake");
      }
    });
  }

  test("a 401 that is not the gateway's session refusal is not sent again (and keeps the session)", async () => {
    const answers = [
      () => new Response('{"error":"token expired","resCode":"AUTH005"}', { status: 401, headers: { "Content-Type": "application/json" } }),
      () => new Response('{"resCode":"AUTH005","resDesc":"Token expired","detail":"x"}', { status: 401 }),
      () => new Response('{"resCode":"AUTH005"}', { status: 401 }),
      () => new Response('{"resCode":"AUTH005","resDesc":null}', { status: 401 }),
      () => new Response("AUTH005", { status: 401 }),
      () => gatewayError(403, "AUTH005", "Token expired"),
      () => gatewayError(400, "AUTH003", "Token key unknown"),
    ];
    for (const answer of answers) {
      const gw = await fakeGateway();
      const client = clientFor(gw);
      const session = await client.handshake();
      gw.script.push(async (req) => (req.kind === "call" ? answer() : undefined));
      const e = await rejects(client.call("GET", "/api/x"), ErrorKind.REQUEST_REFUSED);
      assert.ok(e.status === 401 ? e.resCode === null : e.resCode !== null, e.message);
      assert.equal(gw.calls().length, 1);
      assert.equal(gw.tokens().length, 1);
      assert.equal(client.session, session);
    }
  });

  test("with expectSealed: false a 401 is never sent again: the upstream's JSON is returned, the gateway's refusal thrown", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    await client.handshake();
    gw.script.push(async (req) => (req.kind === "call" ? new Response('{"error":"session expired","code":"AUTH005"}', { status: 401, headers: { "Content-Type": "application/json" } }) : undefined));
    const reply = await client.call("GET", "/public/x", { expectSealed: false });
    assert.deepEqual([reply.status, reply.sealed, reply.json().code], [401, false, "AUTH005"]);
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(401, "AUTH005", "Token expired") : undefined));
    const e = await rejects(client.call("GET", "/public/x", { expectSealed: false }), ErrorKind.SESSION_EXPIRED);
    assert.equal(e.resCode, "AUTH005");
    assert.equal(gw.calls().length, 2, "neither was sent again");
    assert.equal(gw.tokens().length, 1);
    assert.equal(client.session, null, "the session is dropped: the next call makes a new handshake");
  });

  test("a second SESSION_EXPIRED is thrown", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    for (let i = 0; i < 2; i++) gw.script.push(async (req) => (req.kind === "call" ? gatewayError(401, "AUTH005", "Token expired") : undefined));
    const e = await rejects(client.call("GET", "/api/x"), ErrorKind.SESSION_EXPIRED);
    assert.deepEqual([e.status, e.resCode], [401, "AUTH005"]);
    assert.equal(gw.calls().length, 2, "sent once more, not twice");
    assert.equal(gw.tokens().length, 2);
    assert.equal(client.session, null, "the refused session is forgotten");
  });

  test("REPLAYED (AUTH008) and CLOCK_SKEW (AUTH006) are never retried", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(401, "AUTH008", "Request replayed") : undefined));
    await rejects(client.call("POST", "/api/x", { body: { pay: 1 } }), ErrorKind.REPLAYED);
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(401, "AUTH006", "Token not yet valid") : undefined));
    await rejects(client.call("GET", "/api/x"), ErrorKind.CLOCK_SKEW);
    assert.equal(gw.calls().length, 2);
    assert.equal(gw.tokens().length, 1);
  });

  test("REQUEST_REFUSED for BODY and AUTH001/002/004 (the session is then dropped), GATEWAY_ERROR for 5xx", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(400, "BODY007", "Sealed message is bound to another request") : undefined));
    const e = await rejects(client.call("GET", "/api/x"), ErrorKind.REQUEST_REFUSED);
    assert.deepEqual([e.status, e.resCode], [400, "BODY007"]);
    assert.ok(client.session, "a BODY error keeps the session");
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(401, "AUTH004", "Token invalid") : undefined));
    await rejects(client.call("GET", "/api/x"), ErrorKind.REQUEST_REFUSED);
    assert.equal(client.session, null, "AUTH004: the next call makes a new handshake");
    gw.script.push(async (req) => (req.kind === "call" ? gatewayError(502, "UPSTREAM001", "Upstream unreachable") : undefined));
    const e3 = await rejects(client.call("GET", "/api/x"), ErrorKind.GATEWAY_ERROR);
    assert.equal(e3.resCode, "UPSTREAM001");
    gw.script.push(async (req) => (req.kind === "call" ? new Response("<h1>Bad Request</h1>", { status: 400 }) : undefined));
    const e4 = await rejects(client.call("GET", "/api/x"), ErrorKind.REQUEST_REFUSED);
    assert.deepEqual([e4.status, e4.resCode], [400, null]);
    assert.equal(gw.tokens().length, 2);
  });

  test("TRANSPORT when fetch fails or is aborted; the next attempt seals afresh", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    gw.script.push(async (req) => { if (req.kind === "token") throw new TypeError("fetch failed"); });
    const e = await rejects(client.call("GET", "/api/x"), ErrorKind.TRANSPORT);
    assert.equal(e.status, 0);
    assert.ok(e.cause instanceof TypeError);
    const controller = new AbortController();
    controller.abort();
    const failing = clientFor(gw, { fetch: async (url, init) => { init.signal?.throwIfAborted(); return gw.fetch(url, init); } });
    await failing.handshake();
    const aborted = await rejects(failing.call("GET", "/api/x", { signal: controller.signal }), ErrorKind.TRANSPORT);
    assert.match(aborted.message, /aborted/);
    assert.equal((await client.call("GET", "/api/x")).status, 200);
  });
});

describe("sessions", () => {
  test("renewal when less than 60 s remain before expiry (injected clock)", async () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    const gw = await fakeGateway();
    const client = clientFor(gw, { now });
    const first = await client.ensureSession();
    offset = first.expiry - Date.now() - 61_000;
    assert.equal(await client.ensureSession(), first, "61 s left: kept");
    offset = first.expiry - Date.now() - 59_000;
    // The sealed request's iat follows the clock too; the fake gateway (like the real one)
    // would refuse it, so renewal is checked through ensureSession's decision only.
    gw.script.push(async (req) => (req.kind === "token" ? gatewayError(400, "TOK003") : undefined));
    await rejects(client.ensureSession(), ErrorKind.REQUEST_REFUSED);
    assert.equal(gw.tokens().length, 2, "59 s left: renewed");
  });

  test("renewal of a near-expiry session installed by hand, and renewBeforeMs", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    const first = await client.handshake();
    client.session = new Session({ token: first.token, expiry: Date.now() + 30_000, key: first.key });
    await client.call("GET", "/api/x");
    assert.equal(gw.tokens().length, 2);
    assert.notEqual(client.session.token, first.token);
    const eager = clientFor(gw, { renewBeforeMs: 3_600_000 });
    await eager.call("GET", "/api/x");
    await eager.call("GET", "/api/x");
    assert.equal(gw.tokens().length, 4, "a session shorter than renewBeforeMs is renewed every call");
    assert.throws(() => { client.session = { token: "t", expiry: 1, key: first.key }; }, TypeError);
  });

  test("concurrent calls share one handshake", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    const replies = await Promise.all([1, 2, 3, 4, 5].map((n) => client.call("POST", "/api/x", { body: { n } })));
    assert.equal(gw.tokens().length, 1);
    assert.deepEqual(replies.map((r) => JSON.parse(r.json().body).n), [1, 2, 3, 4, 5]);
  });

  test("constructor checks", async () => {
    const gw = await fakeGateway();
    const base = { baseUrl: "https://gw.test", channel: CHANNEL, apiKey: API_KEY, secret: SECRET, trust: gw.jwks };
    for (const bad of [
      { baseUrl: "ftp://gw.test" }, { baseUrl: "https://gw.test/?q=1" }, { baseUrl: "https://u:p@gw.test" }, { channel: "" }, { channel: "a\nb" },
      { secret: "" }, { kdf: "sha1" }, { tokenPath: "token" }, { renewBeforeMs: -1 }, { now: 5 },
    ]) {
      assert.throws(() => new SealgateClient({ ...base, ...bad }), TypeError, JSON.stringify(bad));
    }
    await rejects(new SealgateClient({ ...base, trust: { keys: [] }, fetch: gw.fetch }).handshake(), ErrorKind.HANDSHAKE_INVALID);
  });
});

describe("no secret in any error", () => {
  test("messages, stacks, inspect() and JSON never hold the secret, a token, K or a body", async () => {
    const gw = await fakeGateway();
    const client = clientFor(gw);
    await client.call("POST", "/api/x", { body: { marker: BODY_MARKER } });
    // More errors that carry a body or a token nearby.
    gw.script.push(async (req) => (req.kind === "call" ? new Response(`{"resCode":"AUTH004","resDesc":"${SECRET}"}`, { status: 401 }) : undefined));
    await rejects(client.call("POST", "/api/x", { body: { marker: BODY_MARKER } }), ErrorKind.REQUEST_REFUSED);
    gw.script.push(async (req) => (req.kind === "call" ? new Response(`{"secret":"${SECRET}","body":"${BODY_MARKER}"}`, { status: 200 }) : undefined));
    await rejects(client.call("POST", "/api/x", { body: { marker: BODY_MARKER } }), ErrorKind.RESPONSE_INVALID);
    gw.script.push(async (req) => (req.kind === "call" ? new Response(`{"resCode":"BODY002","resDesc":"${BODY_MARKER}"}`, { status: 400 }) : undefined));
    await rejects(client.call("POST", "/api/x", { body: { marker: BODY_MARKER } }), ErrorKind.REQUEST_REFUSED);
    await rejects(clientFor(gw, { secret: `${SECRET}-wrong` }).handshake(), ErrorKind.CREDENTIALS_REFUSED);

    const tokens = [...gw.sessions.keys()];
    const keyTexts = gw.keyBytes.flatMap((k) => [b64uEncode(k), Buffer.from(k).toString("hex"), Buffer.from(k).toString("base64")]);
    const forbidden = [SECRET, BODY_MARKER, ...tokens, ...tokens.map((t) => t.slice(4, 20)), ...keyTexts];
    assert.ok(allErrors.length > 30, `errors checked: ${allErrors.length}`);
    for (const error of allErrors) {
      const texts = [error.message, String(error), error.stack ?? "", inspect(error, { depth: 0 }), JSON.stringify(error)];
      for (const text of texts) {
        for (const secret of forbidden) assert.ok(!text.includes(secret), `an error (${error.kind}) shows a secret: ${error.message}`);
      }
    }
    for (const text of [inspect(client), JSON.stringify(client), String(client)]) assert.ok(!text.includes(SECRET), "the client shows its secret");
  });
});

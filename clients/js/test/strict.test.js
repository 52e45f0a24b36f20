// Strict base64url, strict JSON, public JWKs, and the strict opening of sealed messages and
// handshake signatures (docs/protocol.md, "Conventions", §1.1, §4).
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { describe, test } from "node:test";
import {
  GatewayTrust,
  b64uDecode,
  b64uEncode,
  checkPublicJwk,
  importAesKey,
  importPublicJwk,
  open,
  parseJsonObject,
  parseJsonStrict,
  publicJwkText,
  sealCompact,
  thumbprint,
  verifyHandshake,
} from "../src/index.js";

const enc = new TextEncoder();

describe("base64url", () => {
  test("round trips every length, and matches Node's encoder", () => {
    for (let n = 0; n < 200; n++) {
      const bytes = webcrypto.getRandomValues(new Uint8Array(n));
      const text = b64uEncode(bytes);
      assert.equal(text, Buffer.from(bytes).toString("base64url"));
      assert.deepEqual(b64uDecode(text), bytes);
    }
    const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) & 255);
    assert.deepEqual(b64uDecode(b64uEncode(big)), big);
    assert.equal(b64uEncode(big.buffer), b64uEncode(big));
  });

  test("refuses padding, the standard alphabet, white space, impossible lengths and stray bits", () => {
    for (const bad of ["QQ==", "QQ=", "a+b/", "ab/c", "QU JD", " QUJD", "QUJD\n", "A", "QUJDR", "QR", "QUK", "QUJDRB", "é", "QU\u0000D", "QUJD.", "%41"]) {
      assert.throws(() => b64uDecode(bad), SyntaxError, JSON.stringify(bad));
    }
    assert.throws(() => b64uDecode(null), SyntaxError);
    assert.deepEqual(b64uDecode(""), new Uint8Array(0));
    assert.deepEqual(b64uDecode("QQ"), enc.encode("A"));
    assert.deepEqual(b64uDecode("QUI"), enc.encode("AB"));
    assert.deepEqual(b64uDecode("-_-_"), new Uint8Array([0xfb, 0xff, 0xbf]));
  });

  test("error messages do not quote the input", () => {
    try {
      b64uDecode("c2VjcmV0=");
    } catch (e) {
      assert.ok(!e.message.includes("c2VjcmV0"));
    }
  });
});

describe("JSON", () => {
  test("reads what JSON.parse reads", () => {
    const docs = ['{"a":1,"b":[true,false,null],"c":{"d":"e"}}', "[]", "{}", '"\\u00e9\\ud83d\\ude00\\n\\/"', "-0.5e+3", " 12 ", '{"k":"é😀"}', '[1,[2,[3]]]', '{"expiry":1795703765000}'];
    for (const doc of docs) assert.deepEqual(parseJsonStrict(doc), JSON.parse(doc), doc);
    assert.deepEqual(parseJsonStrict(enc.encode('{"a":"é"}')), { a: "é" });
  });

  test("refuses a repeated member, anywhere", () => {
    assert.throws(() => parseJsonStrict('{"a":1,"a":1}'), /repeated/);
    assert.throws(() => parseJsonStrict('{"x":{"alg":"dir","alg":"none"}}'), /repeated/);
    assert.throws(() => parseJsonStrict('[{"k":1,"k":2}]'), /repeated/);
    assert.throws(() => parseJsonStrict('{"a":1,"\\u0061":2}'), /repeated/, "an escaped spelling is the same name");
  });

  test("refuses lone surrogates, a BOM, invalid UTF-8, and everything JSON.parse refuses", () => {
    for (const bad of ['"\\ud800"', '"\\udc00x"', '"\\ud800\\u0041"', "\ufeff{}", "{'a':1}", "[1,]", '{"a":1,}', "NaN", "01", "1.", ".5", "+1", '"\t"', "{} x", "", "tru", '{"a" 1}', '"\\x41"', "[1 2]"]) {
      assert.throws(() => parseJsonStrict(bad), SyntaxError, JSON.stringify(bad));
    }
    assert.throws(() => parseJsonStrict("\"\ud800\""), SyntaxError);
    assert.throws(() => parseJsonStrict(new Uint8Array([0x22, 0xc3, 0x28, 0x22])), /UTF-8/);
    assert.throws(() => parseJsonStrict(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), SyntaxError);
    assert.throws(() => parseJsonStrict("[".repeat(100) + "]".repeat(100)), /deep/);
  });

  test("__proto__ is an ordinary member, never the prototype", () => {
    const obj = parseJsonObject('{"__proto__":{"admin":true},"a":1}');
    assert.equal(Object.getPrototypeOf(obj), Object.prototype);
    assert.equal(obj.admin, undefined);
    assert.deepEqual(Object.keys(obj), ["__proto__", "a"]);
    assert.throws(() => parseJsonObject("[1]"), /not an object/);
  });
});

describe("public JWKs", () => {
  const good = { kty: "EC", crv: "P-256", x: "IDCSiKg-lxmGGDLXmw9KuvQQpdg31fEJvsiRiwSkYos", y: "sZk1iYt-qdOV1avruSNY99Wk0AMsygKFnKwRasXvJno" };

  test("the canonical text, whatever the members and their order", () => {
    const text = '{"kty":"EC","crv":"P-256","x":"IDCSiKg-lxmGGDLXmw9KuvQQpdg31fEJvsiRiwSkYos","y":"sZk1iYt-qdOV1avruSNY99Wk0AMsygKFnKwRasXvJno"}';
    assert.equal(publicJwkText({ y: good.y, ext: true, key_ops: [], x: good.x, crv: "P-256", kty: "EC", kid: "k" }), text);
  });

  test("refuses d, another curve, padded, short or non-strict coordinates, repeated members, and points off the curve", async () => {
    const bad = [
      { ...good, d: "AAAA" }, { ...good, crv: "P-384" }, { ...good, kty: "OKP" }, { ...good, x: `${good.x}=` },
      { ...good, x: good.x.slice(0, 42) }, { ...good, y: good.y.replace(/-/g, "+") }, { ...good, x: 5 }, { ...good, y: undefined },
    ];
    for (const jwk of bad) assert.throws(() => checkPublicJwk(jwk), SyntaxError, JSON.stringify(jwk));
    assert.throws(() => checkPublicJwk(`{"kty":"EC","kty":"EC","crv":"P-256","x":"${good.x}","y":"${good.y}"}`), /repeated/);
    const offCurve = { ...good, y: b64uEncode(new Uint8Array(32).fill(1)) };
    await assert.rejects(importPublicJwk(offCurve), /not a point on P-256/);
    await assert.rejects(importPublicJwk({ ...good, x: b64uEncode(new Uint8Array(32)), y: b64uEncode(new Uint8Array(32)) }), /not a point/);
    assert.ok(await importPublicJwk(good));
    assert.equal(await thumbprint({ ...good, kid: "ignored" }), "U3b1emXLHMRMUp4y6JQTHEI0qLkzzn5Ll81-NH8FnPA");
  });

  test("a JWK Set: sig keys by kid, the first enc key; bad sets refused", async () => {
    const enc1 = { ...good, kid: "enc-a", use: "enc", alg: "ECDH-ES" };
    const trust = await GatewayTrust.fromJwks({ keys: [{ ...good, kid: "s1", use: "sig", alg: "ES256" }, enc1, { ...good, kid: "enc-b", use: "enc" }, { ...good, kid: "s2", use: "sig" }, { kty: "RSA", use: "other" }] });
    assert.deepEqual(trust.sigKids, ["s1", "s2"]);
    assert.equal(trust.encKid, "enc-a");
    assert.equal(trust.sigKey("nope"), null);
    assert.equal(trust.toJSON().keys.length, 4);
    const sig = { ...good, kid: "s1", use: "sig" };
    for (const set of [
      { keys: [sig] }, { keys: [enc1] }, { keys: [sig, sig, enc1] }, { keys: [{ ...sig, alg: "RS256" }, enc1] }, { keys: [{ ...sig, kid: "a b" }, enc1] },
      { keys: [{ ...sig, d: "x" }, enc1] }, { keys: [sig, { ...enc1, y: b64uEncode(new Uint8Array(32).fill(1)) }] }, { nokeys: [] }, '{"keys":[],"keys":[]}', "[]",
    ]) {
      await assert.rejects(GatewayTrust.fromJwks(set), (e) => e.kind === "HANDSHAKE_INVALID", JSON.stringify(set));
    }
    assert.throws(() => new GatewayTrust(), TypeError);
  });
});

describe("opening sealed messages strictly", () => {
  const key = new Uint8Array(32).fill(7);
  const header = '{"alg":"dir","enc":"A256GCM","cty":"application/json","typ":"response+jwe"}';

  test("a well-formed one opens; the AAD is the header segment as received", async () => {
    const jwe = await sealCompact(key, header, enc.encode("{}"));
    const { headerText, plaintext } = await open(key, jwe, { typ: "response+jwe" });
    assert.equal(headerText, header);
    assert.deepEqual(plaintext, enc.encode("{}"));
    const reencoded = b64uEncode(enc.encode(header.replace(',"typ"', ', "typ"')));
    await assert.rejects(open(key, [reencoded, ...jwe.split(".").slice(1)].join(".")), /does not open/);
  });

  test("refuses every malformed form", async () => {
    const jwe = await sealCompact(key, header, enc.encode("{}"));
    const [h, , iv, ct, tag] = jwe.split(".");
    const seg = (text) => b64uEncode(enc.encode(text));
    const withHeader = async (text) => sealCompact(key, text, enc.encode("{}"));
    const cases = {
      "four segments": `${h}..${iv}.${ct}`,
      "six segments": `${jwe}.x`,
      "an encrypted key": `${h}.AAAA.${iv}.${ct}.${tag}`,
      "a padded segment": `${h}..${iv}=.${ct}.${tag}`,
      "an 11-byte IV": `${h}..${b64uEncode(new Uint8Array(11))}.${ct}.${tag}`,
      "a 15-byte tag": `${h}..${iv}.${ct}.${b64uEncode(b64uDecode(tag).subarray(1))}`,
      "a changed ciphertext": `${h}..${iv}.${ct.replace(/^./, (c) => (c === "A" ? "B" : "A"))}.${tag}`,
      "a repeated header member": await withHeader('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","enc":"A256GCM"}'),
      "alg other than dir": await withHeader('{"alg":"A256KW","enc":"A256GCM","typ":"response+jwe"}'),
      "enc other than A256GCM": await withHeader('{"alg":"dir","enc":"A128GCM","typ":"response+jwe"}'),
      zip: await withHeader('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","zip":"DEF"}'),
      crit: await withHeader('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","crit":["x"],"x":1}'),
      "a typ other than response+jwe": await withHeader('{"alg":"dir","enc":"A256GCM","typ":"request+jwe"}'),
      "no typ": await withHeader('{"alg":"dir","enc":"A256GCM"}'),
      "a cty that is not a string": await withHeader('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","cty":1}'),
      "a header that is not an object": `${seg("[]")}..${iv}.${ct}.${tag}`,
      "a header that is not JSON": `${seg("{")}..${iv}.${ct}.${tag}`,
    };
    for (const [what, compact] of Object.entries(cases)) {
      await assert.rejects(open(key, compact, { typ: "response+jwe" }), Error, what);
    }
    await assert.rejects(open(new Uint8Array(32), jwe), /does not open/, "another key");
    await assert.rejects(open(await importAesKey(key), 5), SyntaxError);
  });

  test("a handshake signature with a repeated header member, crit, or another alg is refused", async () => {
    const sigKey = () => { throw new Error("no key should be asked for"); };
    const seg = (text) => b64uEncode(enc.encode(text));
    for (const h of ['{"alg":"ES256","alg":"ES256","kid":"k","typ":"handshake+jws"}', '{"alg":"none","kid":"k","typ":"handshake+jws"}', '{"alg":"ES256","kid":"k","typ":"JWT"}', '{"alg":"ES256","kid":"k","typ":"handshake+jws","crit":["b64"]}', '{"alg":"ES256","typ":"handshake+jws"}']) {
      await assert.rejects(verifyHandshake({ serverPublicKey: "s", expiry: 1, signature: `${seg(h)}.${seg("{}")}.${b64uEncode(new Uint8Array(64))}` }, sigKey, "{}", "C"), Error, h);
    }
    await assert.rejects(verifyHandshake({ serverPublicKey: "s", expiry: 1 }, sigKey, "{}", "C"), /no signature/);
  });
});

describe("platforms", () => {
  test("without globalThis.crypto (Node 18 by default), node:crypto's webcrypto is used", async () => {
    const { execFileSync } = await import("node:child_process");
    const code = `
      Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true });
      const { checkVectors } = await import("./src/vectors.js");
      const { getCrypto } = await import("./src/index.js");
      const { readFileSync } = await import("node:fs");
      const passed = await checkVectors(JSON.parse(readFileSync("../test-vectors.json", "utf8")));
      const same = (await getCrypto()) === (await import("node:crypto")).webcrypto;
      console.log(passed.length, same);`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], { cwd: new URL("..", import.meta.url), encoding: "utf8" });
    assert.match(out.trim(), /^\d+ true$/);
  });
});

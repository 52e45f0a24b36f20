// Every published vector (clients/test-vectors.json, docs/protocol.md §5), byte for byte,
// including the refusal of the forged signature.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { checkVectors, vectorChecks } from "../src/vectors.js";

const vectors = JSON.parse(await readFile(new URL("../../test-vectors.json", import.meta.url), "utf8"));

for (const [name, check] of vectorChecks) {
  test(`vector: ${name}`, () => check(vectors));
}

test("the vectors file covers every member the protocol lists", () => {
  for (const member of ["client", "server", "z", "k", "request", "response", "handshake", "binding"]) assert.ok(member in vectors, member);
  assert.deepEqual(Object.keys(vectors.k).sort(), ["concat-kdf", "hkdf-sha256", "raw"]);
  for (const member of ["client_thumbprint", "signature", "sealed_request", "gateway_sig", "gateway_enc"]) assert.ok(member in vectors.handshake, member);
  for (const member of ["body", "seal", "response"]) assert.ok(member in vectors.binding, member);
});

test("checkVectors (the command line's check) passes them all", async () => {
  assert.equal((await checkVectors(vectors)).length, vectorChecks.length);
});

test("a changed vector fails", async () => {
  const changed = structuredClone(vectors);
  changed.binding.seal.jwe = changed.binding.seal.jwe.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
  await assert.rejects(checkVectors(changed), /X-Request-Seal/);
  const forged = structuredClone(vectors);
  forged.client.jwk = vectors.server.jwk; // the forged answer would now be "accepted"
  await assert.rejects(checkVectors(forged));
});

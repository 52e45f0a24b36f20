#!/usr/bin/env node
// sealgate's JavaScript reference client, on the command line: a thin runner over the
// @sealgate/client library (src/), for CI and for checking a gateway by hand.
//   node sealgate-client.mjs --vectors ../test-vectors.json
//   node sealgate-client.mjs --url http://127.0.0.1:8080 [--jwks pinned-jwks.json]
// --vectors checks every published vector (docs/protocol.md §5). --url makes the
// authenticated handshake (the JWK Set pinned with --jwks, or fetched from the gateway), a
// bound POST with a JSON body to /api/echo?via=js, a 300 KB body, and a bodyless GET with
// X-Request-Seal, and checks what the echo upstream received.
// Prints "js: ALL CHECKS PASSED" last, only when everything asked for passed; exits 1 on a
// failure, 2 on an unknown flag or a flag without its value.
import { readFile } from "node:fs/promises";
import { SealgateClient } from "./src/index.js";
import { checkVectors } from "./src/vectors.js";

const USAGE = "usage: node sealgate-client.mjs [--vectors FILE] [--url BASE] [--jwks FILE] [--channel ID] [--api-key ID] [--secret S] [--kdf NAME]";
const KNOWN = ["--vectors", "--url", "--jwks", "--channel", "--api-key", "--secret", "--kdf"];

function usage(problem) {
  console.error(`js: ${problem}\n${USAGE}`);
  process.exit(2);
}

/** --flag value pairs; an unknown flag or one without its value is refused (usage, exit 2). */
function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (!KNOWN.includes(name)) usage(`unknown argument ${name}`);
    if (value === undefined || value.startsWith("--")) usage(`${name} needs a value`);
    args[name] = value;
  }
  if (args["--vectors"] === undefined && args["--url"] === undefined) usage("nothing to do");
  return args;
}

async function roundTrip(url, args) {
  const client = new SealgateClient({
    baseUrl: url,
    channel: args["--channel"] ?? "MOB-APP-2001",
    apiKey: args["--api-key"] ?? "MOB-APP",
    secret: args["--secret"] ?? process.env.SEALGATE_CLIENT_SECRET ?? "TEST123",
    kdf: args["--kdf"] ?? "hkdf-sha256",
    trust: args["--jwks"] !== undefined ? await readFile(args["--jwks"], "utf8") : "fetch",
  });
  const sent = { amount: 100, from: "javascript" };
  const reply = await client.call("POST", "/api/echo?via=js", { body: sent });
  const echoed = reply.json();
  if (reply.status !== 200 || !reply.sealed) throw new Error(`the POST answered ${reply.status}`);
  if (JSON.stringify(echoed.body) !== JSON.stringify(sent)) throw new Error("the upstream received another body");
  if (echoed.method !== "POST" || echoed.path !== "/api/echo" || echoed.query !== "via=js") throw new Error("the upstream received another method or target");
  const large = "x".repeat(300_000);
  const big = await client.call("POST", "/api/echo", { body: { large } });
  if (big.status !== 200 || big.json().body.large !== large) throw new Error(`a 300 KB body failed: ${big.status}`);
  const got = await client.call("GET", "/api/echo");
  if (got.status !== 200 || got.json().method !== "GET") throw new Error(`the bodyless call failed: ${got.status}`);
  console.log(`js: authenticated handshake and bound round trips OK, the upstream received ${JSON.stringify(echoed.body)}`);
}

const args = parseArgs(process.argv.slice(2));
try {
  if (args["--vectors"] !== undefined) {
    const passed = await checkVectors(JSON.parse(await readFile(args["--vectors"], "utf8")));
    console.log(`js: test vectors OK (${passed.length} checks)`);
  }
  if (args["--url"] !== undefined) await roundTrip(args["--url"], args);
} catch (error) {
  console.error(`js: FAILED: ${error.message}`);
  process.exit(1);
}
// The last line, only when everything asked for passed: CI looks for it.
console.log("js: ALL CHECKS PASSED");

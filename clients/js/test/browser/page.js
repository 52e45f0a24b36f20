// The browser half of test/browser.test.js: imports the package's ES module as an app would,
// and runs the whole flow against the gateway cross-origin (through the gateway's CORS).
// Reports in window.__sealgateReport and in the page.
import { ErrorKind, GatewayTrust, SealgateClient, SealgateError, Session, b64uDecode, b64uEncode } from "../../src/index.js";

const params = new URLSearchParams(location.search);
const gateway = params.get("gateway");
const identity = { channel: params.get("channel") ?? "MOB-APP-2001", apiKey: params.get("apiKey") ?? "MOB-APP", secret: params.get("secret") ?? "TEST123" };
const report = { origin: location.origin, gateway, secureContext: window.isSecureContext };

async function run() {
  // The gateway's keys: fetched from the gateway cross-origin, or a set pinned by the test.
  const pinned = params.get("pinned");
  const trust = pinned ? await GatewayTrust.fromJwks(pinned) : await GatewayTrust.fetch(gateway);
  report.trust = { from: pinned ? "pinned" : "fetched", sigKids: trust.sigKids, encKid: trust.encKid };
  const client = new SealgateClient({ baseUrl: gateway, ...identity, trust });

  const sent = { amount: 100, from: "browser", note: "ünïcødé" };
  const post = await client.call("POST", "/api/echo?via=browser", { body: sent });
  const echo = post.json();
  report.post = { status: post.status, sealed: post.sealed, cty: post.cty, method: echo.method, path: echo.path, query: echo.query, body: echo.body, channel: echo.headers["x-channel"], clientId: echo.headers["x-client-id"], origin: echo.headers.origin };

  const get = await client.call("GET", "/api/echo?page=2");
  const getEcho = get.json();
  report.get = { status: get.status, sealed: get.sealed, method: getEcho.method, query: getEcho.query, body: getEcho.body, seal: getEcho.headers["x-request-seal"] ?? null };

  const large = "x".repeat(300_000);
  const big = await client.call("POST", "/api/echo", { body: { large } });
  report.big = { status: big.status, length: big.json().body.large.length };

  const session = client.session;
  let exported = "exported";
  try {
    await crypto.subtle.exportKey("raw", session.key);
  } catch (e) {
    exported = `refused (${e.name})`;
  }
  report.session = { extractable: session.key.extractable, export: exported, expiresInMs: session.expiry - Date.now() };

  const wrong = new SealgateClient({ baseUrl: gateway, ...identity, secret: "not-the-secret", trust });
  try {
    await wrong.call("GET", "/api/echo");
    report.wrongSecret = { kind: "none" };
  } catch (e) {
    report.wrongSecret = { kind: e.kind, status: e.status, resCode: e.resCode, isSealgateError: e instanceof SealgateError, leaks: e.message.includes("not-the-secret") };
  }

  // A route's own errors come through CORS too: a tampered token is AUTH004; a token whose
  // kid names no key is AUTH003, after which the library makes a new handshake and sends an
  // idempotent call (PUT here) once more.
  const good = client.session;
  const parts = good.token.split(".");
  const ct = b64uDecode(parts[3]);
  ct[0] ^= 1;
  parts[3] = b64uEncode(ct);
  client.session = new Session({ token: parts.join("."), expiry: good.expiry, key: good.key });
  report.tampered = await client.call("GET", "/api/echo").then(() => "accepted", (e) => `${e.kind} ${e.status} ${e.resCode}`);
  const fresh = await client.ensureSession();
  const header = JSON.parse(new TextDecoder().decode(b64uDecode(fresh.token.split(".")[0])));
  const renamed = [b64uEncode(new TextEncoder().encode(JSON.stringify({ ...header, kid: "retired" }))), ...fresh.token.split(".").slice(1)].join(".");
  client.session = new Session({ token: renamed, expiry: fresh.expiry, key: fresh.key });
  const retried = await client.call("PUT", "/api/echo", { body: { retried: true } });
  report.retried = { status: retried.status, body: retried.json().body, newToken: client.session.token !== renamed };

  const refused = await client.call("GET", "/api/../x").catch((e) => e.name);
  report.badTarget = refused;
  report.kinds = Object.keys(ErrorKind).length;
}

try {
  await run();
  report.ok = true;
} catch (e) {
  report.ok = false;
  report.error = `${e.name}: ${e.message}${e.cause ? ` (cause: ${e.cause.name}: ${e.cause.message})` : ""}`;
}
window.__sealgateReport = report;
document.getElementById("out").textContent = JSON.stringify(report, null, 2);

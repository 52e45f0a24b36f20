// A real browser: Debian's headless Chromium, driven by playwright-core, loads a page from a
// small static server on another origin (http://127.0.0.1:$SEALGATE_PAGE_PORT, the origin
// the gateway's CORS allows), which imports the package's ES module and runs the whole flow
// against the gateway at $SEALGATE_URL cross-origin. Skipped unless both are set.
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const gateway = process.env.SEALGATE_URL;
const port = Number(process.env.SEALGATE_PAGE_PORT);
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = gateway && port ? false : "SEALGATE_URL and SEALGATE_PAGE_PORT are not set";
const root = fileURLToPath(new URL("..", import.meta.url)); // clients/js/
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".json": "application/json" };

/** Serves clients/js/src and clients/js/test/browser, nothing else. */
function startServer() {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    const file = join(root, path);
    const allowed = [join(root, "src") + sep, join(root, "test", "browser") + sep].some((dir) => file.startsWith(dir));
    if (!allowed || !TYPES[extname(file)]) {
      res.writeHead(404).end();
      return;
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error("not a file");
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": TYPES[extname(file)], "Cache-Control": "no-store" });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("in headless Chromium, cross-origin", { skip }, () => {
  let server;
  let browser;
  const logs = [];

  before(async () => {
    server = await startServer();
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      timeout: 30_000,
    });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    server?.closeAllConnections?.();
  });

  async function runPage(query) {
    const page = await browser.newPage();
    page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => logs.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
    const url = `http://127.0.0.1:${port}/test/browser/page.html?${new URLSearchParams({ gateway, ...query })}`;
    await page.goto(url);
    await page.waitForFunction(() => window.__sealgateReport !== undefined, null, { timeout: 60_000 });
    const report = await page.evaluate(() => window.__sealgateReport);
    const shown = await page.textContent("#out");
    await page.close();
    return { report, shown };
  }

  function checkFlow(report) {
    assert.equal(report.ok, true, `the page failed: ${report.error}\n${logs.join("\n")}`);
    assert.equal(report.origin, `http://127.0.0.1:${port}`);
    assert.notEqual(new URL(report.gateway).origin, report.origin, "the gateway is another origin");
    assert.deepEqual(report.post, {
      status: 200, sealed: true, cty: "application/json", method: "POST", path: "/api/echo", query: "via=browser",
      body: { amount: 100, from: "browser", note: "ünïcødé" }, channel: "MOB-APP-2001", clientId: "MOB-APP", origin: report.origin,
    });
    assert.deepEqual(report.get, { status: 200, sealed: true, method: "GET", query: "page=2", body: "", seal: null });
    assert.deepEqual(report.big, { status: 200, length: 300_000 });
    assert.equal(report.session.extractable, false);
    assert.match(report.session.export, /^refused/);
    assert.ok(report.session.expiresInMs > 60_000);
    assert.deepEqual(report.wrongSecret, { kind: "CREDENTIALS_REFUSED", status: 401, resCode: "TOK004", isSealgateError: true, leaks: false });
    assert.equal(report.tampered, "REQUEST_REFUSED 401 AUTH004");
    assert.deepEqual(report.retried, { status: 200, body: { retried: true }, newToken: true });
    assert.equal(report.badTarget, "TypeError");
    assert.equal(report.kinds, 10);
  }

  test("the whole flow, with the JWK Set fetched from the gateway cross-origin", async () => {
    const { report, shown } = await runPage({});
    checkFlow(report);
    assert.equal(report.trust.from, "fetched");
    assert.ok(shown.includes('"via=browser"'), "the page shows its report");
  });

  test("the whole flow, with a JWK Set pinned in the page", async () => {
    const jwks = await (await fetch(`${gateway}/.well-known/jwks.json`)).text();
    const { report } = await runPage({ pinned: jwks });
    checkFlow(report);
    assert.equal(report.trust.from, "pinned");
  });
});

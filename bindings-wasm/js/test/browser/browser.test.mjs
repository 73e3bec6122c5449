// In headless Chromium against the testbed (5-second tokens, rotation): a page that
// bundles the official SDK client with this package connects from nothing by full-page
// redirect, calls a tool, reloads, and after expiry calls again with no new
// authorization; then two pages of the same origin fire right after an expiry and the
// server sees one refresh in total (Web Locks).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { startTestbed, waitFor } from "../testbed.mjs";
import { startBrowser } from "./webdriver.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const pkg = process.env.BEARERFLOW_PACKAGE ?? join(here, "../../../../target/npm/bearerflow");

/** Serve the page, its bundle, the package's .wasm and the testbed's address. */
async function servePage(t, mcp) {
  const bundle = await build({
    entryPoints: [join(here, "page.mjs")],
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    target: "es2022",
    logLevel: "warning",
  });
  const files = {
    "/page.html": ["text/html", await readFile(join(here, "page.html"))],
    "/page.js": ["text/javascript", bundle.outputFiles[0].contents],
    "/bearerflow_wasm_bg.wasm": ["application/wasm", await readFile(join(pkg, "web", "bearerflow_wasm_bg.wasm"))],
    "/callback.html": ["text/html", "<!doctype html><title>signed in</title>"],
    "/config.js": ["text/javascript", `globalThis.BEARERFLOW_TEST = ${JSON.stringify({ mcp })};`],
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, "http://x").pathname];
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": file[0], "cache-control": "no-store" }).end(file[1]);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  return `http://127.0.0.1:${server.address().port}/page.html`;
}

/** Wait for the page's outcome (not "loading"/"running"); a failure is shown whole. */
async function outcome(browser, want = (r) => r !== null && typeof r === "object") {
  let last;
  await waitFor("the page's result", async () => {
    last = await browser.result().catch(() => undefined);
    return want(last);
  }, 60000).catch((e) => {
    throw new Error(`${e.message}; the page shows ${JSON.stringify(last)}`);
  });
  return last;
}

/** Wait until the stored access token has expired (the page's own clock). */
async function untilStoredTokenExpired(browser) {
  await waitFor("the stored token to expire", () =>
    browser.run(
      "const s = JSON.parse(localStorage.getItem('bearerflow-test') || 'null');" +
        "return !!(s && s.tokens && s.tokens.expires_at && s.tokens.expires_at < Date.now());",
    ),
  );
}

test("browser: redirect, reload, expiry, two pages", async (t) => {
  const testbed = await startTestbed(["--ttl", "5s"]);
  t.after(() => testbed.stop());
  const page = await servePage(t, testbed.info.mcp_url);
  const browser = await startBrowser();
  t.after(() => browser.close());

  await t.test("connects from nothing by full-page redirect and calls a tool", async () => {
    await browser.goto(page);
    const r = await outcome(browser);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.text, "hello from the page");
    const c = await testbed.counters();
    assert.equal(c.authorizations, 1);
    assert.equal(c.token_authorization_code, 1);
    assert.ok(c.unauthorized >= 1, "the first request's 401 started OAuth");
    const here = await browser.run("return location.search");
    assert.equal(here, "", "the code and state are gone from the address bar");
  });

  await t.test("after a reload, calls with the stored tokens", async () => {
    const before = await testbed.counters();
    await browser.goto(page);
    const r = await outcome(browser);
    assert.equal(r.ok, true, JSON.stringify(r));
    const after = await testbed.counters();
    assert.equal(after.authorizations, before.authorizations, "no new authorization");
  });

  await t.test("after the token expired, a reload calls again with no new authorization", async () => {
    await untilStoredTokenExpired(browser);
    const before = await testbed.counters();
    await browser.goto(page);
    const r = await outcome(browser);
    assert.equal(r.ok, true, JSON.stringify(r));
    const after = await testbed.counters();
    assert.equal(after.authorizations, 1, "still the one authorization");
    assert.equal(after.token_refresh - before.token_refresh, 1, "one refresh");
  });

  await t.test("authorizes in a popup, tokens in sessionStorage", async () => {
    const before = await testbed.counters();
    await browser.goto(`${page}?mode=popup`);
    const r = await outcome(browser);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.stats.authorizations, 1, "this page authorized once");
    const after = await testbed.counters();
    assert.equal(after.authorizations - before.authorizations, 1);
    const stored = await browser.run("return sessionStorage.getItem('bearerflow-popup') !== null");
    assert.equal(stored, true);
  });

  await t.test("two pages fire right after an expiry: one refresh in total (Web Locks)", async () => {
    const first = await browser.tab();
    await browser.goto(`${page}?mode=wait`);
    await outcome(browser, (r) => r === "ready");
    const second = await browser.newTab();
    await browser.switchTo(second);
    await browser.goto(`${page}?mode=wait`);
    await outcome(browser, (r) => r === "ready");
    await untilStoredTokenExpired(browser);
    const before = await testbed.counters();
    await browser.run("go('second page')");
    await browser.switchTo(first);
    await browser.run("go('first page')");
    const a = await outcome(browser);
    await browser.switchTo(second);
    const b = await outcome(browser);
    assert.equal(a.ok, true, JSON.stringify(a));
    assert.equal(b.ok, true, JSON.stringify(b));
    assert.equal(a.text, "first page");
    assert.equal(b.text, "second page");
    const after = await testbed.counters();
    assert.equal(after.token_refresh - before.token_refresh, 1, "one refresh in total");
    // Both pages held the same, now rotated, refresh token: one spent it, the other
    // found the new tokens under the lock and took them.
    assert.equal(a.adopted + b.adopted, 1, "one page adopted the other's tokens");
    assert.equal(after.refresh_reuse_detected, 0, "no page spent a rotated refresh token");
    assert.equal(after.authorizations, before.authorizations, "no new authorization");
  });
});

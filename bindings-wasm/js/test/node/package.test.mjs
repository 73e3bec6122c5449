// The npm package itself: both module systems, the file store, and what a replay keeps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esm from "bearerflow";

const require = createRequire(import.meta.url);

test("require and import of the package both give createAuthFetch, the same instance", () => {
  const cjs = require("bearerflow");
  assert.equal(typeof cjs.createAuthFetch, "function");
  assert.equal(typeof esm.createAuthFetch, "function");
  assert.equal(esm.createAuthFetch, cjs.createAuthFetch);
  for (const name of ["createAuthProvider", "authMiddleware", "fileStore", "memoryStore", "headless", "loopback", "parseChallenges", "renderChallenge"]) {
    assert.equal(typeof esm[name], "function", name);
  }
});

test("parseChallenges and renderChallenge round-trip a Bearer challenge", async () => {
  const value = await esm.renderChallenge({
    scheme: "Bearer",
    params: [["error", "invalid_token"], ["resource_metadata", "https://mcp.example.com/.well-known/oauth-protected-resource"]],
  });
  const parsed = await esm.parseChallenges([value]);
  assert.equal(parsed.ok, true);
  assert.equal(parsed.challenges[0].bearer.error, "invalid_token");
  const bad = await esm.parseChallenges(['Bearer realm="x'], "strict");
  assert.equal(bad.ok, false);
  await assert.rejects(esm.renderChallenge({ scheme: "Bearer", params: [["realm", "a\nb"]] }), (e) => e.code === "control_character");
});

test("fileStore writes mode 0600 by atomic rename and reads back", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bearerflow-store-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "nested", "tokens.json");
  const store = esm.fileStore(path);
  assert.equal(await store.load(), null);
  await store.save('{"version":1}');
  await store.save('{"version":1,"tokens":null}');
  assert.equal(await store.load(), '{"version":1,"tokens":null}');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(dir, "nested")), ["tokens.json"], "no temporary file left");
});

/** A resource that refuses the first credential and records every request. */
async function resource(t) {
  const seen = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.headers.authorization !== "Bearer two") {
        res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' }).end();
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: message\ndata: first\n\n");
      setTimeout(() => res.end("event: message\ndata: second\n\n"), 20);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${server.address().port}/mcp`, seen };
}

test("a replay keeps method, body and every header; an event stream passes through", async (t) => {
  const { url, seen } = await resource(t);
  let run = 0;
  const authFetch = esm.createAuthFetch({
    resourceUrl: url,
    helper: { run: () => ({ Authorization: `Bearer ${++run === 1 ? "one" : "two"}` }) },
  });
  t.after(() => authFetch.close());
  const body = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "echo" } });
  const response = await authFetch(url, {
    method: "POST",
    body: new Blob([body]).stream(),
    duplex: "half",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-method": "tools/call",
      "mcp-name": "echo",
      "x-trace": "abc",
      authorization: "Bearer baked-in-static-token",
    },
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  assert.equal(await response.text(), "event: message\ndata: first\n\nevent: message\ndata: second\n\n");
  assert.equal(seen.length, 2, "one 401, one replay");
  const [first, replay] = seen;
  assert.equal(first.headers.authorization, "Bearer one", "the session's credential, not the baked-in one");
  assert.equal(replay.headers.authorization, "Bearer two");
  for (const r of seen) {
    assert.equal(r.method, "POST");
    assert.equal(r.body, body);
    assert.equal(r.headers["mcp-method"], "tools/call");
    assert.equal(r.headers["mcp-name"], "echo");
    assert.equal(r.headers["x-trace"], "abc");
    assert.equal(r.headers["content-type"], "application/json");
  }
  assert.equal(authFetch.stats().helper_runs, 2);
});

test("requests to another origin pass through without the credential", async (t) => {
  const { url } = await resource(t);
  const other = await resource(t);
  const authFetch = esm.createAuthFetch({ resourceUrl: url, helper: { run: () => ({ Authorization: "Bearer two" }) } });
  t.after(() => authFetch.close());
  const response = await authFetch(other.url, { method: "POST", body: "x" });
  assert.equal(response.status, 401);
  assert.equal(other.seen[0].headers.authorization, undefined);
  assert.equal(authFetch.stats()?.sends ?? 0, 0);
});

// The official TypeScript SDK 1.x (`@modelcontextprotocol/sdk`) with `createAuthFetch`
// as its transport's `fetch`, against the testbed (5-second tokens, rotation).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createAuthFetch, headless, memoryStore } from "bearerflow";
import { startTestbed } from "../testbed.mjs";
import { echo, threeExpiries } from "../lifecycle.mjs";

test("SDK 1.x + createAuthFetch: connect from nothing, three expiries, a burst of 32", async (t) => {
  const testbed = await startTestbed(["--ttl", "5s"]);
  t.after(() => testbed.stop());
  const authFetch = createAuthFetch({
    resourceUrl: testbed.info.mcp_url,
    oauth: { redirect_uri: "http://127.0.0.1:9/callback", client_name: "bearerflow sdk1 test" },
    authorize: headless(),
    store: memoryStore(),
  });
  t.after(() => authFetch.close());
  const client = new Client({ name: "bearerflow-sdk1-test", version: "0.1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(testbed.info.mcp_url), { fetch: authFetch }));
  t.after(() => client.close());
  assert.equal(await echo(client, "hello"), "hello");
  const calls = await threeExpiries(testbed, client, authFetch);
  assert.equal(calls, 4 + 4 + 32);
  assert.equal(authFetch.stats().fails, 0, "the session failed no request");
});

test("loopback authorizer and file store: sign in once, a second process restores from the file", async (t) => {
  const { createServer } = await import("node:net");
  const { mkdtempSync, rmSync, statSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { fileStore, loopback } = await import("bearerflow");
  const testbed = await startTestbed(["--ttl", "5s"]);
  t.after(() => testbed.stop());
  const probe = createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const dir = mkdtempSync(join(tmpdir(), "bearerflow-sdk1-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "tokens.json");
  const options = (open) => ({
    resourceUrl: testbed.info.mcp_url,
    oauth: { redirect_uri: `http://127.0.0.1:${port}/callback`, client_name: "bearerflow loopback test" },
    authorize: loopback(open),
    store: fileStore(file),
  });
  // The "browser" is fetch following the authorization server's redirect to the listener.
  const first = createAuthFetch(options((url) => void fetch(url).catch(() => undefined)));
  const client = new Client({ name: "bearerflow-sdk1-test", version: "0.1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(testbed.info.mcp_url), { fetch: first }));
  assert.equal(await echo(client, "signed in"), "signed in");
  await client.close();
  first.close();
  assert.equal((await testbed.counters()).authorizations, 1);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  // A second process: no browser may be needed.
  const second = createAuthFetch(options(() => assert.fail("no authorization expected")));
  t.after(() => second.close());
  const again = new Client({ name: "bearerflow-sdk1-test", version: "0.1.0" });
  await again.connect(new StreamableHTTPClientTransport(new URL(testbed.info.mcp_url), { fetch: second }));
  t.after(() => again.close());
  assert.equal(await echo(again, "restored"), "restored");
  assert.equal((await testbed.counters()).authorizations, 1, "no second authorization");
});

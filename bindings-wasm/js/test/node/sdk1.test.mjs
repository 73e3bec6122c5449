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

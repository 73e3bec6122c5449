// The official TypeScript SDK 2.x (`@modelcontextprotocol/client`) with `createAuthFetch`
// as the transport's `fetch`, with `createAuthProvider` as its `authProvider`, and with
// `authMiddleware` through `applyMiddlewares`, against the testbed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport, applyMiddlewares } from "@modelcontextprotocol/client";
import { authMiddleware, createAuthFetch, createAuthProvider, headless, memoryStore } from "bearerflow";
import { startTestbed } from "../testbed.mjs";
import { echo, threeExpiries } from "../lifecycle.mjs";

function options(testbed, name) {
  return {
    resourceUrl: testbed.info.mcp_url,
    oauth: { redirect_uri: "http://127.0.0.1:9/callback", client_name: name },
    authorize: headless(),
    store: memoryStore(),
  };
}

async function connect(t, testbed, transportOptions) {
  const client = new Client({ name: "bearerflow-sdk2-test", version: "0.1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(testbed.info.mcp_url), transportOptions));
  t.after(() => client.close());
  return client;
}

test("SDK 2.x + createAuthFetch: connect from nothing, three expiries, a burst of 32", async (t) => {
  const testbed = await startTestbed(["--ttl", "5s"]);
  t.after(() => testbed.stop());
  const authFetch = createAuthFetch(options(testbed, "bearerflow sdk2 fetch test"));
  t.after(() => authFetch.close());
  const client = await connect(t, testbed, { fetch: authFetch });
  assert.equal(await echo(client, "hello"), "hello");
  assert.equal(await threeExpiries(testbed, client, authFetch), 40);
});

test("SDK 2.x + createAuthProvider: connect from nothing, three expiries, a burst of 32", async (t) => {
  const testbed = await startTestbed(["--ttl", "5s"]);
  t.after(() => testbed.stop());
  const provider = createAuthProvider(options(testbed, "bearerflow sdk2 provider test"));
  t.after(() => provider.close());
  const client = await connect(t, testbed, { authProvider: provider });
  assert.equal(await echo(client, "hello"), "hello");
  assert.equal(await threeExpiries(testbed, client, provider), 40);
});

test("SDK 2.x + authMiddleware in applyMiddlewares, onAuthorizationUrl hook: connect from nothing, then a call after expiry", async (t) => {
  const testbed = await startTestbed(["--ttl", "5s"]);
  t.after(() => testbed.stop());
  // A host that shows its own UI: the hook gets the URL and hands back where the
  // browser came back to (here: the testbed's redirect, followed without a browser).
  const seen = [];
  const middleware = authMiddleware({
    ...options(testbed, "bearerflow sdk2 middleware test"),
    authorize: undefined,
    onAuthorizationUrl: (url) => {
      seen.push(url);
      return headless()(url, { redirectUri: "http://127.0.0.1:9/callback", fetch, saveForRedirect() {} });
    },
  });
  const client = await connect(t, testbed, { fetch: applyMiddlewares(middleware)(fetch) });
  assert.equal(await echo(client, "hello"), "hello");
  assert.equal(seen.length, 1, "the hook saw one authorization URL");
  assert.match(seen[0], /code_challenge_method=S256/);
  const { untilExpired } = await import("../lifecycle.mjs");
  await untilExpired(middleware);
  const before = await testbed.counters();
  assert.equal(await echo(client, "after expiry"), "after expiry");
  const after = await testbed.counters();
  assert.equal(after.token_refresh - before.token_refresh, 1);
  assert.equal(after.authorizations, 1);
});

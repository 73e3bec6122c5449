// The whole loop in Node: an MCP server built with the official TypeScript SDK (1.x
// `StreamableHTTPServerTransport` on Node's `http`; 2.x `NodeStreamableHTTPServerTransport`
// on Express), guarded by `bearerGuard` with tokens verified by RFC 7662 introspection at
// the testbed's authorization server, and the official SDK client with `createAuthFetch`
// connecting from nothing. The tool's upstream token expires → `upstreamTokenExpired()`
// → 401 → the client refreshes → the retried call succeeds, with no JSON-RPC error
// reaching the caller; on JSON answers and on SSE streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import express from "express";
import * as z from "zod";
import { McpServer as McpServer1 } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { Client as Client1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as ClientTransport1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer as McpServer2 } from "@modelcontextprotocol/server";
import { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import { Client as Client2, StreamableHTTPClientTransport as ClientTransport2 } from "@modelcontextprotocol/client";
import { bearerGuard, createAuthFetch, headless, introspectionVerifier, memoryStore, upstreamTokenExpired } from "bearerflow";
import { startTestbed } from "../testbed.mjs";

/** An upstream API that accepts tokens derived from the MCP client's; they can expire. */
function upstreamApi() {
  const issued = new Set();
  const expired = new Set();
  const api = {
    calls: 0,
    refused: 0,
    exchange(clientToken) {
      const t = createHash("sha256").update(`upstream:${clientToken}`).digest("hex");
      issued.add(t);
      return t;
    },
    expireAll() {
      for (const t of issued) expired.add(t);
    },
    echo(token, text) {
      api.calls++;
      if (expired.has(token)) {
        api.refused++;
        return { status: 401 };
      }
      return { status: 200, text };
    },
  };
  return api;
}

/** The tool: call upstream with a token derived from the caller's. */
function upstreamEcho(upstream, authInfoOf) {
  return async ({ text }, extra) => {
    const authInfo = authInfoOf(extra);
    const reply = upstream.echo(upstream.exchange(authInfo.token), text);
    if (reply.status === 401) {
      // The caller's token must be renewed: say so with HTTP 401, not in-band.
      const signalled = upstreamTokenExpired(authInfo);
      if (signalled === "accepted") throw new Error("upstream token expired (never sent)");
      return { content: [{ type: "text", text: "upstream token expired; reconnect" }], isError: true };
    }
    return { content: [{ type: "text", text: reply.text }] };
  };
}

/** A free loopback port's server and its resource URL, the testbed trusting it. */
async function listen(t, server) {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  // Hooks run in the order they were added, so this one runs before the client closes:
  // the client's standalone GET stream (an open SSE response) must not keep it waiting.
  t.after(
    () =>
      new Promise((r) => {
        server.close(r);
        server.closeAllConnections();
      }),
  );
  const resource = `http://127.0.0.1:${server.address().port}/mcp`;
  const testbed = await startTestbed(["--resource", resource]);
  t.after(() => testbed.stop());
  return { resource, testbed };
}

function guardFor(resource, testbed, refusals) {
  return bearerGuard({
    resource,
    verify: introspectionVerifier({ endpoint: testbed.info.introspection_endpoint }),
    authorizationServers: [testbed.info.issuer],
    scopesSupported: ["mcp:tools"],
    onRefusal: (r) => refusals.push(r.kind),
  });
}

/** SDK 1.x, stateless, one server and transport per request, on Node's `http`. */
async function sdk1Server(t, json) {
  const upstream = upstreamApi();
  const refusals = [];
  let guard;
  const server = createServer((req, res) => {
    if (req.url.startsWith("/.well-known/")) return guard.metadata(req, res);
    guard(req, res, async () => {
      const mcp = new McpServer1({ name: "bearerflow-sdk1-server", version: "0.1.0" });
      mcp.registerTool(
        "upstream_echo",
        { description: "echo through an upstream API", inputSchema: { text: z.string() } },
        upstreamEcho(upstream, (extra) => extra.authInfo),
      );
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: json });
      res.on("close", () => {
        transport.close();
        mcp.close();
      });
      await mcp.connect(transport);
      await transport.handleRequest(req, res);
    });
  });
  const { resource, testbed } = await listen(t, server);
  guard = guardFor(resource, testbed, refusals);
  await guard.ready();
  return { resource, testbed, upstream, refusals };
}

/** SDK 2.x, stateless, one server and transport per request, on Express. */
async function sdk2Server(t, json) {
  const upstream = upstreamApi();
  const refusals = [];
  let guard;
  const app = express();
  app.use((req, res, next) => guard.metadata(req, res, next));
  app.all("/mcp", (req, res, next) => guard(req, res, next), express.json(), async (req, res) => {
    const mcp = new McpServer2({ name: "bearerflow-sdk2-server", version: "0.1.0" });
    mcp.registerTool(
      "upstream_echo",
      { description: "echo through an upstream API", inputSchema: z.object({ text: z.string() }) },
      // No authInfo passed: the middleware finds the request through the async context.
      upstreamEcho(upstream, (ctx) => ({ token: ctx.http.authInfo.token })),
    );
    const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: json });
    res.on("close", () => {
      transport.close();
      mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  const server = createServer(app);
  const { resource, testbed } = await listen(t, server);
  guard = guardFor(resource, testbed, refusals);
  await guard.ready();
  return { resource, testbed, upstream, refusals };
}

async function theLoop(t, served, connect) {
  const { resource, testbed, upstream, refusals } = served;
  const authFetch = createAuthFetch({
    resourceUrl: resource,
    oauth: { redirect_uri: "http://127.0.0.1:9/callback", client_name: "bearerflow server test" },
    authorize: headless(),
    store: memoryStore(),
  });
  t.after(() => authFetch.close());
  const client = await connect(resource, authFetch);
  t.after(() => client.close());
  const first = await client.callTool({ name: "upstream_echo", arguments: { text: "before" } });
  assert.equal(first.content[0].text, "before");
  assert.notEqual(first.isError, true);
  const before = await testbed.counters();
  assert.equal(before.authorizations, 1, "connected from nothing: one authorization");
  assert.equal(before.token_refresh, 0);
  const refusedBefore = refusals.length;

  upstream.expireAll();
  const after = await client.callTool({ name: "upstream_echo", arguments: { text: "after" } });
  assert.equal(after.content[0].text, "after", JSON.stringify(after));
  assert.notEqual(after.isError, true, "no error reaches the caller");

  const counters = await testbed.counters();
  assert.equal(counters.token_refresh, 1, "the client refreshed once");
  assert.equal(counters.authorizations, 1, "no new authorization");
  assert.equal(upstream.refused, 1, "the upstream refused once");
  assert.deepEqual(refusals.slice(refusedBefore), ["upstream_token_expired"], "one 401 from the guard");
  assert.equal(authFetch.stats().fails, 0);
}

async function connect1(resource, authFetch) {
  const client = new Client1({ name: "bearerflow-sdk1-client", version: "0.1.0" });
  await client.connect(new ClientTransport1(new URL(resource), { fetch: authFetch }));
  return client;
}

async function connect2(resource, authFetch) {
  const client = new Client2({ name: "bearerflow-sdk2-client", version: "0.1.0" });
  await client.connect(new ClientTransport2(new URL(resource), { fetch: authFetch }));
  return client;
}

for (const json of [true, false]) {
  const framing = json ? "JSON" : "SSE";
  test(`SDK 1.x server on http + SDK 1.x client: an expired upstream token is a recovered 401 (${framing})`, async (t) => {
    await theLoop(t, await sdk1Server(t, json), connect1);
  });
  test(`SDK 2.x server on Express + SDK 2.x client: an expired upstream token is a recovered 401 (${framing})`, async (t) => {
    await theLoop(t, await sdk2Server(t, json), connect2);
  });
}

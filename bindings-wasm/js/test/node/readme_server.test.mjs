// The README's Express example ("Guarding a Node MCP server"), run as written: the block
// is cut out of README.md, its example URLs pointed at loopback servers (the MCP server's
// own port, the testbed's authorization server, a small upstream API), and the official
// SDK 1.x client with `createAuthFetch` connects from nothing, calls the tool, has its
// upstream token expire, and gets its retried call through after one refresh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createAuthFetch, headless, memoryStore } from "bearerflow";
import { startTestbed } from "../testbed.mjs";

const README = fileURLToPath(new URL("../../../../README.md", import.meta.url));
// Inside node_modules (a link into target/js-tools): the block's imports resolve from
// there, and nothing is written into the source tree.
const DIR = fileURLToPath(new URL("../../node_modules/.readme-example/", import.meta.url));

/** The first ```js block after the heading. */
function readmeBlock(heading) {
  const text = readFileSync(README, "utf8");
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README.md has no "${heading}"`);
  const open = text.indexOf("```js\n", at);
  const close = text.indexOf("\n```\n", open);
  assert.ok(open >= 0 && close > open, "the section has a js block");
  return text.slice(open + "```js\n".length, close + 1);
}

function replaceOnce(text, from, to) {
  assert.ok(text.includes(from), `the README block names ${from}`);
  return text.split(from).join(to);
}

async function listen(t, server) {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}`;
}

test("the README's Express example: an expired upstream token is a recovered 401", async (t) => {
  // The upstream API: accepts the derived tokens it has not been told are expired.
  const seen = new Set();
  const expired = new Set();
  let refused = 0;
  const api = createServer((req, res) => {
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    seen.add(token);
    if (expired.has(token)) {
      refused++;
      res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' }).end();
      return;
    }
    res.end(`report ${decodeURIComponent(req.url.split("/").pop())}`);
  });
  const apiOrigin = await listen(t, api);

  // The MCP server's socket first, so the resource URL (with its port) is known.
  const server = createServer();
  const origin = await listen(t, server);
  const resource = `${origin}/mcp`;
  const testbed = await startTestbed(["--resource", resource]);
  t.after(() => testbed.stop());

  let code = readmeBlock("### Guarding a Node MCP server");
  code = replaceOnce(code, "https://auth.example.com/introspect", testbed.info.introspection_endpoint);
  code = replaceOnce(code, "https://auth.example.com", testbed.info.issuer);
  code = replaceOnce(code, "https://mcp.example.com", origin);
  code = replaceOnce(code, "https://api.example.com", apiOrigin);
  code = replaceOnce(code, "app.listen(3000);", "export default app;");
  mkdirSync(DIR, { recursive: true });
  t.after(() => rmSync(DIR, { recursive: true, force: true }));
  writeFileSync(
    `${DIR}upstream.mjs`,
    `import { createHash } from "node:crypto";\n` +
      `export async function upstreamTokenFor(authInfo) {\n` +
      `  return createHash("sha256").update("upstream:" + authInfo.token).digest("hex");\n` +
      `}\n`,
  );
  writeFileSync(`${DIR}readme.mjs`, code);
  const { default: app } = await import(pathToFileURL(`${DIR}readme.mjs`).href);
  server.on("request", app);

  const authFetch = createAuthFetch({
    resourceUrl: resource,
    oauth: { redirect_uri: "http://127.0.0.1:9/callback", client_name: "bearerflow readme test" },
    authorize: headless(),
    store: memoryStore(),
  });
  t.after(() => authFetch.close());
  const client = new Client({ name: "bearerflow-readme-client", version: "0.1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(resource), { fetch: authFetch }));
  t.after(() => client.close());

  const first = await client.callTool({ name: "report", arguments: { id: "q1" } });
  assert.equal(first.content[0].text, "report q1");
  assert.notEqual(first.isError, true);
  assert.equal(seen.size, 1, "one derived token so far");
  assert.equal((await testbed.counters()).token_refresh, 0);

  // Every upstream token issued so far expires.
  for (const token of seen) expired.add(token);
  const after = await client.callTool({ name: "report", arguments: { id: "q2" } });
  assert.equal(after.content[0].text, "report q2", JSON.stringify(after));
  assert.notEqual(after.isError, true, "no error reaches the caller");
  assert.equal(refused, 1, "the upstream refused once");
  const counters = await testbed.counters();
  assert.equal(counters.token_refresh, 1, "the client refreshed once");
  assert.equal(counters.authorizations, 1, "no new authorization");
  assert.equal(authFetch.stats().fails, 0);
  // The metadata route from `app.use(guard.metadata)`.
  const prm = await (await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)).json();
  assert.deepEqual(prm.authorization_servers, [testbed.info.issuer]);
  assert.equal(prm.resource, resource);
});

// The official MCP TypeScript SDK 1.x: a `Client` with `StdioClientTransport`
// launching `bearerflow proxy` as its stdio server, against the testbed (5-second
// tokens, rotating refresh tokens). The SDK speaks 2025-11-25 (`initialize`); the
// testbed answers on 2026-07-28, so every message is translated by the bridge.
//
// Run by `cargo xtask ci` (xtask/src/proxy.rs) with BEARERFLOW_BIN set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const BIN = process.env.BEARERFLOW_BIN ?? "bearerflow";

async function startTestbed() {
  const child = spawn(BIN, ["testbed", "--ttl", "5s", "--interactive-tools"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const info = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`testbed exited (${code})`)));
    lines.once("line", (line) => resolve(JSON.parse(line)));
  });
  const origin = new URL(info.mcp_url).origin;
  return {
    url: info.mcp_url,
    async counters() {
      return (await fetch(`${origin}/_testbed/counters`)).json();
    },
    stop: () => child.kill(),
  };
}

/** Wait for the event "the stored token has expired" (its expiry is in the file). */
async function untilExpired(store) {
  const expires = JSON.parse(readFileSync(store, "utf8")).tokens.expires_at + 100;
  await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now())));
}

/** Wait until `condition()` holds, checking every 25 ms, failing after 60 s. */
async function waitFor(what, condition) {
  const end = Date.now() + 60000;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function echo(client, text) {
  const result = await client.callTool({ name: "echo", arguments: { text } });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return result.content[0].text;
}

test("SDK 1.x Client + StdioClientTransport → bearerflow proxy: three expiries, a burst of 32, server messages", async (t) => {
  const testbed = await startTestbed();
  t.after(() => testbed.stop());
  const dir = mkdtempSync(join(tmpdir(), "bearerflow-node-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = join(dir, "tokens.json");
  const client = new Client(
    { name: "bearerflow-proxy-node-test", version: "0.1.0" },
    { capabilities: { elicitation: {}, roots: { listChanged: true } } },
  );
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
  client.setRequestHandler(ElicitRequestSchema, async () => ({
    action: "accept",
    content: { confirmed: true },
  }));
  const transport = new StdioClientTransport({
    command: BIN,
    args: ["proxy", testbed.url, "--headless", "--store", store],
    stderr: "inherit",
  });
  await client.connect(transport);
  t.after(() => client.close());
  assert.equal(client.getServerVersion()?.name, "bearerflow-testbed");
  assert.equal(await echo(client, "hello"), "hello");

  const start = await testbed.counters();
  assert.equal(start.authorizations, 1, "one authorization to connect");
  assert.ok(start.unauthorized >= 1, "the first request's 401 started OAuth");
  let calls = 0;
  for (let expiry = 1; expiry <= 3; expiry++) {
    await untilExpired(store);
    const before = await testbed.counters();
    if (expiry < 3) {
      for (let i = 0; i < 4; i++) {
        assert.equal(await echo(client, `e${expiry}-${i}`), `e${expiry}-${i}`);
        calls++;
      }
    } else {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 32 }, (_, i) => echo(client, `burst-${i}`)),
      );
      const failed = outcomes.filter((o) => o.status === "rejected");
      assert.deepEqual(
        failed.map((f) => f.reason?.message),
        [],
        "no call of the burst failed",
      );
      calls += outcomes.length;
    }
    const after = await testbed.counters();
    assert.equal(after.token_refresh - before.token_refresh, 1, `expiry ${expiry}: one refresh`);
  }
  const end = await testbed.counters();
  assert.equal(end.token_refresh - start.token_refresh, 3, "three refreshes in all");
  assert.equal(end.refresh_reuse_detected, 0);
  assert.equal(end.authorizations, 1, "no new authorization");
  assert.equal(end.token_errors, 0);
  assert.equal(calls, 40);

  // A notification and a server-to-client request cross the bridge both ways.
  const result = await client.callTool({ name: "interact", arguments: { text: "node" } });
  assert.equal(result.content[0].text, "confirmed: node");
  assert.ok(logs.some((p) => String(p.data).includes("interact")), JSON.stringify(logs));
  await client.notification({ method: "notifications/roots/list_changed" });
  await waitFor("the notification to reach the server", async () =>
    (await testbed.counters()).client_notifications === 1);
  const c = await testbed.counters();
  assert.equal(c.server_requests, 1);
  assert.equal(c.client_responses, 1);
});

// A Node header helper (problem 4): the helper prints a 5-second token; calls across
// three of its lifetimes all succeed, because a 401 re-runs the helper, and not one
// discovery request reaches the server (a helper credential never falls into OAuth).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createAuthFetch } from "bearerflow";
import { startTestbed, waitFor } from "../testbed.mjs";
import { echo } from "../lifecycle.mjs";

const helperScript = fileURLToPath(new URL("./fixtures/helper.mjs", import.meta.url));

test("header helper: re-run on 401 across three token lifetimes, zero discovery requests", async (t) => {
  const testbed = await startTestbed(["--ttl", "5s", "--mint-token", "mcp:tools"]);
  t.after(() => testbed.stop());
  const stateDir = mkdtempSync(join(tmpdir(), "bearerflow-helper-"));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const state = join(stateDir, "refresh-token");
  writeFileSync(state, testbed.info.refresh_token, { mode: 0o600 });
  const authFetch = createAuthFetch({
    resourceUrl: testbed.info.mcp_url,
    helper: {
      command: process.execPath,
      args: [helperScript, testbed.info.token_endpoint, testbed.info.client_id, state],
    },
  });
  t.after(() => authFetch.close());
  const client = new Client({ name: "bearerflow-helper-test", version: "0.1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(testbed.info.mcp_url), { fetch: authFetch }));
  t.after(() => client.close());
  let calls = 0;
  // Three lifetimes of the helper's token: call until the helper has been re-run three
  // times after its first run, each re-run forced by a 401 on an expired token.
  for (let lifetime = 1; lifetime <= 3; lifetime++) {
    const runs = authFetch.stats().helper_runs;
    await waitFor(`helper lifetime ${lifetime}`, async () => {
      assert.equal(await echo(client, `call ${calls}`), `call ${calls}`);
      calls++;
      return authFetch.stats().helper_runs > runs;
    }, 30000);
  }
  const counters = await testbed.counters();
  assert.equal(counters.resource_metadata_fetches + counters.as_metadata_fetches, 0, "no discovery request");
  assert.equal(counters.registrations + counters.authorizations, 0, "no OAuth flow");
  const stats = authFetch.stats();
  assert.equal(stats.discovery_requests, 0);
  assert.ok(stats.helper_runs >= 4, `helper ran ${stats.helper_runs} times`);
  assert.ok(counters.unauthorized >= 3, "each re-run followed a 401");
  assert.equal(stats.fails, 0, "no call failed");
});

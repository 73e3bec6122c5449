// The lifecycle every SDK test runs: connect from nothing, sequential calls across
// expiries, a burst of 32 right after an expiry. Counted on the server (the testbed's
// counters), not by the client under test.
import assert from "node:assert/strict";
import { waitFor } from "./testbed.mjs";

/** Call `echo` once; resolve with its text. */
export async function echo(client, text) {
  const result = await client.callTool({ name: "echo", arguments: { text } });
  const content = result.content?.[0];
  assert.equal(content?.type, "text", `echo answered ${JSON.stringify(result)}`);
  return content.text;
}

/** Wait until the session's token has expired (its phase says so). */
export async function untilExpired(session) {
  await waitFor("the access token to expire", () => session.phase() === "expired", 30000);
}

/**
 * After `connect` from nothing: three expiries; after the first two, sequential calls;
 * after the third, a burst of 32. Each expiry costs exactly one refresh on the server.
 */
export async function threeExpiries(testbed, client, session) {
  const start = await testbed.counters();
  assert.equal(start.authorizations, 1, "one authorization to connect");
  assert.equal(start.token_authorization_code, 1, "one code exchange to connect");
  assert.ok(start.unauthorized >= 1, "the first request got a 401, which started OAuth");
  let calls = 0;
  for (let expiry = 1; expiry <= 3; expiry++) {
    await untilExpired(session);
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
      const ok = outcomes.filter((o) => o.status === "fulfilled").length;
      const failed = outcomes.filter((o) => o.status === "rejected");
      assert.deepEqual(
        { ok, failed: failed.length },
        { ok: 32, failed: 0 },
        `burst: ${failed.map((f) => f.reason?.message).join("; ")}`,
      );
      calls += ok;
    }
    const after = await testbed.counters();
    assert.equal(after.token_refresh - before.token_refresh, 1, `expiry ${expiry}: one refresh`);
  }
  const end = await testbed.counters();
  assert.equal(end.token_refresh - start.token_refresh, 3, "three refreshes in all");
  assert.equal(end.refresh_reuse_detected, 0, "no rotated refresh token was used twice");
  assert.equal(end.authorizations, 1, "no new authorization");
  assert.equal(end.token_errors, 0, "no token request failed");
  return calls;
}

// The loopback testbed (`bearerflow-testbed`, built by `cargo xtask ci`) for the
// JavaScript tests: start it, read its JSON line, read its counters over HTTP.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const here = fileURLToPath(new URL(".", import.meta.url));

/** Start a testbed with these options (e.g. `--ttl 5s`); stop it with `stop()`. */
export async function startTestbed(args = []) {
  const bin = process.env.BEARERFLOW_TESTBED ?? join(here, "../../../target/debug/bearerflow-testbed");
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const info = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`testbed exited (${code}) before its JSON line`)));
    lines.once("line", (line) => resolve(JSON.parse(line)));
  });
  const origin = new URL(info.mcp_url).origin;
  return {
    info,
    origin,
    /** What reached the server so far. */
    async counters() {
      const r = await fetch(`${origin}/_testbed/counters`);
      return r.json();
    },
    stop() {
      child.kill();
    },
  };
}

/**
 * Wait until `condition()` holds, checking every 25 ms, failing after `deadlineMs`: an
 * event with a generous deadline, never a fixed sleep.
 */
export async function waitFor(what, condition, deadlineMs = 30000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// Just enough of the W3C WebDriver protocol to drive headless Chromium through Debian's
// chromedriver: a session, navigation, tabs and scripts.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../testbed.mjs";

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Start chromedriver and a headless Chromium session. */
export async function startBrowser() {
  const port = await freePort();
  const driver = spawn(process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver", [`--port=${port}`], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await r.json();
    if (!r.ok) throw new Error(`webdriver ${method} ${path}: ${JSON.stringify(json.value)}`);
    return json.value;
  };
  await waitFor("chromedriver", async () => {
    try {
      return (await call("GET", "/status")).ready === true;
    } catch {
      return false;
    }
  });
  const profile = mkdtempSync(join(tmpdir(), "bearerflow-chromium-"));
  const session = await call("POST", "/session", {
    capabilities: {
      alwaysMatch: {
        browserName: "chrome",
        "goog:chromeOptions": {
          binary: "/usr/bin/chromium",
          args: [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            // The popup authorizer's window.open runs from a test script, not a click.
            "--disable-popup-blocking",
            `--user-data-dir=${profile}`,
          ],
        },
      },
    },
  });
  const s = `/session/${session.sessionId}`;
  return {
    goto: (url) => call("POST", `${s}/url`, { url }),
    run: (script, ...args) => call("POST", `${s}/execute/sync`, { script, args }),
    newTab: async () => (await call("POST", `${s}/window/new`, { type: "tab" })).handle,
    tab: () => call("GET", `${s}/window`),
    switchTo: (handle) => call("POST", `${s}/window`, { handle }),
    /** #result parsed, or its text when it is not JSON. */
    async result() {
      const text = await call("POST", `${s}/execute/sync`, {
        script: "const e = document.getElementById('result'); return e ? e.textContent : null;",
        args: [],
      });
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    },
    async close() {
      await call("DELETE", s).catch(() => undefined);
      driver.kill();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// The browser test's page: an MCP client from the official SDK (bundled by esbuild with
// this package) that connects with bearerflow's fetch, tokens in localStorage, and
// authorization by full-page redirect. The outcome lands in #result as JSON, which the
// test reads through WebDriver.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createAuthFetch, localStorageStore, popup, sessionStorageStore } from "bearerflow";

const { mcp } = globalThis.BEARERFLOW_TEST;
const show = (value) => {
  document.getElementById("result").textContent = JSON.stringify(value);
};

const mode = new URLSearchParams(location.search).get("mode");
let adopted = 0;
const authFetch = createAuthFetch({
  resourceUrl: mcp,
  onEvent: (e) => {
    if (e.type === "adopted") adopted++;
  },
  // `?mode=popup`: authorization in a popup that comes back to callback.html, tokens
  // in this tab's sessionStorage. Otherwise: full-page redirect, localStorage.
  ...(mode === "popup"
    ? {
        oauth: { redirect_uri: `${location.origin}/callback.html`, client_name: "bearerflow popup test" },
        store: sessionStorageStore("bearerflow-popup"),
        authorize: popup(),
      }
    : {
        oauth: { redirect_uri: `${location.origin}/page.html`, client_name: "bearerflow browser test" },
        store: localStorageStore("bearerflow-test"),
      }),
});

async function call(label) {
  try {
    const client = new Client({ name: "bearerflow-browser-test", version: "0.1.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcp), { fetch: authFetch }));
    const result = await client.callTool({ name: "echo", arguments: { text: label } });
    await client.close();
    show({ ok: true, text: result.content?.[0]?.text, stats: authFetch.stats(), adopted });
  } catch (e) {
    show({ ok: false, error: String(e?.message ?? e), code: e?.code, last: authFetch.lastError() });
  }
}

// `?mode=wait`: load (and restore the stored tokens) but call only when the test says
// `go()`, so that two pages can fire at the same moment.
globalThis.go = (label) => {
  show("running");
  void call(label);
};
if (mode === "wait") {
  authFetch.ready().then(
    () => show("ready"),
    (e) => show({ ok: false, error: String(e) }),
  );
} else {
  void call("hello from the page");
}

// A typed usage example, checked by `tsc --noEmit` against the package's declarations
// (`cargo xtask ci`): how a Node MCP client hands the official SDKs bearerflow's fetch,
// auth provider and middleware.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  Client as Client2,
  StreamableHTTPClientTransport as Transport2,
  applyMiddlewares,
} from "@modelcontextprotocol/client";
import {
  type AuthFetch,
  type AuthOptions,
  BearerflowError,
  authMiddleware,
  createAuthFetch,
  createAuthProvider,
  fileStore,
  loopback,
  parseChallenges,
} from "bearerflow";

const server = "https://mcp.example.com/mcp";

const options: AuthOptions = {
  resourceUrl: server,
  oauth: { redirect_uri: "http://127.0.0.1:8976/callback", client_name: "example", scope: "mcp:tools" },
  store: fileStore(`${process.env.HOME ?? "."}/.config/example/tokens.json`),
  authorize: loopback((url) => console.log(`Sign in: ${url}`)),
  onEvent: (event) => {
    if (event.type === "phase") console.log(`session is ${event.phase}`);
  },
};

export async function sdk1(): Promise<void> {
  const authFetch: AuthFetch = createAuthFetch(options);
  const client = new Client({ name: "example", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server), { fetch: authFetch }));
  try {
    await client.callTool({ name: "echo", arguments: { text: "hi" } });
  } catch (e) {
    if (e instanceof BearerflowError && e.code === "reauthorization_required") await authFetch.reauthorize();
  }
  const stats = authFetch.stats();
  console.log(stats?.refresh_requests, authFetch.phase(), authFetch.lastError()?.code);
}

export async function sdk2(): Promise<void> {
  const viaFetch = new Client2({ name: "example", version: "2.0.0" });
  await viaFetch.connect(new Transport2(new URL(server), { fetch: createAuthFetch(options) }));

  const viaProvider = new Client2({ name: "example", version: "2.0.0" });
  await viaProvider.connect(new Transport2(new URL(server), { authProvider: createAuthProvider(options) }));

  const viaMiddleware = new Client2({ name: "example", version: "2.0.0" });
  await viaMiddleware.connect(
    new Transport2(new URL(server), { fetch: applyMiddlewares(authMiddleware(options))(fetch) }),
  );
}

export async function helper(): Promise<void> {
  const authFetch = createAuthFetch({
    resourceUrl: server,
    helper: { command: "get-mcp-token", args: ["--json"], ttlMs: 300_000 },
  });
  await authFetch(server, { method: "POST", body: "{}" });
  const parsed = await parseChallenges(['Bearer error="invalid_token"']);
  if (parsed.ok) console.log(parsed.challenges[0]?.scheme);
}

// A typed server example, checked by `tsc --noEmit` against the package's declarations
// (`cargo xtask ci`): an MCP endpoint built with the official SDK 1.x on Express, guarded
// by `bearerGuard`, whose tool turns an expired upstream token into a 401 the client
// acts on (`upstreamTokenExpired`). The README's JavaScript version of it is run by
// `test/node/readme_server.test.mjs`.
import express from "express";
import * as z from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createServer } from "node:http";
import {
  bearerGuard,
  createGuard,
  introspectionVerifier,
  protectedResourceMetadata,
  upstreamTokenExpired,
  type BearerGuard,
  type Refusal,
  type Signalled,
} from "bearerflow";

/** Yours: an RFC 8693 token exchange, a vault lookup, … */
declare function upstreamTokenFor(authInfo: { token: string } | undefined): Promise<string>;

export function expressApp(): express.Express {
  const guard: BearerGuard = bearerGuard({
    resource: "https://mcp.example.com/mcp",
    verify: introspectionVerifier({ endpoint: "https://auth.example.com/introspect", clientId: "mcp", clientSecret: "s3cret" }),
    authorizationServers: ["https://auth.example.com"],
    scopesSupported: ["mcp:tools"],
    requiredScope: "mcp:tools",
    onRefusal: (refusal: Refusal) => console.warn(refusal.status, refusal.kind),
  });
  const app = express();
  app.use(guard.metadata);
  app.post("/mcp", guard, express.json(), async (req, res) => {
    const server = new McpServer({ name: "reports", version: "1.0.0" });
    server.registerTool("report", { inputSchema: { id: z.string() } }, async ({ id }, extra) => {
      const upstream = await fetch(`https://api.example.com/reports/${encodeURIComponent(id)}`, {
        headers: { authorization: `Bearer ${await upstreamTokenFor(extra.authInfo)}` },
      });
      if (upstream.status === 401) {
        const signalled: Signalled = upstreamTokenExpired(extra.authInfo);
        if (signalled === "accepted") throw new Error("upstream token expired");
        return { content: [{ type: "text", text: "upstream token expired; reconnect" }], isError: true };
      }
      return { content: [{ type: "text", text: await upstream.text() }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return app;
}

/** Node's `http` without Express: the same guard, `next` is the handler. */
export function plainHttp(handle: (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void) {
  const guard = bearerGuard({ resource: "http://127.0.0.1:8080/mcp", verify: () => "invalid" });
  return createServer((req, res) => {
    if (req.url?.startsWith("/.well-known/")) return guard.metadata(req, res);
    void guard(req, res, () => handle(req, res));
  });
}

/** Core's pure guard, for any runtime (browsers, workers, Deno). */
export async function pure(authorization: string[]): Promise<Refusal | string> {
  const guard = await createGuard("https://mcp.example.com/mcp", {
    resourceMetadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
  });
  try {
    const presented = guard.token(authorization, undefined);
    if (!presented.ok) return presented.refusal;
    const refusal = guard.decide({ valid: { scope: "mcp:tools", audiences: ["https://mcp.example.com/mcp"] } }, "mcp:tools");
    return refusal ?? presented.token;
  } finally {
    guard.free();
  }
}

export const metadata: Promise<string> = protectedResourceMetadata("https://mcp.example.com/mcp", {
  authorizationServers: ["https://auth.example.com"],
});

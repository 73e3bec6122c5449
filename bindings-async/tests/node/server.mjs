// An MCP server written with the official MCP TypeScript SDK, for bearerflow's interop
// test (bindings-async/tests/node_sdk_interop.rs).
//
// - Streamable HTTP (stateful: one transport per Mcp-Session-Id), answering with SSE.
// - `requireBearerAuth` from the SDK guards /mcp; its token verifier asks the bearerflow
//   testbed's RFC 7662 introspection endpoint, and the SDK checks the audience
//   (`expectedResource`) and the expiry itself.
//
// Environment: INTROSPECTION_URL (required), RESOURCE (the resource identifier tokens
// must be issued for), RESOURCE_METADATA (optional, named in 401 challenges).
// Prints one JSON line {"url": ...} when listening; exits when stdin closes.

import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const introspectionUrl = process.env.INTROSPECTION_URL;
if (!introspectionUrl) {
  console.error('INTROSPECTION_URL is required');
  process.exit(2);
}

const verifier = {
  async verifyAccessToken(token) {
    const response = await fetch(introspectionUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    if (!response.ok) {
      throw new Error(`introspection answered HTTP ${response.status}`);
    }
    const info = await response.json();
    if (!info.active || info.token_type === 'refresh_token') {
      throw new InvalidTokenError('The access token is not active');
    }
    return {
      token,
      clientId: info.client_id,
      scopes: (info.scope ?? '').split(' ').filter(Boolean),
      expiresAt: info.exp,
      resource: info.aud ? new URL(info.aud) : undefined,
    };
  },
};

function newServer() {
  const server = new McpServer({ name: 'bearerflow-interop-node', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Returns its text argument.', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

const app = createMcpExpressApp();
const auth = requireBearerAuth({
  verifier,
  expectedResource: process.env.RESOURCE ? new URL(process.env.RESOURCE) : undefined,
  resourceMetadataUrl: process.env.RESOURCE_METADATA,
});
const transports = new Map();

app.post('/mcp', auth, async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  let transport = sessionId ? transports.get(sessionId) : undefined;
  if (!transport) {
    if (sessionId || !isInitializeRequest(req.body)) {
      res.status(400).json({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Bad Request: no valid session' },
        id: null,
      });
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});

const listener = app.listen(0, '127.0.0.1', () => {
  const { port } = listener.address();
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}/mcp` }));
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

// The peers of bearerflow's interop suite (`cargo xtask interop`): a certified OpenID
// Provider (`oidc-provider`) set up the way an MCP deployment sets one up, and an MCP
// endpoint guarded by the official MCP TypeScript SDK's `requireBearerAuth`.
//
// The provider (one origin, http://127.0.0.1:A):
// - issuer with a path (`/oidc`), so RFC 8414 discovery at the origin finds nothing and
//   a client falls back to OpenID Connect Discovery (`/oidc/.well-known/openid-configuration`);
// - PKCE required for every client; open dynamic registration (RFC 7591);
// - RFC 8707 resource indicators: the MCP endpoint is the only resource, its scope is
//   `mcp:tools`, and its access tokens (JWT per RFC 9068, or opaque) live ACCESS_TTL
//   seconds; RFC 9207 `iss` on every authorization response (oidc-provider always);
// - refresh tokens rotated on every use; a rotated token used again revokes the whole
//   grant (oidc-provider's reuse detection);
// - login and consent are its own interaction routes at `/interaction/:uid` (outside
//   the issuer path, on the same origin, as oidc-provider's default `interactions.url`
//   places them), which approve at once: login as one fixed account, consent to
//   everything the prompt says is missing. The provider ties each step to a cookie.
//
// The MCP endpoint (another origin, http://127.0.0.1:B/mcp): Streamable HTTP (the SDK's
// 2025-11-25 wire, one transport per Mcp-Session-Id), RFC 9728 protected resource
// metadata naming the issuer, and `requireBearerAuth` with `requiredScopes: ['mcp:tools']`
// and `expectedResource` (the audience). JWT access tokens are verified against the
// provider's JWKS (issuer, audience, `typ: at+jwt`, expiry); opaque ones at the
// provider's RFC 7662 introspection endpoint, as a confidential resource-server client.
//
// Environment:
//   TOKEN_FORMAT    jwt (default) | opaque
//   REFRESH_POLICY  always (default): a refresh token for every client allowed the
//                   refresh_token grant | default: oidc-provider's own policy (only
//                   when `offline_access` was granted) | never
//   ACCESS_TTL      access token lifetime in seconds (default 5)
//
// Prints one JSON line {issuer, mcp_url, control_url} when both listen; exits when
// stdin closes. The control routes (on the provider's origin, for the tests only):
//   GET  /control/log                 everything the provider and the endpoint saw
//   POST /control/revoke-access-tokens  destroy every opaque access token issued so far
//   POST /control/revoke-grants       revoke every grant (tokens, codes and the grant)
//
// The log never holds a token, a code, a verifier or a client secret: requests are
// recorded by their parameter names and non-secret values, answers by status, error
// and which token kinds came back.

import { randomBytes, randomUUID } from 'node:crypto';
import express from 'express';
import Provider, { errors } from 'oidc-provider';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const TOKEN_FORMAT = process.env.TOKEN_FORMAT ?? 'jwt';
const REFRESH_POLICY = process.env.REFRESH_POLICY ?? 'always';
const ACCESS_TTL = Number(process.env.ACCESS_TTL ?? '5');
if (!['jwt', 'opaque'].includes(TOKEN_FORMAT)) fail(`TOKEN_FORMAT=${TOKEN_FORMAT}: jwt or opaque`);
if (!['always', 'default', 'never'].includes(REFRESH_POLICY)) fail(`REFRESH_POLICY=${REFRESH_POLICY}: always, default or never`);
if (!(ACCESS_TTL > 0)) fail(`ACCESS_TTL=${process.env.ACCESS_TTL}: a positive number of seconds`);

const MCP_SCOPE = 'mcp:tools';
const ACCOUNT = 'interop-user';
const RS_CLIENT_ID = 'mcp-resource-server';
const RS_CLIENT_SECRET = randomBytes(24).toString('base64url');

function fail(message) {
  console.error(message);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// The record of what happened, in order.

const log = [];
const started = Date.now();
function record(entry) {
  log.push({ t: Date.now() - started, ...entry });
}

/** The non-secret parameters of a provider request. */
function visibleParams(params) {
  const out = {};
  for (const name of [
    'grant_type', 'response_type', 'scope', 'prompt', 'resource', 'redirect_uri',
    'code_challenge_method', 'token_type_hint',
  ]) {
    if (params?.[name] !== undefined) out[name] = params[name];
  }
  const present = ['state', 'code', 'code_verifier', 'refresh_token', 'code_challenge', 'token']
    .filter((name) => params?.[name] !== undefined);
  if (present.length) out.present = present;
  return out;
}

/** Where a redirect leads, without its code or state values. */
function visibleLocation(location) {
  if (!location) return undefined;
  try {
    const url = new URL(location, 'http://relative.invalid');
    const query = {};
    for (const [k, v] of url.searchParams) {
      query[k] = ['code', 'state'].includes(k) ? '…' : v;
    }
    const where = url.origin === 'http://relative.invalid' ? url.pathname : `${url.origin}${url.pathname}`;
    return Object.keys(query).length ? { to: where, query } : { to: where };
  } catch {
    return { to: '(unreadable)' };
  }
}

/** What a JSON answer says, without its tokens. */
function visibleAnswer(body) {
  if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) return undefined;
  const out = {};
  for (const name of [
    'error', 'error_description', 'scope', 'expires_in', 'token_type', 'active',
    'application_type', 'grant_types', 'token_endpoint_auth_method', 'redirect_uris',
  ]) {
    if (body[name] !== undefined) out[name] = body[name];
  }
  const tokens = ['access_token', 'refresh_token', 'id_token'].filter((n) => body[n] !== undefined);
  if (tokens.length) out.tokens = tokens;
  if (typeof body.access_token === 'string') {
    out.access_token_format = body.access_token.split('.').length === 3 ? 'jwt' : 'opaque';
  }
  return Object.keys(out).length ? out : undefined;
}

// ---------------------------------------------------------------------------------------
// The provider.

const providerApp = express();
const providerListener = await listen(providerApp);
const providerOrigin = `http://127.0.0.1:${providerListener.address().port}`;
const issuer = `${providerOrigin}/oidc`;

const mcpApp = createMcpExpressApp();
const mcpListener = await listen(mcpApp);
const mcpUrl = `http://127.0.0.1:${mcpListener.address().port}/mcp`;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'interop-rs256', alg: 'RS256', use: 'sig' };

/** The grants the provider created and the opaque access tokens it stored, for the
 * control routes. */
const grants = new Set();
const accessTokens = new Set();

const configuration = {
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clients: [{
    client_id: RS_CLIENT_ID,
    client_secret: RS_CLIENT_SECRET,
    grant_types: [],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  scopes: ['openid', 'offline_access'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    introspection: {
      enabled: true,
      // Only the resource server may introspect, and only tokens for it.
      allowedPolicy: async (_ctx, client, token) => client.clientId === RS_CLIENT_ID
        && [].concat(token.aud ?? []).includes(mcpUrl),
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => mcpUrl,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== mcpUrl) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return {
          scope: MCP_SCOPE,
          audience: mcpUrl,
          accessTokenTTL: ACCESS_TTL,
          accessTokenFormat: TOKEN_FORMAT,
          ...(TOKEN_FORMAT === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    },
  },
  rotateRefreshToken: true,
  ...({
    always: { issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token') },
    default: {},
    never: { issueRefreshToken: async () => false },
  })[REFRESH_POLICY],
  ttl: {
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Session: 3600,
    Interaction: 600,
    AuthorizationCode: 60,
  },
  interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `${out.error}: ${out.error_description ?? ''}`;
  },
};

const provider = new Provider(issuer, configuration);

// Every request the provider answers, by its visible parameters and its answer.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path.startsWith('/.well-known') || ctx.path === '/jwks') {
    record({ kind: 'provider', method: ctx.method, path: ctx.path, status: ctx.status });
    return;
  }
  // The parameters as the client sent them (oidc-provider rewrites some in place: it
  // drops `offline_access` from `scope` unless `prompt` has `consent`).
  const sent = ctx.method === 'GET' ? ctx.query : (ctx.oidc?.body ?? {});
  const redirect = ctx.status >= 300 && ctx.status < 400;
  record({
    kind: 'provider',
    route: ctx.oidc?.route,
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    params: visibleParams(sent),
    location: visibleLocation(ctx.response.get('location')),
    // A redirect's body repeats its Location, code included: not recorded.
    answer: redirect ? undefined
      : typeof ctx.body === 'string' ? ctx.body.slice(0, 300) : visibleAnswer(ctx.body),
  });
});
provider.on('authorization_code.saved', (code) => code.grantId && grants.add(code.grantId));
provider.on('access_token.saved', (token) => accessTokens.add(token.jti));
provider.on('grant.revoked', (_ctx, grantId) => record({ kind: 'event', event: 'grant.revoked', grant: short(grantId) }));
provider.on('grant.error', (ctx, error) => record({
  kind: 'event',
  event: 'grant.error',
  grant_type: ctx.oidc?.params?.grant_type,
  error: error.error,
  error_description: error.error_description,
  error_detail: error.error_detail,
  reuse: error.error_detail === 'refresh token already used',
}));
provider.on('authorization.error', (_ctx, error) => record({
  kind: 'event',
  event: 'authorization.error',
  error: error.error,
  error_description: error.error_description,
  error_detail: error.error_detail,
}));
provider.on('server_error', (_ctx, error) => record({ kind: 'event', event: 'server_error', message: String(error?.stack ?? error) }));
provider.on('interaction.started', (_ctx, prompt) => record({
  kind: 'event', event: 'interaction.started', prompt: prompt.name, reasons: prompt.reasons, details: prompt.details,
}));

function short(id) {
  return typeof id === 'string' ? id.slice(0, 6) : id;
}

// Requests on the provider's origin outside the issuer path (RFC 8414 discovery
// probes there find nothing), and the interaction routes.
providerApp.use((req, res, next) => {
  if (!req.path.startsWith('/oidc/') && !req.path.startsWith('/control/')) {
    res.on('finish', () => record({
      kind: 'origin', method: req.method, path: req.path, status: res.statusCode,
      location: visibleLocation(res.getHeader('location')),
    }));
  }
  next();
});

// Login and consent, approved at once.
providerApp.get('/interaction/:uid', async (req, res, next) => {
  try {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      record({ kind: 'interaction', prompt: 'login', approved: ACCOUNT });
      await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT } }, { mergeWithLastSubmission: false });
      return;
    }
    if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      record({
        kind: 'interaction',
        prompt: 'consent',
        approved: {
          scope: missing.missingOIDCScope,
          resource_scopes: missing.missingResourceScopes,
        },
        requested: { scope: params.scope, prompt: params.prompt, resource: params.resource },
      });
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    record({ kind: 'interaction', prompt: prompt.name, approved: false });
    res.status(400).type('text/plain').send(`unexpected prompt ${prompt.name}`);
  } catch (err) {
    record({ kind: 'interaction', error: String(err?.message ?? err) });
    next(err);
  }
});

providerApp.get('/control/log', (_req, res) => res.json(log));
providerApp.post('/control/revoke-access-tokens', async (_req, res) => {
  // Each stored (opaque) access token, and nothing else of its grant: the refresh
  // token stays valid, as after an RFC 7009 revocation of the access token.
  // (`AccessToken.revokeByGrantId` would not do: the memory adapter's grant index
  // spans every model, so it takes the refresh tokens with it.)
  let revoked = 0;
  for (const jti of accessTokens) {
    const token = await provider.AccessToken.find(jti);
    if (token) {
      await token.destroy();
      revoked += 1;
    }
  }
  accessTokens.clear();
  record({ kind: 'control', action: 'revoke-access-tokens', tokens: revoked });
  res.json({ tokens: revoked });
});
providerApp.post('/control/revoke-grants', async (_req, res) => {
  // What oidc-provider's own revocation does for a grant: every token and code of it,
  // then the grant itself.
  for (const grantId of grants) {
    await Promise.all([
      provider.AccessToken.revokeByGrantId(grantId),
      provider.RefreshToken.revokeByGrantId(grantId),
      provider.AuthorizationCode.revokeByGrantId(grantId),
      provider.Grant.adapter.destroy(grantId),
    ]);
  }
  record({ kind: 'control', action: 'revoke-grants', grants: grants.size });
  const revoked = grants.size;
  grants.clear();
  res.json({ grants: revoked });
});
providerApp.use('/oidc', provider.callback());
providerApp.use((err, _req, res, _next) => {
  res.status(err.statusCode ?? 500).type('text/plain').send(`${err.error ?? 'error'}: ${err.error_description ?? err.message}`);
});

// ---------------------------------------------------------------------------------------
// The MCP endpoint.

const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

async function verifyJwt(token) {
  try {
    const { payload } = await jwtVerify(token, jwks, { issuer, audience: mcpUrl, typ: 'at+jwt' });
    return { clientId: payload.client_id, scope: payload.scope, exp: payload.exp, aud: payload.aud };
  } catch (err) {
    throw new InvalidTokenError(`The access token is not valid (${err.code ?? err.message})`);
  }
}

async function introspect(token) {
  const response = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${RS_CLIENT_ID}:${RS_CLIENT_SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  if (!response.ok) throw new Error(`introspection answered HTTP ${response.status}`);
  const info = await response.json();
  if (!info.active || info.token_type !== 'Bearer') {
    throw new InvalidTokenError('The access token is not active');
  }
  return { clientId: info.client_id, scope: info.scope, exp: info.exp, aud: info.aud };
}

const verifier = {
  async verifyAccessToken(token) {
    const info = token.split('.').length === 3 ? await verifyJwt(token) : await introspect(token);
    const aud = [].concat(info.aud ?? []);
    return {
      token,
      clientId: info.clientId,
      scopes: (info.scope ?? '').split(' ').filter(Boolean),
      expiresAt: info.exp,
      resource: aud.includes(mcpUrl) ? new URL(mcpUrl) : undefined,
    };
  },
};

function newServer() {
  const server = new McpServer({ name: 'bearerflow-interop-oidc', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Returns its text argument.', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(new URL(mcpUrl));
mcpApp.get(new URL(resourceMetadataUrl).pathname, (_req, res) => {
  record({ kind: 'mcp', path: new URL(resourceMetadataUrl).pathname, status: 200 });
  res.json({
    resource: mcpUrl,
    authorization_servers: [issuer],
    scopes_supported: [MCP_SCOPE],
    bearer_methods_supported: ['header'],
  });
});

// Each answer of the endpoint; refusals with their challenge.
mcpApp.use('/mcp', (req, res, next) => {
  res.on('finish', () => {
    const entry = { kind: 'mcp', method: req.method, status: res.statusCode };
    if (res.statusCode === 401 || res.statusCode === 403) {
      entry.www_authenticate = res.getHeader('www-authenticate');
      entry.sent_token = Boolean(req.headers.authorization);
    }
    record(entry);
  });
  next();
});

const auth = requireBearerAuth({
  verifier,
  requiredScopes: [MCP_SCOPE],
  expectedResource: new URL(mcpUrl),
  resourceMetadataUrl,
});
const transports = new Map();

mcpApp.post('/mcp', auth, async (req, res) => {
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

function listen(app) {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
    server.on('error', reject);
  });
}

console.log(JSON.stringify({ issuer, mcp_url: mcpUrl, control_url: `${providerOrigin}/control` }));

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

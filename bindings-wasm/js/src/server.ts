/**
 * The server half for Node: `bearerGuard`, middleware for Node's `http` and Express
 * that guards an MCP endpoint (the official TypeScript SDK's 1.x
 * `StreamableHTTPServerTransport` or 2.x `NodeStreamableHTTPServerTransport`), and
 * `upstreamTokenExpired()`, which a tool handler calls when the upstream token it
 * derived from the caller's has expired: the middleware then answers `401
 * invalid_token` with core's challenge — a status clients act on by renewing their
 * token and retrying — instead of the JSON-RPC error over `200` the SDK would send.
 *
 * Every answer (status, `WWW-Authenticate` text and escaping, JSON body, the audience
 * and scope checks, tokens refused in the query string) comes from core's guard through
 * the WebAssembly module (`Guard`); this file moves bytes.
 *
 * ## The rule: decide before the first message
 *
 * An HTTP status cannot change once it is sent, and the SDKs begin a `200` (an SSE
 * stream's head, at once) before the tool runs. So for a guarded `POST` the middleware
 * holds the response: `writeHead`, `flushHeaders` and the written bytes are kept back
 * until the response's first *message* — for `text/event-stream`, the first event with
 * a non-empty `data` field (priming events and comments do not count); for anything
 * else, the first bytes — or its end, or 64 KiB. A tool that signals before that gets
 * the `401` (the held head and bytes are dropped unsent, and what the SDK writes
 * afterwards is discarded); after it, `upstreamTokenExpired()` returns `"too_late"` and
 * the tool must answer in-band.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Refusal, Verification, WasmGuard } from "./wasm.js";
import { glue } from "./wasm.js";

/** What a verifier found out about a token. */
export type TokenStatus =
  | {
      valid: {
        /** Granted scope, space separated. */
        scope?: string;
        /** The resources the token was issued for (`aud`). */
        audiences: string[];
        /** `sub`. */
        subject?: string;
        /** `client_id`. */
        clientId?: string;
        /** `exp`, unix seconds. */
        expiresAt?: number;
      };
    }
  | "expired"
  | "invalid"
  | "proof_of_possession";

/** How `bearerGuard` protects a resource. */
export interface GuardOptions {
  /** The resource's canonical URI (the MCP endpoint's URL): tokens must name it. */
  resource: string;
  /** What a token is worth: a JWT library, `introspectionVerifier(...)`, a database. */
  verify(token: string): Promise<TokenStatus> | TokenStatus;
  /** Where the metadata is (default: the path-inserted well-known URL, RFC 9728 §3.1). */
  resourceMetadataUrl?: string;
  /** Name the metadata URL in challenges (default true; RFC 9728 §5.1). */
  metadataInChallenges?: boolean;
  /** The `realm` of every challenge. */
  realm?: string;
  /** The scope every request needs (space separated); without it: 403. */
  requiredScope?: string;
  /** For the metadata document (RFC 9728 §2). */
  authorizationServers?: string[];
  /** For the metadata document. */
  scopesSupported?: string[];
  /** For the metadata document. */
  resourceName?: string;
  /** Called with every refusal sent (to count or log it). */
  onRefusal?: (refusal: Refusal) => void;
}

/** The SDKs' `AuthInfo`, as the middleware sets it on `req.auth`. */
export interface GuardAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: URL;
  extra?: Record<string, unknown>;
}

/** What became of a signal. */
export type Signalled = "accepted" | "too_late" | "not_guarded";

type Next = (error?: unknown) => unknown;

/** The middleware, with the metadata route beside it. */
export interface BearerGuard {
  /** Guard one request; `next` is the rest of it (Express's `next`, or your handler). */
  (req: IncomingMessage, res: ServerResponse, next: Next): Promise<void>;
  /** Serves the metadata document at `metadataPath`; anything else goes to `next`. */
  metadata: (req: IncomingMessage, res: ServerResponse, next?: Next) => void;
  /** The path (and query) of the metadata URL, for routing. */
  readonly metadataPath: Promise<string>;
  /** Resolves once the WebAssembly module is loaded and the settings checked. */
  ready(): Promise<void>;
}

/** The largest number of bytes held back while waiting for the first message. */
const MAX_HELD = 64 * 1024;

/** A held response's fate. */
type Fate = "open" | "released" | "refused";

/** One guarded request: its guard, its response, and what a handler asked for. */
class RequestContext {
  fate: Fate = "open";
  private holding: Holder | undefined;

  constructor(
    readonly guard: WasmGuard,
    readonly res: ServerResponse,
    private readonly send: (refusal: Refusal) => void,
  ) {}

  hold(holder: Holder): void {
    this.holding = holder;
  }

  /** A handler's signal: refuse now if nothing was sent yet. */
  signal(refusal: () => Refusal): Signalled {
    if (this.fate === "refused") return "accepted";
    if (this.fate === "released") return "too_late";
    if (this.holding) {
      this.fate = "refused";
      this.holding.refuse(refusal());
      return "accepted";
    }
    if (this.res.headersSent) {
      this.fate = "released";
      return "too_late";
    }
    this.fate = "refused";
    this.send(refusal());
    return "accepted";
  }
}

const current = new AsyncLocalStorage<RequestContext>();

function contextOf(authInfo?: { extra?: Record<string, unknown> }): RequestContext | undefined {
  const fromAuth = authInfo?.extra?.bearerflow;
  return fromAuth instanceof RequestContext ? fromAuth : current.getStore();
}

/**
 * Call from a tool handler when the upstream token it derived from the caller's
 * expired: the guarded request is answered `401 invalid_token` (core's
 * `upstream_token_expired`) instead of the handler's result, unless the response's
 * first message was already sent (`"too_late"`: answer in-band then). Finds the request
 * through the async context, or through the handler's `extra.authInfo` when given.
 */
export function upstreamTokenExpired(authInfo?: { extra?: Record<string, unknown> }): Signalled {
  const ctx = contextOf(authInfo);
  if (!ctx) return "not_guarded";
  return ctx.signal(() => {
    const r = ctx.guard.decide("upstream_expired", undefined);
    return r ?? ctx.guard.refuse("upstream_token_expired", undefined);
  });
}

/**
 * Call from a tool handler that needs `scope` (space separated; name the granted scopes
 * and the new ones, MCP "Scope Challenge Handling"): the request is answered `403
 * insufficient_scope` naming it, so the client steps up. Same timing rule as
 * `upstreamTokenExpired`.
 */
export function insufficientScope(scope: string, authInfo?: { extra?: Record<string, unknown> }): Signalled {
  const ctx = contextOf(authInfo);
  if (!ctx) return "not_guarded";
  return ctx.signal(() => ctx.guard.refuse("insufficient_scope", scope));
}

/** Write a refusal: core's status, challenge and body. */
function writeRefusal(res: ServerResponse, refusal: Refusal): void {
  res.writeHead(refusal.status, {
    "www-authenticate": refusal.www_authenticate,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(refusal.body),
  });
  res.end(refusal.body);
}

/** The verifier could not tell: 503 without a challenge (the token may be fine). */
function writeUnavailable(res: ServerResponse): void {
  const body = JSON.stringify({
    error: "temporarily_unavailable",
    error_description: "the access token could not be verified now; retry later",
  });
  res.writeHead(503, { "content-type": "application/json", "retry-after": "5" });
  res.end(body);
}

/** Every `Authorization` line (Node keeps only the first in `req.headers`). */
function authorizationLines(req: IncomingMessage): string[] {
  const lines: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "authorization") lines.push(raw[i + 1]!);
  }
  return lines;
}

function queryOf(req: IncomingMessage): string | undefined {
  const url = req.url ?? "";
  const at = url.indexOf("?");
  return at < 0 ? undefined : url.slice(at + 1);
}

function isPreflight(req: IncomingMessage): boolean {
  // Browsers never send credentials on a CORS preflight (Fetch, "CORS-preflight
  // request"): refusing it would fail every browser client before its real request.
  return req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
}

/** Whether `bytes` (the start of an event stream) holds a complete event with data. */
export function hasSseMessage(bytes: Buffer): boolean {
  const text = bytes.toString("utf8");
  let hasData = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "\n" && c !== "\r") continue;
    if (c === "\r" && i + 1 === text.length) return false; // maybe half a CRLF
    const line = text.slice(start, i);
    const end = c === "\r" && text[i + 1] === "\n" ? i + 2 : i + 1;
    if (line === "") {
      if (hasData) return true;
    } else {
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      if (colon !== 0 && name === "data") {
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (value !== "") hasData = true;
      }
    }
    start = end;
    i = end - 1;
  }
  return false;
}

type WriteCallback = (error?: Error | null) => void;

/**
 * After a refusal went out, what the handler or SDK does next has nowhere to go: every
 * call is swallowed (callbacks still run), so a late `writeHead` does not throw and a
 * late `write` does not emit "write after end" on the response.
 */
function seal(res: ServerResponse): void {
  const own = res as unknown as Record<string, unknown>;
  own.writeHead = () => res;
  own.flushHeaders = () => undefined;
  own.setHeader = () => res;
  own.appendHeader = () => res;
  own.removeHeader = () => undefined;
  own.write = (_chunk: unknown, encoding?: unknown, callback?: unknown) => {
    const cb = typeof encoding === "function" ? encoding : callback;
    if (typeof cb === "function") queueMicrotask(() => (cb as WriteCallback)());
    return true;
  };
  own.end = (chunk?: unknown, encoding?: unknown, callback?: unknown) => {
    const cb = [chunk, encoding, callback].find((a) => typeof a === "function");
    if (cb) queueMicrotask(() => (cb as WriteCallback)());
    return res;
  };
}

/**
 * Keeps a response's head and first bytes back until the first message, then either
 * releases them as they were written or replaces them with a refusal.
 */
class Holder {
  private head: unknown[] | undefined;
  private flushed = false;
  private chunks: Buffer[] = [];
  private held = 0;
  private ended = false;
  private endCallback: WriteCallback | undefined;
  private readonly original: Pick<
    ServerResponse,
    "writeHead" | "write" | "end" | "flushHeaders" | "setHeader" | "appendHeader" | "removeHeader"
  >;
  private readonly headersBefore: Set<string>;

  constructor(
    private readonly res: ServerResponse,
    private readonly ctx: RequestContext,
    private readonly onRefusal: (refusal: Refusal) => void,
  ) {
    this.original = {
      writeHead: res.writeHead,
      write: res.write,
      end: res.end,
      flushHeaders: res.flushHeaders,
      setHeader: res.setHeader,
      appendHeader: res.appendHeader,
      removeHeader: res.removeHeader,
    };
    this.headersBefore = new Set(res.getHeaderNames());
    const self = this;
    const refused = () => ctx.fate === "refused";
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      if (!refused()) self.head = args;
      return res;
    } as ServerResponse["writeHead"];
    res.flushHeaders = function () {
      self.flushed = true;
    };
    // Headers still go on the response while it is held (nothing is sent yet); after a
    // refusal, the SDK's header calls have nothing to change.
    res.setHeader = function (this: ServerResponse, ...args: unknown[]) {
      if (!refused()) (self.original.setHeader as (...a: unknown[]) => unknown).apply(res, args);
      return res;
    } as ServerResponse["setHeader"];
    res.appendHeader = function (this: ServerResponse, ...args: unknown[]) {
      if (!refused()) (self.original.appendHeader as (...a: unknown[]) => unknown).apply(res, args);
      return res;
    } as ServerResponse["appendHeader"];
    res.removeHeader = function (this: ServerResponse, name: string) {
      if (!refused()) self.original.removeHeader.call(res, name);
    };
    res.write = function (chunk: unknown, encoding?: unknown, callback?: unknown) {
      const cb = typeof encoding === "function" ? encoding : callback;
      // After a refusal, what the SDK writes has nowhere to go: it is dropped.
      if (!refused()) self.take(chunk, typeof encoding === "string" ? encoding : undefined);
      if (typeof cb === "function") queueMicrotask(() => (cb as WriteCallback)());
      self.check();
      return true;
    } as ServerResponse["write"];
    res.end = function (chunk?: unknown, encoding?: unknown, callback?: unknown) {
      let cb = callback;
      if (typeof chunk === "function") {
        cb = chunk;
        chunk = undefined;
      } else if (typeof encoding === "function") {
        cb = encoding;
      }
      if (chunk !== undefined && chunk !== null && !refused()) {
        self.take(chunk, typeof encoding === "string" ? encoding : undefined);
      }
      self.ended = true;
      self.endCallback = typeof cb === "function" ? (cb as WriteCallback) : undefined;
      self.decide(true);
      return res;
    } as ServerResponse["end"];
  }

  private take(chunk: unknown, encoding: string | undefined): void {
    const buf =
      typeof chunk === "string"
        ? Buffer.from(chunk, (encoding as BufferEncoding | undefined) ?? "utf8")
        : Buffer.from(chunk as Uint8Array);
    this.chunks.push(buf);
    this.held += buf.length;
  }

  private contentType(): string {
    const fromHead = this.head?.find((a) => typeof a === "object" && a !== null) as
      | Record<string, unknown>
      | unknown[]
      | undefined;
    let value: unknown;
    if (Array.isArray(fromHead)) {
      for (let i = 0; i + 1 < fromHead.length; i += 2) {
        if (String(fromHead[i]).toLowerCase() === "content-type") value = fromHead[i + 1];
      }
    } else if (fromHead) {
      for (const [k, v] of Object.entries(fromHead)) if (k.toLowerCase() === "content-type") value = v;
    }
    value ??= this.res.getHeader("content-type");
    return String(value ?? "").split(";")[0]!.trim().toLowerCase();
  }

  /** After a write: a message, or too much held, releases. */
  private check(): void {
    if (this.ctx.fate !== "open") return;
    const sse = this.contentType() === "text/event-stream";
    const message = sse ? hasSseMessage(Buffer.concat(this.chunks)) : this.held > 0;
    if (message || this.held > MAX_HELD) this.decide(false);
  }

  /** Release (no signal so far) or, after a refusal, swallow. */
  private decide(end: boolean): void {
    if (this.ctx.fate === "refused") {
      // The refusal went out; what the SDK writes now has nowhere to go.
      if (end) queueMicrotask(() => this.endCallback?.());
      return;
    }
    if (this.ctx.fate === "released") return;
    this.ctx.fate = "released";
    this.restore();
    const res = this.res;
    if (this.head) (res.writeHead as (...a: unknown[]) => unknown).apply(res, this.head);
    if (this.chunks.length === 0 && this.flushed && !this.ended) res.flushHeaders();
    for (const c of this.chunks) res.write(c);
    this.chunks = [];
    if (this.ended) res.end(this.endCallback);
  }

  /** A handler signalled while held: drop everything, send the refusal. */
  refuse(refusal: Refusal): void {
    this.chunks = [];
    const res = this.res;
    // Node's own methods write the refusal (its writeHead calls setHeader).
    this.restore();
    for (const name of res.getHeaderNames()) {
      if (!this.headersBefore.has(name)) res.removeHeader(name);
    }
    this.onRefusal(refusal);
    writeRefusal(res, refusal);
    if (this.ended) queueMicrotask(() => this.endCallback?.());
    seal(res);
  }

  private restore(): void {
    const own = this.res as unknown as Record<string, unknown>;
    const original = this.original as unknown as Record<string, unknown>;
    for (const name of Object.keys(original)) {
      // Our methods are own properties; deleting them brings back the prototype's,
      // unless someone before us had put their own there: then theirs comes back.
      delete own[name];
      if (own[name] !== original[name]) own[name] = original[name];
    }
  }
}

/**
 * Guard an MCP endpoint: every request must show a bearer token that `verify` accepts
 * for this resource (core's checks), or gets core's refusal. Let through, `req.auth`
 * holds the SDKs' `AuthInfo` (so tool handlers see it as `extra.authInfo`), and a tool
 * may call `upstreamTokenExpired()`.
 *
 * ```js
 * const guard = bearerGuard({ resource: "https://mcp.example.com/mcp", verify, authorizationServers: [issuer] });
 * app.use(guard.metadata);                       // Express
 * app.post("/mcp", guard, (req, res) => transport.handleRequest(req, res, req.body));
 * // Node's http: guard(req, res, () => transport.handleRequest(req, res));
 * ```
 */
export function bearerGuard(options: GuardOptions): BearerGuard {
  const setup = (async () => {
    const g = await glue();
    const metadataUrl = options.resourceMetadataUrl ?? g.protectedResourceMetadataUrl(options.resource);
    const named = options.metadataInChallenges === false ? undefined : metadataUrl;
    const guard = new g.Guard(options.resource, named, options.realm);
    const document = g.protectedResourceMetadata(
      options.resource,
      options.authorizationServers ?? [],
      options.scopesSupported ?? [],
      options.resourceName,
    );
    const url = new URL(metadataUrl);
    return { guard, document, metadataPath: url.pathname + url.search };
  })();
  const onRefusal = options.onRefusal ?? (() => undefined);

  const middleware = async (req: IncomingMessage, res: ServerResponse, next: Next): Promise<void> => {
    let settings;
    try {
      settings = await setup;
    } catch (e) {
      next(e);
      return;
    }
    const { guard } = settings;
    if (isPreflight(req)) {
      next();
      return;
    }
    const refuse = (refusal: Refusal) => {
      onRefusal(refusal);
      writeRefusal(res, refusal);
    };
    const presented = guard.token(authorizationLines(req), queryOf(req));
    if (!presented.ok) {
      refuse(presented.refusal);
      return;
    }
    let status: TokenStatus;
    try {
      status = await options.verify(presented.token);
    } catch {
      writeUnavailable(res);
      return;
    }
    const verification: Verification =
      typeof status === "object" && status !== null && "valid" in status
        ? { valid: { scope: status.valid.scope ?? "", audiences: status.valid.audiences ?? [] } }
        : status === "expired" || status === "proof_of_possession"
          ? status
          : "invalid";
    const refusal = guard.decide(verification, options.requiredScope);
    if (refusal) {
      refuse(refusal);
      return;
    }
    const valid = typeof status === "object" ? status.valid : undefined;
    // A signal on a response that is not held (not a POST) and not begun yet.
    const refuseLate = (refusal: Refusal) => {
      refuse(refusal);
      seal(res);
    };
    const ctx = new RequestContext(guard, res, refuseLate);
    const auth: GuardAuthInfo = {
      token: presented.token,
      clientId: valid?.clientId ?? "",
      scopes: (valid?.scope ?? "").split(" ").filter((s) => s !== ""),
      expiresAt: valid?.expiresAt,
      resource: new URL(options.resource),
      extra: { bearerflow: ctx, subject: valid?.subject },
    };
    (req as IncomingMessage & { auth?: GuardAuthInfo }).auth = auth;
    if (req.method === "POST") ctx.hold(new Holder(res, ctx, onRefusal));
    current.run(ctx, () => {
      next();
    });
  };

  const metadata = (req: IncomingMessage, res: ServerResponse, next?: Next): void => {
    setup.then(
      ({ document, metadataPath }) => {
        const path = req.url ?? "/";
        if (path !== metadataPath && path.split("?")[0] !== metadataPath) {
          if (next) next();
          else res.writeHead(404).end();
          return;
        }
        if (req.method !== "GET" && req.method !== "HEAD") {
          res.writeHead(405, { allow: "GET, HEAD", "access-control-allow-origin": "*" }).end();
          return;
        }
        res.writeHead(200, {
          "content-type": "application/json",
          "access-control-allow-origin": "*",
          "cache-control": "max-age=300",
        });
        res.end(req.method === "HEAD" ? undefined : document);
      },
      (e) => (next ? next(e) : res.writeHead(500).end()),
    );
  };

  // A setting core refuses rejects `ready()` and every request; never an unhandled
  // rejection of its own.
  setup.catch(() => undefined);
  const guard = Object.assign(middleware, {
    metadata,
    ready: () => setup.then(() => undefined),
  });
  // A getter (not a value computed now): a refused setting must not leave a rejected
  // promise nobody asked for.
  Object.defineProperty(guard, "metadataPath", { get: () => setup.then((s) => s.metadataPath) });
  return guard as BearerGuard;
}

/** How `introspectionVerifier` reaches the authorization server. */
export interface IntrospectionOptions {
  /** The RFC 7662 endpoint. */
  endpoint: string;
  /** HTTP Basic client authentication (RFC 6749 §2.3.1), when the server wants it. */
  clientId?: string;
  clientSecret?: string;
  /** How long an answer is reused (default 30 000 ms; 0: no cache). Never past `exp`. */
  cacheMs?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/**
 * A `verify` over RFC 7662 token introspection: `active`, `scope`, `aud`, `exp`, `nbf`,
 * `sub`, `client_id`; a `cnf` claim or `token_type` `DPoP` means a key-bound token.
 * Answers are cached by the token's SHA-256 (never the token) for a short time, so a
 * burst of calls costs one introspection. A failed introspection throws (the guard
 * answers 503).
 */
export function introspectionVerifier(options: IntrospectionOptions): (token: string) => Promise<TokenStatus> {
  const cacheMs = options.cacheMs ?? 30_000;
  const cache = new Map<string, { status: TokenStatus; until: number }>();
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return async (token: string) => {
    const key = createHash("sha256").update(token).digest("hex");
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.status;
    const headers: Record<string, string> = {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    };
    if (options.clientId !== undefined) {
      const id = encodeURIComponent(options.clientId);
      const secret = encodeURIComponent(options.clientSecret ?? "");
      headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
    }
    const body = new URLSearchParams({ token, token_type_hint: "access_token" }).toString();
    const response = await doFetch(options.endpoint, { method: "POST", headers, body });
    if (!response.ok) throw new Error(`introspection endpoint answered HTTP ${response.status}`);
    const doc = (await response.json()) as Record<string, unknown>;
    const status = readIntrospection(doc, Math.floor(Date.now() / 1000));
    let lifetime = cacheMs;
    if (typeof status === "object" && status.valid.expiresAt !== undefined) {
      lifetime = Math.min(lifetime, status.valid.expiresAt * 1000 - Date.now());
    }
    if (lifetime > 0) {
      if (cache.size >= 4096) cache.clear();
      cache.set(key, { status, until: Date.now() + lifetime });
    }
    return status;
  };
}

/** An RFC 7662 §2.2 response at `now` (unix seconds). */
export function readIntrospection(doc: Record<string, unknown>, now: number): TokenStatus {
  if (typeof doc !== "object" || doc === null || typeof doc.active !== "boolean") {
    throw new Error('introspection response has no boolean "active" (RFC 7662 §2.2)');
  }
  if (!doc.active) return "invalid";
  const seconds = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const nbf = seconds(doc.nbf);
  if (nbf !== undefined && nbf > now) return "invalid";
  const exp = seconds(doc.exp);
  if (exp !== undefined && exp <= now) return "expired";
  if (doc.cnf !== undefined || (typeof doc.token_type === "string" && doc.token_type.toLowerCase() === "dpop")) {
    return "proof_of_possession";
  }
  const aud = doc.aud;
  const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : [];
  return {
    valid: {
      scope: typeof doc.scope === "string" ? doc.scope : "",
      audiences,
      subject: typeof doc.sub === "string" ? doc.sub : undefined,
      clientId: typeof doc.client_id === "string" ? doc.client_id : undefined,
      expiresAt: exp,
    },
  };
}

/**
 * `createAuthFetch`: a `fetch` that keeps the MCP server's credential alive. Hand it
 * to the official SDK's `StreamableHTTPClientTransport` as its `fetch` option (1.x
 * `@modelcontextprotocol/sdk` and 2.x `@modelcontextprotocol/client` alike), or apply
 * it with `authMiddleware` in `applyMiddlewares`.
 *
 * Each call is one session request (core's `begin_request`): it waits while the
 * session refreshes or authorizes, goes out with the headers the session gives, and
 * when the session says `retry` (a `401`, a `403 insufficient_scope`) it goes out
 * again, with the same method, body and headers the caller set (including MCP's
 * `Mcp-Method` / `Mcp-Name`), and the new credential. Responses, event streams
 * included, come back untouched.
 */

import type { AuthOptions, DriverEvent } from "./driver.js";
import { Driver } from "./driver.js";
import type { Phase, Stats } from "./wasm.js";

/** A fetch-compatible function with the session underneath. */
export interface AuthFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Wait until the module is loaded and stored tokens are restored. */
  ready(): Promise<void>;
  /** Core's counters (refresh requests, sends, fails, …). */
  stats(): Stats | undefined;
  /** The session's phase now. */
  phase(): Phase | undefined;
  /** What is wrong now, if anything. */
  lastError(): { code: string; message: string } | undefined;
  /** For hosts that run authorization themselves (`onAuthorizationUrl` returned nothing). */
  handleRedirect(url: string): Promise<void>;
  /** Sign in again (or re-run the helper). */
  reauthorize(): Promise<void>;
  /** Stop the timer and end every request in progress. */
  close(): void;
}

export type { AuthOptions, DriverEvent };

/** A fetch with the session underneath. */
export function createAuthFetch(options: AuthOptions): AuthFetch {
  const driver = new Driver(options);
  const next = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return wrapFetch(driver, next);
}

/** `fetch` over `next`, driven by `driver`. */
export function wrapFetch(
  driver: Driver,
  next: (input: string, init?: RequestInit) => Promise<Response>,
): AuthFetch {
  const authFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = await replayable(input, init);
    await driver.start();
    // The session says which URLs its credential is for (core's `covers`: the
    // resource's origin, RFC 6750 §5.3); anything else passes through untouched.
    if (!driver.covers(request.url)) {
      return next(request.url, { ...request.init, method: request.method, headers: request.headers, body: request.body });
    }
    const signal = request.init.signal ?? undefined;
    let { id, headers } = await driver.begin(signal);
    for (;;) {
      const h = new Headers(request.headers);
      // The session owns the credential: a header baked in by the caller (the static
      // `Authorization` of an inspector) never goes out in its place.
      h.delete("authorization");
      for (const [name, value] of headers) h.set(name, value);
      let response: Response;
      try {
        response = await next(request.url, { ...request.init, method: request.method, headers: h, body: request.body });
      } catch (e) {
        driver.cancel(id);
        throw e;
      }
      const challenges = response.headers.get("www-authenticate");
      const verdict = driver.report(id, response.status, challenges ? [challenges] : []);
      if (verdict === "deliver") return response;
      await response.body?.cancel().catch(() => undefined);
      headers = await driver.next(id, signal);
    }
  };
  return Object.assign(authFetch, {
    ready: () => driver.start(),
    stats: () => driver.stats(),
    phase: () => driver.phase(),
    lastError: () => driver.lastError(),
    handleRedirect: (url: string) => driver.handleRedirect(url),
    reauthorize: () => driver.reauthorize(),
    close: () => driver.close(),
  });
}

/** A request as parts that can be sent more than once. */
interface Replayable {
  url: string;
  method: string;
  headers: Headers;
  body: BodyInit | undefined;
  init: RequestInit;
}

/**
 * The request's parts, with a one-shot body (a stream) read into memory so that a
 * retry sends the same bytes. Strings, buffers, `URLSearchParams`, `Blob` and
 * `FormData` are sent again as they are.
 */
async function replayable(input: string | URL | Request, init?: RequestInit): Promise<Replayable> {
  const isRequest = typeof Request !== "undefined" && input instanceof Request;
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : (input as Request).url;
  const headers = new Headers(isRequest ? (input as Request).headers : undefined);
  if (init?.headers) new Headers(init.headers).forEach((v, k) => headers.set(k, v));
  const method = (init?.method ?? (isRequest ? (input as Request).method : "GET")).toUpperCase();
  let body: BodyInit | undefined = init?.body ?? undefined;
  if (body === undefined && isRequest && (input as Request).body) {
    body = await (input as Request).arrayBuffer();
  } else if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) {
    body = await new Response(body).arrayBuffer();
  }
  const rest: RequestInit = { ...init };
  delete rest.headers;
  delete rest.body;
  delete rest.method;
  if (isRequest && rest.signal === undefined) rest.signal = (input as Request).signal;
  return { url, method, headers, body, init: rest };
}

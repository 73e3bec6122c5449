/**
 * The two other shapes the official TypeScript SDK 2.x (`@modelcontextprotocol/client`)
 * accepts: an `authProvider` (`token()` before every request, `onUnauthorized()` after
 * a `401`) and a `Middleware` (`(next) => fetch`) for `applyMiddlewares`.
 */

import type { AuthOptions } from "./driver.js";
import { Driver } from "./driver.js";
import type { AuthFetch } from "./fetch.js";
import { wrapFetch } from "./fetch.js";
import type { Phase, Stats } from "./wasm.js";

/** What a middleware is handed: the fetch after it (the SDK's `FetchLike`). */
type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The 2.x transport's `AuthProvider`, with the session's getters. */
export interface AuthProvider {
  /** The bearer token to attach now, after any refresh or authorization it needs. */
  token(): Promise<string | undefined>;
  /** The server answered `401`: the session learns the challenge and gets a new credential. */
  onUnauthorized(context: { response: Response }): Promise<void>;
  /** Wait until the module is loaded and stored tokens are restored. */
  ready(): Promise<void>;
  stats(): Stats | undefined;
  phase(): Phase | undefined;
  lastError(): { code: string; message: string } | undefined;
  handleRedirect(url: string): Promise<void>;
  close(): void;
}

/**
 * An `authProvider` for `StreamableHTTPClientTransport` (2.x). The transport sends
 * each request itself and tells the provider only about `401`s, so:
 *
 * - `token()` is one session request whose credential is handed to the transport
 *   (core's `finish_request`: its outcome is not seen here). The generation of that
 *   credential is remembered.
 * - `onUnauthorized()` tells the session about the `401` and its `WWW-Authenticate`
 *   (core's `handle_unauthorized`) and resolves once the session holds a usable
 *   credential (or rejects with its failure). The SDK does not say which request the
 *   `401` answered, so it is reported for the newest credential handed out: with
 *   several requests in flight, a late `401` for an older credential (which core would
 *   ignore) can cost one refresh more. Nothing is lost; nothing is sent unauthorized.
 *
 * `createAuthFetch` sees every response and keeps core's stale-401 and step-up rules
 * exactly; prefer it (or `authMiddleware`) where the transport takes a `fetch`.
 */
export function createAuthProvider(options: AuthOptions): AuthProvider {
  const driver = new Driver(options);
  // The generation of the last credential handed out (0: none, the unauthenticated probe).
  let handedOut = 0;
  return {
    async token() {
      const { id, headers, generation } = await driver.begin();
      driver.finish(id);
      handedOut = generation;
      return bearerOf(headers);
    },
    async onUnauthorized(context) {
      await driver.start();
      const lines = context.response.headers.get("www-authenticate");
      driver.unauthorized(handedOut, lines ? [lines] : []);
      // Resolves when the session has a credential to send (after the refresh or the
      // authorization the 401 started), or rejects with the session's failure.
      const { id } = await driver.begin();
      driver.finish(id);
    },
    ready: () => driver.start(),
    stats: () => driver.stats(),
    phase: () => driver.phase(),
    lastError: () => driver.lastError(),
    handleRedirect: (url) => driver.handleRedirect(url),
    close: () => driver.close(),
  };
}

/** The token of an `Authorization: Bearer` header, if the session gave one. */
function bearerOf(headers: [string, string][]): string | undefined {
  for (const [name, value] of headers) {
    if (name.toLowerCase() === "authorization" && /^bearer /i.test(value)) return value.slice(7);
  }
  return undefined;
}

/** `Middleware` (2.x): `(next) => fetch`, sharing one session however often it is applied. */
export type AuthMiddleware = ((next: FetchLike) => AuthFetch) & {
  stats(): Stats | undefined;
  phase(): Phase | undefined;
};

/**
 * A middleware for `applyMiddlewares`: resource requests go through `next` (and the
 * middlewares after it); the session's own exchanges (token endpoint, discovery) use
 * `options.fetch` or the global `fetch`.
 */
export function authMiddleware(options: AuthOptions): AuthMiddleware {
  const driver = new Driver(options);
  const middleware = (next: FetchLike) => wrapFetch(driver, next);
  return Object.assign(middleware, { stats: () => driver.stats(), phase: () => driver.phase() });
}

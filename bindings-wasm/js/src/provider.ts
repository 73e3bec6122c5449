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
 * - `token()` is one session request whose credential is handed to the transport. The
 *   transport's own response is not seen; the request is reported as answered.
 *   (WORKAROUND: core has no "credential handed over, outcome unseen" event; see the
 *   binding's report.)
 * - `onUnauthorized()` reports the `401` and its `WWW-Authenticate` to the session with
 *   the credential the transport was given, and resolves once the session holds a new
 *   one (or rejects with its failure).
 *
 * `createAuthFetch` sees every response and keeps core's stale-401 and step-up rules
 * exactly; prefer it (or `authMiddleware`) where the transport takes a `fetch`.
 */
export function createAuthProvider(options: AuthOptions): AuthProvider {
  const driver = new Driver(options);
  return {
    async token() {
      const { id, headers } = await driver.begin();
      void driver.report(id, 200, []);
      return bearerOf(headers);
    },
    async onUnauthorized(context) {
      const lines = context.response.headers.get("www-authenticate");
      const { id } = await driver.begin();
      if (driver.report(id, 401, lines ? [lines] : []) === "retry") {
        await driver.next(id);
        void driver.report(id, 200, []);
      }
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
  const middleware = (next: FetchLike) => wrapFetch(driver, next, options.resourceUrl);
  return Object.assign(middleware, { stats: () => driver.stats(), phase: () => driver.phase() });
}

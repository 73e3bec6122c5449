/** What every platform exports. */
export { createAuthFetch } from "./fetch.js";
export type { AuthFetch } from "./fetch.js";
export { authMiddleware, createAuthProvider } from "./provider.js";
export type { AuthMiddleware, AuthProvider } from "./provider.js";
export type {
  AuthOptions,
  Authorizer,
  AuthorizeContext,
  DriverEvent,
  HelperResult,
  HelperSpec,
  OAuthSettings,
} from "./driver.js";
export { headless, popup, redirect } from "./authorize.js";
export { localStorageStore, memoryStore, sessionStorageStore, webStorageStore } from "./store.js";
export type { Store, WebStorage } from "./store.js";
export { BearerflowError } from "./errors.js";
export type {
  Action,
  FetchPurpose,
  Phase,
  Refusal,
  SnapshotJson,
  Stats,
  Verification,
  WasmGuard,
  WasmSession,
} from "./wasm.js";
import { glue } from "./wasm.js";

/** One challenge as `parseChallenges` gives it. */
export interface ParsedChallenge {
  scheme: string;
  token68: string | null;
  params: [string, string][];
  bearer?: {
    realm: string | null;
    error: string | null;
    error_description: string | null;
    error_uri: string | null;
    scope: string | null;
    scopes: string[];
    resource_metadata: string | null;
  } | { error: string };
}

/** `parseChallenges`' outcome. */
export type ParsedChallenges =
  | { ok: true; challenges: ParsedChallenge[]; tolerated: string[] }
  | { ok: false; offset: number; code: string; message: string };

/**
 * Parse `WWW-Authenticate` lines (RFC 9110 §11.6.1; lenient by default, as the session
 * reads them).
 */
export async function parseChallenges(
  lines: string[],
  mode: "strict" | "lenient" = "lenient",
): Promise<ParsedChallenges> {
  return (await glue()).parseChallenges(lines, mode) as ParsedChallenges;
}

/** Render a challenge (`{scheme, params}` or `{scheme, token68}`) as a `WWW-Authenticate` value. */
export async function renderChallenge(
  challenge: { scheme: string; params: [string, string][] } | { scheme: string; token68: string },
): Promise<string> {
  return (await glue()).renderChallenge(challenge);
}

/** The wasm module itself (its `Session` class mirrors core's machine). */
export function loadModule(): Promise<unknown> {
  return glue();
}

/**
 * Core's guard for one protected resource (the server half, `bearerflow::guard`):
 * `token(authorizationLines, query)`, `decide(verification, requiredScope)` and
 * `refuse(kind, scope)` give the exact refusal to send (`{status, kind,
 * www_authenticate, body}`) or say to serve the request. Throws with core's code for a
 * setting that cannot go into a header (`control_character`, `non_ascii`).
 */
export async function createGuard(
  resource: string,
  options: { resourceMetadata?: string; realm?: string } = {},
): Promise<import("./wasm.js").WasmGuard> {
  return new (await glue()).Guard(resource, options.resourceMetadata, options.realm);
}

/** The RFC 9728 §2 document for a resource, as JSON text (core's rendering). */
export async function protectedResourceMetadata(
  resource: string,
  options: { authorizationServers?: string[]; scopesSupported?: string[]; resourceName?: string } = {},
): Promise<string> {
  return (await glue()).protectedResourceMetadata(
    resource,
    options.authorizationServers ?? [],
    options.scopesSupported ?? [],
    options.resourceName,
  );
}

/**
 * The wasm-bindgen module as this layer uses it: the `Session` class of
 * `bindings-wasm/src/lib.rs` (core's machine, method for method) and the challenge
 * functions. Actions come out as plain objects in core's one JSON shape
 * (`tests/vectors/README.md`); times and ids are numbers (unix milliseconds).
 */

/** What the machine asks of the host (core's `Action::to_json`). */
export type Action =
  | { send: { id: number; generation: number; headers: [string, string][] } }
  | {
      fetch: {
        id: number;
        purpose: FetchPurpose;
        method: string;
        url: string;
        headers: [string, string][];
        body: string;
      };
    }
  | { run_helper: Record<string, never> }
  | { persist: SnapshotJson }
  | { fail: { id: number; error: string; cause: { code: string; message: string } | null } }
  | { authorize: { url: string } }
  | { acquire_lease: { ttl_ms: number } }
  | { release_lease: Record<string, never> };

/**
 * An authorization waiting for the browser's redirect (core's `PendingAuthorization`):
 * what a page that navigates away keeps in `sessionStorage` for the session it builds
 * when it comes back. It holds the PKCE verifier.
 */
export interface PendingAuthorization {
  state: string;
  code_verifier: string;
  redirect_uri: string;
  deadline: number;
  issuer: string;
  iss_required: boolean;
}

/** What a `fetch` action is for. */
export type FetchPurpose =
  | "refresh"
  | "resource_metadata"
  | "server_metadata"
  | "registration"
  | "code_exchange"
  | "client_credentials";

/** The session's phase (core's `Phase`). */
export type Phase =
  | "unauthorized"
  | "authorizing"
  | "fresh"
  | "expiring"
  | "expired"
  | "refreshing"
  | "failed";

/** A persisted snapshot (core's `Snapshot`): tokens, client registration, server. */
export interface SnapshotJson {
  version: number;
  tokens?: {
    access_token: string;
    refresh_token?: string | null;
    received_at: number;
    expires_at?: number | null;
    scope?: string | null;
    generation: number;
    refresh_at?: number | null;
  } | null;
  client?: unknown;
  server?: unknown;
}

/** Core's `Stats`: what the machine asked for and saw. */
export interface Stats {
  refresh_requests: number;
  code_exchanges: number;
  client_credentials_requests: number;
  discovery_requests: number;
  registration_requests: number;
  authorizations: number;
  helper_runs: number;
  sends: number;
  fails: number;
  unauthorized_seen: number;
  insufficient_scope_seen: number;
  credentials_installed: number;
  persist_failures: number;
}

/** The wasm `Session` class. */
export interface WasmSession {
  phase(now: number): Phase;
  stats(): Stats;
  snapshot(): string;
  lastError(): { code: string; message: string } | undefined;
  pendingRequests(): number;
  policy(): { max_response_body: number; max_helper_output: number; fetch_deadline: number };
  covers(url: string): boolean;
  pendingAuthorization(): PendingAuthorization | undefined;
  beginRequest(now: number): number;
  finishRequest(id: number): void;
  resumeAuthorization(pending: PendingAuthorization, now: number): void;
  cancelRequest(id: number): void;
  setTokens(
    accessToken: string,
    refreshToken: string | undefined,
    expiresIn: number | undefined,
    scope: string | undefined,
    now: number,
  ): void;
  reauthorize(now: number): void;
  addEntropy(bytes: Uint8Array): void;
  handleResourceResponse(id: number, status: number, wwwAuthenticate: string[], now: number): string;
  handleUnauthorized(generation: number, wwwAuthenticate: string[], now: number): void;
  handleHttpResponse(id: number, status: number, headers: string[], body: Uint8Array, now: number): void;
  handleHttpError(id: number, kind: string, now: number): void;
  handleHelperStdout(stdout: Uint8Array, now: number): void;
  handleHelperFailure(exitCode: number | undefined, now: number): void;
  handleRedirect(url: string, now: number): void;
  handleAuthorizeError(now: number): void;
  handlePersistFailed(now: number): void;
  handleLease(granted: boolean, now: number): void;
  handleStoreUpdate(snapshot: string, now: number): void;
  handleTimeout(now: number): void;
  pollAction(): Action | undefined;
  pollTimeout(): number | undefined;
  free(): void;
}

/** A refusal, as core's guard renders it: what to answer instead of serving. */
export interface Refusal {
  /** 400, 401 or 403. */
  status: number;
  /** Core's stable code (`missing_token`, `expired_token`, `upstream_token_expired`, …). */
  kind: string;
  /** The `WWW-Authenticate` value, quoted and escaped. */
  www_authenticate: string;
  /** The JSON body text. */
  body: string;
}

/** What the host's verification of a token found (core's `Verification`). */
export type Verification =
  | { valid: { scope: string; audiences: string[] } }
  | "expired"
  | "invalid"
  | "upstream_expired"
  | "proof_of_possession";

/** The wasm `Guard` class (core's `bearerflow::guard::Guard`). */
export interface WasmGuard {
  token(
    authorization: string[],
    query: string | undefined,
  ): { ok: true; token: string } | { ok: false; refusal: Refusal };
  decide(verification: Verification, requiredScope: string | undefined): Refusal | undefined;
  refuse(kind: string, scope: string | undefined): Refusal;
  free(): void;
}

/** The module's exports this layer needs. */
export interface Glue {
  Session: {
    new (config: string, seed: Uint8Array, now: number): WasmSession;
    restore(config: string, snapshot: string, seed: Uint8Array, now: number): WasmSession;
  };
  parseChallenges(lines: string[], mode?: "strict" | "lenient"): unknown;
  parseChallengeBytes(bytes: Uint8Array, mode?: "strict" | "lenient"): unknown;
  renderChallenge(challenge: unknown): string;
  Guard: {
    new (resource: string, resourceMetadata: string | undefined, realm: string | undefined): WasmGuard;
  };
  protectedResourceMetadata(
    resource: string,
    authorizationServers: string[],
    scopesSupported: string[],
    resourceName: string | undefined,
  ): string;
  protectedResourceMetadataUrl(resource: string): string;
}

let loader: (() => Promise<Glue>) | undefined;
let loaded: Promise<Glue> | undefined;

/** Set by the platform entry (`node.ts`, `browser.ts`): how the module is loaded. */
export function setLoader(load: () => Promise<Glue>): void {
  loader = load;
  loaded = undefined;
}

/** The module, loaded once. */
export function glue(): Promise<Glue> {
  if (!loaded) {
    if (!loader) return Promise.reject(new Error("bearerflow: no WebAssembly loader for this platform"));
    loaded = loader();
  }
  return loaded;
}

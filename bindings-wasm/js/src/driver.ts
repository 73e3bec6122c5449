/**
 * The driver: core's run loop (`core/src/lib.rs`) over `fetch`, timers and the
 * platform. Mutate the session, drain `pollAction()` until it is empty, then wait for
 * `pollTimeout()` or the next event. Every decision (when to refresh, whether to retry,
 * what a challenge means, single flight) is the session's; this file performs the
 * actions and reports what happened.
 */

import { BearerflowError } from "./errors.js";
import type { Store } from "./store.js";
import { memoryStore } from "./store.js";
import { glue } from "./wasm.js";
import type { Action, FetchPurpose, Glue, PendingAuthorization, Phase, Stats, WasmSession } from "./wasm.js";

/** Core's `OAuthConfig`, as core reads it (snake_case). Everything is optional. */
export interface OAuthSettings {
  client?: { client_id: string; client_secret?: string; [k: string]: unknown } | null;
  token_endpoint?: string | null;
  issuer?: string | null;
  grant?: "authorization_code" | "client_credentials";
  redirect_uri?: string | null;
  scope?: string | null;
  client_name?: string | null;
  client_id_metadata_url?: string | null;
  allow_cross_origin_metadata?: boolean;
  allow_insecure_http?: boolean;
}

/** What a header helper yields: the text it printed, or the headers themselves. */
export type HelperResult = string | Uint8Array | Record<string, string>;

/**
 * A header helper (a command that prints headers, e.g. `{"Authorization": "Bearer …"}`
 * or `Name: value` lines). Re-run on `401` and when `ttlMs` passes; it never falls
 * into OAuth discovery.
 */
export type HelperSpec = (
  | { command: string; args?: string[]; cwd?: string; env?: Record<string, string> }
  | { run: () => Promise<HelperResult> | HelperResult }
) & { ttlMs?: number };

/** Runs the browser part of authorization: resolves with the URL the browser came back to. */
export type Authorizer = (url: string, context: AuthorizeContext) => Promise<string>;

/** What an authorizer knows. */
export interface AuthorizeContext {
  /** Where the browser comes back to (`oauth.redirect_uri`). */
  redirectUri: string;
  /** The underlying fetch (for headless following). */
  fetch: typeof fetch;
  /** Save what a full-page redirect needs to resume after the page comes back. */
  saveForRedirect(): void;
}

/** Something that happened, for logs, timelines and tests. */
export type DriverEvent =
  | { type: "action"; at: number; action: string; purpose?: FetchPurpose }
  | { type: "fetched"; at: number; purpose: FetchPurpose; status: number | null }
  | { type: "adopted"; at: number }
  | { type: "phase"; at: number; phase: Phase };

/** Options shared by `createAuthFetch`, `createAuthProvider` and `authMiddleware`. */
export interface AuthOptions {
  /** The protected resource: the MCP server URL. */
  resourceUrl: string;
  /** OAuth 2.1 settings (the default credential). */
  oauth?: OAuthSettings;
  /** A header helper instead of OAuth. */
  helper?: HelperSpec;
  /** Core's `Policy` fields to override (snake_case, durations in ms). */
  policy?: Record<string, unknown>;
  /** Where tokens live between runs (default: in memory). */
  store?: Store;
  /** How the browser part of authorization runs (default: per platform). */
  authorize?: Authorizer;
  /**
   * Called with each authorization URL before the authorizer runs: a host that shows
   * its own UI returns the redirect URL it got back (or calls `handleRedirect` later)
   * and no authorizer runs.
   */
  onAuthorizationUrl?: (url: string) => void | string | Promise<void | string>;
  /** The fetch underneath (default: `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Every action, fetch outcome and phase change. */
  onEvent?: (event: DriverEvent) => void;
  /** The clock, unix ms (default `Date.now`). For tests. */
  now?: () => number;
  /** The WebAssembly module, when the platform default cannot find it (browsers). */
  wasm?: URL | string | WebAssembly.Module | BufferSource;
}

/** What the platform entry (`node.ts`, `browser.ts`) provides. */
export interface Platform {
  defaultAuthorizer(options: AuthOptions): Authorizer | undefined;
  runCommand?(
    spec: { command: string; args?: string[]; cwd?: string; env?: Record<string, string> },
    maxOutput: number,
    timeoutMs: number,
  ): Promise<{ stdout: Uint8Array } | { exitCode: number | null }>;
  /** Where the `.wasm` file is, when `options.wasm` says (browsers). */
  useWasm?(source: NonNullable<AuthOptions["wasm"]>): void;
  /** Web Locks, where the platform has them. */
  locks?: { request(name: string, callback: () => Promise<unknown>): Promise<unknown> };
  /** What was saved before a full-page redirect, with the URL the page came back to (browsers). */
  takeRedirect?(key: string): { saved: SavedRedirect; url: string } | undefined;
  saveRedirect?(key: string, saved: SavedRedirect): void;
}

let platform: Platform = { defaultAuthorizer: () => undefined };

/** Set by the platform entry. */
export function setPlatform(p: Platform): void {
  platform = p;
}

/**
 * What a page keeps across a full-page redirect: the session's snapshot (server and
 * client registration) and core's `PendingAuthorization` (state, PKCE verifier,
 * deadline), from which the page that comes back builds a session that takes the
 * redirect (`resumeAuthorization`).
 */
export interface SavedRedirect {
  config: string;
  snapshot: string;
  pending: PendingAuthorization;
}

/** One caller's request: sends and the final failure arrive here. */
interface Call {
  id: number;
  onSend: ((send: Send) => void) | undefined;
  onFail: ((e: BearerflowError) => void) | undefined;
  pending: { send?: Send; error?: BearerflowError } | undefined;
}

/** A `send` action: the headers to attach and the credential generation they carry. */
export interface Send {
  headers: [string, string][];
  generation: number;
}

/** A session being driven. */
export class Driver {
  private session!: WasmSession;
  private readonly calls = new Map<number, Call>();
  private pumping: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private busy = 0;
  private lastPhase: Phase | undefined;
  private started: Promise<void> | undefined;
  private readonly store: Store;
  private readonly http: typeof fetch;
  private readonly now: () => number;
  private readonly config: string;
  private maxBody = 0;
  private maxHelperOutput = 0;
  private helperDeadline = 0;
  /** Ends the Web Lock held as the shared store's refresh lease, when one is held. */
  private releaseLease: (() => void) | undefined;

  constructor(private readonly options: AuthOptions) {
    this.store = options.store ?? memoryStore();
    const f = options.fetch ?? globalThis.fetch;
    this.http = (input, init) => f(input, init);
    this.now = options.now ?? Date.now;
    this.config = JSON.stringify(configJson(options, this.sharedLock() !== undefined));
  }

  /** Load the module, restore stored tokens (or resume a redirect), start the loop. */
  start(): Promise<void> {
    this.started ??= this.init();
    return this.started;
  }

  private async init(): Promise<void> {
    if (this.options.wasm !== undefined) platform.useWasm?.(this.options.wasm);
    const g = await glue();
    const resumed = platform.takeRedirect?.(this.redirectKey());
    if (resumed && resumed.saved.config === this.config) {
      // The page that left started this authorization: its session's snapshot and
      // pending authorization make this session the one the redirect is for.
      this.create(g, resumed.saved.snapshot);
      this.input("resumeAuthorization", resumed.saved.pending, this.now());
      try {
        this.input("handleRedirect", resumed.url, this.now());
      } catch {
        // A stale or forged redirect: the session goes on without it.
      }
    } else {
      const stored = await this.store.load();
      this.create(g, stored);
    }
    const policy = this.session.policy();
    this.maxBody = policy.max_response_body;
    this.maxHelperOutput = policy.max_helper_output;
    // The session gives up on a helper run after this long; the process goes with it.
    this.helperDeadline = policy.fetch_deadline;
    void this.pump();
  }

  private create(g: Glue, snapshot: string | null): void {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const start = this.now();
    this.session = snapshot
      ? g.Session.restore(this.config, snapshot, seed, start)
      : new g.Session(this.config, seed, start);
  }

  private redirectKey(): string {
    return `bearerflow:redirect:${this.options.resourceUrl}`;
  }

  /** The Web Lock name of a store shared by several pages, where the platform has locks. */
  private sharedLock(): string | undefined {
    const name = this.store.sharedName;
    return name !== undefined && platform.locks ? `bearerflow:${name}` : undefined;
  }

  /** Call a session input by name. */
  private input(method: string, ...args: unknown[]): unknown {
    const f = (this.session as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
    if (!f) throw new Error(`bearerflow: no session method ${method}`);
    return f.apply(this.session, args);
  }

  // ------------------------------------------------------------------------------
  // What callers use
  // ------------------------------------------------------------------------------

  /** Begin a request: its first `send` (headers to attach) or its failure follows. */
  async begin(signal?: AbortSignal | null): Promise<{ id: number; headers: [string, string][]; generation: number }> {
    await this.start();
    signal?.throwIfAborted();
    const id = this.input("beginRequest", this.now()) as number;
    const call: Call = { id, onSend: undefined, onFail: undefined, pending: undefined };
    this.calls.set(id, call);
    void this.pump();
    const send = await this.nextSend(call, signal);
    return { id, ...send };
  }

  /** Wait for the next `send` (or the `fail`) of request `id`. */
  async next(id: number, signal?: AbortSignal | null): Promise<[string, string][]> {
    const call = this.calls.get(id);
    if (!call) throw new BearerflowError("cancelled");
    return (await this.nextSend(call, signal)).headers;
  }

  private nextSend(call: Call, signal?: AbortSignal | null): Promise<Send> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.cancel(call.id);
        reject(signal?.reason ?? new BearerflowError("cancelled"));
      };
      const settle = () => signal?.removeEventListener("abort", onAbort);
      const take = () => {
        const p = call.pending;
        if (!p) return false;
        call.pending = undefined;
        settle();
        if (p.error) reject(p.error);
        else resolve(p.send ?? { headers: [], generation: 0 });
        return true;
      };
      if (take()) return;
      signal?.addEventListener("abort", onAbort, { once: true });
      call.onSend = (send) => {
        call.onSend = call.onFail = undefined;
        settle();
        resolve(send);
      };
      call.onFail = (e) => {
        call.onSend = call.onFail = undefined;
        settle();
        reject(e);
      };
    });
  }

  /** The resource answered request `id`: `deliver` (the caller gets it) or `retry`. */
  report(id: number, status: number, wwwAuthenticate: string[]): "deliver" | "retry" {
    const verdict = this.input("handleResourceResponse", id, status, wwwAuthenticate, this.now()) as
      | "deliver"
      | "retry";
    if (verdict === "deliver") this.calls.delete(id);
    void this.pump();
    return verdict;
  }

  /** The request's credential went to another HTTP stack, whose answer is not seen here. */
  finish(id: number): void {
    if (!this.calls.delete(id) || !this.session) return;
    this.input("finishRequest", id);
    void this.pump();
  }

  /** A `401` for a request sent with the credential of `generation` (0: none). */
  unauthorized(generation: number, wwwAuthenticate: string[]): void {
    this.input("handleUnauthorized", generation, wwwAuthenticate, this.now());
    void this.pump();
  }

  /** Whether the credential is for `url` (the resource's origin). Call after `start()`. */
  covers(url: string): boolean {
    return this.session.covers(url);
  }

  /** The caller went away (or its request failed below HTTP). */
  cancel(id: number): void {
    if (!this.calls.delete(id) || !this.session) return;
    this.input("cancelRequest", id);
    void this.pump();
  }

  /** A host that runs authorization itself hands the redirect back here. */
  async handleRedirect(url: string): Promise<void> {
    await this.start();
    try {
      this.input("handleRedirect", url, this.now());
    } finally {
      void this.pump();
    }
  }

  /** Sign in again (OAuth) or re-run the helper. */
  async reauthorize(): Promise<void> {
    await this.start();
    this.input("reauthorize", this.now());
    void this.pump();
  }

  /** Core's counters. */
  stats(): Stats | undefined {
    return this.session?.stats();
  }

  /** The phase now. */
  phase(): Phase | undefined {
    return this.session?.phase(this.now());
  }

  /** What is wrong now, if anything. */
  lastError(): { code: string; message: string } | undefined {
    return this.session?.lastError();
  }

  /** Stop timers and end every request in progress. */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const id of [...this.calls.keys()]) this.cancel(id);
    this.releaseLease?.();
  }

  // ------------------------------------------------------------------------------
  // The loop
  // ------------------------------------------------------------------------------

  /** Drain every action; resolves when the queue is empty (and every persist stored). */
  pump(): Promise<void> {
    if (!this.session) return Promise.resolve();
    if (this.pumping) return this.pumping;
    let finished!: () => void;
    // Set before the loop runs: the loop may finish without ever awaiting.
    const pumping = new Promise<void>((resolve) => (finished = resolve));
    this.pumping = pumping;
    void (async () => {
      try {
        for (;;) {
          const action = this.session.pollAction();
          if (action === undefined) break;
          await this.dispatch(action);
        }
      } finally {
        this.pumping = undefined;
        this.observePhase();
        this.arm();
        finished();
      }
    })();
    return pumping;
  }

  private emit(event: DriverEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A listener's failure is not the session's.
    }
  }

  private observePhase(): void {
    const phase = this.session.phase(this.now());
    if (phase !== this.lastPhase) {
      this.lastPhase = phase;
      this.emit({ type: "phase", at: this.now(), phase });
    }
  }

  /** One timer, at `pollTimeout()`; it keeps a Node process alive only while work is pending. */
  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = this.session.pollTimeout();
    if (deadline === undefined) return;
    const delay = Math.min(Math.max(deadline - this.now(), 0), 0x7fffffff);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.input("handleTimeout", this.now());
      void this.pump();
    }, delay);
    if (this.calls.size === 0 && this.busy === 0) {
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  private async dispatch(action: Action): Promise<void> {
    const at = this.now();
    if ("send" in action) {
      this.emit({ type: "action", at, action: "send" });
      const call = this.calls.get(action.send.id);
      if (!call) {
        // Its caller is gone (a page that redirected away, an abandoned call).
        this.input("cancelRequest", action.send.id);
        return;
      }
      const send = { headers: action.send.headers, generation: action.send.generation };
      if (call.onSend) call.onSend(send);
      else call.pending = { send };
    } else if ("fail" in action) {
      this.emit({ type: "action", at, action: "fail" });
      const call = this.calls.get(action.fail.id);
      this.calls.delete(action.fail.id);
      if (!call) return;
      const e = new BearerflowError(action.fail.error, action.fail.cause);
      if (call.onFail) call.onFail(e);
      else call.pending = { error: e };
    } else if ("persist" in action) {
      this.emit({ type: "action", at, action: "persist" });
      try {
        await this.store.save(JSON.stringify(action.persist));
      } catch {
        this.input("handlePersistFailed", this.now());
      }
    } else if ("fetch" in action) {
      this.emit({ type: "action", at, action: "fetch", purpose: action.fetch.purpose });
      this.background(this.exchange(action.fetch));
    } else if ("run_helper" in action) {
      this.emit({ type: "action", at, action: "run_helper" });
      this.background(this.runHelper());
    } else if ("authorize" in action) {
      this.emit({ type: "action", at, action: "authorize" });
      this.background(this.authorize(action.authorize.url));
    } else if ("acquire_lease" in action) {
      this.emit({ type: "action", at, action: "acquire_lease" });
      this.background(this.lease(action.acquire_lease.ttl_ms));
    } else if ("release_lease" in action) {
      this.emit({ type: "action", at, action: "release_lease" });
      this.releaseLease?.();
    }
  }

  /** Slow work runs beside the loop and reports back as input. */
  private background(work: Promise<void>): void {
    this.busy++;
    work
      .catch(() => {
        // Each kind of work reports its own failure to the session.
      })
      .finally(() => {
        this.busy--;
        void this.pump();
      });
  }

  // ------------------------------------------------------------------------------
  // Performing actions
  // ------------------------------------------------------------------------------

  private async exchange(f: Extract<Action, { fetch: unknown }>["fetch"]): Promise<void> {
    await this.perform(f);
  }

  /**
   * The shared store's refresh lease (core's `acquire_lease`, with `shared_store` on
   * where several pages share the store): a Web Lock held until `release_lease`, or at
   * most `ttlMs`. Under the lock the stored snapshot goes to the session first
   * (`handleStoreUpdate`): when another page refreshed meanwhile, the session takes its
   * tokens and spends no rotated refresh token (RFC 9700 §4.14.2); otherwise it gets
   * the lease and refreshes.
   */
  private async lease(ttlMs: number): Promise<void> {
    const name = this.sharedLock();
    const locks = platform.locks;
    if (name === undefined || !locks) {
      this.input("handleLease", false, this.now());
      return;
    }
    await locks.request(name, () => new Promise<void>((release) => {
      const timer = setTimeout(() => end(), ttlMs);
      const end = () => {
        clearTimeout(timer);
        if (this.releaseLease === end) this.releaseLease = undefined;
        release();
      };
      this.releaseLease?.();
      this.releaseLease = end;
      void (async () => {
        try {
          const stored = await this.store.load();
          const before = this.session.snapshot();
          if (stored) this.input("handleStoreUpdate", stored, this.now());
          if (this.session.snapshot() !== before) this.emit({ type: "adopted", at: this.now() });
          // The session refreshes with the lease, or hands it straight back
          // (`release_lease`) when it no longer needs it: it took the stored tokens, or
          // stopped waiting.
          this.input("handleLease", true, this.now());
        } catch {
          end();
        } finally {
          await this.pump();
        }
      })();
    }));
  }

  /** Perform one HTTP exchange the session asked for and report the answer. */
  private async perform(f: Extract<Action, { fetch: unknown }>["fetch"]): Promise<void> {
    let response: Response;
    try {
      response = await this.http(f.url, {
        method: f.method,
        headers: f.headers,
        body: f.method === "GET" || f.method === "HEAD" ? undefined : f.body,
        redirect: "manual",
      });
    } catch {
      this.emit({ type: "fetched", at: this.now(), purpose: f.purpose, status: null });
      this.input("handleHttpError", f.id, "connect", this.now());
      return;
    }
    let body: Uint8Array;
    try {
      body = await readAtMost(response, this.maxBody + 1);
    } catch {
      this.emit({ type: "fetched", at: this.now(), purpose: f.purpose, status: null });
      this.input("handleHttpError", f.id, "io", this.now());
      return;
    }
    const headers: string[] = [];
    response.headers.forEach((value, name) => headers.push(name, value));
    this.emit({ type: "fetched", at: this.now(), purpose: f.purpose, status: response.status });
    this.input("handleHttpResponse", f.id, response.status, headers, body, this.now());
  }

  private async runHelper(): Promise<void> {
    const spec = this.options.helper;
    if (!spec) {
      this.input("handleHelperFailure", undefined, this.now());
      return;
    }
    try {
      if ("run" in spec) {
        const out = await spec.run();
        const bytes =
          out instanceof Uint8Array
            ? out
            : new TextEncoder().encode(typeof out === "string" ? out : JSON.stringify(out));
        this.input("handleHelperStdout", bytes, this.now());
        return;
      }
      if (!platform.runCommand) {
        this.input("handleHelperFailure", undefined, this.now());
        return;
      }
      const result = await platform.runCommand(spec, this.maxHelperOutput + 1, this.helperDeadline);
      if ("stdout" in result) this.input("handleHelperStdout", result.stdout, this.now());
      else this.input("handleHelperFailure", result.exitCode ?? undefined, this.now());
    } catch {
      this.input("handleHelperFailure", undefined, this.now());
    }
  }

  private async authorize(url: string): Promise<void> {
    let redirect: string | void;
    try {
      redirect = await this.options.onAuthorizationUrl?.(url);
      if (typeof redirect !== "string" && !this.options.onAuthorizationUrl) {
        const authorizer = this.options.authorize ?? platform.defaultAuthorizer(this.options);
        if (!authorizer) throw new Error("no way to run authorization here");
        const redirectUri = this.options.oauth?.redirect_uri ?? "";
        redirect = await authorizer(url, {
          redirectUri,
          fetch: this.http,
          saveForRedirect: () => {
            const pending = this.session.pendingAuthorization();
            if (!platform.saveRedirect || !pending) {
              throw new Error("this session cannot resume after a full-page redirect");
            }
            platform.saveRedirect(this.redirectKey(), {
              config: this.config,
              snapshot: this.session.snapshot(),
              pending,
            });
          },
        });
      }
    } catch {
      this.input("handleAuthorizeError", this.now());
      return;
    }
    if (typeof redirect !== "string") return; // The host calls handleRedirect itself.
    try {
      this.input("handleRedirect", redirect, this.now());
    } catch {
      // Refused (the session says why in lastError and ends or keeps the flow).
    }
  }
}

/** Core's `Config` JSON from the options. */
function configJson(o: AuthOptions, sharedStore: boolean): Record<string, unknown> {
  const credential = o.helper
    ? { kind: "header_helper", ttl_ms: o.helper.ttlMs ?? null }
    : { kind: "oauth", ...(o.oauth ?? {}) };
  const config: Record<string, unknown> = { resource_url: o.resourceUrl, credential };
  // Pages sharing a store take a refresh lease first (core's `shared_store`).
  if (sharedStore) config.policy = { shared_store: true, ...o.policy };
  else if (o.policy) config.policy = o.policy;
  return config;
}

/** The body, stopping after `limit` bytes (the session refuses longer bodies itself). */
async function readAtMost(response: Response, limit: number): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.byteLength;
    if (total >= limit) {
      await reader.cancel();
      break;
    }
  }
  const out = new Uint8Array(Math.min(total, limit));
  let at = 0;
  for (const c of chunks) {
    const take = Math.min(c.byteLength, out.byteLength - at);
    out.set(c.subarray(0, take), at);
    at += take;
    if (at >= out.byteLength) break;
  }
  return out;
}

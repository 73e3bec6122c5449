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
import type { Action, FetchPurpose, Glue, Phase, SnapshotJson, Stats, WasmSession } from "./wasm.js";

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
  /** A journal saved before a full-page redirect, to resume from (browsers). */
  takeRedirectJournal?(key: string): { journal: Journal; url: string } | undefined;
  saveRedirectJournal?(key: string, journal: Journal): void;
}

let platform: Platform = { defaultAuthorizer: () => undefined };

/** Inputs kept for a redirect resume (about 50 bytes each in `sessionStorage`). */
const MAX_JOURNAL = 20000;

/** Set by the platform entry. */
export function setPlatform(p: Platform): void {
  platform = p;
}

/** Every input the session got since it was made, to rebuild it exactly (the machine is deterministic). */
export interface Journal {
  config: string;
  seed: number[];
  start: number;
  snapshot: string | null;
  calls: [string, unknown[]][];
}

/** One caller's request: sends and the final failure arrive here. */
interface Call {
  id: number;
  onSend: ((headers: [string, string][]) => void) | undefined;
  onFail: ((e: BearerflowError) => void) | undefined;
  pending: { headers?: [string, string][]; error?: BearerflowError } | undefined;
}

/** A session being driven. */
export class Driver {
  private session!: WasmSession;
  private journal!: Journal;
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

  constructor(private readonly options: AuthOptions) {
    this.store = options.store ?? memoryStore();
    const f = options.fetch ?? globalThis.fetch;
    this.http = (input, init) => f(input, init);
    this.now = options.now ?? Date.now;
    this.config = JSON.stringify(configJson(options));
  }

  /** Load the module, restore stored tokens (or resume a redirect), start the loop. */
  start(): Promise<void> {
    this.started ??= this.init();
    return this.started;
  }

  private async init(): Promise<void> {
    if (this.options.wasm !== undefined) platform.useWasm?.(this.options.wasm);
    const g = await glue();
    const resumed = platform.takeRedirectJournal?.(this.journalKey());
    if (resumed && resumed.journal.config === this.config) {
      const begun = this.replay(g, resumed.journal);
      try {
        this.input("handleRedirect", resumed.url, this.now());
      } catch {
        // A stale or forged redirect: the session goes on without it.
      }
      for (const id of begun) this.input("cancelRequest", id);
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
    this.journal = { config: this.config, seed: Array.from(seed), start, snapshot, calls: [] };
  }

  /**
   * Rebuild the session of a journal: same seed, same inputs at the same times, so
   * the same PKCE verifier and `state` wait for the redirect. What the session asked
   * for then was done then, so its actions are drained unperformed. Returns the ids of
   * the requests begun then: their callers left with the page.
   */
  private replay(g: Glue, j: Journal): number[] {
    const seed = Uint8Array.from(j.seed);
    this.session = j.snapshot
      ? g.Session.restore(j.config, j.snapshot, seed, j.start)
      : new g.Session(j.config, seed, j.start);
    this.journal = { ...j, calls: [] };
    const begun: number[] = [];
    for (const [method, args] of j.calls) {
      let result: unknown;
      try {
        result = this.input(method, ...args.map(revive));
      } catch {
        // It threw the first time too (a refused redirect): the same outcome.
      }
      if (method === "beginRequest" && typeof result === "number") begun.push(result);
      while (this.session.pollAction() !== undefined) {
        /* performed before the page left */
      }
    }
    return begun;
  }

  private journalKey(): string {
    return `bearerflow:redirect:${this.options.resourceUrl}`;
  }

  /**
   * Inputs are recorded so that a full-page redirect can rebuild this exact session
   * (only where the platform can resume one: browsers). Bounded: past
   * {@link MAX_JOURNAL} inputs the journal is dropped and a redirect authorization
   * fails instead (the session records why; a popup or the hook still work).
   */
  private record(method: string, args: unknown[]): void {
    const j = this.journal;
    if (!platform.saveRedirectJournal || j.calls.length > MAX_JOURNAL) return;
    if (j.calls.length === MAX_JOURNAL) {
      j.calls.push(["overflow", []]);
      return;
    }
    j.calls.push([method, args.map((a) => (a instanceof Uint8Array ? { bytes: Array.from(a) } : a))]);
  }

  /** Call a session input, recording it. */
  private input(method: string, ...args: unknown[]): unknown {
    this.record(method, args);
    const f = (this.session as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
    if (!f) throw new Error(`bearerflow: no session method ${method}`);
    return f.apply(this.session, args);
  }

  // ------------------------------------------------------------------------------
  // What callers use
  // ------------------------------------------------------------------------------

  /** Begin a request: its first `send` (headers to attach) or its failure follows. */
  async begin(signal?: AbortSignal | null): Promise<{ id: number; headers: [string, string][] }> {
    await this.start();
    signal?.throwIfAborted();
    const id = this.input("beginRequest", this.now()) as number;
    const call: Call = { id, onSend: undefined, onFail: undefined, pending: undefined };
    this.calls.set(id, call);
    void this.pump();
    const headers = await this.nextSend(call, signal);
    return { id, headers };
  }

  /** Wait for the next `send` (or the `fail`) of request `id`. */
  next(id: number, signal?: AbortSignal | null): Promise<[string, string][]> {
    const call = this.calls.get(id);
    if (!call) return Promise.reject(new BearerflowError("cancelled"));
    return this.nextSend(call, signal);
  }

  private nextSend(call: Call, signal?: AbortSignal | null): Promise<[string, string][]> {
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
        else resolve(p.headers ?? []);
        return true;
      };
      if (take()) return;
      signal?.addEventListener("abort", onAbort, { once: true });
      call.onSend = (headers) => {
        call.onSend = call.onFail = undefined;
        settle();
        resolve(headers);
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
      if (call.onSend) call.onSend(action.send.headers);
      else call.pending = { headers: action.send.headers };
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
    const name = this.store.sharedName;
    const locks = platform.locks;
    if (f.purpose === "refresh" && name !== undefined && locks) {
      // Several pages share these tokens: one refreshes at a time, and a page that
      // finds the stored refresh token already rotated by another takes that page's
      // tokens instead of spending its own, stale one (which rotation would refuse,
      // RFC 9700 §4.14.2). The lock is held until the new tokens are stored.
      await locks.request(`bearerflow:${name}`, async () => {
        const adopted = await this.adoptStored(f.id);
        if (!adopted) await this.perform(f);
        await this.pump();
      });
      return;
    }
    await this.perform(f);
  }

  /**
   * The tokens another page stored, when its refresh token differs from the one this
   * session is about to spend.
   *
   * WORKAROUND until core can adopt a snapshot (see the binding's report): the
   * refresh exchange is answered with the stored tokens as a token response.
   */
  private async adoptStored(fetchId: number): Promise<boolean> {
    let stored: SnapshotJson | undefined;
    try {
      const text = await this.store.load();
      stored = text ? (JSON.parse(text) as SnapshotJson) : undefined;
    } catch {
      return false;
    }
    const theirs = stored?.tokens;
    const mine = (JSON.parse(this.session.snapshot()) as SnapshotJson).tokens;
    // Only tokens another page obtained after this session's own: an older snapshot
    // (one whose store write failed here) is never taken back.
    if (
      !theirs?.refresh_token ||
      !mine?.refresh_token ||
      theirs.refresh_token === mine.refresh_token ||
      theirs.received_at <= mine.received_at
    ) {
      return false;
    }
    const now = this.now();
    const body: Record<string, unknown> = {
      access_token: theirs.access_token,
      token_type: "Bearer",
      refresh_token: theirs.refresh_token,
    };
    if (theirs.expires_at != null) body.expires_in = Math.max(Math.floor((theirs.expires_at - now) / 1000), 0);
    if (theirs.scope != null) body.scope = theirs.scope;
    this.emit({ type: "adopted", at: now });
    this.input(
      "handleHttpResponse",
      fetchId,
      200,
      ["content-type", "application/json"],
      new TextEncoder().encode(JSON.stringify(body)),
      now,
    );
    return true;
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
            if (!platform.saveRedirectJournal || this.journal.calls.length > MAX_JOURNAL) {
              throw new Error("this session cannot resume after a full-page redirect");
            }
            platform.saveRedirectJournal(this.journalKey(), this.journal);
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

/** A recorded argument back to what the session takes. */
function revive(a: unknown): unknown {
  if (a && typeof a === "object" && "bytes" in a) return Uint8Array.from((a as { bytes: number[] }).bytes);
  return a;
}

/** Core's `Config` JSON from the options. */
function configJson(o: AuthOptions): Record<string, unknown> {
  const credential = o.helper
    ? { kind: "header_helper", ttl_ms: o.helper.ttlMs ?? null }
    : { kind: "oauth", ...(o.oauth ?? {}) };
  const config: Record<string, unknown> = { resource_url: o.resourceUrl, credential };
  if (o.policy) config.policy = o.policy;
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

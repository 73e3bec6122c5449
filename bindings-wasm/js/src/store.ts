/**
 * Where the session's snapshot (tokens, client registration, authorization server)
 * lives between runs. The snapshot is JSON text written by core; a store keeps it
 * whole. `save` is awaited before the session does anything else: with rotating
 * refresh tokens (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2) the old refresh token is spent
 * the moment the new one arrives.
 */
export interface Store {
  /** The stored snapshot text, or `null`. */
  load(): Promise<string | null> | string | null;
  /** Replace the stored snapshot. A throw (or rejection) makes the session ask again later. */
  save(snapshot: string): Promise<void> | void;
  /**
   * A name shared by every page or process that uses the same stored tokens: with Web
   * Locks (`navigator.locks`) only one of them refreshes at a time. Set by the
   * `localStorage` adapter; `undefined` for stores private to one session.
   */
  readonly sharedName?: string;
}

/** Keeps the snapshot in memory: for tests and for processes that start fresh. */
export function memoryStore(initial?: string | null): Store & { current(): string | null } {
  let text: string | null = initial ?? null;
  return {
    load: () => text,
    save: (s: string) => {
      text = s;
    },
    current: () => text,
  };
}

/** Minimal `Storage` shape (`localStorage`, `sessionStorage`). */
export interface WebStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * A store in a Web Storage area under `key`. With `shared`, pages of the same origin
 * that use the same key coordinate refreshes with Web Locks (see
 * {@link Store.sharedName}).
 */
export function webStorageStore(storage: WebStorage, key: string, shared: boolean): Store {
  return {
    load: () => storage.getItem(key),
    save: (s: string) => storage.setItem(key, s),
    sharedName: shared ? key : undefined,
  };
}

/**
 * `localStorage` under `key` (default `bearerflow`): survives reloads and is shared by
 * every tab of the origin, which refresh one at a time through Web Locks.
 */
export function localStorageStore(key = "bearerflow"): Store {
  return webStorageStore(globalThis.localStorage, key, true);
}

/** `sessionStorage` under `key`: survives reloads of this tab only. */
export function sessionStorageStore(key = "bearerflow"): Store {
  return webStorageStore(globalThis.sessionStorage, key, false);
}

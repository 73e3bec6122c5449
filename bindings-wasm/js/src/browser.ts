/**
 * The browser entry (bundlers pick it through the `browser` export condition): the
 * module is fetched beside this file (or from `options.wasm`), authorization runs by
 * full-page redirect unless told otherwise, and pages of one origin that share tokens
 * in `localStorage` refresh one at a time through Web Locks.
 */

import init, * as wasmGlue from "bearerflow-wasm-glue";
import type { Platform, SavedRedirect } from "./driver.js";
import { setPlatform } from "./driver.js";
import { redirect } from "./authorize.js";
import type { Glue } from "./wasm.js";
import { setLoader } from "./wasm.js";

export * from "./common.js";

let source: unknown;

/**
 * Where the `.wasm` file is (a URL, a `Response`, bytes or a compiled module), when it
 * is not beside this script. Call before the first request.
 */
export function setWasmSource(wasm: URL | string | WebAssembly.Module | BufferSource): void {
  source = wasm;
}

setLoader(async () => {
  await init(source === undefined ? undefined : { module_or_path: source });
  return wasmGlue as unknown as Glue;
});

/** Query parameters an authorization response carries (RFC 6749 §4.1.2, RFC 9207). */
const RESPONSE_PARAMS = ["code", "state", "iss", "error", "error_description", "error_uri"];

const platform: Platform = {
  defaultAuthorizer: () => redirect(),
  useWasm: setWasmSource,
  locks: globalThis.navigator?.locks as Platform["locks"],
  saveRedirect(key: string, saved: SavedRedirect) {
    globalThis.sessionStorage.setItem(key, JSON.stringify(saved));
  },
  takeRedirect(key: string) {
    const text = globalThis.sessionStorage?.getItem(key);
    if (!text) return undefined;
    const here = new URL(globalThis.location.href);
    if (!here.searchParams.has("state") && !here.searchParams.has("error")) return undefined;
    globalThis.sessionStorage.removeItem(key);
    const url = here.href;
    // The code is single-use and now the session's: keep it out of history and reloads.
    for (const p of RESPONSE_PARAMS) here.searchParams.delete(p);
    globalThis.history?.replaceState(globalThis.history.state, "", here.href);
    try {
      return { saved: JSON.parse(text) as SavedRedirect, url };
    } catch {
      return undefined;
    }
  },
};
setPlatform(platform);

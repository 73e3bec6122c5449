/**
 * The wasm-bindgen output, bundled in by esbuild (`bearerflow-wasm-glue` is an alias:
 * the `nodejs` target's glue for Node, the `web` target's for browsers). Its real types
 * are `Glue` in `wasm.ts`; the xtask checks the generated `.d.ts` against it.
 */
declare module "bearerflow-wasm-glue" {
  export const Session: unknown;
  export const parseChallenges: unknown;
  export const parseChallengeBytes: unknown;
  export const renderChallenge: unknown;
  export const Guard: unknown;
  export const protectedResourceMetadata: unknown;
  export const protectedResourceMetadataUrl: unknown;
  /** Web target only: instantiate from a URL, a response, bytes or a module. */
  export default function init(input?: { module_or_path: unknown }): Promise<unknown>;
}

/**
 * Why a request could not be made: core's `Fail` action as a JavaScript error. `code`
 * is core's `RequestError` code (`reauthorization_required`, `unauthorized`,
 * `token_endpoint_unavailable`, `helper_failed`, `authorization_failed`, `timeout`,
 * `cancelled`, …) and `cause`, when something failed underneath, core's
 * `SessionError` as `{code, message}`. Messages never carry a token.
 */
export class BearerflowError extends Error {
  readonly code: string;
  readonly detail: { code: string; message: string } | undefined;

  constructor(code: string, detail?: { code: string; message: string } | null, message?: string) {
    super(message ?? (detail ? `${code}: ${detail.code}: ${detail.message}` : code));
    this.name = "BearerflowError";
    this.code = code;
    this.detail = detail ?? undefined;
  }
}

/** An error from the wasm module (it carries core's `code`), or any other thrown value. */
export function codeOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string"
    ? (e as { code: string }).code
    : undefined;
}

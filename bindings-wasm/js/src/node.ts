/**
 * The Node entry (`require("bearerflow")`, `import … from "bearerflow"` in Node): the
 * module is loaded from the file beside this one, header helpers run as commands, the
 * browser part of authorization comes back to a loopback listener, and tokens can live
 * in a file.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname } from "node:path";
import * as wasmGlue from "bearerflow-wasm-glue";
import type { Authorizer, Platform } from "./driver.js";
import { setPlatform } from "./driver.js";
import type { Store } from "./store.js";
import type { Glue } from "./wasm.js";
import { setLoader } from "./wasm.js";

export * from "./common.js";
export {
  bearerGuard,
  hasSseMessage,
  insufficientScope,
  introspectionVerifier,
  readIntrospection,
  upstreamTokenExpired,
} from "./server.js";
export type {
  BearerGuard,
  GuardAuthInfo,
  GuardOptions,
  IntrospectionOptions,
  Signalled,
  TokenStatus,
} from "./server.js";

setLoader(async () => wasmGlue as unknown as Glue);

const platform: Platform = {
  defaultAuthorizer: (options) => {
    const uri = options.oauth?.redirect_uri;
    return uri && isLoopback(uri) ? loopback() : undefined;
  },
  runCommand,
  locks: (globalThis as { navigator?: { locks?: Platform["locks"] } }).navigator?.locks,
};
setPlatform(platform);

function isLoopback(uri: string): boolean {
  try {
    const u = new URL(uri);
    return u.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(u.hostname);
  } catch {
    return false;
  }
}

/**
 * Run a header helper: its standard output, or its exit status when it fails. Output is
 * read up to `maxOutput` bytes (the session refuses longer output itself).
 */
function runCommand(
  spec: { command: string; args?: string[]; cwd?: string; env?: Record<string, string> },
  maxOutput: number,
  timeoutMs: number,
): Promise<{ stdout: Uint8Array } | { exitCode: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(spec.command, spec.args ?? [], {
      cwd: spec.cwd,
      env: spec.env ? { ...process.env, ...spec.env } : process.env,
      stdio: ["ignore", "pipe", "inherit"],
      // Past the session's deadline for it, a hung helper is killed.
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on("data", (c: Buffer) => {
      if (size < maxOutput) chunks.push(c);
      size += c.length;
    });
    child.on("error", () => resolve({ exitCode: null }));
    child.on("close", (code) => {
      if (code === 0 && !child.killed) resolve({ stdout: new Uint8Array(Buffer.concat(chunks).subarray(0, maxOutput)) });
      else resolve({ exitCode: code });
    });
  });
}

/**
 * Tokens in a file, readable by its owner only (mode 0600), replaced atomically (written
 * beside it, then renamed over it), so a crash never leaves half a snapshot.
 */
export function fileStore(path: string): Store {
  return {
    async load() {
      try {
        return await readFile(path, "utf8");
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return null;
        throw e;
      }
    },
    async save(text: string) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
      const file = await open(tmp, "wx", 0o600);
      try {
        await file.writeFile(text, "utf8");
        await file.sync();
      } finally {
        await file.close();
      }
      try {
        await rename(tmp, path);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw e;
      }
    },
  };
}

/**
 * The browser part of authorization for a Node program (RFC 8252 §7.3): listen on the
 * loopback redirect URI, show the authorization URL with `open` (default: print it to
 * standard error), and resolve with the URL the browser comes back to.
 */
export function loopback(open: (url: string) => void = (url) => console.error(`Open ${url}`)): Authorizer {
  return (url, context) =>
    new Promise<string>((resolve, reject) => {
      const redirect = new URL(context.redirectUri);
      const server = createServer((req, res) => {
        const back = new URL(req.url ?? "/", redirect);
        if (back.pathname !== redirect.pathname) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end("Authorization finished: you can close this window.");
        server.close();
        resolve(back.href);
      });
      server.on("error", reject);
      server.listen(Number(redirect.port || 80), redirect.hostname.replace(/^\[|\]$/g, ""), () => open(url));
    });
}

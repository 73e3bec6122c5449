/**
 * Ways to run the browser part of authorization (RFC 6749 §4.1.1–4.1.2, RFC 8252 for
 * native apps). Each resolves with the URL the browser came back to; the session
 * checks it (`state`, `iss` per RFC 9207, `code`) and exchanges the code.
 */

import type { Authorizer } from "./driver.js";

/**
 * Follow the authorization endpoint's redirects without a browser until they reach the
 * redirect URI (tests, and servers that approve without a user, like the testbed).
 */
export function headless(maxRedirects = 10): Authorizer {
  return async (url, context) => {
    let at = url;
    for (let hop = 0; hop <= maxRedirects; hop++) {
      if (context.redirectUri && at.startsWith(context.redirectUri)) return at;
      const response = await context.fetch(at, { redirect: "manual" });
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || !location) {
        throw new Error(`authorization endpoint answered ${response.status} without a redirect`);
      }
      at = new URL(location, at).href;
    }
    throw new Error("authorization: too many redirects");
  };
}

/**
 * Full-page redirect (browsers): the page goes to the authorization server and comes
 * back to the redirect URI (this app's page). What the session needs to finish is
 * saved in `sessionStorage` first: its snapshot and core's pending authorization
 * (`state`, the PKCE verifier, the deadline), so they stay in this tab, as an SDK's
 * stored verifier would, and are removed as soon as the page is back.
 * `createAuthFetch` on the returning page resumes the flow by itself. Never resolves:
 * the page leaves.
 */
export function redirect(): Authorizer {
  return (url, context) => {
    context.saveForRedirect();
    globalThis.location.assign(url);
    return new Promise<string>(() => undefined);
  };
}

/**
 * A popup window (browsers): resolves when the popup reaches the redirect URI (which
 * must be of this page's origin), then closes it. Rejects if the popup is blocked or
 * closed first.
 */
export function popup(features = "popup,width=600,height=720"): Authorizer {
  return (url, context) =>
    new Promise<string>((resolve, reject) => {
      const w = globalThis.open(url, "bearerflow-authorize", features);
      if (!w) {
        reject(new Error("the popup was blocked"));
        return;
      }
      const poll = setInterval(() => {
        if (w.closed) {
          clearInterval(poll);
          reject(new Error("the popup was closed before authorization finished"));
          return;
        }
        let href: string;
        try {
          href = w.location.href; // throws while the popup shows another origin
        } catch {
          return;
        }
        if (href.startsWith(context.redirectUri)) {
          clearInterval(poll);
          w.close();
          resolve(href);
        }
      }, 100);
    });
}

// The server half in Node: `bearerGuard`'s exact answers (core's guard through the
// WebAssembly module), the check list of the proposed conformance scenario for server
// token validation, escaping and refused values, and the rule for `upstreamTokenExpired()`
// on responses an SDK has already begun (JSON and SSE), on Node's `http` and Express.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { connect } from "node:net";
import express from "express";
import {
  bearerGuard,
  createGuard,
  hasSseMessage,
  insufficientScope,
  introspectionVerifier,
  readIntrospection,
  upstreamTokenExpired,
} from "bearerflow";

const PRM_PATH = "/.well-known/oauth-protected-resource/mcp";

/** A server on a free loopback port; `handler(req, res)` after the guard. */
async function serve(t, options, handler) {
  let guard;
  const server = createServer((req, res) => {
    if (req.url.startsWith("/.well-known/")) return guard.metadata(req, res);
    guard(req, res, () => handler(req, res));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const resource = `${origin}/mcp`;
  guard = bearerGuard({ resource, verify: tableVerifier(resource), ...options });
  await guard.ready();
  return { origin, resource, prm: `${origin}${PRM_PATH}` };
}

/** Tokens by name, as the Rust layer's tests use them. */
function tableVerifier(resource) {
  return async (token) => {
    const valid = (audiences, scope) => ({ valid: { audiences, scope, subject: "user-1" } });
    switch (token) {
      case "good":
        return valid(["https://other.example/", resource], "mcp:tools");
      case "other-aud":
        return valid(["https://other.example/mcp"], "mcp:tools");
      case "no-aud":
        return valid([], "mcp:tools");
      case "expired":
        return "expired";
      case "dpop-bound":
        return "proof_of_possession";
      case "down":
        throw new Error("the authorization server is down");
      default:
        return "invalid";
    }
  };
}

async function call(url, headers = {}) {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" });
  return { status: r.status, challenge: r.headers.get("www-authenticate"), body: await r.text(), headers: r.headers };
}

test("every outcome has core's exact header, status and body", async (t) => {
  const { resource, prm } = await serve(t, { realm: "mcp" }, (req, res) => res.end("served"));
  const invalidToken = (d) => `Bearer realm="mcp", error="invalid_token", error_description="${d}", resource_metadata="${prm}"`;
  const invalidRequest = (d) => `Bearer realm="mcp", error="invalid_request", error_description="${d}", resource_metadata="${prm}"`;
  const cases = [
    [{}, 401, `Bearer realm="mcp", resource_metadata="${prm}"`, "unauthorized"],
    [{ authorization: "Basic YWxhZGRpbjpvcGVu" }, 400, invalidRequest('the Authorization header is not \\"Bearer <token>\\"'), "invalid_request"],
    [{ authorization: "DPoP good" }, 400, invalidRequest("DPoP-bound access tokens are not supported by this resource"), "invalid_request"],
    [{ authorization: "Bearer dpop-bound" }, 400, invalidRequest("DPoP-bound access tokens are not supported by this resource"), "invalid_request"],
    [{ authorization: "Bearer forged" }, 401, invalidToken("the access token is not valid"), "invalid_token"],
    [{ authorization: "Bearer expired" }, 401, invalidToken("the access token expired"), "invalid_token"],
    [{ authorization: "Bearer other-aud" }, 401, invalidToken("the access token was issued for another resource"), "invalid_token"],
    [{ authorization: "Bearer no-aud" }, 401, invalidToken("the access token names no audience"), "invalid_token"],
  ];
  for (const [headers, status, challenge, error] of cases) {
    const r = await call(resource, headers);
    assert.equal(r.status, status, JSON.stringify(headers));
    assert.equal(r.challenge, challenge, JSON.stringify(headers));
    assert.equal(JSON.parse(r.body).error, error);
  }
  // A token in the query string, with or without a header.
  for (const headers of [{}, { authorization: "Bearer good" }]) {
    const r = await call(`${resource}?x=1&access_token=good`, headers);
    assert.equal(r.status, 400);
    assert.equal(r.challenge, invalidRequest("access tokens must be sent in the Authorization header, not the query string"));
  }
  // Two credentials (Node keeps only the first in req.headers; the guard reads them all).
  const url = new URL(resource);
  const raw = await new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `POST /mcp HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer good\r\nAuthorization: Bearer good\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
    });
    let text = "";
    socket.on("data", (d) => (text += d));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
  assert.match(raw, /^HTTP\/1\.1 400 /);
  const line = raw.split("\r\n").find((l) => l.toLowerCase().startsWith("www-authenticate:"));
  assert.equal(line.slice("www-authenticate: ".length), invalidRequest("more than one access token was presented"));
  // The verifier could not tell: 503, no challenge.
  const down = await call(resource, { authorization: "Bearer down" });
  assert.equal(down.status, 503);
  assert.equal(down.challenge, null);
  assert.equal(down.headers.get("retry-after"), "5");
});

test("the conformance check list for server token validation", async (t) => {
  const { resource, prm } = await serve(t, {}, (req, res) => res.end(`hello ${req.auth.extra.subject}`));
  // Unauthenticated: rejected, and told where to discover.
  const none = await call(resource);
  assert.equal(none.status, 401);
  assert.equal(none.challenge, `Bearer resource_metadata="${prm}"`);
  // Valid audience: accepted.
  const ok = await call(resource, { authorization: "Bearer good" });
  assert.deepEqual([ok.status, ok.body], [200, "hello user-1"]);
  // Wrong audience, missing audience, expired, untrusted: rejected.
  for (const token of ["other-aud", "no-aud", "expired", "forged"]) {
    const r = await call(resource, { authorization: `Bearer ${token}` });
    assert.equal(r.status, 401, token);
    assert.match(r.challenge, /error="invalid_token"/, token);
  }
});

test("quotes and backslashes are escaped; control characters are refused", async (t) => {
  const { resource, prm } = await serve(t, { realm: 'say "hi" \\ bye' }, (req, res) => res.end());
  const r = await call(resource);
  assert.equal(r.challenge, `Bearer realm="say \\"hi\\" \\\\ bye", resource_metadata="${prm}"`);
  for (const bad of ["a\r\nSet-Cookie: x=1", "bell\u0007", "esc\u001b[2J", "del\u007f"]) {
    const guard = bearerGuard({ resource: "https://mcp.example.com/mcp", verify: () => "invalid", realm: bad });
    await assert.rejects(guard.ready(), (e) => e.code === "control_character", JSON.stringify(bad));
    await assert.rejects(createGuard("https://mcp.example.com/mcp", { realm: bad }), (e) => e.code === "control_character");
  }
  await assert.rejects(createGuard("https://mcp.example.com/mcp", { realm: "café" }), (e) => e.code === "non_ascii");
  // Core's guard directly: an unquotable required scope is left out, not sent broken.
  const g = await createGuard("https://mcp.example.com/mcp");
  const refusal = g.decide({ valid: { scope: "", audiences: ["https://mcp.example.com/mcp"] } }, "a\nb");
  assert.equal(refusal.status, 403);
  assert.ok(!refusal.www_authenticate.includes("\n") && !refusal.www_authenticate.includes("scope="));
  assert.equal(g.decide({ valid: { scope: "x", audiences: ["https://mcp.example.com/mcp"] } }, "x"), undefined);
  assert.throws(() => g.decide({ nonsense: true }, undefined), (e) => e.code === "invalid_verification");
});

test("the metadata route serves core's document at the path-inserted URL", async (t) => {
  const { origin, resource } = await serve(
    t,
    { authorizationServers: ["https://auth.example.com"], scopesSupported: ["mcp:tools"] },
    (req, res) => res.end(),
  );
  const r = await fetch(`${origin}${PRM_PATH}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(await r.json(), {
    resource,
    authorization_servers: ["https://auth.example.com"],
    bearer_methods_supported: ["header"],
    scopes_supported: ["mcp:tools"],
  });
  assert.equal((await fetch(`${origin}${PRM_PATH}`, { method: "POST" })).status, 405);
});

test("the SSE scanner tells priming events and comments from messages", () => {
  assert.equal(hasSseMessage(Buffer.from("id: 0\nretry: 3000\ndata: \n\n")), false);
  assert.equal(hasSseMessage(Buffer.from(": keep-alive\n\n")), false);
  assert.equal(hasSseMessage(Buffer.from("event: message\ndata: {}")), false);
  assert.equal(hasSseMessage(Buffer.from("data: {}\r\n\r")), false);
  assert.equal(hasSseMessage(Buffer.from("id: 0\ndata:\n\nevent: message\ndata: {}\n\n")), true);
  assert.equal(hasSseMessage(Buffer.from("data:x\r\n\r\n")), true);
});

const PRIMING = "id: 0\nretry: 3000\ndata: \n\n";
const MESSAGE = 'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{"content":[]}}\n\n';
const UPSTREAM = "the access token expired upstream; renew it and retry";

/** What an SDK does: the SSE head at once, then events as the tool runs. */
function sseHandler(script) {
  return (req, res) => {
    res.setHeader("mcp-session-id", "s-1");
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    script(res);
  };
}

test("SSE: a signal before the first message turns the begun 200 into a 401", async (t) => {
  const signals = [];
  const { resource, prm } = await serve(
    t,
    {},
    sseHandler((res) => {
      res.write(PRIMING);
      res.write(": keep-alive\n\n");
      setTimeout(() => {
        signals.push(upstreamTokenExpired());
        // What the SDK then writes (a JSON-RPC error event) goes nowhere.
        res.write('event: message\ndata: {"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"upstream 401"}}\n\n');
        res.end();
      }, 10);
    }),
  );
  const r = await call(resource, { authorization: "Bearer good" });
  assert.equal(r.status, 401);
  assert.equal(
    r.challenge,
    `Bearer error="invalid_token", error_description="${UPSTREAM}", resource_metadata="${prm}"`,
  );
  assert.deepEqual(JSON.parse(r.body), { error: "invalid_token", error_description: UPSTREAM });
  assert.equal(r.headers.get("mcp-session-id"), null, "the SDK's headers are not sent");
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.deepEqual(signals, ["accepted"]);
});

test("SSE: after the first message a signal is too late, and the stream is intact", async (t) => {
  const signals = [];
  let release;
  const released = new Promise((r) => (release = r));
  const { resource } = await serve(
    t,
    {},
    sseHandler((res) => {
      res.write(PRIMING);
      res.write(MESSAGE.slice(0, 20));
      res.write(MESSAGE.slice(20));
      released.then(() => {
        signals.push(upstreamTokenExpired());
        res.write("data: second\n\n");
        res.end();
      });
    }),
  );
  const response = await fetch(resource, { method: "POST", headers: { authorization: "Bearer good" }, body: "{}" });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  assert.equal(response.headers.get("mcp-session-id"), "s-1");
  release();
  assert.equal(await response.text(), PRIMING + MESSAGE + "data: second\n\n", "every byte, in order");
  assert.deepEqual(signals, ["too_late"]);
});

test("JSON: a handler that signals before it answers gets the 401; scope signals get 403; GET is not held", async (t) => {
  const signals = [];
  const { resource, prm } = await serve(t, {}, (req, res) => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.flushHeaders();
      return; // a standalone stream: no event yet, and it must not be held
    }
    const scope = req.url.includes("scope");
    signals.push(scope ? insufficientScope("mcp:tools mcp:admin") : upstreamTokenExpired());
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", id: 1, error: { code: -32603, message: "upstream 401" } }));
  });
  const r = await call(resource, { authorization: "Bearer good" });
  assert.equal(r.status, 401);
  assert.ok(!r.body.includes("jsonrpc"), r.body);
  const s = await call(`${resource}?scope`, { authorization: "Bearer good" });
  assert.equal(s.status, 403);
  assert.equal(
    s.challenge,
    `Bearer error="insufficient_scope", error_description="the request needs more scope than the token has", scope="mcp:tools mcp:admin", resource_metadata="${prm}"`,
  );
  assert.deepEqual(signals, ["accepted", "accepted"]);
  const controller = new AbortController();
  const get = await fetch(resource, { headers: { authorization: "Bearer good" }, signal: controller.signal });
  assert.equal(get.status, 200);
  controller.abort();
  assert.equal(upstreamTokenExpired(), "not_guarded", "outside a guarded request");
});

test("Express: the same guard as middleware, metadata beside it", async (t) => {
  const app = express();
  let guard;
  app.use((req, res, next) => guard.metadata(req, res, next));
  app.post("/mcp", (req, res, next) => guard(req, res, next), express.json(), (req, res) => {
    if (req.body.expire) {
      assert.equal(upstreamTokenExpired(), "accepted");
      res.json({ jsonrpc: "2.0", id: 1, error: { code: -32603, message: "upstream 401" } });
      return;
    }
    res.json({ ok: req.auth.scopes });
  });
  const server = await new Promise((r) => {
    const s = app.listen(0, "127.0.0.1", () => r(s));
  });
  t.after(() => new Promise((r) => server.close(r)));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const resource = `${origin}/mcp`;
  guard = bearerGuard({ resource, verify: tableVerifier(resource) });
  await guard.ready();
  const post = (body, auth) =>
    fetch(resource, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(body),
    });
  assert.equal((await post({}, undefined)).status, 401);
  const ok = await post({}, "Bearer good");
  assert.deepEqual(await ok.json(), { ok: ["mcp:tools"] });
  const expired = await post({ expire: true }, "Bearer good");
  assert.equal(expired.status, 401);
  assert.match(expired.headers.get("www-authenticate"), /expired upstream/);
  assert.equal((await fetch(`${origin}${PRM_PATH}`)).status, 200);
});

test("a signal on a response that is not held (DELETE) refuses it, and what the handler writes next is dropped", async (t) => {
  const signals = [];
  const { resource } = await serve(t, {}, (req, res) => {
    signals.push(upstreamTokenExpired());
    // Without the seal these would throw (headers sent) or emit "write after end".
    res.writeHead(200, { "content-type": "application/json" });
    res.write("{");
    res.end("}");
    signals.push(upstreamTokenExpired());
  });
  const r = await fetch(resource, { method: "DELETE", headers: { authorization: "Bearer good" } });
  assert.equal(r.status, 401);
  assert.match(r.headers.get("www-authenticate"), /error="invalid_token"/);
  assert.equal(JSON.parse(await r.text()).error, "invalid_token");
  assert.deepEqual(signals, ["accepted", "accepted"]);
});

test("RFC 7662 answers: what each introspection response means", () => {
  const now = 1_000_000;
  assert.equal(readIntrospection({ active: false }, now), "invalid");
  assert.equal(readIntrospection({ active: true, nbf: now + 60, aud: "x" }, now), "invalid", "not yet valid");
  assert.equal(readIntrospection({ active: true, exp: now, aud: "x" }, now), "expired");
  assert.equal(readIntrospection({ active: true, cnf: { jkt: "abc" }, aud: "x" }, now), "proof_of_possession");
  assert.equal(readIntrospection({ active: true, token_type: "DPoP", aud: "x" }, now), "proof_of_possession");
  assert.deepEqual(readIntrospection({ active: true, exp: now + 60, aud: "https://r/", scope: "a b", sub: "u", client_id: "c" }, now), {
    valid: { scope: "a b", audiences: ["https://r/"], subject: "u", clientId: "c", expiresAt: now + 60 },
  });
  assert.deepEqual(readIntrospection({ active: true, aud: ["a", 7, "b"] }, now).valid.audiences, ["a", "b"]);
  assert.deepEqual(readIntrospection({ active: true }, now).valid.audiences, [], "no aud: the guard refuses it");
  assert.throws(() => readIntrospection({ active: "yes" }, now), /active/);
});

test("introspectionVerifier: client authentication, one request per token while cached", async () => {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, init });
    const token = new URLSearchParams(init.body).get("token");
    if (token === "broken") return new Response("oops", { status: 500 });
    return Response.json({ active: true, aud: "https://r/", scope: "s", exp: Math.floor(Date.now() / 1000) + 3600 });
  };
  const verify = introspectionVerifier({ endpoint: "https://as.example/introspect", clientId: "rs 1", clientSecret: "p:w", fetch });
  const first = await verify("tok-a");
  assert.deepEqual(first.valid.audiences, ["https://r/"]);
  assert.deepEqual(await verify("tok-a"), first);
  assert.equal(requests.length, 1, "the second answer came from the cache");
  await verify("tok-b");
  assert.equal(requests.length, 2);
  const { url, init } = requests[0];
  assert.equal(url, "https://as.example/introspect");
  assert.equal(init.method, "POST");
  assert.equal(init.headers.authorization, `Basic ${Buffer.from("rs%201:p%3Aw").toString("base64")}`);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(init.body)), { token: "tok-a", token_type_hint: "access_token" });
  await assert.rejects(verify("broken"), /HTTP 500/);
  const uncached = introspectionVerifier({ endpoint: "https://as.example/introspect", cacheMs: 0, fetch });
  await uncached("tok-c");
  await uncached("tok-c");
  assert.equal(requests.length, 5, "cacheMs: 0 asks every time");
});

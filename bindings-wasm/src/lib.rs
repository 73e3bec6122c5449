//! bearerflow for JavaScript: the session machine and the `WWW-Authenticate` parser as
//! a WebAssembly module.
//!
//! The binding translates and decides nothing. [`Session`] mirrors
//! [`bearerflow::session::Session`] method for method: events go in as strings, numbers
//! and byte arrays; actions come out as plain JavaScript objects in core's one JSON
//! shape ([`Action::to_json`], described in `tests/vectors/README.md`), parsed by the
//! host's own `JSON.parse`. Times and ids are JavaScript numbers (unix milliseconds;
//! integers up to 2^53 are exact), never `BigInt`.
//!
//! The JavaScript layer of the npm package (`bindings-wasm/js/`) runs core's run loop
//! over `fetch` with this class: mutate, drain [`Session::poll_action`], wait until
//! [`Session::poll_timeout`].
//!
//! Errors are thrown as JavaScript `Error`s carrying a `code` property with core's
//! stable snake_case code (`config_invalid`, `snapshot_malformed`, `state_mismatch`, …)
//! and a message that never quotes a secret.
//!
//! [`Action::to_json`]: bearerflow::session::Action::to_json

mod challenge;
mod error;
mod guard;

pub use challenge::{parse_challenge_bytes, parse_challenges, render_challenge};
pub use guard::{protected_resource_metadata, protected_resource_metadata_url, Guard};

use bearerflow::secret::Secret;
use bearerflow::session::{
    Config, FetchId, HttpErrorKind, PendingAuthorization, RequestId, Session as Machine, Snapshot,
    Verdict,
};
use bearerflow::time::Timestamp;
use bearerflow::token::Generation;
use error::{coded, Result};
use wasm_bindgen::prelude::*;

/// One session: a credential for one protected resource, kept alive. The contract is
/// core's (`bearerflow::session` docs): after any `handle*` or application call, drain
/// `pollAction()` until it returns `undefined`, then call `handleTimeout(t)` at
/// `pollTimeout()` or on the next event, whichever comes first.
#[wasm_bindgen]
pub struct Session {
    inner: Machine,
}

#[wasm_bindgen]
impl Session {
    /// A new session from a configuration in JSON (core's `Config::from_json`: unknown
    /// fields and unusable values are refused with `config_malformed` /
    /// `config_invalid`). `seed` is 32 bytes from `crypto.getRandomValues`; `now` is
    /// unix milliseconds.
    #[wasm_bindgen(constructor)]
    pub fn new(config: &str, seed: &[u8], now: f64) -> Result<Session> {
        let config = read_config(config)?;
        Ok(Session {
            inner: Machine::new(config, read_seed(seed)?, time(now)?),
        })
    }

    /// A session restored from a snapshot the host stored (the JSON of a `persist`
    /// action). A newer snapshot version or a malformed one is refused
    /// (`snapshot_unsupported_version`, `snapshot_malformed`).
    pub fn restore(config: &str, snapshot: &str, seed: &[u8], now: f64) -> Result<Session> {
        let config = read_config(config)?;
        let snapshot = Snapshot::from_json(snapshot.as_bytes()).map_err(|e| coded(e.code(), e))?;
        Ok(Session {
            inner: Machine::restore(config, snapshot, read_seed(seed)?, time(now)?),
        })
    }

    // ---------------------------------------------------------------------------------
    // Getters
    // ---------------------------------------------------------------------------------

    /// The phase at `now`: `unauthorized`, `authorizing`, `fresh`, `expiring`,
    /// `expired`, `refreshing` or `failed`.
    pub fn phase(&self, now: f64) -> Result<String> {
        Ok(self.inner.phase(time(now)?).as_str().into())
    }

    /// Counters of what the machine asked for and saw (core's `Stats`, snake_case).
    pub fn stats(&self) -> Result<JsValue> {
        to_js(&self.inner.stats())
    }

    /// What a host should persist now, as JSON text (the `persist` action's payload).
    pub fn snapshot(&self) -> String {
        String::from(self.inner.snapshot().to_json().as_str())
    }

    /// What is wrong now, if anything: `{code, message}` or `undefined`.
    #[wasm_bindgen(js_name = lastError)]
    pub fn last_error(&self) -> Result<JsValue> {
        match self.inner.last_error() {
            Some(e) => to_js(e),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// How many begun requests are not finished yet.
    #[wasm_bindgen(js_name = pendingRequests)]
    pub fn pending_requests(&self) -> u32 {
        u32::try_from(self.inner.pending_requests()).unwrap_or(u32::MAX)
    }

    /// The policy in force (core's `Policy`, snake_case; durations in ms): a host reads
    /// `max_response_body` and `max_helper_output` from it to bound what it reads.
    pub fn policy(&self) -> Result<JsValue> {
        to_js(&self.inner.config().policy)
    }

    /// Whether a request to `url` is one the credential is for: the resource's origin
    /// (RFC 6750 §5.3: a bearer token goes only to the resource it is for). A wrapped
    /// `fetch` passes every other URL through untouched.
    pub fn covers(&self, url: &str) -> bool {
        self.inner.covers(url)
    }

    /// The authorization waiting for its redirect, as a plain object in core's serde
    /// shape (`PendingAuthorization`: `state`, `code_verifier`, `redirect_uri`,
    /// `deadline` in unix ms, `issuer`, `iss_required`), or `undefined`. A page that
    /// navigates away keeps it (it holds the PKCE verifier) in `sessionStorage` only as
    /// long as the redirect takes.
    #[wasm_bindgen(js_name = pendingAuthorization)]
    pub fn pending_authorization(&self) -> Result<JsValue> {
        match self.inner.pending_authorization() {
            Some(p) => to_js(&p),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    // ---------------------------------------------------------------------------------
    // Application calls
    // ---------------------------------------------------------------------------------

    /// The host wants to send a request to the resource: returns its id. A `send` or a
    /// `fail` action for this id follows.
    #[wasm_bindgen(js_name = beginRequest)]
    pub fn begin_request(&mut self, now: f64) -> Result<f64> {
        Ok(self.inner.begin_request(time(now)?).0 as f64)
    }

    /// The caller went away: the request ends with `fail` (`cancelled`).
    #[wasm_bindgen(js_name = cancelRequest)]
    pub fn cancel_request(&mut self, id: f64) -> Result<()> {
        self.inner.cancel_request(RequestId(number(id, "id")?));
        Ok(())
    }

    /// The host finished request `id` without a response to report (it handed the
    /// credential to another HTTP stack and does not see the answer). Nothing follows
    /// for `id`.
    #[wasm_bindgen(js_name = finishRequest)]
    pub fn finish_request(&mut self, id: f64) -> Result<()> {
        self.inner.finish_request(RequestId(number(id, "id")?));
        Ok(())
    }

    /// Continue an authorization another instance of this session started (the page
    /// that navigated away): `pending` is what its `pendingAuthorization()` returned.
    /// `handleRedirect` then takes the redirect as this session's own. A malformed
    /// object is refused with `pending_authorization_malformed`.
    #[wasm_bindgen(js_name = resumeAuthorization)]
    pub fn resume_authorization(&mut self, pending: JsValue, now: f64) -> Result<()> {
        let text = js_sys::JSON::stringify(&pending)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(malformed_pending)?;
        let pending: PendingAuthorization =
            serde_json::from_str(&text).map_err(|_| malformed_pending())?;
        self.inner.resume_authorization(pending, time(now)?);
        Ok(())
    }

    /// Install tokens obtained elsewhere. `expiresIn` in seconds from `now` (RFC 6749
    /// §5.1).
    #[wasm_bindgen(js_name = setTokens)]
    pub fn set_tokens(
        &mut self,
        access_token: &str,
        refresh_token: Option<String>,
        expires_in: Option<f64>,
        scope: Option<String>,
        now: f64,
    ) -> Result<()> {
        let expires_in = expires_in.map(|s| number(s, "expiresIn")).transpose()?;
        self.inner.set_tokens(
            Secret::new(access_token),
            refresh_token.as_deref().map(Secret::new),
            expires_in,
            scope,
            time(now)?,
        );
        Ok(())
    }

    /// Start over the way the credential's owner would (sign in again, or re-run the
    /// helper).
    pub fn reauthorize(&mut self, now: f64) -> Result<()> {
        self.inner.reauthorize(time(now)?);
        Ok(())
    }

    /// Mix more host entropy into the session's generator.
    #[wasm_bindgen(js_name = addEntropy)]
    pub fn add_entropy(&mut self, bytes: &[u8]) {
        self.inner.add_entropy(bytes);
    }

    // ---------------------------------------------------------------------------------
    // Input
    // ---------------------------------------------------------------------------------

    /// How the resource answered request `id`; `wwwAuthenticate` holds every
    /// `WWW-Authenticate` line. Returns `"deliver"` (hand the response to the caller)
    /// or `"retry"` (drop it: another `send` or a `fail` for `id` follows).
    #[wasm_bindgen(js_name = handleResourceResponse)]
    pub fn handle_resource_response(
        &mut self,
        id: f64,
        status: u16,
        www_authenticate: Vec<String>,
        now: f64,
    ) -> Result<String> {
        let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
        let verdict: Verdict = self.inner.handle_resource_response(
            RequestId(number(id, "id")?),
            status,
            &lines,
            time(now)?,
        );
        Ok(verdict.as_str().into())
    }

    /// The answer to a `fetch` action: status, headers as `[name, value]` pairs (only
    /// `Retry-After` is read) and the body bytes. Read at most one byte more than the
    /// policy's `max_response_body`: the machine refuses longer bodies itself.
    #[wasm_bindgen(js_name = handleHttpResponse)]
    pub fn handle_http_response(
        &mut self,
        id: f64,
        status: u16,
        headers: Vec<String>,
        body: &[u8],
        now: f64,
    ) -> Result<()> {
        let pairs = header_pairs(&headers)?;
        self.inner.handle_http_response(
            FetchId(number(id, "id")?),
            status,
            &pairs,
            body,
            time(now)?,
        );
        Ok(())
    }

    /// A `fetch` action failed before any response: `kind` is `connect`, `io` or
    /// `timeout`.
    #[wasm_bindgen(js_name = handleHttpError)]
    pub fn handle_http_error(&mut self, id: f64, kind: &str, now: f64) -> Result<()> {
        let kind = HttpErrorKind::from_code(kind).ok_or_else(|| {
            coded(
                "invalid_http_error_kind",
                "kind must be connect, io or timeout",
            )
        })?;
        self.inner
            .handle_http_error(FetchId(number(id, "id")?), kind, time(now)?);
        Ok(())
    }

    /// A `401` for a request sent with the credential of `generation` (a `send`
    /// action's `generation`; 0 for a request sent without one), for hosts that hand the
    /// token to another HTTP stack and only hear about `401`s. `wwwAuthenticate` holds
    /// every `WWW-Authenticate` line. A stale generation changes nothing; the current
    /// one is renewed, and the next `beginRequest` waits for it.
    #[wasm_bindgen(js_name = handleUnauthorized)]
    pub fn handle_unauthorized(
        &mut self,
        generation: f64,
        www_authenticate: Vec<String>,
        now: f64,
    ) -> Result<()> {
        let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
        self.inner.handle_unauthorized(
            Generation(number(generation, "generation")?),
            &lines,
            time(now)?,
        );
        Ok(())
    }

    /// What the header helper printed on standard output.
    #[wasm_bindgen(js_name = handleHelperStdout)]
    pub fn handle_helper_stdout(&mut self, stdout: &[u8], now: f64) -> Result<()> {
        self.inner.handle_helper_stdout(stdout, time(now)?);
        Ok(())
    }

    /// The helper did not run to completion: its non-zero exit status, or `null` when
    /// it could not start, was killed or timed out.
    #[wasm_bindgen(js_name = handleHelperFailure)]
    pub fn handle_helper_failure(&mut self, exit_code: Option<i32>, now: f64) -> Result<()> {
        self.inner.handle_helper_failure(exit_code, time(now)?);
        Ok(())
    }

    /// The browser came back to the redirect URI with `url`. Throws an error with the
    /// redirect's code (`state_mismatch`, `issuer_mismatch`, `denied`, …) when it is not
    /// accepted.
    #[wasm_bindgen(js_name = handleRedirect)]
    pub fn handle_redirect(&mut self, url: &str, now: f64) -> Result<()> {
        self.inner
            .handle_redirect(url, time(now)?)
            .map_err(|e| coded(e.code(), e))
    }

    /// The host could not run the browser part of authorization.
    #[wasm_bindgen(js_name = handleAuthorizeError)]
    pub fn handle_authorize_error(&mut self, now: f64) -> Result<()> {
        self.inner.handle_authorize_error(time(now)?);
        Ok(())
    }

    /// The host could not store the last `persist`: the machine asks again later.
    #[wasm_bindgen(js_name = handlePersistFailed)]
    pub fn handle_persist_failed(&mut self, now: f64) -> Result<()> {
        self.inner.handle_persist_failed(time(now)?);
        Ok(())
    }

    /// The answer to an `acquire_lease` action (a shared store): `granted` when this
    /// page or process took the refresh lease.
    #[wasm_bindgen(js_name = handleLease)]
    pub fn handle_lease(&mut self, granted: bool, now: f64) -> Result<()> {
        self.inner.handle_lease(granted, time(now)?);
        Ok(())
    }

    /// The shared store holds a newer snapshot (JSON text) written by another page or
    /// process: its tokens are taken on instead of refreshing.
    #[wasm_bindgen(js_name = handleStoreUpdate)]
    pub fn handle_store_update(&mut self, snapshot: &str, now: f64) -> Result<()> {
        let snapshot = Snapshot::from_json(snapshot.as_bytes()).map_err(|e| coded(e.code(), e))?;
        self.inner.handle_store_update(snapshot, time(now)?);
        Ok(())
    }

    /// The last `persist` could not be stored: the store holds this newer snapshot (a
    /// failed compare-and-swap), which is taken on.
    #[wasm_bindgen(js_name = handlePersistConflict)]
    pub fn handle_persist_conflict(&mut self, snapshot: &str, now: f64) -> Result<()> {
        let snapshot = Snapshot::from_json(snapshot.as_bytes()).map_err(|e| coded(e.code(), e))?;
        self.inner.handle_persist_conflict(snapshot, time(now)?);
        Ok(())
    }

    /// Time passed: act on every deadline at or before `now`.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) -> Result<()> {
        self.inner.handle_timeout(time(now)?);
        Ok(())
    }

    // ---------------------------------------------------------------------------------
    // Output
    // ---------------------------------------------------------------------------------

    /// The next thing the host must do, as a plain object with one key (`send`,
    /// `fetch`, `run_helper`, `persist`, `fail`, `authorize`), or `undefined`. A
    /// `send`'s headers are read now, as the contract requires.
    #[wasm_bindgen(js_name = pollAction)]
    pub fn poll_action(&mut self) -> Result<JsValue> {
        match self.inner.poll_action() {
            Some(action) => parse(&action.to_json(&self.inner)),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// When to call `handleTimeout` next (unix ms), or `undefined`.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|t| t.0 as f64)
    }
}

/// `Config::from_json`, with its code on failure.
fn read_config(json: &str) -> Result<Config> {
    Config::from_json(json.as_bytes()).map_err(|e| coded(e.code(), e))
}

fn malformed_pending() -> JsValue {
    coded(
        "pending_authorization_malformed",
        "pending authorization must be an object as pendingAuthorization() returns",
    )
}

fn read_seed(seed: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(seed).map_err(|_| coded("invalid_seed", "seed must be exactly 32 bytes"))
}

/// Unix milliseconds from a JavaScript number: a finite, non-negative integer value
/// (a fraction is truncated, as `Date.now()` never has one).
fn time(now: f64) -> Result<Timestamp> {
    number(now, "now").map(Timestamp)
}

/// A non-negative integer from a JavaScript number, or a typed error naming `what`.
fn number(n: f64, what: &str) -> Result<u64> {
    // 2^53: beyond it a number no longer holds every integer.
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    if n.is_finite() && (0.0..=MAX_EXACT).contains(&n) {
        Ok(n as u64)
    } else {
        Err(coded(
            "invalid_number",
            format!("{what} must be a non-negative integer below 2^53"),
        ))
    }
}

/// `[name, value, name, value, …]` as pairs.
fn header_pairs(flat: &[String]) -> Result<Vec<(&str, &str)>> {
    if flat.len() % 2 != 0 {
        return Err(coded(
            "invalid_headers",
            "headers must alternate names and values",
        ));
    }
    Ok(flat
        .chunks_exact(2)
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect())
}

/// A serializable value as a plain JavaScript object, through core's serde shape and
/// the host's `JSON.parse` (smaller than a second serializer in the module).
fn to_js<T: serde::Serialize + ?Sized>(value: &T) -> Result<JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|_| coded("internal", "could not serialize a value"))?;
    parse(&text)
}

fn parse(json: &str) -> Result<JsValue> {
    js_sys::JSON::parse(json).map_err(|_| coded("internal", "could not read a value"))
}

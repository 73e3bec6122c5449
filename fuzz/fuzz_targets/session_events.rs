//! Drive one `Session` with arbitrary events in arbitrary order and check, after every
//! step, the rules a host relies on (DESIGN.md, "Session rules"):
//!
//! - the host loop ends: `handle_timeout(poll_timeout())` at a bounded count, and a
//!   deadline once handled is not reported again at or before now (timers keep
//!   themselves);
//! - every `Send` names a generation whose headers the session still has;
//! - no request ends twice: at most one `Fail` per id, no `Send` after its `Fail`;
//! - single flight: one token-endpoint `Fetch` at a time (an older one counts as
//!   abandoned once the fetch deadline has passed);
//! - nothing lost: once the host has failed what is outstanding and the clock has run
//!   a day on, every begun request has had a `Send` or a `Fail`;
//! - no error (a `Fail`'s cause, `last_error`) and no Debug of the session shows a
//!   token the test planted.
//!
//! A panic or a broken rule is a crash. The first byte picks the configuration:
//! refresh-only OAuth restored from a snapshot (plain or with a shared store),
//! authorizing OAuth, or a header helper.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bearerflow::oauth::form;
use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, FetchId, FetchPurpose, HttpErrorKind, RequestId, Session, Snapshot,
};
use bearerflow::time::Timestamp;
use bearerflow::token::Generation;
use std::collections::{BTreeMap, BTreeSet};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
const TOKEN_ENDPOINT: &str = "https://auth.example.com/token";
const PLANTED: &str = "PLANTEDtok";
/// Policy defaults the rules lean on (`Policy::default()`).
const FETCH_DEADLINE: u64 = 30_000;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Status {
    Ok,
    Unauthorized,
    Forbidden,
    ServerError,
    Other(u16),
}

impl Status {
    fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::ServerError => 503,
            Status::Other(c) => c % 600,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ChallengeLine {
    None,
    Plain,
    InvalidToken,
    InsufficientScope,
    WithMetadata,
    Dpop,
}

impl ChallengeLine {
    fn text(self) -> Option<&'static str> {
        Some(match self {
            ChallengeLine::None => return None,
            ChallengeLine::Plain => "Bearer",
            ChallengeLine::InvalidToken => r#"Bearer error="invalid_token""#,
            ChallengeLine::InsufficientScope => {
                r#"Bearer error="insufficient_scope", scope="mcp:tools mcp:admin""#
            }
            ChallengeLine::WithMetadata => {
                r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
            }
            ChallengeLine::Dpop => r#"DPoP error="use_dpop_nonce""#,
        })
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Body {
    /// What a well-behaved server answers to this fetch's purpose.
    Fitting {
        ttl: Option<u16>,
        rotate: bool,
    },
    /// An RFC 6749 §5.2 error object.
    OAuthError(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
enum Event {
    BeginRequest,
    ResourceResponse {
        pick: u8,
        status: Status,
        challenge: ChallengeLine,
        second: ChallengeLine,
    },
    Unauthorized {
        generation_back: u8,
    },
    HttpResponse {
        pick: u8,
        status: Status,
        retry_after: Option<u8>,
        body: Body,
    },
    HttpError {
        pick: u8,
        kind: u8,
    },
    /// An answer for a fetch id the session never asked for (or has given up).
    StrayHttpResponse {
        id: u8,
        status: Status,
    },
    Timeout,
    Advance(u16),
    AdvanceLong(u8),
    HelperOutput {
        ttl_ms: Option<u16>,
        raw: Option<Vec<u8>>,
    },
    HelperFailure(Option<i8>),
    Redirect {
        good_state: bool,
        error: bool,
        iss: bool,
    },
    RawRedirect(String),
    AuthorizeError,
    Cancel(u8),
    Finish(u8),
    PersistFailed,
    Lease(bool),
    StoreUpdate {
        revision: u8,
        ttl: Option<u16>,
    },
    SetTokens {
        ttl: Option<u16>,
        refresh: bool,
    },
    Reauthorize,
}

#[derive(Default)]
struct Req {
    sends: u32,
    failed: bool,
    /// Answered by the host (a response reported, finished or cancelled).
    settled: bool,
    /// Ended by the host with `finish_request`: nothing more may come for it.
    finished: bool,
}

struct Host {
    s: Session,
    now: u64,
    minted: u32,
    requests: BTreeMap<u64, Req>,
    /// Fetches asked for and not answered: id → (purpose, asked at).
    fetches: BTreeMap<u64, (FetchPurpose, u64)>,
    helper_asked: bool,
    lease_asked: bool,
    authorize_url: Option<String>,
    secrets: BTreeSet<String>,
}

fn is_token_fetch(p: FetchPurpose) -> bool {
    matches!(
        p,
        FetchPurpose::Refresh | FetchPurpose::CodeExchange | FetchPurpose::ClientCredentials
    )
}

impl Host {
    fn mint(&mut self, kind: &str) -> String {
        self.minted += 1;
        let t = format!("{PLANTED}{kind}{}x", self.minted);
        self.secrets.insert(t.clone());
        t
    }

    fn check_text(&self, what: &str, text: &str) {
        for s in &self.secrets {
            assert!(!text.contains(s.as_str()), "{what} shows a token: {text}");
        }
    }

    fn drain(&mut self) {
        let mut n = 0;
        while let Some(a) = self.s.poll_action() {
            n += 1;
            assert!(n < 10_000, "the action queue does not end");
            match a {
                Action::Send { id, generation } => {
                    assert!(
                        self.s.headers(generation).is_some(),
                        "Send {id:?} with {generation:?}: no headers"
                    );
                    let r = self.requests.entry(id.0).or_default();
                    assert!(!r.failed, "Send after Fail for {id:?}");
                    assert!(!r.finished, "Send after finish_request for {id:?}");
                    r.sends += 1;
                    r.settled = false;
                }
                Action::Fail { id, cause, .. } => {
                    let r = self.requests.entry(id.0).or_default();
                    assert!(!r.failed, "two Fails for {id:?}");
                    assert!(!r.finished, "Fail after finish_request for {id:?}");
                    r.failed = true;
                    if let Some(c) = cause {
                        self.check_text("a Fail's cause", &format!("{c} {c:?}"));
                    }
                }
                Action::Fetch {
                    id,
                    purpose,
                    request,
                } => {
                    if is_token_fetch(purpose) {
                        for (other, (p, at)) in &self.fetches {
                            if is_token_fetch(*p) {
                                assert!(
                                    self.now >= at + FETCH_DEADLINE,
                                    "two token requests in flight: {other} ({p:?}) and {} ({purpose:?})",
                                    id.0
                                );
                            }
                        }
                    }
                    let _ = request.url.len();
                    self.fetches.insert(id.0, (purpose, self.now));
                }
                Action::RunHelper => self.helper_asked = true,
                Action::Authorize { url } => self.authorize_url = Some(url),
                Action::AcquireLease { .. } => self.lease_asked = true,
                Action::Persist(_) | Action::ReleaseLease => {}
            }
        }
        if let Some(e) = self.s.last_error() {
            self.check_text("last_error", &format!("{e} {e:?}"));
        }
        self.check_text("the session's Debug", &format!("{:?}", self.s));
    }

    /// The host loop: handle every deadline that is due, a bounded number of times.
    fn run_timers(&mut self) {
        for _ in 0..64 {
            match self.s.poll_timeout() {
                Some(t) if t.0 <= self.now => {
                    self.s.handle_timeout(Timestamp(self.now));
                    self.drain();
                    if let Some(again) = self.s.poll_timeout() {
                        assert!(
                            again.0 > self.now,
                            "deadline {} handled at {} is reported again",
                            t.0,
                            self.now
                        );
                    }
                }
                _ => return,
            }
        }
        panic!("the host loop did not end in 64 rounds");
    }

    fn pick_request(&self, pick: u8) -> Option<u64> {
        let open: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.sends > 0 && !r.failed && !r.settled)
            .map(|(id, _)| *id)
            .collect();
        if open.is_empty() {
            self.requests
                .keys()
                .nth(usize::from(pick) % self.requests.len().max(1))
                .copied()
        } else {
            Some(open[usize::from(pick) % open.len()])
        }
    }

    fn pick_fetch(&self, pick: u8) -> Option<(u64, FetchPurpose)> {
        let n = self.fetches.len();
        (n > 0).then(|| {
            let (id, (p, _)) = self
                .fetches
                .iter()
                .nth(usize::from(pick) % n)
                .unwrap_or_else(|| unreachable!());
            (*id, *p)
        })
    }

    fn fitting_body(&mut self, purpose: FetchPurpose, ttl: Option<u16>, rotate: bool) -> String {
        match purpose {
            FetchPurpose::ResourceMetadata => format!(
                r#"{{"resource":"{RESOURCE}","authorization_servers":["{ISSUER}"],"scopes_supported":["mcp:tools"]}}"#
            ),
            FetchPurpose::ServerMetadata => format!(
                r#"{{"issuer":"{ISSUER}","authorization_endpoint":"{ISSUER}/authorize","token_endpoint":"{TOKEN_ENDPOINT}","registration_endpoint":"{ISSUER}/register","code_challenge_methods_supported":["S256"],"response_types_supported":["code"],"grant_types_supported":["authorization_code","refresh_token"],"token_endpoint_auth_methods_supported":["none"],"authorization_response_iss_parameter_supported":true}}"#
            ),
            FetchPurpose::Registration => format!(
                r#"{{"client_id":"dyn-client-{}","token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1:8976/callback"]}}"#,
                self.minted
            ),
            _ => {
                let at = self.mint("AT");
                let rt = if rotate || purpose != FetchPurpose::Refresh {
                    format!(r#","refresh_token":"{}""#, self.mint("RT"))
                } else {
                    String::new()
                };
                let exp = ttl
                    .map(|t| format!(r#","expires_in":{t}"#))
                    .unwrap_or_default();
                format!(
                    r#"{{"access_token":"{at}","token_type":"Bearer"{rt}{exp},"scope":"mcp:tools"}}"#
                )
            }
        }
    }

    fn step(&mut self, ev: Event) {
        let now = Timestamp(self.now);
        match ev {
            Event::BeginRequest => {
                let id = self.s.begin_request(now);
                assert!(
                    !self.requests.contains_key(&id.0),
                    "request id {id:?} given twice"
                );
                self.requests.insert(id.0, Req::default());
            }
            Event::ResourceResponse {
                pick,
                status,
                challenge,
                second,
            } => {
                let Some(id) = self.pick_request(pick) else {
                    return;
                };
                let lines: Vec<&str> = [challenge.text(), second.text()]
                    .into_iter()
                    .flatten()
                    .collect();
                let _ = self
                    .s
                    .handle_resource_response(RequestId(id), status.code(), &lines, now);
                if let Some(r) = self.requests.get_mut(&id) {
                    r.settled = true;
                }
            }
            Event::Unauthorized { generation_back } => {
                if let Some(t) = self.s.tokens() {
                    let g = match generation_back % 3 {
                        0 => t.generation(),
                        1 => Generation::NONE,
                        _ => Generation(t.generation().0.saturating_sub(1)),
                    };
                    self.s
                        .handle_unauthorized(g, &[r#"Bearer error="invalid_token""#], now);
                }
            }
            Event::HttpResponse {
                pick,
                status,
                retry_after,
                body,
            } => {
                let Some((id, purpose)) = self.pick_fetch(pick) else {
                    return;
                };
                self.fetches.remove(&id);
                let (code, text) = match body {
                    Body::Fitting { ttl, rotate } => {
                        let ok = match purpose {
                            FetchPurpose::Registration => 201,
                            _ => 200,
                        };
                        let code = match status {
                            Status::Ok => ok,
                            s => s.code(),
                        };
                        (code, self.fitting_body(purpose, ttl, rotate).into_bytes())
                    }
                    Body::OAuthError(e) => {
                        let code = [
                            "invalid_grant",
                            "invalid_request",
                            "invalid_client",
                            "unauthorized_client",
                            "temporarily_unavailable",
                            "use_dpop_nonce",
                        ][usize::from(e) % 6];
                        let body = format!(r#"{{"error":"{code}","error_description":"refused"}}"#);
                        (400, body.into_bytes())
                    }
                    Body::Raw(b) => (status.code(), b),
                };
                let ra = retry_after.map(|s| s.to_string());
                let headers: Vec<(&str, &str)> = ra
                    .as_deref()
                    .map(|v| ("Retry-After", v))
                    .into_iter()
                    .collect();
                self.s
                    .handle_http_response(FetchId(id), code, &headers, &text, now);
            }
            Event::HttpError { pick, kind } => {
                let Some((id, _)) = self.pick_fetch(pick) else {
                    return;
                };
                self.fetches.remove(&id);
                let kind = [
                    HttpErrorKind::Connect,
                    HttpErrorKind::Io,
                    HttpErrorKind::Timeout,
                ][usize::from(kind) % 3];
                self.s.handle_http_error(FetchId(id), kind, now);
            }
            Event::StrayHttpResponse { id, status } => {
                let id = u64::from(id);
                if !self.fetches.contains_key(&id) {
                    self.s
                        .handle_http_response(FetchId(id), status.code(), &[], b"{}", now);
                }
            }
            Event::Timeout => {
                if let Some(t) = self.s.poll_timeout() {
                    self.now = self.now.max(t.0);
                }
            }
            Event::Advance(ms) => self.now += u64::from(ms),
            Event::AdvanceLong(m) => self.now += u64::from(m) * 60_000,
            Event::HelperOutput { ttl_ms, raw } => {
                if !self.helper_asked {
                    // A late or unasked answer: the session ignores it.
                    self.s
                        .handle_helper_stdout(b"Authorization: Bearer late", now);
                    return;
                }
                self.helper_asked = false;
                let out = match raw {
                    Some(r) => r,
                    None => {
                        let t = self.mint("H");
                        match ttl_ms {
                            Some(ms) => {
                                format!(r#"{{"Authorization":"Bearer {t}","ttl_ms":"{ms}"}}"#)
                            }
                            None => format!("Authorization: Bearer {t}\nX-Extra: 1\n"),
                        }
                        .into_bytes()
                    }
                };
                self.s.handle_helper_stdout(&out, now);
            }
            Event::HelperFailure(code) => {
                self.helper_asked = false;
                self.s.handle_helper_failure(code.map(i32::from), now);
            }
            Event::Redirect {
                good_state,
                error,
                iss,
            } => {
                let Some(url) = self.authorize_url.clone() else {
                    return;
                };
                let state = url
                    .split(['?', '&'])
                    .find_map(|p| p.strip_prefix("state="))
                    .unwrap_or("none");
                let state = if good_state { state } else { "forged" };
                let mut back = if error {
                    format!("http://127.0.0.1:8976/callback?error=access_denied&state={state}")
                } else {
                    format!(
                        "http://127.0.0.1:8976/callback?code=c{}&state={state}",
                        self.minted
                    )
                };
                if iss {
                    back.push_str("&iss=");
                    back.push_str(&form::encode(ISSUER));
                }
                if let Err(e) = self.s.handle_redirect(&back, now) {
                    self.check_text("a redirect error", &format!("{e} {e:?}"));
                }
            }
            Event::RawRedirect(url) => {
                if let Err(e) = self.s.handle_redirect(&url, now) {
                    self.check_text("a redirect error", &format!("{e} {e:?}"));
                }
            }
            Event::AuthorizeError => self.s.handle_authorize_error(now),
            Event::Cancel(pick) => {
                if let Some(id) = self.pick_any(pick) {
                    self.s.cancel_request(RequestId(id));
                }
            }
            Event::Finish(pick) => {
                if let Some(id) = self.pick_any(pick) {
                    self.s.finish_request(RequestId(id));
                    if let Some(r) = self.requests.get_mut(&id) {
                        r.settled = true;
                        r.finished = !r.failed;
                    }
                }
            }
            Event::PersistFailed => self.s.handle_persist_failed(now),
            Event::Lease(granted) => {
                self.lease_asked = false;
                self.s.handle_lease(granted, now);
            }
            Event::StoreUpdate { revision, ttl } => {
                let snap = self.snapshot(u64::from(revision), ttl);
                self.s.handle_store_update(snap, now);
            }
            Event::SetTokens { ttl, refresh } => {
                let at = self.mint("AT");
                let rt = refresh.then(|| Secret::new(self.mint("RT")));
                self.s
                    .set_tokens(Secret::new(at), rt, ttl.map(u64::from), None, now);
            }
            Event::Reauthorize => self.s.reauthorize(now),
        }
    }

    /// Answer everything the session waits for from the host, with failures.
    fn settle_outstanding(&mut self) {
        let now = Timestamp(self.now);
        for id in core::mem::take(&mut self.fetches).into_keys() {
            self.s
                .handle_http_error(FetchId(id), HttpErrorKind::Timeout, now);
        }
        if core::mem::take(&mut self.helper_asked) {
            self.s.handle_helper_failure(None, now);
        }
        if self.lease_asked {
            self.lease_asked = false;
            self.s.handle_lease(false, now);
        }
        self.s.handle_authorize_error(now);
        self.drain();
    }

    fn pick_any(&self, pick: u8) -> Option<u64> {
        let n = self.requests.len();
        (n > 0).then(|| {
            *self
                .requests
                .keys()
                .nth(usize::from(pick) % n)
                .unwrap_or_else(|| unreachable!())
        })
    }

    fn snapshot(&mut self, revision: u64, ttl: Option<u16>) -> Snapshot {
        let at = self.mint("AT");
        let rt = self.mint("RT");
        let exp = ttl
            .map(|t| format!(r#","expires_at":{}"#, self.now + u64::from(t) * 1000))
            .unwrap_or_default();
        let json = format!(
            r#"{{"version":2,"revision":{revision},"tokens":{{"access_token":"{at}","refresh_token":"{rt}","received_at":{}{exp},"scope":"mcp:tools","generation":1}},"client":{{"client_id":"client-1","auth_method":"none"}},"server":{{"issuer":"{ISSUER}","token_endpoint":"{TOKEN_ENDPOINT}"}}}}"#,
            self.now
        );
        match Snapshot::from_json(json.as_bytes()) {
            Ok(s) => s,
            Err(e) => panic!("the test's own snapshot does not parse: {e}"),
        }
    }
}

fn config(kind: u8) -> Config {
    let policy = if kind == 3 {
        r#","policy":{"shared_store":true}"#
    } else {
        ""
    };
    let credential = match kind {
        0 | 3 => format!(
            r#"{{"kind":"oauth","client":{{"client_id":"client-1","auth_method":"none"}},"token_endpoint":"{TOKEN_ENDPOINT}","issuer":"{ISSUER}"}}"#
        ),
        1 => r#"{"kind":"oauth","redirect_uri":"http://127.0.0.1:8976/callback","client_name":"bearerflow-fuzz"}"#.to_string(),
        _ => r#"{"kind":"header_helper"}"#.to_string(),
    };
    let json = format!(r#"{{"resource_url":"{RESOURCE}","credential":{credential}{policy}}}"#);
    match Config::from_json(json.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("the test's own configuration does not parse: {e}"),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(kind) = u.int_in_range(0u8..=3) else {
        return;
    };
    let Ok(start) = u.int_in_range(0u64..=100_000) else {
        return;
    };
    let mut host = Host {
        s: Session::new(config(kind), [3; 32], Timestamp(start)),
        now: start,
        minted: 0,
        requests: BTreeMap::new(),
        fetches: BTreeMap::new(),
        helper_asked: false,
        lease_asked: false,
        authorize_url: None,
        secrets: BTreeSet::new(),
    };
    if kind == 0 || kind == 3 {
        let ttl = u.arbitrary::<Option<u16>>().unwrap_or(None);
        let snap = host.snapshot(0, ttl);
        host.s = Session::restore(config(kind), snap, [3; 32], Timestamp(start));
    }
    host.drain();
    let trace = std::env::var_os("SESSION_EVENTS_TRACE").is_some();
    let mut steps = 0;
    while !u.is_empty() && steps < 256 {
        let Ok(ev) = Event::arbitrary(&mut u) else {
            break;
        };
        if trace {
            eprintln!("t={} {ev:?}", host.now);
        }
        host.step(ev);
        host.drain();
        host.run_timers();
        steps += 1;
    }
    // Nothing lost: the host answers what is outstanding with failures and the clock
    // runs on for a day; then every request has gone out or failed (the fetch, wait
    // and authorization deadlines all end well within a day).
    for _ in 0..4 {
        host.settle_outstanding();
        host.now += 6 * 3_600_000;
        host.run_timers();
    }
    for (id, r) in &host.requests {
        assert!(
            r.sends > 0 || r.failed || r.finished,
            "request {id} neither sent nor failed a day after the last event"
        );
    }
});

//! A simulated authorization server, resource, browser and header helper beside a
//! [`Session`], on a simulated clock (quinn-proto's `Pair`, for OAuth).
//!
//! Everything is deterministic: time only moves when [`Sim::step`] jumps to the next
//! thing due (a response arriving after `latency`, the session's timeout, a scheduled
//! request), and nothing sleeps. While it runs, the sim checks the machine's rules on
//! every action and records violations instead of panicking mid-way, so a test can
//! assert `sim.violations.is_empty()` and print them all. Every event it feeds the
//! session is recorded as a [`Vector`] step, so any scenario can be written out as a
//! binding-neutral JSON vector.

use crate::vector::{self, Event, Step, Vector};
use bearerflow::oauth::form;
use bearerflow::session::{Action, Config, RequestError, RequestId, Session, Snapshot, Verdict};
use bearerflow::time::Timestamp;
use serde_json::json;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};

/// The resource URL the simulated MCP server answers on.
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
/// The simulated authorization server's issuer.
pub const ISSUER: &str = "https://auth.example.com";
/// Its token endpoint.
pub const TOKEN_ENDPOINT: &str = "https://auth.example.com/token";
/// The protected resource metadata URL the resource's challenges name.
pub const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
/// Where the simulated browser comes back to.
pub const REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";

/// A fault the token endpoint applies to its next call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, if given), no tokens.
    Status(u16, Option<u64>),
    /// Answer `400 invalid_grant`.
    InvalidGrant,
    /// Never answer.
    Drop,
    /// Fail below HTTP.
    NetworkError,
    /// Rotate the refresh token but lose the response (network error to the client).
    RotateAndDrop,
    /// Answer with this status and body as they are (a proxy's page, a redirect, a
    /// browser's status 0), no tokens.
    Reply(u16, String),
}

/// What the simulated browser does with an authorization URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Browser {
    /// Approve and redirect back with `code`, `state`, `iss`.
    Approve,
    /// Redirect back with `error=access_denied`.
    Deny,
    /// Never come back.
    Abandon,
}

/// The simulated authorization server.
pub struct AuthServer {
    /// Access-token lifetime in seconds; `None` omits `expires_in` (the server still
    /// expires tokens after `hidden_ttl` if set).
    pub access_ttl: Option<u64>,
    /// With `access_ttl: None`, the lifetime the server enforces without saying.
    pub hidden_ttl: Option<u64>,
    /// Rotate refresh tokens on every refresh.
    pub rotate: bool,
    /// Issue refresh tokens at all.
    pub issue_refresh: bool,
    /// Faults applied to the next token calls, in order.
    pub faults: VecDeque<Fault>,
    /// Valid access tokens and their server-side expiry (ms).
    pub access: HashMap<String, Option<u64>>,
    /// Refresh tokens: live or spent.
    pub refresh: HashMap<String, bool>,
    /// Registered client ids.
    pub clients: HashSet<String>,
    /// Issued authorization codes: code → (client_id, challenge, redirect_uri, scope).
    codes: HashMap<String, (String, String, String, Option<String>)>,
    /// Static GET documents by URL (metadata); tests may replace them.
    pub documents: HashMap<String, (u16, String)>,
    /// Scope a token grants when the request names none.
    pub granted_scope: Option<String>,
    /// Grant `granted_scope` whatever the request asks for.
    pub ignore_requested_scope: bool,
    /// The `iss` the browser's redirect carries; `None`: the authorization endpoint's
    /// origin.
    pub redirect_iss: Option<String>,
    /// Scope of each access token.
    pub scopes: HashMap<String, String>,
    /// Token endpoint URL (the 2025-03-26 default-endpoint tests move it).
    pub token_url: String,
    /// Registration endpoint URL.
    pub register_url: String,
    /// The client id of the last request's HTTP Basic credentials.
    basic_client: Option<String>,
    /// Token requests by grant type.
    pub grants: BTreeMap<String, u32>,
    /// Discovery GETs served.
    pub discovery_gets: u32,
    /// Registrations served.
    pub registrations: u32,
    /// Refresh-token reuse detected (a spent token presented again).
    pub reuse_detected: u32,
    counter: u64,
}

impl AuthServer {
    /// A server with tokens of `ttl` seconds, rotating when `rotate`.
    pub fn new(ttl: Option<u64>, rotate: bool) -> AuthServer {
        let mut documents = HashMap::new();
        documents.insert(
            PRM_URL.to_string(),
            (
                200,
                json!({
                    "resource": RESOURCE,
                    "authorization_servers": [ISSUER],
                    "scopes_supported": ["mcp:tools"],
                    "bearer_methods_supported": ["header"],
                })
                .to_string(),
            ),
        );
        documents.insert(
            format!("{ISSUER}/.well-known/oauth-authorization-server"),
            (
                200,
                json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": format!("{ISSUER}/authorize"),
                    "token_endpoint": TOKEN_ENDPOINT,
                    "registration_endpoint": format!("{ISSUER}/register"),
                    "code_challenge_methods_supported": ["S256"],
                    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                    "response_types_supported": ["code"],
                    "scopes_supported": ["mcp:tools", "mcp:admin", "offline_access"],
                    "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
                    "authorization_response_iss_parameter_supported": true,
                })
                .to_string(),
            ),
        );
        AuthServer {
            access_ttl: ttl,
            hidden_ttl: None,
            rotate,
            issue_refresh: true,
            faults: VecDeque::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            clients: HashSet::from(["client-1".to_string()]),
            codes: HashMap::new(),
            documents,
            granted_scope: Some("mcp:tools".into()),
            ignore_requested_scope: false,
            redirect_iss: None,
            scopes: HashMap::new(),
            token_url: TOKEN_ENDPOINT.into(),
            register_url: format!("{ISSUER}/register"),
            basic_client: None,
            grants: BTreeMap::new(),
            discovery_gets: 0,
            registrations: 0,
            reuse_detected: 0,
            counter: 0,
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    /// Mint a token set directly (as if a previous process had authorized), returning
    /// (access, refresh, expires_in).
    pub fn mint(&mut self, now: u64) -> (String, Option<String>, Option<u64>) {
        let access = self.fresh("at");
        let lifetime = self.access_ttl.or(self.hidden_ttl);
        self.access
            .insert(access.clone(), lifetime.map(|t| now + t * 1000));
        let refresh = self.issue_refresh.then(|| {
            let r = self.fresh("rt");
            self.refresh.insert(r.clone(), true);
            r
        });
        (access, refresh, self.access_ttl)
    }

    /// Whether `token` is accepted at `now`.
    pub fn accepts(&self, token: &str, now: u64) -> bool {
        matches!(self.access.get(token), Some(exp) if exp.is_none_or(|e| now < e))
    }

    /// Revoke every access token (forces 401s).
    pub fn revoke_access(&mut self) {
        self.access.clear();
    }

    fn token_json(&mut self, now: u64, refresh: Option<String>, scope: Option<String>) -> String {
        let (access, new_refresh, expires_in) = {
            let access = self.fresh("at");
            let lifetime = self.access_ttl.or(self.hidden_ttl);
            self.access
                .insert(access.clone(), lifetime.map(|t| now + t * 1000));
            (access, refresh, self.access_ttl)
        };
        let scope = scope
            .filter(|_| !self.ignore_requested_scope)
            .or_else(|| self.granted_scope.clone());
        if let Some(sc) = &scope {
            self.scopes.insert(access.clone(), sc.clone());
        }
        let mut v = json!({"access_token": access, "token_type": "Bearer"});
        if let Some(e) = expires_in {
            v["expires_in"] = json!(e);
        }
        if let Some(r) = new_refresh {
            v["refresh_token"] = json!(r);
        }
        if let Some(s) = scope {
            v["scope"] = json!(s);
        }
        v.to_string()
    }

    fn error(code: &str, status: u16) -> Reply {
        Reply::Http(status, vec![], json!({"error": code}).to_string())
    }

    /// Serve one request the session asked for.
    fn serve(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: u64,
    ) -> Reply {
        if method == "GET" {
            self.discovery_gets += 1;
            return match self.documents.get(url) {
                Some((status, doc)) => Reply::Http(*status, vec![], doc.clone()),
                None => Reply::Http(404, vec![], "not found".into()),
            };
        }
        let pairs = form::parse_pairs(&String::from_utf8_lossy(body)).unwrap_or_default();
        self.basic_client = basic_client(headers);
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if url == self.register_url {
            self.registrations += 1;
            let id = self.fresh("dyn-client");
            self.clients.insert(id.clone());
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            return Reply::Http(
                201,
                vec![],
                json!({"client_id": id, "token_endpoint_auth_method": "none",
                       "redirect_uris": v.get("redirect_uris").cloned().unwrap_or_default()})
                .to_string(),
            );
        }
        if url != self.token_url {
            return Reply::Http(404, vec![], "not found".into());
        }
        let grant = get("grant_type").unwrap_or_default();
        *self.grants.entry(grant.clone()).or_default() += 1;
        match self.faults.pop_front() {
            Some(Fault::Status(s, ra)) => {
                let headers = ra
                    .map(|r| vec![("Retry-After".to_string(), r.to_string())])
                    .unwrap_or_default();
                return Reply::Http(s, headers, "{\"error\":\"temporarily_unavailable\"}".into());
            }
            Some(Fault::InvalidGrant) => return Self::error("invalid_grant", 400),
            Some(Fault::Drop) => return Reply::Never,
            Some(Fault::NetworkError) => return Reply::NetworkError,
            Some(Fault::Reply(status, body)) => return Reply::Http(status, vec![], body),
            Some(Fault::RotateAndDrop) => {
                if let Some(rt) = get("refresh_token") {
                    self.refresh.insert(rt, false);
                }
                return Reply::NetworkError;
            }
            None => {}
        }
        match grant.as_str() {
            "refresh_token" => {
                let Some(rt) = get("refresh_token") else {
                    return Self::error("invalid_request", 400);
                };
                match self.refresh.get(&rt).copied() {
                    Some(true) => {
                        let next = if self.rotate {
                            self.refresh.insert(rt, false);
                            let n = self.fresh("rt");
                            self.refresh.insert(n.clone(), true);
                            Some(n)
                        } else {
                            None
                        };
                        Reply::Http(200, vec![], self.token_json(now, next, None))
                    }
                    Some(false) => {
                        // Reuse of a spent refresh token: revoke the family (RFC 9700 §4.14.2).
                        self.reuse_detected += 1;
                        self.refresh.values_mut().for_each(|v| *v = false);
                        Self::error("invalid_grant", 400)
                    }
                    None => Self::error("invalid_grant", 400),
                }
            }
            "authorization_code" => {
                let (Some(code), Some(verifier)) = (get("code"), get("code_verifier")) else {
                    return Self::error("invalid_request", 400);
                };
                let Some((client, challenge, redirect, scope)) = self.codes.remove(&code) else {
                    return Self::error("invalid_grant", 400);
                };
                let ok = get("client_id").as_deref() == Some(client.as_str())
                    && get("redirect_uri").as_deref() == Some(redirect.as_str())
                    && bearerflow::oauth::s256_challenge(&verifier) == challenge;
                if !ok {
                    return Self::error("invalid_grant", 400);
                }
                let rt = self.issue_refresh.then(|| {
                    let n = self.fresh("rt");
                    self.refresh.insert(n.clone(), true);
                    n
                });
                Reply::Http(200, vec![], self.token_json(now, rt, scope))
            }
            "client_credentials" => {
                let client = get("client_id").or_else(|| self.basic_client.clone());
                if !client.is_some_and(|c| self.clients.contains(&c)) {
                    return Self::error("invalid_client", 401);
                }
                Reply::Http(200, vec![], self.token_json(now, None, get("scope")))
            }
            _ => Self::error("unsupported_grant_type", 400),
        }
    }

    /// The browser visiting an authorization URL: the redirect URL to come back with.
    fn authorize(&mut self, url: &str, mode: Browser) -> Option<String> {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let pairs = form::parse_pairs(query).unwrap_or_default();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let redirect = get("redirect_uri")?;
        let state = get("state").unwrap_or_default();
        match mode {
            Browser::Abandon => None,
            Browser::Deny => Some(format!("{redirect}?error=access_denied&state={state}")),
            Browser::Approve => {
                let client = get("client_id")?;
                if !self.clients.contains(&client) {
                    return Some(format!(
                        "{redirect}?error=unauthorized_client&state={state}"
                    ));
                }
                let code = self.fresh("code");
                self.codes.insert(
                    code.clone(),
                    (
                        client,
                        get("code_challenge").unwrap_or_default(),
                        redirect.clone(),
                        get("scope"),
                    ),
                );
                // The issuer is the origin of the authorization endpoint in this sim.
                let issuer = self.redirect_iss.clone().unwrap_or_else(|| {
                    bearerflow::oauth::origin(url).unwrap_or_else(|_| ISSUER.to_string())
                });
                Some(format!(
                    "{redirect}?code={code}&state={state}&iss={}",
                    form::encode(&issuer)
                ))
            }
        }
    }
}

/// The client id in an `Authorization: Basic` header (RFC 6749 §2.3.1), if any.
fn basic_client(headers: &[(String, String)]) -> Option<String> {
    use base64::Engine;
    let (_, v) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, _) = text.split_once(':')?;
    form::decode(id).ok()
}

enum Reply {
    Http(u16, Vec<(String, String)>, String),
    NetworkError,
    Never,
}

/// Something due at a simulated time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Begin,
    Resource {
        id: u64,
        token: Option<String>,
    },
    Http {
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    HttpError {
        id: u64,
    },
    Helper,
    Redirect {
        url: String,
    },
    Cancel {
        id: u64,
    },
    PersistFailed,
}

/// How a request ended, as the caller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered with this status.
    Delivered(u16),
    /// Failed.
    Failed(RequestError),
}

/// A session with its simulated world.
pub struct Sim {
    /// The machine under test.
    pub session: Session,
    /// Simulated now (unix ms).
    pub now: u64,
    /// The authorization server.
    pub auth: AuthServer,
    /// One-way latency of every exchange, ms (responses arrive after this).
    pub latency: u64,
    /// What the browser does.
    pub browser: Browser,
    /// A scope every resource request needs (else `403 insufficient_scope`).
    pub required_scope: Option<String>,
    /// The `resource_metadata` URL `401` challenges name, if any.
    pub challenge_metadata: Option<String>,
    /// The header helper's token lifetime on the server, seconds.
    pub helper_server_ttl: Option<u64>,
    /// One-way latency of token, discovery and registration exchanges, ms, when it
    /// differs from `latency`.
    pub fetch_latency: Option<u64>,
    /// How many of the next `Persist` actions the host fails to store.
    pub persist_failures: u32,
    /// Helper runs served.
    pub helper_runs: u32,
    /// Outcomes by request id.
    pub outcomes: BTreeMap<u64, Outcome>,
    /// Rule violations seen.
    pub violations: Vec<String>,
    /// `401`s the caller saw (delivered to it).
    pub unauthorized_delivered: u32,
    /// Largest number of token-endpoint requests in flight at once.
    pub max_token_inflight: usize,
    /// Sends per request.
    pub sends: BTreeMap<u64, u32>,
    /// Snapshots persisted, in order.
    pub persisted: Vec<Snapshot>,
    queue: BinaryHeap<Reverse<(u64, u64, Due)>>,
    seq: u64,
    begun: HashSet<u64>,
    token_inflight: HashMap<u64, u64>,
    refresh_sent: HashMap<u64, String>,
    replaced: HashSet<String>,
    /// The trace, as a vector.
    pub trace: Vector,
}

impl Sim {
    /// A sim for `config` with `auth`, seeded with `seed`, at `start`.
    pub fn new(config: Config, auth: AuthServer, seed: [u8; 32], start: u64) -> Sim {
        Sim::with_snapshot(config, auth, seed, start, None)
    }

    /// A sim whose session is restored from `snapshot`.
    pub fn with_snapshot(
        config: Config,
        auth: AuthServer,
        seed: [u8; 32],
        start: u64,
        snapshot: Option<Snapshot>,
    ) -> Sim {
        let session = match &snapshot {
            Some(s) => Session::restore(config.clone(), s.clone(), seed, Timestamp(start)),
            None => Session::new(config.clone(), seed, Timestamp(start)),
        };
        let mut sim = Sim {
            session,
            now: start,
            auth,
            latency: 20,
            browser: Browser::Approve,
            helper_server_ttl: None,
            fetch_latency: None,
            persist_failures: 0,
            required_scope: None,
            challenge_metadata: Some(PRM_URL.to_string()),
            helper_runs: 0,
            outcomes: BTreeMap::new(),
            violations: Vec::new(),
            unauthorized_delivered: 0,
            max_token_inflight: 0,
            sends: BTreeMap::new(),
            persisted: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            begun: HashSet::new(),
            token_inflight: HashMap::new(),
            refresh_sent: HashMap::new(),
            replaced: HashSet::new(),
            trace: Vector {
                name: String::new(),
                description: String::new(),
                config,
                seed: vector::seed_hex(&seed),
                start,
                snapshot,
                initial: Vec::new(),
                initial_timeout: None,
                initial_phase: String::new(),
                steps: Vec::new(),
                stats: Default::default(),
            },
        };
        let initial = sim.drain();
        sim.trace.initial = initial;
        let (timeout, phase) = vector::observe(&sim.session, Timestamp(start));
        sim.trace.initial_timeout = timeout;
        sim.trace.initial_phase = phase;
        sim
    }

    /// A snapshot holding tokens the server minted at `now` (a previous process's).
    pub fn minted_snapshot(auth: &mut AuthServer, now: u64) -> Snapshot {
        let (access, refresh, expires_in) = auth.mint(now);
        Snapshot {
            revision: 0,
            client_issuer: None,
            version: bearerflow::session::SNAPSHOT_VERSION,
            tokens: Some(bearerflow::session::StoredTokens {
                issuer: None,
                access_token: access.into(),
                refresh_token: refresh.map(Into::into),
                received_at: now,
                expires_at: expires_in.map(|e| now + e * 1000),
                scope: Some("mcp:tools".into()),
                generation: 1,
                refresh_at: None,
            }),
            client: Some(bearerflow::oauth::ClientRegistration::public("client-1")),
            server: Some(bearerflow::session::StoredServer {
                resource: None,
                requested_scope: None,
                issuer: ISSUER.into(),
                token_endpoint: TOKEN_ENDPOINT.into(),
                authorization_endpoint: Some(format!("{ISSUER}/authorize")),
                registration_endpoint: Some(format!("{ISSUER}/register")),
            }),
        }
    }

    fn schedule(&mut self, at: u64, due: Due) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, due)));
    }

    /// Begin a request at `at` (≥ now).
    pub fn begin_at(&mut self, at: u64) {
        self.schedule(at, Due::Begin);
    }

    /// Cancel request `id` at `at` (≥ now), as a host whose caller went away.
    pub fn cancel_at(&mut self, at: u64, id: u64) {
        self.schedule(at, Due::Cancel { id });
    }

    /// Feed one event to the session, record it, and handle what comes out.
    fn apply(&mut self, mut event: Event) {
        let now = Timestamp(self.now);
        if let Event::BeginRequest { .. } = event {
            let id = self.session.begin_request(now);
            self.begun.insert(id.0);
            event = Event::BeginRequest { id: id.0 };
        } else if let Event::ResourceResponse {
            id,
            status,
            www_authenticate,
            ..
        } = &event
        {
            let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
            let v = self
                .session
                .handle_resource_response(RequestId(*id), *status, &lines, now);
            let verdict = match v {
                Verdict::Deliver => {
                    if self
                        .outcomes
                        .insert(*id, Outcome::Delivered(*status))
                        .is_some()
                    {
                        self.violations.push(format!("request {id} finished twice"));
                    }
                    if *status == 401 {
                        self.unauthorized_delivered += 1;
                    }
                    "deliver"
                }
                Verdict::Retry => "retry",
            };
            event = Event::ResourceResponse {
                id: *id,
                status: *status,
                www_authenticate: www_authenticate.clone(),
                verdict: verdict.into(),
            };
        } else if let Event::Redirect { url, .. } = &event {
            let ok = self.session.handle_redirect(url, now).is_ok();
            event = Event::Redirect {
                url: url.clone(),
                ok,
            };
        } else if let Err(e) = vector::apply(&mut self.session, &event, now) {
            self.violations.push(e);
        }
        let expect = self.drain();
        let (timeout, phase) = vector::observe(&self.session, now);
        self.trace.steps.push(Step {
            at: self.now,
            event,
            expect,
            timeout,
            phase,
        });
    }

    /// Drain the session's actions, check the rules, and schedule the world's answers.
    fn drain(&mut self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for (action, json) in vector::drain(&mut self.session) {
            out.push(json);
            self.on_action(action);
        }
        out
    }

    fn on_action(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::Send { id, generation } => {
                if !self.begun.contains(&id.0) || self.outcomes.contains_key(&id.0) {
                    self.violations
                        .push(format!("Send for unknown or finished request {}", id.0));
                }
                *self.sends.entry(id.0).or_default() += 1;
                let headers = self.session.headers(generation);
                let token = match headers {
                    None => {
                        self.violations
                            .push(format!("Send {} of a generation with no headers", id.0));
                        None
                    }
                    Some(hs) => hs
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                        .and_then(|h| h.value.expose().strip_prefix("Bearer ").map(String::from)),
                };
                if let Some(t) = &token {
                    // Persist-before-use: an OAuth token must have been persisted first.
                    let from_helper = t.starts_with("helper-");
                    let persisted = self.persisted.iter().any(|s| {
                        s.tokens
                            .as_ref()
                            .is_some_and(|tk| tk.access_token.expose() == t)
                    }) || self.trace.snapshot.as_ref().is_some_and(|s| {
                        s.tokens
                            .as_ref()
                            .is_some_and(|tk| tk.access_token.expose() == t)
                    });
                    if !from_helper && !persisted {
                        self.violations
                            .push(format!("Send {} with a token never persisted", id.0));
                    }
                    // Never send a known-expired token while a refresh is possible.
                    let known = self
                        .session
                        .tokens()
                        .and_then(|tk| tk.expires_at())
                        .is_some();
                    let can_refresh = self
                        .session
                        .tokens()
                        .is_some_and(|tk| tk.refresh_token().is_some());
                    let expired = matches!(self.auth.access.get(t), Some(Some(e)) if now >= *e);
                    if known && can_refresh && !from_helper && expired {
                        self.violations
                            .push(format!("Send {} with an expired token at {now}", id.0));
                    }
                }
                self.schedule(now + self.latency, Due::Resource { id: id.0, token });
            }
            Action::Fetch { id, request, .. } => {
                let method = request.method.as_str();
                if request.url == self.auth.token_url {
                    // A fetch the session abandoned at its deadline is no longer in flight.
                    let deadline = self.session.config().policy.fetch_deadline.0;
                    self.token_inflight.retain(|_, sent| *sent + deadline > now);
                    self.token_inflight.insert(id.0, now);
                    self.max_token_inflight =
                        self.max_token_inflight.max(self.token_inflight.len());
                    if self.token_inflight.len() > 1 {
                        self.violations.push(format!(
                            "{} token requests in flight",
                            self.token_inflight.len()
                        ));
                    }
                    // A refresh token the session saw replaced must never be used again.
                    let body = String::from_utf8_lossy(&request.body).into_owned();
                    if let Ok(pairs) = form::parse_pairs(&body) {
                        if let Some((_, rt)) = pairs.iter().find(|(n, _)| n == "refresh_token") {
                            if self.replaced.contains(rt) {
                                self.violations
                                    .push(format!("replaced refresh token {rt} reused"));
                            }
                            self.refresh_sent.insert(id.0, rt.clone());
                        }
                    }
                }
                let headers: Vec<(String, String)> = request
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.expose().to_string()))
                    .collect();
                let latency = self.fetch_latency.unwrap_or(self.latency);
                let reply =
                    self.auth
                        .serve(method, &request.url, &headers, &request.body, now + latency);
                match reply {
                    Reply::Http(status, headers, body) => self.schedule(
                        now + 2 * latency,
                        Due::Http {
                            id: id.0,
                            status,
                            headers,
                            body,
                        },
                    ),
                    Reply::NetworkError => {
                        self.schedule(now + 2 * latency, Due::HttpError { id: id.0 })
                    }
                    Reply::Never => {}
                }
            }
            Action::RunHelper => {
                self.helper_runs += 1;
                self.schedule(now + self.latency, Due::Helper);
            }
            Action::Persist(s) => {
                self.persisted.push(*s);
                if self.persist_failures > 0 {
                    self.persist_failures -= 1;
                    self.schedule(now, Due::PersistFailed);
                }
            }
            Action::Fail { id, .. } => {
                if !self.begun.contains(&id.0) {
                    self.violations
                        .push(format!("Fail for unknown request {}", id.0));
                }
                if let Action::Fail { error, .. } = action {
                    if self.outcomes.insert(id.0, Outcome::Failed(error)).is_some() {
                        self.violations
                            .push(format!("request {} finished twice", id.0));
                    }
                }
            }
            Action::Authorize { url } => {
                if let Some(redirect) = self.auth.authorize(&url, self.browser) {
                    self.schedule(now + self.latency, Due::Redirect { url: redirect });
                }
            }
        }
    }

    /// The next moment something is due, if anything is.
    fn next_due(&self) -> Option<u64> {
        let q = self.queue.peek().map(|Reverse((t, _, _))| *t);
        let t = self.session.poll_timeout().map(|t| t.0);
        match (q, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Jump to the next due moment (not beyond `limit`) and handle it. `false` when
    /// nothing is due before `limit`.
    pub fn step(&mut self, limit: u64) -> bool {
        let Some(at) = self.next_due() else {
            return false;
        };
        if at > limit {
            return false;
        }
        self.now = self.now.max(at);
        let queued_first = self.queue.peek().is_some_and(|Reverse((t, _, _))| *t <= at);
        if !queued_first {
            self.apply(Event::Timeout);
            return true;
        }
        let Some(Reverse((_, _, due))) = self.queue.pop() else {
            return false;
        };
        match due {
            // `apply` records the id the session hands out.
            Due::Begin => self.apply(Event::BeginRequest { id: 0 }),
            Due::Resource { id, .. } if self.outcomes.contains_key(&id) => {
                // The host cancelled it: the answer goes nowhere.
            }
            Due::Resource { id, token } => {
                let ok = token
                    .as_deref()
                    .is_some_and(|t| self.auth.accepts(t, self.now));
                let meta = match &self.challenge_metadata {
                    Some(url) => format!(", resource_metadata=\"{url}\""),
                    None => String::new(),
                };
                let scoped = match (&self.required_scope, token.as_deref()) {
                    (Some(need), Some(t)) => self.auth.scopes.get(t).is_some_and(|have| {
                        need.split(' ').all(|n| have.split(' ').any(|h| h == n))
                    }),
                    _ => true,
                };
                let (status, lines) = if ok && scoped {
                    (200, vec![])
                } else if ok {
                    let need = self.required_scope.clone().unwrap_or_default();
                    let line =
                        format!("Bearer error=\"insufficient_scope\", scope=\"{need}\"{meta}");
                    (403, vec![line])
                } else if token.is_some() {
                    let line = format!(
                        "Bearer error=\"invalid_token\", error_description=\"The access token expired\"{meta}"
                    );
                    (401, vec![line])
                } else if let Some(rest) = meta.strip_prefix(", ") {
                    (401, vec![format!("Bearer {rest}")])
                } else {
                    (401, vec!["Bearer".to_string()])
                };
                self.apply(Event::ResourceResponse {
                    id,
                    status,
                    www_authenticate: lines,
                    verdict: String::new(),
                });
            }
            Due::Http {
                id,
                status,
                headers,
                body,
            } => {
                self.token_inflight.remove(&id);
                if let Some(old) = self.refresh_sent.remove(&id) {
                    let rotated = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| {
                            v.get("refresh_token")
                                .and_then(|r| r.as_str())
                                .map(String::from)
                        });
                    if rotated.is_some_and(|r| r != old) {
                        self.replaced.insert(old);
                    }
                }
                self.apply(Event::HttpResponse {
                    id,
                    status,
                    headers,
                    body,
                });
            }
            Due::HttpError { id } => {
                self.token_inflight.remove(&id);
                self.apply(Event::HttpError {
                    id,
                    kind: "io".into(),
                });
            }
            Due::Helper => {
                let token = format!("helper-{}", self.helper_runs);
                let exp = self.helper_server_ttl.map(|t| self.now + t * 1000);
                self.auth.access.insert(token.clone(), exp);
                self.apply(Event::HelperOutput {
                    stdout: json!({"Authorization": format!("Bearer {token}")}).to_string(),
                });
            }
            Due::Redirect { url } => self.apply(Event::Redirect { url, ok: false }),
            Due::Cancel { id } => self.apply(Event::CancelRequest { id }),
            Due::PersistFailed => self.apply(Event::PersistFailed),
        }
        true
    }

    /// Run until `until` (inclusive), at most `max_steps` steps (a runaway guard).
    pub fn run_until(&mut self, until: u64, max_steps: usize) {
        let mut n = 0;
        while n < max_steps && self.step(until) {
            n += 1;
        }
        if n >= max_steps {
            self.violations
                .push(format!("no quiescence after {max_steps} steps"));
        }
        self.now = self.now.max(until);
    }

    /// Requests begun that have no outcome yet.
    pub fn unfinished(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .begun
            .iter()
            .filter(|id| !self.outcomes.contains_key(id))
            .copied()
            .collect();
        v.sort_unstable();
        v
    }

    /// Count of delivered 2xx outcomes.
    pub fn ok(&self) -> usize {
        self.outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Delivered(s) if (200..300).contains(s)))
            .count()
    }

    /// Count of failed outcomes.
    pub fn failed(&self) -> usize {
        self.outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Failed(_)))
            .count()
    }

    /// Token-endpoint requests of one grant type.
    pub fn grants(&self, grant: &str) -> u32 {
        self.auth.grants.get(grant).copied().unwrap_or(0)
    }

    /// Finish the trace as a vector.
    pub fn into_vector(mut self, name: &str, description: &str) -> Vector {
        self.trace.name = name.into();
        self.trace.description = description.into();
        self.trace.stats = self.session.stats();
        self.trace
    }

    /// Fail the test with every violation and unfinished request, if any.
    pub fn assert_rules(&self) {
        assert!(
            self.violations.is_empty(),
            "rule violations: {:#?}",
            self.violations
        );
    }
}

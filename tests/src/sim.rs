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
use bearerflow::session::{
    Action, Config, Credential, RequestError, RequestId, Session, Snapshot, Verdict,
};
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
    /// Answer with this status and an HTML page instead of JSON: a proxy's 404 or 502
    /// page, a `302` to a login page, a `408`. Not an RFC 6749 §5.2 error, so it says
    /// nothing about the refresh token.
    Page(u16),
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
    /// The resource refuses every access token (an audience it does not accept): each
    /// request gets `401`, also after a refresh.
    pub resource_refuses_all: bool,
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
            resource_refuses_all: false,
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
        !self.resource_refuses_all
            && matches!(self.access.get(token), Some(exp) if exp.is_none_or(|e| now < e))
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
            Some(Fault::Page(status)) => {
                let headers = if (300..400).contains(&status) {
                    vec![("Location".to_string(), format!("{ISSUER}/login"))]
                } else {
                    vec![]
                };
                return Reply::Http(
                    status,
                    headers,
                    "<html><body><h1>Not here</h1></body></html>".into(),
                );
            }
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

/// SplitMix64: a deterministic spread of `x` for the resource's latency jitter.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

enum Reply {
    Http(u16, Vec<(String, String)>, String),
    NetworkError,
    Never,
}

/// A snapshot the sim itself serialized.
fn stored(json: &str) -> Snapshot {
    Snapshot::from_json(json.as_bytes()).unwrap_or_default()
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
    Helper {
        fail: bool,
    },
    Redirect {
        url: String,
    },
    Cancel {
        id: u64,
    },
    PersistFailed,
    Lease {
        granted: bool,
    },
    /// Snapshots travel as their JSON (the queue needs `Ord`).
    StoreUpdate {
        snapshot: String,
    },
    PersistConflict {
        snapshot: String,
    },
}

/// What the simulated header helper does on one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperFault {
    /// Exits non-zero (the session is told it failed).
    Fail,
    /// Never finishes (the session's deadline must end the wait).
    Hang,
}

/// How a request ended, as the caller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered with this status.
    Delivered(u16),
    /// Failed.
    Failed(RequestError),
}

/// A rule of the machine (DESIGN.md, "Rules the machine must keep") as the simulated
/// world checks it, on every action and after every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// At most one token, discovery or registration request, and at most one helper
    /// run, in flight at a time.
    SingleFlight,
    /// Every begun request ends in exactly one outcome: no `Send` or `Fail` for an
    /// unknown or finished request, no second `Send` while one is unanswered, every
    /// `Send` has its headers, nothing left unfinished.
    NothingLost,
    /// One retry after a `401`: a request's second `401` ends it, and no request sees a
    /// third response (step-ups aside, each capped by the policy).
    NoLoops,
    /// A `Send` with an OAuth access token comes after a `Persist` that stores that
    /// access token *and* the refresh token the session now holds, in action order.
    PersistBeforeUse,
    /// A refresh presents the refresh token the host stores (the last `Persist`), never
    /// a refresh token the server replaced.
    RefreshTokenFromStore,
    /// While the access token is valid no request waits for a credential, and a
    /// request begun inside the refresh window finds a refresh under way (proactive).
    ProactiveRefresh,
    /// A known-expired token is never sent while a refresh is possible.
    NoExpiredToken,
    /// Transient token-endpoint failures are spaced by the policy's backoff (or the
    /// server's `Retry-After`, capped by `backoff_max`), and a waiting request never
    /// waits for a refresh longer than `backoff_max` after a failure.
    Backoff,
    /// A `401` answering an older credential is retried at once with the current one.
    StaleRetry,
    /// Header-helper credentials re-run the helper on a `401` and never call an
    /// authorization server.
    HelperPath,
    /// Stored credentials are dropped only when the authorization server says so (an
    /// RFC 6749 §5.2 `invalid_grant`, `invalid_client` or `unauthorized_client`).
    CredentialsKept,
    /// The phase a host shows tells the truth: `Refreshing` exactly while a refresh
    /// or a helper run is in flight; otherwise `Expired`, `Expiring` or `Fresh` as the
    /// credential's refusal, expiry and refresh window say (outside an authorization
    /// flow).
    PhaseTruth,
    /// The run settles: no endless stream of events.
    Quiescence,
}

/// One broken rule, when and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// Simulated time, unix ms.
    pub at: u64,
    /// What happened.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} at {} ms: {}", self.rule, self.at, self.detail)
    }
}

/// One thing that happened, in order: what a test reads to check sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Logged {
    /// A request was begun.
    Begin {
        /// Simulated time.
        at: u64,
        /// Request id.
        id: u64,
    },
    /// A `Send`, with the bearer token it carries (if any).
    Send {
        /// Simulated time.
        at: u64,
        /// Request id.
        id: u64,
        /// The bearer token.
        token: Option<String>,
    },
    /// A `Persist`, with the tokens it stores.
    Persist {
        /// Simulated time.
        at: u64,
        /// Stored access token.
        access: Option<String>,
        /// Stored refresh token.
        refresh: Option<String>,
    },
    /// A request to the token endpoint.
    TokenRequest {
        /// Simulated time.
        at: u64,
        /// Fetch id.
        fetch: u64,
        /// `grant_type`.
        grant: String,
        /// The refresh token presented, for a refresh.
        refresh_token: Option<String>,
    },
    /// The token endpoint's answer as the session received it.
    TokenAnswer {
        /// Simulated time.
        at: u64,
        /// Fetch id.
        fetch: u64,
        /// HTTP status; `None` for a network error or a request never answered (the
        /// session's fetch deadline).
        status: Option<u16>,
        /// `Retry-After`, seconds.
        retry_after: Option<u64>,
    },
    /// The resource's answer to a request.
    Response {
        /// Simulated time.
        at: u64,
        /// Request id.
        id: u64,
        /// HTTP status.
        status: u16,
    },
    /// A `Fail`.
    Fail {
        /// Simulated time.
        at: u64,
        /// Request id.
        id: u64,
        /// The error.
        error: RequestError,
    },
}

/// How often a run reached the situations the rules are about (so a property can show
/// its generator really produces them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// `401`s that arrived for a credential already refused or already being replaced:
    /// several requests in flight hit the same dead token.
    pub concurrent_401s: u32,
    /// A request's second `401`.
    pub second_401s: u32,
    /// `401`s answering an older credential than the current one.
    pub stale_401s: u32,
    /// Transient token-endpoint failures (5xx, 429, network, no answer).
    pub transient_failures: u32,
    /// Requests begun while the access token was valid and inside its refresh window.
    pub begins_in_window: u32,
    /// Header-helper runs asked for.
    pub helper_runs: u32,
}

/// The sim's view of one request.
#[derive(Clone, Debug, Default)]
struct Tracked {
    begun_at: u64,
    /// Waiting for a credential since then (begun or told to retry, not sent yet).
    waiting_since: Option<u64>,
    /// Waiting for a step-up authorization (`403 insufficient_scope`).
    step_up: bool,
    /// A `Send` is out and unanswered.
    in_flight: bool,
    sent_once: bool,
    /// The bearer token of the last `Send`.
    token: Option<String>,
    responses: u32,
    unauthorized: u32,
    scope_challenges: u32,
}

/// An HTTP exchange the session asked for and has not had answered.
#[derive(Clone, Debug)]
struct FetchInFlight {
    sent_at: u64,
    token_endpoint: bool,
    /// The refresh token presented (refresh grants only).
    refresh_token: Option<String>,
    /// The world will never answer: the session's fetch deadline ends it.
    never: bool,
}

/// After a transient refresh failure: when the next refresh may go out, and by when a
/// waiting request must see one.
#[derive(Clone, Copy, Debug)]
struct BackoffWindow {
    failed_at: u64,
    earliest: u64,
    latest: u64,
    attempt: u32,
}

/// What the event being applied was, for the checks after it.
enum Applied {
    Begin {
        id: u64,
        /// The valid token and its refresh window start, at the moment of the begin.
        valid: Option<(String, Option<u64>)>,
    },
    Unauthorized {
        id: u64,
        /// The request's 401s so far, this one included.
        count: u32,
        /// The bearer token the refused request carried.
        sent: Option<String>,
        /// The current valid token at the moment the 401 arrived.
        current: Option<String>,
        /// The current helper credential at that moment.
        helper_current: bool,
    },
    Other,
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
    /// Up to this much more for each resource response, varying per request
    /// (deterministic), so that answers overtake each other: a slow `401` for an old
    /// token can arrive after the refresh that replaced it.
    pub resource_jitter: u64,
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
    /// Answers to the next `AcquireLease` actions, in order (granted when empty).
    pub lease_answers: VecDeque<bool>,
    /// What the shared store holds instead, for the next `Persist` actions: each one
    /// is refused as a failed compare-and-swap with this snapshot.
    pub persist_conflicts: VecDeque<Snapshot>,
    /// Leases granted and not yet released.
    pub leases_held: u32,
    /// Faults for the next helper runs, in order (`None`: that run succeeds).
    pub helper_faults: VecDeque<Option<HelperFault>>,
    /// Helper runs served.
    pub helper_runs: u32,
    /// Outcomes by request id.
    pub outcomes: BTreeMap<u64, Outcome>,
    /// Rule violations seen.
    pub violations: Vec<Violation>,
    /// `401`s the caller saw (delivered to it).
    pub unauthorized_delivered: u32,
    /// Largest number of token-endpoint requests in flight at once.
    pub max_token_inflight: usize,
    /// Sends per request.
    pub sends: BTreeMap<u64, u32>,
    /// How long each request waited between its begin and its first `Send`, ms.
    pub waited: BTreeMap<u64, u64>,
    /// Snapshots persisted, in order.
    pub persisted: Vec<Snapshot>,
    /// Everything that happened, in order.
    pub log: Vec<Logged>,
    /// How often the interesting situations came up.
    pub coverage: Coverage,
    /// Record every step as a vector step (on by default; property runs turn it off to
    /// save the JSON work).
    pub record: bool,
    queue: BinaryHeap<Reverse<(u64, u64, Due)>>,
    seq: u64,
    requests: BTreeMap<u64, Tracked>,
    fetches: HashMap<u64, FetchInFlight>,
    /// When the helper run in flight was asked for, and whether it will never finish.
    helper_inflight: Option<(u64, bool)>,
    /// The bearer value the last successful helper run produced.
    helper_current: Option<String>,
    /// Access tokens some `401` refused.
    rejected: HashSet<String>,
    /// The credential (bearer value) the session itself marked refused: a request's
    /// first `401` for the credential current when it arrived.
    session_rejected: Option<String>,
    /// When the current helper output arrived.
    helper_output_at: u64,
    /// The last helper run failed: the session backs off before the next one (a `401`
    /// for the current output then waits for it).
    helper_backing_off: bool,
    replaced: HashSet<String>,
    /// Transient refresh failures in a row.
    transient_run: u32,
    backoff: Option<BackoffWindow>,
    /// The token endpoint's `error` code in the answer being applied, if any.
    answer_error: Option<String>,
    applied: Option<Applied>,
    step_sends: Vec<(u64, Option<String>)>,
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
            resource_jitter: 0,
            browser: Browser::Approve,
            helper_server_ttl: None,
            fetch_latency: None,
            persist_failures: 0,
            lease_answers: VecDeque::new(),
            persist_conflicts: VecDeque::new(),
            leases_held: 0,
            helper_faults: VecDeque::new(),
            required_scope: None,
            challenge_metadata: Some(PRM_URL.to_string()),
            helper_runs: 0,
            outcomes: BTreeMap::new(),
            violations: Vec::new(),
            unauthorized_delivered: 0,
            max_token_inflight: 0,
            sends: BTreeMap::new(),
            waited: BTreeMap::new(),
            persisted: Vec::new(),
            log: Vec::new(),
            coverage: Coverage::default(),
            record: true,
            queue: BinaryHeap::new(),
            seq: 0,
            requests: BTreeMap::new(),
            fetches: HashMap::new(),
            helper_inflight: None,
            helper_current: None,
            rejected: HashSet::new(),
            session_rejected: None,
            helper_output_at: 0,
            helper_backing_off: false,
            replaced: HashSet::new(),
            transient_run: 0,
            backoff: None,
            answer_error: None,
            applied: None,
            step_sends: Vec::new(),
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

    /// Another process's snapshot reaches the shared store at `at` (≥ now).
    pub fn store_update_at(&mut self, at: u64, snapshot: Snapshot) {
        self.schedule(
            at,
            Due::StoreUpdate {
                snapshot: snapshot.to_json().to_string(),
            },
        );
    }

    /// Cancel request `id` at `at` (≥ now), as a host whose caller went away.
    pub fn cancel_at(&mut self, at: u64, id: u64) {
        self.schedule(at, Due::Cancel { id });
    }

    fn violate(&mut self, rule: Rule, detail: String) {
        self.violations.push(Violation {
            rule,
            at: self.now,
            detail,
        });
    }

    /// The violations of one rule.
    pub fn violations_of(&self, rule: Rule) -> Vec<&Violation> {
        self.violations.iter().filter(|v| v.rule == rule).collect()
    }

    /// What the host holds in its store: the last `Persist`, else the snapshot the
    /// session was restored from.
    pub fn stored(&self) -> Option<&Snapshot> {
        self.persisted.last().or(self.trace.snapshot.as_ref())
    }

    fn stored_tokens(&self) -> (Option<String>, Option<String>) {
        let t = self.stored().and_then(|s| s.tokens.as_ref());
        (
            t.map(|t| t.access_token.expose().to_string()),
            t.and_then(|t| t.refresh_token.as_ref().map(|r| r.expose().to_string())),
        )
    }

    /// The session's OAuth access token while it is valid by the session's own clock
    /// (before its expiry less the clock-skew margin) and no `401` refused it, with the
    /// moment its refresh window has surely opened (the window before jitter, which
    /// only moves it earlier). `None` for helper credentials.
    fn valid_token(&self, now: u64) -> Option<(String, Option<u64>)> {
        let t = self.session.tokens()?;
        let token = t.access_token().to_string();
        if self.rejected.contains(&token) {
            return None;
        }
        match (t.expires_at(), t.lifetime()) {
            (Some(expires_at), Some(lifetime)) => {
                let policy = &self.session.config().policy;
                let expired_at = expires_at.0.saturating_sub(policy.skew_for(lifetime).0);
                if now >= expired_at {
                    return None;
                }
                let window_open = expired_at.saturating_sub(policy.window_for(lifetime).0);
                Some((token, Some(window_open)))
            }
            _ => Some((token, None)),
        }
    }

    fn helper_session(&self) -> bool {
        matches!(
            self.session.config().credential,
            Credential::HeaderHelper(_)
        )
    }

    /// A header-helper session with no OAuth fallback: it never fetches, and a `401`
    /// for the helper's current output always re-runs the helper. (With
    /// `oauth_fallback`, a `401` naming `resource_metadata` may start OAuth instead.)
    fn helper_only(&self) -> bool {
        matches!(
            &self.session.config().credential,
            Credential::HeaderHelper(h) if h.oauth_fallback.is_none()
        )
    }

    /// Fetches and helper runs the world never answers end at the session's deadline;
    /// a never-answered refresh is then a transient failure.
    fn expire_unanswered(&mut self) {
        let now = self.now;
        let deadline = self.session.config().policy.fetch_deadline.0;
        let expired: Vec<u64> = self
            .fetches
            .iter()
            .filter(|(_, f)| f.never && f.sent_at + deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(f) = self.fetches.remove(&id) {
                if f.token_endpoint {
                    self.log.push(Logged::TokenAnswer {
                        at: f.sent_at + deadline,
                        fetch: id,
                        status: None,
                        retry_after: None,
                    });
                }
                if f.refresh_token.is_some() {
                    self.transient_failure(f.sent_at + deadline, None);
                }
            }
        }
        if let Some((sent, true)) = self.helper_inflight {
            if sent + deadline <= now {
                self.helper_inflight = None;
                self.helper_backing_off = true;
            }
        }
    }

    /// A transient refresh failure at `at`: the next refresh may not go out before the
    /// policy's backoff, and must go out by `backoff_max` if a request waits.
    fn transient_failure(&mut self, at: u64, retry_after_secs: Option<u64>) {
        self.coverage.transient_failures += 1;
        self.transient_run += 1;
        let policy = &self.session.config().policy;
        let max = policy.backoff_max.0;
        // Attempts count within a run of `max_token_attempts`; after that the run
        // starts again (the session fails the waiting requests in between).
        let attempts = u32::from(policy.max_token_attempts.max(1));
        let attempt = (self.transient_run - 1) % attempts + 1;
        let least = match retry_after_secs {
            Some(s) => s.saturating_mul(1000).min(max),
            None => policy
                .backoff_initial
                .0
                .saturating_mul(1u64 << (attempt - 1).min(20))
                .min(max),
        };
        self.backoff = Some(BackoffWindow {
            failed_at: at,
            earliest: at + least,
            latest: at + max,
            attempt,
        });
    }

    /// A waiting request must see a refresh by `backoff_max` after a transient failure.
    fn check_backoff_cap(&mut self) {
        let Some(b) = self.backoff else {
            return;
        };
        if self.now <= b.latest || self.fetches.values().any(|f| f.token_endpoint) {
            return;
        }
        let can_refresh = self
            .session
            .tokens()
            .is_some_and(|t| t.refresh_token().is_some());
        let waiting: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.waiting_since.is_some() && !r.step_up)
            .map(|(id, _)| *id)
            .collect();
        if can_refresh && !waiting.is_empty() {
            self.backoff = None;
            self.violate(
                Rule::Backoff,
                format!(
                    "requests {waiting:?} wait, and no refresh since the failure at {} \
                     (backoff_max ends at {})",
                    b.failed_at, b.latest
                ),
            );
        }
    }

    /// Feed one event to the session, record it, and handle what comes out.
    fn apply(&mut self, mut event: Event) {
        self.expire_unanswered();
        self.check_backoff_cap();
        let now = Timestamp(self.now);
        self.step_sends.clear();
        self.applied = Some(Applied::Other);
        if let Event::BeginRequest { .. } = event {
            let valid = self.valid_token(self.now);
            let id = self.session.begin_request(now);
            self.requests.insert(
                id.0,
                Tracked {
                    begun_at: self.now,
                    waiting_since: Some(self.now),
                    ..Tracked::default()
                },
            );
            self.log.push(Logged::Begin {
                at: self.now,
                id: id.0,
            });
            self.applied = Some(Applied::Begin { id: id.0, valid });
            event = Event::BeginRequest { id: id.0 };
        } else if let Event::ResourceResponse {
            id,
            status,
            www_authenticate,
            ..
        } = &event
        {
            self.log.push(Logged::Response {
                at: self.now,
                id: *id,
                status: *status,
            });
            let current = self.valid_token(self.now).map(|(t, _)| t);
            let current_credential = self
                .session
                .tokens()
                .map(|t| t.access_token().to_string())
                .or_else(|| {
                    self.helper_current
                        .clone()
                        .filter(|_| self.helper_session())
                });
            let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
            let v = self
                .session
                .handle_resource_response(RequestId(*id), *status, &lines, now);
            let scope_challenge = *status == 403
                && www_authenticate
                    .iter()
                    .any(|l| l.contains("insufficient_scope"));
            let mut sent = None;
            let mut count = 0;
            if let Some(r) = self.requests.get_mut(id) {
                sent = r.token.take();
                r.in_flight = false;
                r.responses += 1;
                if *status == 401 {
                    r.unauthorized += 1;
                }
                count = r.unauthorized;
                if scope_challenge {
                    r.scope_challenges += 1;
                }
            }
            let verdict = match v {
                Verdict::Deliver => {
                    self.requests.remove(id);
                    if self
                        .outcomes
                        .insert(*id, Outcome::Delivered(*status))
                        .is_some()
                    {
                        self.violate(Rule::NothingLost, format!("request {id} finished twice"));
                    }
                    if *status == 401 {
                        self.unauthorized_delivered += 1;
                    }
                    "deliver"
                }
                Verdict::Retry => {
                    if let Some(r) = self.requests.get_mut(id) {
                        r.waiting_since = Some(self.now);
                        r.step_up = scope_challenge;
                    }
                    "retry"
                }
            };
            if *status == 401 {
                if count == 1 && sent.is_some() && sent == current_credential {
                    self.session_rejected = sent.clone();
                }
                if let Some(t) = &sent {
                    let replacing = self.fetches.values().any(|f| f.token_endpoint)
                        || self.helper_inflight.is_some();
                    if self.rejected.contains(t) || replacing {
                        self.coverage.concurrent_401s += 1;
                    }
                    if current.as_ref().is_some_and(|c| c != t) {
                        self.coverage.stale_401s += 1;
                    }
                    self.rejected.insert(t.clone());
                }
                let helper_current = sent.is_some() && sent == self.helper_current;
                self.applied = Some(Applied::Unauthorized {
                    id: *id,
                    count,
                    sent,
                    current,
                    helper_current,
                });
            }
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
            self.violate(Rule::NothingLost, e);
        }
        let expect = self.drain();
        self.after_event();
        // After the event: an answer to the refresh that the window started is applied
        // by now (its fetch is no longer in flight, its tokens are in).
        self.check_idle_refresh();
        self.answer_error = None;
        if self.record {
            let (timeout, phase) = vector::observe(&self.session, now);
            self.trace.steps.push(Step {
                at: self.now,
                event,
                expect,
                timeout,
                phase,
            });
        }
    }

    /// The checks that look at a whole event: what its actions did, and the state
    /// after them.
    fn after_event(&mut self) {
        let now = self.now;
        let valid = self.valid_token(now);
        match self.applied.take() {
            Some(Applied::Begin {
                id,
                valid: Some((token, Some(window_open))),
            }) if now >= window_open => {
                self.coverage.begins_in_window += 1;
                // Proactive: a request begun in the window goes out with the current
                // token, and a refresh is under way (or backing off after a failure).
                let can_refresh = self
                    .session
                    .tokens()
                    .is_some_and(|t| t.access_token() == token && t.refresh_token().is_some());
                let refreshing = self.fetches.values().any(|f| f.token_endpoint);
                if can_refresh && !refreshing && self.backoff.is_none() {
                    self.violate(
                        Rule::ProactiveRefresh,
                        format!(
                            "request {id} begun in the refresh window (open since {window_open}) \
                             and no refresh under way"
                        ),
                    );
                }
            }
            Some(Applied::Unauthorized {
                id,
                count,
                sent,
                current,
                helper_current,
            }) => {
                let sent_again = self.step_sends.iter().any(|(i, _)| *i == id);
                let open = self.requests.contains_key(&id);
                if count >= 2 {
                    // No loops: the second 401 ends the request, without another Send.
                    self.coverage.second_401s += 1;
                    if open || sent_again {
                        self.violate(
                            Rule::NoLoops,
                            format!("request {id} got its second 401 and was not ended by it"),
                        );
                    }
                } else if open {
                    // A 401 for an older token than the current, valid one is retried at
                    // once with the current token.
                    if let (Some(sent), Some(current)) = (&sent, &current) {
                        let with_current = self
                            .step_sends
                            .iter()
                            .any(|(i, t)| *i == id && t.as_ref() == Some(current));
                        if sent != current && !with_current {
                            self.violate(
                                Rule::StaleRetry,
                                format!(
                                    "request {id}: 401 for an older token, not retried at once \
                                     with the current one"
                                ),
                            );
                        }
                    }
                    if helper_current
                        && self.helper_only()
                        && self.helper_inflight.is_none()
                        && !self.helper_backing_off
                    {
                        self.violate(
                            Rule::HelperPath,
                            format!(
                                "request {id}: 401 for the helper's current credential and no \
                                 helper run"
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
        self.check_phase(now);
        let pending = self.session.pending_requests();
        if pending != self.requests.len() {
            self.violate(
                Rule::NothingLost,
                format!(
                    "the session counts {pending} pending requests, the host {}",
                    self.requests.len()
                ),
            );
        }
        // No request waits while a valid token exists (step-ups wait for a new grant).
        if let Some((token, _)) = valid {
            let waiting: Vec<u64> = self
                .requests
                .iter()
                .filter(|(_, r)| r.waiting_since.is_some() && !r.step_up)
                .map(|(id, _)| *id)
                .collect();
            if !waiting.is_empty() {
                self.violate(
                    Rule::ProactiveRefresh,
                    format!("requests {waiting:?} wait while the access token {token} is valid"),
                );
            }
        }
    }

    /// The phase a host shows (`Session::phase`, token.rs) against what the world knows:
    /// `Refreshing` exactly while a refresh or a helper run is in flight; otherwise a
    /// credential the session saw refused, or past its expiry (less the clock-skew
    /// margin), is `Expired`; inside its refresh window `Expiring`; before it `Fresh`.
    /// An authorization flow shows `Authorizing` whatever else holds, and a session
    /// that gave up shows `Failed`; neither is judged here.
    fn check_phase(&mut self, now: u64) {
        use bearerflow::token::Phase;
        let phase = self.session.phase(Timestamp(now));
        if matches!(phase, Phase::Authorizing | Phase::Failed) {
            return;
        }
        // A deadline due at this instant and not yet handled (another event of the same
        // millisecond came first): the phase is still the one before it, and the world
        // has already given the fetch up. Judged again after the timeout.
        if self.session.poll_timeout().is_some_and(|t| t.0 <= now) {
            return;
        }
        let refreshing = self.fetches.values().any(|f| f.refresh_token.is_some())
            || (self.helper_inflight.is_some() && self.helper_session());
        // A helper session judged by its helper's output; one that fell back to OAuth
        // (`oauth_fallback`) by its tokens.
        let helper = self.helper_session() && self.session.tokens().is_none();
        // With a shared store, a session that waits for the store's lease, or for the
        // process holding it to finish its refresh, shows `Refreshing` too: a refresh
        // the simulated world does not see (it happens in another process).
        let waits_on_store =
            self.session.config().policy.shared_store && phase == Phase::Refreshing && !refreshing;
        if refreshing != (phase == Phase::Refreshing) && !waits_on_store {
            let what = if refreshing {
                "a refresh or helper run is in flight"
            } else {
                "nothing is being refreshed"
            };
            self.violate(Rule::PhaseTruth, format!("phase {phase} while {what}"));
            return;
        }
        if refreshing || waits_on_store {
            return;
        }
        let expected: &[Phase] = if helper {
            match &self.helper_current {
                None => &[Phase::Unauthorized],
                Some(h) if self.session_rejected.as_ref() == Some(h) => &[Phase::Expired],
                Some(_) => {
                    let ttl = match &self.session.config().credential {
                        Credential::HeaderHelper(c) => c.ttl_ms,
                        Credential::OAuth(_) => None,
                    };
                    if ttl.is_some_and(|t| now >= self.helper_output_at + t) {
                        &[Phase::Expired]
                    } else {
                        &[Phase::Fresh]
                    }
                }
            }
        } else {
            let Some(t) = self.session.tokens() else {
                return;
            };
            if self.session_rejected.as_deref() == Some(t.access_token()) {
                &[Phase::Expired]
            } else {
                match (t.expires_at(), t.lifetime()) {
                    (Some(e), Some(lifetime)) => {
                        let policy = &self.session.config().policy;
                        let expired_at = e.0.saturating_sub(policy.skew_for(lifetime).0);
                        let window = policy.window_for(lifetime).0;
                        let jitter = window * u64::from(policy.jitter_permille) / 1000;
                        if now >= expired_at {
                            &[Phase::Expired]
                        } else if now >= expired_at.saturating_sub(window) {
                            &[Phase::Expiring]
                        } else if now < expired_at.saturating_sub(window + jitter) {
                            &[Phase::Fresh]
                        } else {
                            &[Phase::Fresh, Phase::Expiring]
                        }
                    }
                    _ => &[Phase::Fresh],
                }
            }
        };
        if !expected.contains(&phase) {
            self.violate(
                Rule::PhaseTruth,
                format!("phase {phase}, the credential says {expected:?}"),
            );
        }
    }

    /// With `refresh_when_idle`, a refresh starts when the window opens even though no
    /// request asks: by the time anything else happens after the window surely opened,
    /// one is under way (or backing off after a failure).
    fn check_idle_refresh(&mut self) {
        if !self.session.config().policy.refresh_when_idle {
            return;
        }
        let Some((token, Some(window_open))) = self.valid_token(self.now) else {
            return;
        };
        let can_refresh = self
            .session
            .tokens()
            .is_some_and(|t| t.refresh_token().is_some());
        let refreshing = self.fetches.values().any(|f| f.token_endpoint);
        if self.now > window_open && can_refresh && !refreshing && self.backoff.is_none() {
            self.violate(
                Rule::ProactiveRefresh,
                format!(
                    "an idle session with refresh_when_idle did not refresh {token} when \
                     its window opened at {window_open}"
                ),
            );
        }
    }

    /// Drain the session's actions, check the rules, and schedule the world's answers.
    fn drain(&mut self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        if self.record {
            for (action, json) in vector::drain(&mut self.session) {
                out.push(json);
                self.on_action(action);
            }
        } else {
            while let Some(action) = self.session.poll_action() {
                self.on_action(action);
            }
        }
        out
    }

    fn on_action(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::Send { id, generation } => self.on_send(id.0, generation),
            Action::Fetch { id, request, .. } => {
                if self.helper_only() {
                    self.violate(
                        Rule::HelperPath,
                        format!("a header-helper session fetched {}", request.url),
                    );
                }
                let deadline = self.session.config().policy.fetch_deadline.0;
                // A fetch the session abandoned at its deadline is no longer in flight.
                self.fetches.retain(|_, f| f.sent_at + deadline > now);
                if !self.fetches.is_empty() {
                    self.violate(
                        Rule::SingleFlight,
                        format!(
                            "fetch {} for {} while {} other fetch(es) are in flight",
                            id.0,
                            request.url,
                            self.fetches.len()
                        ),
                    );
                }
                let token_endpoint = request.url == self.auth.token_url;
                let mut refresh_token = None;
                if token_endpoint {
                    let token_inflight =
                        self.fetches.values().filter(|f| f.token_endpoint).count() + 1;
                    self.max_token_inflight = self.max_token_inflight.max(token_inflight);
                    let body = String::from_utf8_lossy(&request.body).into_owned();
                    let pairs = form::parse_pairs(&body).unwrap_or_default();
                    let field =
                        |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    refresh_token = field("refresh_token");
                    self.log.push(Logged::TokenRequest {
                        at: now,
                        fetch: id.0,
                        grant: field("grant_type").unwrap_or_default(),
                        refresh_token: refresh_token.clone(),
                    });
                    if let Some(rt) = &refresh_token {
                        self.on_refresh_request(rt);
                    }
                }
                let headers: Vec<(String, String)> = request
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.expose().to_string()))
                    .collect();
                let latency = self.fetch_latency.unwrap_or(self.latency);
                let reply = self.auth.serve(
                    request.method.as_str(),
                    &request.url,
                    &headers,
                    &request.body,
                    now + latency,
                );
                let never = matches!(reply, Reply::Never);
                self.fetches.insert(
                    id.0,
                    FetchInFlight {
                        sent_at: now,
                        token_endpoint,
                        refresh_token,
                        never,
                    },
                );
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
                self.coverage.helper_runs += 1;
                if self.helper_inflight.is_some() {
                    self.violate(
                        Rule::SingleFlight,
                        "a helper run while another is in flight".into(),
                    );
                }
                let fault = self.helper_faults.pop_front().flatten();
                self.helper_inflight = Some((now, fault == Some(HelperFault::Hang)));
                if fault != Some(HelperFault::Hang) {
                    let fail = fault == Some(HelperFault::Fail);
                    self.schedule(now + self.latency, Due::Helper { fail });
                }
            }
            Action::Persist(s) => {
                if let Some(current) = self.persist_conflicts.pop_front() {
                    // Handed out to store (the rule), refused by the store's
                    // compare-and-swap.
                    self.on_persist(*s);
                    self.schedule(
                        now,
                        Due::PersistConflict {
                            snapshot: current.to_json().to_string(),
                        },
                    );
                    return;
                }
                self.on_persist(*s);
                if self.persist_failures > 0 {
                    self.persist_failures -= 1;
                    self.schedule(now, Due::PersistFailed);
                }
            }
            Action::AcquireLease { .. } => {
                let granted = self.lease_answers.pop_front().unwrap_or(true);
                if granted {
                    self.leases_held += 1;
                    if self.leases_held > 1 {
                        self.violate(Rule::SingleFlight, "a second lease taken".into());
                    }
                }
                self.schedule(now + self.latency, Due::Lease { granted });
            }
            Action::ReleaseLease => {
                if self.leases_held == 0 {
                    self.violate(
                        Rule::SingleFlight,
                        "a lease released that was not held".into(),
                    );
                }
                self.leases_held = self.leases_held.saturating_sub(1);
            }
            Action::Fail { id, error, .. } => {
                self.log.push(Logged::Fail {
                    at: now,
                    id: id.0,
                    error,
                });
                match self.requests.remove(&id.0) {
                    None if !self.outcomes.contains_key(&id.0) => self.violate(
                        Rule::NothingLost,
                        format!("Fail for unknown request {}", id.0),
                    ),
                    _ => {}
                }
                if self.outcomes.insert(id.0, Outcome::Failed(error)).is_some() {
                    self.violate(
                        Rule::NothingLost,
                        format!("request {} finished twice", id.0),
                    );
                }
            }
            Action::Authorize { url } => {
                if let Some(redirect) = self.auth.authorize(&url, self.browser) {
                    self.schedule(now + self.latency, Due::Redirect { url: redirect });
                }
            }
        }
    }

    fn on_send(&mut self, id: u64, generation: bearerflow::token::Generation) {
        let now = self.now;
        *self.sends.entry(id).or_default() += 1;
        let token = match self.session.headers(generation) {
            None => {
                self.violate(
                    Rule::NothingLost,
                    format!("Send {id} of a generation with no headers"),
                );
                None
            }
            Some(hs) => hs
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                .and_then(|h| h.value.expose().strip_prefix("Bearer ").map(String::from)),
        };
        self.log.push(Logged::Send {
            at: now,
            id,
            token: token.clone(),
        });
        self.step_sends.push((id, token.clone()));
        match self.requests.get_mut(&id) {
            None => self.violate(
                Rule::NothingLost,
                format!("Send for unknown or finished request {id}"),
            ),
            Some(r) => {
                let twice = r.in_flight;
                let begun_at = r.begun_at;
                let first = !r.sent_once;
                r.in_flight = true;
                r.sent_once = true;
                r.waiting_since = None;
                r.step_up = false;
                r.token = token.clone();
                let over = r.responses >= 2 + r.scope_challenges.min(self.max_step_ups());
                if first {
                    self.waited.insert(id, now - begun_at);
                }
                if twice {
                    self.violate(
                        Rule::NothingLost,
                        format!("request {id} sent again before its answer"),
                    );
                }
                if over {
                    self.violate(
                        Rule::NoLoops,
                        format!("request {id} sent after more than two responses"),
                    );
                }
            }
        }
        if let Some(t) = &token {
            let from_helper = t.starts_with("helper-");
            if !from_helper {
                self.check_persisted_before_use(id, t);
                // Never send a known-expired token while a refresh is possible.
                let tokens = self.session.tokens();
                let known = tokens.and_then(|tk| tk.expires_at()).is_some();
                let can_refresh = tokens.is_some_and(|tk| tk.refresh_token().is_some());
                let expired = matches!(self.auth.access.get(t), Some(Some(e)) if now >= *e);
                if known && can_refresh && expired {
                    self.violate(
                        Rule::NoExpiredToken,
                        format!("Send {id} with an expired token at {now}"),
                    );
                }
            }
        }
        let jitter = match self.resource_jitter {
            0 => 0,
            j => splitmix(self.seq) % (j + 1),
        };
        self.schedule(now + self.latency + jitter, Due::Resource { id, token });
    }

    fn max_step_ups(&self) -> u32 {
        u32::from(self.session.config().policy.max_step_ups)
    }

    /// Persist before use: the host's store holds the access token being sent and the
    /// refresh token the session holds beside it.
    fn check_persisted_before_use(&mut self, id: u64, token: &str) {
        let (access, refresh) = self.stored_tokens();
        let held_refresh = self
            .session
            .tokens()
            .filter(|t| t.access_token() == token)
            .map(|t| t.refresh_token().map(|r| r.expose().to_string()));
        if access.as_deref() != Some(token) {
            self.violate(
                Rule::PersistBeforeUse,
                format!("Send {id} with access token {token} before a Persist stored it"),
            );
        } else if let Some(held) = held_refresh {
            if held != refresh {
                self.violate(
                    Rule::PersistBeforeUse,
                    format!(
                        "Send {id}: the store holds refresh token {refresh:?} beside {token}, \
                         the session holds {held:?}"
                    ),
                );
            }
        }
    }

    /// A refresh presents the stored refresh token, never a replaced one, and not
    /// before the backoff after a transient failure ends.
    fn on_refresh_request(&mut self, rt: &str) {
        let (_, stored) = self.stored_tokens();
        if stored.as_deref() != Some(rt) {
            self.violate(
                Rule::RefreshTokenFromStore,
                format!("refresh with {rt}, the host stores {stored:?}"),
            );
        }
        if self.replaced.contains(rt) {
            self.violate(
                Rule::RefreshTokenFromStore,
                format!("replaced refresh token {rt} reused"),
            );
        }
        if let Some(b) = self.backoff.take() {
            if self.now < b.earliest {
                self.violate(
                    Rule::Backoff,
                    format!(
                        "refresh {} ms after transient failure #{} at {}; the backoff allows \
                         it from {}",
                        self.now - b.failed_at,
                        b.attempt,
                        b.failed_at,
                        b.earliest
                    ),
                );
            }
        }
    }

    /// Credentials kept: a `Persist` drops a stored refresh token or registration only
    /// right after the authorization server said so (RFC 6749 §5.2).
    fn on_persist(&mut self, s: Snapshot) {
        let (_, before_refresh) = self.stored_tokens();
        let before_client = self.stored().and_then(|p| p.client.clone());
        let refresh = s
            .tokens
            .as_ref()
            .and_then(|t| t.refresh_token.as_ref().map(|r| r.expose().to_string()));
        let error = self.answer_error.clone();
        let error = error.as_deref();
        if before_refresh.is_some() && refresh.is_none() {
            let says_so = matches!(
                error,
                Some("invalid_grant" | "invalid_client" | "unauthorized_client")
            );
            if !says_so {
                self.violate(
                    Rule::CredentialsKept,
                    format!("the stored refresh token was dropped after {error:?}"),
                );
            }
        }
        if before_client.is_some() && s.client.is_none() {
            let says_so = matches!(error, Some("invalid_client" | "unauthorized_client"));
            if !says_so {
                self.violate(
                    Rule::CredentialsKept,
                    format!("the stored registration was dropped after {error:?}"),
                );
            }
        }
        self.log.push(Logged::Persist {
            at: self.now,
            access: s
                .tokens
                .as_ref()
                .map(|t| t.access_token.expose().to_string()),
            refresh,
        });
        self.persisted.push(s);
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
                let fetch = self.fetches.remove(&id);
                let parsed = serde_json::from_str::<serde_json::Value>(&body).ok();
                let field = |k: &str| {
                    parsed
                        .as_ref()
                        .and_then(|v| v.get(k))
                        .and_then(|r| r.as_str())
                        .map(String::from)
                };
                if let Some(f) = fetch.as_ref().filter(|f| f.token_endpoint) {
                    let retry_after = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
                        .and_then(|(_, v)| v.parse().ok());
                    self.log.push(Logged::TokenAnswer {
                        at: self.now,
                        fetch: id,
                        status: Some(status),
                        retry_after,
                    });
                    let granted = (200..300).contains(&status) && field("access_token").is_some();
                    let oauth_error = (400..500).contains(&status) && status != 429;
                    let error = field("error").filter(|_| oauth_error);
                    if let Some(old) = &f.refresh_token {
                        if granted {
                            if field("refresh_token").is_some_and(|r| &r != old) {
                                self.replaced.insert(old.clone());
                            }
                            self.transient_run = 0;
                            self.backoff = None;
                        } else if error.is_some() {
                            self.transient_run = 0;
                            self.backoff = None;
                        } else {
                            // 5xx, 429, a page, a 2xx that is no token: transient.
                            self.transient_failure(self.now, retry_after);
                        }
                    }
                    self.answer_error = error;
                }
                self.apply(Event::HttpResponse {
                    id,
                    status,
                    headers,
                    body,
                });
            }
            Due::HttpError { id } => {
                if let Some(f) = self.fetches.remove(&id) {
                    if f.token_endpoint {
                        self.log.push(Logged::TokenAnswer {
                            at: self.now,
                            fetch: id,
                            status: None,
                            retry_after: None,
                        });
                    }
                    if f.refresh_token.is_some() {
                        self.transient_failure(self.now, None);
                    }
                }
                self.apply(Event::HttpError {
                    id,
                    kind: "io".into(),
                });
            }
            Due::Helper { fail } => {
                self.helper_inflight = None;
                let stdout = if fail {
                    None
                } else {
                    let token = format!("helper-{}", self.helper_runs);
                    let exp = self.helper_server_ttl.map(|t| self.now + t * 1000);
                    self.auth.access.insert(token.clone(), exp);
                    self.helper_current = Some(token.clone());
                    self.helper_output_at = self.now;
                    Some(json!({"Authorization": format!("Bearer {token}")}).to_string())
                };
                self.helper_backing_off = stdout.is_none();
                match stdout {
                    Some(stdout) => self.apply(Event::HelperOutput { stdout }),
                    None => self.apply(Event::HelperFailure { exit_code: Some(1) }),
                }
            }
            Due::Redirect { url } => self.apply(Event::Redirect { url, ok: false }),
            Due::Cancel { id } => self.apply(Event::CancelRequest { id }),
            Due::PersistFailed => self.apply(Event::PersistFailed),
            Due::Lease { granted } => self.apply(Event::Lease { granted }),
            Due::StoreUpdate { snapshot } => {
                // Another process stored it: its tokens count as persisted.
                let snapshot = stored(&snapshot);
                self.persisted.push(snapshot.clone());
                self.apply(Event::StoreUpdate { snapshot })
            }
            Due::PersistConflict { snapshot } => {
                let snapshot = stored(&snapshot);
                self.persisted.push(snapshot.clone());
                self.apply(Event::PersistConflict { snapshot })
            }
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
            self.violate(
                Rule::Quiescence,
                format!("no quiescence after {max_steps} steps"),
            );
        }
        self.now = self.now.max(until);
        self.expire_unanswered();
        self.check_backoff_cap();
    }

    /// Requests begun that have no outcome yet.
    pub fn unfinished(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .requests
            .keys()
            .filter(|id| !self.outcomes.contains_key(id))
            .copied()
            .collect();
        v.sort_unstable();
        v
    }

    /// Nothing lost, at the end of a run that gave every request time to finish:
    /// record each unfinished request as a violation.
    pub fn check_finished(&mut self) {
        for id in self.unfinished() {
            self.violate(Rule::NothingLost, format!("request {id} never finished"));
        }
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

    /// Fail the test with every violation, if any.
    pub fn assert_rules(&self) {
        assert!(
            self.violations.is_empty(),
            "rule violations:\n{}",
            self.violations
                .iter()
                .map(|v| format!("  {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

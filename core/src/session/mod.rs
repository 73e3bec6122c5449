//! The session machine: one credential kept alive for many requests.
//!
//! # The contract
//!
//! Like quinn-proto's `Connection`, a [`Session`] has four kinds of methods; a host
//! needs nothing else.
//!
//! 1. **Getters** (`&self`): [`phase`](Session::phase), [`tokens`](Session::tokens),
//!    [`headers`](Session::headers), [`stats`](Session::stats),
//!    [`snapshot`](Session::snapshot), [`last_error`](Session::last_error).
//! 2. **Input** from the network, the browser, the helper and the clock:
//!    [`handle_resource_response`](Session::handle_resource_response),
//!    [`handle_http_response`](Session::handle_http_response),
//!    [`handle_http_error`](Session::handle_http_error),
//!    [`handle_helper_output`](Session::handle_helper_output),
//!    [`handle_redirect`](Session::handle_redirect),
//!    [`handle_authorize_error`](Session::handle_authorize_error),
//!    [`handle_timeout`](Session::handle_timeout).
//! 3. **Application calls**: [`begin_request`](Session::begin_request),
//!    [`cancel_request`](Session::cancel_request), [`set_tokens`](Session::set_tokens),
//!    [`reauthorize`](Session::reauthorize), [`add_entropy`](Session::add_entropy).
//! 4. **Output**: [`poll_action`](Session::poll_action) until `None`, then
//!    [`poll_timeout`](Session::poll_timeout) says when to call `handle_timeout`.
//!
//! After any call of kind 2 or 3, drain `poll_action` before waiting again. Actions come
//! out in the order the rules need: a [`Action::Persist`] always precedes the first
//! [`Action::Send`] that uses the tokens it stores.
//!
//! # The rules it keeps
//!
//! - **Single flight**: at most one token, discovery or registration request, or one
//!   helper run, is in flight at a time, however many requests need it.
//! - **Nothing lost**: every [`RequestId`] from `begin_request` gets exactly one final
//!   outcome: a `Send` whose response the host reports and gets [`Verdict::Deliver`]
//!   for, or one `Fail`. A `401` is answered by [`Verdict::Retry`] and a new `Send` or a
//!   `Fail` for the same id.
//! - **No loops**: one retry per request after a `401`; a second `401` fails it.
//!   Transient token-endpoint failures back off exponentially (RFC 9110 §10.2.3
//!   `Retry-After` honoured, capped); `invalid_grant` (RFC 6749 §5.2) drops the tokens
//!   and either starts authorization once or fails the waiting requests.
//! - **Proactive refresh**: in [`Phase::Expiring`] requests still go out with the
//!   current token while one refresh runs; an expired token is never sent while a
//!   refresh is possible.
//! - **Stale 401s**: a `401` for a request sent with an older generation is retried with
//!   the current credential without another refresh.
//! - **Right path for the credential**: OAuth credentials refresh, then authorize
//!   (MCP authorization 2025-11-25); header-helper credentials re-run the helper on `401`
//!   and on their TTL, and never start OAuth discovery unless
//!   [`HelperConfig::oauth_fallback`] is set.
//! - **Step-up**: `403 insufficient_scope` (RFC 6750 §3.1) authorizes again with the
//!   union of the granted and challenged scopes, then retries once; capped per request.
//!
//! Each rule is a property checked over generated histories in
//! `tests/tests/session_rules.rs`, and a story in `tests/tests/*.rs`.

mod action;
mod config;
mod entropy;
mod error;
mod flow;
mod helper;
mod requests;
mod snapshot;

pub use action::{Action, FetchId, FetchPurpose, HttpErrorKind, RequestError, RequestId, Verdict};
pub use config::{Config, Credential, Grant, HelperConfig, HelperOutput, OAuthConfig};
pub use error::SessionError;
pub use flow::RedirectError;
pub use helper::{parse_helper_output, HelperOutputError};
pub use snapshot::{Snapshot, SnapshotError, StoredServer, StoredTokens, SNAPSHOT_VERSION};

use crate::challenge::{find_bearer, BearerChallenge, BearerError};
use crate::http::Header;
use crate::oauth::{self, ClientRegistration, ErrorCode, TokenError};
use crate::policy::{Policy, Schedule};
use crate::secret::Secret;
use crate::time::{Millis, Timestamp};
use crate::token::{Generation, Phase, TokenSet};
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use entropy::Entropy;
use flow::Flow;
use requests::{Pending, Requests, State};
use FetchPurpose as Purpose;

/// Counters a host or a test can read: what the machine asked for and saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Refresh-grant requests emitted (RFC 6749 §6).
    pub refresh_requests: u32,
    /// Authorization-code exchanges emitted.
    pub code_exchanges: u32,
    /// Client-credentials grant requests emitted.
    pub client_credentials_requests: u32,
    /// Metadata discovery requests emitted (RFC 9728, RFC 8414).
    pub discovery_requests: u32,
    /// Dynamic registration requests emitted (RFC 7591).
    pub registration_requests: u32,
    /// `Authorize` actions emitted.
    pub authorizations: u32,
    /// Header-helper runs asked for.
    pub helper_runs: u32,
    /// `Send` actions emitted (first sends and retries).
    pub sends: u32,
    /// `Fail` actions emitted.
    pub fails: u32,
    /// `401` answers the host reported from the resource.
    pub unauthorized_seen: u32,
    /// `403 insufficient_scope` answers the host reported.
    pub insufficient_scope_seen: u32,
    /// New credentials installed (token sets and helper outputs).
    pub credentials_installed: u32,
}

/// Why the next timeout is due (for debugging; see [`Session::poll_timeout_reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// An HTTP exchange the machine asked for is due an answer.
    FetchDeadline,
    /// The helper run is due an answer.
    HelperDeadline,
    /// A backoff after a transient failure ends.
    Backoff,
    /// A waiting request reaches its deadline.
    WaitDeadline,
    /// The helper's output reaches its TTL.
    HelperTtl,
    /// The refresh window opens (only with [`Policy::refresh_when_idle`]).
    RefreshWindow,
    /// The user's time to complete authorization ends.
    AuthorizationDeadline,
}

/// The one HTTP exchange in flight.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    id: FetchId,
    purpose: Purpose,
    /// When it was asked for: token lifetimes count from here, the conservative end of
    /// the exchange (the server started the clock no earlier than this).
    sent_at: Timestamp,
    deadline: Timestamp,
}

/// A credential from a header helper.
struct HelperCredential {
    headers: Vec<Header>,
    generation: Generation,
    expires_at: Option<Timestamp>,
}

/// The authorization server in use, as far as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Server {
    issuer: String,
    token_endpoint: String,
    authorization_endpoint: Option<String>,
    registration_endpoint: Option<String>,
    /// Full metadata when it was discovered in this session (boxed: large and rare).
    metadata: Option<alloc::boxed::Box<oauth::AuthorizationServerMetadata>>,
}

/// One session: a credential for one protected resource, kept alive. See the module
/// docs for the contract.
pub struct Session {
    config: Config,
    entropy: Entropy,
    // Credential state.
    tokens: Option<TokenSet>,
    schedule: Option<Schedule>,
    helper: Option<HelperCredential>,
    /// The resource refused this generation (`401`).
    rejected: Option<Generation>,
    generation: Generation,
    client: Option<ClientRegistration>,
    /// Whether `client` came from this session's own registration (dropped on
    /// `invalid_client` or an issuer change) rather than from configuration.
    client_registered: bool,
    server: Option<Server>,
    failed: bool,
    // Work in progress.
    inflight: Option<InFlight>,
    helper_deadline: Option<Timestamp>,
    backoff_until: Option<Timestamp>,
    attempts: u8,
    flow: Flow,
    // Requests and output.
    requests: Requests,
    next_request: u64,
    next_fetch: u64,
    actions: VecDeque<Action>,
    stats: Stats,
    /// Boxed: rare, and kept out of the session's inline size.
    last_error: Option<alloc::boxed::Box<SessionError>>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("resource_url", &self.config.resource_url)
            .field("tokens", &self.tokens)
            .field("generation", &self.generation)
            .field("failed", &self.failed)
            .field("inflight", &self.inflight)
            .field("pending", &self.requests.len())
            .field("queued_actions", &self.actions.len())
            .finish()
    }
}

impl Session {
    /// A new session. `seed` is 32 bytes from the host's CSPRNG: PKCE verifiers, `state`
    /// and jitter derive from it. A header-helper session asks for its first helper run
    /// right away.
    pub fn new(config: Config, seed: [u8; 32], now: Timestamp) -> Session {
        let (client, server) = match &config.credential {
            Credential::OAuth(o) => (o.client.clone(), configured_server(o)),
            Credential::HeaderHelper(_) => (None, None),
        };
        let mut s = Session {
            config,
            entropy: Entropy::new(seed),
            tokens: None,
            schedule: None,
            helper: None,
            rejected: None,
            generation: Generation::NONE,
            client,
            client_registered: false,
            server,
            failed: false,
            inflight: None,
            helper_deadline: None,
            backoff_until: None,
            attempts: 0,
            flow: Flow::Idle,
            requests: Requests::default(),
            next_request: 1,
            next_fetch: 1,
            actions: VecDeque::new(),
            stats: Stats::default(),
            last_error: None,
        };
        if matches!(s.config.credential, Credential::HeaderHelper(_)) {
            s.run_helper(now);
        }
        s
    }

    /// A session restored from a snapshot the host persisted. A restored expired token
    /// with a refresh token refreshes before the first `Send`.
    pub fn restore(config: Config, snapshot: Snapshot, seed: [u8; 32], now: Timestamp) -> Session {
        let mut s = Session::new(config, seed, now);
        if let Some(c) = snapshot.client {
            s.client_registered = s.client.as_ref() != Some(&c);
            s.client = Some(c);
        }
        if let Some(sv) = snapshot.server {
            s.server = Some(Server {
                issuer: sv.issuer,
                token_endpoint: sv.token_endpoint,
                authorization_endpoint: sv.authorization_endpoint,
                registration_endpoint: sv.registration_endpoint,
                metadata: None,
            });
        }
        if let Some(t) = snapshot.tokens {
            let generation = Generation(t.generation.max(1));
            let set = TokenSet::with_expiry(
                t.access_token,
                t.refresh_token,
                t.expires_at.map(Timestamp),
                t.scope,
                Timestamp(t.received_at),
                generation,
            );
            s.generation = generation;
            s.install(set);
            if let (Some(at), Some(sched)) = (t.refresh_at, s.schedule.as_mut()) {
                sched.refresh_at = Timestamp(at).min(sched.expired_at);
            }
        }
        s
    }

    // ----------------------------------------------------------------------------------
    // Getters
    // ----------------------------------------------------------------------------------

    /// The phase at `now`.
    pub fn phase(&self, now: Timestamp) -> Phase {
        if !matches!(self.flow, Flow::Idle) {
            return Phase::Authorizing;
        }
        if self.failed {
            return Phase::Failed;
        }
        if self.helper_deadline.is_some()
            || self.inflight.is_some_and(|f| f.purpose == Purpose::Refresh)
        {
            return Phase::Refreshing;
        }
        if let Some(h) = &self.helper {
            if self.rejected == Some(h.generation) || h.expires_at.is_some_and(|e| now >= e) {
                return Phase::Expired;
            }
            return Phase::Fresh;
        }
        match (&self.tokens, self.schedule) {
            (None, _) => Phase::Unauthorized,
            (Some(t), _) if self.rejected == Some(t.generation()) => Phase::Expired,
            (Some(_), None) => Phase::Fresh,
            (Some(_), Some(s)) if now >= s.expired_at => Phase::Expired,
            (Some(_), Some(s)) if now >= s.refresh_at => Phase::Expiring,
            (Some(_), Some(_)) => Phase::Fresh,
        }
    }

    /// The current token set, if any.
    pub fn tokens(&self) -> Option<&TokenSet> {
        self.tokens.as_ref()
    }

    /// The headers to attach for a `Send` of `generation`: empty for
    /// [`Generation::NONE`], `None` if that generation is no longer current (a host
    /// that read a `Send` after a later `handle_*` call).
    pub fn headers(&self, generation: Generation) -> Option<&[Header]> {
        if generation == Generation::NONE {
            return Some(&[]);
        }
        if let Some(t) = &self.tokens {
            if t.generation() == generation {
                return Some(t.headers());
            }
        }
        match &self.helper {
            Some(h) if h.generation == generation => Some(&h.headers),
            _ => None,
        }
    }

    /// Counters of what happened so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The detailed cause of the most recent failure, if any.
    pub fn last_error(&self) -> Option<&SessionError> {
        self.last_error.as_deref()
    }

    fn record(&mut self, e: SessionError) {
        self.last_error = Some(alloc::boxed::Box::new(e));
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many begun requests are not finished yet.
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    /// What a host should persist now (also emitted as [`Action::Persist`] whenever it
    /// changes).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            tokens: self.tokens.as_ref().map(|t| StoredTokens {
                access_token: Secret::new(t.access_token()),
                refresh_token: t.refresh_token().cloned(),
                received_at: t.received_at().0,
                expires_at: t.expires_at().map(|e| e.0),
                scope: t.scope().map(String::from),
                generation: t.generation().0,
                refresh_at: self.schedule.map(|s| s.refresh_at.0),
            }),
            client: self.client.clone(),
            server: self.server.as_ref().map(|s| StoredServer {
                issuer: s.issuer.clone(),
                token_endpoint: s.token_endpoint.clone(),
                authorization_endpoint: s.authorization_endpoint.clone(),
                registration_endpoint: s.registration_endpoint.clone(),
            }),
        }
    }

    // ----------------------------------------------------------------------------------
    // Application calls
    // ----------------------------------------------------------------------------------

    /// The host wants to send a request to the protected resource. Drain
    /// [`poll_action`](Session::poll_action): a `Send` or a `Fail` for this id follows,
    /// now or later.
    pub fn begin_request(&mut self, now: Timestamp) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        if self.failed {
            self.fail(id, RequestError::ReauthorizationRequired);
            return id;
        }
        if let Some(generation) = self.usable(now) {
            self.requests.push(Pending {
                id,
                state: State::Sent { generation },
                retried: false,
                step_ups: 0,
                step_up_scope: 0,
            });
            self.send(id, generation);
            if self.phase(now) == Phase::Expiring {
                self.kick(now);
            }
            return id;
        }
        let probe = self.tokens.is_none()
            && self.helper.is_none()
            && matches!(self.flow, Flow::Idle)
            && matches!(self.config.credential, Credential::OAuth(_))
            && !self.can_get_token_directly();
        if probe {
            // MCP authorization: the first request goes out without a token; the 401's
            // challenge says where to discover the authorization server.
            self.requests.push(Pending {
                id,
                state: State::Sent {
                    generation: Generation::NONE,
                },
                retried: false,
                step_ups: 0,
                step_up_scope: 0,
            });
            self.send(id, Generation::NONE);
            return id;
        }
        self.requests.push(Pending {
            id,
            state: State::Waiting { since: now },
            retried: false,
            step_ups: 0,
            step_up_scope: 0,
        });
        self.kick(now);
        id
    }

    /// The host gives up on a request (its caller went away, or the resource could not be
    /// reached). Nothing more is emitted for it.
    pub fn cancel_request(&mut self, id: RequestId) {
        self.requests.remove(id);
        self.actions.retain(
            |a| !matches!(a, Action::Send { id: i, .. } | Action::Fail { id: i, .. } if *i == id),
        );
    }

    /// Install tokens the host obtained elsewhere (a static token, a test fixture).
    /// `expires_in` in seconds, as RFC 6749 §5.1 has it.
    pub fn set_tokens(
        &mut self,
        access_token: Secret,
        refresh_token: Option<Secret>,
        expires_in: Option<u64>,
        scope: Option<String>,
        now: Timestamp,
    ) {
        self.generation = self.generation.next();
        let set = TokenSet::new(
            access_token,
            refresh_token,
            expires_in,
            scope,
            now,
            self.generation,
        );
        self.failed = false;
        self.install(set);
        self.push_persist(now);
        self.release_waiting(now);
    }

    /// Leave [`Phase::Failed`] and start authorization again (for a host whose user asked
    /// to sign in again).
    pub fn reauthorize(&mut self, now: Timestamp) {
        self.failed = false;
        self.start_authorization(now, None, None);
    }

    /// Mix more host entropy into the session's generator.
    pub fn add_entropy(&mut self, bytes: &[u8]) {
        self.entropy.reseed(bytes);
    }

    // ----------------------------------------------------------------------------------
    // Input
    // ----------------------------------------------------------------------------------

    /// How the resource answered request `id`. `www_authenticate` holds every
    /// `WWW-Authenticate` line of the response (parsed leniently).
    pub fn handle_resource_response(
        &mut self,
        id: RequestId,
        status: u16,
        www_authenticate: &[&str],
        now: Timestamp,
    ) -> Verdict {
        let Some(p) = self.requests.get_mut(id) else {
            return Verdict::Deliver;
        };
        let State::Sent { generation: sent } = p.state else {
            return Verdict::Deliver;
        };
        match status {
            401 => {
                self.stats.unauthorized_seen += 1;
                let challenge = find_bearer(www_authenticate);
                self.on_unauthorized(id, sent, challenge, now);
                Verdict::Retry
            }
            403 => {
                let challenge = find_bearer(www_authenticate);
                match challenge {
                    Some(c) if c.error == Some(BearerError::InsufficientScope) => {
                        self.stats.insufficient_scope_seen += 1;
                        self.on_insufficient_scope(id, c, now)
                    }
                    _ => {
                        self.requests.remove(id);
                        Verdict::Deliver
                    }
                }
            }
            _ => {
                self.requests.remove(id);
                Verdict::Deliver
            }
        }
    }

    /// The answer to a [`Action::Fetch`]. `headers` are the response headers (only
    /// `Retry-After` is read), `body` the whole body.
    pub fn handle_http_response(
        &mut self,
        id: FetchId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        now: Timestamp,
    ) {
        let Some(f) = self.inflight.filter(|f| f.id == id) else {
            return;
        };
        self.inflight = None;
        let retry_after = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| oauth::retry_after_at(v, now))
            .map(Millis);
        match f.purpose {
            Purpose::Refresh => self.on_refresh_response(status, retry_after, body, f.sent_at, now),
            Purpose::CodeExchange | Purpose::ClientCredentials => {
                self.on_grant_response(status, body, f.sent_at, now)
            }
            Purpose::ResourceMetadata | Purpose::ServerMetadata | Purpose::Registration => {
                self.on_flow_response(f.purpose, status, body, now)
            }
        }
    }

    /// A [`Action::Fetch`] failed before any response.
    pub fn handle_http_error(&mut self, id: FetchId, kind: HttpErrorKind, now: Timestamp) {
        let Some(f) = self.inflight.filter(|f| f.id == id) else {
            return;
        };
        self.inflight = None;
        self.record(SessionError::Network(kind));
        self.on_fetch_failed(f.purpose, now);
    }

    /// The header helper's result: its parsed output, or `Err(())` when it failed
    /// (non-zero exit, unparseable output: see [`parse_helper_output`]).
    pub fn handle_helper_output(
        &mut self,
        result: Result<HelperOutput, HelperOutputError>,
        now: Timestamp,
    ) {
        if self.helper_deadline.take().is_none() {
            return;
        }
        match result {
            Ok(out) => {
                let ttl = out.ttl_ms.or(match &self.config.credential {
                    Credential::HeaderHelper(h) => h.ttl_ms,
                    Credential::OAuth(_) => None,
                });
                self.generation = self.generation.next();
                self.helper = Some(HelperCredential {
                    headers: out.headers,
                    generation: self.generation,
                    expires_at: ttl.map(|t| now + Millis(t)),
                });
                self.rejected = None;
                self.attempts = 0;
                self.stats.credentials_installed += 1;
                self.release_waiting(now);
            }
            Err(e) => {
                self.record(SessionError::HelperOutput(e));
                self.fail_waiting(RequestError::HelperFailed);
            }
        }
    }

    /// The host could not run the browser part of authorization (no browser, the
    /// redirect listener failed, the authorization endpoint did not redirect). Ends the
    /// flow at once: the waiting requests fail with
    /// [`RequestError::AuthorizationFailed`] instead of waiting out the deadline.
    pub fn handle_authorize_error(&mut self, now: Timestamp) {
        let _ = now;
        if self.flow.deadline().is_some() {
            self.fail_flow(SessionError::AuthorizationUnavailable);
        }
    }

    /// The browser came back to the redirect URI with `url` (full URL or its query).
    pub fn handle_redirect(&mut self, url: &str, now: Timestamp) -> Result<(), RedirectError> {
        self.on_redirect(url, now)
    }

    /// Time passed. Spurious calls (before [`poll_timeout`](Session::poll_timeout)) do
    /// nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(f) = self.inflight {
            if now >= f.deadline {
                self.inflight = None;
                self.record(SessionError::Deadline);
                self.on_fetch_failed(f.purpose, now);
            }
        }
        if self.helper_deadline.is_some_and(|d| now >= d) {
            self.helper_deadline = None;
            self.record(SessionError::HelperFailed);
            self.fail_waiting(RequestError::HelperFailed);
        }
        self.flow_timeout(now);
        let deadline = self.wait_limit();
        let expired = self.requests.drain_waiting(
            |p| matches!(p.state, State::Waiting { since } if now >= since + deadline),
        );
        for id in expired {
            self.fail(id, RequestError::Timeout);
        }
        if self.backoff_until.is_some_and(|b| now >= b) {
            self.backoff_until = None;
            if self.requests.any_waiting() {
                self.kick(now);
            }
        }
        if let Some(h) = &self.helper {
            if h.expires_at.is_some_and(|e| now >= e) && self.helper_deadline.is_none() {
                self.kick(now);
            }
        }
        if self.config.policy.refresh_when_idle
            && matches!(self.phase(now), Phase::Expiring | Phase::Expired)
        {
            self.kick(now);
        }
    }

    // ----------------------------------------------------------------------------------
    // Output
    // ----------------------------------------------------------------------------------

    /// The next thing the host must do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`handle_timeout`](Session::handle_timeout) next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.poll_timeout_reason().map(|(t, _)| t)
    }

    /// [`poll_timeout`](Session::poll_timeout) with the reason it is due.
    #[must_use]
    pub fn poll_timeout_reason(&self) -> Option<(Timestamp, TimeoutReason)> {
        let mut best: Option<(Timestamp, TimeoutReason)> = None;
        let mut consider = |t: Option<Timestamp>, r: TimeoutReason| {
            if let Some(t) = t {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, r));
                }
            }
        };
        consider(
            self.inflight.map(|f| f.deadline),
            TimeoutReason::FetchDeadline,
        );
        consider(self.helper_deadline, TimeoutReason::HelperDeadline);
        consider(self.backoff_until, TimeoutReason::Backoff);
        let limit = self.wait_limit();
        consider(
            self.requests.oldest_wait().map(|s| s + limit),
            TimeoutReason::WaitDeadline,
        );
        if self.helper_deadline.is_none() {
            consider(
                self.helper.as_ref().and_then(|h| h.expires_at),
                TimeoutReason::HelperTtl,
            );
        }
        // Only when `handle_timeout` will then start the refresh (otherwise a passed
        // window would be reported again and again: a host would spin).
        let idle_refresh_due = self.config.policy.refresh_when_idle
            && self.inflight.is_none()
            && self.backoff_until.is_none()
            && matches!(self.flow, Flow::Idle)
            && !self.failed
            && self.can_refresh();
        if idle_refresh_due {
            consider(
                self.schedule.map(|s| s.refresh_at),
                TimeoutReason::RefreshWindow,
            );
        }
        consider(self.flow.deadline(), TimeoutReason::AuthorizationDeadline);
        best
    }

    // ----------------------------------------------------------------------------------
    // Internals: credentials
    // ----------------------------------------------------------------------------------

    fn policy(&self) -> &Policy {
        &self.config.policy
    }

    fn oauth_config(&self) -> Option<&OAuthConfig> {
        match &self.config.credential {
            Credential::OAuth(o) => Some(o),
            Credential::HeaderHelper(_) => None,
        }
    }

    /// How long a request may wait: longer while a user is authorizing.
    fn wait_limit(&self) -> Millis {
        let p = self.policy();
        if matches!(self.flow, Flow::Idle) {
            p.wait_deadline
        } else {
            // The user's time in the browser, plus the ordinary wait: the flow's own
            // deadline ends it first, with the cause recorded.
            Millis(p.wait_deadline.0.saturating_add(p.authorization_deadline.0))
        }
    }

    /// The generation that may be sent now, if any.
    fn usable(&self, now: Timestamp) -> Option<Generation> {
        if let Some(h) = &self.helper {
            let stale =
                self.rejected == Some(h.generation) || h.expires_at.is_some_and(|e| now >= e);
            return (!stale).then_some(h.generation);
        }
        let t = self.tokens.as_ref()?;
        if self.rejected == Some(t.generation()) {
            return None;
        }
        match self.schedule {
            // Known-expired: never sent while a new token can be had; when none can, the
            // resource is the judge (its clock may still accept it).
            Some(s) if now >= s.expired_at && (self.can_refresh() || self.can_authorize()) => None,
            _ => Some(t.generation()),
        }
    }

    fn can_refresh(&self) -> bool {
        self.tokens
            .as_ref()
            .is_some_and(|t| t.refresh_token().is_some())
            && self.server.is_some()
            && self.client.is_some()
    }

    /// Client credentials with everything known: no need to probe the resource first.
    fn can_get_token_directly(&self) -> bool {
        self.oauth_config()
            .is_some_and(|o| o.grant == Grant::ClientCredentials)
            && self.server.is_some()
            && self.client.is_some()
    }

    /// Start whatever credential work the current state calls for, unless some is
    /// already under way (single flight) or a backoff is running.
    fn kick(&mut self, now: Timestamp) {
        if self.inflight.is_some()
            || self.helper_deadline.is_some()
            || !matches!(self.flow, Flow::Idle)
        {
            return;
        }
        if self.backoff_until.is_some_and(|b| now < b) {
            return;
        }
        if self.failed {
            self.fail_waiting(RequestError::ReauthorizationRequired);
            return;
        }
        if let Credential::HeaderHelper(_) = self.config.credential {
            let need = self.requests.any_waiting() || self.usable(now).is_none();
            if need {
                self.run_helper(now);
            }
            return;
        }
        let phase = self.phase(now);
        let need = self.requests.any_waiting() || matches!(phase, Phase::Expiring | Phase::Expired);
        if !need {
            return;
        }
        if self.can_refresh() {
            self.start_refresh(now);
        } else if self.requests.any_waiting() {
            self.start_authorization(now, None, None);
        }
    }

    fn run_helper(&mut self, now: Timestamp) {
        self.helper_deadline = Some(now + self.policy().fetch_deadline);
        self.stats.helper_runs += 1;
        self.actions.push_back(Action::RunHelper);
    }

    fn start_refresh(&mut self, now: Timestamp) {
        let (Some(t), Some(server), Some(client)) = (&self.tokens, &self.server, &self.client)
        else {
            return;
        };
        let Some(rt) = t.refresh_token() else {
            return;
        };
        let resource = oauth::canonical_resource(&self.config.resource_url).ok();
        let req = oauth::refresh_request(
            &server.token_endpoint,
            client,
            rt,
            resource.as_deref(),
            None,
        );
        self.stats.refresh_requests += 1;
        self.fetch(Purpose::Refresh, req, now);
    }

    fn fetch(&mut self, purpose: Purpose, request: crate::http::Request, now: Timestamp) {
        let id = FetchId(self.next_fetch);
        self.next_fetch += 1;
        self.inflight = Some(InFlight {
            id,
            purpose,
            sent_at: now,
            deadline: now + self.policy().fetch_deadline,
        });
        self.actions.push_back(Action::Fetch {
            id,
            purpose,
            request: alloc::boxed::Box::new(request),
        });
    }

    fn install(&mut self, set: TokenSet) {
        let jitter = self.entropy.unit();
        self.schedule = set
            .expires_at()
            .map(|e| self.config.policy.schedule(set.received_at(), e, jitter));
        self.rejected = None;
        self.attempts = 0;
        self.backoff_until = None;
        self.stats.credentials_installed += 1;
        self.tokens = Some(set);
    }

    /// New tokens from the token endpoint: persist first, then release the waiting.
    /// `expires_in` counts from `sent_at`, when the token request left: the transit time
    /// of the response then shortens the token's life in our eyes instead of extending
    /// it past the server's.
    fn accept_tokens(&mut self, resp: oauth::TokenResponse, sent_at: Timestamp, now: Timestamp) {
        let refresh = resp.refresh_token.or_else(|| {
            self.tokens
                .as_ref()
                .and_then(|t| t.refresh_token().cloned())
        });
        let scope = resp.scope.or_else(|| {
            self.tokens
                .as_ref()
                .and_then(|t| t.scope().map(String::from))
        });
        // The lifetime counts from when the request left (the server started the clock
        // no earlier), unless that says the token died in transit: then from when it
        // arrived (the server started it no later), and the resource is the judge.
        let base = match resp.expires_in {
            Some(secs) => {
                let lifetime = Millis::from_secs(secs);
                let dead_at = (sent_at + lifetime) - self.config.policy.skew_for(lifetime);
                if dead_at <= now {
                    now
                } else {
                    sent_at
                }
            }
            None => sent_at,
        };
        self.generation = self.generation.next();
        let set = TokenSet::new(
            resp.access_token,
            refresh,
            resp.expires_in,
            scope,
            base,
            self.generation,
        );
        let attempts = self.attempts;
        self.failed = false;
        self.install(set);
        self.push_persist(now);
        self.release_waiting(now);
        if self.usable(now).is_none() && self.requests.any_waiting() {
            // The token was already past its (skew-adjusted) expiry when it arrived: a
            // token endpoint slower than the token's lifetime. Count it as a transient
            // failure, so the waiting requests get another try after a backoff and a
            // typed failure when the attempts run out, never a silent stall.
            self.attempts = attempts;
            self.record(SessionError::ExpiredOnArrival);
            self.transient(now, None);
        }
    }

    fn push_persist(&mut self, now: Timestamp) {
        // Sends queued for an older credential would go out before the Persist of the new
        // one; put them back to waiting so they are released after it, in order.
        let current = self.tokens.as_ref().map(|t| t.generation());
        let mut requeue = Vec::new();
        self.actions.retain(|a| match a {
            Action::Send { id, generation }
                if Some(*generation) != current && *generation != Generation::NONE =>
            {
                requeue.push(*id);
                false
            }
            _ => true,
        });
        for id in requeue {
            if let Some(p) = self.requests.get_mut(id) {
                p.state = State::Waiting { since: now };
            }
        }
        let snap = self.snapshot();
        self.actions
            .push_back(Action::Persist(alloc::boxed::Box::new(snap)));
    }

    fn release_waiting(&mut self, now: Timestamp) {
        let Some(generation) = self.usable(now) else {
            return;
        };
        let mut ids: Vec<RequestId> = Vec::new();
        for p in self.requests.iter_mut() {
            if matches!(p.state, State::Waiting { .. }) {
                p.state = State::Sent { generation };
                ids.push(p.id);
            }
        }
        for id in ids {
            self.send(id, generation);
        }
    }

    fn send(&mut self, id: RequestId, generation: Generation) {
        self.stats.sends += 1;
        self.actions.push_back(Action::Send { id, generation });
    }

    fn fail(&mut self, id: RequestId, error: RequestError) {
        self.requests.remove(id);
        self.stats.fails += 1;
        self.actions.push_back(Action::Fail { id, error });
    }

    fn fail_waiting(&mut self, error: RequestError) {
        for id in self.requests.drain_waiting(|_| true) {
            self.stats.fails += 1;
            self.actions.push_back(Action::Fail { id, error });
        }
    }

    fn on_unauthorized(
        &mut self,
        id: RequestId,
        sent: Generation,
        challenge: Option<BearerChallenge>,
        now: Timestamp,
    ) {
        let current = self.usable(now);
        let Some(p) = self.requests.get_mut(id) else {
            return;
        };
        if p.retried {
            self.fail(id, RequestError::Unauthorized);
            return;
        }
        p.retried = true;
        if let Some(current) = current.filter(|c| sent < *c) {
            // Stale: answered for an older credential; the current one was never tried
            // for this request.
            p.state = State::Sent {
                generation: current,
            };
            self.send(id, current);
            return;
        }
        p.state = State::Waiting { since: now };
        if sent != Generation::NONE && sent == self.generation {
            self.rejected = Some(sent);
        }
        // A helper credential whose fresh output is refused, with OAuth fallback allowed
        // and a challenge that points at metadata: switch to OAuth.
        if let Credential::HeaderHelper(h) = &self.config.credential {
            let names_metadata = challenge
                .as_ref()
                .is_some_and(|c| c.resource_metadata.is_some());
            if let (Some(fallback), true) = (&h.oauth_fallback, names_metadata) {
                let fallback = fallback.clone();
                self.config.credential = Credential::OAuth(fallback.clone());
                self.helper = None;
                self.client = fallback.client.clone();
                self.server = configured_server(&fallback);
                self.start_authorization(now, challenge, None);
                return;
            }
            self.kick(now);
            return;
        }
        if self.inflight.is_some() || !matches!(self.flow, Flow::Idle) {
            return;
        }
        if self.can_refresh() && sent != Generation::NONE {
            if self.backoff_until.is_none_or(|b| now >= b) {
                self.start_refresh(now);
            }
        } else {
            self.start_authorization(now, challenge, None);
        }
    }

    /// `403` with `error="insufficient_scope"` (RFC 6750 §3.1): step up to the union of
    /// the granted and the challenged scopes (MCP 2025-11-25 "Scope Challenge
    /// Handling"), then retry once. The same challenge again after a step-up, a scope the
    /// token already has, or more than `max_step_ups`, fails the request instead.
    fn on_insufficient_scope(
        &mut self,
        id: RequestId,
        c: BearerChallenge,
        now: Timestamp,
    ) -> Verdict {
        let granted = self.tokens.as_ref().and_then(|t| t.scope()).unwrap_or("");
        let required = c.scope.clone().unwrap_or_default();
        let already = !required.is_empty() && oauth::scope_covers(granted, &required);
        let fingerprint = scope_fingerprint(&required);
        let max = self.policy().max_step_ups;
        let can = self.can_authorize();
        let Some(p) = self.requests.get_mut(id) else {
            return Verdict::Deliver;
        };
        let same_again = p.step_ups > 0 && p.step_up_scope == fingerprint;
        if already || same_again || p.step_ups >= max || !can {
            self.fail(id, RequestError::InsufficientScope);
            return Verdict::Retry;
        }
        p.step_ups += 1;
        p.step_up_scope = fingerprint;
        p.state = State::Waiting { since: now };
        let scope = oauth::scope_union(granted, &required);
        if matches!(self.flow, Flow::Idle) && self.inflight.is_none() {
            self.start_authorization(now, Some(c), Some(scope));
        }
        Verdict::Retry
    }

    fn on_refresh_response(
        &mut self,
        status: u16,
        retry_after: Option<Millis>,
        body: &[u8],
        sent_at: Timestamp,
        now: Timestamp,
    ) {
        if status >= 500 || status == 429 {
            self.record(SessionError::Status {
                what: "token endpoint",
                status,
            });
            self.transient(now, retry_after);
            return;
        }
        match oauth::parse_token_response(status, body) {
            Ok(resp) => self.accept_tokens(resp, sent_at, now),
            Err(TokenError::Endpoint(e)) => {
                let invalid_client = e.error == ErrorCode::InvalidClient;
                self.record(SessionError::TokenEndpoint(e));
                self.drop_credentials(invalid_client, now);
                self.after_refusal(now, RequestError::ReauthorizationRequired);
            }
            Err(e) if (200..300).contains(&status) => {
                // A 2xx that is not a token response (a captive portal, a proxy page):
                // treat like a transient failure.
                self.record(SessionError::TokenResponse(e));
                self.transient(now, retry_after);
            }
            Err(e) => {
                self.record(SessionError::TokenResponse(e));
                self.drop_credentials(false, now);
                self.after_refusal(now, RequestError::TokenEndpointRejected);
            }
        }
    }

    /// Tokens are gone for good: authorize again if this session can, else fail.
    fn after_refusal(&mut self, now: Timestamp, error: RequestError) {
        if self.can_authorize() {
            if self.requests.any_waiting() {
                self.start_authorization(now, None, None);
            }
        } else {
            self.failed = true;
            self.fail_waiting(error);
        }
    }

    fn drop_credentials(&mut self, drop_client: bool, now: Timestamp) {
        self.tokens = None;
        self.schedule = None;
        self.rejected = None;
        if drop_client && self.client_registered {
            self.client = None;
            self.client_registered = false;
        }
        self.push_persist(now);
    }

    fn transient(&mut self, now: Timestamp, retry_after: Option<Millis>) {
        self.attempts = self.attempts.saturating_add(1);
        if self.attempts >= self.policy().max_token_attempts {
            self.attempts = 0;
            self.backoff_until = Some(now + self.policy().backoff_max);
            self.fail_waiting(RequestError::TokenEndpointUnavailable);
            return;
        }
        let unit = self.entropy.unit();
        let delay = self.config.policy.backoff(self.attempts, retry_after, unit);
        self.backoff_until = Some(now + delay);
    }

    fn on_fetch_failed(&mut self, purpose: Purpose, now: Timestamp) {
        match purpose {
            Purpose::Refresh => self.transient(now, None),
            _ => {
                let e = self
                    .last_error
                    .as_deref()
                    .cloned()
                    .unwrap_or(SessionError::Deadline);
                self.fail_flow(e);
            }
        }
    }
}

/// An order-independent fingerprint of a space-delimited scope (FNV-1a per token,
/// summed), so a request can remember which challenge it stepped up for without
/// allocating.
fn scope_fingerprint(scope: &str) -> u64 {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|t| {
            t.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        })
        .fold(0u64, u64::wrapping_add)
}

/// The authorization server as configuration describes it, when it does.
fn configured_server(o: &OAuthConfig) -> Option<Server> {
    let token_endpoint = o.token_endpoint.clone()?;
    Some(Server {
        issuer: o.issuer.clone().unwrap_or_default(),
        token_endpoint,
        authorization_endpoint: None,
        registration_endpoint: None,
        metadata: None,
    })
}

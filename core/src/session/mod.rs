//! The session machine: one credential kept alive for many requests.
//!
//! # The contract
//!
//! Like quinn-proto's `Connection`, a [`Session`] has four kinds of methods; a host
//! needs nothing else.
//!
//! 1. **Getters** (`&self`): [`phase`](Session::phase), [`tokens`](Session::tokens),
//!    [`headers`](Session::headers), [`stats`](Session::stats),
//!    [`snapshot`](Session::snapshot), [`last_error`](Session::last_error),
//!    [`pending_requests`](Session::pending_requests), [`config`](Session::config).
//! 2. **Input** from the network, the browser, the helper, the store and the clock:
//!    [`handle_resource_response`](Session::handle_resource_response),
//!    [`handle_http_response`](Session::handle_http_response),
//!    [`handle_http_error`](Session::handle_http_error),
//!    [`handle_helper_stdout`](Session::handle_helper_stdout),
//!    [`handle_helper_failure`](Session::handle_helper_failure) (or
//!    [`handle_helper_output`](Session::handle_helper_output) with a parsed result),
//!    [`handle_redirect`](Session::handle_redirect),
//!    [`handle_authorize_error`](Session::handle_authorize_error),
//!    [`handle_persist_failed`](Session::handle_persist_failed),
//!    [`handle_timeout`](Session::handle_timeout).
//! 3. **Application calls**: [`begin_request`](Session::begin_request),
//!    [`cancel_request`](Session::cancel_request), [`set_tokens`](Session::set_tokens),
//!    [`reauthorize`](Session::reauthorize), [`add_entropy`](Session::add_entropy).
//! 4. **Output**: [`poll_action`](Session::poll_action) until `None`, then
//!    [`poll_timeout`](Session::poll_timeout) says when to call `handle_timeout`.
//!
//! After any call of kind 2 or 3, drain `poll_action` before waiting again. Actions come
//! out in the order the rules need: a [`Action::Persist`] always precedes the first
//! [`Action::Send`] that uses the tokens it stores. A drained `Send`'s headers are
//! [`headers`](Session::headers) of its generation until the next call of kind 2 or 3:
//! every credential change puts queued `Send`s back to waiting, so a drained `Send`
//! always has headers.
//!
//! A host that does exactly this loop is correct; it needs no guard of its own:
//!
//! - **Timers keep themselves.** `poll_timeout` reports only deadlines that
//!   `handle_timeout` at that moment acts on, and after `handle_timeout(t)` the next
//!   deadline is later than `t` (or there is none). A spurious or early
//!   `handle_timeout` does nothing. Without input, the deadlines run out: a session
//!   left alone goes quiet.
//! - **Limits are core's.** Bodies, helper output, pending requests and scope lists are
//!   bounded by the [`Policy`] and refused with typed errors here; a binding reads at
//!   most one byte more than [`Policy::max_response_body`] and hands it over.
//! - **Output is plain data with one JSON shape** ([`Action::to_json`]), the one the C
//!   ABI and WASM bindings give their hosts and `tests/vectors/` records.
//!
//! # The rules it keeps
//!
//! - **Single flight**: at most one token, discovery or registration request, or one
//!   helper run, is in flight at a time, however many requests need it.
//! - **Nothing lost**: every [`RequestId`] from `begin_request` gets exactly one final
//!   outcome: a `Send` whose response the host reports and gets [`Verdict::Deliver`]
//!   for, or one `Fail` (with its own cause). A `401` is answered by [`Verdict::Retry`]
//!   and a new `Send` or a `Fail` for the same id. Stored credentials are dropped only
//!   when the authorization server says so with an RFC 6749 §5.2 error: `invalid_grant`
//!   drops the refresh token, `invalid_client` and `unauthorized_client` the client
//!   registration too. Any other answer (a proxy's page, a redirect, a timeout, a
//!   network error) is transient and loses nothing. A `Persist` the host could not
//!   store is asked for again.
//! - **No loops**: one retry per request after a `401`; a second `401` fails it.
//!   Transient failures back off exponentially (RFC 9110 §10.2.3 `Retry-After`
//!   honoured, capped), then fail the waiting requests with the credential kept; a
//!   later request tries again.
//! - **Recovery by itself**: a failed refresh, discovery, registration, authorization
//!   or helper run fails the requests waiting for it and backs off; the next request
//!   tries again. [`Session::last_error`] describes what is wrong now and is cleared
//!   when a credential arrives.
//! - **Proactive refresh**: in [`Phase::Expiring`] requests still go out with the
//!   current token while one refresh runs; an expired token is never sent while a
//!   refresh is possible.
//! - **Stale 401s**: a `401` for a request sent with an older generation is retried with
//!   the current credential without another refresh.
//! - **Right path for the credential**: OAuth credentials refresh (a restored refresh
//!   token is tried first, after discovery when the snapshot lacks the server), then
//!   authorize (MCP authorization 2025-11-25); header-helper credentials re-run the
//!   helper on `401` and on their TTL, and never start OAuth discovery unless
//!   [`HelperConfig::oauth_fallback`] is set.
//! - **Step-up**: `403 insufficient_scope` (RFC 6750 §3.1) authorizes again with the
//!   union of the granted and challenged scopes, then retries once; capped per request.
//!
//! Each rule is a property checked over generated histories in
//! `tests/tests/session_rules.rs`, and a story in `tests/tests/*.rs`.

mod action;
mod config;
mod credential;
mod entropy;
mod error;
mod flow;
mod helper;
mod identity;
mod json;
mod proof;
mod queue;
mod refresh;
mod requests;
mod snapshot;
mod state;
mod timers;

pub use action::{
    Action, ActionView, FetchId, FetchPurpose, HttpErrorKind, RequestError, RequestId, Verdict,
};
pub use config::{Config, ConfigError, Credential, Grant, HelperConfig, HelperOutput, OAuthConfig};
pub use error::SessionError;
pub use flow::{PendingAuthorization, RedirectError};
pub use helper::{parse_helper_output, HelperOutputError};
pub use json::JsonError;
pub use snapshot::{Snapshot, SnapshotError, StoredServer, StoredTokens, SNAPSHOT_VERSION};

use crate::challenge::{find_bearer, BearerError};
use crate::http::Header;
use crate::policy::Policy;
use crate::secret::Secret;
use crate::time::{Millis, Timestamp};
use crate::token::{Generation, Phase, TokenSet};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use entropy::Entropy;
use identity::{ClientSlot, ServerSlot};
use requests::{Requests, State};
use state::{Attempts, Cred, Server, Step, TokenCred, Work};
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
    /// `Persist` actions the host reported it could not store.
    #[serde(default)]
    pub persist_failures: u32,
    /// Authorizations whose tokens came without a refresh token (an OpenID Provider
    /// that ignored `offline_access`, a server that issues none): each expiry of those
    /// needs a new authorization, which the session then starts ahead of expiry.
    #[serde(default)]
    pub grants_without_refresh_token: u32,
}

/// Why the next timeout is due (for debugging; see [`Session::poll_timeout_reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimeoutReason {
    /// An HTTP exchange the machine asked for is due an answer.
    FetchDeadline,
    /// The helper run is due an answer.
    HelperDeadline,
    /// A backoff after a failure ends.
    Backoff,
    /// A waiting request reaches its deadline.
    WaitDeadline,
    /// The helper's output reaches its TTL: it is run again ahead of the next request.
    HelperTtl,
    /// The refresh window opens (only with [`Policy::refresh_when_idle`]).
    RefreshWindow,
    /// The user's time to complete authorization ends.
    AuthorizationDeadline,
    /// A snapshot the host could not store is asked for again.
    PersistRetry,
    /// The host did not answer an [`Action::AcquireLease`] in time: taken as "no".
    LeaseDeadline,
    /// The wait for another process's tokens ends: ask for the lease again.
    LeaseWait,
}

/// What started [`Session::kick`]: input may start proactive work at any time; the
/// timer only while proactive work has not given up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    Input,
    Timer,
}

/// One session: a credential for one protected resource, kept alive. See the module
/// docs for the contract.
pub struct Session {
    config: Arc<Config>,
    /// A header-helper credential switched to [`HelperConfig::oauth_fallback`].
    fallback_active: bool,
    entropy: Entropy,
    cred: Cred,
    /// The last generation handed out.
    generation: Generation,
    client: ClientSlot,
    server: ServerSlot,
    work: Work,
    attempts: Attempts,
    /// Proactive work (an idle refresh, a helper re-run at its TTL) may start from the
    /// timer. Armed by every new credential, disarmed when that work has started or
    /// given up: without input, a session goes quiet.
    proactive: bool,
    /// When to ask the host again to store a snapshot it failed to store; 0: not due
    /// (a deadline is always at least 1 ms after some `now`).
    persist_retry_at: Timestamp,
    /// The revision of the last snapshot handed out (see [`Snapshot::revision`]).
    revision: u64,
    requests: Requests,
    next_request: u64,
    /// The next fetch id, counted in 32 bits (a fetch id only has to differ from the one
    /// in flight) to keep the session small.
    next_fetch: u32,
    actions: queue::ActionQueue,
    stats: Stats,
    last_error: Option<Box<SessionError>>,
    /// Keys and nonces for DPoP and client assertions; `None` for a session that signs
    /// nothing (one pointer on the Bearer path).
    signer: Option<Box<proof::Signer>>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("resource_url", &self.config.resource_url)
            .field("tokens", &self.cred.set())
            .field("generation", &self.generation)
            .field("work", &self.work.deadline())
            .field("pending", &self.requests.len())
            .field("queued_actions", &self.actions.len())
            .field("last_error", &self.last_error)
            .finish()
    }
}

impl Session {
    /// A new session. `seed` is 32 bytes from the host's CSPRNG: PKCE verifiers, `state`
    /// and jitter derive from it. A header-helper session asks for its first helper run
    /// right away. `config` may be shared by many sessions (`Arc<Config>`).
    pub fn new(config: impl Into<Arc<Config>>, seed: [u8; 32], now: Timestamp) -> Session {
        let config = config.into();
        let oauth = match &config.credential {
            Credential::OAuth(o) => Some(o),
            Credential::HeaderHelper(_) => None,
        };
        let client = ClientSlot::from_config(oauth);
        let server = ServerSlot::from_config(oauth);
        let helper = matches!(config.credential, Credential::HeaderHelper(_));
        let mut s = Session {
            config,
            fallback_active: false,
            entropy: Entropy::new(seed),
            cred: Cred::None,
            generation: Generation::NONE,
            client,
            server,
            work: Work::Idle,
            attempts: Attempts::default(),
            proactive: false,
            persist_retry_at: Timestamp(0),
            revision: 0,
            requests: Requests::default(),
            next_request: 1,
            next_fetch: 1,
            actions: queue::ActionQueue::default(),
            stats: Stats::default(),
            last_error: None,
            signer: None,
        };
        s.signer = s.make_signer();
        if helper {
            s.run_helper(now);
        }
        s
    }

    /// A session restored from a snapshot the host persisted. A restored refresh token
    /// is tried before any authorization: a token past its expiry is refreshed before
    /// the first `Send` (after discovery, when the snapshot lacks the server).
    pub fn restore(
        config: impl Into<Arc<Config>>,
        snapshot: Snapshot,
        seed: [u8; 32],
        now: Timestamp,
    ) -> Session {
        let mut s = Session::new(config, seed, now);
        s.adopt(snapshot);
        s
    }

    /// Take on what a snapshot holds: its revision, client, server and tokens (each
    /// only if it belongs to the snapshot's own issuer).
    fn adopt(&mut self, snapshot: Snapshot) {
        let snapshot = snapshot.migrate();
        self.revision = snapshot.revision;
        let issuer = snapshot.server.as_ref().map(|sv| sv.issuer.clone());
        // What belongs to another issuer than the stored server's is not used with it
        // (MCP 2026-07-28 "Authorization Server Binding").
        let foreign = |of: &Option<String>| matches!((of, &issuer), (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() && a != b);
        if let Some(c) = snapshot
            .client
            .filter(|_| !foreign(&snapshot.client_issuer))
        {
            self.set_client(c);
        }
        if let Some(sv) = snapshot.server {
            let same_as_configured = self.server().is_some_and(|c| {
                c.issuer == sv.issuer
                    && c.token_endpoint == sv.token_endpoint
                    && sv.authorization_endpoint.is_none()
                    && sv.registration_endpoint.is_none()
                    && sv.resource.is_none()
                    && sv.requested_scope.is_none()
            });
            if !same_as_configured {
                self.server = ServerSlot::Known(Box::new(Server {
                    issuer: sv.issuer,
                    token_endpoint: sv.token_endpoint,
                    authorization_endpoint: sv.authorization_endpoint,
                    registration_endpoint: sv.registration_endpoint,
                    resource: sv.resource,
                    requested_scope: sv.requested_scope,
                    metadata: None,
                }));
            }
        }
        match snapshot.tokens.filter(|t| !foreign(&t.issuer)) {
            Some(t) => {
                // Generations are this session's own count; a stored value is not
                // trusted (one near u64::MAX would make every later credential share
                // it).
                self.generation = self.generation.next();
                let set = TokenSet::with_expiry(
                    t.access_token,
                    t.refresh_token,
                    t.expires_at.map(Timestamp),
                    t.scope,
                    Timestamp(t.received_at),
                    self.generation,
                );
                let jitter = self.entropy.unit();
                let mut schedule = set
                    .expires_at()
                    .map(|e| self.config.policy.schedule(set.received_at(), e, jitter));
                if let (Some(at), Some(sched)) = (t.refresh_at, schedule.as_mut()) {
                    sched.refresh_at = Timestamp(at).min(sched.expired_at);
                }
                self.cred = Cred::Tokens(TokenCred::new(set, schedule));
                self.proactive = true;
            }
            None if matches!(self.cred, Cred::Tokens(_)) => self.cred = Cred::None,
            None => {}
        }
    }

    // ----------------------------------------------------------------------------------
    // Getters
    // ----------------------------------------------------------------------------------

    /// The phase at `now`.
    pub fn phase(&self, now: Timestamp) -> Phase {
        match &self.work {
            Work::Fetch(f) if f.purpose == Purpose::Refresh => return Phase::Refreshing,
            Work::Helper { .. } | Work::AwaitLease { .. } | Work::LeaseWait { .. } => {
                return Phase::Refreshing
            }
            Work::Fetch(_) | Work::Redirect(_) => return Phase::Authorizing,
            Work::Idle | Work::Backoff { .. } => {}
        }
        match &self.cred {
            Cred::None if self.last_error.is_some() => Phase::Failed,
            Cred::None => Phase::Unauthorized,
            Cred::Helper(h) => {
                if h.rejected || h.expires_at.is_some_and(|e| now >= e) {
                    Phase::Expired
                } else {
                    Phase::Fresh
                }
            }
            Cred::Tokens(t) => match t.schedule() {
                _ if t.rejected => Phase::Expired,
                None => Phase::Fresh,
                Some(s) if now >= s.expired_at => Phase::Expired,
                Some(s) if now >= s.refresh_at => Phase::Expiring,
                Some(_) => Phase::Fresh,
            },
        }
    }

    /// The current token set, if any.
    pub fn tokens(&self) -> Option<&TokenSet> {
        self.cred.set()
    }

    /// The headers to attach for a `Send` of `generation`: empty for
    /// [`Generation::NONE`], `None` if that generation is no longer current (a host
    /// that read a `Send` after a later `handle_*` call).
    pub fn headers(&self, generation: Generation) -> Option<&[Header]> {
        if generation == Generation::NONE {
            return Some(&[]);
        }
        match &self.cred {
            Cred::Tokens(t) if t.set.generation() == generation => Some(t.set.headers()),
            Cred::Helper(h) if h.generation == generation => Some(&h.headers),
            _ => None,
        }
    }

    /// The headers for a `Send` of `generation` to `method` `url`: what a host of a
    /// DPoP session ([`OAuthConfig::dpop`]) attaches to every resource request.
    ///
    /// - Bearer tokens and helper headers: [`headers`](Session::headers), borrowed;
    ///   this allocates nothing (the hot path stays allocation-free).
    /// - A DPoP-bound token (RFC 9449 §7.1): `Authorization: DPoP <token>` and a `DPoP`
    ///   proof for this method and URL (`htu` without query and fragment), issued at
    ///   `now`, with a fresh `jti`, `ath` and the resource's last nonce; owned, since
    ///   each proof is new. Call it once per actual send, retries included.
    ///
    /// `None` when `generation` is no longer current, as for `headers`.
    pub fn headers_for(
        &mut self,
        generation: Generation,
        method: &str,
        url: &str,
        now: Timestamp,
    ) -> Option<alloc::borrow::Cow<'_, [Header]>> {
        use alloc::borrow::Cow;
        let dpop_token = match &self.cred {
            Cred::Tokens(t) if t.set.generation() == generation && t.set.is_dpop() => {
                Some(crate::secret::Secret::new(t.set.access_token()))
            }
            _ => None,
        };
        let Some(token) = dpop_token else {
            return self.headers(generation).map(Cow::Borrowed);
        };
        let proof = self.dpop_proof(method, url, Some(token.expose()), now)?;
        let authorization = alloc::format!("DPoP {}", token.expose());
        Some(Cow::Owned(alloc::vec![
            Header::new("Authorization", authorization),
            Header::new("DPoP", proof),
        ]))
    }

    /// Counters of what happened so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// What is wrong now, if anything: the cause of the last failure, kept until a
    /// credential arrives.
    pub fn last_error(&self) -> Option<&SessionError> {
        self.last_error.as_deref()
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
        let issuer = self
            .server()
            .map(|s| String::from(s.issuer))
            .filter(|i| !i.is_empty());
        Snapshot {
            version: SNAPSHOT_VERSION,
            revision: self.revision,
            tokens: self.cred.tokens().map(|t| StoredTokens {
                access_token: Secret::new(t.set.access_token()),
                refresh_token: t.set.refresh_token().cloned(),
                received_at: t.set.received_at().0,
                expires_at: t.set.expires_at().map(|e| e.0),
                scope: t.set.scope().map(String::from),
                generation: t.set.generation().0,
                refresh_at: t.schedule().map(|s| s.refresh_at.0),
                issuer: issuer.clone(),
            }),
            client: self.client().cloned(),
            client_issuer: self.client().and(issuer),
            server: self.server().map(|s| StoredServer {
                issuer: String::from(s.issuer),
                token_endpoint: String::from(s.token_endpoint),
                authorization_endpoint: s.authorization_endpoint.map(String::from),
                registration_endpoint: s.registration_endpoint.map(String::from),
                resource: s.resource.map(String::from),
                requested_scope: s.requested_scope.map(String::from),
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
        if self.requests.len() >= self.policy().max_pending_requests as usize {
            self.stats.fails += 1;
            self.actions.push_back(Action::Fail {
                id,
                error: RequestError::TooManyPending,
                cause: None,
            });
            return id;
        }
        if let Some(generation) = self.usable(now) {
            self.requests.push_sent(id, generation);
            self.send(id, generation);
            if self.phase(now) == Phase::Expiring {
                self.kick(now, Cause::Input);
            }
            return id;
        }
        if self.should_probe() {
            // MCP authorization: the first request goes out without a token; the 401's
            // challenge says where to discover the authorization server.
            self.requests.push_sent(id, Generation::NONE);
            self.send(id, Generation::NONE);
            return id;
        }
        self.requests.push_waiting(id, now);
        if !self.can_obtain() {
            let cause = self
                .last_error
                .clone()
                .unwrap_or_else(|| Box::new(SessionError::CannotAuthorize));
            self.fail(id, RequestError::ReauthorizationRequired, Some(cause));
            return id;
        }
        self.kick(now, Cause::Input);
        id
    }

    /// Whether a request to `url` is one this session's credential is for: the
    /// resource's origin (scheme, host and port). A host wrapping `fetch` or an HTTP
    /// client sends the token nowhere else (RFC 6750 §5.3: tokens go only to the
    /// resource they are for).
    pub fn covers(&self, url: &str) -> bool {
        crate::oauth::same_origin(url, &self.config.resource_url)
    }

    /// The host finished request `id` without a response to report (a host that hands
    /// a token to another HTTP stack and never sees its answer). The request ends with
    /// no further action; an unknown or finished one is left alone.
    pub fn finish_request(&mut self, id: RequestId) {
        if self.requests.remove(id).is_some() {
            self.actions.retain(
                |a| !matches!(a, Action::Send { id: i, .. } | Action::Fail { id: i, .. } if *i == id),
            );
        }
    }

    /// A `401` for a request sent with `generation`, for hosts that do not begin
    /// requests through the session (a token handed to another HTTP stack): the same
    /// rules as [`Session::handle_resource_response`] without a request id. A `401` for
    /// an older generation than the current one is stale and changes nothing; for the
    /// current one the credential is refused and renewed (refresh, helper re-run,
    /// authorization), and the next [`Session::begin_request`] waits for it.
    pub fn handle_unauthorized(
        &mut self,
        generation: Generation,
        www_authenticate: &[&str],
        now: Timestamp,
    ) {
        self.stats.unauthorized_seen += 1;
        if self.cred.generation() != Some(generation) && generation != Generation::NONE {
            return;
        }
        let challenge = find_bearer(www_authenticate);
        if generation != Generation::NONE {
            self.cred.reject(generation);
        }
        if self.is_helper() {
            return self.kick(now, Cause::Input);
        }
        if !self.work.is_idle() {
            return;
        }
        let recheck = generation != Generation::NONE
            && matches!(self.server, ServerSlot::Known(_))
            && challenge
                .as_ref()
                .is_some_and(|c| c.resource_metadata.is_some());
        if recheck {
            self.start_authorization(now, challenge, None, flow::Goal::Recheck);
        } else if generation != Generation::NONE && self.can_refresh() {
            self.start_refresh(now);
        } else if generation != Generation::NONE && self.can_refresh_after_discovery() {
            self.start_authorization(now, challenge, None, flow::Goal::Refresh);
        } else if self.can_authorize() {
            self.start_authorization(now, challenge, None, flow::Goal::Authorize);
        }
    }

    /// The host gives up on a request (its caller went away). A pending request ends
    /// with `Fail { error: Cancelled }` (any `Send` or `Fail` still queued for it is
    /// withdrawn); an unknown or finished one is left alone.
    pub fn cancel_request(&mut self, id: RequestId) {
        if self.requests.remove(id).is_none() {
            return;
        }
        self.actions.retain(
            |a| !matches!(a, Action::Send { id: i, .. } | Action::Fail { id: i, .. } if *i == id),
        );
        self.stats.fails += 1;
        self.actions.push_back(Action::Fail {
            id,
            error: RequestError::Cancelled,
            cause: None,
        });
    }

    /// Install tokens the host obtained elsewhere (a static token, a test fixture, a
    /// token response of its own). `expires_in` in seconds, as RFC 6749 §5.1 has it,
    /// counted from `now`.
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
        self.install_tokens(set, now);
    }

    /// Start over the way the credential's owner would: an OAuth session starts the
    /// authorization flow (for a host whose user asked to sign in again); a header-helper
    /// session runs its helper again. Ends a running backoff; does nothing while other
    /// credential work is in flight.
    pub fn reauthorize(&mut self, now: Timestamp) {
        if matches!(self.work, Work::Backoff { .. }) {
            self.work = Work::Idle;
        }
        if !self.work.is_idle() {
            return;
        }
        if self.is_helper() {
            self.run_helper(now);
        } else {
            self.start_authorization(now, None, None, flow::Goal::Authorize);
        }
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
        let Some(sent) = self.requests.sent_generation(id) else {
            return Verdict::Deliver;
        };
        match status {
            401 => {
                self.stats.unauthorized_seen += 1;
                let challenge = find_bearer(www_authenticate);
                self.on_unauthorized(id, sent, challenge, now);
                Verdict::Retry
            }
            403 => match find_bearer(www_authenticate) {
                Some(c) if c.error == Some(BearerError::InsufficientScope) => {
                    self.stats.insufficient_scope_seen += 1;
                    self.on_insufficient_scope(id, c, now)
                }
                _ => {
                    self.requests.remove(id);
                    Verdict::Deliver
                }
            },
            _ => {
                self.requests.remove(id);
                Verdict::Deliver
            }
        }
    }

    /// [`handle_resource_response`](Session::handle_resource_response) for a DPoP
    /// session: `dpop_nonce` is the response's `DPoP-Nonce` header, if any (RFC 9449
    /// §9). A valid nonce is kept for the resource. A `401` whose `DPoP` challenge says
    /// `error="use_dpop_nonce"` and that brings a new nonce is retried once with it
    /// (a new `Send` of the same generation: take its headers from
    /// [`headers_for`](Session::headers_for) again); a second such `401` for the same
    /// request, or one without a usable nonce, goes the usual way (no loop).
    pub fn handle_resource_response_dpop(
        &mut self,
        id: RequestId,
        status: u16,
        www_authenticate: &[&str],
        dpop_nonce: Option<&str>,
        now: Timestamp,
    ) -> Verdict {
        let nonce = dpop_nonce.and_then(|n| crate::dpop::parse_nonce(n.as_bytes()).ok());
        let resource = self.config.resource_url.clone();
        if let (Some(n), Some(signer)) = (nonce, self.signer.as_deref_mut()) {
            signer.store_nonce(&resource, n);
        }
        if status == 401 && nonce.is_some() && asks_for_nonce(www_authenticate) {
            if let Some(sent) = self.requests.sent_generation(id) {
                if let Some(p) = self.requests.get_mut(id) {
                    if !p.nonce_retried {
                        p.nonce_retried = true;
                        self.send(id, sent);
                        return Verdict::Retry;
                    }
                }
            }
        }
        self.handle_resource_response(id, status, www_authenticate, now)
    }

    /// The answer to a [`Action::Fetch`]. `headers` are the response headers (only
    /// `Retry-After` is read), `body` the body as read: at most
    /// [`Policy::max_response_body`] bytes are accepted, so a host reads one byte more
    /// than that and stops.
    pub fn handle_http_response(
        &mut self,
        id: FetchId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        now: Timestamp,
    ) {
        let Some(fetch) = self.take_fetch(id) else {
            return;
        };
        let limit = self.policy().max_response_body;
        if body.len() > limit as usize {
            let e = SessionError::BodyTooLarge {
                what: fetch.purpose.what(),
                limit,
            };
            return self.on_fetch_failed(fetch, e, None, now);
        }
        if let (Some(n), Some(signer)) = (proof::nonce_header(headers), self.signer.as_deref_mut())
        {
            // RFC 9449 §8.2: any response may carry the next nonce.
            let url = match fetch.unsigned.as_deref() {
                Some(r) => r.url.clone(),
                None => String::new(),
            };
            if !url.is_empty() {
                signer.store_nonce(&url, n);
            }
            // A token request refused for want of a nonce (RFC 9449 §8): send it once
            // more with the nonce; a second refusal is an answer like any other.
            if status == 400 && !fetch.nonce_retried && is_use_dpop_nonce(body) {
                if let Some(unsigned) = fetch.unsigned.clone() {
                    let state::Fetch { purpose, step, .. } = *fetch;
                    let request = (*unsigned).clone();
                    self.fetch_signed(purpose, request, Some(unsigned), true, step, now);
                    return;
                }
            }
        }
        let retry_after = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| crate::oauth::retry_after_at(v, now))
            .map(Millis);
        let state::Fetch {
            purpose,
            sent_at,
            step,
            ..
        } = *fetch;
        match step {
            Step::Refresh { generation, leased } => {
                if self.cred.generation() == Some(generation) || (200..300).contains(&status) {
                    self.on_refresh_response(status, retry_after, body, sent_at, now);
                }
                // Else: the tokens it refreshed were replaced meanwhile (another
                // process's, from the shared store); a refusal of the old refresh token
                // says nothing about the new one.
                if leased {
                    self.actions.push_back(Action::ReleaseLease);
                }
            }
            Step::Grant => self.on_grant_response(status, retry_after, body, sent_at, now),
            Step::Discovery(d) => self.on_discovery_response(d, purpose, status, body, now),
            Step::Registration(plan) => self.on_registration_response(plan, status, body, now),
        }
    }

    /// A [`Action::Fetch`] failed before any response.
    pub fn handle_http_error(&mut self, id: FetchId, kind: HttpErrorKind, now: Timestamp) {
        if let Some(fetch) = self.take_fetch(id) {
            self.on_fetch_failed(fetch, SessionError::Network(kind), None, now);
        }
    }

    /// What the header helper printed on standard output, as bytes (the flat form for
    /// C and JavaScript hosts): parsed with [`parse_helper_output`], bounded by
    /// [`Policy::max_helper_output`].
    pub fn handle_helper_stdout(&mut self, stdout: &[u8], now: Timestamp) {
        let limit = self.policy().max_helper_output;
        let result = if stdout.len() > limit as usize {
            Err(HelperOutputError::TooLarge { limit })
        } else {
            parse_helper_output(stdout)
        };
        self.handle_helper_output(result, now);
    }

    /// The header helper did not run to completion: `exit_code` is its non-zero exit
    /// status, or `None` when it could not start, was killed or timed out.
    pub fn handle_helper_failure(&mut self, exit_code: Option<i32>, now: Timestamp) {
        self.handle_helper_output(
            Err(HelperOutputError::CommandFailed { code: exit_code }),
            now,
        );
    }

    /// The header helper's result, already parsed (see [`parse_helper_output`]). Ignored
    /// when no helper run is in flight.
    pub fn handle_helper_output(
        &mut self,
        result: Result<HelperOutput, HelperOutputError>,
        now: Timestamp,
    ) {
        if !matches!(self.work, Work::Helper { .. }) {
            return;
        }
        self.work = Work::Idle;
        match result {
            Ok(out) => self.install_helper(out, now),
            Err(e) => self.helper_failed(SessionError::HelperOutput(e), now),
        }
    }

    /// The host could not run the browser part of authorization (no browser, the
    /// redirect listener failed, the authorization endpoint did not redirect). Ends the
    /// flow at once: the waiting requests fail with
    /// [`RequestError::AuthorizationFailed`] instead of waiting out the deadline.
    pub fn handle_authorize_error(&mut self, now: Timestamp) {
        if matches!(self.work, Work::Redirect(_)) {
            self.fail_flow(SessionError::AuthorizationUnavailable, now);
        }
    }

    /// The browser came back to the redirect URI with `url` (full URL or its query).
    pub fn handle_redirect(&mut self, url: &str, now: Timestamp) -> Result<(), RedirectError> {
        self.on_redirect(url, now)
    }

    /// The host could not store the last [`Action::Persist`]. The credentials stay in
    /// memory (requests keep going out with them) and the machine emits a new
    /// `Persist` after a backoff, until one is stored: a rotated refresh token is never
    /// silently forgotten. [`Session::last_error`] says so meanwhile.
    pub fn handle_persist_failed(&mut self, now: Timestamp) {
        self.stats.persist_failures += 1;
        self.attempts.persist = self.attempts.persist.saturating_add(1);
        let delay = self
            .config
            .policy
            .backoff(self.attempts.persist, None, self.entropy.unit());
        self.persist_retry_at = now + delay.max(Millis(1));
        self.record(SessionError::PersistFailed);
    }

    /// ([`Policy::shared_store`] only.) The host's answer to [`Action::AcquireLease`]:
    /// with the lease the refresh goes ahead; without it the session waits
    /// [`Policy::lease_wait`] for the holder's tokens ([`Session::handle_store_update`])
    /// and asks again. A late or unasked grant (the session took newer stored tokens
    /// meanwhile, or gave up waiting) is handed straight back with
    /// [`Action::ReleaseLease`], so the lease is always the session's to release and a
    /// host never decides that itself; a late refusal is ignored.
    pub fn handle_lease(&mut self, granted: bool, now: Timestamp) {
        if !matches!(self.work, Work::AwaitLease { .. }) {
            if granted {
                self.actions.push_back(Action::ReleaseLease);
            }
            return;
        }
        self.work = Work::Idle;
        if granted {
            if self.can_refresh() {
                self.refresh_now(now, true);
            } else {
                self.actions.push_back(Action::ReleaseLease);
            }
        } else {
            self.lease_wait(now);
        }
    }

    /// No lease: wait for the holder's tokens. Each wait counts as an attempt, so that
    /// with nobody asking the session stops asking after the policy's attempts (a
    /// request waiting still does, until its own deadline).
    pub(super) fn lease_wait(&mut self, now: Timestamp) {
        self.attempts.refresh = self.attempts.refresh.saturating_add(1);
        if self.attempts.refresh >= self.policy().max_token_attempts {
            self.attempts.refresh = 0;
            self.proactive = false;
        }
        let until = now + self.policy().lease_wait.max(Millis(1));
        self.work = Work::LeaseWait { until };
    }

    /// The shared store holds a newer snapshot than this session's (another process
    /// refreshed, authorized or lost its tokens): take it on, tokens, client and server,
    /// instead of refreshing. Requests waiting for a credential go out with it; a lease
    /// wait ends. A snapshot whose [`Snapshot::revision`] is not newer is ignored.
    pub fn handle_store_update(&mut self, snapshot: Snapshot, now: Timestamp) {
        if snapshot.revision <= self.revision {
            return;
        }
        self.take_stored(snapshot, now);
    }

    /// The host could not store the last [`Action::Persist`] because the store holds a
    /// newer revision (`current`, a failed compare-and-swap: another process wrote
    /// first). The session takes `current` on, as [`Session::handle_store_update`] does.
    ///
    /// A store's compare-and-swap accepts a snapshot whose revision is *newer* than the
    /// stored one (not exactly one more: a `Persist` asked again after a failure carries
    /// a later revision). A "conflict" holding an *older* revision than this session's
    /// is not another process's write: its refresh token may be spent, so it is never
    /// taken on; the `Persist` counts as failed and is asked for again
    /// ([`Session::handle_persist_failed`]).
    pub fn handle_persist_conflict(&mut self, current: Snapshot, now: Timestamp) {
        if current.revision < self.revision {
            self.handle_persist_failed(now);
            return;
        }
        self.take_stored(current, now);
    }

    fn take_stored(&mut self, snapshot: Snapshot, now: Timestamp) {
        let had = self.cred.generation();
        self.adopt(snapshot);
        if matches!(self.work, Work::AwaitLease { .. } | Work::LeaseWait { .. }) {
            self.work = Work::Idle;
        }
        if self.cred.generation() != had {
            self.credential_changed(now, false);
        }
        if self.requests.any_waiting() {
            self.kick(now, Cause::Input);
        }
    }

    /// Time passed: act on every deadline at or before `now`. Spurious calls (before
    /// [`poll_timeout`](Session::poll_timeout)) do nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.on_timeout(now);
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
        self.next_timer().map(|(t, _)| t)
    }

    /// [`poll_timeout`](Session::poll_timeout) with the reason it is due.
    #[must_use]
    pub fn poll_timeout_reason(&self) -> Option<(Timestamp, TimeoutReason)> {
        self.next_timer()
    }

    // ----------------------------------------------------------------------------------
    // Internals shared by the submodules
    // ----------------------------------------------------------------------------------

    fn policy(&self) -> &Policy {
        &self.config.policy
    }

    fn record(&mut self, e: SessionError) {
        self.last_error = Some(Box::new(e));
    }

    fn oauth_config(&self) -> Option<&OAuthConfig> {
        match &self.config.credential {
            Credential::OAuth(o) => Some(o),
            Credential::HeaderHelper(h) if self.fallback_active => h.oauth_fallback.as_ref(),
            Credential::HeaderHelper(_) => None,
        }
    }

    fn is_helper(&self) -> bool {
        matches!(self.config.credential, Credential::HeaderHelper(_)) && !self.fallback_active
    }

    /// The helper run failed: fail whoever waits, back off, and stop proactive re-runs
    /// until the next request (a session left alone goes quiet).
    fn helper_failed(&mut self, e: SessionError, now: Timestamp) {
        self.work = Work::Idle;
        let delay = self.next_backoff(Job::Helper, None, &e);
        self.record(e.clone());
        self.proactive = false;
        self.fail_waiting(RequestError::HelperFailed, Some(e));
        self.back_off(now, delay);
    }

    /// Take the in-flight exchange `id`, leaving the session idle. `None` (and nothing
    /// changes) for an answer to an exchange that is no longer in flight.
    fn take_fetch(&mut self, id: FetchId) -> Option<Box<state::Fetch>> {
        match &self.work {
            Work::Fetch(f) if f.id == id => {}
            _ => return None,
        }
        match core::mem::take(&mut self.work) {
            Work::Fetch(f) => Some(f),
            // Checked just above.
            other => {
                self.work = other;
                None
            }
        }
    }
}

/// Whether a token endpoint's error body is `use_dpop_nonce` (RFC 9449 §8).
fn is_use_dpop_nonce(body: &[u8]) -> bool {
    matches!(
        crate::oauth::parse_token_response(400, body),
        Err(crate::oauth::TokenError::Endpoint(e)) if e.error.as_str() == "use_dpop_nonce"
    )
}

/// Whether a `WWW-Authenticate` holds a `DPoP` challenge with
/// `error="use_dpop_nonce"` (RFC 9449 §9).
fn asks_for_nonce(www_authenticate: &[&str]) -> bool {
    crate::challenge::parse_lines(www_authenticate, crate::challenge::Mode::Lenient)
        .filter_map(|c| c.ok())
        .filter(|c| c.is_scheme("DPoP"))
        .any(|c| {
            c.param("error")
                .and_then(|p| p.as_str())
                .is_some_and(|e| e == "use_dpop_nonce")
        })
}

impl Session {
    /// The keys the configuration asks for: a DPoP key from the seed, the client
    /// assertion key as configured (a key that does not parse is left out: the token
    /// endpoint's `invalid_client` then says so; [`Config::validate`] catches it first).
    fn make_signer(&mut self) -> Option<Box<proof::Signer>> {
        let o = match &self.config.credential {
            Credential::OAuth(o) => Some(o),
            Credential::HeaderHelper(h) => h.oauth_fallback.as_ref(),
        }?;
        let (dpop, key) = (o.dpop, o.client_assertion_key.clone());
        let dpop = if dpop {
            crate::jose::SigningKey::from_seed(|| self.entropy.block())
        } else {
            None
        };
        let client = key.and_then(|k| parse_key(k.expose()).ok());
        proof::Signer::new(dpop, client).map(Box::new)
    }
}

/// A configured private key: PKCS#8 PEM or a private JWK.
pub(crate) fn parse_key(text: &str) -> Result<crate::jose::SigningKey, crate::jose::KeyError> {
    if text.trim_start().starts_with('{') {
        crate::jose::SigningKey::from_jwk(text)
    } else {
        crate::jose::SigningKey::from_pkcs8_pem(text)
    }
}

/// Which kind of work failed, for its backoff counter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Job {
    Flow,
    Helper,
}

//! Keeping the credential alive: what work to start, the token endpoint's answers, the
//! resource's `401` and `403`, and backing off after failures.
//!
//! Only an RFC 6749 §5.2 error that says so drops anything: `invalid_grant` the refresh
//! token, `invalid_client` / `unauthorized_client` the client registration too. Every
//! other answer that is not tokens (5xx, 429, a proxy's 404 page, a 302, a 408, a body
//! that is not a token response, a network error, a deadline) is transient: the machine
//! backs off and tries again, and after [`Policy::max_token_attempts`] fails the waiting
//! requests with [`RequestError::TokenEndpointUnavailable`], keeping the refresh token.
//!
//! [`Policy::max_token_attempts`]: crate::policy::Policy::max_token_attempts

use super::flow::Goal;
use super::state::{Cred, Fetch, Step, Work};
use super::{
    Action, Cause, Credential, FetchId, Job, Purpose, RequestError, RequestId, Session,
    SessionError, State, Verdict,
};
use crate::challenge::BearerChallenge;
use crate::oauth::{self, ErrorCode, TokenError};
use crate::time::{Millis, Timestamp};
use crate::token::{Generation, Phase, TokenSet};
use alloc::boxed::Box;
use alloc::string::String;

impl Session {
    /// Start whatever credential work the state calls for, unless work is under way
    /// (single flight) or a backoff is running. Requests waiting always count;
    /// proactive work (a due refresh with nobody waiting) starts from input, and from
    /// the timer only while it has not given up.
    pub(super) fn kick(&mut self, now: Timestamp, cause: Cause) {
        if !self.work.is_idle() {
            return;
        }
        let waiting = self.requests.any_waiting();
        let proactive = cause == Cause::Input || self.proactive;
        if self.is_helper() {
            let stale = self.usable(now).is_none();
            if waiting || (stale && proactive) {
                self.run_helper(now);
            }
            return;
        }
        let due = matches!(self.phase(now), Phase::Expiring | Phase::Expired);
        if !(waiting || (due && proactive)) {
            return;
        }
        if self.can_refresh() {
            self.start_refresh(now);
        } else if self.can_refresh_after_discovery() {
            self.start_authorization(now, None, None, Goal::Refresh);
        } else if waiting || (due && self.renews_by_authorizing()) {
            // Tokens that came without a refresh token are renewed by a new
            // authorization, started in the refresh window like a refresh would be, so
            // that requests go on with the current token meanwhile.
            self.start_authorization(now, None, None, Goal::Authorize);
        }
    }

    /// Tokens in hand that only a new authorization renews: no refresh token, and this
    /// session can authorize by itself.
    fn renews_by_authorizing(&self) -> bool {
        matches!(self.cred, Cred::Tokens(_))
            && !self.cred.has_refresh_token()
            && self.can_authorize()
    }

    pub(super) fn run_helper(&mut self, now: Timestamp) {
        let deadline = now + self.policy().fetch_deadline.max(Millis(1));
        self.work = Work::Helper { deadline };
        self.stats.helper_runs += 1;
        self.actions.push_back(Action::RunHelper);
    }

    /// Refresh now, or, with a shared store, first ask for its refresh lease.
    pub(super) fn start_refresh(&mut self, now: Timestamp) {
        if !self.can_refresh() {
            return;
        }
        if self.policy().shared_store {
            let deadline = now + self.policy().fetch_deadline.max(Millis(1));
            self.work = Work::AwaitLease { deadline };
            let ttl = self.policy().lease_ttl;
            self.actions.push_back(Action::AcquireLease { ttl });
            return;
        }
        self.refresh_now(now, false);
    }

    /// The refresh-token grant itself (RFC 6749 §6).
    pub(super) fn refresh_now(&mut self, now: Timestamp, leased: bool) {
        let (Some(set), Some(server), Some(client)) =
            (self.cred.set(), self.server(), self.client())
        else {
            return;
        };
        let Some(rt) = set.refresh_token() else {
            return;
        };
        let resource = self.resource_parameter();
        let req =
            oauth::refresh_request(server.token_endpoint, client, rt, resource.as_deref(), None);
        let generation = set.generation();
        self.stats.refresh_requests += 1;
        self.fetch(
            Purpose::Refresh,
            req,
            Step::Refresh { generation, leased },
            now,
        );
    }

    /// Ask the host for one exchange; it is the session's one piece of work.
    pub(super) fn fetch(
        &mut self,
        purpose: Purpose,
        request: crate::http::Request,
        step: Step,
        now: Timestamp,
    ) {
        let signed = self.signer.is_some() && purpose.is_token_request();
        let unsigned = signed.then(|| Box::new(request.clone()));
        self.fetch_signed(purpose, request, unsigned, false, step, now);
    }

    /// [`fetch`](Session::fetch) with the token request signed (DPoP proof, client
    /// assertion) when `unsigned` holds its unsigned form.
    pub(super) fn fetch_signed(
        &mut self,
        purpose: Purpose,
        mut request: crate::http::Request,
        unsigned: Option<Box<crate::http::Request>>,
        nonce_retried: bool,
        step: Step,
        now: Timestamp,
    ) {
        if unsigned.is_some() {
            self.sign_token_request(&mut request, now);
        }
        let id = FetchId(u64::from(self.next_fetch));
        self.next_fetch = self.next_fetch.wrapping_add(1).max(1);
        self.work = Work::Fetch(Box::new(Fetch {
            id,
            purpose,
            sent_at: now,
            deadline: now + self.policy().fetch_deadline.max(Millis(1)),
            step,
            unsigned,
            nonce_retried,
        }));
        self.actions.push_back(Action::Fetch {
            id,
            purpose,
            request: Box::new(request),
        });
    }

    /// Parse a token response, with `token_type` `DPoP` accepted when this session
    /// sent a proof; a DPoP-bound token is marked so.
    pub(super) fn parse_tokens(
        &self,
        status: u16,
        body: &[u8],
    ) -> Result<(oauth::TokenResponse, bool), TokenError> {
        if self.signer.as_deref().is_some_and(|s| s.dpop.is_some()) {
            oauth::parse_token_response_dpop(status, body)
        } else {
            oauth::parse_token_response(status, body).map(|t| (t, false))
        }
    }

    /// New tokens from the token endpoint: persist first, then release the waiting.
    /// `expires_in` counts from `sent_at`, when the token request left: the transit time
    /// of the response then shortens the token's life in our eyes instead of extending
    /// it past the server's.
    pub(super) fn accept_tokens(
        &mut self,
        resp: oauth::TokenResponse,
        dpop: bool,
        grant: bool,
        sent_at: Timestamp,
        now: Timestamp,
    ) {
        let old = self.cred.set();
        // A refresh that brings no new refresh token keeps the old one (RFC 6749 §6: it
        // stays valid); a new grant's tokens are a new grant: an old refresh token
        // belongs to the old one.
        let refresh = match resp.refresh_token {
            Some(r) => Some(r),
            None if grant => {
                // Client credentials never bring one (RFC 6749 §4.4.3); an authorization
                // that brings none is worth counting: each expiry needs the user again.
                let code = self
                    .oauth_config()
                    .is_some_and(|o| o.grant == super::Grant::AuthorizationCode);
                if code {
                    self.stats.grants_without_refresh_token += 1;
                }
                None
            }
            None => old.and_then(|t| t.refresh_token().cloned()),
        };
        let scope = resp
            .scope
            .or_else(|| old.and_then(|t| t.scope().map(String::from)));
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
        let set = if dpop { set.into_dpop() } else { set };
        let attempts = self.attempts.refresh;
        self.install_tokens(set, now);
        if self.usable(now).is_none() && self.requests.any_waiting() {
            // The token was already past its (skew-adjusted) expiry when it arrived: a
            // token endpoint slower than the token's lifetime. Count it as a transient
            // failure, so the waiting requests get another try after a backoff and a
            // typed failure when the attempts run out, never a silent stall.
            self.attempts.refresh = attempts;
            self.transient(now, None, SessionError::ExpiredOnArrival);
        }
    }

    /// The token endpoint's answer to a refresh.
    pub(super) fn on_refresh_response(
        &mut self,
        status: u16,
        retry_after: Option<Millis>,
        body: &[u8],
        sent_at: Timestamp,
        now: Timestamp,
    ) {
        let status_error = SessionError::Status {
            what: Purpose::Refresh.what(),
            status,
        };
        if status >= 500 || status == 429 {
            return self.transient(now, retry_after, status_error);
        }
        match self.parse_tokens(status, body) {
            Ok((resp, dpop)) => self.accept_tokens(resp, dpop, false, sent_at, now),
            // RFC 6749 §5.2 errors come with 400 (401 for client authentication); some
            // servers send them with 200. An error object with any other status is a
            // proxy or a gateway talking, not the authorization server.
            Err(TokenError::Endpoint(e)) if matches!(status, 200..=299 | 400 | 401) => {
                self.on_refresh_refused(e, retry_after, now)
            }
            Err(TokenError::Endpoint(_)) => self.transient(now, retry_after, status_error),
            Err(e) if (200..300).contains(&status) => {
                // A 2xx that is not a token response (a captive portal, a proxy page).
                self.transient(now, retry_after, SessionError::TokenResponse(e))
            }
            Err(_) => self.transient(now, retry_after, status_error),
        }
    }

    /// An authorization server that echoes what it was sent would print our own secrets
    /// in its `error_description`: take them out before the error is kept or shown.
    pub(super) fn scrub(&self, mut e: oauth::ErrorResponse) -> oauth::ErrorResponse {
        let set = self.cred.set();
        let secrets = [
            set.and_then(|t| t.refresh_token()).map(|r| r.expose()),
            set.map(|t| t.access_token()),
            self.client()
                .and_then(|c| c.client_secret.as_ref())
                .map(|s| s.expose()),
        ];
        for text in [&mut e.error_description, &mut e.error_uri]
            .into_iter()
            .flatten()
        {
            for secret in secrets.iter().flatten().filter(|s| s.len() >= 4) {
                if text.contains(secret) {
                    *text = text.replace(secret, "<redacted>");
                }
            }
        }
        e
    }

    /// The authorization server said no to a refresh (RFC 6749 §5.2).
    fn on_refresh_refused(
        &mut self,
        e: oauth::ErrorResponse,
        retry_after: Option<Millis>,
        now: Timestamp,
    ) {
        let e = self.scrub(e);
        match &e.error {
            ErrorCode::InvalidGrant => {
                let cause = SessionError::TokenEndpoint(e);
                self.record(cause.clone());
                self.drop_refresh_token(false, now);
                self.after_refusal(now, cause);
            }
            ErrorCode::InvalidClient | ErrorCode::UnauthorizedClient => {
                let cause = SessionError::TokenEndpoint(e);
                self.record(cause.clone());
                self.drop_refresh_token(true, now);
                self.after_refusal(now, cause);
            }
            ErrorCode::Other(code)
                if code == "temporarily_unavailable" || code == "server_error" =>
            {
                self.transient(now, retry_after, SessionError::TokenEndpoint(e))
            }
            _ => {
                // An error that does not revoke anything (invalid_request, invalid_scope,
                // unsupported_grant_type…): trying again at once would fail the same
                // way. Fail the waiting, keep the tokens, wait the longest backoff.
                let cause = SessionError::TokenEndpoint(e);
                self.record(cause.clone());
                self.attempts.refresh = 0;
                self.proactive = false;
                self.fail_waiting(RequestError::TokenEndpointRejected, Some(cause));
                let max = self.policy().backoff_max;
                self.back_off(now, max);
            }
        }
    }

    /// The refresh token is gone: authorize if this session can and someone waits, else
    /// fail the waiting.
    fn after_refusal(&mut self, now: Timestamp, cause: SessionError) {
        if self.can_authorize() {
            if self.requests.any_waiting() {
                self.start_authorization(now, None, None, Goal::Authorize);
            }
        } else {
            self.fail_waiting(RequestError::ReauthorizationRequired, Some(cause));
        }
    }

    /// A transient token-endpoint failure: back off; after the allowed attempts, fail
    /// the waiting (the refresh token stays) and wait the longest backoff.
    pub(super) fn transient(
        &mut self,
        now: Timestamp,
        retry_after: Option<Millis>,
        error: SessionError,
    ) {
        self.record(error.clone());
        self.attempts.refresh = self.attempts.refresh.saturating_add(1);
        if self.attempts.refresh >= self.policy().max_token_attempts {
            self.attempts.refresh = 0;
            self.proactive = false;
            self.fail_waiting(RequestError::TokenEndpointUnavailable, Some(error));
            let max = self.policy().backoff_max;
            return self.back_off(now, max);
        }
        // Every answer that reaches here is transient by the rule above, whatever
        // its status: the policy's backoff, with the server's Retry-After.
        let unit = self.entropy.unit();
        let delay = self
            .config
            .policy
            .backoff(self.attempts.refresh, retry_after, unit);
        self.back_off(now, delay);
    }

    /// How long to wait after a failure of an authorization flow or a helper run: the
    /// policy's exponential backoff (with a server's `Retry-After`) for transient
    /// errors, the longest one for errors that will not go away by themselves.
    pub(super) fn next_backoff(
        &mut self,
        job: Job,
        retry_after: Option<Millis>,
        error: &SessionError,
    ) -> Millis {
        let attempts = match job {
            Job::Flow => {
                self.attempts.flow = self.attempts.flow.saturating_add(1);
                self.attempts.flow
            }
            Job::Helper => {
                self.attempts.helper = self.attempts.helper.saturating_add(1);
                self.attempts.helper
            }
        };
        if !error.is_transient() {
            return self.policy().backoff_max;
        }
        let unit = self.entropy.unit();
        self.config.policy.backoff(attempts, retry_after, unit)
    }

    /// Nothing starts before `now + delay`.
    pub(super) fn back_off(&mut self, now: Timestamp, delay: Millis) {
        self.work = Work::Backoff {
            until: now + delay.max(Millis(1)),
        };
    }

    /// An exchange ended without a usable answer (network error, deadline, oversized
    /// body).
    pub(super) fn on_fetch_failed(
        &mut self,
        fetch: Box<Fetch>,
        error: SessionError,
        retry_after: Option<Millis>,
        now: Timestamp,
    ) {
        match fetch.step {
            Step::Refresh { generation, leased } => {
                if self.cred.generation() == Some(generation) {
                    self.transient(now, retry_after, error);
                }
                if leased {
                    self.actions.push_back(Action::ReleaseLease);
                }
            }
            Step::Discovery(d) => {
                if !self.recheck_failed(d, now) {
                    self.fail_flow(error, now)
                }
            }
            Step::Registration(_) | Step::Grant => self.fail_flow(error, now),
        }
    }

    /// `401` for request `id`, sent with generation `sent`.
    pub(super) fn on_unauthorized(
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
            self.fail(id, RequestError::Unauthorized, None);
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
        if sent != Generation::NONE {
            self.cred.reject(sent);
        }
        if self.is_helper() {
            if self.switch_to_oauth_fallback(&challenge) {
                self.start_authorization(now, challenge, None, Goal::Authorize);
            } else {
                self.kick(now, Cause::Input);
            }
            return;
        }
        if !self.work.is_idle() {
            // Single flight: the work under way (or the backoff) serves this request too.
            return;
        }
        let recheck = sent != Generation::NONE
            && matches!(self.server, super::identity::ServerSlot::Known(_))
            && challenge
                .as_ref()
                .is_some_and(|c| c.resource_metadata.is_some());
        if recheck {
            // The resource may have moved to another authorization server: read its
            // metadata again first (MCP 2026-07-28 "Authorization Server Binding").
            self.start_authorization(now, challenge, None, Goal::Recheck);
        } else if sent != Generation::NONE && self.can_refresh() {
            self.start_refresh(now);
        } else if sent != Generation::NONE && self.can_refresh_after_discovery() {
            self.start_authorization(now, challenge, None, Goal::Refresh);
        } else {
            self.start_authorization(now, challenge, None, Goal::Authorize);
        }
    }

    /// A helper credential whose fresh output is refused, with OAuth fallback allowed
    /// and a challenge that points at metadata: switch to OAuth for good.
    fn switch_to_oauth_fallback(&mut self, challenge: &Option<BearerChallenge>) -> bool {
        let names_metadata = challenge
            .as_ref()
            .is_some_and(|c| c.resource_metadata.is_some());
        let Credential::HeaderHelper(h) = &self.config.credential else {
            return false;
        };
        if h.oauth_fallback.is_none() || !names_metadata {
            return false;
        }
        self.fallback_active = true;
        self.cred = Cred::None;
        self.reset_identity();
        true
    }

    /// `403` with `error="insufficient_scope"` (RFC 6750 §3.1): step up to the union of
    /// the granted and the challenged scopes (MCP 2025-11-25 "Scope Challenge
    /// Handling"), then retry once. The same challenge again after a step-up, a scope the
    /// token already has, or more than `max_step_ups`, fails the request instead.
    pub(super) fn on_insufficient_scope(
        &mut self,
        id: RequestId,
        c: BearerChallenge,
        now: Timestamp,
    ) -> Verdict {
        let granted = self.cred.set().and_then(|t| t.scope()).unwrap_or("");
        // MCP 2026-07-28 "Step-Up Authorization Flow": previously requested ∪
        // challenged (the granted scope when nothing was asked in this session: tokens
        // the host installed).
        let before = self
            .server()
            .and_then(|s| s.requested_scope)
            .map(String::from)
            .unwrap_or_else(|| String::from(granted));
        let required = c.scope.clone().unwrap_or_default();
        let limit = self.policy().max_scopes;
        if oauth::scope_tokens(&required).count() > limit as usize {
            let cause = SessionError::TooManyScopes {
                what: "the insufficient_scope challenge",
                limit,
            };
            self.fail(id, RequestError::InsufficientScope, Some(Box::new(cause)));
            return Verdict::Retry;
        }
        let already = !required.is_empty() && oauth::scope_covers(granted, &required);
        let fingerprint = scope_fingerprint(&required);
        let max = self.policy().max_step_ups;
        let can = self.can_authorize();
        let Some(p) = self.requests.get_mut(id) else {
            return Verdict::Deliver;
        };
        let same_again = p.step_ups > 0 && p.step_up_scope == fingerprint;
        if already || same_again || p.step_ups >= max || !can {
            self.fail(id, RequestError::InsufficientScope, None);
            return Verdict::Retry;
        }
        p.step_ups += 1;
        p.step_up_scope = fingerprint;
        p.state = State::Waiting { since: now };
        let scope = oauth::scope_union(&before, &required);
        if self.work.is_idle() {
            self.start_authorization(now, Some(c), Some(scope), Goal::Authorize);
        }
        Verdict::Retry
    }
}

/// An order-independent fingerprint of a space-delimited scope (FNV-1a per token,
/// summed), so a request can remember which challenge it stepped up for without
/// allocating. A collision only makes a different challenge count as the same one,
/// which fails the request instead of stepping up again: never a loop.
fn scope_fingerprint(scope: &str) -> u32 {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|t| {
            t.bytes().fold(0x811c_9dc5u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            })
        })
        .fold(0u32, u32::wrapping_add)
}

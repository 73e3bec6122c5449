//! The authorization flow, as the MCP authorization spec (2025-11-25) runs it:
//!
//! 1. protected resource metadata (RFC 9728): the `resource_metadata` URL from the
//!    `401`'s challenge, else the path-inserted well-known URL, then the root one;
//! 2. authorization server metadata (RFC 8414 §3, OIDC Discovery), with the issuer
//!    checked against the one it was discovered for (RFC 8414 §3.3); servers of the
//!    2025-03-26 revision without resource metadata get metadata at the server's origin,
//!    and without any metadata the default `/authorize`, `/token`, `/register`;
//! 3. client identity: pre-registered, Client ID Metadata Document, or dynamic
//!    registration (RFC 7591);
//! 4. the authorization request with PKCE S256 (RFC 7636), `state`, `resource`
//!    (RFC 8707), then the redirect with its `state` and `iss` (RFC 9207) checked;
//! 5. the code exchange; waiting requests are released with the new token.
//!
//! Every step is one `Fetch` at a time (single flight with refreshes). Any failure ends
//! the flow with a typed [`SessionError`], fails the waiting requests and backs off (the
//! policy's backoff for network trouble and 5xx, the longest one for refusals and
//! failed checks); the next request starts the flow again. No step is retried by
//! itself, so a broken server cannot cause a request storm, and no failure is for good.
//!
//! A flow has a [`Goal`]: authorization, or only finding the server so that a refresh
//! token restored without it can be used (a refresh is always tried before an
//! authorization).

use super::state::{Step, Work};
use super::{Action, Grant, Job, Purpose, RequestError, Server, Session, SessionError};
use crate::challenge::BearerChallenge;
use crate::oauth::{
    self, AuthorizationRequest, ClientAuthMethod, ClientRegistration, ProtectedResourceMetadata,
};
use crate::secret::Secret;
use crate::time::Timestamp;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// What a flow is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Get a new grant from the user (or the client credentials).
    #[default]
    Authorize,
    /// Find the authorization server, then refresh with the token in hand; authorize
    /// only if the refresh is refused.
    Refresh,
    /// After a `401` naming `resource_metadata`: read the protected resource metadata
    /// again before renewing, because the resource may have moved to another
    /// authorization server (MCP 2026-07-28 "Authorization Server Binding": the change
    /// is "detected via updated protected resource metadata"). Same issuer: renew as
    /// before; another one: discover it, and never take the old one's credentials
    /// there. If the metadata cannot be read, renew as before.
    Recheck,
}

/// What started a flow and what it has learnt so far.
#[derive(Default)]
pub(crate) struct Plan {
    goal: Goal,
    challenge: Option<BearerChallenge>,
    scope_override: Option<String>,
    resource_metadata: Option<ProtectedResourceMetadata>,
}

pub(crate) struct Discovery {
    plan: Plan,
    /// `false`: fetching resource metadata; `true`: authorization server metadata.
    server_step: bool,
    urls: Vec<String>,
    index: usize,
    /// The resource metadata URL came from the challenge: no fallback (MCP 2025-11-25).
    from_header: bool,
    /// 2025-03-26 compatibility: no resource metadata was found.
    legacy: bool,
    issuer: String,
}

pub(crate) struct Awaiting {
    state: String,
    verifier: Secret,
    redirect_uri: String,
    pub(crate) deadline: Timestamp,
    issuer: String,
    iss_required: bool,
}

/// An authorization waiting for the browser to come back, as plain data: what a page
/// that navigates away to the authorization server (a full-page redirect) keeps in
/// `sessionStorage` so that the session it builds when it comes back can take the
/// redirect ([`Session::pending_authorization`], [`Session::resume_authorization`]).
/// It holds the PKCE verifier: keep it only as long as the redirect takes, in storage
/// no other origin reads. `Debug` redacts the verifier.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingAuthorization {
    /// The `state` sent (RFC 6749 §10.12).
    pub state: String,
    /// The PKCE `code_verifier` (RFC 7636 §4.1).
    pub code_verifier: Secret,
    /// The `redirect_uri` sent.
    pub redirect_uri: String,
    /// When the user's time to authorize ends (unix ms).
    pub deadline: u64,
    /// The issuer the redirect's `iss` must name (RFC 9207).
    pub issuer: String,
    /// Whether `iss` is required (the server advertised it).
    pub iss_required: bool,
}

impl PendingAuthorization {
    /// Serialize to JSON, in a buffer zeroized on drop (the text holds the verifier).
    pub fn to_json(&self) -> zeroize::Zeroizing<String> {
        super::json::to_string(self)
    }

    /// Parse JSON written by [`PendingAuthorization::to_json`]. The error locates the
    /// problem and never quotes the input (which holds the verifier).
    ///
    /// ```
    /// use bearerflow::session::PendingAuthorization;
    /// let pending = PendingAuthorization {
    ///     state: "st-1".into(),
    ///     code_verifier: "verifier-0123456789".into(),
    ///     redirect_uri: "http://127.0.0.1:8976/callback".into(),
    ///     deadline: 1_700_000_000_000,
    ///     issuer: "https://as.example".into(),
    ///     iss_required: true,
    /// };
    /// let text = pending.to_json();
    /// assert_eq!(PendingAuthorization::from_json(text.as_bytes()), Ok(pending));
    ///
    /// let wrong = text.replace("\"deadline\":1700000000000", "\"deadline\":\"soon\"");
    /// let err = PendingAuthorization::from_json(wrong.as_bytes()).unwrap_err();
    /// assert!(!err.to_string().contains("verifier-0123456789"));
    /// assert!(!err.to_string().contains("soon"));
    /// ```
    pub fn from_json(json: &[u8]) -> Result<PendingAuthorization, super::JsonError> {
        super::json::from_slice(json)
    }
}

impl Session {
    /// The authorization waiting for its redirect, if one is, as plain data to keep
    /// across a page load (see [`PendingAuthorization`]).
    pub fn pending_authorization(&self) -> Option<PendingAuthorization> {
        match &self.work {
            Work::Redirect(a) => Some(PendingAuthorization {
                state: a.state.clone(),
                code_verifier: a.verifier.clone(),
                redirect_uri: a.redirect_uri.clone(),
                deadline: a.deadline.0,
                issuer: a.issuer.clone(),
                iss_required: a.iss_required,
            }),
            _ => None,
        }
    }

    /// Wait for the redirect of an authorization another instance of this session
    /// started (the page that navigated away): [`Session::handle_redirect`] then takes
    /// it as its own. Ignored when other credential work is under way or the deadline
    /// has passed.
    pub fn resume_authorization(&mut self, pending: PendingAuthorization, now: Timestamp) {
        if !matches!(self.work, Work::Idle | Work::Backoff { .. }) || now.0 >= pending.deadline {
            return;
        }
        self.work = Work::Redirect(Box::new(Awaiting {
            state: pending.state,
            verifier: pending.code_verifier,
            redirect_uri: pending.redirect_uri,
            deadline: Timestamp(pending.deadline),
            issuer: pending.issuer,
            iss_required: pending.iss_required,
        }));
    }
}

/// A redirect handed to [`Session::handle_redirect`] was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// No authorization is waiting for a redirect.
    NotAuthorizing,
    /// The URL or its query could not be read; the flow keeps waiting.
    Malformed(oauth::AuthorizeError),
    /// `state` is missing or not the one sent; the flow keeps waiting and nothing is
    /// sent (a forged or stale redirect must not end a real one).
    StateMismatch,
    /// The authorization server refused; the flow ended.
    Denied,
    /// `iss` is missing where required, or names another issuer (RFC 9207 §2.4); the flow
    /// ended.
    IssuerMismatch,
    /// No `code` and no `error`; the flow ended.
    MissingCode,
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::NotAuthorizing => {
                f.write_str("no authorization is waiting for a redirect")
            }
            RedirectError::Malformed(e) => write!(f, "redirect URL: {e}"),
            RedirectError::StateMismatch => {
                f.write_str("redirect state does not match the request")
            }
            RedirectError::Denied => f.write_str("the authorization server refused"),
            RedirectError::IssuerMismatch => {
                f.write_str("redirect iss is missing or names another issuer")
            }
            RedirectError::MissingCode => f.write_str("redirect has neither code nor error"),
        }
    }
}

impl core::error::Error for RedirectError {}

impl RedirectError {
    /// A stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            RedirectError::NotAuthorizing => "not_authorizing",
            RedirectError::Malformed(_) => "malformed",
            RedirectError::StateMismatch => "state_mismatch",
            RedirectError::Denied => "denied",
            RedirectError::IssuerMismatch => "issuer_mismatch",
            RedirectError::MissingCode => "missing_code",
        }
    }
}

/// `{"code": …, "message": …}`, like [`SessionError`].
impl serde::Serialize for RedirectError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("message", &alloc::format!("{self}"))?;
        map.end()
    }
}

/// Equality whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn is_client_error(status: u16) -> bool {
    (400..500).contains(&status)
}

impl Session {
    /// Whether this session can obtain a first token by itself.
    pub(crate) fn can_authorize(&self) -> bool {
        match self.oauth_config() {
            Some(o) => match o.grant {
                Grant::AuthorizationCode => o.redirect_uri.is_some(),
                Grant::ClientCredentials => o.client.is_some(),
                Grant::JwtBearer => o.client.is_some() && o.assertion.is_some(),
            },
            None => false,
        }
    }

    fn insecure_ok(&self) -> bool {
        self.oauth_config().is_some_and(|o| o.allow_insecure_http)
    }

    fn check_endpoint(&self, url: &str) -> Result<(), SessionError> {
        if self.insecure_ok() {
            return Ok(());
        }
        oauth::check_endpoint(url).map_err(SessionError::Discovery)
    }

    /// Start (or skip to the right step of) the authorization flow. Single flight: does
    /// nothing while other work is under way.
    pub(crate) fn start_authorization(
        &mut self,
        now: Timestamp,
        challenge: Option<BearerChallenge>,
        scope_override: Option<String>,
        goal: Goal,
    ) {
        if !self.work.is_idle() {
            return;
        }
        if goal == Goal::Refresh && self.can_refresh() {
            return self.start_refresh(now);
        }
        if goal == Goal::Authorize && !self.can_authorize() {
            let cause = self
                .last_error
                .as_deref()
                .cloned()
                .unwrap_or(SessionError::CannotAuthorize);
            self.fail_waiting(RequestError::ReauthorizationRequired, Some(cause));
            return;
        }
        // OAuth 2.1 §1.5: tokens only travel over TLS (loopback excepted); a resource on
        // plain http elsewhere never gets an authorization flow started for it.
        let resource_url = self.config.resource_url.clone();
        if let Err(e) = self.check_endpoint(&resource_url) {
            return self.fail_flow(e, now);
        }
        let plan = Plan {
            goal,
            challenge,
            scope_override,
            resource_metadata: None,
        };
        let known = goal != Goal::Recheck
            && self.server().is_some_and(|s| {
                s.metadata.is_some() || self.oauth_config().is_some_and(|o| o.grant.is_direct())
            });
        if known {
            self.identity_step(plan, now);
            return;
        }
        let from_header = plan
            .challenge
            .as_ref()
            .and_then(|c| c.resource_metadata.clone());
        let urls = match &from_header {
            Some(url) => {
                let cross_ok = self
                    .oauth_config()
                    .is_some_and(|o| o.allow_cross_origin_metadata);
                if !cross_ok && !oauth::same_origin(url, &self.config.resource_url) {
                    return self.fail_flow(SessionError::CrossOriginMetadata, now);
                }
                if let Err(e) = self.check_endpoint(url) {
                    return self.fail_flow(e, now);
                }
                alloc::vec![url.clone()]
            }
            None => match oauth::protected_resource_metadata_urls(&self.config.resource_url) {
                Ok(u) => u,
                Err(e) => return self.fail_flow(SessionError::Discovery(e), now),
            },
        };
        let d = Discovery {
            plan,
            server_step: false,
            urls,
            index: 0,
            from_header: from_header.is_some(),
            legacy: false,
            issuer: String::new(),
        };
        self.discover(d, now);
    }

    /// Fetch the current candidate URL of a discovery step.
    fn discover(&mut self, d: Discovery, now: Timestamp) {
        let Some(url) = d.urls.get(d.index).cloned() else {
            return self.fail_flow(
                SessionError::Status {
                    what: "discovery",
                    status: 404,
                },
                now,
            );
        };
        let purpose = if d.server_step {
            Purpose::ServerMetadata
        } else {
            Purpose::ResourceMetadata
        };
        self.stats.discovery_requests += 1;
        self.fetch(
            purpose,
            crate::http::Request::get_json(url),
            Step::Discovery(d),
            now,
        );
    }

    fn server_step(&mut self, plan: Plan, issuer: String, legacy: bool, now: Timestamp) {
        if let Err(e) = self.check_endpoint(&issuer) {
            return self.fail_flow(e, now);
        }
        let urls = match oauth::authorization_server_metadata_urls(&issuer) {
            Ok(u) => u,
            Err(e) => return self.fail_flow(SessionError::Discovery(e), now),
        };
        let d = Discovery {
            plan,
            server_step: true,
            urls,
            index: 0,
            from_header: false,
            legacy,
            issuer,
        };
        self.discover(d, now);
    }

    /// A discovery step of a [`Goal::Recheck`] could not be completed: go on with the
    /// server known before.
    pub(super) fn recheck_failed(&mut self, d: Discovery, now: Timestamp) -> bool {
        if d.plan.goal != Goal::Recheck || d.server_step {
            return false;
        }
        self.continue_with_known_server(d.plan, now);
        true
    }

    /// Renew with the server known before: refresh when possible, else authorize (with
    /// its metadata, fetched first if this session has not seen it).
    fn continue_with_known_server(&mut self, mut plan: Plan, now: Timestamp) {
        plan.goal = Goal::Refresh;
        if self.can_refresh() {
            return self.start_refresh(now);
        }
        if !self.can_authorize() {
            let cause = self
                .last_error
                .as_deref()
                .cloned()
                .unwrap_or(SessionError::CannotAuthorize);
            return self.fail_waiting(RequestError::ReauthorizationRequired, Some(cause));
        }
        let (has_metadata, issuer) = match self.server() {
            Some(s) => (s.metadata.is_some(), String::from(s.issuer)),
            None => (false, String::new()),
        };
        let client_credentials = self.oauth_config().is_some_and(|o| o.grant.is_direct());
        if has_metadata || client_credentials || issuer.is_empty() {
            self.identity_step(plan, now)
        } else {
            self.server_step(plan, issuer, false, now)
        }
    }

    /// The answer to a discovery fetch.
    pub(super) fn on_discovery_response(
        &mut self,
        mut d: Discovery,
        purpose: Purpose,
        status: u16,
        body: &[u8],
        now: Timestamp,
    ) {
        if purpose == Purpose::ResourceMetadata && d.plan.goal == Goal::Recheck {
            return self.on_recheck_response(d, status, body, now);
        }
        if status >= 500 || status == 429 {
            let what = purpose.what();
            return self.fail_flow(SessionError::Status { what, status }, now);
        }
        if purpose == Purpose::ResourceMetadata {
            if is_success(status) {
                let prm = match oauth::parse_protected_resource_metadata(body) {
                    Ok(m) => m,
                    Err(e) => return self.fail_flow(SessionError::Discovery(e), now),
                };
                if !oauth::resource_matches(&prm.resource, &self.config.resource_url) {
                    return self.fail_flow(
                        SessionError::ResourceMismatch {
                            declared: prm.resource,
                        },
                        now,
                    );
                }
                let limit = self.policy().max_scopes;
                if prm.scopes_supported.len() > limit as usize {
                    let what = "protected resource metadata scopes_supported";
                    return self.fail_flow(SessionError::TooManyScopes { what, limit }, now);
                }
                let Some(issuer) = prm.authorization_servers.first().cloned() else {
                    return self.fail_flow(SessionError::NoAuthorizationServer, now);
                };
                let mut plan = core::mem::take(&mut d.plan);
                plan.resource_metadata = Some(prm);
                self.server_step(plan, issuer, false, now);
            } else if is_client_error(status) && !d.from_header {
                d.index += 1;
                if d.index < d.urls.len() {
                    return self.discover(d, now);
                }
                // 2025-03-26 servers: no resource metadata; the authorization server
                // is the resource's origin.
                match oauth::origin(&self.config.resource_url) {
                    Ok(origin) => self.server_step(core::mem::take(&mut d.plan), origin, true, now),
                    Err(e) => self.fail_flow(SessionError::Discovery(e), now),
                }
            } else {
                let what = purpose.what();
                self.fail_flow(SessionError::Status { what, status }, now)
            }
        } else if is_success(status) {
            // 2025-03-26 servers have no issuer to look the document up by: their
            // metadata only has to stay on the server's origin.
            let parsed = if d.legacy {
                oauth::parse_legacy_authorization_server_metadata(body, &d.issuer)
            } else {
                oauth::parse_authorization_server_metadata(body, &d.issuer)
            };
            match parsed {
                Ok(meta) => self.adopt_server(core::mem::take(&mut d.plan), meta, now),
                Err(e) => self.fail_flow(SessionError::Discovery(e), now),
            }
        } else if is_client_error(status) {
            d.index += 1;
            if d.index < d.urls.len() {
                return self.discover(d, now);
            }
            if !d.legacy {
                let what = purpose.what();
                return self.fail_flow(SessionError::Status { what, status }, now);
            }
            match oauth::legacy_default_metadata(&self.config.resource_url) {
                Ok(meta) => self.adopt_server(core::mem::take(&mut d.plan), meta, now),
                Err(e) => self.fail_flow(SessionError::Discovery(e), now),
            }
        } else {
            let what = purpose.what();
            self.fail_flow(SessionError::Status { what, status }, now)
        }
    }

    /// The protected resource metadata read again after a `401` ([`Goal::Recheck`]).
    fn on_recheck_response(&mut self, mut d: Discovery, status: u16, body: &[u8], now: Timestamp) {
        let prm = match is_success(status)
            .then(|| oauth::parse_protected_resource_metadata(body).ok())
            .flatten()
            .filter(|m| oauth::resource_matches(&m.resource, &self.config.resource_url))
        {
            Some(m) => m,
            None => return self.continue_with_known_server(core::mem::take(&mut d.plan), now),
        };
        let Some(issuer) = prm.authorization_servers.first().cloned() else {
            return self.continue_with_known_server(core::mem::take(&mut d.plan), now);
        };
        let mut plan = core::mem::take(&mut d.plan);
        let same = self.server().is_some_and(|s| s.issuer == issuer);
        if same {
            if let Some(s) = self.known_server_mut() {
                s.resource = Some(prm.resource.clone());
            }
            plan.resource_metadata = Some(prm);
            return self.continue_with_known_server(plan, now);
        }
        // Another authorization server: discover it; what belonged to the old one goes
        // (set_server), so this is a new authorization.
        plan.goal = Goal::Authorize;
        plan.resource_metadata = Some(prm);
        self.server_step(plan, issuer, false, now);
    }

    /// The answer to dynamic client registration (RFC 7591 §3.2).
    pub(super) fn on_registration_response(
        &mut self,
        plan: Plan,
        status: u16,
        body: &[u8],
        now: Timestamp,
    ) {
        if status >= 500 || status == 429 {
            let what = Purpose::Registration.what();
            return self.fail_flow(SessionError::Status { what, status }, now);
        }
        match oauth::parse_registration_response(status, body) {
            Ok(reg) => {
                self.client = super::identity::ClientSlot::Registered(Box::new(reg));
                self.push_persist();
                self.authorize_step(plan, now);
            }
            Err(e) => self.fail_flow(SessionError::Registration(e), now),
        }
    }

    /// Metadata found: adopt it, then on to the client identity.
    fn adopt_server(
        &mut self,
        plan: Plan,
        meta: oauth::AuthorizationServerMetadata,
        now: Timestamp,
    ) {
        let resource = plan.resource_metadata.as_ref().map(|m| m.resource.clone());
        match self.set_server(meta, resource, now) {
            Ok(()) if plan.goal != Goal::Authorize && self.can_refresh() => self.start_refresh(now),
            Ok(()) => self.identity_step(plan, now),
            Err(e) => self.fail_flow(e, now),
        }
    }

    /// Adopt discovered metadata. A different issuer than before drops the tokens and the
    /// registration that belonged to the old one (MCP 2026-07-28 "Authorization Server
    /// Binding": credentials are keyed by issuer and never presented to another). A
    /// pre-registered client belongs to one server: when the resource moves to another,
    /// that is an error to show, not a client to try elsewhere; a Client ID Metadata
    /// Document URL is portable and stays.
    fn set_server(
        &mut self,
        meta: oauth::AuthorizationServerMetadata,
        resource: Option<String>,
        now: Timestamp,
    ) -> Result<(), SessionError> {
        let Some(token_endpoint) = meta.token_endpoint.clone() else {
            return Err(SessionError::MissingEndpoint("token_endpoint"));
        };
        self.check_endpoint(&token_endpoint)?;
        if let Some(a) = &meta.authorization_endpoint {
            self.check_endpoint(a)?;
        }
        if let Some(r) = &meta.registration_endpoint {
            self.check_endpoint(r)?;
        }
        let changed = self
            .server()
            .is_some_and(|s| !s.issuer.is_empty() && s.issuer != meta.issuer);
        if changed {
            let configured = matches!(self.client, super::identity::ClientSlot::Configured);
            let bound_elsewhere = self
                .oauth_config()
                .and_then(|o| o.issuer.as_deref())
                .is_none_or(|i| i != meta.issuer);
            if configured && bound_elsewhere && !self.client_is_metadata_document() {
                return Err(SessionError::ClientIssuerMismatch);
            }
            let keep_client = self.client_is_metadata_document();
            self.drop_server_credentials(keep_client, now);
        }
        let requested_scope = if changed {
            None
        } else {
            self.server()
                .and_then(|s| s.requested_scope)
                .map(String::from)
        };
        self.server = super::identity::ServerSlot::Known(Box::new(Server {
            issuer: meta.issuer.clone(),
            token_endpoint,
            authorization_endpoint: meta.authorization_endpoint.clone(),
            registration_endpoint: meta.registration_endpoint.clone(),
            resource,
            requested_scope,
            metadata: Some(Box::new(meta)),
        }));
        Ok(())
    }

    /// Pick the client identity: pre-registered, metadata document, or registration.
    fn identity_step(&mut self, plan: Plan, now: Timestamp) {
        if self.client().is_some() {
            return self.authorize_step(plan, now);
        }
        let Some(o) = self.oauth_config().cloned() else {
            return self.fail_flow(SessionError::CannotAuthorize, now);
        };
        if o.client.is_some() {
            self.client = super::identity::ClientSlot::Configured;
            return self.authorize_step(plan, now);
        }
        let meta = self.server().and_then(|s| s.metadata);
        let cimd = meta.is_some_and(|m| m.client_id_metadata_document_supported);
        if let (true, Some(url)) = (cimd, o.client_id_metadata_url.clone()) {
            self.client = super::identity::ClientSlot::Registered(Box::new(ClientRegistration {
                client_id: url,
                client_secret: None,
                auth_method: ClientAuthMethod::None,
                client_secret_expires_at: None,
            }));
            return self.authorize_step(plan, now);
        }
        let Some(endpoint) = self
            .server()
            .and_then(|s| s.registration_endpoint.map(String::from))
        else {
            return self.fail_flow(SessionError::NoClientIdentity, now);
        };
        let redirect_uris: Vec<String> = o.redirect_uri.iter().cloned().collect();
        let (grant_types, method): (&[&str], _) = match o.grant {
            Grant::AuthorizationCode => (
                &["authorization_code", "refresh_token"],
                ClientAuthMethod::None,
            ),
            Grant::ClientCredentials => {
                (&["client_credentials"], ClientAuthMethod::ClientSecretBasic)
            }
            Grant::JwtBearer => (
                &["urn:ietf:params:oauth:grant-type:jwt-bearer"],
                ClientAuthMethod::None,
            ),
        };
        let name = o.client_name.as_deref().unwrap_or("bearerflow");
        // SEP-837: clients MUST send an appropriate `application_type` (OpenID Connect
        // Dynamic Client Registration §2): `native` for loopback and private-use
        // redirect URIs and for clients without one, `web` otherwise.
        let application_type = oauth::ApplicationType::for_redirect_uris(&redirect_uris);
        let req = oauth::registration_request_for(
            &endpoint,
            &oauth::RegistrationParams {
                client_name: name,
                redirect_uris: &redirect_uris,
                grant_types,
                token_endpoint_auth_method: method,
                scope: None,
                software_id: None,
            },
            application_type,
        );
        self.stats.registration_requests += 1;
        self.fetch(Purpose::Registration, req, Step::Registration(plan), now);
    }

    /// The scope to ask for, and whether to ask for consent again.
    ///
    /// - This time's part (MCP 2025-11-25 "Scope Selection Strategy"): an explicit
    ///   step-up scope, else the challenge's, else the resource metadata's
    ///   `scopes_supported`, else configuration.
    /// - Joined with what was asked of this server before (MCP 2026-07-28 "Step-Up
    ///   Authorization Flow": previously requested ∪ challenged), so no path (a refused
    ///   refresh, an expiry without a refresh token, a `401`, a step-up) asks for less
    ///   than the last authorization did, whether or not discovery ran again.
    /// - `offline_access` when the server lists it (MCP 2026-07-28 "Refresh Tokens",
    ///   SEP-2207), except for client credentials, which get no refresh token anyway.
    /// - With `offline_access`, `prompt=consent`: an OpenID Provider ignores
    ///   `offline_access` without it (OpenID Connect Core 1.0 §11) and issues no refresh
    ///   token; other servers ignore `prompt`.
    fn scope_for(&self, plan: &Plan) -> (Option<String>, Option<&'static str>) {
        let from_prm = plan
            .resource_metadata
            .as_ref()
            .filter(|m| !m.scopes_supported.is_empty())
            .map(|m| m.scopes_supported.join(" "));
        let now = plan
            .scope_override
            .clone()
            .or_else(|| plan.challenge.as_ref().and_then(|c| c.scope.clone()))
            .or(from_prm)
            .or_else(|| self.oauth_config().and_then(|o| o.scope.clone()));
        let before = self.server().and_then(|s| s.requested_scope);
        let base = match (now, before) {
            (Some(n), Some(b)) => Some(oauth::scope_union(b, &n)),
            (n, b) => n.or_else(|| b.map(String::from)),
        };
        let client_credentials = self.oauth_config().is_some_and(|o| o.grant.is_direct());
        let offline = !client_credentials
            && self
                .server()
                .and_then(|s| s.metadata)
                .is_some_and(|m| m.scopes_supported.iter().any(|s| s == "offline_access"));
        let scope = match (base, offline) {
            (Some(b), true) => Some(oauth::scope_union(&b, "offline_access")),
            (None, true) => Some(String::from("offline_access")),
            (b, false) => b.filter(|s| !s.is_empty()),
        };
        (scope, offline.then_some("consent"))
    }

    fn authorize_step(&mut self, plan: Plan, now: Timestamp) {
        let (Some(server), Some(client)) = (self.server(), self.client()) else {
            return self.fail_flow(SessionError::NoClientIdentity, now);
        };
        // What the rest needs, owned (this runs once per authorization).
        let token_endpoint = String::from(server.token_endpoint);
        let issuer = String::from(server.issuer);
        let authorization_endpoint = server.authorization_endpoint.map(String::from);
        let pkce_s256 = server.metadata.map(oauth::supports_s256);
        let iss_required = server
            .metadata
            .is_some_and(|m| m.authorization_response_iss_parameter_supported);
        let client = client.clone();
        let resource = self.resource_parameter();
        let (scope, prompt) = self.scope_for(&plan);
        let limit = self.policy().max_scopes;
        if scope
            .as_deref()
            .is_some_and(|s| oauth::scope_tokens(s).count() > limit as usize)
        {
            let what = "the scope to request";
            return self.fail_flow(SessionError::TooManyScopes { what, limit }, now);
        }
        let Some(o) = self.oauth_config().cloned() else {
            return self.fail_flow(SessionError::CannotAuthorize, now);
        };
        // Remembered per issuer: the next authorization asks for at least this again.
        if let Some(s) = self.known_server_mut() {
            s.requested_scope.clone_from(&scope);
        }
        if o.grant == Grant::JwtBearer {
            let Some(assertion) = o.assertion.as_ref() else {
                return self.fail_flow(SessionError::CannotAuthorize, now);
            };
            let req = oauth::jwt_bearer_request(
                &token_endpoint,
                &client,
                assertion,
                scope.as_deref(),
                resource.as_deref(),
            );
            self.stats.client_credentials_requests += 1;
            return self.fetch(Purpose::ClientCredentials, req, Step::Grant, now);
        }
        if o.grant == Grant::ClientCredentials {
            let req = oauth::client_credentials_request(
                &token_endpoint,
                &client,
                scope.as_deref(),
                resource.as_deref(),
            );
            self.stats.client_credentials_requests += 1;
            return self.fetch(Purpose::ClientCredentials, req, Step::Grant, now);
        }
        let Some(redirect_uri) = o.redirect_uri else {
            return self.fail_flow(SessionError::CannotAuthorize, now);
        };
        if pkce_s256 != Some(true) {
            return self.fail_flow(SessionError::PkceUnsupported, now);
        }
        let Some(endpoint) = authorization_endpoint else {
            return self.fail_flow(SessionError::MissingEndpoint("authorization_endpoint"), now);
        };
        let pkce = oauth::Pkce::from_entropy(&self.entropy.block());
        let block = self.entropy.block();
        let mut state_bytes = [0u8; 16];
        state_bytes.copy_from_slice(&block[..16]);
        let state = oauth::state_from_entropy(&state_bytes);
        let url = oauth::authorization_url(&AuthorizationRequest {
            authorization_endpoint: &endpoint,
            client_id: &client.client_id,
            redirect_uri: &redirect_uri,
            code_challenge: &pkce.challenge,
            state: &state,
            scope: scope.as_deref(),
            resource: resource.as_deref(),
            prompt,
        });
        let url = match url {
            Ok(u) => u,
            Err(e) => return self.fail_flow(SessionError::Authorize(e), now),
        };
        self.stats.authorizations += 1;
        self.work = Work::Redirect(Box::new(Awaiting {
            state,
            verifier: pkce.verifier,
            redirect_uri,
            deadline: now + self.config.policy.authorization_deadline,
            issuer,
            iss_required,
        }));
        self.actions.push_back(Action::Authorize { url });
    }

    pub(crate) fn on_redirect(&mut self, url: &str, now: Timestamp) -> Result<(), RedirectError> {
        let Work::Redirect(a) = &self.work else {
            return Err(RedirectError::NotAuthorizing);
        };
        let params = oauth::parse_redirect(url).map_err(RedirectError::Malformed)?;
        // State first, in constant time: a forged redirect (wrong state) must neither end
        // the real flow nor leak how much of the state it guessed (RFC 6749 §10.12).
        if !params
            .state
            .as_deref()
            .is_some_and(|st| ct_eq(st.as_bytes(), a.state.as_bytes()))
        {
            return Err(RedirectError::StateMismatch);
        }
        let iss_ok = match &params.iss {
            Some(iss) => *iss == a.issuer,
            None => !a.iss_required,
        };
        if let Some(error) = params.error {
            self.fail_flow(
                SessionError::AuthorizationDenied {
                    error,
                    description: params.error_description,
                },
                now,
            );
            return Err(RedirectError::Denied);
        }
        if !iss_ok {
            self.fail_flow(SessionError::IssuerMismatch, now);
            return Err(RedirectError::IssuerMismatch);
        }
        let Some(code) = params.code else {
            self.fail_flow(
                SessionError::Authorize(oauth::AuthorizeError::MissingCode),
                now,
            );
            return Err(RedirectError::MissingCode);
        };
        let Work::Redirect(a) = core::mem::take(&mut self.work) else {
            return Err(RedirectError::NotAuthorizing);
        };
        let resource = self.resource_parameter();
        let (Some(server), Some(client)) = (self.server(), self.client()) else {
            self.fail_flow(SessionError::NoClientIdentity, now);
            return Err(RedirectError::NotAuthorizing);
        };
        let req = oauth::authorization_code_request(
            server.token_endpoint,
            client,
            &code,
            &a.verifier,
            &a.redirect_uri,
            resource.as_deref(),
        );
        self.stats.code_exchanges += 1;
        self.fetch(Purpose::CodeExchange, req, Step::Grant, now);
        Ok(())
    }

    /// Answers to the code exchange and the client-credentials grant.
    pub(super) fn on_grant_response(
        &mut self,
        status: u16,
        retry_after: Option<crate::time::Millis>,
        body: &[u8],
        sent_at: Timestamp,
        now: Timestamp,
    ) {
        let _ = retry_after;
        if status >= 500 || status == 429 {
            let what = Purpose::CodeExchange.what();
            return self.fail_flow(SessionError::Status { what, status }, now);
        }
        match self.parse_tokens(status, body) {
            Ok((resp, dpop)) => self.accept_tokens(resp, dpop, true, sent_at, now),
            Err(oauth::TokenError::Endpoint(e)) => {
                let e = self.scrub(e);
                let invalid_client = matches!(
                    e.error,
                    oauth::ErrorCode::InvalidClient | oauth::ErrorCode::UnauthorizedClient
                );
                if invalid_client && self.client_is_registered() {
                    self.drop_registered_client();
                    self.push_persist();
                }
                self.fail_flow(SessionError::TokenEndpoint(e), now);
            }
            Err(e) => self.fail_flow(SessionError::TokenResponse(e), now),
        }
    }

    /// End the flow: record why, fail whoever waits, and back off (the policy's backoff
    /// for transient trouble, the longest one otherwise). The next request starts over.
    pub(crate) fn fail_flow(&mut self, error: SessionError, now: Timestamp) {
        let delay = self.next_backoff(Job::Flow, None, &error);
        self.record(error.clone());
        self.proactive = false;
        self.fail_waiting(RequestError::AuthorizationFailed, Some(error));
        self.back_off(now, delay);
    }
}

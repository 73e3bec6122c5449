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
        let known = self.server().is_some_and(|s| {
            s.metadata.is_some()
                || self
                    .oauth_config()
                    .is_some_and(|o| o.grant == Grant::ClientCredentials)
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

    /// The answer to a discovery fetch.
    pub(super) fn on_discovery_response(
        &mut self,
        mut d: Discovery,
        purpose: Purpose,
        status: u16,
        body: &[u8],
        now: Timestamp,
    ) {
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
        match self.set_server(meta, now) {
            Ok(()) if plan.goal == Goal::Refresh && self.can_refresh() => self.start_refresh(now),
            Ok(()) => self.identity_step(plan, now),
            Err(e) => self.fail_flow(e, now),
        }
    }

    /// Adopt discovered metadata. A different issuer than before drops the tokens and the
    /// registration that belonged to the old one.
    fn set_server(
        &mut self,
        meta: oauth::AuthorizationServerMetadata,
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
            self.drop_server_credentials(now);
        }
        self.server = super::identity::ServerSlot::Known(Box::new(Server {
            issuer: meta.issuer.clone(),
            token_endpoint,
            authorization_endpoint: meta.authorization_endpoint.clone(),
            registration_endpoint: meta.registration_endpoint.clone(),
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
        };
        let name = o.client_name.as_deref().unwrap_or("bearerflow");
        let req = oauth::registration_request(
            &endpoint,
            &oauth::RegistrationParams {
                client_name: name,
                redirect_uris: &redirect_uris,
                grant_types,
                token_endpoint_auth_method: method,
                scope: None,
                software_id: None,
            },
        );
        self.stats.registration_requests += 1;
        self.fetch(Purpose::Registration, req, Step::Registration(plan), now);
    }

    /// The scope to ask for: an explicit step-up scope, else the challenge's, else the
    /// resource metadata's `scopes_supported`, else configuration; plus
    /// `offline_access` when the server lists it (so a refresh token is issued).
    fn scope_for(&self, plan: &Plan) -> Option<String> {
        let from_prm = plan
            .resource_metadata
            .as_ref()
            .filter(|m| !m.scopes_supported.is_empty())
            .map(|m| m.scopes_supported.join(" "));
        let base = plan
            .scope_override
            .clone()
            .or_else(|| plan.challenge.as_ref().and_then(|c| c.scope.clone()))
            .or(from_prm)
            .or_else(|| self.oauth_config().and_then(|o| o.scope.clone()));
        let offline = self
            .server()
            .and_then(|s| s.metadata)
            .is_some_and(|m| m.scopes_supported.iter().any(|s| s == "offline_access"));
        match (base, offline) {
            (Some(b), true) => Some(oauth::scope_union(&b, "offline_access")),
            (None, true) => Some(String::from("offline_access")),
            (b, false) => b.filter(|s| !s.is_empty()),
        }
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
        let resource = oauth::canonical_resource(&self.config.resource_url).ok();
        let scope = self.scope_for(&plan);
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
        let (Some(server), Some(client)) = (self.server(), self.client()) else {
            self.fail_flow(SessionError::NoClientIdentity, now);
            return Err(RedirectError::NotAuthorizing);
        };
        let resource = oauth::canonical_resource(&self.config.resource_url).ok();
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
        match oauth::parse_token_response(status, body) {
            Ok(resp) => self.accept_tokens(resp, sent_at, now),
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

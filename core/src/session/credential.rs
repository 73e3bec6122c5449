//! The credential in hand: what may be sent now, installing a new one, and what the
//! requests waiting for it hear.
//!
//! Every credential change goes through [`Session::credential_changed`]: `Send`s
//! queued for the old credential go back to waiting (so a drained `Send` always has
//! headers), the new tokens are handed to the host to persist, and only then are the
//! waiting requests released with them (a rotated refresh token is stored before the
//! access token that came with it is used).

use super::state::{Cred, HelperCred, TokenCred, Work};
use super::{
    Action, Credential, Generation, HelperOutput, RequestError, RequestId, Session, SessionError,
    State,
};
use crate::time::{Millis, Timestamp};
use crate::token::TokenSet;
use alloc::boxed::Box;
use alloc::vec::Vec;

impl Session {
    /// The generation that may be sent now, if any.
    pub(super) fn usable(&self, now: Timestamp) -> Option<Generation> {
        match &self.cred {
            Cred::None => None,
            Cred::Helper(h) => {
                let stale = h.rejected || h.expires_at.is_some_and(|e| now >= e);
                (!stale).then_some(h.generation)
            }
            Cred::Tokens(t) => {
                if t.rejected {
                    return None;
                }
                match t.schedule() {
                    // Known-expired: never sent while a new token can be had; when none
                    // can, the resource is the judge (its clock may still accept it).
                    Some(s) if now >= s.expired_at && self.can_renew() => None,
                    _ => Some(t.set.generation()),
                }
            }
        }
    }

    /// A refresh can start now: a refresh token, the server and the client are known.
    pub(super) fn can_refresh(&self) -> bool {
        self.cred.has_refresh_token() && self.server().is_some() && self.client().is_some()
    }

    /// A refresh token and a client are in hand but the server is not known yet (a
    /// snapshot that kept only the tokens): discovery first, then the refresh.
    pub(super) fn can_refresh_after_discovery(&self) -> bool {
        self.cred.has_refresh_token()
            && self.server().is_none()
            && self.client().is_some()
            && self.oauth_config().is_some()
    }

    /// A new OAuth credential can be had without the host's help.
    pub(super) fn can_renew(&self) -> bool {
        self.can_refresh() || self.can_refresh_after_discovery() || self.can_authorize()
    }

    /// Some credential can be had without the host's help.
    pub(super) fn can_obtain(&self) -> bool {
        self.is_helper() || self.can_renew()
    }

    /// The first request of a session with nothing goes out without a credential, so
    /// that the resource's `401` names where to discover the authorization server (MCP
    /// authorization 2025-11-25, "Authorization Server Discovery").
    pub(super) fn should_probe(&self) -> bool {
        matches!(self.cred, Cred::None)
            && self.work.is_idle()
            && !self.is_helper()
            && !self.can_get_token_directly()
    }

    /// Client credentials with everything known: no need to probe the resource first.
    pub(super) fn can_get_token_directly(&self) -> bool {
        self.oauth_config().is_some_and(|o| o.grant.is_direct())
            && self.server().is_some()
            && self.client().is_some()
    }

    /// New tokens: from the token endpoint or from the host.
    pub(super) fn install_tokens(&mut self, set: TokenSet, now: Timestamp) {
        let jitter = self.entropy.unit();
        let schedule = set
            .expires_at()
            .map(|e| self.config.policy.schedule(set.received_at(), e, jitter));
        self.cred = Cred::Tokens(TokenCred::new(set, schedule));
        self.credential_changed(now, true);
    }

    /// New headers from the helper.
    pub(super) fn install_helper(&mut self, out: HelperOutput, now: Timestamp) {
        let ttl = out.ttl_ms.or(match &self.config.credential {
            Credential::HeaderHelper(h) => h.ttl_ms,
            Credential::OAuth(_) => None,
        });
        self.generation = self.generation.next();
        self.cred = Cred::Helper(HelperCred {
            headers: out.headers,
            generation: self.generation,
            expires_at: ttl.map(|t| now + Millis(t.max(1))),
            rejected: false,
        });
        self.attempts.helper = 0;
        self.credential_changed(now, false);
    }

    /// The authorization server revoked the refresh token (`invalid_grant`, RFC 6749
    /// §5.2), and with `invalid_client` / `unauthorized_client` the registration too. A
    /// still-valid access token stays: requests go on with it until it expires. One
    /// that is past its expiry or was refused goes with the refresh token.
    pub(super) fn drop_refresh_token(&mut self, drop_client: bool, now: Timestamp) {
        let dead = match &mut self.cred {
            Cred::Tokens(t) => {
                t.set.clear_refresh_token();
                t.rejected || t.schedule().is_some_and(|s| now >= s.expired_at)
            }
            _ => false,
        };
        if dead {
            self.cred = Cred::None;
        }
        if drop_client {
            self.drop_registered_client();
        }
        self.push_persist();
    }

    /// Tokens and (own) registration belonged to an authorization server that is no
    /// longer the resource's: drop them (a portable client id stays when `keep_client`).
    pub(super) fn drop_server_credentials(&mut self, keep_client: bool, now: Timestamp) {
        if matches!(self.cred, Cred::Tokens(_)) {
            self.cred = Cred::None;
        }
        if !keep_client {
            self.drop_registered_client();
        }
        self.requeue_queued_sends(now);
    }

    /// After any credential change: requeue, persist (tokens), release.
    pub(super) fn credential_changed(&mut self, now: Timestamp, persist: bool) {
        self.stats.credentials_installed += 1;
        self.attempts.refresh = 0;
        self.attempts.flow = 0;
        self.proactive = true;
        self.last_error = None;
        if matches!(self.work, Work::Backoff { .. }) {
            self.work = Work::Idle;
        }
        self.requeue_queued_sends(now);
        if persist {
            self.push_persist();
        }
        self.release_waiting(now);
    }

    /// `Send`s still queued for an older credential would reach the host after this
    /// change, when their headers are gone: put them back to waiting, to be released
    /// with the current credential (after its `Persist`), in order.
    pub(super) fn requeue_queued_sends(&mut self, now: Timestamp) {
        let current = self.cred.generation();
        let mut requeue: Vec<RequestId> = Vec::new();
        self.actions.retain(|a| match a {
            Action::Send { id, generation } if Some(*generation) != current => {
                requeue.push(*id);
                false
            }
            _ => true,
        });
        for id in requeue {
            self.stats.sends = self.stats.sends.saturating_sub(1);
            if let Some(p) = self.requests.get_mut(id) {
                p.state = State::Waiting { since: now };
            }
        }
    }

    /// Hand the current state to the host to store, before anything that relies on it.
    pub(super) fn push_persist(&mut self) {
        self.persist_retry_at = Timestamp(0);
        self.revision = self.revision.saturating_add(1);
        let snap = self.snapshot();
        self.actions.push_back(Action::Persist(Box::new(snap)));
    }

    /// Send every waiting request with the current credential, if it may be sent.
    pub(super) fn release_waiting(&mut self, now: Timestamp) {
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

    pub(super) fn send(&mut self, id: RequestId, generation: Generation) {
        self.stats.sends += 1;
        self.actions.push_back(Action::Send { id, generation });
    }

    /// End request `id` with `error`, and `cause` when something failed underneath.
    pub(super) fn fail(
        &mut self,
        id: RequestId,
        error: RequestError,
        cause: Option<Box<SessionError>>,
    ) {
        self.requests.remove(id);
        self.stats.fails += 1;
        self.actions.push_back(Action::Fail { id, error, cause });
    }

    /// End every waiting request with `error`, each carrying `cause`.
    pub(super) fn fail_waiting(&mut self, error: RequestError, cause: Option<SessionError>) {
        let cause = cause.map(Box::new);
        for id in self.requests.drain_waiting(|_| true) {
            self.stats.fails += 1;
            self.actions.push_back(Action::Fail {
                id,
                error,
                cause: cause.clone(),
            });
        }
    }
}

//! Deadlines: one list that both `poll_timeout` and `handle_timeout` read, so a
//! deadline is reported only when acting on it changes something (str0m's single
//! output; the spin bugs of a separate "next deadline" and "what a timeout does" cannot
//! come back).
//!
//! Each deadline's action removes that deadline: the work's (its failure or the end of
//! its backoff), a waiting request's (it fails), a proactive one (it starts the work or
//! disarms itself), a persist retry (it emits the `Persist`). So after
//! `handle_timeout(t)` every deadline left is later than `t`.

use super::state::{Cred, Work};
use super::{Cause, RequestError, Session, SessionError, TimeoutReason};
use crate::time::{Millis, Timestamp};

/// More deadlines than can be due at one moment: a guard against a bug looping, never
/// reached when each action removes its deadline (the rule properties check it).
const MAX_FIRES: usize = 16;

impl Session {
    /// The earliest deadline and its reason.
    pub(super) fn next_timer(&self) -> Option<(Timestamp, TimeoutReason)> {
        let mut best = self.work.deadline();
        let mut consider = |t: Option<Timestamp>, r: TimeoutReason| {
            if let Some(t) = t {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, r));
                }
            }
        };
        let limit = self.wait_limit();
        consider(
            self.requests.oldest_wait().map(|s| s + limit),
            TimeoutReason::WaitDeadline,
        );
        consider(self.proactive_deadline(), self.proactive_reason());
        consider(
            (self.persist_retry_at != Timestamp(0)).then_some(self.persist_retry_at),
            TimeoutReason::PersistRetry,
        );
        best
    }

    /// When proactive work is due with nobody asking: an idle refresh
    /// ([`Policy::refresh_when_idle`]) or a helper re-run at its TTL. Only while the
    /// session is idle and proactive work is armed, and only what [`Session::kick`]
    /// will then start.
    ///
    /// [`Policy::refresh_when_idle`]: crate::policy::Policy::refresh_when_idle
    fn proactive_deadline(&self) -> Option<Timestamp> {
        if !self.work.is_idle() || !self.proactive {
            return None;
        }
        match &self.cred {
            Cred::Helper(h) if self.is_helper() && !h.rejected => h.expires_at,
            Cred::Tokens(t)
                if self.config.policy.refresh_when_idle && !t.rejected && self.can_refresh() =>
            {
                t.schedule().map(|s| s.refresh_at)
            }
            _ => None,
        }
    }

    fn proactive_reason(&self) -> TimeoutReason {
        if self.is_helper() {
            TimeoutReason::HelperTtl
        } else {
            TimeoutReason::RefreshWindow
        }
    }

    /// How long a request may wait: longer while a user is authorizing.
    pub(super) fn wait_limit(&self) -> Millis {
        let p = self.policy();
        if matches!(self.work, Work::Redirect(_)) {
            // The user's time in the browser, plus the ordinary wait: the flow's own
            // deadline ends it first, with the cause recorded.
            Millis(p.wait_deadline.0.saturating_add(p.authorization_deadline.0))
        } else {
            p.wait_deadline
        }
    }

    /// Act on every deadline at or before `now`.
    pub(super) fn on_timeout(&mut self, now: Timestamp) {
        for _ in 0..MAX_FIRES {
            match self.next_timer() {
                Some((t, reason)) if t <= now => self.fire(reason, now),
                _ => return,
            }
        }
    }

    fn fire(&mut self, reason: TimeoutReason, now: Timestamp) {
        match reason {
            TimeoutReason::FetchDeadline => {
                if let Work::Fetch(f) = &self.work {
                    let id = f.id;
                    if let Some(fetch) = self.take_fetch(id) {
                        self.on_fetch_failed(fetch, SessionError::Deadline, None, now);
                    }
                }
            }
            TimeoutReason::HelperDeadline => self.helper_failed(SessionError::HelperFailed, now),
            TimeoutReason::AuthorizationDeadline => {
                self.fail_flow(SessionError::AuthorizationTimedOut, now);
            }
            TimeoutReason::Backoff | TimeoutReason::LeaseWait => {
                self.work = Work::Idle;
                self.kick(now, Cause::Timer);
            }
            TimeoutReason::LeaseDeadline => self.lease_wait(now),
            TimeoutReason::WaitDeadline => {
                let limit = self.wait_limit();
                let cause = self.last_error.clone();
                let expired = self.requests.drain_waiting(
                    |p| matches!(p.state, super::State::Waiting { since } if now >= since + limit),
                );
                for id in expired {
                    self.stats.fails += 1;
                    self.actions.push_back(super::Action::Fail {
                        id,
                        error: RequestError::Timeout,
                        cause: cause.clone(),
                    });
                }
            }
            TimeoutReason::HelperTtl => {
                self.proactive = false;
                self.run_helper(now);
            }
            TimeoutReason::RefreshWindow => {
                self.kick(now, Cause::Timer);
                if self.work.is_idle() {
                    // Nothing to start after all: do not report this window again.
                    self.proactive = false;
                }
            }
            TimeoutReason::PersistRetry => {
                // Asked again: until the host reports this one failed too, the
                // credentials are taken as stored.
                if matches!(
                    self.last_error.as_deref(),
                    Some(SessionError::PersistFailed)
                ) {
                    self.last_error = None;
                }
                self.push_persist();
            }
        }
    }
}

//! When to refresh, how long to wait, how often to retry.
//!
//! The refresh window scales with the token's lifetime: a fixed "refresh 5 minutes
//! early" never refreshes a 10-second token in time, and a fixed "refresh at 90%" is
//! needlessly early for a day-long token. The window is a fraction of the lifetime,
//! clamped between a floor and a ceiling, and the start of the window can be moved
//! earlier by a jitter drawn from host entropy, so that a fleet of clients started at the
//! same time does not refresh in lockstep.

use crate::time::{Millis, Timestamp};

/// Tunables for refresh, retry and waiting. [`Policy::default`] suits MCP clients.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// The refresh window as a fraction of the token lifetime, in thousandths (100 = 10%).
    pub refresh_window_permille: u32,
    /// The window is never shorter than this.
    pub refresh_window_min: Millis,
    /// The window is never longer than this.
    pub refresh_window_max: Millis,
    /// Treat the token as expired this much before its stated expiry, to absorb clock
    /// skew and transit time. Never more than a tenth of the lifetime.
    pub clock_skew: Millis,
    /// Move the window's start earlier by a random amount up to this fraction of the
    /// window, in thousandths (200 = up to 20%).
    pub jitter_permille: u32,
    /// Token-endpoint attempts in a row (the first plus retries) before waiting requests
    /// are failed; transient failures only (5xx, 429, network, deadline).
    pub max_token_attempts: u8,
    /// First backoff after a transient failure; doubles each time.
    pub backoff_initial: Millis,
    /// Backoff ceiling, also the ceiling for a server's `Retry-After`.
    pub backoff_max: Millis,
    /// A token, discovery or registration request the host has not answered by then is
    /// treated as a network failure.
    pub fetch_deadline: Millis,
    /// A request waiting for a credential fails with [`RequestError::Timeout`] after this.
    ///
    /// [`RequestError::Timeout`]: crate::session::RequestError::Timeout
    pub wait_deadline: Millis,
    /// How long the user has to complete the browser part of authorization.
    pub authorization_deadline: Millis,
    /// Step-up authorizations (RFC 6750 §3.1 `insufficient_scope`) allowed per request.
    pub max_step_ups: u8,
    /// Refresh when the window opens even if no request is being made (keeps an idle
    /// session warm). Off by default: refresh happens on demand.
    pub refresh_when_idle: bool,
    /// Several processes share this session's stored tokens (a store shared by editor
    /// windows, CLI runs or gateway replicas): before a refresh the session asks the host
    /// for the store's refresh lease ([`Action::AcquireLease`]), so that one process
    /// refreshes and the others adopt its tokens ([`Session::handle_store_update`]).
    /// Off: the session refreshes on its own.
    ///
    /// [`Action::AcquireLease`]: crate::session::Action::AcquireLease
    /// [`Session::handle_store_update`]: crate::session::Session::handle_store_update
    pub shared_store: bool,
    /// How long a refresh lease lasts in the store: a holder that dies is covered when it
    /// runs out.
    pub lease_ttl: Millis,
    /// How long a process that did not get the lease waits for the store to change
    /// before it asks again.
    pub lease_wait: Millis,

    // Limits on input. Every limit a binding applies comes from here, so that a C, JS
    // and Rust host bound the same things the same way.
    /// Largest response body, in bytes, accepted from a token, metadata or registration
    /// endpoint. A host reads at most one byte more and hands what it read to the
    /// session, which refuses an oversized body with a typed error.
    pub max_response_body: u32,
    /// Largest header-helper output, in bytes.
    pub max_helper_output: u32,
    /// Most requests begun and not finished at once; `begin_request` beyond this fails
    /// the new request at once. Bounds the session's queues.
    pub max_pending_requests: u32,
    /// Most scope values accepted in one list (`scopes_supported`, a challenge's
    /// `scope`, a granted `scope`).
    pub max_scopes: u32,
    /// A resource request (an MCP call) must have its response headers by then, and a
    /// response that is not a stream its whole body too.
    pub resource_deadline: Millis,
    /// A streaming resource response (SSE) may stay silent this long between events;
    /// a stream has no total deadline.
    pub stream_idle_timeout: Millis,
    /// Largest non-streaming resource response body, in bytes, read into memory.
    pub max_resource_body: u64,
    /// Largest single event of a streaming resource response, in bytes.
    pub max_stream_event: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            refresh_window_permille: 100,
            refresh_window_min: Millis(1_000),
            refresh_window_max: Millis(300_000),
            clock_skew: Millis(5_000),
            jitter_permille: 200,
            max_token_attempts: 4,
            backoff_initial: Millis(500),
            backoff_max: Millis(30_000),
            fetch_deadline: Millis(30_000),
            wait_deadline: Millis(120_000),
            authorization_deadline: Millis(300_000),
            max_step_ups: 2,
            refresh_when_idle: false,
            shared_store: false,
            lease_ttl: Millis(45_000),
            lease_wait: Millis(5_000),
            max_response_body: 1 << 20,
            max_helper_output: 64 << 10,
            max_pending_requests: 4096,
            max_scopes: 256,
            resource_deadline: Millis(60_000),
            stream_idle_timeout: Millis(300_000),
            max_resource_body: 16 << 20,
            max_stream_event: 4 << 20,
        }
    }
}

/// The moments that matter for one token: derived once when the token arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// From here on the token is `Expiring`: a refresh is due, the token is still sent.
    pub refresh_at: Timestamp,
    /// From here on the token is `Expired`: never sent while a refresh is possible.
    pub expired_at: Timestamp,
}

impl Policy {
    /// The clock-skew margin for a token of this lifetime.
    pub fn skew_for(&self, lifetime: Millis) -> Millis {
        Millis(self.clock_skew.0.min(lifetime.0 / 10))
    }

    /// The refresh window for a token of this lifetime (before jitter).
    pub fn window_for(&self, lifetime: Millis) -> Millis {
        let scaled = (lifetime.0 as u128 * self.refresh_window_permille as u128 / 1000) as u64;
        let lo = self.refresh_window_min.0;
        let hi = self.refresh_window_max.0.max(lo);
        Millis(scaled.clamp(lo, hi))
    }

    /// The schedule of a token received at `received_at` that expires at `expires_at`.
    /// `jitter_unit` is a host-entropy draw in `0..=u32::MAX` that places the jitter.
    pub fn schedule(
        &self,
        received_at: Timestamp,
        expires_at: Timestamp,
        jitter_unit: u32,
    ) -> Schedule {
        let lifetime = expires_at.since(received_at);
        let expired_at = expires_at - self.skew_for(lifetime);
        let window = self.window_for(lifetime);
        let max_jitter = (window.0 as u128 * self.jitter_permille as u128 / 1000) as u64;
        let jitter = (max_jitter as u128 * jitter_unit as u128 / u32::MAX as u128) as u64;
        let refresh_at = expired_at - Millis(window.0.saturating_add(jitter));
        Schedule {
            refresh_at,
            expired_at,
        }
    }

    /// Backoff before transient attempt number `attempt` (1 = after the first failure),
    /// with up to 25% added from `jitter_unit`, capped at `backoff_max`. A server's
    /// `Retry-After` (RFC 9110 §10.2.3) replaces the computed delay, still capped.
    pub fn backoff(&self, attempt: u8, retry_after: Option<Millis>, jitter_unit: u32) -> Millis {
        if let Some(ra) = retry_after {
            return Millis(ra.0.min(self.backoff_max.0));
        }
        let shift = u32::from(attempt.saturating_sub(1)).min(20);
        let base = self.backoff_initial.0.saturating_mul(1u64 << shift);
        let extra = (base as u128 / 4 * jitter_unit as u128 / u32::MAX as u128) as u64;
        Millis(base.saturating_add(extra).min(self.backoff_max.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_second_and_one_hour_tokens_both_refresh_in_time() {
        let p = Policy::default();
        let s = p.schedule(Timestamp(0), Timestamp(10_000), 0);
        // skew 1 s (a tenth), window 1 s (the floor): refresh at 8 s, expired at 9 s.
        assert_eq!(s.expired_at, Timestamp(9_000));
        assert_eq!(s.refresh_at, Timestamp(8_000));
        let s = p.schedule(Timestamp(0), Timestamp(3_600_000), 0);
        // skew 5 s, window 6 min clamped to 5 min.
        assert_eq!(s.expired_at, Timestamp(3_595_000));
        assert_eq!(s.refresh_at, Timestamp(3_295_000));
    }

    #[test]
    fn jitter_only_moves_the_window_earlier_and_is_bounded() {
        let p = Policy::default();
        let none = p.schedule(Timestamp(0), Timestamp(600_000), 0);
        let full = p.schedule(Timestamp(0), Timestamp(600_000), u32::MAX);
        assert_eq!(none.expired_at, full.expired_at);
        let window = p.window_for(Millis(600_000));
        assert_eq!(none.refresh_at.since(full.refresh_at), Millis(window.0 / 5));
    }

    #[test]
    fn zero_lifetime_does_not_underflow() {
        let p = Policy::default();
        let s = p.schedule(Timestamp(0), Timestamp(0), u32::MAX);
        assert_eq!(s.expired_at, Timestamp(0));
        assert_eq!(s.refresh_at, Timestamp(0));
    }

    #[test]
    fn backoff_doubles_and_caps_and_honours_retry_after() {
        let p = Policy::default();
        assert_eq!(p.backoff(1, None, 0), Millis(500));
        assert_eq!(p.backoff(2, None, 0), Millis(1_000));
        assert_eq!(p.backoff(200, None, u32::MAX), Millis(30_000));
        assert_eq!(p.backoff(1, Some(Millis(2_000)), 0), Millis(2_000));
        assert_eq!(p.backoff(1, Some(Millis(10_000_000)), 0), Millis(30_000));
    }
}

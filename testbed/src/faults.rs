//! Runtime fault injection and counters, shared between the server and the test that
//! drives it.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use crate::config::DropMode;

/// Knobs a test turns while the server runs. Every method takes `&self`: the struct is
/// shared with the server through an `Arc` and uses atomics only.
///
/// Token-endpoint faults are checked in this order: delay, then `500`, then `503`, then
/// (for refresh grants) `invalid_grant`, then normal processing, after which a
/// successful refresh may be dropped. Each "next N" budget counts down by one per
/// token call it affects.
#[derive(Debug, Default)]
pub struct Faults {
    fail_500: AtomicU32,
    fail_503: AtomicU32,
    retry_after_secs: AtomicU64,
    invalid_grant_refresh: AtomicU32,
    drop_refresh: AtomicU32,
    drop_mode: AtomicU8,
    delay_ms: AtomicU64,
    clock_offset_ms: AtomicU64,
    generation: AtomicU64,
}

/// Decrement `budget` if it is positive; true when a unit was taken.
fn take(budget: &AtomicU32) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Faults {
    /// Answer the next `n` token requests with `500` and `{"error":"server_error"}`,
    /// without processing them.
    pub fn fail_next_token_calls(&self, n: u32) {
        self.fail_500.store(n, Ordering::SeqCst);
    }

    /// Answer the next `n` token requests with `503` and `Retry-After: <secs>`
    /// (RFC 9110 §10.2.3), without processing them.
    pub fn unavailable_next_token_calls(&self, n: u32, retry_after: Duration) {
        self.retry_after_secs
            .store(retry_after.as_secs(), Ordering::SeqCst);
        self.fail_503.store(n, Ordering::SeqCst);
    }

    /// Answer the next `n` refresh-token grants with `400 invalid_grant` without looking
    /// at the token (which stays valid).
    pub fn invalid_grant_next_refresh_calls(&self, n: u32) {
        self.invalid_grant_refresh.store(n, Ordering::SeqCst);
    }

    /// Process the next `n` successful refresh grants fully (rotating the refresh token
    /// when rotation is on) and then lose the response as `mode` says. The client is left
    /// holding a refresh token the server has already rotated out: presenting it again is
    /// reuse and revokes the family (RFC 9700 §4.14.2).
    pub fn drop_next_refresh_responses(&self, n: u32, mode: DropMode) {
        let m = match mode {
            DropMode::Status500 => 0,
            DropMode::CloseConnection => 1,
        };
        self.drop_mode.store(m, Ordering::SeqCst);
        self.drop_refresh.store(n, Ordering::SeqCst);
    }

    /// Wait this long before answering every token request (zero turns it off).
    pub fn set_token_delay(&self, delay: Duration) {
        self.delay_ms.store(millis(delay), Ordering::SeqCst);
    }

    /// Invalidate every access and refresh token issued so far. Tokens issued afterwards
    /// work normally.
    pub fn revoke_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Move the server's clock forward, so tokens expire without the test sleeping.
    /// Cumulative.
    pub fn advance_clock(&self, by: Duration) {
        let by = millis(by);
        let _ = self
            .clock_offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(by))
            });
    }

    /// Clear every pending fault and the token delay (revocations and clock skew stay).
    pub fn clear(&self) {
        self.fail_500.store(0, Ordering::SeqCst);
        self.fail_503.store(0, Ordering::SeqCst);
        self.invalid_grant_refresh.store(0, Ordering::SeqCst);
        self.drop_refresh.store(0, Ordering::SeqCst);
        self.delay_ms.store(0, Ordering::SeqCst);
    }

    pub(crate) fn token_delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))
    }

    pub(crate) fn take_500(&self) -> bool {
        take(&self.fail_500)
    }

    /// `Some(retry_after_secs)` when a 503 should be served.
    pub(crate) fn take_503(&self) -> Option<u64> {
        take(&self.fail_503).then(|| self.retry_after_secs.load(Ordering::SeqCst))
    }

    pub(crate) fn take_invalid_grant(&self) -> bool {
        take(&self.invalid_grant_refresh)
    }

    pub(crate) fn take_drop(&self) -> Option<DropMode> {
        take(&self.drop_refresh).then(|| match self.drop_mode.load(Ordering::SeqCst) {
            0 => DropMode::Status500,
            _ => DropMode::CloseConnection,
        })
    }

    pub(crate) fn clock_offset_ms(&self) -> u64 {
        self.clock_offset_ms.load(Ordering::SeqCst)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

/// A snapshot of what the server has seen, for assertions such as "exactly one refresh
/// happened".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Token requests with `grant_type=authorization_code`.
    pub token_authorization_code: u64,
    /// Token requests with `grant_type=refresh_token`.
    pub token_refresh: u64,
    /// Token requests with `grant_type=client_credentials`.
    pub token_client_credentials: u64,
    /// Token requests with a missing or unsupported `grant_type`.
    pub token_other: u64,
    /// Token responses that were not a `200` (errors and injected faults).
    pub token_errors: u64,
    /// Refresh tokens presented again after rotation (each revoked a family).
    pub refresh_reuse_detected: u64,
    /// Requests to `/authorize`.
    pub authorizations: u64,
    /// Requests to `/register`.
    pub registrations: u64,
    /// Fetches of authorization server metadata (RFC 8414 or OpenID locations).
    pub as_metadata_fetches: u64,
    /// Fetches of protected resource metadata (RFC 9728).
    pub resource_metadata_fetches: u64,
    /// Requests to `/introspect`.
    pub introspections: u64,
    /// Requests to `/revoke`.
    pub revocations: u64,
    /// Requests to the MCP endpoint (any method, before authentication).
    pub mcp_requests: u64,
    /// `401` answers from the MCP endpoint.
    pub unauthorized: u64,
    /// `403 insufficient_scope` answers from the MCP endpoint.
    pub forbidden: u64,
    /// `initialize` requests answered.
    pub initializations: u64,
    /// `tools/call` requests executed (authorized, known tool).
    pub tool_calls: u64,
    /// Requests served on the modern (MCP 2026-07-28, stateless) wire, including those
    /// refused for their `_meta` or headers.
    pub modern_requests: u64,
    /// `server/discover` requests answered.
    pub discovers: u64,
    /// Modern requests refused with `400` for missing or mismatched `_meta` or headers
    /// (`-32602`, `-32020`) or an unsupported version (`-32022`).
    pub wire_rejections: u64,
    /// `input_required` results sent (MRTR).
    pub input_required: u64,
    /// Notifications sent to clients (`interact`'s `notifications/message`).
    pub server_notifications: u64,
    /// Requests sent to clients: `interact`'s `elicitation/create`, as a request on the
    /// 2025-11-25 wire or an input request of an `input_required` result on 2026-07-28.
    pub server_requests: u64,
    /// Notifications clients posted, other than `notifications/initialized`.
    pub client_notifications: u64,
    /// Answers clients gave to server requests: JSON-RPC responses posted on the
    /// 2025-11-25 wire, `inputResponses` for `interact` on 2026-07-28.
    pub client_responses: u64,
    /// `upstream_echo` calls whose simulated upstream token had expired (each signalled
    /// the bearer layer).
    pub upstream_expired: u64,
}

impl Counters {
    /// All token requests, whatever their grant type.
    pub fn token_calls(&self) -> u64 {
        self.token_authorization_code
            + self.token_refresh
            + self.token_client_credentials
            + self.token_other
    }

    /// Both kinds of metadata fetches.
    pub fn metadata_fetches(&self) -> u64 {
        self.as_metadata_fetches + self.resource_metadata_fetches
    }
}

/// The live counters behind [`Counters`].
#[derive(Debug, Default)]
pub(crate) struct LiveCounters {
    pub token_authorization_code: AtomicU64,
    pub token_refresh: AtomicU64,
    pub token_client_credentials: AtomicU64,
    pub token_other: AtomicU64,
    pub token_errors: AtomicU64,
    pub refresh_reuse_detected: AtomicU64,
    pub authorizations: AtomicU64,
    pub registrations: AtomicU64,
    pub as_metadata_fetches: AtomicU64,
    pub resource_metadata_fetches: AtomicU64,
    pub introspections: AtomicU64,
    pub revocations: AtomicU64,
    pub mcp_requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    pub initializations: AtomicU64,
    pub tool_calls: AtomicU64,
    pub modern_requests: AtomicU64,
    pub discovers: AtomicU64,
    pub wire_rejections: AtomicU64,
    pub input_required: AtomicU64,
    pub server_notifications: AtomicU64,
    pub server_requests: AtomicU64,
    pub client_notifications: AtomicU64,
    pub client_responses: AtomicU64,
    pub upstream_expired: AtomicU64,
}

/// Add one.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl LiveCounters {
    pub fn snapshot(&self) -> Counters {
        let g = |c: &AtomicU64| c.load(Ordering::SeqCst);
        Counters {
            token_authorization_code: g(&self.token_authorization_code),
            token_refresh: g(&self.token_refresh),
            token_client_credentials: g(&self.token_client_credentials),
            token_other: g(&self.token_other),
            token_errors: g(&self.token_errors),
            refresh_reuse_detected: g(&self.refresh_reuse_detected),
            authorizations: g(&self.authorizations),
            registrations: g(&self.registrations),
            as_metadata_fetches: g(&self.as_metadata_fetches),
            resource_metadata_fetches: g(&self.resource_metadata_fetches),
            introspections: g(&self.introspections),
            revocations: g(&self.revocations),
            mcp_requests: g(&self.mcp_requests),
            unauthorized: g(&self.unauthorized),
            forbidden: g(&self.forbidden),
            initializations: g(&self.initializations),
            tool_calls: g(&self.tool_calls),
            modern_requests: g(&self.modern_requests),
            discovers: g(&self.discovers),
            wire_rejections: g(&self.wire_rejections),
            input_required: g(&self.input_required),
            server_notifications: g(&self.server_notifications),
            server_requests: g(&self.server_requests),
            client_notifications: g(&self.client_notifications),
            client_responses: g(&self.client_responses),
            upstream_expired: g(&self.upstream_expired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_count_down_to_zero() {
        let f = Faults::default();
        f.fail_next_token_calls(2);
        assert!(f.take_500());
        assert!(f.take_500());
        assert!(!f.take_500());
        f.unavailable_next_token_calls(1, Duration::from_secs(7));
        assert_eq!(f.take_503(), Some(7));
        assert_eq!(f.take_503(), None);
    }

    #[test]
    fn drop_mode_round_trips_and_clear_resets() {
        let f = Faults::default();
        f.drop_next_refresh_responses(1, DropMode::CloseConnection);
        assert_eq!(f.take_drop(), Some(DropMode::CloseConnection));
        f.drop_next_refresh_responses(3, DropMode::Status500);
        f.set_token_delay(Duration::from_millis(250));
        f.clear();
        assert_eq!(f.take_drop(), None);
        assert_eq!(f.token_delay(), Duration::ZERO);
    }

    #[test]
    fn clock_and_generation_accumulate() {
        let f = Faults::default();
        f.advance_clock(Duration::from_millis(1500));
        f.advance_clock(Duration::from_secs(2));
        assert_eq!(f.clock_offset_ms(), 3500);
        f.advance_clock(Duration::MAX);
        assert_eq!(f.clock_offset_ms(), u64::MAX);
        f.revoke_all();
        assert_eq!(f.generation(), 1);
    }
}

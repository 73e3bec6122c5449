//! Tokens and the lifecycle phase a host can show.
//!
//! A [`TokenSet`] is what the token endpoint granted (RFC 6749 §5.1), pinned to absolute
//! time: `expires_in` is relative to the moment the response arrived, so the set stores
//! `received_at + expires_in` and never needs the response again. Every new set gets a
//! larger [`Generation`], which is how the machine tells a stale `401` (answer to a
//! request sent with an older token) from a real rejection of the current token.

use crate::http::Header;
use crate::secret::Secret;
use crate::time::{Millis, Timestamp};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::fmt;

const BEARER_PREFIX: &str = "Bearer ";
const DPOP_PREFIX: &str = "DPoP ";

/// A token generation: grows by one with every new credential (token set or helper
/// output). Generation 0 means "no credential": a request sent without one.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Generation(pub u64);

impl Generation {
    /// The generation of "no credential".
    pub const NONE: Generation = Generation(0);

    /// The next generation. Each session counts its own from 1 (restored sessions
    /// too), one per credential, so the count cannot run out.
    pub const fn next(self) -> Generation {
        Generation(self.0.saturating_add(1))
    }
}

/// Where a session stands at a given `now`; hosts read it to show state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Phase {
    /// No credential yet, and nothing under way to get one.
    Unauthorized = 0,
    /// The authorization flow (discovery, registration, browser, code exchange) is running.
    Authorizing = 1,
    /// A valid credential, well before its refresh window.
    Fresh = 2,
    /// Inside the refresh window: still valid and still sent, a refresh is due.
    Expiring = 3,
    /// Past its expiry (less the clock-skew margin), or rejected by the resource.
    Expired = 4,
    /// A token request (or header-helper run) is in flight.
    Refreshing = 5,
    /// No usable credential, and the last attempt to get one failed (the cause is
    /// [`Session::last_error`](crate::session::Session::last_error)). The next request
    /// tries again when the session can (after a backoff), or fails at once when it
    /// cannot get a credential without the host.
    Failed = 6,
}

impl Phase {
    /// A short lowercase name, stable for logs and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Unauthorized => "unauthorized",
            Phase::Authorizing => "authorizing",
            Phase::Fresh => "fresh",
            Phase::Expiring => "expiring",
            Phase::Expired => "expired",
            Phase::Refreshing => "refreshing",
            Phase::Failed => "failed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `token_type` of a token response was not `Bearer` (RFC 6750 §6.1.1; compared
/// case-insensitively per RFC 6749 §5.1). bearerflow only sends bearer tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedTokenType(pub String);

impl fmt::Display for UnsupportedTokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token_type {:?} is not Bearer", self.0)
    }
}

impl core::error::Error for UnsupportedTokenType {}

/// Check a `token_type` value: `Bearer` in any case.
pub fn check_token_type(token_type: &str) -> Result<(), UnsupportedTokenType> {
    if token_type.eq_ignore_ascii_case("bearer") {
        Ok(())
    } else {
        Err(UnsupportedTokenType(String::from(token_type)))
    }
}

/// A granted set of tokens pinned to absolute time.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    refresh_token: Option<Secret>,
    received_at: Timestamp,
    /// Absolute expiry, or `u64::MAX` when unknown (a sentinel rather than an `Option`:
    /// one word less in every session; lifetimes are clamped to a year, so no real
    /// expiry is that far).
    expires_at: Timestamp,
    scope: Option<Box<str>>,
    generation: Generation,
    /// `Authorization: Bearer <access_token>`, rendered once so that sending a request
    /// copies nothing; the access token is the part after `Bearer `, stored only here.
    authorization: Header,
}

impl TokenSet {
    /// A token set received at `received_at`. `expires_in` is in seconds (RFC 6749 §5.1);
    /// `None` means the lifetime is unknown and only a `401` will tell.
    pub fn new(
        access_token: Secret,
        refresh_token: Option<Secret>,
        expires_in: Option<u64>,
        scope: Option<String>,
        received_at: Timestamp,
        generation: Generation,
    ) -> TokenSet {
        let expires_at = expires_in.map(|s| received_at + Millis::from_secs(s));
        TokenSet::with_expiry(
            access_token,
            refresh_token,
            expires_at,
            scope,
            received_at,
            generation,
        )
    }

    /// A token set whose absolute expiry is already known (a restored snapshot).
    pub fn with_expiry(
        access_token: Secret,
        refresh_token: Option<Secret>,
        expires_at: Option<Timestamp>,
        scope: Option<String>,
        received_at: Timestamp,
        generation: Generation,
    ) -> TokenSet {
        let authorization = Header::new(
            "Authorization",
            format!("{BEARER_PREFIX}{}", access_token.expose()),
        );
        drop(access_token);
        TokenSet {
            refresh_token,
            received_at,
            expires_at: expires_at.unwrap_or(Timestamp(u64::MAX)),
            scope: scope.map(String::into_boxed_str),
            generation,
            authorization,
        }
    }

    /// The access token. A secret: do not log it.
    pub fn access_token(&self) -> &str {
        let v = self.authorization.value.expose();
        v.strip_prefix(BEARER_PREFIX)
            .or_else(|| v.strip_prefix(DPOP_PREFIX))
            .unwrap_or("")
    }

    /// The same tokens bound to a DPoP key (RFC 9449 §5, `token_type` `DPoP`): sent
    /// as `Authorization: DPoP <token>` with a proof (RFC 9449 §7.1).
    pub fn into_dpop(mut self) -> TokenSet {
        if !self.is_dpop() {
            let value = format!("{DPOP_PREFIX}{}", self.access_token());
            self.authorization = Header::new("Authorization", value);
        }
        self
    }

    /// Whether the access token is DPoP-bound.
    pub fn is_dpop(&self) -> bool {
        self.authorization.value.expose().starts_with(DPOP_PREFIX)
    }

    /// The refresh token, if the server granted one.
    pub fn refresh_token(&self) -> Option<&Secret> {
        self.refresh_token.as_ref()
    }

    /// When the response carrying these tokens arrived.
    pub fn received_at(&self) -> Timestamp {
        self.received_at
    }

    /// Absolute expiry of the access token, if the server said.
    pub fn expires_at(&self) -> Option<Timestamp> {
        (self.expires_at != Timestamp(u64::MAX)).then_some(self.expires_at)
    }

    /// The lifetime the server granted, if it said.
    pub fn lifetime(&self) -> Option<Millis> {
        self.expires_at().map(|e| e.since(self.received_at))
    }

    /// Granted scope (space-delimited, RFC 6749 §3.3), if the server said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// This set's generation.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Forget the refresh token (the authorization server revoked it).
    pub(crate) fn clear_refresh_token(&mut self) {
        self.refresh_token = None;
    }

    /// The headers to attach to a resource request.
    pub fn headers(&self) -> &[Header] {
        core::slice::from_ref(&self.authorization)
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("authorization", &self.authorization)
            .field("refresh_token", &self.refresh_token)
            .field("received_at", &self.received_at)
            .field("expires_at", &self.expires_at())
            .field("scope", &self.scope)
            .field("generation", &self.generation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_absolute() {
        let t = TokenSet::new(
            Secret::new("a"),
            None,
            Some(10),
            None,
            Timestamp(5_000),
            Generation(1),
        );
        assert_eq!(t.expires_at(), Some(Timestamp(15_000)));
        assert_eq!(t.lifetime(), Some(Millis(10_000)));
        assert_eq!(t.headers()[0].value.expose(), "Bearer a");
    }

    #[test]
    fn token_type_is_case_insensitive_bearer_only() {
        assert!(check_token_type("bearer").is_ok());
        assert!(check_token_type("BEARER").is_ok());
        assert!(check_token_type("mac").is_err());
        assert!(check_token_type("DPoP").is_err());
    }

    #[test]
    fn debug_redacts() {
        let t = TokenSet::new(
            Secret::new("access-secret"),
            Some(Secret::new("refresh-secret")),
            None,
            None,
            Timestamp(0),
            Generation(1),
        );
        let s = format!("{t:?}");
        assert!(!s.contains("access-secret") && !s.contains("refresh-secret"));
    }
}

//! What a host persists: tokens with absolute expiry, the client registration and the
//! authorization server they belong to. Versioned serde JSON.
//!
//! Restoring a snapshot at the same `now` gives the same [`Phase`](crate::token::Phase):
//! expiry is absolute (unix ms), never "seconds from now".
//!
//! Version 2 (MCP 2026-07-28, "Authorization Server Binding"): tokens and the client
//! registration name the issuer they belong to, so a session never presents them to
//! another authorization server; the server keeps the scope last asked of it (step-up
//! and re-authorization ask for at least as much again) and the resource exactly as its
//! metadata published it (RFC 9728 §3, RFC 8707); and a revision counts the stores, for
//! stores shared between processes. Version 1 snapshots are read and
//! migrated: their tokens and client belong to the stored server's issuer.

use super::json::JsonError;
use crate::oauth::ClientRegistration;
use crate::secret::Secret;
use alloc::string::String;
use zeroize::Zeroizing;

/// The snapshot format this version writes (it also reads version 1).
pub const SNAPSHOT_VERSION: u32 = 2;

/// Durable session state. Its `Debug` redacts every secret.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Format version ([`SNAPSHOT_VERSION`]).
    pub version: u32,
    /// How many times this session's state has been handed out to store, counting from
    /// the snapshot it was restored from: each `Persist` carries one more than the last.
    /// A store shared by several processes keeps the one with the highest revision.
    #[serde(default)]
    pub revision: u64,
    /// The current tokens, if any.
    #[serde(default)]
    pub tokens: Option<StoredTokens>,
    /// The client registration, if any.
    #[serde(default)]
    pub client: Option<ClientRegistration>,
    /// The issuer the client registration belongs to (MCP 2026-07-28 "Authorization
    /// Server Binding"): it is never presented to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_issuer: Option<String>,
    /// Endpoints of the authorization server the tokens and registration belong to.
    #[serde(default)]
    pub server: Option<StoredServer>,
}

/// Tokens as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredTokens {
    /// Access token.
    pub access_token: Secret,
    /// Refresh token.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// When they were received (unix ms).
    pub received_at: u64,
    /// Absolute expiry (unix ms), if known.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Granted scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// Generation of this token set in the session that stored it (for the host's
    /// records: a restored session numbers its credentials afresh, so a stored value
    /// can never make two credentials share a generation).
    pub generation: u64,
    /// When the refresh window opens (unix ms), jitter included, so that a restored
    /// session is in the same phase at the same `now`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_at: Option<u64>,
    /// The issuer that granted them; a session never sends them to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// The authorization server as stored.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct StoredServer {
    /// Issuer identifier (RFC 8414 §2).
    pub issuer: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Registration endpoint.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// The protected resource's identifier exactly as its metadata published it (RFC
    /// 9728 §3), sent as the RFC 8707 `resource` parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The scope last asked of this server (MCP 2026-07-28 "Step-Up Authorization
    /// Flow": a later authorization asks for at least this again, whatever path leads
    /// to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_scope: Option<String>,
}

/// A snapshot could not be read. Never quotes the snapshot's content.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not JSON of the snapshot's shape: where, and what was expected.
    Malformed(JsonError),
    /// Written by a newer version of bearerflow.
    UnsupportedVersion(u32),
}

impl SnapshotError {
    /// A stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            SnapshotError::Malformed(_) => "snapshot_malformed",
            SnapshotError::UnsupportedVersion(_) => "snapshot_unsupported_version",
        }
    }
}

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SnapshotError::Malformed(m) => write!(f, "snapshot is malformed: {m}"),
            SnapshotError::UnsupportedVersion(v) => {
                write!(f, "snapshot version {v} is newer than {SNAPSHOT_VERSION}")
            }
        }
    }
}

impl core::error::Error for SnapshotError {}

impl Snapshot {
    /// A snapshot holding tokens the host already has, straight from a token response
    /// (RFC 6749 §5.1): `expires_in` counts from `received_at` (the host's "now" when the
    /// response arrived), so the host never computes an absolute expiry. No client
    /// registration, issuer or authorization server: set [`Snapshot::client`],
    /// [`Snapshot::server`] and the tokens' `issuer` when known; without the server a
    /// restored session discovers it (RFC 9728, RFC 8414) before its first refresh.
    /// `generation` is 1 and `revision` 0 (a restored session numbers its credentials
    /// afresh anyway).
    pub fn from_token_response(
        response: crate::oauth::TokenResponse,
        received_at: crate::time::Timestamp,
    ) -> Snapshot {
        let expires_at = response
            .expires_in
            .map(|s| (received_at + crate::time::Millis::from_secs(s)).0);
        Snapshot {
            version: SNAPSHOT_VERSION,
            tokens: Some(StoredTokens {
                access_token: response.access_token,
                refresh_token: response.refresh_token,
                received_at: received_at.0,
                expires_at,
                scope: response.scope,
                generation: 1,
                refresh_at: None,
                issuer: None,
            }),
            revision: 0,
            client: None,
            client_issuer: None,
            server: None,
        }
    }

    /// Serialize to JSON, in a buffer zeroized on drop (the text holds the tokens).
    pub fn to_json(&self) -> Zeroizing<String> {
        super::json::to_string(self)
    }

    /// Parse JSON written by [`Snapshot::to_json`] (this version or an older one, which
    /// is migrated: see [`Snapshot::migrate`]).
    pub fn from_json(json: &[u8]) -> Result<Snapshot, SnapshotError> {
        let snap: Snapshot = super::json::from_slice(json).map_err(SnapshotError::Malformed)?;
        if snap.version > SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(snap.version));
        }
        Ok(snap.migrate())
    }

    /// Bring an older snapshot to this version: a version 1 snapshot's tokens and
    /// client belong to its stored server's issuer (that is the server they were used
    /// with), so they keep working after the upgrade.
    pub fn migrate(mut self) -> Snapshot {
        if self.version < 2 {
            let issuer = self
                .server
                .as_ref()
                .map(|s| s.issuer.clone())
                .filter(|i| !i.is_empty());
            if let Some(t) = self.tokens.as_mut() {
                t.issuer = t.issuer.take().or_else(|| issuer.clone());
            }
            if self.client.is_some() && self.client_issuer.is_none() {
                self.client_issuer = issuer;
            }
            self.version = SNAPSHOT_VERSION;
        }
        self
    }
}

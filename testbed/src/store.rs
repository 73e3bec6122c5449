//! The authorization server's memory: clients, authorization codes, and token families.
//!
//! Every token belongs to a *family*: the grant it descends from (one authorization code,
//! or one client-credentials request). Revoking a family kills every access and refresh
//! token in it, which is what refresh-token reuse detection needs (RFC 9700 §4.14.2) and
//! what a replayed authorization code should trigger (RFC 6749 §4.1.2).
//!
//! Nothing here reads the clock or the faults: `now` (unix ms) and the revocation
//! `generation` are arguments, so the logic is unit-tested without a server.

use std::collections::{HashMap, HashSet};

use bearerflow::secret::Secret;

use crate::config::{AuthMethod, GrantType};
use crate::util::random_token;

/// A registered client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub id: String,
    pub secret: Option<Secret>,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// An authorization code waiting to be exchanged (or already used, kept to detect replay).
#[derive(Debug)]
struct CodeRecord {
    client_id: String,
    /// The `redirect_uri` parameter as sent to `/authorize`, if it was sent.
    redirect_uri: Option<String>,
    challenge: String,
    scope: Vec<String>,
    resource: String,
    expires_at: u64,
    /// Set when the code was exchanged: the family it produced.
    used_by: Option<u64>,
}

/// What an authorization request approved.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub challenge: String,
    pub scope: Vec<String>,
    pub resource: String,
}

#[derive(Debug)]
struct Family {
    client_id: String,
    scope: Vec<String>,
    resource: String,
    revoked: bool,
    generation: u64,
}

#[derive(Debug)]
struct AccessRecord {
    family: u64,
    scope: Vec<String>,
    issued_at: u64,
    expires_at: u64,
    /// The simulated upstream token derived from this one has expired.
    upstream_expired: bool,
}

#[derive(Debug)]
struct RefreshRecord {
    family: u64,
    issued_at: u64,
    expires_at: Option<u64>,
    rotated: bool,
}

/// A freshly issued token set.
#[derive(Debug)]
pub(crate) struct Issued {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub scope: Vec<String>,
    pub expires_in_ms: u64,
}

/// Lifetimes and rotation, copied from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub access_ms: u64,
    pub refresh_ms: Option<u64>,
    pub code_ms: u64,
    pub rotate: bool,
}

/// A valid access token, as the resource server and introspection see it.
#[derive(Debug, Clone)]
pub(crate) struct AccessInfo {
    pub client_id: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub issued_at: u64,
    pub expires_at: u64,
    /// The simulated upstream token derived from this one has expired.
    pub upstream_expired: bool,
}

/// Why an access token is not accepted (RFC 6750 §3.1 `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccessProblem {
    Unknown,
    Expired,
    Revoked,
}

impl AccessProblem {
    pub fn describe(self) -> &'static str {
        match self {
            AccessProblem::Unknown => "The access token is not known to this server",
            AccessProblem::Expired => "The access token expired",
            AccessProblem::Revoked => "The access token was revoked",
        }
    }
}

/// Why a grant was refused; the token endpoint turns these into RFC 6749 §5.2 errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GrantProblem {
    /// `invalid_grant` with this description.
    InvalidGrant(&'static str),
    /// A rotated-out refresh token or a used code came back: the family is now revoked.
    Replay(&'static str),
    /// `invalid_scope`.
    InvalidScope(String),
    /// `server_error` (no randomness).
    Entropy,
}

/// Introspection facts for an active token (RFC 7662 §2.2).
#[derive(Debug, Clone)]
pub(crate) struct Introspection {
    pub client_id: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub issued_at: u64,
    pub expires_at: Option<u64>,
    pub is_refresh: bool,
}

/// Old entries are only dropped once there are this many, and only long after expiry, so
/// an expired token keeps saying "expired" rather than "unknown" for a while.
const PRUNE_THRESHOLD: usize = 10_000;
const PRUNE_GRACE_MS: u64 = 10 * 60 * 1000;

#[derive(Default)]
pub(crate) struct Store {
    clients: HashMap<String, Client>,
    codes: HashMap<String, CodeRecord>,
    access: HashMap<String, AccessRecord>,
    refresh: HashMap<String, RefreshRecord>,
    families: HashMap<u64, Family>,
    next_family: u64,
    sessions: HashSet<String>,
}

/// Tokens and codes are map keys: `Debug` shows only how many there are.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("clients", &self.clients.len())
            .field("codes", &self.codes.len())
            .field("access_tokens", &self.access.len())
            .field("refresh_tokens", &self.refresh.len())
            .field("families", &self.families.len())
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

fn family_alive(families: &HashMap<u64, Family>, id: u64, generation: u64) -> bool {
    families
        .get(&id)
        .is_some_and(|f| !f.revoked && f.generation == generation)
}

impl Store {
    pub fn insert_client(&mut self, client: Client) {
        self.clients.insert(client.id.clone(), client);
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    /// Remember an approved authorization request; returns the code.
    pub fn create_code(&mut self, grant: CodeGrant, now: u64, life: Lifetimes) -> Option<String> {
        let code = random_token("bfc_")?;
        if self.codes.len() >= PRUNE_THRESHOLD {
            self.codes
                .retain(|_, c| c.expires_at.saturating_add(PRUNE_GRACE_MS) > now);
        }
        self.codes.insert(
            code.clone(),
            CodeRecord {
                client_id: grant.client_id,
                redirect_uri: grant.redirect_uri,
                challenge: grant.challenge,
                scope: grant.scope,
                resource: grant.resource,
                expires_at: now.saturating_add(life.code_ms),
                used_by: None,
            },
        );
        Some(code)
    }

    /// Look up a code for the token endpoint without consuming it; the flag says whether
    /// it was already used.
    pub fn code(&self, code: &str) -> Option<(CodeGrant, bool)> {
        self.codes.get(code).map(|c| {
            let grant = CodeGrant {
                client_id: c.client_id.clone(),
                redirect_uri: c.redirect_uri.clone(),
                challenge: c.challenge.clone(),
                scope: c.scope.clone(),
                resource: c.resource.clone(),
            };
            (grant, c.used_by.is_some())
        })
    }

    /// Exchange a code. The caller has already checked client, redirect URI and PKCE
    /// against [`Store::code`]; this checks single use and expiry and issues tokens.
    pub fn redeem_code(
        &mut self,
        code: &str,
        now: u64,
        generation: u64,
        life: Lifetimes,
        with_refresh: bool,
    ) -> Result<Issued, GrantProblem> {
        let Some(record) = self.codes.get(code) else {
            return Err(GrantProblem::InvalidGrant(
                "The authorization code is not known to this server",
            ));
        };
        if let Some(family) = record.used_by {
            // RFC 6749 §4.1.2: a code used twice revokes what it produced.
            if let Some(f) = self.families.get_mut(&family) {
                f.revoked = true;
            }
            return Err(GrantProblem::Replay(
                "The authorization code was already used; the tokens issued for it are revoked",
            ));
        }
        if now >= record.expires_at {
            return Err(GrantProblem::InvalidGrant("The authorization code expired"));
        }
        let (client_id, scope, resource) = (
            record.client_id.clone(),
            record.scope.clone(),
            record.resource.clone(),
        );
        let (issued, family) = self.new_family(
            client_id,
            scope,
            resource,
            now,
            generation,
            life,
            with_refresh,
        )?;
        if let Some(record) = self.codes.get_mut(code) {
            record.used_by = Some(family);
        }
        Ok(issued)
    }

    /// Start a new family and issue its first tokens.
    #[allow(clippy::too_many_arguments)]
    pub fn issue_family(
        &mut self,
        client_id: String,
        scope: Vec<String>,
        resource: String,
        now: u64,
        generation: u64,
        life: Lifetimes,
        with_refresh: bool,
    ) -> Result<Issued, GrantProblem> {
        self.new_family(
            client_id,
            scope,
            resource,
            now,
            generation,
            life,
            with_refresh,
        )
        .map(|(issued, _)| issued)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_family(
        &mut self,
        client_id: String,
        scope: Vec<String>,
        resource: String,
        now: u64,
        generation: u64,
        life: Lifetimes,
        with_refresh: bool,
    ) -> Result<(Issued, u64), GrantProblem> {
        let access = random_token("bfa_").ok_or(GrantProblem::Entropy)?;
        let refresh = if with_refresh {
            Some(random_token("bfr_").ok_or(GrantProblem::Entropy)?)
        } else {
            None
        };
        let family = self.next_family;
        self.next_family = self.next_family.saturating_add(1);
        self.families.insert(
            family,
            Family {
                client_id,
                scope: scope.clone(),
                resource,
                revoked: false,
                generation,
            },
        );
        self.prune(now);
        self.access.insert(
            access.clone(),
            AccessRecord {
                family,
                scope: scope.clone(),
                issued_at: now,
                expires_at: now.saturating_add(life.access_ms),
                upstream_expired: false,
            },
        );
        if let Some(r) = &refresh {
            self.refresh.insert(
                r.clone(),
                RefreshRecord {
                    family,
                    issued_at: now,
                    expires_at: life.refresh_ms.map(|ms| now.saturating_add(ms)),
                    rotated: false,
                },
            );
        }
        let issued = Issued {
            access_token: Secret::new(access),
            refresh_token: refresh.map(Secret::new),
            scope,
            expires_in_ms: life.access_ms,
        };
        Ok((issued, family))
    }

    /// The refresh grant (RFC 6749 §6) with optional rotation and reuse detection.
    /// `scope`, when given, must be a subset of the family's original grant.
    #[allow(clippy::too_many_arguments)]
    pub fn refresh(
        &mut self,
        token: &str,
        client_id: &str,
        scope: Option<Vec<String>>,
        resource: Option<&str>,
        now: u64,
        generation: u64,
        life: Lifetimes,
    ) -> Result<Issued, GrantProblem> {
        let Some(record) = self.refresh.get(token) else {
            return Err(GrantProblem::InvalidGrant(
                "The refresh token is not known to this server",
            ));
        };
        let family_id = record.family;
        let Some(family) = self.families.get_mut(&family_id) else {
            return Err(GrantProblem::InvalidGrant(
                "The refresh token is not known to this server",
            ));
        };
        if family.client_id != client_id {
            return Err(GrantProblem::InvalidGrant(
                "The refresh token was issued to another client",
            ));
        }
        if family.revoked || family.generation != generation {
            return Err(GrantProblem::InvalidGrant("The refresh token was revoked"));
        }
        if record.rotated {
            family.revoked = true;
            return Err(GrantProblem::Replay(
                "The refresh token was already used and rotated out; the token family is revoked",
            ));
        }
        if record.expires_at.is_some_and(|exp| now >= exp) {
            return Err(GrantProblem::InvalidGrant("The refresh token expired"));
        }
        if let Some(res) = resource {
            if res != family.resource {
                return Err(GrantProblem::InvalidGrant(
                    "The resource differs from the one originally granted",
                ));
            }
        }
        let granted = family.scope.clone();
        let scope = match scope {
            Some(s) => {
                if let Some(extra) = s.iter().find(|x| !granted.contains(x)) {
                    return Err(GrantProblem::InvalidScope(format!(
                        "scope {extra:?} exceeds the original grant"
                    )));
                }
                s
            }
            None => granted,
        };
        let access = random_token("bfa_").ok_or(GrantProblem::Entropy)?;
        let new_refresh = if life.rotate {
            Some(random_token("bfr_").ok_or(GrantProblem::Entropy)?)
        } else {
            None
        };
        self.prune(now);
        self.access.insert(
            access.clone(),
            AccessRecord {
                family: family_id,
                scope: scope.clone(),
                issued_at: now,
                expires_at: now.saturating_add(life.access_ms),
                upstream_expired: false,
            },
        );
        if let Some(r) = &new_refresh {
            if let Some(old) = self.refresh.get_mut(token) {
                old.rotated = true;
            }
            self.refresh.insert(
                r.clone(),
                RefreshRecord {
                    family: family_id,
                    issued_at: now,
                    expires_at: life.refresh_ms.map(|ms| now.saturating_add(ms)),
                    rotated: false,
                },
            );
        }
        Ok(Issued {
            access_token: Secret::new(access),
            refresh_token: new_refresh.map(Secret::new),
            scope,
            expires_in_ms: life.access_ms,
        })
    }

    /// Resource-server validation of an access token (RFC 6750 §3.1).
    pub fn check_access(
        &self,
        token: &str,
        now: u64,
        generation: u64,
    ) -> Result<AccessInfo, AccessProblem> {
        let record = self.access.get(token).ok_or(AccessProblem::Unknown)?;
        let family = self
            .families
            .get(&record.family)
            .ok_or(AccessProblem::Unknown)?;
        if !family_alive(&self.families, record.family, generation) {
            return Err(AccessProblem::Revoked);
        }
        if now >= record.expires_at {
            return Err(AccessProblem::Expired);
        }
        Ok(AccessInfo {
            client_id: family.client_id.clone(),
            scope: record.scope.clone(),
            resource: family.resource.clone(),
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            upstream_expired: record.upstream_expired,
        })
    }

    /// Expire the simulated upstream token of every access token issued so far (tokens
    /// issued later derive fresh upstream tokens). Returns how many were expired.
    pub fn expire_upstream_all(&mut self) -> usize {
        self.access
            .values_mut()
            .map(|r| r.upstream_expired = true)
            .count()
    }

    /// RFC 7662: facts about an active access or refresh token, `None` when inactive.
    pub fn introspect(&self, token: &str, now: u64, generation: u64) -> Option<Introspection> {
        if let Ok(info) = self.check_access(token, now, generation) {
            return Some(Introspection {
                client_id: info.client_id,
                scope: info.scope,
                resource: info.resource,
                issued_at: info.issued_at,
                expires_at: Some(info.expires_at),
                is_refresh: false,
            });
        }
        let record = self.refresh.get(token)?;
        if record.rotated
            || record.expires_at.is_some_and(|e| now >= e)
            || !family_alive(&self.families, record.family, generation)
        {
            return None;
        }
        let family = self.families.get(&record.family)?;
        Some(Introspection {
            client_id: family.client_id.clone(),
            scope: family.scope.clone(),
            resource: family.resource.clone(),
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            is_refresh: true,
        })
    }

    /// RFC 7009 revocation: a refresh token revokes its family; an access token only
    /// itself. Unknown tokens are ignored (RFC 7009 §2.2). Returns whether anything was
    /// revoked.
    pub fn revoke(&mut self, token: &str) -> bool {
        if let Some(r) = self.refresh.get(token) {
            if let Some(f) = self.families.get_mut(&r.family) {
                f.revoked = true;
                return true;
            }
        }
        self.access.remove(token).is_some()
    }

    pub fn add_session(&mut self, id: String) {
        self.sessions.insert(id);
    }

    pub fn has_session(&self, id: &str) -> bool {
        self.sessions.contains(id)
    }

    pub fn remove_session(&mut self, id: &str) -> bool {
        self.sessions.remove(id)
    }

    fn prune(&mut self, now: u64) {
        if self.access.len() >= PRUNE_THRESHOLD {
            self.access
                .retain(|_, a| a.expires_at.saturating_add(PRUNE_GRACE_MS) > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Lifetimes = Lifetimes {
        access_ms: 1_000,
        refresh_ms: Some(10_000),
        code_ms: 500,
        rotate: true,
    };

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn store_with_client() -> Store {
        let mut s = Store::default();
        s.insert_client(Client {
            id: "c1".into(),
            secret: None,
            auth_method: AuthMethod::None,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        });
        s
    }

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "c1".into(),
            redirect_uri: None,
            challenge: "x".into(),
            scope: scopes(&["a", "b"]),
            resource: "http://127.0.0.1:1/mcp".into(),
        }
    }

    #[test]
    fn access_token_expires_at_its_ttl() {
        let mut s = store_with_client();
        let t = s
            .issue_family("c1".into(), scopes(&["a"]), "r".into(), 100, 0, LIFE, true)
            .unwrap();
        let at = t.access_token.expose();
        assert!(s.check_access(at, 100, 0).is_ok());
        assert!(s.check_access(at, 1_099, 0).is_ok());
        assert_eq!(
            s.check_access(at, 1_100, 0).unwrap_err(),
            AccessProblem::Expired
        );
        assert_eq!(
            s.check_access("nope", 100, 0).unwrap_err(),
            AccessProblem::Unknown
        );
        // A newer revocation generation invalidates it.
        assert_eq!(
            s.check_access(at, 100, 1).unwrap_err(),
            AccessProblem::Revoked
        );
    }

    #[test]
    fn rotation_and_reuse_revokes_the_family() {
        let mut s = store_with_client();
        let first = s
            .issue_family("c1".into(), scopes(&["a"]), "r".into(), 0, 0, LIFE, true)
            .unwrap();
        let r1 = first.refresh_token.unwrap().expose().to_string();
        let second = s.refresh(&r1, "c1", None, None, 10, 0, LIFE).unwrap();
        let r2 = second.refresh_token.unwrap().expose().to_string();
        assert_ne!(r1, r2);
        let at2 = second.access_token.expose().to_string();
        assert!(s.check_access(&at2, 20, 0).is_ok());
        // Presenting r1 again: reuse.
        assert!(matches!(
            s.refresh(&r1, "c1", None, None, 30, 0, LIFE),
            Err(GrantProblem::Replay(_))
        ));
        // The whole family is dead: r2, the access tokens, even the original one.
        assert_eq!(
            s.check_access(&at2, 40, 0).unwrap_err(),
            AccessProblem::Revoked
        );
        assert_eq!(
            s.check_access(first.access_token.expose(), 40, 0)
                .unwrap_err(),
            AccessProblem::Revoked
        );
        assert!(matches!(
            s.refresh(&r2, "c1", None, None, 50, 0, LIFE),
            Err(GrantProblem::InvalidGrant(_))
        ));
        assert!(s.introspect(&r2, 50, 0).is_none());
    }

    #[test]
    fn no_rotation_keeps_the_refresh_token_usable() {
        let mut s = store_with_client();
        let life = Lifetimes {
            rotate: false,
            ..LIFE
        };
        let first = s
            .issue_family("c1".into(), scopes(&["a"]), "r".into(), 0, 0, life, true)
            .unwrap();
        let r = first.refresh_token.unwrap().expose().to_string();
        for i in 0..3 {
            let next = s.refresh(&r, "c1", None, None, i, 0, life).unwrap();
            assert!(next.refresh_token.is_none());
        }
    }

    #[test]
    fn refresh_checks_client_scope_and_expiry() {
        let mut s = store_with_client();
        let first = s
            .issue_family("c1".into(), scopes(&["a"]), "r".into(), 0, 0, LIFE, true)
            .unwrap();
        let r = first.refresh_token.unwrap().expose().to_string();
        assert!(matches!(
            s.refresh(&r, "other", None, None, 1, 0, LIFE),
            Err(GrantProblem::InvalidGrant(_))
        ));
        assert!(matches!(
            s.refresh(&r, "c1", Some(scopes(&["a", "z"])), None, 1, 0, LIFE),
            Err(GrantProblem::InvalidScope(_))
        ));
        assert!(matches!(
            s.refresh(&r, "c1", None, Some("http://elsewhere/"), 1, 0, LIFE),
            Err(GrantProblem::InvalidGrant(_))
        ));
        assert!(matches!(
            s.refresh(&r, "c1", None, None, 10_000, 0, LIFE),
            Err(GrantProblem::InvalidGrant("The refresh token expired"))
        ));
        // Narrowing the scope is allowed.
        let narrowed = s
            .refresh(&r, "c1", Some(scopes(&["a"])), None, 5, 0, LIFE)
            .unwrap();
        assert_eq!(narrowed.scope, scopes(&["a"]));
    }

    #[test]
    fn codes_are_single_use_and_expire() {
        let mut s = store_with_client();
        let code = s.create_code(grant(), 0, LIFE).unwrap();
        assert_eq!(s.code(&code).unwrap().0.scope, scopes(&["a", "b"]));
        let issued = s.redeem_code(&code, 10, 0, LIFE, true).unwrap();
        assert!(issued.refresh_token.is_some());
        assert!(s.code(&code).unwrap().1);
        assert!(matches!(
            s.redeem_code(&code, 20, 0, LIFE, true),
            Err(GrantProblem::Replay(_))
        ));
        // Replay revoked the tokens the code produced.
        assert_eq!(
            s.check_access(issued.access_token.expose(), 30, 0)
                .unwrap_err(),
            AccessProblem::Revoked
        );
        let late = s.create_code(grant(), 0, LIFE).unwrap();
        assert!(matches!(
            s.redeem_code(&late, 500, 0, LIFE, true),
            Err(GrantProblem::InvalidGrant("The authorization code expired"))
        ));
    }

    #[test]
    fn introspection_and_revocation() {
        let mut s = store_with_client();
        let t = s
            .issue_family("c1".into(), scopes(&["a"]), "res".into(), 0, 0, LIFE, true)
            .unwrap();
        let at = t.access_token.expose().to_string();
        let rt = t.refresh_token.unwrap().expose().to_string();
        let i = s.introspect(&at, 1, 0).unwrap();
        assert!(!i.is_refresh);
        assert_eq!(i.resource, "res");
        assert_eq!(i.expires_at, Some(1_000));
        assert!(s.introspect(&rt, 1, 0).unwrap().is_refresh);
        assert!(s.introspect(&at, 1_000, 0).is_none());
        assert!(s.revoke(&rt));
        assert!(s.introspect(&at, 1, 0).is_none());
        assert!(!s.revoke("unknown"));
    }

    #[test]
    fn debug_shows_no_tokens() {
        let mut s = store_with_client();
        let t = s
            .issue_family("c1".into(), scopes(&["a"]), "r".into(), 0, 0, LIFE, true)
            .unwrap();
        let shown = format!("{s:?} {t:?}");
        assert!(!shown.contains(t.access_token.expose()), "{shown}");
        assert!(!shown.contains(t.refresh_token.as_ref().unwrap().expose()));
        assert!(shown.contains("access_tokens: 1"));
    }

    #[test]
    fn sessions() {
        let mut s = Store::default();
        s.add_session("abc".into());
        assert!(s.has_session("abc"));
        assert!(s.remove_session("abc"));
        assert!(!s.has_session("abc"));
    }
}

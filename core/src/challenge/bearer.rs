//! The typed view of a `Bearer` challenge (RFC 6750 §3, RFC 9728 §5.1).

use super::error::{ChallengeError, ChallengeErrorKind, RenderError};
use super::parse::{parse_lines, Challenge, Mode};
use super::render::render;
use alloc::string::String;
use alloc::vec::Vec;

/// The `error` attribute of a Bearer challenge (RFC 6750 §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BearerError {
    /// `invalid_request`: the request is malformed (HTTP 400).
    InvalidRequest,
    /// `invalid_token`: the token is expired, revoked or malformed (HTTP 401); the
    /// client refreshes or re-authorizes.
    InvalidToken,
    /// `insufficient_scope`: the request needs more scope than the token has (HTTP
    /// 403); the client steps up to the scopes in `scope`.
    InsufficientScope,
    /// Any other error code, kept as written (error codes are case-sensitive).
    Other(String),
}

impl BearerError {
    /// The error code as it appears in the challenge.
    pub fn as_str(&self) -> &str {
        match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
            BearerError::Other(code) => code,
        }
    }

    /// The error for a code; the three RFC 6750 codes match exactly (codes are
    /// case-sensitive), anything else is [`BearerError::Other`].
    pub fn from_code(code: &str) -> BearerError {
        match code {
            "invalid_request" => BearerError::InvalidRequest,
            "invalid_token" => BearerError::InvalidToken,
            "insufficient_scope" => BearerError::InsufficientScope,
            other => BearerError::Other(String::from(other)),
        }
    }
}

/// The attributes of a `Bearer` challenge that a client acts on.
///
/// Owned, because this is built once per 401/403, off the hot path. Unknown
/// attributes are ignored (RFC 6750 §3 allows them). Nothing here is a secret.
///
/// ```
/// use bearerflow::challenge::{find_bearer, BearerError};
///
/// let b = find_bearer(&[
///     r#"Bearer error="insufficient_scope", scope="files:read files:write""#,
/// ]).unwrap();
/// assert_eq!(b.error, Some(BearerError::InsufficientScope));
/// assert_eq!(b.scopes().collect::<Vec<_>>(), ["files:read", "files:write"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    /// `realm` (RFC 9110 §11.5): the protection space.
    pub realm: Option<String>,
    /// `error` (RFC 6750 §3.1).
    pub error: Option<BearerError>,
    /// `error_description`: human-readable text for developers.
    pub error_description: Option<String>,
    /// `error_uri`: a page about the error.
    pub error_uri: Option<String>,
    /// `scope` (RFC 6750 §3): space-delimited scopes the resource needs; see
    /// [`BearerChallenge::scopes`].
    pub scope: Option<String>,
    /// `resource_metadata` (RFC 9728 §5.1): URL of the protected resource metadata,
    /// where OAuth discovery starts.
    pub resource_metadata: Option<String>,
}

impl BearerChallenge {
    /// Read the attributes of a parsed `Bearer` challenge (unescaping values).
    ///
    /// Fails with [`ChallengeErrorKind::NotBearer`] for another scheme and with
    /// [`ChallengeErrorKind::Token68NotAllowed`] for `Bearer <token68>`. Where a
    /// (leniently parsed) challenge repeats an attribute, the first one wins.
    pub fn from_challenge(challenge: &Challenge<'_>) -> Result<BearerChallenge, ChallengeError> {
        if !challenge.is_scheme("bearer") {
            return Err(ChallengeError::new(
                ChallengeErrorKind::NotBearer,
                challenge.offset(),
            ));
        }
        if challenge.token68().is_some() {
            return Err(ChallengeError::new(
                ChallengeErrorKind::Token68NotAllowed,
                challenge.offset(),
            ));
        }
        let mut out = BearerChallenge::default();
        for p in challenge.params() {
            let slot = match p.name() {
                n if n.eq_ignore_ascii_case("realm") => &mut out.realm,
                n if n.eq_ignore_ascii_case("error_description") => &mut out.error_description,
                n if n.eq_ignore_ascii_case("error_uri") => &mut out.error_uri,
                n if n.eq_ignore_ascii_case("scope") => &mut out.scope,
                n if n.eq_ignore_ascii_case("resource_metadata") => &mut out.resource_metadata,
                n if n.eq_ignore_ascii_case("error") => {
                    if out.error.is_none() {
                        out.error = Some(BearerError::from_code(&p.to_string_value()));
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(p.to_string_value());
            }
        }
        Ok(out)
    }

    /// The scope tokens of `scope`, split on spaces (RFC 6749 §3.3).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// Render as a `WWW-Authenticate` value, attributes in the order realm, scope,
    /// error, error_description, error_uri, resource_metadata (see [`render`]).
    ///
    /// ```
    /// use bearerflow::challenge::{BearerChallenge, BearerError};
    ///
    /// let b = BearerChallenge {
    ///     error: Some(BearerError::InvalidToken),
    ///     resource_metadata: Some("https://mcp.example.com/.well-known/oauth-protected-resource".into()),
    ///     ..Default::default()
    /// };
    /// assert_eq!(
    ///     b.render().unwrap(),
    ///     r#"Bearer error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#
    /// );
    /// ```
    pub fn render(&self) -> Result<String, RenderError> {
        let fields = [
            ("realm", self.realm.as_deref()),
            ("scope", self.scope.as_deref()),
            ("error", self.error.as_ref().map(BearerError::as_str)),
            ("error_description", self.error_description.as_deref()),
            ("error_uri", self.error_uri.as_deref()),
            ("resource_metadata", self.resource_metadata.as_deref()),
        ];
        let params: Vec<(&str, &str)> = fields
            .iter()
            .filter_map(|(name, value)| value.map(|v| (*name, v)))
            .collect();
        render("Bearer", &params)
    }
}

/// The first `Bearer` challenge in these `WWW-Authenticate` lines, read leniently:
/// what the session machine calls on a 401 or 403. Returns `None` when there is no
/// Bearer challenge before the first error. Never panics.
pub fn find_bearer(lines: &[&str]) -> Option<BearerChallenge> {
    for challenge in parse_lines(lines, Mode::Lenient) {
        match challenge {
            Ok(c) if c.is_scheme("bearer") => return BearerChallenge::from_challenge(&c).ok(),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;
    use alloc::vec;

    fn first(value: &str) -> Result<BearerChallenge, ChallengeError> {
        let c = parse(value, Mode::Lenient)
            .next()
            .unwrap_or(Err(ChallengeError::new(
                ChallengeErrorKind::UnexpectedEnd,
                0,
            )))?;
        BearerChallenge::from_challenge(&c)
    }

    #[test]
    fn reads_every_attribute() {
        let b = first(
            r#"bearer realm="example", scope="files:read  files:write", error="insufficient_scope", error_description="need \"write\"", error_uri="https://e/x", resource_metadata="https://rs/.well-known/oauth-protected-resource", foo=bar"#,
        );
        let b = b.unwrap_or_default();
        assert_eq!(b.realm.as_deref(), Some("example"));
        assert_eq!(b.error, Some(BearerError::InsufficientScope));
        assert_eq!(b.error_description.as_deref(), Some(r#"need "write""#));
        assert_eq!(b.error_uri.as_deref(), Some("https://e/x"));
        assert_eq!(
            b.scopes().collect::<Vec<_>>(),
            vec!["files:read", "files:write"]
        );
        assert_eq!(
            b.resource_metadata.as_deref(),
            Some("https://rs/.well-known/oauth-protected-resource")
        );
    }

    #[test]
    fn error_codes() {
        assert_eq!(
            first(r#"Bearer error="invalid_token""#).map(|b| b.error),
            Ok(Some(BearerError::InvalidToken))
        );
        assert_eq!(
            first("Bearer error=invalid_request").map(|b| b.error),
            Ok(Some(BearerError::InvalidRequest))
        );
        let other = first("Bearer error=Invalid_Token").map(|b| b.error);
        assert_eq!(other, Ok(Some(BearerError::Other("Invalid_Token".into()))));
        assert_eq!(BearerError::Other("x".into()).as_str(), "x");
    }

    #[test]
    fn refuses_other_shapes() {
        assert_eq!(
            first(r#"Basic realm="x""#).map_err(|e| e.kind),
            Err(ChallengeErrorKind::NotBearer)
        );
        assert_eq!(
            first("Bearer abc==").map_err(|e| e.kind),
            Err(ChallengeErrorKind::Token68NotAllowed)
        );
        assert_eq!(first("Bearer"), Ok(BearerChallenge::default()));
    }

    #[test]
    fn lenient_duplicate_keeps_first() {
        let b = first(r#"Bearer error="invalid_token", error="insufficient_scope""#);
        assert_eq!(b.map(|b| b.error), Ok(Some(BearerError::InvalidToken)));
    }

    #[test]
    fn find_bearer_skips_other_schemes_and_stops_at_errors() {
        let b = find_bearer(&[
            r#"Basic realm="x""#,
            r#"Bearer realm="y", error="invalid_token""#,
        ]);
        assert_eq!(b.and_then(|b| b.realm), Some("y".into()));
        // Real servers: missing comma, unquoted URL.
        let b = find_bearer(&[
            r#"Bearer resource_metadata=https://mcp.example.com/.well-known/oauth-protected-resource scope="mcp:x""#,
        ]);
        let b = b.unwrap_or_default();
        assert_eq!(b.scope.as_deref(), Some("mcp:x"));
        assert!(b.resource_metadata.is_some());
        assert_eq!(find_bearer(&[r#"Basic realm="x"#, "Bearer"]), None);
        assert_eq!(find_bearer(&[]), None);
        assert_eq!(find_bearer(&["Basic"]), None);
    }

    #[test]
    fn render_round_trips() {
        let b = BearerChallenge {
            realm: Some("r \"q\" \\".into()),
            error: Some(BearerError::Other("custom".into())),
            error_description: Some("d, e=f".into()),
            error_uri: Some("https://e/x".into()),
            scope: Some("a b".into()),
            resource_metadata: Some("https://rs/m".into()),
        };
        let rendered = b.render().unwrap_or_default();
        assert_eq!(first(&rendered), Ok(b));
        let bad = BearerChallenge {
            scope: Some("a\u{0}".into()),
            ..Default::default()
        };
        assert_eq!(bad.render().map_err(|e| e.param), Err(Some(0)));
    }
}

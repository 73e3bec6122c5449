//! OAuth error responses (RFC 6749 §5.2) and the shared description of a body that
//! could not be understood.
//!
//! The token endpoint answers a failed request with a JSON object carrying `error`
//! (a registered code), and optionally `error_description` (human-readable text) and
//! `error_uri`. Which code arrives decides what the session does next: `invalid_grant`
//! means the refresh token is dead and the user must authorize again; `invalid_client`
//! means the registration is stale; the others point at a bug or a policy problem.

use super::json;
use crate::text::Sanitized;
use alloc::string::String;
use core::fmt;

/// An RFC 6749 §5.2 `error` code.
///
/// Codes outside the six registered for the token endpoint (for example `slow_down` or
/// an extension code) are kept verbatim in [`ErrorCode::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_client`: client authentication failed (unknown client, wrong secret,
    /// unsupported authentication method).
    InvalidClient,
    /// `invalid_grant`: the code or refresh token is invalid, expired, revoked or was
    /// issued to another client. Retrying the same grant cannot succeed.
    InvalidGrant,
    /// `unauthorized_client`: this client may not use this grant type.
    UnauthorizedClient,
    /// `unsupported_grant_type`: the server does not support the grant type.
    UnsupportedGrantType,
    /// `invalid_scope`: the requested scope is invalid, unknown, or exceeds the grant.
    InvalidScope,
    /// Any other code, verbatim.
    Other(String),
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::Other(s) => s,
        }
    }
}

impl From<&str> for ErrorCode {
    /// Codes are compared exactly: RFC 6749 §5.2 defines them as case-sensitive ASCII.
    fn from(s: &str) -> ErrorCode {
        match s {
            "invalid_request" => ErrorCode::InvalidRequest,
            "invalid_client" => ErrorCode::InvalidClient,
            "invalid_grant" => ErrorCode::InvalidGrant,
            "unauthorized_client" => ErrorCode::UnauthorizedClient,
            "unsupported_grant_type" => ErrorCode::UnsupportedGrantType,
            "invalid_scope" => ErrorCode::InvalidScope,
            other => ErrorCode::Other(String::from(other)),
        }
    }
}

/// The code as the server sent it, with terminal controls escaped and cut to
/// [`MAX_QUOTED`](crate::text::MAX_QUOTED) bytes (an [`ErrorCode::Other`] is server
/// text).
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Sanitized::quoted(self.as_str()))
    }
}

/// An RFC 6749 §5.2 error response body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The error code.
    pub error: ErrorCode,
    /// Human-readable explanation for the developer, if the server sent one.
    pub error_description: Option<String>,
    /// A page about the error, if the server sent one.
    pub error_uri: Option<String>,
}

/// Server text, shown through the [`text`](crate::text) sanitizer: terminal controls
/// escaped, each member cut to [`MAX_QUOTED`](crate::text::MAX_QUOTED) bytes.
impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(d) = &self.error_description {
            write!(f, ": {}", Sanitized::quoted(d))?;
        }
        if let Some(u) = &self.error_uri {
            write!(f, " (see {})", Sanitized::quoted(u))?;
        }
        Ok(())
    }
}

impl core::error::Error for ErrorResponse {}

/// Read an RFC 6749 §5.2 error object from a response body.
///
/// Returns `None` unless `body` is a JSON object whose `error` member is a non-empty
/// string. Unknown members are ignored; an `error_description` or `error_uri` that is
/// not a string is treated as absent rather than discarding the error code, because the
/// code is what the caller acts on.
///
/// ```
/// use bearerflow::oauth::{parse_error_response, ErrorCode};
/// let e = parse_error_response(br#"{"error":"invalid_grant","error_description":"expired"}"#).unwrap();
/// assert_eq!(e.error, ErrorCode::InvalidGrant);
/// assert_eq!(e.error_description.as_deref(), Some("expired"));
/// assert!(parse_error_response(b"<html>502</html>").is_none());
/// ```
pub fn parse_error_response(body: &[u8]) -> Option<ErrorResponse> {
    let mut obj = json::parse_object(body).ok()?;
    error_from_object(&mut obj)
}

/// The §5.2 error carried by an already parsed object, if any.
pub(crate) fn error_from_object(obj: &mut json::Object) -> Option<ErrorResponse> {
    let code = match obj.get("error") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => ErrorCode::from(s.as_str()),
        _ => return None,
    };
    let error_description = json::take_string(obj, "error_description").ok().flatten();
    let error_uri = json::take_string(obj, "error_uri").ok().flatten();
    Some(ErrorResponse {
        error: code,
        error_description,
        error_uri,
    })
}

/// What a response body looked like, for errors about a body that must not be quoted.
///
/// A token or registration response can carry a credential however it is written: a
/// JSON key may be escaped (`"access\u005ftoken"`), the body may be form-encoded or an
/// HTML page that echoes the request. So a body that did not parse into the expected
/// response is never quoted, not even in part; errors say how long it was and what it
/// looked like, and quote only members known to be safe (an RFC 6749 §5.2 `error` and
/// `error_description`, a `token_type`), decoded and sanitized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodySummary {
    /// Length in bytes.
    pub len: usize,
    /// What it looked like.
    pub kind: BodyKind,
}

/// The look of a body that is not quoted ([`BodySummary`]), judged from its first
/// non-blank byte and whether it is UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Nothing but whitespace.
    Empty,
    /// Starts with `{` or `[`.
    Json,
    /// Starts with `<`: an HTML (or XML) page, typically a proxy's or a login page.
    Markup,
    /// Other UTF-8 text (form encoding, plain text).
    Text,
    /// Not UTF-8.
    Binary,
}

impl BodySummary {
    /// Summarize `body` without keeping any of it.
    pub fn of(body: &[u8]) -> BodySummary {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        let kind = match first {
            None => BodyKind::Empty,
            Some(b'{' | b'[') => BodyKind::Json,
            Some(b'<') => BodyKind::Markup,
            Some(_) if core::str::from_utf8(body).is_ok() => BodyKind::Text,
            Some(_) => BodyKind::Binary,
        };
        BodySummary {
            len: body.len(),
            kind,
        }
    }
}

impl fmt::Display for BodySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            BodyKind::Empty => return write!(f, "an empty body ({} bytes)", self.len),
            BodyKind::Json => "JSON",
            BodyKind::Markup => "markup (HTML?)",
            BodyKind::Text => "text",
            BodyKind::Binary => "binary data",
        };
        write!(f, "a body of {} bytes of {what}, not quoted", self.len)
    }
}

/// What was wrong with a response body. Shared by the token, registration and
/// discovery parsers so that hosts see one vocabulary for "the server sent garbage".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyProblem {
    /// The body is not JSON; the byte offset where parsing failed.
    NotJson {
        /// Approximate byte offset of the first invalid byte.
        offset: usize,
    },
    /// The body is JSON but not an object.
    NotObject,
    /// A required member is absent (or `null`).
    MissingField(&'static str),
    /// A member has the wrong JSON type.
    WrongType {
        /// Member name.
        field: &'static str,
        /// What the specification requires, e.g. "a string".
        expected: &'static str,
    },
    /// A member has the right type but an unacceptable value.
    InvalidValue {
        /// Member name.
        field: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The status code is not one this response may have, and the body is not an
    /// error object that would explain it.
    UnexpectedStatus,
}

impl fmt::Display for BodyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyProblem::NotJson { offset } => write!(f, "body is not JSON (at byte {offset})"),
            BodyProblem::NotObject => f.write_str("body is JSON but not an object"),
            BodyProblem::MissingField(field) => write!(f, "required member `{field}` is missing"),
            BodyProblem::WrongType { field, expected } => {
                write!(f, "member `{field}` must be {expected}")
            }
            BodyProblem::InvalidValue { field, reason } => {
                write!(f, "member `{field}` {reason}")
            }
            BodyProblem::UnexpectedStatus => {
                f.write_str("unexpected status and no OAuth error object in the body")
            }
        }
    }
}

impl core::error::Error for BodyProblem {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    #[test]
    fn rfc6749_section_5_2_example() {
        let body = b"{\n  \"error\":\"invalid_request\"\n}";
        let e = parse_error_response(body).unwrap();
        assert_eq!(e.error, ErrorCode::InvalidRequest);
        assert_eq!(e.error_description, None);
        assert_eq!(e.error_uri, None);
    }

    #[test]
    fn all_registered_codes_round_trip() {
        for code in [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
        ] {
            let c = ErrorCode::from(code);
            assert!(!matches!(c, ErrorCode::Other(_)), "{code}");
            assert_eq!(c.as_str(), code);
        }
        assert_eq!(
            ErrorCode::from("Invalid_Grant"),
            ErrorCode::Other("Invalid_Grant".into())
        );
        assert_eq!(ErrorCode::from("slow_down").as_str(), "slow_down");
    }

    #[test]
    fn optional_members_and_unknown_fields() {
        let e = parse_error_response(
            br#"{"error":"invalid_client","error_description":"bad secret","error_uri":"https://e/x","extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(e.error, ErrorCode::InvalidClient);
        assert_eq!(e.error_uri.as_deref(), Some("https://e/x"));
        assert_eq!(
            e.to_string(),
            "invalid_client: bad secret (see https://e/x)"
        );
        let e =
            parse_error_response(br#"{"error":"invalid_grant","error_description":7}"#).unwrap();
        assert_eq!(e.error_description, None);
    }

    #[test]
    fn non_error_bodies_are_none() {
        assert!(parse_error_response(b"").is_none());
        assert!(parse_error_response(b"[]").is_none());
        assert!(parse_error_response(br#"{"error":""}"#).is_none());
        assert!(parse_error_response(br#"{"error":42}"#).is_none());
        assert!(parse_error_response(br#"{"access_token":"x"}"#).is_none());
    }

    #[test]
    fn server_text_is_sanitized_in_display() {
        let e = parse_error_response(
            b"{\"error\":\"x\\u001b]0;t\\u0007\",\"error_description\":\"a\\r\\u001b[2Jb\",\"error_uri\":\"\\u009b\"}",
        )
        .unwrap();
        let shown = e.to_string();
        assert_eq!(
            shown,
            "x\\u{1b}]0;t\\u{7}: a\\u{d}\\u{1b}[2Jb (see \\u{9b})"
        );
        let long = alloc::format!(
            "{{\"error\":\"e\",\"error_description\":\"{}\"}}",
            "d".repeat(5000)
        );
        let shown = parse_error_response(long.as_bytes()).unwrap().to_string();
        assert!(shown.len() < 400, "{}", shown.len());
    }

    #[test]
    fn body_summaries_never_quote() {
        let s = BodySummary::of(b"  <html>SECRET</html>");
        assert_eq!((s.len, s.kind), (21, BodyKind::Markup));
        assert!(!s.to_string().contains("SECRET"));
        assert_eq!(BodySummary::of(b"{\"a\":1}").kind, BodyKind::Json);
        assert_eq!(BodySummary::of(b"access_token=x").kind, BodyKind::Text);
        assert_eq!(BodySummary::of(b" \r\n").kind, BodyKind::Empty);
        assert_eq!(BodySummary::of(b"\xff\xfe").kind, BodyKind::Binary);
    }

    #[test]
    fn body_problem_display_names_field() {
        let p = BodyProblem::WrongType {
            field: "issuer",
            expected: "a string",
        };
        assert_eq!(p.to_string(), "member `issuer` must be a string");
        assert!(BodyProblem::NotJson { offset: 3 }
            .to_string()
            .contains("byte 3"));
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_error_response(&body);
        }
    }
}

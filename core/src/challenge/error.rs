//! The errors of the `challenge` module: parsing, rendering and `Authorization`.

use core::fmt;

/// What was wrong with a `WWW-Authenticate` value (see [`ChallengeError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChallengeErrorKind {
    /// The bytes are not UTF-8 ([`parse_bytes`](super::parse_bytes)). Bytes above
    /// 0x7F (`obs-text`) are accepted inside quoted-strings only as UTF-8, so values
    /// can always be handed out as `&str`.
    InvalidUtf8,
    /// A control character (below 0x20 except HTAB, or DEL), which no part of the
    /// grammar admits (RFC 9110 §5.5).
    ControlCharacter(u8),
    /// A byte that the grammar does not allow at this position.
    UnexpectedByte(u8),
    /// The value ended where the grammar needs more.
    UnexpectedEnd,
    /// An `auth-param` stands where a challenge must start, as in `Basic, realm="x"`:
    /// the comma ends `Basic`, so `realm` belongs to no challenge (RFC 9110 §11.6.1).
    ParamOutsideChallenge,
    /// A parameter name is not followed by `=` (RFC 9110 §11.2 `auth-param`).
    ExpectedEquals,
    /// `=` is not followed by a token or a quoted-string.
    ExpectedValue,
    /// Two parameters are not separated by a comma (tolerated in lenient mode).
    ExpectedComma,
    /// A quoted-string is not closed before the end of its field line; the offset
    /// is that of the opening quote.
    UnterminatedQuotedString,
    /// A backslash ends the field line inside a quoted-string, escaping nothing.
    TrailingBackslash,
    /// A backslash escapes a control character, which a `quoted-pair` cannot carry
    /// (RFC 9110 §5.6.4).
    InvalidEscape,
    /// A parameter name occurs twice in one challenge (RFC 9110 §11.2: "each
    /// parameter name MUST only occur once per challenge"); the offset is that of the
    /// second occurrence. Tolerated in lenient mode, where the first one wins.
    DuplicateParam,
    /// A challenge has more than [`MAX_PARAMS`](super::MAX_PARAMS) auth-params; the
    /// offset is that of the first one too many. Refused in both modes: no real
    /// scheme needs that many, and the cap bounds the work per challenge.
    TooManyParams,
    /// The caller's buffer cannot hold the unescaped value; `needed` bytes would.
    BufferTooSmall {
        /// Bytes the unescaped value takes.
        needed: usize,
    },
    /// The challenge is not a `Bearer` challenge ([`BearerChallenge`](super::BearerChallenge)).
    NotBearer,
    /// A `Bearer` challenge carries a token68 instead of auth-params, which RFC 6750
    /// §3 does not define.
    Token68NotAllowed,
}

impl ChallengeErrorKind {
    /// A stable snake_case code for this kind, shared by the CLI, the test vectors
    /// and the bindings.
    pub const fn code(&self) -> &'static str {
        match self {
            ChallengeErrorKind::InvalidUtf8 => "invalid_utf8",
            ChallengeErrorKind::ControlCharacter(_) => "control_character",
            ChallengeErrorKind::UnexpectedByte(_) => "unexpected_byte",
            ChallengeErrorKind::UnexpectedEnd => "unexpected_end",
            ChallengeErrorKind::ParamOutsideChallenge => "param_outside_challenge",
            ChallengeErrorKind::ExpectedEquals => "expected_equals",
            ChallengeErrorKind::ExpectedValue => "expected_value",
            ChallengeErrorKind::ExpectedComma => "expected_comma",
            ChallengeErrorKind::UnterminatedQuotedString => "unterminated_quoted_string",
            ChallengeErrorKind::TrailingBackslash => "trailing_backslash",
            ChallengeErrorKind::InvalidEscape => "invalid_escape",
            ChallengeErrorKind::DuplicateParam => "duplicate_param",
            ChallengeErrorKind::TooManyParams => "too_many_params",
            ChallengeErrorKind::BufferTooSmall { .. } => "buffer_too_small",
            ChallengeErrorKind::NotBearer => "not_bearer",
            ChallengeErrorKind::Token68NotAllowed => "token68_not_allowed",
        }
    }
}

/// What was wrong, without the offset (the [`ChallengeError`] display adds it).
impl fmt::Display for ChallengeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChallengeErrorKind::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ChallengeErrorKind::ControlCharacter(b) => write!(f, "control character 0x{b:02X}"),
            ChallengeErrorKind::UnexpectedByte(b) if b.is_ascii_graphic() || b == b' ' => {
                write!(f, "unexpected '{}'", char::from(b))
            }
            ChallengeErrorKind::UnexpectedByte(b'\t') => {
                f.write_str("unexpected HTAB (a single space must follow the scheme)")
            }
            ChallengeErrorKind::UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02X}"),
            ChallengeErrorKind::UnexpectedEnd => f.write_str("unexpected end of value"),
            ChallengeErrorKind::ParamOutsideChallenge => f.write_str(
                "auth-param where a challenge must start (a comma right after the scheme ends the challenge)",
            ),
            ChallengeErrorKind::ExpectedEquals => f.write_str("expected '=' after the parameter name"),
            ChallengeErrorKind::ExpectedValue => {
                f.write_str("expected a token or a quoted-string after '='")
            }
            ChallengeErrorKind::ExpectedComma => f.write_str("expected ',' between parameters"),
            ChallengeErrorKind::UnterminatedQuotedString => {
                f.write_str("quoted-string opened here is not closed")
            }
            ChallengeErrorKind::TrailingBackslash => {
                f.write_str("backslash at the end of a quoted-string escapes nothing")
            }
            ChallengeErrorKind::InvalidEscape => {
                f.write_str("a quoted-pair cannot escape a control character")
            }
            ChallengeErrorKind::DuplicateParam => {
                f.write_str("parameter name repeated within one challenge")
            }
            ChallengeErrorKind::TooManyParams => write!(
                f,
                "more than {} parameters in one challenge",
                super::MAX_PARAMS
            ),
            ChallengeErrorKind::BufferTooSmall { needed } => {
                write!(f, "buffer too small for the unescaped value ({needed} bytes needed)")
            }
            ChallengeErrorKind::NotBearer => f.write_str("not a Bearer challenge"),
            ChallengeErrorKind::Token68NotAllowed => {
                f.write_str("a Bearer challenge takes auth-params, not a token68")
            }
        }
    }
}

/// A malformed `WWW-Authenticate` value: what was wrong and at which byte offset.
///
/// For [`parse_lines`](super::parse_lines) the offset counts bytes in the lines
/// joined by `", "` (RFC 9110 §5.3), the value the lines stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChallengeError {
    /// What was wrong.
    pub kind: ChallengeErrorKind,
    /// Byte offset in the header value.
    pub offset: usize,
}

impl ChallengeError {
    /// An error of `kind` at byte `offset`.
    pub const fn new(kind: ChallengeErrorKind, offset: usize) -> ChallengeError {
        ChallengeError { kind, offset }
    }
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)?;
        write!(f, " at byte {}", self.offset)
    }
}

impl core::error::Error for ChallengeError {}

/// What cannot be rendered into a challenge (see [`RenderError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RenderErrorKind {
    /// The scheme is empty or not a `token` (RFC 9110 §11.1).
    InvalidScheme,
    /// A parameter name is empty or not a `token` (RFC 9110 §11.2).
    InvalidParamName,
    /// A parameter name repeats (case-insensitively) an earlier one (RFC 9110 §11.2).
    DuplicateParam,
    /// A value holds a control character, which a quoted-string cannot carry even
    /// escaped (RFC 9110 §5.6.4).
    ControlCharacter,
    /// A value holds a non-ASCII character: a sender SHOULD NOT generate obs-text
    /// (RFC 9110 §5.5), so this crate does not.
    NonAscii,
    /// The token68 is empty or not `1*(ALPHA / DIGIT / "-._~+/") *"="`.
    InvalidToken68,
}

impl RenderErrorKind {
    /// A stable snake_case code, the one every binding reports.
    pub const fn code(self) -> &'static str {
        match self {
            RenderErrorKind::InvalidScheme => "invalid_scheme",
            RenderErrorKind::InvalidParamName => "invalid_param_name",
            RenderErrorKind::DuplicateParam => "duplicate_param",
            RenderErrorKind::ControlCharacter => "control_character",
            RenderErrorKind::NonAscii => "non_ascii",
            RenderErrorKind::InvalidToken68 => "invalid_token68",
        }
    }
}

/// A challenge that cannot be represented in a header value.
///
/// `param` is the index of the offending parameter in the list given to
/// [`render`](super::render) (for [`BearerChallenge::render`](super::BearerChallenge::render),
/// the index among the fields that are set, in the order realm, scope, error,
/// error_description, error_uri, resource_metadata), or `None` for the scheme or the
/// token68. `offset` is the byte offset within that name, value or scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RenderError {
    /// What was wrong.
    pub kind: RenderErrorKind,
    /// Index of the parameter at fault, if a parameter is.
    pub param: Option<usize>,
    /// Byte offset within the faulty name, value, scheme or token68.
    pub offset: usize,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            RenderErrorKind::InvalidScheme => "scheme is not a token",
            RenderErrorKind::InvalidParamName => "parameter name is not a token",
            RenderErrorKind::DuplicateParam => "parameter name repeated",
            RenderErrorKind::ControlCharacter => "control character in parameter value",
            RenderErrorKind::NonAscii => "non-ASCII character in parameter value",
            RenderErrorKind::InvalidToken68 => "invalid token68",
        };
        match self.param {
            Some(i) => write!(f, "{what} (parameter #{i}, byte {})", self.offset),
            None => write!(f, "{what} (byte {})", self.offset),
        }
    }
}

impl core::error::Error for RenderError {}

/// What was wrong with an `Authorization: Bearer` value (see [`AuthorizationError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthorizationErrorKind {
    /// The scheme is not `Bearer` (compared case-insensitively).
    NotBearer,
    /// `Bearer` is not followed by at least one space (RFC 6750 §2.1: `1*SP`).
    MissingSpace,
    /// No token follows the scheme.
    EmptyToken,
    /// A byte outside the `b64token` alphabet, or a byte after its `=` padding.
    InvalidTokenByte,
}

impl AuthorizationErrorKind {
    /// A stable snake_case code, the one every binding reports.
    pub const fn code(self) -> &'static str {
        match self {
            AuthorizationErrorKind::NotBearer => "not_bearer",
            AuthorizationErrorKind::MissingSpace => "missing_space",
            AuthorizationErrorKind::EmptyToken => "empty_token",
            AuthorizationErrorKind::InvalidTokenByte => "invalid_token_byte",
        }
    }
}

/// A malformed `Authorization: Bearer` value (RFC 6750 §2.1).
///
/// It names the offset only, never the byte found there: the value is a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthorizationError {
    /// What was wrong.
    pub kind: AuthorizationErrorKind,
    /// Byte offset in the value (or in the token, for rendering).
    pub offset: usize,
}

impl fmt::Display for AuthorizationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            AuthorizationErrorKind::NotBearer => "scheme is not Bearer",
            AuthorizationErrorKind::MissingSpace => "expected a space after Bearer",
            AuthorizationErrorKind::EmptyToken => "empty bearer token",
            AuthorizationErrorKind::InvalidTokenByte => "byte outside the b64token alphabet",
        };
        write!(f, "{what} at byte {}", self.offset)
    }
}

impl core::error::Error for AuthorizationError {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn display_says_what_and_where() {
        let e = ChallengeError::new(ChallengeErrorKind::UnexpectedByte(b'='), 7);
        assert_eq!(e.to_string(), "unexpected '=' at byte 7");
        assert_eq!(e.kind.code(), "unexpected_byte");
        let e = ChallengeError::new(ChallengeErrorKind::ControlCharacter(0), 3);
        assert_eq!(e.to_string(), "control character 0x00 at byte 3");
        let e = ChallengeError::new(ChallengeErrorKind::UnexpectedByte(0xC3), 1);
        assert_eq!(e.to_string(), "unexpected byte 0xC3 at byte 1");
        let e = RenderError {
            kind: RenderErrorKind::ControlCharacter,
            param: Some(1),
            offset: 4,
        };
        assert_eq!(
            e.to_string(),
            "control character in parameter value (parameter #1, byte 4)"
        );
        let e = AuthorizationError {
            kind: AuthorizationErrorKind::InvalidTokenByte,
            offset: 9,
        };
        assert_eq!(
            e.to_string(),
            "byte outside the b64token alphabet at byte 9"
        );
    }
}

//! The `Authorization: Bearer <b64token>` request header (RFC 6750 §2.1).
//!
//! ```text
//! credentials = "Bearer" 1*SP b64token
//! b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! The token is a credential: errors name an offset, never the bytes found there.

use super::error::{AuthorizationError, AuthorizationErrorKind};
use super::render::token68_error;
use alloc::string::String;

/// The `b64token` of an `Authorization: Bearer` value.
///
/// The scheme is compared case-insensitively (RFC 9110 §11.1) and may be followed
/// by several spaces. Whitespace around the whole value is ignored, since it is not
/// part of a field value (RFC 9110 §5.5). Offsets in errors count from the start of
/// `value`.
///
/// ```
/// use bearerflow::challenge::parse_authorization_bearer;
///
/// assert_eq!(parse_authorization_bearer("bearer  mF_9.B5f-4.1JqM"), Ok("mF_9.B5f-4.1JqM"));
/// assert!(parse_authorization_bearer("Bearer a b").is_err());
/// assert!(parse_authorization_bearer("Basic YWxhZGRpbjpvcGVu").is_err());
/// ```
pub fn parse_authorization_bearer(value: &str) -> Result<&str, AuthorizationError> {
    let err = |kind, offset| AuthorizationError { kind, offset };
    let lead = value.len() - value.trim_start_matches([' ', '\t']).len();
    let trimmed = value.trim_matches([' ', '\t']);
    let (scheme, rest) = trimmed.split_at_checked(6).unwrap_or((trimmed, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(err(AuthorizationErrorKind::NotBearer, lead));
    }
    let token = rest.trim_start_matches(' ');
    let token_offset = lead + 6 + (rest.len() - token.len());
    if token.len() == rest.len() {
        if rest.is_empty() {
            return Err(err(AuthorizationErrorKind::EmptyToken, token_offset));
        }
        // Something other than a space follows `Bearer`: `Bearerx`, or `Bearer\t…`.
        let kind = if rest.starts_with('\t') {
            AuthorizationErrorKind::MissingSpace
        } else {
            AuthorizationErrorKind::NotBearer
        };
        let at = if kind == AuthorizationErrorKind::NotBearer {
            lead
        } else {
            token_offset
        };
        return Err(err(kind, at));
    }
    if token.is_empty() {
        return Err(err(AuthorizationErrorKind::EmptyToken, token_offset));
    }
    match token68_error(token) {
        None => Ok(token),
        Some(i) => Err(err(
            AuthorizationErrorKind::InvalidTokenByte,
            token_offset + i,
        )),
    }
}

/// `Bearer <token>`, refusing a token outside the `b64token` alphabet (which could
/// not be sent, and could smuggle another header in).
///
/// ```
/// use bearerflow::challenge::render_authorization_bearer;
///
/// assert_eq!(render_authorization_bearer("abc.def+/=").unwrap(), "Bearer abc.def+/=");
/// assert!(render_authorization_bearer("abc\r\nX-Evil: 1").is_err());
/// ```
pub fn render_authorization_bearer(token: &str) -> Result<String, AuthorizationError> {
    if token.is_empty() {
        return Err(AuthorizationError {
            kind: AuthorizationErrorKind::EmptyToken,
            offset: 0,
        });
    }
    if let Some(offset) = token68_error(token) {
        return Err(AuthorizationError {
            kind: AuthorizationErrorKind::InvalidTokenByte,
            offset,
        });
    }
    let mut out = String::with_capacity(7 + token.len());
    out.push_str("Bearer ");
    out.push_str(token);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn kind_at(v: &str) -> Result<&str, (AuthorizationErrorKind, usize)> {
        parse_authorization_bearer(v).map_err(|e| (e.kind, e.offset))
    }

    #[test]
    fn accepts_rfc_6750_form() {
        assert_eq!(kind_at("Bearer mF_9.B5f-4.1JqM"), Ok("mF_9.B5f-4.1JqM"));
        assert_eq!(kind_at("BEARER abc=="), Ok("abc=="));
        assert_eq!(kind_at("  Bearer   a/b+c~d \t"), Ok("a/b+c~d"));
    }

    #[test]
    fn rejects_with_offsets() {
        use AuthorizationErrorKind::*;
        assert_eq!(kind_at("Basic abc"), Err((NotBearer, 0)));
        assert_eq!(kind_at("Bearerabc"), Err((NotBearer, 0)));
        assert_eq!(kind_at("Bear"), Err((NotBearer, 0)));
        assert_eq!(kind_at(""), Err((NotBearer, 0)));
        assert_eq!(kind_at("Bearer"), Err((EmptyToken, 6)));
        assert_eq!(kind_at("Bearer   "), Err((EmptyToken, 6)));
        assert_eq!(kind_at("Bearer\tabc"), Err((MissingSpace, 6)));
        assert_eq!(kind_at("Bearer ab=c"), Err((InvalidTokenByte, 10)));
        assert_eq!(kind_at("Bearer a b"), Err((InvalidTokenByte, 8)));
        assert_eq!(kind_at("Bearer ==="), Err((InvalidTokenByte, 7)));
        assert_eq!(kind_at("Bearer tok\u{e9}"), Err((InvalidTokenByte, 10)));
        assert_eq!(kind_at("Béarer x"), Err((NotBearer, 0)));
    }

    #[test]
    fn errors_do_not_show_the_token() {
        let e = parse_authorization_bearer("Bearer secret-token value").err();
        let shown = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            !shown.contains("secret") && !shown.contains("value"),
            "{shown}"
        );
    }

    #[test]
    fn render_validates() {
        assert_eq!(
            render_authorization_bearer("t0k"),
            Ok("Bearer t0k".to_string())
        );
        let e = render_authorization_bearer("").map_err(|e| e.kind);
        assert_eq!(e, Err(AuthorizationErrorKind::EmptyToken));
        let e = render_authorization_bearer("a\"b").map_err(|e| (e.kind, e.offset));
        assert_eq!(e, Err((AuthorizationErrorKind::InvalidTokenByte, 1)));
    }
}

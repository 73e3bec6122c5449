//! Server side: write a challenge for a `WWW-Authenticate` field (RFC 9110 §11.6.1).
//!
//! Values are always sent as quoted-strings (RFC 9110 §11.2 requires it for `realm`,
//! RFC 6750 §3 shows every Bearer attribute quoted, and a quoted-string can carry any
//! value a token can), with `"` and `\` escaped as `quoted-pair`s (RFC 9110 §5.6.4).

use super::error::{RenderError, RenderErrorKind};
use super::lexer::{is, T68, TCHAR};
use alloc::string::String;

/// Render a challenge with auth-params: `Scheme name="value", …`, or the bare scheme
/// when `params` is empty.
///
/// Refuses what cannot be represented or would be invalid: a scheme or name that is
/// not a token, a name given twice (RFC 9110 §11.2), a control character in a value
/// (a quoted-string cannot carry one, RFC 9110 §5.6.4), or a non-ASCII value (RFC
/// 9110 §5.5: senders SHOULD NOT generate obs-text).
///
/// ```
/// use bearerflow::challenge::render;
///
/// let v = render("Bearer", &[("realm", "mcp"), ("error_description", r#"say "hi""#)]);
/// assert_eq!(v.unwrap(), r#"Bearer realm="mcp", error_description="say \"hi\"""#);
/// ```
pub fn render(scheme: &str, params: &[(&str, &str)]) -> Result<String, RenderError> {
    check_token(scheme, RenderErrorKind::InvalidScheme, None)?;
    let mut len = scheme.len();
    for (i, (name, value)) in params.iter().enumerate() {
        check_token(name, RenderErrorKind::InvalidParamName, Some(i))?;
        if params
            .iter()
            .take(i)
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(RenderError {
                kind: RenderErrorKind::DuplicateParam,
                param: Some(i),
                offset: 0,
            });
        }
        for (offset, b) in value.bytes().enumerate() {
            let kind = if b >= 0x80 {
                RenderErrorKind::NonAscii
            } else if (b < 0x20 && b != b'\t') || b == 0x7f {
                RenderErrorKind::ControlCharacter
            } else {
                continue;
            };
            return Err(RenderError {
                kind,
                param: Some(i),
                offset,
            });
        }
        len += name.len() + 2 * value.len() + 6;
    }
    let mut out = String::with_capacity(len);
    out.push_str(scheme);
    for (i, (name, value)) in params.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(name);
        out.push_str("=\"");
        for piece in value.split_inclusive(['"', '\\']) {
            match piece.as_bytes().last() {
                Some(&q @ (b'"' | b'\\')) => {
                    out.push_str(piece.get(..piece.len() - 1).unwrap_or(""));
                    out.push('\\');
                    out.push(char::from(q));
                }
                _ => out.push_str(piece),
            }
        }
        out.push('"');
    }
    Ok(out)
}

/// Render a challenge carrying a token68 (RFC 9110 §11.2), e.g. `Negotiate abc==`.
///
/// ```
/// use bearerflow::challenge::render_token68;
///
/// assert_eq!(render_token68("Negotiate", "YII/+g==").unwrap(), "Negotiate YII/+g==");
/// assert!(render_token68("Negotiate", "a=b").is_err());
/// ```
pub fn render_token68(scheme: &str, token68: &str) -> Result<String, RenderError> {
    check_token(scheme, RenderErrorKind::InvalidScheme, None)?;
    if let Some(offset) = token68_error(token68) {
        return Err(RenderError {
            kind: RenderErrorKind::InvalidToken68,
            param: None,
            offset,
        });
    }
    let mut out = String::with_capacity(scheme.len() + 1 + token68.len());
    out.push_str(scheme);
    out.push(' ');
    out.push_str(token68);
    Ok(out)
}

/// The offset of the first byte that keeps `s` from being a token68 (or `b64token`,
/// RFC 6750 §2.1: the same alphabet), if any. An empty string fails at 0.
pub(crate) fn token68_error(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let body = bytes
        .iter()
        .position(|&b| !is(b, T68))
        .unwrap_or(bytes.len());
    if body == 0 {
        return Some(0);
    }
    let tail = bytes.get(body..).unwrap_or(&[]);
    tail.iter().position(|&b| b != b'=').map(|i| body + i)
}

fn check_token(s: &str, kind: RenderErrorKind, param: Option<usize>) -> Result<(), RenderError> {
    match s.bytes().position(|b| !is(b, TCHAR)) {
        None if !s.is_empty() => Ok(()),
        Some(offset) => Err(RenderError {
            kind,
            param,
            offset,
        }),
        None => Err(RenderError {
            kind,
            param,
            offset: 0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(render("Basic", &[]).as_deref(), Ok("Basic"));
        assert_eq!(
            render("Basic", &[("realm", r"a\b"), ("x", "")]).as_deref(),
            Ok(r#"Basic realm="a\\b", x="""#)
        );
        assert_eq!(
            render("Basic", &[("realm", "a\tb")]).as_deref(),
            Ok("Basic realm=\"a\tb\"")
        );
    }

    #[test]
    fn refuses_what_cannot_be_represented() {
        let e = render(
            "Bearer",
            &[("realm", "ok"), ("error_description", "line\nbreak")],
        );
        assert_eq!(
            e,
            Err(RenderError {
                kind: RenderErrorKind::ControlCharacter,
                param: Some(1),
                offset: 4
            })
        );
        let e = render("Bearer", &[("realm", "café")]).map_err(|e| e.kind);
        assert_eq!(e, Err(RenderErrorKind::NonAscii));
        let e = render("Bear er", &[]);
        assert_eq!(
            e,
            Err(RenderError {
                kind: RenderErrorKind::InvalidScheme,
                param: None,
                offset: 4
            })
        );
        assert_eq!(
            render("", &[]).map_err(|e| e.kind),
            Err(RenderErrorKind::InvalidScheme)
        );
        let e = render("Bearer", &[("a", "1"), ("A", "2")]).map_err(|e| (e.kind, e.param));
        assert_eq!(e, Err((RenderErrorKind::DuplicateParam, Some(1))));
        let e = render("Bearer", &[("a b", "1")]).map_err(|e| (e.kind, e.offset));
        assert_eq!(e, Err((RenderErrorKind::InvalidParamName, 1)));
        let e = render("Bearer", &[("x", "\u{7f}")]).map_err(|e| e.kind);
        assert_eq!(e, Err(RenderErrorKind::ControlCharacter));
    }

    #[test]
    fn token68_alphabet() {
        assert_eq!(token68_error("abc=="), None);
        assert_eq!(token68_error(""), Some(0));
        assert_eq!(token68_error("=="), Some(0));
        assert_eq!(token68_error("ab=c"), Some(3));
        assert_eq!(token68_error("a b"), Some(1));
        let e = render_token68("Negotiate", "a b").map_err(|e| (e.kind, e.offset));
        assert_eq!(e, Err((RenderErrorKind::InvalidToken68, 1)));
    }
}

//! `application/x-www-form-urlencoded` encoding and decoding.
//!
//! OAuth sends token requests as form bodies (RFC 6749 §4.1.3, Appendix B) and receives
//! authorization responses as form-encoded query strings (RFC 6749 §4.1.2). The byte
//! rules are the WHATWG URL Standard's (§5.2 "application/x-www-form-urlencoded
//! serializing"): ASCII alphanumerics and `*-._` pass through, space becomes `+`, every
//! other byte of the UTF-8 encoding becomes `%XX` (upper-case hex).
//!
//! Encoding computes the exact output length first ([`encoded_len`], [`encode_pairs`]),
//! so a body that carries a secret is written into one allocation that is never
//! reallocated: no stray copy of a refresh token is left behind in freed memory.
//!
//! Decoding is strict where the WHATWG parser is lenient: a `%` that is not followed by
//! two hex digits, or bytes that do not form UTF-8, are typed errors with the byte
//! offset, instead of being passed through silently.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a form-encoded string could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormError {
    /// A `%` not followed by two hexadecimal digits, at this byte offset of the input.
    BadPercentEscape {
        /// Byte offset of the `%`.
        offset: usize,
    },
    /// The decoded bytes of the component that starts at this byte offset are not UTF-8.
    InvalidUtf8 {
        /// Byte offset of the start of the name or value that failed.
        offset: usize,
    },
}

impl FormError {
    /// The byte offset the error points at.
    pub const fn offset(&self) -> usize {
        match *self {
            FormError::BadPercentEscape { offset } | FormError::InvalidUtf8 { offset } => offset,
        }
    }

    /// The same error with its offset moved by `by` bytes (for a component that was cut
    /// out of a larger string).
    pub const fn shifted(self, by: usize) -> FormError {
        match self {
            FormError::BadPercentEscape { offset } => FormError::BadPercentEscape {
                offset: offset.saturating_add(by),
            },
            FormError::InvalidUtf8 { offset } => FormError::InvalidUtf8 {
                offset: offset.saturating_add(by),
            },
        }
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::BadPercentEscape { offset } => write!(
                f,
                "form encoding: '%' at byte {offset} is not followed by two hex digits"
            ),
            FormError::InvalidUtf8 { offset } => write!(
                f,
                "form encoding: the component starting at byte {offset} does not decode to UTF-8"
            ),
        }
    }
}

impl core::error::Error for FormError {}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Whether `b` is written as itself (WHATWG application/x-www-form-urlencoded
/// percent-encode set complement).
const fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')
}

/// The exact number of bytes [`encode_into`] writes for `value`.
pub fn encoded_len(value: &str) -> usize {
    value
        .bytes()
        .map(|b| if is_plain(b) || b == b' ' { 1 } else { 3 })
        .sum()
}

/// Append the form encoding of `value` to `out`.
pub fn encode_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if is_plain(b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
}

/// The form encoding of `value` (RFC 6749 Appendix B).
///
/// ```
/// use bearerflow::oauth::form::encode;
/// assert_eq!(encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
/// ```
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(encoded_len(value));
    encode_into(&mut out, value);
    out
}

/// Serialize `name=value` pairs joined by `&`, in order, into one exactly sized
/// allocation (so a secret in a value is never copied by a reallocation).
///
/// ```
/// use bearerflow::oauth::form::encode_pairs;
/// let body = encode_pairs(&[("grant_type", "refresh_token"), ("scope", "a b")]);
/// assert_eq!(body, "grant_type=refresh_token&scope=a+b");
/// ```
pub fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    let len: usize = pairs
        .iter()
        .map(|(n, v)| encoded_len(n) + 1 + encoded_len(v))
        .sum::<usize>()
        + pairs.len().saturating_sub(1);
    let mut out = String::with_capacity(len);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, name);
        out.push('=');
        encode_into(&mut out, value);
    }
    out
}

const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode one form-encoded component (`+` is a space, `%XX` a byte).
///
/// Offsets in the error are relative to `input`.
///
/// ```
/// use bearerflow::oauth::form::{decode, FormError};
/// assert_eq!(decode("a+b%26c").unwrap(), "a b&c");
/// assert_eq!(decode("100%"), Err(FormError::BadPercentEscape { offset: 3 }));
/// ```
pub fn decode(input: &str) -> Result<String, FormError> {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi << 4) | lo);
                        i += 3;
                    }
                    _ => return Err(FormError::BadPercentEscape { offset: i }),
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError::InvalidUtf8 { offset: 0 })
}

/// Split a form-encoded string into decoded `(name, value)` pairs, in order.
///
/// Empty segments (`a=1&&b=2`) are skipped; a segment without `=` has an empty value
/// (WHATWG URL §5.1). Offsets in the error are relative to `input`.
///
/// ```
/// use bearerflow::oauth::form::parse_pairs;
/// let pairs = parse_pairs("code=x%2By&state=s+1&flag").unwrap();
/// assert_eq!(pairs[0], ("code".into(), "x+y".into()));
/// assert_eq!(pairs[1], ("state".into(), "s 1".into()));
/// assert_eq!(pairs[2], ("flag".into(), "".into()));
/// ```
pub fn parse_pairs(input: &str) -> Result<Vec<(String, String)>, FormError> {
    Ok(parse_pairs_with_offsets(input)?
        .into_iter()
        .map(|(_, name, value)| (name, value))
        .collect())
}

/// Like [`parse_pairs`], with the byte offset in `input` at which each pair starts (for
/// error messages that point at a repeated parameter).
///
/// ```
/// use bearerflow::oauth::form::parse_pairs_with_offsets;
/// let pairs = parse_pairs_with_offsets("a=1&&b=2").unwrap();
/// assert_eq!(pairs[1], (5, "b".into(), "2".into()));
/// ```
pub fn parse_pairs_with_offsets(input: &str) -> Result<Vec<(usize, String, String)>, FormError> {
    let mut pairs = Vec::new();
    let mut start = 0usize;
    for segment in input.split('&') {
        let seg_start = start;
        start = start.saturating_add(segment.len() + 1);
        if segment.is_empty() {
            continue;
        }
        let (name, value, value_start) = match segment.split_once('=') {
            Some((name, value)) => (name, value, seg_start + name.len() + 1),
            None => (segment, "", seg_start + segment.len()),
        };
        let name = decode(name).map_err(|e| match e {
            FormError::InvalidUtf8 { .. } => FormError::InvalidUtf8 { offset: seg_start },
            other => other.shifted(seg_start),
        })?;
        let value = decode(value).map_err(|e| match e {
            FormError::InvalidUtf8 { .. } => FormError::InvalidUtf8 {
                offset: value_start,
            },
            other => other.shifted(value_start),
        })?;
        pairs.push((seg_start, name, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn encodes_reserved_and_non_ascii() {
        assert_eq!(encode(""), "");
        assert_eq!(encode("AZaz09*-._"), "AZaz09*-._");
        assert_eq!(encode(" "), "+");
        assert_eq!(encode("+"), "%2B");
        assert_eq!(encode("~"), "%7E");
        assert_eq!(encode("a:b/c?d#e"), "a%3Ab%2Fc%3Fd%23e");
        assert_eq!(encode("ü"), "%C3%BC");
        assert_eq!(encode("%"), "%25");
    }

    #[test]
    fn encoded_len_is_exact() {
        for s in ["", "abc", "a b", "é€", "%&=+", "x y z\n"] {
            assert_eq!(encoded_len(s), encode(s).len(), "{s:?}");
        }
    }

    #[test]
    fn encode_pairs_capacity_is_exact() {
        let body = encode_pairs(&[("a", "1 2"), ("b", "€"), ("c", "")]);
        assert_eq!(body, "a=1+2&b=%E2%82%AC&c=");
        assert_eq!(body.capacity(), body.len());
        assert_eq!(encode_pairs(&[]), "");
    }

    #[test]
    fn decode_rules() {
        assert_eq!(decode("a+b").unwrap(), "a b");
        assert_eq!(decode("%2b%2B").unwrap(), "++");
        assert_eq!(decode("%e2%82%ac").unwrap(), "€");
        assert_eq!(
            decode("ok%"),
            Err(FormError::BadPercentEscape { offset: 2 })
        );
        assert_eq!(decode("%4"), Err(FormError::BadPercentEscape { offset: 0 }));
        assert_eq!(
            decode("ab%zz"),
            Err(FormError::BadPercentEscape { offset: 2 })
        );
        assert_eq!(decode("%FF"), Err(FormError::InvalidUtf8 { offset: 0 }));
    }

    #[test]
    fn parse_pairs_offsets_point_into_input() {
        assert_eq!(
            parse_pairs("a=1&b=%G0"),
            Err(FormError::BadPercentEscape { offset: 6 })
        );
        assert_eq!(
            parse_pairs("a=1&b%=2"),
            Err(FormError::BadPercentEscape { offset: 5 })
        );
        assert_eq!(
            parse_pairs("a=1&b=%C3"),
            Err(FormError::InvalidUtf8 { offset: 6 })
        );
        assert_eq!(
            parse_pairs("&&a=%3D=&"),
            Ok(vec![("a".to_string(), "==".to_string())])
        );
    }

    #[test]
    fn errors_display_offset() {
        let e = FormError::BadPercentEscape { offset: 7 };
        assert!(e.to_string().contains("byte 7"));
        assert_eq!(e.shifted(3).offset(), 10);
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(s in any::<std::string::String>()) {
            let enc = encode(&s);
            prop_assert!(enc.bytes().all(|b| is_plain(b) || b == b'+' || b == b'%'));
            prop_assert_eq!(decode(&enc).unwrap(), s);
        }

        #[test]
        fn pairs_round_trip(pairs in proptest::collection::vec((".*", ".*"), 0..6)) {
            let borrowed: Vec<(&str, &str)> =
                pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let enc = encode_pairs(&borrowed);
            let back = parse_pairs(&enc).unwrap();
            // Pairs with an empty name and value encode to "=" which decodes to ("", "").
            prop_assert_eq!(back, pairs);
        }

        #[test]
        fn decode_never_panics(s in any::<std::string::String>()) {
            match parse_pairs(&s) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.offset() <= s.len()),
            }
        }
    }
}

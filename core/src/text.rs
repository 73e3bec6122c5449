//! Text that came from a server, made safe to show: one sanitizer for every error
//! message, log line and terminal output that quotes a server.
//!
//! A server controls the `error_description` of a token or registration error, the
//! `iss` of a redirect, an MCP server's name, its tool descriptions and its error
//! messages. Written raw to a terminal, ESC (0x1B), BEL, CR and the C1 controls let it
//! set the window title, clear the screen or overwrite the line that says what happened
//! (CVE-2003-0063 class; ECMA-48 §5); Unicode bidirectional overrides let it reorder
//! what the reader sees (CVE-2021-42574, "Trojan Source"). So every character in those
//! classes is written as a visible escape, `\u{1b}`, and the text is cut to a length a
//! message can carry, with a marker that says how much was left out.
//!
//! Printable text, backslashes included, passes unchanged, so sanitizing text that is
//! already sanitized changes nothing (apart from a second cut).
//!
//! ```
//! use bearerflow::text::{sanitize, Sanitized};
//! assert_eq!(sanitize("bad\x1b]0;pwned\x07token\r", 100), "bad\\u{1b}]0;pwned\\u{7}token\\u{d}");
//! assert_eq!(format!("{}", Sanitized::new("abcdef", 3)), "abc… (3 more bytes)");
//! ```

use alloc::string::String;
use core::fmt::{self, Write};

/// The longest server text an error message quotes, in bytes of the original text.
///
/// Long enough for any real `error_description` or JSON-RPC error message, short
/// enough that a hostile server cannot fill a terminal or a log line.
pub const MAX_QUOTED: usize = 300;

/// Whether `c` must not reach a terminal as itself: the C0 and C1 controls and DEL
/// (Unicode category Cc), the line and paragraph separators, and the invisible
/// formatting characters that reorder or hide text (bidirectional embeddings,
/// overrides and isolates, zero-width characters, the byte order mark).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Server text to show: unsafe characters ([`is_unsafe_char`]) escaped as `\u{…}`,
/// at most `max` bytes of the original text, then `… (N more bytes)` when cut.
/// Formats without allocating.
#[derive(Clone, Copy, Debug)]
pub struct Sanitized<'a> {
    text: &'a str,
    max: usize,
}

impl<'a> Sanitized<'a> {
    /// `text`, cut after `max` bytes (on a character boundary).
    pub fn new(text: &'a str, max: usize) -> Sanitized<'a> {
        Sanitized { text, max }
    }

    /// `text`, cut after [`MAX_QUOTED`] bytes.
    pub fn quoted(text: &'a str) -> Sanitized<'a> {
        Sanitized::new(text, MAX_QUOTED)
    }
}

impl fmt::Display for Sanitized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.text.char_indices() {
            if i + c.len_utf8() > self.max {
                return write!(f, "… ({} more bytes)", self.text.len() - i);
            }
            if is_unsafe_char(c) {
                write!(f, "\\u{{{:x}}}", u32::from(c))?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// [`Sanitized`] as an owned `String`.
pub fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max).saturating_add(16));
    // Writing into a String cannot fail.
    let _ = write!(out, "{}", Sanitized::new(text, max));
    out
}

/// Bytes that came from a server (a body, a header), as sanitized text: lossy UTF-8
/// (invalid sequences become U+FFFD), then [`sanitize`].
pub fn sanitize_bytes(bytes: &[u8], max: usize) -> String {
    let head = bytes.get(..max).unwrap_or(bytes);
    let lossy = String::from_utf8_lossy(head);
    let mut out = sanitize(&lossy, usize::MAX);
    if bytes.len() > head.len() {
        let _ = write!(out, "… ({} more bytes)", bytes.len() - head.len());
    }
    out
}

/// Whether `text` holds nothing a terminal would act on: no character for which
/// [`is_unsafe_char`] is true. What tests assert about every output.
pub fn is_safe(text: &str) -> bool {
    !text.chars().any(is_unsafe_char)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use proptest::prelude::*;

    #[test]
    fn escapes_terminal_controls_visibly() {
        assert_eq!(sanitize("a\u{1b}[2Jb", 50), "a\\u{1b}[2Jb");
        assert_eq!(
            sanitize("x\ry\nz\tw\u{7f}", 50),
            "x\\u{d}y\\u{a}z\\u{9}w\\u{7f}"
        );
        // C1 CSI and a right-to-left override.
        assert_eq!(
            sanitize("\u{9b}31m\u{202e}abc", 50),
            "\\u{9b}31m\\u{202e}abc"
        );
        assert_eq!(
            sanitize("plain text, é ü — ok \\n", 50),
            "plain text, é ü — ok \\n"
        );
    }

    #[test]
    fn cuts_on_a_character_boundary_and_says_how_much() {
        assert_eq!(sanitize("abcdef", 6), "abcdef");
        assert_eq!(sanitize("abcdef", 4), "abcd… (2 more bytes)");
        // "é" is two bytes: it does not fit after "a" in 2 bytes.
        assert_eq!(sanitize("aéz", 2), "a… (3 more bytes)");
        assert_eq!(sanitize("", 0), "");
        assert_eq!(format!("{}", Sanitized::quoted("ok")), "ok");
    }

    #[test]
    fn bytes_are_read_lossily() {
        assert_eq!(sanitize_bytes(b"ok\xff\x1b", 10), "ok\u{fffd}\\u{1b}");
        assert_eq!(sanitize_bytes(&[b'a'; 20], 5), "aaaaa… (15 more bytes)");
    }

    #[test]
    fn sanitizing_twice_changes_nothing() {
        let once = sanitize("t\u{1b}]0;x\u{7}\\u{1b}", 100);
        assert_eq!(sanitize(&once, 100), once);
    }

    proptest! {
        #[test]
        fn output_is_always_safe_and_bounded(text in any::<String>(), max in 0usize..64) {
            let out = sanitize(&text, max);
            prop_assert!(is_safe(&out), "{out:?}");
            // Each kept byte grows to at most 10 (`\u{10ffff}`), plus the marker.
            prop_assert!(out.len() <= max * 10 + 40);
            if text.len() <= max && is_safe(&text) {
                prop_assert_eq!(&out, &text);
            }
        }

        #[test]
        fn bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), max in 0usize..64) {
            prop_assert!(is_safe(&sanitize_bytes(&bytes, max)));
        }
    }
}

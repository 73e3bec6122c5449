//! Everything the CLI prints that may hold server text goes through here: the one
//! sanitizer in `bearerflow::text` (control characters and invisible reordering
//! characters escaped visibly, length capped), so that a server cannot set the window
//! title, clear the screen or overwrite the line that says what happened.

use bearerflow::text::{is_unsafe_char, sanitize, MAX_QUOTED};
use serde_json::Value;

/// One piece of server text (a name, a description), cut to `MAX_QUOTED` bytes.
pub fn text(s: &str) -> String {
    sanitize(s, MAX_QUOTED)
}

/// A whole message line that quotes servers (an error chain): escaped, and cut at a
/// length a terminal line can still carry.
pub fn line(s: &str) -> String {
    sanitize(s, 8 * MAX_QUOTED)
}

/// `value` as JSON text in which no character is unsafe for a terminal: `serde_json`
/// escapes C0 controls itself but writes DEL, the C1 controls and the bidirectional
/// overrides as they are, so those become `\uXXXX` escapes (valid JSON, same value).
pub fn json(value: &Value) -> String {
    escape_json_text(&value.to_string())
}

/// [`json`] for text that `serde_json` already wrote (pretty or compact).
pub fn escape_json_text(serialized: &str) -> String {
    let mut out = String::with_capacity(serialized.len());
    for c in serialized.chars() {
        // Outside strings serialized JSON holds only ASCII structure and whitespace
        // (space, LF), which are safe, so every unsafe character is inside a string,
        // where an escape means the same character.
        if is_unsafe_char(c) && c != '\n' {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_stays_json_and_safe() {
        let v = json!({"name": "a\u{1b}]0;x\u{7}b\u{9b}c\u{202e}d\u{7f}", "n": [1, "\r\n"]});
        for text in [
            json(&v),
            escape_json_text(&serde_json::to_string_pretty(&v).unwrap()),
        ] {
            assert!(
                text.chars().all(|c| c == '\n' || !is_unsafe_char(c)),
                "{text:?}"
            );
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn text_is_escaped_and_capped() {
        assert_eq!(text("tool\u{1b}[2J"), "tool\\u{1b}[2J");
        assert!(text(&"x".repeat(10_000)).len() < 400);
    }
}

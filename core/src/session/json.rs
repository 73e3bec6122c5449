//! JSON in and out of the machine: the serializers behind [`Action::to_json`] and the
//! snapshot and configuration readers, and an error type for JSON input that never
//! quotes the input.
//!
//! serde's messages quote the offending value (`invalid type: string "rt-…", expected
//! u64`); in a snapshot or a configuration that value may be a refresh token or a client
//! secret. [`JsonError`] keeps what locates the problem (line, column, what was
//! expected, which field of ours was missing) and drops whatever came from the input.
//!
//! [`Action::to_json`]: super::Action::to_json

use crate::http::Header;
use alloc::string::String;
use core::fmt;
use zeroize::Zeroizing;

/// Serialize to a zeroizing string, through [`crate::json_out`]: the same text as
/// serde_json, and no outgrown buffer is freed without being zeroized first.
pub(crate) fn to_string<T: serde::Serialize + ?Sized>(value: &T) -> Zeroizing<String> {
    crate::json_out::to_string(value)
}

/// Headers as `[[name, value], …]`.
pub(crate) struct HeaderPairs<'a>(pub(crate) &'a [Header]);

impl serde::Serialize for HeaderPairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            seq.serialize_element(&(h.name.as_str(), h.value.expose()))?;
        }
        seq.end()
    }
}

/// Bytes as text (lossy UTF-8: the machine only builds UTF-8 bodies).
pub(crate) struct Text<'a>(pub(crate) &'a [u8]);

impl serde::Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match core::str::from_utf8(self.0) {
            Ok(t) => s.serialize_str(t),
            Err(_) => s.serialize_str(&String::from_utf8_lossy(self.0)),
        }
    }
}

/// JSON input could not be read. Says where and what was expected; never quotes the
/// input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// 1-based line of the problem (0 when unknown).
    pub line: usize,
    /// 1-based column of the problem (0 when unknown).
    pub column: usize,
    /// What was wrong, in words of ours: "not JSON", "missing field `resource_url`",
    /// "invalid type, expected u64", "unknown field `redirect_url`".
    pub problem: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{} at line {} column {}",
                self.problem, self.line, self.column
            )
        } else {
            f.write_str(&self.problem)
        }
    }
}

impl core::error::Error for JsonError {}

/// Longest field name quoted from the input (an unknown field's name).
const MAX_NAME: usize = 64;

impl JsonError {
    /// Describe a serde_json error without any of the input's values.
    pub(crate) fn from_serde(e: &serde_json::Error) -> JsonError {
        use serde_json::error::Category;
        let problem = match e.classify() {
            Category::Eof => String::from("unexpected end of input"),
            // serde_json's syntax messages name the grammar rule that failed
            // ("expected value", "trailing comma"), never the input.
            Category::Syntax => alloc::format!("not JSON: {}", syntax_words(e)),
            Category::Io => String::from("could not read input"),
            Category::Data => data_problem(e),
        };
        JsonError {
            line: e.line(),
            column: e.column(),
            problem,
        }
    }
}

/// The message of a syntax error without serde_json's position suffix.
fn syntax_words(e: &serde_json::Error) -> String {
    let full = alloc::format!("{e}");
    match full.find(" at line ") {
        Some(i) => String::from(&full[..i]),
        None => full,
    }
}

/// Rewrite a data error so that only our own words remain. serde's data messages have
/// these forms:
/// - `invalid type: <found>, expected <what>` / `invalid value: <found>, expected …`
///   / `invalid length N, expected …`: keep the kind and the expectation (ours);
/// - `unknown field `<name>`, expected …`: the name is a key the input chose, not a
///   value; keep it, escaped and capped, so a typo can be found;
/// - `unknown variant `<value>`, expected …`: the value goes, the expectation stays;
/// - `missing field `<name>`` / `duplicate field `<name>``: the name is ours;
/// - anything else (a custom message): a generic phrase.
fn data_problem(e: &serde_json::Error) -> String {
    let full = alloc::format!("{e}");
    let msg = match full.find(" at line ") {
        Some(i) => &full[..i],
        None => full.as_str(),
    };
    for kind in ["invalid type", "invalid value", "invalid length"] {
        if msg.starts_with(kind) {
            return match msg.find(", expected ") {
                Some(i) => alloc::format!("{kind}, expected {}", &msg[i + 11..]),
                None => String::from(kind),
            };
        }
    }
    // A variant is a value the input chose (it may be anything): keep only what was
    // expected.
    if msg.starts_with("unknown variant") {
        return match msg.find(", expected ") {
            Some(i) => alloc::format!("unknown variant, expected {}", &msg[i + 11..]),
            None => String::from("unknown variant"),
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown field") {
        let name = between_backticks(rest).unwrap_or("");
        // What follows the name (", expected `a` or `b`") lists our names.
        let tail = rest
            .find('`')
            .and_then(|i| rest.get(i + 1 + name.len() + 1..))
            .unwrap_or("");
        let name = escaped_name(name);
        return match tail.strip_prefix(", ") {
            Some(t) => alloc::format!("unknown field `{name}`, {t}"),
            None => alloc::format!("unknown field `{name}`"),
        };
    }
    for kind in ["missing field", "duplicate field"] {
        if msg.starts_with(kind) {
            return String::from(msg);
        }
    }
    String::from("invalid data")
}

fn between_backticks(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(&s[start..start + len])
}

/// A key name from the input, printable and capped.
fn escaped_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if out.len() >= MAX_NAME {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse `json` into `T`, describing failures with [`JsonError`].
pub(crate) fn from_slice<'a, T: serde::Deserialize<'a>>(json: &'a [u8]) -> Result<T, JsonError> {
    serde_json::from_slice(json).map_err(|e| JsonError::from_serde(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        n: u64,
        #[serde(default)]
        s: Option<String>,
    }

    fn err(json: &str) -> JsonError {
        match from_slice::<T>(json.as_bytes()) {
            Ok(_) => panic!("{json} parsed"),
            Err(e) => e,
        }
    }

    #[test]
    fn values_are_never_quoted() {
        for json in [
            r#"{"n": "rt-SECRET"}"#,
            r#"{"n": 1, "s": 7, "x": "rt-SECRET"}"#,
            r#"{"n": -1, "s": "rt-SECRET"}"#,
            r#"{"n": 1, "s": ["rt-SECRET"]}"#,
            r#"["rt-SECRET"]"#,
            r#""rt-SECRET""#,
            r#"{"n": 1, "s": "rt-SECRET""#,
            r#"{"n": 1, "s": "rt-SECRET" "#,
            r#"{"n": 1, "s": rt-SECRET}"#,
        ] {
            let e = err(json);
            let text = e.to_string();
            assert!(!text.contains("SECRET"), "{json} gave {text}");
            assert!(!alloc::format!("{e:?}").contains("SECRET"));
        }
    }

    #[test]
    fn says_what_and_where() {
        let e = err(r#"{"n": "x"}"#);
        assert_eq!(e.problem, "invalid type, expected u64");
        assert_eq!((e.line, e.column), (1, 9));
        assert_eq!(err(r#"{"s": "x"}"#).problem, "missing field `n`");
        assert_eq!(
            err(r#"{"n": 1, "redirect_url": "x"}"#).problem,
            "unknown field `redirect_url`, expected `n` or `s`"
        );
        assert!(err("{").problem.contains("end of input"));
        assert!(err("{]").problem.starts_with("not JSON"));
    }

    #[test]
    fn unknown_names_are_escaped_and_capped() {
        let long = "k".repeat(500);
        let e = err(&alloc::format!(r#"{{"n": 1, "{long}\u0007": 1}}"#));
        assert!(e.problem.len() < 120, "{}", e.problem);
        assert!(!e.problem.chars().any(char::is_control));
    }
}

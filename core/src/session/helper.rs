//! Reading a header helper's output.
//!
//! A header helper is a command the host runs that prints the headers to attach, the
//! way several MCP clients let users plug in a credential (`{"Authorization": "Bearer
//! …"}`). bearerflow accepts a JSON object of string values, or `Name: value` lines.

use super::config::HelperOutput;
use crate::http::Header;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The helper's output could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelperOutputError {
    /// Nothing printed.
    Empty,
    /// Output is neither a JSON object of strings nor `Name: value` lines; `line` is
    /// 1-based.
    Malformed {
        /// The offending line.
        line: usize,
    },
    /// A header name with characters outside RFC 9110 `tchar`; `index` is 0-based.
    BadName {
        /// Which header.
        index: usize,
    },
    /// A header value with CR, LF, NUL or another control character; `index` is 0-based.
    BadValue {
        /// Which header.
        index: usize,
    },
    /// The command could not run to completion: a non-zero exit (`code`), or no exit
    /// code at all (`None`: it could not start, was killed, or timed out).
    CommandFailed {
        /// The exit code, if it exited.
        code: Option<i32>,
    },
    /// The output is longer than [`Policy::max_helper_output`].
    ///
    /// [`Policy::max_helper_output`]: crate::policy::Policy::max_helper_output
    TooLarge {
        /// The limit, in bytes.
        limit: u32,
    },
}

impl HelperOutputError {
    /// A stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            HelperOutputError::Empty => "empty",
            HelperOutputError::Malformed { .. } => "malformed",
            HelperOutputError::BadName { .. } => "bad_name",
            HelperOutputError::BadValue { .. } => "bad_value",
            HelperOutputError::CommandFailed { .. } => "command_failed",
            HelperOutputError::TooLarge { .. } => "too_large",
        }
    }
}

impl fmt::Display for HelperOutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelperOutputError::Empty => f.write_str("header helper printed nothing"),
            HelperOutputError::Malformed { line } => write!(
                f,
                "header helper output line {line} is neither JSON nor `Name: value`"
            ),
            HelperOutputError::BadName { index } => {
                write!(f, "header helper header #{index} has an invalid name")
            }
            HelperOutputError::BadValue { index } => write!(
                f,
                "header helper header #{index} has a control character in its value"
            ),
            HelperOutputError::CommandFailed { code: Some(c) } => {
                write!(f, "header helper exited with status {c}")
            }
            HelperOutputError::CommandFailed { code: None } => f.write_str(
                "header helper did not run to completion (not started, killed or timed out)",
            ),
            HelperOutputError::TooLarge { limit } => {
                write!(f, "header helper printed more than {limit} bytes")
            }
        }
    }
}

impl core::error::Error for HelperOutputError {}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check(headers: &[(String, String)]) -> Result<(), HelperOutputError> {
    for (index, (n, v)) in headers.iter().enumerate() {
        if n.is_empty() || !n.bytes().all(is_tchar) {
            return Err(HelperOutputError::BadName { index });
        }
        if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(HelperOutputError::BadValue { index });
        }
    }
    Ok(())
}

/// Parse what a header helper printed.
pub fn parse_helper_output(stdout: &[u8]) -> Result<HelperOutput, HelperOutputError> {
    let text =
        core::str::from_utf8(stdout).map_err(|_| HelperOutputError::Malformed { line: 1 })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(HelperOutputError::Empty);
    }
    let pairs: Vec<(String, String)> = if trimmed.starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|e| HelperOutputError::Malformed { line: e.line() })?;
        let mut out = Vec::with_capacity(map.len());
        for (i, (k, v)) in map.into_iter().enumerate() {
            match v {
                serde_json::Value::String(s) => out.push((k, s)),
                _ => return Err(HelperOutputError::BadValue { index: i }),
            }
        }
        out
    } else {
        let mut out = Vec::new();
        for (i, line) in trimmed.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let (n, v) = line
                .split_once(':')
                .ok_or(HelperOutputError::Malformed { line: i + 1 })?;
            out.push((String::from(n.trim()), String::from(v.trim())));
        }
        out
    };
    if pairs.is_empty() {
        return Err(HelperOutputError::Empty);
    }
    check(&pairs)?;
    Ok(HelperOutput {
        headers: pairs.into_iter().map(|(n, v)| Header::new(n, v)).collect(),
        ttl_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object() {
        let o = parse_helper_output(br#"{"Authorization": "Bearer abc", "X-Org": "7"}"#).unwrap();
        assert_eq!(o.headers.len(), 2);
        assert_eq!(o.headers[0].name, "Authorization");
        assert_eq!(o.headers[0].value.expose(), "Bearer abc");
    }

    #[test]
    fn header_lines() {
        let o = parse_helper_output(b"Authorization: Bearer abc\r\nX-Org: 7\n").unwrap();
        assert_eq!(o.headers[1].value.expose(), "7");
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(parse_helper_output(b"  \n"), Err(HelperOutputError::Empty));
        assert_eq!(
            parse_helper_output(b"no colon here"),
            Err(HelperOutputError::Malformed { line: 1 })
        );
        assert_eq!(
            parse_helper_output(br#"{"Bad Name": "x"}"#),
            Err(HelperOutputError::BadName { index: 0 })
        );
        assert_eq!(
            parse_helper_output(b"{\"A\": \"x\\r\\nInjected: y\"}"),
            Err(HelperOutputError::BadValue { index: 0 })
        );
        assert_eq!(
            parse_helper_output(br#"{"A": 1}"#),
            Err(HelperOutputError::BadValue { index: 0 })
        );
        assert!(parse_helper_output(&[0xff, 0xfe]).is_err());
    }
}

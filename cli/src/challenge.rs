//! `bearerflow challenge [--strict] [--bearer] VALUE...`: parse `WWW-Authenticate`
//! field lines and print what they say as one JSON object.
//!
//! Each VALUE is one field line (`-` reads one line per line of standard input);
//! the lines are read as if joined by `", "` (RFC 9110 §5.3). The last line of output
//! is exactly one JSON object:
//!
//! - success: `{"ok":true,"challenges":[{"scheme":"Bearer","token68":null,
//!   "params":[["error","invalid_token"]]}]}`, with `"tolerated":[...]` added in
//!   lenient mode (the default) and a `"bearer":{...}` object on each Bearer
//!   challenge with `--bearer`. Names are printed as written, values unescaped.
//! - a malformed value: `{"ok":false,"error":"<what>","code":"<code>","offset":N}`,
//!   exit status 1 (`code` is `ChallengeErrorKind::code`).
//! - bad usage: `{"ok":false,"error":"<what>","offset":null}`, exit status 2.
//!
//! The same JSON shape is used by the shared test vectors in `tests/vectors/challenge`.

use bearerflow::challenge::{
    parse_lines, BearerChallenge, Challenge, ChallengeError, ChallengeErrorKind, Leniency, Mode,
};
use std::io::{BufRead, Write};
use std::process::ExitCode;

const USAGE: &str =
    "usage: bearerflow challenge [--strict] [--bearer] VALUE...   ('-' reads lines from stdin)";

/// Run the command with the arguments after `challenge`.
pub fn run(args: &[String]) -> ExitCode {
    let mut mode = Mode::Lenient;
    let mut bearer = false;
    let mut values: Vec<&str> = Vec::new();
    let mut flags_done = false;
    for arg in args {
        match arg.as_str() {
            "--strict" if !flags_done => mode = Mode::Strict,
            "--bearer" if !flags_done => bearer = true,
            "--" if !flags_done => flags_done = true,
            "-h" | "--help" if !flags_done => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            flag if !flags_done && flag.starts_with("--") => {
                return usage_error(&format!("unknown option {flag}"));
            }
            value => values.push(value),
        }
    }
    if values.is_empty() {
        return usage_error("no header value given");
    }
    let mut lines: Vec<String> = Vec::new();
    // Offset, in the joined value, at which a line that is not UTF-8 went wrong.
    let mut bad_utf8: Option<usize> = None;
    let mut joined_len = 0usize;
    for value in values {
        if value == "-" {
            let stdin = std::io::stdin();
            for raw in stdin.lock().split(b'\n') {
                let mut raw = match raw {
                    Ok(raw) => raw,
                    Err(e) => return usage_error(&format!("cannot read stdin: {e}")),
                };
                if raw.last() == Some(&b'\r') {
                    raw.pop();
                }
                match String::from_utf8(raw) {
                    Ok(line) => push_line(&mut lines, &mut joined_len, line),
                    Err(e) => {
                        let at = joined_len + usize::from(!lines.is_empty()) * 2;
                        bad_utf8 = Some(at + e.utf8_error().valid_up_to());
                        break;
                    }
                }
            }
        } else {
            push_line(&mut lines, &mut joined_len, value.to_string());
        }
        if bad_utf8.is_some() {
            break;
        }
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (json, ok) = match bad_utf8 {
        // Report the first error: one in the lines before the bad bytes, if any.
        Some(offset) => match render(&refs, mode, bearer) {
            (json, false) => (json, false),
            (_, true) => (
                error_json(ChallengeError::new(ChallengeErrorKind::InvalidUtf8, offset)),
                false,
            ),
        },
        None => render(&refs, mode, bearer),
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
        return ExitCode::from(1);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn push_line(lines: &mut Vec<String>, joined_len: &mut usize, line: String) {
    if !lines.is_empty() {
        *joined_len += 2;
    }
    *joined_len += line.len();
    lines.push(line);
}

fn usage_error(what: &str) -> ExitCode {
    eprintln!("{USAGE}");
    println!(r#"{{"ok":false,"error":{},"offset":null}}"#, string(what));
    ExitCode::from(2)
}

/// The JSON for these lines, and whether they parsed.
fn render(lines: &[&str], mode: Mode, bearer: bool) -> (String, bool) {
    let mut challenges = Vec::new();
    let mut it = parse_lines(lines, mode);
    for c in &mut it {
        match c {
            Ok(c) => challenges.push(challenge_json(&c, bearer)),
            Err(e) => return (error_json(e), false),
        }
    }
    let mut json = format!(r#"{{"ok":true,"challenges":[{}]"#, challenges.join(","));
    if mode == Mode::Lenient {
        json.push_str(&format!(
            r#","tolerated":{}"#,
            tolerated_json(it.tolerated())
        ));
    }
    json.push('}');
    (json, true)
}

fn error_json(e: ChallengeError) -> String {
    format!(
        r#"{{"ok":false,"error":{},"code":{},"offset":{}}}"#,
        string(&e.kind.to_string()),
        string(e.kind.code()),
        e.offset
    )
}

fn tolerated_json(t: Leniency) -> String {
    let names: Vec<String> = t.names().map(string).collect();
    format!("[{}]", names.join(","))
}

fn challenge_json(c: &Challenge<'_>, bearer: bool) -> String {
    let params: Vec<String> = c
        .params()
        .map(|p| format!("[{},{}]", string(p.name()), string(&p.to_string_value())))
        .collect();
    let mut json = format!(
        r#"{{"scheme":{},"token68":{},"params":[{}]"#,
        string(c.scheme()),
        opt(c.token68()),
        params.join(",")
    );
    if bearer && c.is_scheme("bearer") {
        json.push_str(r#","bearer":"#);
        match BearerChallenge::from_challenge(c) {
            Ok(b) => json.push_str(&bearer_json(&b)),
            Err(e) => json.push_str(&format!(r#"{{"error":{}}}"#, string(&e.kind.to_string()))),
        }
    }
    json.push('}');
    json
}

fn bearer_json(b: &BearerChallenge) -> String {
    let scopes: Vec<String> = b.scopes().map(string).collect();
    let error = b.error.as_ref().map(|e| e.as_str());
    let mut json = format!(r#"{{"realm":{}"#, opt(b.realm.as_deref()));
    json.push_str(&format!(r#","error":{}"#, opt(error)));
    json.push_str(&format!(
        r#","error_description":{}"#,
        opt(b.error_description.as_deref())
    ));
    json.push_str(&format!(r#","error_uri":{}"#, opt(b.error_uri.as_deref())));
    json.push_str(&format!(r#","scope":{}"#, opt(b.scope.as_deref())));
    json.push_str(&format!(r#","scopes":[{}]"#, scopes.join(",")));
    json.push_str(&format!(
        r#","resource_metadata":{}}}"#,
        opt(b.resource_metadata.as_deref())
    ));
    json
}

/// A JSON string literal.
fn string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_string(), string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_shape() {
        let (json, ok) = render(&[r#"Bearer error="invalid_token""#], Mode::Strict, false);
        assert!(ok);
        assert_eq!(
            json,
            r#"{"ok":true,"challenges":[{"scheme":"Bearer","token68":null,"params":[["error","invalid_token"]]}]}"#
        );
    }

    #[test]
    fn error_shape() {
        let (json, ok) = render(&[r#"Basic realm="x"#], Mode::Lenient, false);
        assert!(!ok);
        assert_eq!(
            json,
            r#"{"ok":false,"error":"quoted-string opened here is not closed","code":"unterminated_quoted_string","offset":12}"#
        );
    }

    #[test]
    fn bearer_and_tolerated() {
        let (json, ok) = render(
            &["Bearer scope=a:b realm=x", "Negotiate abc="],
            Mode::Lenient,
            true,
        );
        assert!(ok);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(
            v["tolerated"],
            serde_json::json!(["missing_comma", "unquoted_non_token"])
        );
        assert_eq!(
            v["challenges"][0]["bearer"]["scopes"],
            serde_json::json!(["a:b"])
        );
        assert_eq!(v["challenges"][0]["bearer"]["realm"], "x");
        assert_eq!(v["challenges"][1]["token68"], "abc=");
        assert!(v["challenges"][1].get("bearer").is_none());
    }
}

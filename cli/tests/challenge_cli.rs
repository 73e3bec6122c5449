//! `bearerflow challenge`: run the built binary and check its JSON and exit status.

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bearerflow"));
    cmd.arg("challenge").args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn bearerflow");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("wait for bearerflow")
}

/// The JSON object on the last line of output.
fn last_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

#[test]
fn prints_challenges_in_order_with_unescaped_values() {
    let out = run(
        &[
            "--strict",
            r#"Basic realm="a \"b\"", Bearer error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#,
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        last_json(&out),
        json!({"ok": true, "challenges": [
            {"scheme": "Basic", "token68": null, "params": [["realm", "a \"b\""]]},
            {"scheme": "Bearer", "token68": null, "params": [
                ["error", "invalid_token"],
                ["resource_metadata", "https://mcp.example.com/.well-known/oauth-protected-resource"]
            ]}
        ]})
    );
}

#[test]
fn several_values_are_several_lines() {
    let out = run(&["--strict", "Negotiate abc==", "bearer REALM=x"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        last_json(&out)["challenges"],
        json!([
            {"scheme": "Negotiate", "token68": "abc==", "params": []},
            {"scheme": "bearer", "token68": null, "params": [["REALM", "x"]]}
        ])
    );
}

#[test]
fn strict_error_has_what_and_offset_and_exit_1() {
    let out = run(
        &[
            "--strict",
            r#"Bearer resource_metadata="https://x" scope="mcp:x""#,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        last_json(&out),
        json!({"ok": false, "error": "expected ',' between parameters", "code": "expected_comma", "offset": 37})
    );
}

#[test]
fn lenient_by_default_reports_what_it_tolerated() {
    let out = run(
        &[r#"Bearer resource_metadata="https://x" scope=read:data"#],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let v = last_json(&out);
    assert_eq!(
        v["challenges"][0]["params"],
        json!([["resource_metadata", "https://x"], ["scope", "read:data"]])
    );
    assert_eq!(
        v["tolerated"],
        json!(["missing_comma", "unquoted_non_token"])
    );
}

#[test]
fn bearer_view() {
    let out = run(
        &[
            "--bearer",
            r#"Basic realm="b", Bearer realm="example", scope="files:read files:write", error="insufficient_scope""#,
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let v = last_json(&out);
    assert!(v["challenges"][0].get("bearer").is_none());
    assert_eq!(
        v["challenges"][1]["bearer"],
        json!({
            "realm": "example", "error": "insufficient_scope", "error_description": null,
            "error_uri": null, "scope": "files:read files:write",
            "scopes": ["files:read", "files:write"], "resource_metadata": null
        })
    );
}

#[test]
fn stdin_lines_join_like_header_lines() {
    let out = run(
        &["--strict", "-"],
        Some(b"Basic realm=\"x\"\r\nBearer error=invalid_token\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let v = last_json(&out);
    assert_eq!(
        v["challenges"][1]["params"],
        json!([["error", "invalid_token"]])
    );
    // Offsets count in the joined value: "Basic realm=\"x\", " is 17 bytes.
    let out = run(
        &["--strict", "-"],
        Some(b"Basic realm=\"x\"\nBearer a=\"b\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(last_json(&out)["offset"], 26);
}

#[test]
fn non_utf8_stdin_reports_the_offset() {
    let out = run(
        &["-"],
        Some(b"Basic realm=\"x\"\nBearer realm=\"caf\xe9\"\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        last_json(&out),
        json!({"ok": false, "error": "invalid UTF-8", "code": "invalid_utf8", "offset": 34})
    );
}

#[test]
fn control_characters_and_trailing_backslash() {
    let out = run(&["Basic realm=\"a\u{1}\""], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        last_json(&out),
        json!({"ok": false, "error": "control character 0x01", "code": "control_character", "offset": 14})
    );
    let out = run(&[r#"Basic realm="a\"#], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(last_json(&out)["offset"], 14);
}

#[test]
fn usage_errors_exit_2_with_json() {
    let out = run(&[], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(last_json(&out)["ok"], false);
    let out = run(&["--nope", "Basic"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(last_json(&out)["error"], "unknown option --nope");
    // After `--`, values may start with dashes (`-` is a tchar: this is a scheme).
    let out = run(&["--", "--strict"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(last_json(&out)["challenges"][0]["scheme"], "--strict");
}

#[cfg(unix)]
#[test]
fn non_utf8_argument_is_a_clear_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .arg("challenge")
        .arg(std::ffi::OsStr::from_bytes(b"Bearer realm=\xff"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("argument 2 is not valid UTF-8"), "{err}");
    assert!(!err.contains("panicked"));
}

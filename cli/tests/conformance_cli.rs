//! `bearerflow conformance-client`: usage, context errors and failure exit codes of the
//! built binary. (The scenarios themselves run under `cargo xtask conformance`.)

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], scenario: &str, context: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bearerflow"));
    cmd.arg("conformance-client")
        .args(args)
        .env("MCP_CONFORMANCE_SCENARIO", scenario)
        .env_remove("MCP_CONFORMANCE_CONTEXT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(c) = context {
        cmd.env("MCP_CONFORMANCE_CONTEXT", c);
    }
    cmd.output().expect("run bearerflow")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_url_is_a_usage_error() {
    let o = run(&[], "auth/metadata-default", None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("missing <server-url>"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_option_is_a_usage_error() {
    let o = run(&["--bogus", "http://127.0.0.1:1/mcp"], "", None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--bogus"));
}

#[test]
fn bad_or_unsupported_context_says_why_without_the_secret() {
    let o = run(&["http://127.0.0.1:1/mcp"], "auth/x", Some("{not json"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("MCP_CONFORMANCE_CONTEXT is not JSON"));

    let jwt = r#"{"client_id":"c","private_key_pem":"-----BEGIN PRIVATE KEY-----s3cr3t","signing_algorithm":"ES256"}"#;
    let o = run(
        &["http://127.0.0.1:1/mcp"],
        "auth/client-credentials-jwt",
        Some(jwt),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("private_key_jwt"));
    assert!(!stderr(&o).contains("s3cr3t"));

    let o = run(
        &["http://127.0.0.1:1/mcp"],
        "auth/client-credentials-basic",
        Some(r#"{"client_secret":"hunter2"}"#),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("hunter2"));
}

#[test]
fn unreachable_server_fails_with_exit_1_and_a_reason() {
    // A port that was just free: connecting is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("http://127.0.0.1:{port}/mcp");
    let o = run(&[url.as_str()], "auth/metadata-default", None);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("connect failed"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

//! The `bearerflow-testbed` binary prints its URLs as one JSON line and serves until
//! killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{http, initialize_request};

/// Kills the server we started, even when an assertion fails first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_and_mints_a_token() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bearerflow-testbed"))
        .args([
            "--access-ttl",
            "5s",
            "--no-session",
            "--mint-token",
            "mcp:tools",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let _guard = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let info: Value = serde_json::from_str(&line).expect("one JSON line");
    let mcp = info["mcp_url"].as_str().unwrap().to_string();
    let token = info["access_token"].as_str().unwrap().to_string();
    assert!(mcp.starts_with("http://127.0.0.1:"));
    assert!(info["refresh_token"].is_string());

    let resp = http()
        .post(&mcp)
        .bearer_auth(&token)
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow-testbed"))
        .arg("--access-ttl")
        .arg("soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad duration"));
}

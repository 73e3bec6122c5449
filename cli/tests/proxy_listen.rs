//! `bearerflow proxy --listen 127.0.0.1:0`: a client that can only send a static,
//! stale `Authorization` header (a browser inspector) points at the gateway and keeps
//! working across token expiries; its header never reaches the server.

mod proxy_common;

use bearerflow_testbed::Wires;
use proxy_common::{stored_expiry, temp_dir, testbed, until_unix_ms, DEADLINE};
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

async fn post(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut req = http
        .post(url)
        .header(
            "authorization",
            "Bearer stale-static-token-from-the-inspector",
        )
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let r = req.send().await.expect("the gateway answers");
    let status = r.status().as_u16();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = r.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, sid, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_static_header_keeps_working_through_the_gateway() {
    bearerflow_async::install_crypto_provider();
    let tb = testbed(Wires::Both).await;
    let store = temp_dir("proxy-listen").join("tokens.json");
    let mut child = tokio::process::Command::new(proxy_common::bin())
        .args([
            "proxy",
            &tb.mcp_url(),
            "--headless",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--store")
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the gateway starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("the gateway says where it listens")
        .unwrap()
        .expect("one line");
    let info: Value = serde_json::from_str(&first).unwrap();
    let url = info["listen"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let http = reqwest::Client::new();
    // The 2025-11-25 wire, spoken by the local client itself through the gateway.
    let (status, sid, init) = post(
        &http,
        &url,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "inspector", "version": "1"}}}),
    )
    .await;
    assert_eq!(status, 200, "{init}");
    let sid = sid.expect("the server's session id comes back");
    let (status, _, _) = post(
        &http,
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    let unauthorized_at_start = tb.counters().unauthorized;
    let mut id = 10;
    for expiry in 1..=2 {
        let expires = stored_expiry(&store).expect("tokens stored");
        until_unix_ms(expires + 100).await;
        for _ in 0..3 {
            id += 1;
            let (status, _, r) = post(
                &http,
                &url,
                Some(&sid),
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"text": "past expiry"}}}),
            )
            .await;
            assert_eq!(status, 200, "expiry {expiry}: {r}");
            assert_eq!(r["result"]["content"][0]["text"], "past expiry", "{r}");
        }
        assert_eq!(
            tb.counters().token_refresh,
            expiry,
            "one refresh per expiry"
        );
    }
    let c = tb.counters();
    assert_eq!(
        c.unauthorized, unauthorized_at_start,
        "the stale header never reached the server (it would have been refused)"
    );
    assert_eq!(c.authorizations, 1);

    // A page on another origin cannot use the gateway (DNS rebinding, CSRF).
    let r = http
        .post(&url)
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = http
        .post(&url)
        .header("host", "attacker.example")
        .header("content-type", "application/json")
        .body(json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let _ = child.kill().await;
    tb.shutdown().await;
}

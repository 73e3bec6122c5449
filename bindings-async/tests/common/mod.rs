//! Shared setup for the integration tests: a testbed, a session config for it, and a
//! snapshot holding tokens the testbed minted (a previous process's).
//!
//! Every test runs on the MCP wire `BEARERFLOW_TEST_WIRE` names: `modern` (a testbed
//! that speaks only MCP 2026-07-28), `legacy` (only the 2025-11-25 `initialize`
//! handshake), or, unset or `both`, a dual-era testbed (where the client picks modern).
//! The client is always the default dual-era `McpClient` (`WireChoice::Auto`), so each
//! test also checks that it finds the server's wire by itself. `tests/wires.rs` runs the
//! main stories on both wires in one run.
#![allow(dead_code)]

use bearerflow::oauth::ClientRegistration;
use bearerflow::session::{Config, OAuthConfig, Snapshot, StoredServer, StoredTokens};
use bearerflow_async::mcp::{McpClient, Wire};
use bearerflow_async::{Client, Event};
use bearerflow_testbed::{Handle, Testbed, Wires};
use std::sync::Arc;
use std::time::Duration;

/// The wires the testbed serves in this run (`BEARERFLOW_TEST_WIRE`).
pub fn served_wires() -> Wires {
    match std::env::var("BEARERFLOW_TEST_WIRE").as_deref() {
        Ok("modern") => Wires::Modern,
        Ok("legacy") => Wires::Legacy,
        Ok("both") | Ok("") | Err(_) => Wires::Both,
        Ok(other) => panic!("BEARERFLOW_TEST_WIRE={other:?}: expected modern, legacy or both"),
    }
}

/// The wire a dual-era client ends up on against [`served_wires`].
pub fn expected_wire() -> Wire {
    match served_wires() {
        Wires::Legacy => Wire::Legacy,
        _ => Wire::Modern,
    }
}

/// Where the (never contacted) browser would come back to; the testbed accepts any
/// loopback port for its clients (RFC 8252 §7.3).
pub const REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";

/// A testbed with `ttl` tokens and rotation as given.
pub async fn testbed(ttl: Duration, rotate: bool) -> Testbed {
    Testbed::start(bearerflow_testbed::Config {
        access_ttl: ttl,
        rotate_refresh_tokens: rotate,
        wires: served_wires(),
        ..Default::default()
    })
    .await
    .expect("the testbed starts on loopback")
}

/// An OAuth session config for the testbed; `can_authorize` gives it a redirect URI.
pub fn oauth_config(tb: &Handle, can_authorize: bool) -> Config {
    Config::oauth(
        tb.mcp_url(),
        OAuthConfig {
            redirect_uri: can_authorize.then(|| REDIRECT_URI.to_string()),
            ..OAuthConfig::default()
        },
    )
}

/// A snapshot with tokens minted just now for the default client.
pub fn minted_snapshot(tb: &Handle) -> Snapshot {
    let t = tb
        .issue_tokens_for_test("mcp:tools")
        .expect("the default client exists");
    let now = bearerflow_async::now().0;
    let ttl = u64::try_from(t.expires_in.as_millis()).unwrap_or(u64::MAX);
    Snapshot {
        revision: 0,
        client_issuer: None,
        version: bearerflow::session::SNAPSHOT_VERSION,
        tokens: Some(StoredTokens {
            issuer: None,
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            received_at: now,
            expires_at: Some(now + ttl),
            scope: Some(t.scope),
            generation: 1,
            refresh_at: None,
        }),
        client: Some(ClientRegistration::public(t.client_id)),
        server: Some(StoredServer {
            resource: None,
            requested_scope: None,
            issuer: tb.issuer(),
            token_endpoint: tb.token_endpoint(),
            authorization_endpoint: Some(tb.authorization_endpoint()),
            registration_endpoint: Some(tb.registration_endpoint()),
        }),
    }
}

/// A client for `config` restored from a snapshot the testbed just minted, that cannot
/// authorize (a previous process's tokens, nothing else), and the tokens' expiry in
/// unix ms.
pub async fn restored_client(tb: &Handle, config: Config) -> (Client, u64) {
    let snapshot = minted_snapshot(tb);
    let expires_at = snapshot
        .tokens
        .as_ref()
        .and_then(|t| t.expires_at)
        .expect("minted tokens have an expiry");
    let client = Client::builder(config)
        .store(bearerflow_async::MemoryStore::with(snapshot))
        .authorizer(bearerflow_async::NoAuthorize)
        .build()
        .await
        .expect("the client builds");
    (client, expires_at)
}

/// A connected MCP client over `client`, on the wire this run expects.
pub async fn mcp(client: &Client, tb: &Handle) -> Arc<McpClient> {
    let mcp = Arc::new(McpClient::new(client.clone(), tb.mcp_url()));
    let connected = mcp.connect().await.expect("connect succeeds");
    assert_eq!(connected.wire, expected_wire());
    assert_eq!(connected.server_name(), Some("bearerflow-testbed"));
    mcp
}

/// A raw `tools/call` of `echo` with `text`, as the wire in use wants it: the body and
/// the headers to add (a legacy session id, or the modern `_meta` and headers).
pub fn raw_echo(mcp: &McpClient, id: u64, text: &str) -> (String, Vec<(&'static str, String)>) {
    let mut params = serde_json::json!({"name": "echo", "arguments": {"text": text}});
    let version = mcp.protocol_version().expect("connected");
    let headers = match mcp.wire().expect("connected") {
        Wire::Legacy => vec![
            (
                "Mcp-Session-Id",
                mcp.session_id().expect("a legacy session"),
            ),
            ("MCP-Protocol-Version", version),
        ],
        _ => {
            params["_meta"] = serde_json::json!({
                "io.modelcontextprotocol/protocolVersion": version,
                "io.modelcontextprotocol/clientCapabilities": {},
            });
            vec![
                ("MCP-Protocol-Version", version),
                ("Mcp-Method", "tools/call".to_string()),
                ("Mcp-Name", "echo".to_string()),
            ]
        }
    };
    let body =
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    (body.to_string(), headers)
}

/// Run `n` concurrent `echo` calls; return (ok, errors as text).
pub async fn burst(mcp: &Arc<McpClient>, n: usize) -> (usize, Vec<String>) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let mcp = Arc::clone(mcp);
        tasks.push(tokio::spawn(async move {
            let text = format!("call {i}");
            let r = mcp
                .call_tool("echo", serde_json::json!({"text": text}))
                .await
                .map_err(|e| e.to_string())?;
            if r["content"][0]["text"] == text.as_str() {
                Ok(())
            } else {
                Err(format!("unexpected result {r}"))
            }
        }));
    }
    let mut ok = 0;
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("task: {e}")),
        }
    }
    (ok, errors)
}

/// Every event received so far.
pub fn drain_events(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// Sleep until `at` (unix ms), if it is in the future.
pub async fn sleep_until_unix_ms(at: u64) {
    let now = bearerflow_async::now().0;
    if at > now {
        tokio::time::sleep(Duration::from_millis(at - now)).await;
    }
}

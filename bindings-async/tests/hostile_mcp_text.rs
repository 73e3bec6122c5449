//! Issue 20, defects 2 and 3 on the MCP side: what an MCP server (or a proxy in front
//! of it) says reaches errors sanitized, and never with the credential the request
//! carried, even when the server echoes the `Authorization` header back in an error
//! body, a JSON-RPC error message, an SSE event or a result. Also: the middleware holds
//! the same limits as `Client::send`.

mod hostile;

use bearerflow::policy::Policy;
use bearerflow::session::{Config, OAuthConfig, Snapshot, StoredTokens, SNAPSHOT_VERSION};
use bearerflow::time::Millis;
use bearerflow_async::mcp::{McpClient, McpError};
use bearerflow_async::{
    BearerflowMiddleware, Client, Limit, LimitExceeded, MemoryStore, NoAuthorize,
};
use hostile::{Hostile, Reply};
use std::time::Duration;

const TOKEN: &str = "at-MCP-ECHO-SECRET-4242";
const TEST_DEADLINE: Duration = Duration::from_secs(60);

async fn client(server: &Hostile) -> Client {
    let now = bearerflow_async::now().0;
    let mut config = Config::oauth(server.url("/mcp"), OAuthConfig::default());
    config.policy = Policy {
        resource_deadline: Millis(2_000),
        max_resource_body: 64 << 10,
        ..Policy::default()
    };
    Client::builder(config)
        .store(MemoryStore::with(Snapshot {
            revision: 0,
            client_issuer: None,
            version: SNAPSHOT_VERSION,
            tokens: Some(StoredTokens {
                issuer: None,
                access_token: TOKEN.into(),
                refresh_token: None,
                received_at: now,
                expires_at: Some(now + 3_600_000),
                scope: None,
                generation: 1,
                refresh_at: None,
            }),
            client: None,
            server: None,
        }))
        .authorizer(NoAuthorize)
        .build()
        .await
        .expect("the client builds")
}

/// A scripted answer.
type Answer = dyn Fn(&hostile::Seen) -> Reply + Send + Sync;

/// The `Authorization` value a request carried, echoed the way a careless server would.
fn echo(r: &hostile::Seen) -> String {
    r.header("authorization").unwrap_or("").to_string()
}

fn assert_clean(text: &str) {
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
    assert!(!hostile::has_raw_control(text), "raw control: {text:?}");
}

async fn call(server: &Hostile) -> Result<serde_json::Value, McpError> {
    let client = client(server).await;
    let mcp = McpClient::new(client, server.url("/mcp"));
    tokio::time::timeout(TEST_DEADLINE, mcp.list_tools())
        .await
        .expect("bounded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_body_echoing_the_authorization_header_is_redacted() {
    let cases: Vec<Box<Answer>> = vec![
        // Plain text, with terminal escapes.
        Box::new(|r| {
            Reply::text(
                400,
                "text/plain",
                format!(
                    "\u{1b}]0;owned\u{7}bad header Authorization: {}\r\u{1b}[2K",
                    echo(r)
                ),
            )
        }),
        // An HTML page from a proxy.
        Box::new(|r| {
            Reply::text(
                502,
                "text/html",
                format!("<html><pre>Authorization: {}</pre></html>", echo(r)),
            )
        }),
        // JSON with the token spelled with escapes: decoded before it is looked for.
        Box::new(|r| {
            let escaped: String = echo(r)
                .chars()
                .map(|c| format!("\\u{:04x}", u32::from(c)))
                .collect();
            Reply::text(
                500,
                "application/json",
                format!(
                    r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":-32000,"message":"you sent {escaped}"}}}}"#
                ),
            )
        }),
        // A long body with the token far in: it is not read that far.
        Box::new(|r| {
            Reply::text(
                500,
                "text/plain",
                format!("{}{}", "x".repeat(100_000), echo(r)),
            )
        }),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let server = Hostile::start(move |r, _| case(r));
        let err = call(&server).await.expect_err("an error status");
        assert!(matches!(err, McpError::Status { .. }), "case {i}: {err}");
        let text = format!("{err} {err:?}");
        assert_clean(&text);
        if i < 3 {
            assert!(text.contains("[redacted]"), "case {i}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_errors_and_results_echoing_the_token_are_redacted_and_sanitized() {
    // A JSON-RPC error over HTTP 200, as JSON and as SSE.
    for sse in [false, true] {
        let server = Hostile::start(move |r, _| {
            let id = r.json()["id"].clone();
            let message = serde_json::json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": {"code": -32001, "message": format!("\u{1b}[2J\u{1b}]0;pwned\u{7}token {} rejected\r", echo(r))},
            });
            if sse {
                Reply::text(
                    200,
                    "text/event-stream",
                    format!("event: message\ndata: {message}\n\n"),
                )
            } else {
                Reply::json(200, message)
            }
        });
        let err = call(&server).await.expect_err("a JSON-RPC error");
        assert!(matches!(err, McpError::Rpc { code: -32001, .. }), "{err}");
        let text = err.to_string();
        assert_clean(&text);
        assert!(
            text.contains("\\u{1b}]0;pwned\\u{7}token [redacted] rejected"),
            "{text}"
        );
    }
    // A result that echoes it (a tool that returns the request's headers).
    let server = Hostile::start(|r, _| {
        let id = r.json()["id"].clone();
        Reply::json(
            200,
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [], "debug": {"headers": echo(r)}}}),
        )
    });
    let tools = call(&server).await.expect("a result");
    assert_eq!(tools["debug"]["headers"], "[redacted]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middleware_holds_the_same_limits() {
    let server = Hostile::start(|r, _| match r.path() {
        "/stall" => Reply::Stall,
        _ => Reply::Endless {
            headers: vec![("Content-Type".into(), "application/json".into())],
            chunk: vec![b' '; 16 << 10],
        },
    });
    let client = client(&server).await;
    let http = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder()
            .redirect(bearerflow_async::resource_redirect_policy())
            .build()
            .expect("a client"),
    )
    .with(BearerflowMiddleware::new(client))
    .build();
    let response = tokio::time::timeout(TEST_DEADLINE, http.get(server.url("/mcp")).send())
        .await
        .expect("bounded")
        .expect("headers arrive");
    let err = tokio::time::timeout(TEST_DEADLINE, response.bytes())
        .await
        .expect("bounded")
        .expect_err("the body limit");
    let limit = LimitExceeded::find(&err).expect("the limit in the chain");
    assert_eq!(
        (limit.limit, limit.value),
        (Limit::MaxResourceBody, 64 << 10)
    );
    let err = tokio::time::timeout(TEST_DEADLINE, http.get(server.url("/stall")).send())
        .await
        .expect("bounded")
        .expect_err("the deadline");
    let limit = match &err {
        reqwest_middleware::Error::Middleware(e) => match e.downcast_ref() {
            Some(bearerflow_async::Error::Limit(l)) => l.limit,
            _ => panic!("{err}"),
        },
        other => panic!("{other}"),
    };
    assert_eq!(limit, Limit::ResourceDeadline);
}

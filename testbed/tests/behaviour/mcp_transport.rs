//! Streamable HTTP details of /mcp: JSON or SSE framing, sessions, notifications,
//! protocol version, Origin checks and CORS.

use bearerflow_testbed::{Config, Testbed};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, ORIGIN};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

fn sse_message(body: &str) -> Value {
    assert!(body.starts_with("event: message\n"), "{body:?}");
    assert!(body.ends_with("\n\n"), "{body:?}");
    let data = body
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    serde_json::from_str(data).unwrap()
}

async fn post_with(tb: &Testbed, token: &str, accept: &str, body: Value) -> Response {
    http()
        .post(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(ACCEPT, accept)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sse_when_the_client_only_accepts_event_streams() {
    let tb = start(Config::default()).await;
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let resp = post_with(
        &tb,
        t.access_token.expose(),
        "text/event-stream",
        initialize_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/event-stream");
    assert!(resp.headers().contains_key("mcp-session-id"));
    let msg = sse_message(&resp.text().await.unwrap());
    assert_eq!(msg["id"], 1);
    assert_eq!(msg["result"]["serverInfo"]["name"], "bearerflow-testbed");
    assert_eq!(msg["result"]["capabilities"], json!({"tools": {}}));
    // Both accepted: JSON by default.
    let resp = post_with(
        &tb,
        t.access_token.expose(),
        "application/json, text/event-stream",
        initialize_request(),
    )
    .await;
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
    // Neither: 406.
    let resp = post_with(
        &tb,
        t.access_token.expose(),
        "text/html",
        initialize_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn prefer_sse_knob() {
    let tb = start(Config {
        prefer_sse: true,
        ..Config::default()
    })
    .await;
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let resp = post_with(
        &tb,
        t.access_token.expose(),
        "application/json, text/event-stream",
        initialize_request(),
    )
    .await;
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/event-stream");
    let msg = sse_message(&resp.text().await.unwrap());
    assert_eq!(msg["result"]["protocolVersion"], "2025-11-25");
    let resp = post_with(
        &tb,
        t.access_token.expose(),
        "application/json",
        initialize_request(),
    )
    .await;
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn get_is_405_but_only_after_authentication() {
    let tb = start(Config::default()).await;
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let resp = http().get(tb.mcp_url()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = http()
        .get(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {}", t.access_token.expose()))
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST, DELETE");
}

#[tokio::test]
async fn sessions_are_required_and_can_be_deleted() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let token = t.access_token.expose();
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
    let resp = mcp_post(&tb, &http, Some(token), None, list.clone()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "no session id");
    let resp = mcp_post(&tb, &http, Some(token), Some("nope"), list.clone()).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "unknown session id");
    let session = initialize(&tb, &http, token).await;
    let resp = mcp_post(&tb, &http, Some(token), Some(&session), list.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http
        .delete(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = mcp_post(&tb, &http, Some(token), Some(&session), list).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "terminated session");
}

#[tokio::test]
async fn sessions_can_be_optional() {
    let tb = start(Config {
        require_session: false,
        ..Config::default()
    })
    .await;
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let resp = mcp_post(
        &tb,
        &http(),
        Some(t.access_token.expose()),
        None,
        call(1, "add", json!({"a": 1.5, "b": 2})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "3.5");
}

#[tokio::test]
async fn jsonrpc_errors() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let token = t.access_token.expose();
    let session = initialize(&tb, &http, token).await;

    let resp = mcp_post(
        &tb,
        &http,
        Some(token),
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32601);
    let resp = mcp_post(
        &tb,
        &http,
        Some(token),
        Some(&session),
        call(2, "nope", json!({})),
    )
    .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32602);
    let resp = mcp_post(
        &tb,
        &http,
        Some(token),
        Some(&session),
        call(3, "echo", json!({"text": 5})),
    )
    .await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["result"]["isError"],
        true
    );
    let resp = mcp_post(
        &tb,
        &http,
        Some(token),
        Some(&session),
        json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = mcp_post(
        &tb,
        &http,
        Some(token),
        Some(&session),
        json!({"id": 1, "method": "ping"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = mcp_post(
        &tb,
        &http,
        Some(token),
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}),
    )
    .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["result"], json!({}));
    // A response from the client is accepted like a notification.
    let resp = mcp_post(
        &tb,
        &http,
        Some(token),
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 7, "result": {}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(resp.bytes().await.unwrap().is_empty());

    let resp = http
        .post(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/json")
        .header("mcp-session-id", &session)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32700);

    let resp = http
        .post(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "1999-01-01")
        .json(&json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "unsupported MCP-Protocol-Version"
    );
    assert_eq!(tb.counters().tool_calls, 1, "only the echo call ran");
}

#[tokio::test]
async fn origin_is_checked_and_cors_is_offered_to_loopback_pages() {
    let tb = start(Config::default()).await;
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let resp = http()
        .post(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {}", t.access_token.expose()))
        .header(ORIGIN, "https://evil.example")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let resp = http()
        .post(tb.mcp_url())
        .header(ORIGIN, "http://127.0.0.1:8000")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://127.0.0.1:8000"
    );
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("WWW-Authenticate") && exposed.contains("Mcp-Session-Id"));

    let resp = http()
        .request(reqwest::Method::OPTIONS, tb.mcp_url())
        .header(ORIGIN, "http://localhost:8000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let allowed = resp.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("Authorization"));
    assert_eq!(tb.counters().unauthorized, 1, "preflight is not a 401");
}

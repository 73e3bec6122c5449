//! The MCP 2026-07-28 wire of /mcp: `server/discover`, per-request `_meta` and headers
//! checked as "Server Validation" says, version negotiation errors, MRTR, `x-mcp-header`
//! parameters; and how a legacy-only or modern-only testbed answers the other era.

use bearerflow_testbed::{Config, Testbed, Wires};
use reqwest::header::AUTHORIZATION;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

const V: &str = "2026-07-28";

fn meta(version: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "behaviour-test", "version": "0"},
    })
}

/// A modern request: body with `_meta`, and the headers given (name, value).
async fn modern(
    tb: &Testbed,
    token: &str,
    method: &str,
    mut params: Value,
    headers: &[(&str, &str)],
) -> Response {
    if params.get("_meta").is_none() {
        params["_meta"] = meta(V);
    }
    let mut req = http()
        .post(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn error_of(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    (status, body["error"].clone())
}

async fn started(config: Config) -> (Testbed, String) {
    let tb = start(config).await;
    let token = tb
        .issue_tokens_for_test("mcp:tools")
        .unwrap()
        .access_token
        .expose()
        .to_string();
    (tb, token)
}

#[tokio::test]
async fn discover_and_tools_are_stateless_with_result_types() {
    let (tb, t) = started(Config::default()).await;
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "server/discover"),
    ];
    let resp = modern(&tb, &t, "server/discover", json!({}), &h).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("mcp-session-id").is_none());
    let body: Value = resp.json().await.unwrap();
    let r = &body["result"];
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["supportedVersions"][0], V);
    assert!(r["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2025-11-25")));
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "bearerflow-testbed"
    );
    assert_eq!(
        (r["ttlMs"].clone(), r["cacheScope"].clone()),
        (json!(0), json!("private"))
    );

    let h = [("mcp-protocol-version", V), ("mcp-method", "tools/list")];
    let body: Value = modern(&tb, &t, "tools/list", json!({}), &h)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["tools"][0]["name"], "echo");

    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        // Ignored on this wire.
        ("mcp-session-id", "no-such-session"),
    ];
    let args = json!({"name": "echo", "arguments": {"text": "hi"}});
    let body: Value = modern(&tb, &t, "tools/call", args, &h)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "hi");
    assert_eq!(body["result"]["resultType"], "complete");
    let c = tb.counters();
    assert_eq!((c.modern_requests, c.discovers, c.tool_calls), (3, 1, 1));
    assert_eq!((c.initializations, c.wire_rejections), (0, 0));
}

#[tokio::test]
async fn missing_or_mismatched_metadata_is_refused_with_modern_errors() {
    let (tb, t) = started(Config::default()).await;
    let ok = [("mcp-protocol-version", V), ("mcp-method", "tools/list")];

    // No version header, but modern _meta: a modern request missing a header.
    let (s, e) = error_of(modern(&tb, &t, "tools/list", json!({}), &ok[1..]).await).await;
    assert_eq!(
        (s, e["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020))
    );

    // Header but _meta without clientCapabilities.
    let params = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": V}});
    let (s, e) = error_of(modern(&tb, &t, "tools/list", params, &ok).await).await;
    assert_eq!(
        (s, e["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32602))
    );
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("io.modelcontextprotocol/clientCapabilities"));

    // Header and _meta disagree.
    let params = json!({"_meta": meta("2026-01-01")});
    let (_, e) = error_of(modern(&tb, &t, "tools/list", params, &ok).await).await;
    assert_eq!(e["code"], -32020);

    // A version the server does not implement: -32022 with what it supports.
    let params = json!({"_meta": meta("2099-01-01")});
    let h = [
        ("mcp-protocol-version", "2099-01-01"),
        ("mcp-method", "tools/list"),
    ];
    let (s, e) = error_of(modern(&tb, &t, "tools/list", params, &h).await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["code"], -32022);
    assert_eq!(e["data"]["requested"], "2099-01-01");
    assert_eq!(e["data"]["supported"][0], V);

    // Mcp-Method missing or wrong.
    let (_, e) = error_of(
        modern(
            &tb,
            &t,
            "tools/list",
            json!({}),
            &[("mcp-protocol-version", V)],
        )
        .await,
    )
    .await;
    assert_eq!(e["code"], -32020);
    let h = [("mcp-protocol-version", V), ("mcp-method", "Tools/List")];
    let (_, e) = error_of(modern(&tb, &t, "tools/list", json!({}), &h).await).await;
    assert_eq!(e["code"], -32020);

    // Mcp-Name missing, wrong, or right in Base64.
    let call = json!({"name": "echo", "arguments": {"text": "x"}});
    let h = [("mcp-protocol-version", V), ("mcp-method", "tools/call")];
    let (_, e) = error_of(modern(&tb, &t, "tools/call", call.clone(), &h).await).await;
    assert_eq!(e["code"], -32020);
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "add"),
    ];
    let (_, e) = error_of(modern(&tb, &t, "tools/call", call.clone(), &h).await).await;
    assert_eq!(e["code"], -32020);
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?ZWNobw==?="),
    ];
    let resp = modern(&tb, &t, "tools/call", call, &h).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Unknown methods are 404 with -32601.
    let h = [("mcp-protocol-version", V), ("mcp-method", "nope/nothing")];
    let (s, e) = error_of(modern(&tb, &t, "nope/nothing", json!({}), &h).await).await;
    assert_eq!(
        (s, e["code"].clone()),
        (StatusCode::NOT_FOUND, json!(-32601))
    );

    let c = tb.counters();
    assert_eq!(c.wire_rejections, 8);
    assert_eq!(c.tool_calls, 1);
}

#[tokio::test]
async fn a_legacy_only_server_refuses_modern_requests_without_a_modern_error() {
    let (tb, t) = started(Config {
        wires: Wires::Legacy,
        ..Config::default()
    })
    .await;
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "server/discover"),
    ];
    let (s, e) = error_of(modern(&tb, &t, "server/discover", json!({}), &h).await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["code"], -32600, "not one of -32020..-32022: {e}");
    // The legacy handshake still works.
    initialize(&tb, &http(), &t).await;
    assert_eq!(tb.counters().modern_requests, 0);
}

#[tokio::test]
async fn a_modern_only_server_refuses_initialize_naming_its_versions() {
    let (tb, t) = started(Config {
        wires: Wires::Modern,
        ..Config::default()
    })
    .await;
    let resp = mcp_post(&tb, &http(), Some(&t), None, initialize_request()).await;
    let (s, e) = error_of(resp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().unwrap().contains(V), "{e}");
    // No sessions to delete on this wire.
    let resp = http()
        .delete(tb.mcp_url())
        .header(AUTHORIZATION, format!("Bearer {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // And the discover list names the modern version only.
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "server/discover"),
    ];
    let body: Value = modern(&tb, &t, "server/discover", json!({}), &h)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["supportedVersions"], json!([V]));
}

#[tokio::test]
async fn confirm_asks_for_input_and_completes_on_the_retry() {
    let (tb, t) = started(Config {
        modern_feature_tools: true,
        ..Config::default()
    })
    .await;
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "confirm"),
    ];
    // Without the elicitation capability: -32021.
    let call = json!({"name": "confirm", "arguments": {"text": "go"}});
    let (s, e) = error_of(modern(&tb, &t, "tools/call", call.clone(), &h).await).await;
    assert_eq!(
        (s, e["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32021))
    );
    assert!(e["data"]["requiredCapabilities"]["elicitation"].is_object());

    let mut with_cap = call.clone();
    with_cap["_meta"] = meta(V);
    with_cap["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({"elicitation": {}});
    let body: Value = modern(&tb, &t, "tools/call", with_cap.clone(), &h)
        .await
        .json()
        .await
        .unwrap();
    let r = &body["result"];
    assert_eq!(r["resultType"], "input_required");
    assert_eq!(
        r["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );
    let state = r["requestState"].as_str().unwrap().to_string();

    // The retry with the answer and the exact state completes.
    let mut retry = with_cap.clone();
    retry["inputResponses"] =
        json!({"confirm": {"action": "accept", "content": {"confirmed": true}}});
    retry["requestState"] = json!(state);
    let body: Value = modern(&tb, &t, "tools/call", retry.clone(), &h)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "confirmed: go");
    assert_eq!(body["result"]["resultType"], "complete");

    // A changed state is refused.
    retry["requestState"] = json!(format!("{state}x"));
    let body: Value = modern(&tb, &t, "tools/call", retry, &h)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(tb.counters().input_required, 1);
}

#[tokio::test]
async fn annotated_parameters_must_be_mirrored_into_headers() {
    let (tb, t) = started(Config {
        modern_feature_tools: true,
        ..Config::default()
    })
    .await;
    let call = json!({"name": "echo_region", "arguments": {"region": "eu west", "text": "hi"}});
    let base = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo_region"),
    ];
    let (_, e) = error_of(modern(&tb, &t, "tools/call", call.clone(), &base).await).await;
    assert_eq!(e["code"], -32020, "missing Mcp-Param-Region");
    let mut h = base.to_vec();
    h.push(("mcp-param-region", "us-east"));
    let (_, e) = error_of(modern(&tb, &t, "tools/call", call.clone(), &h).await).await;
    assert_eq!(e["code"], -32020, "wrong Mcp-Param-Region");
    h.pop();
    h.push(("Mcp-Param-Region", "eu west"));
    let body: Value = modern(&tb, &t, "tools/call", call, &h)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "hi @ eu west");
    // A header for an absent argument is a mismatch too.
    let call = json!({"name": "echo_region", "arguments": {"text": "hi"}});
    let (_, e) = error_of(modern(&tb, &t, "tools/call", call, &h).await).await;
    assert_eq!(e["code"], -32020);
}

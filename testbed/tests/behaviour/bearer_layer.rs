//! `Config::bearer_layer`: `/mcp` guarded by bearerflow-server's layer, answering with
//! core's refusals; the tool `upstream_echo` turns an expired upstream token into a
//! `401` instead of a JSON-RPC error; tokens for another resource (`extra_resources`)
//! are refused here and introspect with that resource as audience.

use std::time::Duration;

use bearerflow_testbed::Config;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

const OTHER: &str = "http://127.0.0.1:9/other-mcp";

fn layered() -> Config {
    Config {
        bearer_layer: true,
        extra_resources: vec![OTHER.into()],
        access_ttl: Duration::from_secs(60),
        ..Config::default()
    }
}

fn challenge(resp: &reqwest::Response) -> String {
    resp.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_string()
}

fn invalid_token(tb: &bearerflow_testbed::Testbed, description: &str) -> String {
    format!(
        r#"Bearer error="invalid_token", error_description="{description}", resource_metadata="{}""#,
        tb.resource_metadata_url()
    )
}

/// The check list of the open conformance proposal for server token validation.
#[tokio::test]
async fn the_layer_keeps_the_conformance_check_list() {
    let tb = start(layered()).await;
    let http = http();
    // Unauthenticated: rejected, told where to discover.
    let resp = mcp_post(&tb, &http, None, None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp),
        format!(
            r#"Bearer resource_metadata="{}""#,
            tb.resource_metadata_url()
        )
    );
    // Valid audience: accepted.
    let good = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let session = initialize(&tb, &http, good.access_token.expose()).await;
    assert!(!session.is_empty());
    // Wrong audience: a genuine token of this server, for another resource.
    let foreign = tb.issue_tokens_for_resource("mcp:tools", OTHER).unwrap();
    let resp = mcp_post(
        &tb,
        &http,
        Some(foreign.access_token.expose()),
        None,
        initialize_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp),
        invalid_token(&tb, "the access token was issued for another resource")
    );
    // Untrusted: unknown to this server.
    let resp = mcp_post(&tb, &http, Some("forged-token"), None, initialize_request()).await;
    assert_eq!(
        challenge(&resp),
        invalid_token(&tb, "the access token is not valid")
    );
    // Expired.
    tb.faults().advance_clock(Duration::from_secs(61));
    let resp = mcp_post(
        &tb,
        &http,
        Some(good.access_token.expose()),
        None,
        initialize_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp),
        invalid_token(&tb, "the access token expired")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": "the access token expired"})
    );
    // Every refusal was counted as the testbed counts its own.
    let c = tb.counters();
    assert_eq!(c.unauthorized, 4);
    assert!(c.mcp_requests >= 6);
}

#[tokio::test]
async fn an_expired_upstream_token_is_a_401_on_both_framings() {
    for prefer_sse in [false, true] {
        let tb = start(Config {
            prefer_sse,
            ..layered()
        })
        .await;
        let http = http();
        let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
        let access = t.access_token.expose();
        // `initialize` on either framing: the session id is a header.
        let resp = mcp_post(&tb, &http, Some(access), None, initialize_request()).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let sse = resp.headers()["content-type"] == "text/event-stream";
        assert_eq!(sse, prefer_sse);
        let session = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_string();
        let resp = mcp_post(
            &tb,
            &http,
            Some(access),
            Some(&session),
            call(2, "upstream_echo", json!({"text": "a"})),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.text().await.unwrap().contains("\"a\""));

        assert_eq!(tb.expire_upstream_tokens(), 1);
        let resp = mcp_post(
            &tb,
            &http,
            Some(access),
            Some(&session),
            call(3, "upstream_echo", json!({"text": "b"})),
        )
        .await;
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "prefer_sse {prefer_sse}"
        );
        assert_eq!(
            challenge(&resp),
            invalid_token(&tb, "the access token expired upstream; renew it and retry")
        );
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("jsonrpc"),
            "no JSON-RPC error reaches the client: {body}"
        );
        // Other tools still work with the same token; a renewed token works upstream.
        let resp = mcp_post(
            &tb,
            &http,
            Some(access),
            Some(&session),
            call(4, "echo", json!({"text": "c"})),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let renewed = tb.issue_tokens_for_test("mcp:tools").unwrap();
        let resp = mcp_post(
            &tb,
            &http,
            Some(renewed.access_token.expose()),
            Some(&session),
            call(5, "upstream_echo", json!({"text": "d"})),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let c = tb.counters();
        assert_eq!(c.upstream_expired, 1);
        assert_eq!(c.unauthorized, 1);
    }
}

#[tokio::test]
async fn the_tool_list_grows_only_with_the_layer_and_introspection_names_the_resource() {
    let plain = start(Config::default()).await;
    let http = http();
    let t = plain.issue_tokens_for_test("mcp:tools").unwrap();
    let session = initialize(&plain, &http, t.access_token.expose()).await;
    let list: Value = mcp_post(
        &plain,
        &http,
        Some(t.access_token.expose()),
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 2);

    let tb = start(layered()).await;
    let foreign = tb.issue_tokens_for_resource("mcp:tools", OTHER).unwrap();
    let (status, _, body) = json_of(
        post_form(
            &http,
            &tb.introspection_endpoint(),
            &[("token", foreign.access_token.expose())],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], OTHER);
    assert!(tb
        .issue_tokens_for_resource("mcp:tools", "http://127.0.0.1:9/nope")
        .is_err());
}

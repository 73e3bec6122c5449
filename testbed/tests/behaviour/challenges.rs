//! 401 and 403 answers from /mcp carry `WWW-Authenticate: Bearer` challenges that
//! bearerflow parses strictly (RFC 6750 §3, RFC 9728 §5.1).

use bearerflow::challenge::{find_bearer, BearerError};
use bearerflow_testbed::Config;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

async fn with_header(tb: &bearerflow_testbed::Testbed, value: Option<&str>) -> Response {
    let mut req = http()
        .post(tb.mcp_url())
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_request());
    if let Some(v) = value {
        req = req.header(AUTHORIZATION, v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn missing_credentials_get_a_challenge_without_error() {
    let tb = start(Config::default()).await;
    for header in [None, Some("Basic dXNlcjpwYXNz")] {
        let resp = with_header(&tb, header).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let c = bearer_challenge(&resp);
        assert_eq!(
            c.error, None,
            "RFC 6750 §3.1: no error code without credentials"
        );
        assert_eq!(c.error_description, None);
        assert_eq!(c.resource_metadata, Some(tb.resource_metadata_url()));
        assert_eq!(c.scope.as_deref(), Some("mcp:tools"));
    }
    assert_eq!(tb.counters().unauthorized, 2);
    assert_eq!(tb.counters().mcp_requests, 2);
}

#[tokio::test]
async fn bad_tokens_get_invalid_token_with_a_reason() {
    let tb = start(Config::default()).await;
    let revoked = tb.issue_tokens_for_test("mcp:tools").unwrap();
    tb.revoke_all();
    let revoked_header = format!("Bearer {}", revoked.access_token.expose());
    let cases = [
        ("Bearer", "empty bearer token"),
        ("Bearer a b", "b64token"),
        ("Bearer\tabc", "space"),
        ("Bearer unknown-token", "not known"),
        (revoked_header.as_str(), "revoked"),
    ];
    for (header, reason) in cases {
        let resp = with_header(&tb, Some(header)).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
        let c = bearer_challenge(&resp);
        assert_eq!(c.error, Some(BearerError::InvalidToken), "{header}");
        let d = c.error_description.unwrap();
        assert!(d.contains(reason), "{header}: {d}");
        assert!(
            !d.contains(revoked.access_token.expose()),
            "the token never appears in errors"
        );
        assert_eq!(c.resource_metadata, Some(tb.resource_metadata_url()));
        // The JSON body says the same.
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    // Lenient lookup, as the session machine does it, finds the same challenge.
    let resp = with_header(&tb, Some("Bearer nope")).await;
    let line = resp.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_string();
    let b = find_bearer(&[&line]).unwrap();
    assert_eq!(b.error, Some(BearerError::InvalidToken));
}

#[tokio::test]
async fn challenge_params_can_be_switched_off() {
    let tb = start(Config {
        resource_metadata_in_challenge: false,
        scope_in_challenge: false,
        ..Config::default()
    })
    .await;
    let resp = with_header(&tb, None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()[WWW_AUTHENTICATE], "Bearer");
    let c = bearer_challenge(&resp);
    assert_eq!(c.resource_metadata, None);
    assert_eq!(c.scope, None);
}

#[tokio::test]
async fn a_scoped_tool_answers_403_insufficient_scope() {
    let tb = start(Config {
        extra_scope_tool: Some(("admin_echo".into(), "mcp:admin".into())),
        ..Config::default()
    })
    .await;
    let http = http();
    let narrow = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let access = narrow.access_token.expose();
    let session = initialize(&tb, &http, access).await;
    let list: Value = mcp_post(
        &tb,
        &http,
        Some(access),
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["result"]["tools"][2]["name"], "admin_echo");

    let resp = mcp_post(
        &tb,
        &http,
        Some(access),
        Some(&session),
        call(3, "admin_echo", json!({"text": "x"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let c = bearer_challenge(&resp);
    assert_eq!(c.error, Some(BearerError::InsufficientScope));
    assert_eq!(
        c.scopes().collect::<Vec<_>>(),
        ["mcp:tools", "mcp:admin"],
        "granted plus needed"
    );
    assert_eq!(c.resource_metadata, Some(tb.resource_metadata_url()));
    assert!(c.error_description.unwrap().contains("mcp:admin"));
    // Other tools still work with the narrow token.
    let resp = mcp_post(
        &tb,
        &http,
        Some(access),
        Some(&session),
        call(4, "echo", json!({"text": "y"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);

    // After step-up the tool works.
    let wide = tb.issue_tokens_for_test("mcp:tools mcp:admin").unwrap();
    let resp = mcp_post(
        &tb,
        &http,
        Some(wide.access_token.expose()),
        Some(&session),
        call(5, "admin_echo", json!({"text": "z"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "z");
    let c = tb.counters();
    assert_eq!(c.forbidden, 1);
    assert_eq!(c.tool_calls, 2);
}

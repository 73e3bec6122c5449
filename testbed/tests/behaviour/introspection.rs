//! RFC 7662 introspection (so other resource servers can verify testbed tokens) and
//! RFC 7009 revocation.

use std::time::Duration;

use bearerflow_testbed::{Config, Testbed};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

async fn introspect(tb: &Testbed, token: &str) -> Value {
    let (status, _, body) =
        json_of(post_form(&http(), &tb.introspection_endpoint(), &[("token", token)]).await).await;
    assert_eq!(status, StatusCode::OK);
    body
}

#[tokio::test]
async fn active_tokens_describe_themselves() {
    let tb = start(Config {
        access_ttl: Duration::from_secs(30),
        ..Config::default()
    })
    .await;
    let t = tb.issue_tokens_for_test("mcp:tools mcp:admin").unwrap();
    let doc = introspect(&tb, t.access_token.expose()).await;
    assert_eq!(doc["active"], true);
    assert_eq!(doc["scope"], "mcp:tools mcp:admin");
    assert_eq!(doc["client_id"], tb.default_client_id());
    assert_eq!(doc["aud"], tb.mcp_url());
    assert_eq!(doc["token_type"], "Bearer");
    assert_eq!(doc["iss"], tb.issuer());
    let exp = doc["exp"].as_u64().unwrap();
    let iat = doc["iat"].as_u64().unwrap();
    assert!((29..=31).contains(&(exp - iat)), "exp {exp} iat {iat}");

    let doc = introspect(&tb, t.refresh_token.as_ref().unwrap().expose()).await;
    assert_eq!(doc["active"], true);
    assert_eq!(doc["token_type"], "refresh_token");

    assert_eq!(
        introspect(&tb, "no-such-token").await,
        serde_json::json!({"active": false})
    );
    tb.faults().advance_clock(Duration::from_secs(31));
    assert_eq!(
        introspect(&tb, t.access_token.expose()).await["active"],
        false
    );
    assert_eq!(tb.counters().introspections, 4);
}

#[tokio::test]
async fn introspection_needs_a_token_parameter() {
    let tb = start(Config::default()).await;
    let (status, _, body) =
        json_of(post_form(&http(), &tb.introspection_endpoint(), &[]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let keep = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let resp = post_form(
        &http,
        &tb.revocation_endpoint(),
        &[("token", t.refresh_token.as_ref().unwrap().expose())],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        introspect(&tb, t.access_token.expose()).await["active"],
        false
    );
    assert_eq!(
        introspect(&tb, keep.access_token.expose()).await["active"],
        true
    );
    let resp = mcp_post(
        &tb,
        &http,
        Some(t.access_token.expose()),
        None,
        initialize_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Unknown tokens are fine (RFC 7009 §2.2).
    let resp = post_form(&http, &tb.revocation_endpoint(), &[("token", "whatever")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(tb.counters().revocations, 2);
}

//! Access tokens stop working at their lifetime, with millisecond precision.

use std::time::Duration;

use bearerflow::challenge::BearerError;
use bearerflow_testbed::Config;
use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn a_sub_second_token_expires_on_the_real_clock() {
    let tb = start(Config {
        access_ttl: Duration::from_millis(500),
        ..Config::default()
    })
    .await;
    let http = http();
    let (client_id, t) = full_flow(&tb, &http, None).await;
    assert_eq!(t.body["expires_in"], 1, "sub-second lifetimes round up");
    let resp = mcp_post(&tb, &http, Some(&t.access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(600)).await;
    let resp = mcp_post(&tb, &http, Some(&t.access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = bearer_challenge(&resp);
    assert_eq!(challenge.error, Some(BearerError::InvalidToken));
    assert_eq!(
        challenge.error_description.as_deref(),
        Some("The access token expired")
    );

    // The refresh token still works and gives a fresh access token.
    let (status, _, body) =
        json_of(refresh(&tb, &http, &client_id, t.refresh.as_deref().unwrap()).await).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = body["access_token"].as_str().unwrap();
    let resp = mcp_post(&tb, &http, Some(fresh), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn advancing_the_clock_expires_tokens_without_sleeping() {
    let tb = start(Config {
        access_ttl: Duration::from_secs(5),
        ..Config::default()
    })
    .await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    assert_eq!(t.expires_in, Duration::from_secs(5));
    let access = t.access_token.expose();
    let resp = mcp_post(&tb, &http, Some(access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    tb.faults().advance_clock(Duration::from_millis(4_900));
    let resp = mcp_post(&tb, &http, Some(access), None, initialize_request()).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "still valid 100 ms before expiry"
    );
    tb.faults().advance_clock(Duration::from_millis(200));
    let resp = mcp_post(&tb, &http, Some(access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(tb.counters().unauthorized, 1);
}

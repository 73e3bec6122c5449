//! Fault injection on the token endpoint and global revocation.

use std::time::{Duration, Instant};

use bearerflow_testbed::{Config, DropMode};
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn failures_500_and_503_do_not_consume_the_refresh_token() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let r = t.refresh_token.unwrap();
    tb.faults().fail_next_token_calls(2);
    for _ in 0..2 {
        let (status, _, body) = json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "server_error");
    }
    tb.faults()
        .unavailable_next_token_calls(1, Duration::from_secs(3));
    let (status, headers, body) =
        json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[RETRY_AFTER], "3");
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, _, _) = json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "faults are used up; the token was never spent"
    );
    let c = tb.counters();
    assert_eq!(c.token_refresh, 4);
    assert_eq!(c.token_errors, 3);
}

#[tokio::test]
async fn injected_invalid_grant_leaves_the_token_valid() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let r = t.refresh_token.unwrap();
    tb.faults().invalid_grant_next_refresh_calls(1);
    let (status, _, body) = json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _, _) = json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_dropped_rotation_500_leaves_the_client_with_a_dead_token() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let r = t.refresh_token.unwrap();
    tb.faults()
        .drop_next_refresh_responses(1, DropMode::Status500);
    let resp = refresh(&tb, &http, &t.client_id, r.expose()).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.bytes().await.unwrap().is_empty(), "no body");
    // The server rotated: the client's token is now a reused one.
    let (status, _, body) = json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let c = tb.counters();
    assert_eq!(c.refresh_reuse_detected, 1);
    assert_eq!(c.token_errors, 2);
}

#[tokio::test]
async fn a_dropped_rotation_can_close_the_connection() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let r = t.refresh_token.unwrap();
    tb.faults()
        .drop_next_refresh_responses(1, DropMode::CloseConnection);
    let outcome = http
        .post(tb.token_endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", r.expose()),
            ("client_id", &t.client_id),
        ]))
        .send()
        .await;
    let lost = match outcome {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(lost, "the response never arrives whole");
    let (status, _, _) = json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(tb.counters().refresh_reuse_detected, 1);
}

#[tokio::test]
async fn token_delay_holds_the_answer() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    tb.faults().set_token_delay(Duration::from_millis(300));
    let started = Instant::now();
    let resp = refresh(&tb, &http, &t.client_id, t.refresh_token.unwrap().expose()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    tb.faults().clear();
}

#[tokio::test]
async fn revoke_all_kills_existing_tokens_only() {
    let tb = start(Config::default()).await;
    let http = http();
    let old = tb.issue_tokens_for_test("mcp:tools").unwrap();
    tb.faults().revoke_all();
    let resp = mcp_post(
        &tb,
        &http,
        Some(old.access_token.expose()),
        None,
        initialize_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _, _) = json_of(
        refresh(
            &tb,
            &http,
            &old.client_id,
            old.refresh_token.unwrap().expose(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let new = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let resp = mcp_post(
        &tb,
        &http,
        Some(new.access_token.expose()),
        None,
        initialize_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

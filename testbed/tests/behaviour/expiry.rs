//! Access tokens stop working at their lifetime, with millisecond precision.
//!
//! On the real clock a check that a token is still valid is only meaningful when the
//! machine was fast enough to use it inside its lifetime, so that check is repeated
//! until a try was; the check that it expired waits past the lifetime and cannot be
//! hurt by a slow machine.

use std::time::{Duration, Instant};

use bearerflow::challenge::BearerError;
use bearerflow_testbed::{Config, Testbed};
use reqwest::StatusCode;

use crate::common::*;

/// Refresh for a fresh access token and use it at once, until a try's round trip
/// (refresh + call) fits well inside the token's lifetime: only such a try says
/// anything about a token that should still be valid, and on a loaded machine one may
/// not. Returns the access token and the moment that call's answer arrived (the
/// token was issued before it).
async fn a_token_used_while_it_lives(
    tb: &Testbed,
    http: &reqwest::Client,
    client_id: &str,
    refresh_token: &mut String,
    lifetime: Duration,
) -> (String, Instant) {
    for _ in 0..50 {
        let asked = Instant::now();
        let (status, _, body) = json_of(refresh(tb, http, client_id, refresh_token).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let t = tokens_of(body);
        if let Some(rotated) = t.refresh {
            *refresh_token = rotated;
        }
        let resp = mcp_post(tb, http, Some(&t.access), None, initialize_request()).await;
        let answered = Instant::now();
        if answered - asked < lifetime * 9 / 10 {
            assert_eq!(
                resp.status(),
                StatusCode::OK,
                "a token used {:?} after it was asked for, with a {lifetime:?} lifetime",
                answered - asked
            );
            return (t.access, answered);
        }
    }
    panic!("no refresh + call round trip within {lifetime:?} in 50 tries");
}

#[tokio::test]
async fn a_sub_second_token_expires_on_the_real_clock() {
    let lifetime = Duration::from_millis(500);
    let tb = start(Config {
        access_ttl: lifetime,
        ..Config::default()
    })
    .await;
    let http = http();
    let (client_id, t) = full_flow(&tb, &http, None).await;
    assert_eq!(t.body["expires_in"], 1, "sub-second lifetimes round up");
    let mut rt = t.refresh.expect("a refresh token");

    // Valid while it lives ...
    let (access, answered) =
        a_token_used_while_it_lives(&tb, &http, &client_id, &mut rt, lifetime).await;
    // ... and refused once its real lifetime has passed: it was issued before
    // `answered`, so 600 ms after that it is surely past its 500 ms.
    tokio::time::sleep_until((answered + Duration::from_millis(600)).into()).await;
    let resp = mcp_post(&tb, &http, Some(&access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = bearer_challenge(&resp);
    assert_eq!(challenge.error, Some(BearerError::InvalidToken));
    assert_eq!(
        challenge.error_description.as_deref(),
        Some("The access token expired")
    );

    // The refresh token still works and gives a fresh access token.
    let _ = a_token_used_while_it_lives(&tb, &http, &client_id, &mut rt, lifetime).await;
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

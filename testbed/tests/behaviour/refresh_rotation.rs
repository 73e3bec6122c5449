//! Refresh tokens: rotation, reuse detection that revokes the family (RFC 9700
//! §4.14.2), no-rotation mode, lifetimes, scope narrowing.

use std::time::Duration;

use bearerflow_testbed::Config;
use reqwest::StatusCode;

use crate::common::*;

async fn mcp_status(tb: &bearerflow_testbed::Testbed, token: &str) -> StatusCode {
    mcp_post(tb, &http(), Some(token), None, initialize_request())
        .await
        .status()
}

#[tokio::test]
async fn rotation_then_reuse_revokes_the_whole_family() {
    let tb = start(Config::default()).await;
    let http = http();
    let (client_id, first) = full_flow(&tb, &http, None).await;
    let r1 = first.refresh.clone().unwrap();

    let (status, _, body) = json_of(refresh(&tb, &http, &client_id, &r1).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = tokens_of(body);
    let r2 = second
        .refresh
        .clone()
        .expect("rotation issues a new refresh token");
    assert_ne!(r1, r2);
    assert_ne!(first.access, second.access);
    assert_eq!(mcp_status(&tb, &second.access).await, StatusCode::OK);

    let (status, _, body) = json_of(refresh(&tb, &http, &client_id, &r2).await).await;
    assert_eq!(status, StatusCode::OK);
    let third = tokens_of(body);
    let r3 = third.refresh.clone().unwrap();

    // r1 again: reuse. The family dies: every access token and the newest refresh token.
    let (status, _, body) = json_of(refresh(&tb, &http, &client_id, &r1).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("reuse")
            || body["error_description"]
                .as_str()
                .unwrap()
                .contains("already used"),
        "{body}"
    );
    for access in [&first.access, &second.access, &third.access] {
        assert_eq!(mcp_status(&tb, access).await, StatusCode::UNAUTHORIZED);
    }
    let (status, _, body) = json_of(refresh(&tb, &http, &client_id, &r3).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let c = tb.counters();
    assert_eq!(c.token_refresh, 4);
    assert_eq!(c.refresh_reuse_detected, 1);
    assert_eq!(c.token_errors, 2);

    // Other families are untouched.
    let (_, other) = full_flow(&tb, &http, None).await;
    assert_eq!(mcp_status(&tb, &other.access).await, StatusCode::OK);
}

#[tokio::test]
async fn without_rotation_the_refresh_token_is_kept() {
    let tb = start(Config {
        rotate_refresh_tokens: false,
        ..Config::default()
    })
    .await;
    let http = http();
    let (client_id, first) = full_flow(&tb, &http, None).await;
    let r = first.refresh.unwrap();
    for _ in 0..3 {
        let (status, _, body) = json_of(refresh(&tb, &http, &client_id, &r).await).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.get("refresh_token").is_none(),
            "RFC 6749 §6: keep the old one"
        );
        assert_eq!(
            mcp_status(&tb, body["access_token"].as_str().unwrap()).await,
            StatusCode::OK
        );
    }
    assert_eq!(tb.counters().refresh_reuse_detected, 0);
}

#[tokio::test]
async fn refresh_tokens_expire_after_their_ttl() {
    let tb = start(Config {
        refresh_ttl: Some(Duration::from_secs(60)),
        ..Config::default()
    })
    .await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let r = t.refresh_token.unwrap();
    tb.faults().advance_clock(Duration::from_secs(61));
    let (status, _, body) = json_of(refresh(&tb, &http, &t.client_id, r.expose()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test]
async fn refresh_may_narrow_but_not_widen_scope() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools mcp:admin").unwrap();
    assert_eq!(t.scope, "mcp:tools mcp:admin");
    let r = t.refresh_token.unwrap();
    let (status, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", r.expose()),
                ("client_id", &t.client_id),
                ("scope", "mcp:tools"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "mcp:tools");
    let r2 = body["refresh_token"].as_str().unwrap().to_string();
    let (status, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r2),
                ("client_id", &t.client_id),
                ("scope", "mcp:tools other"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");
    // A wrong resource is invalid_target (RFC 8707 §2).
    let (_, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r2),
                ("client_id", &t.client_id),
                ("resource", "https://other.example/"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(body["error"], "invalid_target");
}

#[tokio::test]
async fn a_refresh_token_only_works_for_its_client() {
    let tb = start(Config::default()).await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let other = register_public(&tb, &http).await;
    let (status, _, body) =
        json_of(refresh(&tb, &http, &other, t.refresh_token.unwrap().expose()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_trip_reuse_detection() {
    // What a client without single flight does: several refreshes with the same
    // refresh token at once. One wins; the next is reuse and revokes the family, so
    // even the winner's tokens die.
    let tb = start(Config::default()).await;
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let r = t.refresh_token.unwrap().expose().to_string();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (url, id, r) = (tb.token_endpoint(), t.client_id.clone(), r.clone());
        tasks.push(tokio::spawn(async move {
            post_form(
                &http(),
                &url,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &r),
                    ("client_id", &id),
                ],
            )
            .await
            .status()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(tb.counters().refresh_reuse_detected, 1);
    assert_eq!(tb.counters().token_refresh, 4);
}

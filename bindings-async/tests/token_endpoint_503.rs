//! The token endpoint answers 503 with `Retry-After` while the access token is still
//! valid: calls keep going out with the current token, the refresh is retried after the
//! server's delay, and no call fails.
//!
//! The test calls every 250 ms until the refresh has succeeded (with a generous
//! deadline), so a slow machine makes it run longer, never fail; what it checks is the
//! order and spacing of the refresh attempts and that calls went on between them.

mod common;

use bearerflow::session::{Config, FetchPurpose};
use bearerflow_async::Event;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_token_endpoint_with_a_valid_token_costs_no_call() {
    let tb = common::testbed(Duration::from_secs(10), true).await;
    let mut config: Config = common::oauth_config(&tb, false);
    // A wide refresh window (60% of the lifetime) so the retries happen well before
    // expiry: refresh from about 2-3 s, expired at 9 s.
    config.policy.refresh_window_permille = 600;
    let (client, _) = common::restored_client(&tb, config).await;
    let mut events = client.subscribe();
    let t0 = bearerflow_async::now().0;
    let mcp = common::mcp(&client, &tb).await;
    tb.faults()
        .unavailable_next_token_calls(2, Duration::from_secs(1));

    let give_up = Instant::now() + common::GENEROUS;
    let mut calls = 0;
    let mut failed = Vec::new();
    loop {
        calls += 1;
        if let Err(e) = mcp
            .call_tool("echo", serde_json::json!({"text": "tick"}))
            .await
        {
            failed.push(e.to_string());
        }
        let refreshed = client.status().await.unwrap().generation.map(|g| g.0) > Some(1);
        if refreshed {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "no successful refresh in {:?}",
            common::GENEROUS
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let events = common::drain_events(&mut events);
    // The refresh attempts, in order: (when, status).
    let attempts: Vec<(u64, Result<u16, _>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::FetchDone {
                at,
                purpose: FetchPurpose::Refresh,
                outcome,
                ..
            } => Some((at.0 - t0, *outcome)),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    // Calls kept going out with the current token while the refresh failed: some were
    // sent between the first 503 and the success.
    let first_503 = attempts.first().map(|a| a.0 + t0).unwrap_or(u64::MAX);
    let success = attempts.get(2).map(|a| a.0 + t0).unwrap_or(0);
    let sent_meanwhile = events
        .iter()
        .filter(|e| matches!(e, Event::Send { at, .. } if at.0 > first_503 && at.0 < success))
        .count();
    assert!(
        sent_meanwhile >= 1,
        "no call went out during the failures: {attempts:?}"
    );
    assert!(calls >= 3, "{calls} calls");
    let c = tb.counters();
    assert_eq!(c.token_errors, 2, "both 503s were seen");
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert_eq!(attempts[0].1, Ok(503), "{attempts:?}");
    assert_eq!(attempts[1].1, Ok(503), "{attempts:?}");
    assert_eq!(attempts[2].1, Ok(200), "{attempts:?}");
    // Retry-After: 1 was honoured between attempts (no retry storm).
    assert!(attempts[1].0 >= attempts[0].0 + 1_000, "{attempts:?}");
    assert!(attempts[2].0 >= attempts[1].0 + 1_000, "{attempts:?}");
    assert_eq!(c.token_refresh as usize, attempts.len());
    assert_eq!(c.unauthorized, 0);
    let status = client.status().await.unwrap();
    assert_eq!(status.stats.fails, 0);
    assert_eq!(
        status.generation.map(|g| g.0 as usize),
        Some(attempts.len() - 1),
        "every successful refresh installed one token set"
    );
}

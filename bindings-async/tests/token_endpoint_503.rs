//! The token endpoint answers 503 with `Retry-After` while the access token is still
//! valid: calls keep going out with the current token, the refresh is retried after the
//! server's delay, and no call fails.

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

    let started = Instant::now();
    let mut ok = 0;
    let mut failed = Vec::new();
    while started.elapsed() < Duration::from_secs(9) {
        match mcp
            .call_tool("echo", serde_json::json!({"text": "tick"}))
            .await
        {
            Ok(_) => ok += 1,
            Err(e) => failed.push(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The refresh attempts, in order: (when, status).
    let attempts: Vec<(u64, Result<u16, _>)> = common::drain_events(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            Event::FetchDone {
                at,
                purpose: FetchPurpose::Refresh,
                outcome,
                ..
            } => Some((at.0 - t0, outcome)),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(ok >= 20, "{ok} calls");
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

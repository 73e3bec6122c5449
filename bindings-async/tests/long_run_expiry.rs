//! Short-lived tokens over a long run, one call a second: every lifetime ends in a
//! refresh and no call fails. Two runs side by side (nextest runs them in parallel):
//! the 5-second tokens over 60 s, and 2-second tokens over 20 s, which packs
//! about as many expiries into a third of the time.

mod common;

use bearerflow_async::Event;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_second_tokens_for_a_minute_never_fail_a_call() {
    run(Duration::from_secs(5), Duration::from_secs(60), 59, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_second_tokens_for_twenty_seconds_never_fail_a_call() {
    run(Duration::from_secs(2), Duration::from_secs(20), 19, 8).await;
}

/// A call a second for `length` with `ttl` tokens: at least `min_ok` calls, no failure,
/// at least `min_refreshes` refreshes.
async fn run(ttl: Duration, length: Duration, min_ok: usize, min_refreshes: u64) {
    let tb = common::testbed(ttl, true).await;
    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mut events = client.subscribe();
    let mcp = common::mcp(&client, &tb).await;
    let started = Instant::now();
    let mut ok = 0;
    let mut failed = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < length {
        tick.tick().await;
        match mcp
            .call_tool("echo", serde_json::json!({"text": "tick"}))
            .await
        {
            Ok(_) => ok += 1,
            Err(e) => failed.push(e.to_string()),
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
    assert!(ok >= min_ok, "{ok} calls");
    let c = tb.counters();
    assert!(
        c.token_refresh >= min_refreshes,
        "{} refreshes",
        c.token_refresh
    );
    assert_eq!(c.refresh_reuse_detected, 0);
    let status = client.status().await.unwrap();
    assert_eq!(status.stats.fails, 0);
    // The timeline saw the lifecycle go round.
    let phases: Vec<_> = common::drain_events(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Phase { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    let refreshing = phases
        .iter()
        .filter(|p| **p == bearerflow::token::Phase::Refreshing)
        .count();
    assert!(refreshing as u64 >= min_refreshes, "{phases:?}");
}

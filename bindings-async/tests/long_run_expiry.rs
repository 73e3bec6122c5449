//! Short-lived tokens over a long run, one call a second: every lifetime ends in a
//! refresh and no call fails. The issue asks for 5-second tokens over 60 s; this runs
//! 2-second tokens over 20 s, which shows as many expiries (about ten) in a third of
//! the wall time.

mod common;

use bearerflow_async::{Client, Event, MemoryStore, NoAuthorize};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_second_tokens_for_twenty_seconds_never_fail_a_call() {
    let tb = common::testbed(Duration::from_secs(2), true).await;
    let client = Client::builder(common::oauth_config(&tb, false))
        .store(MemoryStore::with(common::minted_snapshot(&tb)))
        .authorizer(NoAuthorize)
        .build()
        .await
        .unwrap();
    let mut events = client.subscribe();
    let mcp = common::mcp(&client, &tb).await;
    let started = Instant::now();
    let mut ok = 0;
    let mut failed = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < Duration::from_secs(20) {
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
    assert!(ok >= 19, "{ok} calls");
    let c = tb.counters();
    assert!(c.token_refresh >= 8, "{} refreshes", c.token_refresh);
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
    assert!(refreshing >= 8, "{phases:?}");
}

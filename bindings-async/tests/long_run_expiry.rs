//! Short-lived tokens over a long run, one call a second: every lifetime ends in a
//! refresh and no call fails. Two runs side by side (nextest runs them in parallel):
//! the 5-second tokens over 60 calls, and 2-second tokens over 20 calls, which
//! packs about as many expiries into a third of the time.
//!
//! The run is a number of calls, each at least a second after the last (a slow machine
//! makes the run longer, never shorter), and the refreshes expected follow from the
//! time the calls actually spanned: every call succeeded, and one token is valid for
//! at most `ttl` on the server, so calls spanning `S` needed at least `S / ttl`
//! different tokens.

mod common;

use bearerflow_async::Event;
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_second_tokens_for_a_minute_never_fail_a_call() {
    run(Duration::from_secs(5), 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_second_tokens_for_twenty_seconds_never_fail_a_call() {
    run(Duration::from_secs(2), 20).await;
}

/// `calls` calls, a second apart at least, with `ttl` tokens: none fails, and the
/// refreshes cover the time the calls spanned.
async fn run(ttl: Duration, calls: usize) {
    let tb = common::testbed(ttl, true).await;
    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mut events = client.subscribe();
    let mcp = common::mcp(&client, &tb).await;
    let mut failed = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // A late tick (a slow call, a loaded machine) delays the next one a full second
    // instead of firing the missed ticks at once.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut first_call: Option<Instant> = None;
    let mut last_call = Instant::now();
    for _ in 0..calls {
        tick.tick().await;
        last_call = Instant::now();
        first_call.get_or_insert(last_call);
        if let Err(e) = mcp
            .call_tool("echo", serde_json::json!({"text": "tick"}))
            .await
        {
            failed.push(e.to_string());
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
    let span = last_call - first_call.unwrap_or(last_call);
    // Ticks a second apart, as tokio's timer wheel measures them: in whole
    // milliseconds, so a tick may come up to a millisecond early on `Instant`'s finer
    // clock (seen: 58.999 s for 59 ticks).
    let ticks = Duration::from_secs(calls as u64 - 1);
    let rounding = Duration::from_millis(calls as u64);
    assert!(span + rounding >= ticks, "{span:?}");
    // Tokens needed for calls over `span`, less the first (minted) one, less one for
    // the edges (a call's start is not the moment the server checks its token).
    let needed = (span.as_millis() / ttl.as_millis()) as u64;
    let min_refreshes = needed.saturating_sub(1);
    let c = tb.counters();
    assert!(
        c.token_refresh >= min_refreshes,
        "{} refreshes for calls over {span:?} with {ttl:?} tokens",
        c.token_refresh
    );
    assert_eq!(c.refresh_reuse_detected, 0);
    let status = client.status().await.unwrap();
    assert_eq!(status.stats.fails, 0);
    // The timeline saw the lifecycle go round, once per refresh.
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

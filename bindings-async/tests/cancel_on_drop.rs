//! A caller that gives up (drops the `send` future while the request waits for a
//! refresh) cancels its request in the session: nothing is left pending, the shared
//! refresh still completes, and later calls work.

mod common;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_waiting_send_cancels_it() {
    let tb = common::testbed(Duration::from_secs(2), true).await;
    let (client, expires_at) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mcp = common::mcp(&client, &tb).await;
    tb.faults().set_token_delay(Duration::from_millis(900));
    common::sleep_until_unix_ms(expires_at + 100).await;

    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        mcp.call_tool("echo", serde_json::json!({"text": "impatient"})),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the call was still waiting for the refresh"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = client.status().await.unwrap();
    assert_eq!(status.pending, 0, "the dropped request was cancelled");
    // The only Fail is the cancellation itself (core ends a cancelled request with
    // `Fail { error: Cancelled }`); nothing failed for want of a credential.
    assert_eq!(status.stats.fails, 1);

    // The refresh in flight completes and serves the next calls.
    let (ok, errors) = common::burst(&mcp, 4).await;
    assert_eq!((ok, errors.len()), (4, 0), "{errors:?}");
    assert_eq!(tb.counters().token_refresh, 1);
}

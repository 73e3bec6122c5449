//! A caller that gives up (drops the `send` future while the request waits for a
//! refresh) cancels its request in the session: nothing is left pending, the shared
//! refresh still completes, and later calls work.
//!
//! The token endpoint is made slow (3 s) so that the call is surely still waiting when
//! the caller gives up after 300 ms, and the test waits for the cancellation to show
//! in the client's status instead of sleeping a fixed time.

mod common;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_waiting_send_cancels_it() {
    let tb = common::testbed(Duration::from_secs(5), true).await;
    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    let mcp = common::mcp(&client, &tb).await;
    let expires_at = common::settled_expiry(&client).await;
    let refreshes_before = tb.counters().token_refresh;
    tb.faults().set_token_delay(Duration::from_secs(3));
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
    let status =
        common::wait_for_status(&client, "the dropped request cancelled", |s| s.pending == 0).await;
    // The only Fail is the cancellation itself (core ends a cancelled request with
    // `Fail { error: Cancelled }`); nothing failed for want of a credential.
    assert_eq!(status.stats.fails, 1);

    // The refresh in flight completes and serves the next calls.
    let (ok, errors) = common::burst(&mcp, 4).await;
    assert_eq!((ok, errors.len()), (4, 0), "{errors:?}");
    assert_eq!(tb.counters().token_refresh - refreshes_before, 1);
}

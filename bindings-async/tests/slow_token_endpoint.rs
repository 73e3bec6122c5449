//! A token endpoint slower than the token lifetime: the refreshed token is already past
//! its expiry when it arrives (its lifetime counts from when the request left).
//!
//! This once stalled: the session counted the lifetime from when the request left,
//! judged the token dead on arrival, and neither released the waiting calls nor
//! refreshed again. Now such a token's lifetime counts from its arrival (the resource
//! judges it), and a token that is dead even then counts as a transient failure.

mod common;

use bearerflow::time::Millis;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_slower_than_the_token_lifetime_does_not_stall_waiting_calls() {
    let tb = common::testbed(Duration::from_secs(1), true).await;
    let mut config = common::oauth_config(&tb, false);
    config.policy.wait_deadline = Millis(5_000);
    let (client, _) = common::restored_client(&tb, config).await;
    let mcp = common::mcp(&client, &tb).await;
    // The token the client holds now (a slow set-up may have refreshed the 1-second
    // restored one already).
    let expires_at = common::settled_expiry(&client).await;
    tb.faults().set_token_delay(Duration::from_millis(1500));
    common::sleep_until_unix_ms(expires_at + 100).await;
    let (ok, errors) = common::burst(&mcp, 2).await;
    assert_eq!((ok, errors.len()), (2, 0), "{errors:?}");
}

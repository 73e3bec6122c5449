//! Two `bearerflow proxy` processes for the same server and user, sharing one token
//! file, across an expiry with rotating refresh tokens: one refresh in total, no
//! failed call (the token file is a `FileTokenStore` by default).

mod proxy_common;

use bearerflow_testbed::Wires;
use proxy_common::{stored_expiry, temp_dir, testbed, until_unix_ms, Proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_share_one_store_and_one_refresh() {
    let tb = testbed(Wires::Both).await;
    let store = temp_dir("proxy-shared").join("tokens.json");
    let s = store.to_str().unwrap();
    let url = tb.mcp_url();
    // The token file is shared by default.
    let mut a = Proxy::start(&[&url, "--headless", "--store", s]);
    a.initialize().await;
    assert_eq!(a.echo(1, "a").await.unwrap(), "a");
    // The second proxy starts signed in from the file the first wrote.
    let mut b = Proxy::start(&[&url, "--headless", "--store", s]);
    b.initialize().await;
    assert_eq!(b.echo(1, "b").await.unwrap(), "b");
    assert_eq!(tb.counters().authorizations, 1, "one sign-in for both");
    let expires = stored_expiry(&store).expect("tokens stored");
    until_unix_ms(expires + 100).await;
    for i in 2..6 {
        assert_eq!(
            a.echo(i, "a").await,
            Ok("a".to_string()),
            "proxy a, call {i}"
        );
        assert_eq!(
            b.echo(i, "b").await,
            Ok("b".to_string()),
            "proxy b, call {i}"
        );
    }
    let c = tb.counters();
    assert_eq!(c.token_refresh, 1, "one refresh for both proxies: {c:?}");
    assert_eq!(c.refresh_reuse_detected, 0, "{c:?}");
    assert_eq!(c.authorizations, 1, "{c:?}");
    assert!(a.finish().await.success());
    assert!(b.finish().await.success());
    tb.shutdown().await;
}

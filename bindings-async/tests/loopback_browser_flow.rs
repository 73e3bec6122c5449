//! The default authorizer end to end: `LoopbackBrowser` listens on a free 127.0.0.1 port
//! (RFC 8252 §7.3); a stand-in "browser" opens the authorization URL and follows the
//! testbed's redirect to that port; the listener answers it with the "you can close this
//! tab" page and hands the redirect to the session, which finishes the flow.

mod common;

use async_trait::async_trait;
use bearerflow::session::{Config, OAuthConfig};
use bearerflow_async::{AuthorizeError, Authorizer, Client, LoopbackBrowser};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// LoopbackBrowser plus a user who clicks the link: a reqwest client that follows
/// redirects, as a browser would, and keeps the page it lands on.
struct ClickingUser {
    browser: LoopbackBrowser,
    landed_on: Arc<Mutex<Option<String>>>,
}

#[async_trait]
impl Authorizer for ClickingUser {
    async fn authorize(&self, url: &str) -> Result<String, AuthorizeError> {
        let url_owned = url.to_string();
        let landed_on = Arc::clone(&self.landed_on);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let page = reqwest::get(url_owned).await.unwrap().text().await.unwrap();
            *landed_on.lock().unwrap() = Some(page);
        });
        self.browser.authorize(url).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_browser_captures_the_real_redirect() {
    let tb = common::testbed(Duration::from_secs(3600), true).await;
    let browser = LoopbackBrowser::bind("/callback").await.unwrap();
    let redirect_uri = browser.redirect_uri().unwrap().to_string();
    let landed_on = Arc::new(Mutex::new(None));
    let client = Client::builder(Config::oauth(
        tb.mcp_url(),
        OAuthConfig {
            redirect_uri: Some(redirect_uri),
            ..OAuthConfig::default()
        },
    ))
    .authorizer(ClickingUser {
        browser: browser.timeout(Duration::from_secs(20)),
        landed_on: Arc::clone(&landed_on),
    })
    .build()
    .await
    .unwrap();
    let mcp = common::mcp(&client, &tb).await;
    let (ok, errors) = common::burst(&mcp, 2).await;
    assert_eq!((ok, errors.len()), (2, 0), "{errors:?}");
    let c = tb.counters();
    assert_eq!((c.authorizations, c.token_authorization_code), (1, 1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let page = landed_on
        .lock()
        .unwrap()
        .clone()
        .expect("the browser got a page");
    assert!(page.contains("You can close this tab"), "{page}");
}

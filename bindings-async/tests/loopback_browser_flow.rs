//! The default authorizer end to end: `LoopbackBrowser` listens on a free 127.0.0.1 port
//! (RFC 8252 §7.3); a stand-in "browser" opens the authorization URL and follows the
//! testbed's redirect to that port; the listener answers it with the "you can close this
//! tab" page and hands the redirect to the session, which finishes the flow.
//!
//! The stand-in browser runs as its own task; the test awaits that task (with a
//! generous deadline) for the page it landed on, so nothing depends on timing.

mod common;

use async_trait::async_trait;
use bearerflow::session::{Config, OAuthConfig};
use bearerflow_async::{AuthorizeError, Authorizer, Client, LoopbackBrowser};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The stand-in browser's visit: the page it lands on, or what went wrong.
type Click = JoinHandle<Result<String, String>>;

/// LoopbackBrowser plus a user who clicks the link: a reqwest client that follows
/// redirects, as a browser would. The task's result is the page it lands on.
struct ClickingUser {
    browser: LoopbackBrowser,
    clicks: Arc<Mutex<Vec<Click>>>,
}

#[async_trait]
impl Authorizer for ClickingUser {
    async fn authorize(&self, url: &str) -> Result<String, AuthorizeError> {
        // The listener is bound already (`LoopbackBrowser::bind`), so the browser may
        // arrive before `authorize` starts waiting: it queues in the listen backlog.
        let url_owned = url.to_string();
        let click = tokio::spawn(async move {
            let page = reqwest::get(url_owned).await.map_err(|e| e.to_string())?;
            page.text().await.map_err(|e| e.to_string())
        });
        self.clicks.lock().unwrap().push(click);
        self.browser.authorize(url).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_browser_captures_the_real_redirect() {
    let tb = common::testbed(Duration::from_secs(3600), true).await;
    let browser = LoopbackBrowser::bind("/callback").await.unwrap();
    let redirect_uri = browser.redirect_uri().unwrap().to_string();
    let clicks = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder(Config::oauth(
        tb.mcp_url(),
        OAuthConfig {
            redirect_uri: Some(redirect_uri),
            ..OAuthConfig::default()
        },
    ))
    .authorizer(ClickingUser {
        browser: browser.timeout(Duration::from_secs(20)),
        clicks: Arc::clone(&clicks),
    })
    .build()
    .await
    .unwrap();
    let mcp = common::mcp(&client, &tb).await;
    let (ok, errors) = common::burst(&mcp, 2).await;
    assert_eq!((ok, errors.len()), (2, 0), "{errors:?}");
    let c = tb.counters();
    assert_eq!((c.authorizations, c.token_authorization_code), (1, 1));
    let mut clicks = std::mem::take(&mut *clicks.lock().unwrap());
    assert_eq!(clicks.len(), 1, "one authorization, one click");
    let click = clicks.pop().expect("checked above");
    let page = tokio::time::timeout(common::GENEROUS, click)
        .await
        .expect("the browser finishes loading the page")
        .expect("the browser task ran")
        .expect("the browser got a page");
    assert!(page.contains("You can close this tab"), "{page}");
}

//! Issue 20, defects 2, 3, 4, 6 and 7 on the authorization side: a hostile or broken
//! authorization server on 127.0.0.1 (discovery, registration, `/authorize`, `/token`,
//! all on one origin, see `hostile::OAuthServer`), driven through a real `Client`.
//!
//! Each test asserts the bounded outcome: the exact `RequestError` code, the failure
//! long before the session's own (huge) deadlines, and that no planted secret and no
//! raw control character appears in any output: the error's `Display` and `Debug`,
//! every driver `Event`, and the session status.

mod hostile;

use bearerflow::policy::Policy;
use bearerflow::session::{Config, OAuthConfig, RequestError};
use bearerflow::time::Millis;
use bearerflow_async::mcp::McpClient;
use bearerflow_async::{
    AuthorizeError, Authorizer, Client, Event, HeadlessFollow, LoopbackBrowser,
    MAX_AUTHORIZATION_REDIRECTS,
};
use hostile::{Authorize, Hostile, OAuthServer, Reply};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

const SECRET: &str = "PLANTED-SECRET-7f3a";

/// The test's own ceiling, far above every limit under test.
const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// A policy whose deadlines are far longer than the test: a failure that arrives is the
/// bounded outcome, not a deadline running out.
fn patient() -> Policy {
    Policy {
        authorization_deadline: Millis(3_600_000),
        wait_deadline: Millis(3_600_000),
        ..Policy::default()
    }
}

fn config(server: &Hostile, redirect_uri: &str) -> Config {
    let mut c = Config::oauth(
        server.url("/mcp"),
        OAuthConfig {
            redirect_uri: Some(redirect_uri.to_string()),
            ..OAuthConfig::default()
        },
    );
    c.policy = patient();
    c
}

/// What a run produced, as text: the error (Display and Debug), every event (Debug),
/// the status.
struct Outputs {
    error: Option<bearerflow_async::Error>,
    texts: Vec<String>,
    events: Vec<Event>,
}

async fn drain(events: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push(e);
    }
    out
}

/// `initialize` against `server` through a client built with `authorizer`.
async fn run(server: &Hostile, authorizer: impl Authorizer) -> Outputs {
    let client = Client::builder(config(server, "http://127.0.0.1:8976/callback"))
        .authorizer(authorizer)
        .build()
        .await
        .expect("the client builds");
    let mut events = client.subscribe();
    let mcp = McpClient::new(client.clone(), server.url("/mcp"));
    let result = tokio::time::timeout(TEST_DEADLINE, mcp.initialize())
        .await
        .expect("the failure comes long before the test's ceiling");
    let status = client.status().await.expect("the driver runs");
    let events = drain(&mut events).await;
    let mut texts = vec![format!("{status:?}")];
    texts.extend(status.last_error.clone());
    texts.extend(events.iter().map(|e| format!("{e:?}")));
    let error = match result {
        Ok(_) => None,
        Err(e) => {
            texts.push(e.to_string());
            texts.push(format!("{e:?}"));
            Some(e.transport().map(clone_error).expect("a bearerflow error"))
        }
    };
    Outputs {
        error,
        texts,
        events,
    }
}

fn clone_error(e: &bearerflow_async::Error) -> bearerflow_async::Error {
    match e {
        bearerflow_async::Error::Auth { error, detail } => bearerflow_async::Error::Auth {
            error: *error,
            detail: detail.clone(),
        },
        other => panic!("not an authorization failure: {other}"),
    }
}

fn assert_clean(out: &Outputs) {
    for t in &out.texts {
        assert!(!t.contains(SECRET), "a secret leaked: {t}");
        assert!(!hostile::has_raw_control(t), "raw control character: {t:?}");
    }
}

fn code(out: &Outputs) -> Option<&'static str> {
    out.error
        .as_ref()
        .and_then(|e| e.request_error())
        .map(RequestError::code)
}

fn headless() -> HeadlessFollow {
    HeadlessFollow::new().expect("a follower")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_response_never_shows_its_token_whatever_its_shape() {
    let bodies: Vec<(u16, &str, String)> = vec![
        // The key spelled with a JSON escape, and a bad member after it.
        (
            200,
            "application/json",
            format!(
                r#"{{"access\u005ftoken":"{SECRET}","token_type":"Bearer","expires_in":"abc"}}"#
            ),
        ),
        (
            200,
            "application/json",
            format!(
                r#"{{"\u0061ccess_token":"{SECRET}","refresh\u005ftoken":"{SECRET}","token_type":7}}"#
            ),
        ),
        // Not JSON at all.
        (
            200,
            "text/html",
            format!("<html><body>token: {SECRET}</body></html>"),
        ),
        (
            502,
            "text/html",
            format!("<html>proxy echo: code_verifier={SECRET}</html>"),
        ),
        (
            200,
            "application/x-www-form-urlencoded",
            format!("access_token={SECRET}&token_type=bearer"),
        ),
    ];
    for (status, content_type, body) in bodies {
        let mut s = OAuthServer::honest("unused");
        let reply_body = body.clone();
        let ct = content_type.to_string();
        s.token = Box::new(move |_| Reply::text(status, &ct, reply_body.clone()));
        let server = s.start();
        let out = run(&server, headless()).await;
        assert_eq!(code(&out), Some("authorization_failed"), "{body}");
        assert_clean(&out);
        // The request did reach the token endpoint: the test is not vacuous.
        assert_eq!(
            server
                .seen()
                .iter()
                .filter(|r| r.path() == "/token")
                .count(),
            1,
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_response_never_shows_the_client_secret() {
    let bodies = [
        format!(
            r#"{{"client_id":"c","client\u005fsecret":"{SECRET}","client_secret_expires_at":"later"}}"#
        ),
        format!(r#"{{"client\u005fsecret":"{SECRET}"}}"#),
        format!("<html>client_secret={SECRET}</html>"),
    ];
    for body in bodies {
        let mut s = OAuthServer::honest("unused");
        let reply = body.clone();
        s.register = Box::new(move |_| Reply::text(201, "application/json", reply.clone()));
        let server = s.start();
        let out = run(&server, headless()).await;
        assert_eq!(code(&out), Some("authorization_failed"), "{body}");
        assert_clean(&out);
        assert!(server.seen().iter().any(|r| r.path() == "/register"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_text_in_oauth_errors_reaches_no_terminal_raw() {
    let mut s = OAuthServer::honest("unused");
    s.token = Box::new(|_| {
        Reply::json(
            400,
            serde_json::json!({
                "error": "invalid_grant\u{1b}[2J",
                "error_description": "\u{1b}]0;owned\u{7}the grant is bad\r\u{9b}31moverwritten\u{202e}",
                "error_uri": "https://e.example/\u{1b}",
            }),
        )
    });
    let server = s.start();
    let out = run(&server, headless()).await;
    assert_eq!(code(&out), Some("authorization_failed"));
    assert_clean(&out);
    let shown = out
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        shown.contains("\\u{1b}]0;owned\\u{7}the grant is bad\\u{d}"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_with_the_wrong_state_fails_at_once_not_after_the_deadline() {
    let mut s = OAuthServer::honest("unused");
    s.authorize = Authorize::ForgedState;
    let server = s.start();
    // The policy's authorization deadline is an hour; the test's ceiling is a minute.
    let out = run(&server, headless()).await;
    assert_eq!(code(&out), Some("authorization_failed"));
    assert_clean(&out);
    let reasons: Vec<&str> = out
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AuthorizeFailed { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("state"), "{reasons:?}");
    // The forged code was never exchanged.
    assert!(server.seen().iter().all(|r| r.path() != "/token"));
}

/// The loopback listener plus a local attacker who fires a forged redirect at it first,
/// then a user whose browser follows the real authorization URL.
struct RacedBrowser {
    browser: LoopbackBrowser,
}

#[async_trait::async_trait]
impl Authorizer for RacedBrowser {
    async fn authorize(&self, url: &str) -> Result<String, AuthorizeError> {
        let url_owned = url.to_string();
        let redirect = url::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "redirect_uri")
                    .map(|(_, v)| v.into_owned())
            })
            .expect("a redirect_uri");
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            // Wait until the listener answers (it is bound before `authorize`).
            let forged = http
                .get(format!("{redirect}?code=evil&state=forged"))
                .send()
                .await
                .expect("the listener answers the forged redirect");
            assert_eq!(forged.status(), 400);
            // The genuine redirect still finds the listener.
            let page = http
                .get(url_owned)
                .send()
                .await
                .expect("the browser follows");
            assert_eq!(page.status(), 200);
        });
        self.browser.authorize(url).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_redirect_does_not_close_the_loopback_listener() {
    let server = OAuthServer::honest("at-genuine-0001").start();
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&rejected);
    let browser = LoopbackBrowser::bind("/callback")
        .await
        .expect("bind")
        .timeout(TEST_DEADLINE)
        .on_rejected(move |e| seen.lock().unwrap().push(e.clone()));
    let redirect_uri = browser.redirect_uri().expect("bound").to_string();
    let client = Client::builder(config(&server, &redirect_uri))
        .authorizer(RacedBrowser { browser })
        .build()
        .await
        .expect("the client builds");
    let mcp = McpClient::new(client.clone(), server.url("/mcp"));
    let init = tokio::time::timeout(TEST_DEADLINE, mcp.initialize())
        .await
        .expect("bounded")
        .expect("the genuine redirect completes the flow");
    assert_eq!(init["serverInfo"]["name"], "hostile-test");
    assert_eq!(
        rejected.lock().unwrap().as_slice(),
        &[AuthorizeError::StateMismatch]
    );
    let tokens: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|r| r.path() == "/token")
        .collect();
    assert_eq!(tokens.len(), 1);
    assert!(String::from_utf8_lossy(&tokens[0].body).contains("code=the-code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_headless_failure_has_its_own_typed_error() {
    let other = Hostile::start(|_, _| Reply::redirect("http://127.0.0.1:8976/callback?code=x"));
    let other_url = other.url("/elsewhere");
    let server = Hostile::start(move |r, base| match r.path() {
        "/ok200" => Reply::text(200, "text/html", "<html>log in</html>"),
        "/insecure" => Reply::redirect("http://attacker.invalid/authorize"),
        "/offsite" => Reply::redirect(&other_url),
        "/stall" => Reply::Stall,
        "/forged" => Reply::redirect("http://127.0.0.1:8976/callback?code=x&state=forged"),
        "/same-origin-hop" => Reply::redirect(&format!(
            "{base}/forged?{}",
            r.target.split_once('?').map(|(_, q)| q).unwrap_or("")
        )),
        p => {
            // /chain/N → /chain/N+1, forever.
            let n: u32 = p.trim_start_matches("/chain/").parse().unwrap_or(0);
            Reply::redirect(&format!("/chain/{}", n + 1))
        }
    });
    let follow = HeadlessFollow::with_policy(&Policy {
        fetch_deadline: Millis(1_000),
        ..Policy::default()
    })
    .expect("a follower");
    let query =
        "?client_id=c&state=the-state&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcallback";
    let origin = format!("http://{}", server.addr);
    let mut messages = std::collections::HashSet::new();
    for (path, want) in [
        (
            "/ok200",
            AuthorizeError::NoRedirect {
                hop: 1,
                origin: origin.clone(),
                status: 200,
                detail: Some("log in".into()),
            },
        ),
        (
            "/insecure",
            AuthorizeError::InsecureRedirect {
                hop: 1,
                status: 302,
                to: "http://attacker.invalid".into(),
            },
        ),
        (
            "/offsite",
            AuthorizeError::OffsiteRedirect {
                hop: 1,
                status: 302,
                to: format!("http://{}", other.addr),
            },
        ),
        (
            "/chain/0",
            AuthorizeError::TooManyRedirects {
                max: MAX_AUTHORIZATION_REDIRECTS,
                origin: origin.clone(),
                status: 302,
            },
        ),
        (
            "/stall",
            AuthorizeError::EndpointTimeout {
                hop: 1,
                origin: origin.clone(),
                after: Duration::from_millis(1_000),
            },
        ),
        ("/forged", AuthorizeError::StateMismatch),
        ("/same-origin-hop", AuthorizeError::StateMismatch),
    ] {
        let url = format!("{}{query}", server.url(path));
        let got = tokio::time::timeout(TEST_DEADLINE, follow.authorize(&url))
            .await
            .expect("bounded")
            .expect_err("refused");
        assert_eq!(got, want, "{path}");
        let text = got.to_string();
        assert!(!hostile::has_raw_control(&text), "{text:?}");
        messages.insert(text);
    }
    assert_eq!(messages.len(), 6, "distinct messages: {messages:?}");
    // The chain stopped after the allowed hops; the other origin was never asked.
    let chain = server
        .seen()
        .iter()
        .filter(|r| r.path().starts_with("/chain/"))
        .count();
    assert_eq!(chain, MAX_AUTHORIZATION_REDIRECTS + 1);
    assert!(other.seen().is_empty());
    // A plain-http authorization URL off loopback is refused before any request.
    let err = follow
        .authorize(&format!("http://as.invalid/authorize{query}"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthorizeError::BadAuthorizationUrl(_)),
        "{err}"
    );
}

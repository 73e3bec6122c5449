//! `HeadlessFollow` through a login and a consent step the way a real OpenID Provider
//! runs them (`oidc-provider`'s shape, scripted here so that every header can be
//! checked): each interaction is its own page on the authorization server's origin,
//! found again through a cookie set on the redirect that led there, with a path of its
//! own; a session cookie on `/`; four redirects before the one to the redirect URI.
//!
//! Checked: cookies go back only where RFC 6265 sends them (path, host), a cookie for
//! another domain is refused, nothing carries over to the next authorization, the hop
//! limit is the follower's setting, and a failure names its hop, origin, status and
//! what the page said.

mod hostile;

use bearerflow_async::{AuthorizeError, Authorizer, HeadlessFollow, MAX_AUTHORIZATION_REDIRECTS};
use hostile::{Hostile, Reply, Seen};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

const CALLBACK: &str = "http://127.0.0.1:8976/callback";

fn redirect_with_cookies(location: &str, cookies: &[&str]) -> Reply {
    let mut headers = vec![("Location".to_string(), location.to_string())];
    headers.extend(
        cookies
            .iter()
            .map(|c| ("Set-Cookie".to_string(), c.to_string())),
    );
    Reply::Full {
        status: 303,
        headers,
        body: Vec::new(),
    }
}

/// The cookie names a request carried.
fn cookie_names(r: &Seen) -> BTreeSet<String> {
    r.header("cookie")
        .unwrap_or("")
        .split(';')
        .filter_map(|pair| pair.split_once('=').map(|(n, _)| n.trim().to_string()))
        .collect()
}

fn has(r: &Seen, pair: &str) -> bool {
    r.header("cookie")
        .unwrap_or("")
        .split(';')
        .any(|p| p.trim() == pair)
}

const LOST_INTERACTION: &str =
    "<!DOCTYPE html><html><head><title>oops! something went wrong</title>\
<style>body{font-family:sans-serif}</style></head><body><h1>oops! something went wrong</h1>\
<pre>invalid_request: interaction session id cookie not found</pre></body></html>";

/// An authorization server that asks for login, then consent, each step tied to its
/// cookie. `interaction_path` is the path its first interaction cookie claims (a
/// broken server sets the wrong one).
fn provider(interaction_path: &'static str) -> Hostile {
    let state = Arc::new(Mutex::new(String::new()));
    Hostile::start(move |r, _base| {
        let lost = || Reply::text(400, "text/html; charset=utf-8", LOST_INTERACTION);
        match r.path() {
            "/authorize" => {
                *state.lock().unwrap() = r.query("state").unwrap_or_default();
                let login_cookie = format!("_interaction=L1; Path={interaction_path}; HttpOnly");
                redirect_with_cookies(
                    "/interaction/login",
                    &[
                        &login_cookie,
                        "_interaction_resume=L1; Path=/authorize/resume-login; HttpOnly",
                        // Refused by the jar: another domain (RFC 6265 §5.3 step 6).
                        "stolen=1; Domain=attacker.example; Path=/",
                        // Kept, but never sent on these paths.
                        "elsewhere=1; Path=/elsewhere",
                    ],
                )
            }
            "/interaction/login" if has(r, "_interaction=L1") => redirect_with_cookies(
                "/authorize/resume-login",
                &["_session=S1; Path=/; HttpOnly; SameSite=Lax"],
            ),
            "/authorize/resume-login"
                if has(r, "_interaction_resume=L1") && has(r, "_session=S1") =>
            {
                redirect_with_cookies(
                    "/interaction/consent",
                    &[
                        "_interaction=C2; Path=/interaction/consent; HttpOnly",
                        "_interaction_resume=C2; Path=/authorize/resume-consent; HttpOnly",
                        // The finished login's cookie is deleted (expired).
                        "_interaction_resume=; Path=/authorize/resume-login; Max-Age=0",
                    ],
                )
            }
            "/interaction/consent" if has(r, "_interaction=C2") && has(r, "_session=S1") => {
                redirect_with_cookies("/authorize/resume-consent", &[])
            }
            "/authorize/resume-consent"
                if has(r, "_interaction_resume=C2") && has(r, "_session=S1") =>
            {
                let state = state.lock().unwrap().clone();
                Reply::redirect(&format!("{CALLBACK}?code=the-code&state={state}&iss=x"))
            }
            _ => lost(),
        }
    })
}

fn authorization_url(server: &Hostile, state: &str) -> String {
    format!(
        "{}?client_id=c&state={state}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcallback",
        server.url("/authorize")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_consent_complete_with_each_step_s_cookie_and_no_other() {
    let server = provider("/interaction/login");
    let follow = HeadlessFollow::new().expect("a follower");
    let got = follow
        .authorize(&authorization_url(&server, "first"))
        .await
        .expect("the login and consent steps complete");
    assert_eq!(got, format!("{CALLBACK}?code=the-code&state=first&iss=x"));

    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(Seen::path).collect();
    assert_eq!(
        paths,
        [
            "/authorize",
            "/interaction/login",
            "/authorize/resume-login",
            "/interaction/consent",
            "/authorize/resume-consent",
        ]
    );
    let names: Vec<BTreeSet<String>> = seen.iter().map(cookie_names).collect();
    let set = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(names[0], set(&[]), "nothing on the first request");
    assert_eq!(names[1], set(&["_interaction"]));
    assert_eq!(names[2], set(&["_interaction_resume", "_session"]));
    assert_eq!(names[3], set(&["_interaction", "_session"]));
    assert!(
        has(&seen[3], "_interaction=C2"),
        "the consent step's own cookie"
    );
    assert_eq!(names[4], set(&["_interaction_resume", "_session"]));
    assert!(has(&seen[4], "_interaction_resume=C2"));
    for r in &seen {
        let n = cookie_names(r);
        assert!(!n.contains("stolen") && !n.contains("elsewhere"), "{n:?}");
    }

    // The next authorization starts with an empty jar: the session cookie (Path=/)
    // of the first is not sent again.
    let got = follow
        .authorize(&authorization_url(&server, "second"))
        .await
        .expect("a second authorization completes too");
    assert!(got.contains("state=second"), "{got}");
    let seen = server.seen();
    assert_eq!(seen.len(), 10);
    assert_eq!(cookie_names(&seen[5]), set(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hop_limit_is_the_follower_s_setting() {
    let server = provider("/interaction/login");
    // The flow takes four redirects on the server before the redirect URI.
    const { assert!(MAX_AUTHORIZATION_REDIRECTS >= 4) };
    let tight = HeadlessFollow::new().expect("a follower").max_redirects(3);
    let err = tight
        .authorize(&authorization_url(&server, "s"))
        .await
        .expect_err("three redirects are not enough");
    let origin = format!("http://{}", server.addr);
    assert_eq!(
        err,
        AuthorizeError::TooManyRedirects {
            max: 3,
            origin: origin.clone(),
            status: 303,
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("hop 4") && text.contains(&origin) && text.contains("303"),
        "{text}"
    );
    assert_eq!(server.seen().len(), 4, "no request past the limit");

    let exact = HeadlessFollow::new().expect("a follower").max_redirects(4);
    assert!(exact
        .authorize(&authorization_url(&server, "s"))
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_interaction_names_the_hop_the_origin_the_status_and_the_page_s_words() {
    // The server sets its interaction cookie for a path the next hop is not on, so the
    // cookie is (rightly) not sent, and the server answers with its error page.
    let server = provider("/somewhere-else");
    let follow = HeadlessFollow::new().expect("a follower");
    let err = follow
        .authorize(&authorization_url(&server, "s"))
        .await
        .expect_err("the interaction is lost");
    let origin = format!("http://{}", server.addr);
    assert_eq!(
        err,
        AuthorizeError::NoRedirect {
            hop: 2,
            origin: origin.clone(),
            status: 400,
            detail: Some(
                "oops! something went wrong invalid_request: interaction session id cookie not found"
                    .into()
            ),
        }
    );
    let text = err.to_string();
    for needle in ["hop 2", origin.as_str(), "HTTP 400", "cookie not found"] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    assert_eq!(err.code(), "no_redirect");
}

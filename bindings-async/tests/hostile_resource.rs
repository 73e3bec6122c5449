//! Issue 20, defects 1, 6 and 7 on the resource side: what a hostile MCP server can make
//! a resource request cost. Each test runs a small server on 127.0.0.1 that misbehaves
//! one way, and asserts the bounded outcome: the exact typed error (which `Policy` limit,
//! where), that it came long before the test's own generous deadline, and, where the
//! platform says, that memory stayed bounded.
//!
//! The session holds a valid token from a snapshot (a previous process's), so every
//! request carries `Authorization: Bearer` and no authorization server is involved.

mod hostile;

use bearerflow::policy::Policy;
use bearerflow::session::{Config, OAuthConfig, Snapshot, StoredTokens, SNAPSHOT_VERSION};
use bearerflow::time::Millis;
use bearerflow_async::mcp::{McpClient, McpError};
use bearerflow_async::{Client, Error, Limit, MemoryStore, NoAuthorize, RedirectRefused, Stage};
use hostile::{Hostile, Reply};
use std::time::Duration;

const TOKEN: &str = "at-RESOURCE-SECRET-0123456789";

/// Every test's own ceiling: far above any limit under test, so reaching it means the
/// limit did not hold (not that the machine was slow).
const TEST_DEADLINE: Duration = Duration::from_secs(60);

fn policy() -> Policy {
    Policy {
        resource_deadline: Millis(1_500),
        max_resource_body: 256 << 10,
        max_stream_event: 64 << 10,
        stream_idle_timeout: Millis(1_500),
        ..Policy::default()
    }
}

async fn client(server: &Hostile, policy: Policy) -> Client {
    let now = bearerflow_async::now().0;
    let snapshot = Snapshot {
        revision: 0,
        client_issuer: None,
        version: SNAPSHOT_VERSION,
        tokens: Some(StoredTokens {
            issuer: None,
            access_token: TOKEN.into(),
            refresh_token: None,
            received_at: now,
            expires_at: Some(now + 3_600_000),
            scope: None,
            generation: 1,
            refresh_at: None,
        }),
        client: None,
        server: None,
    };
    let mut config = Config::oauth(server.url("/mcp"), OAuthConfig::default());
    config.policy = policy;
    Client::builder(config)
        .store(MemoryStore::with(snapshot))
        .authorizer(NoAuthorize)
        .build()
        .await
        .expect("the client builds")
}

/// A `tools/list` through the MCP client, bounded by the test's ceiling.
async fn list_tools(client: &Client, url: String) -> Result<serde_json::Value, McpError> {
    let mcp = McpClient::new(client.clone(), url);
    tokio::time::timeout(TEST_DEADLINE, mcp.list_tools())
        .await
        .expect("the limit ends the call, not the test's ceiling")
}

fn limit_of(e: &McpError) -> Option<(Limit, Stage)> {
    match e.transport() {
        Some(Error::Limit(l)) => Some((l.limit, l.stage)),
        _ => None,
    }
}

fn assert_clean(text: &str) {
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
    assert!(!hostile::has_raw_control(text), "raw control: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_hits_the_resource_deadline() {
    let server = Hostile::start(|_, _| Reply::Stall);
    let client = client(&server, policy()).await;
    let err = list_tools(&client, server.url("/mcp")).await.unwrap_err();
    assert_eq!(
        limit_of(&err),
        Some((Limit::ResourceDeadline, Stage::Headers)),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("resource_deadline (1500 ms)"), "{text}");
    assert!(text.contains(&server.url("/mcp")), "{text}");
    assert_clean(&text);
    // The request did go out, with the credential.
    assert!(server.seen()[0]
        .header("authorization")
        .is_some_and(|h| h.ends_with(TOKEN)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_declared_body_fails_before_it_is_read() {
    // Claims 50 MB; sends the first 64 KiB and then nothing.
    let server = Hostile::start(|_, _| {
        let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n".to_vec();
        raw.extend(std::iter::repeat_n(b' ', 64 << 10));
        Reply::Raw(raw)
    });
    let client = client(&server, policy()).await;
    let err = list_tools(&client, server.url("/mcp")).await.unwrap_err();
    assert_eq!(
        limit_of(&err),
        Some((Limit::MaxResourceBody, Stage::Body)),
        "{err}"
    );
    assert!(
        err.to_string().contains("max_resource_body (262144 bytes)"),
        "{err}"
    );
    assert_clean(&err.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_stops_at_the_size_limit_in_bounded_memory() {
    let server = Hostile::start(|_, _| Reply::Endless {
        headers: vec![("Content-Type".into(), "application/json".into())],
        chunk: vec![b' '; 64 << 10],
    });
    let mut p = policy();
    // Large enough that an unbounded read would show in the peak RSS, small enough to
    // be read quickly.
    p.max_resource_body = 8 << 20;
    let client = client(&server, p).await;
    let before = hostile::peak_rss();
    let err = list_tools(&client, server.url("/mcp")).await.unwrap_err();
    assert_eq!(
        limit_of(&err),
        Some((Limit::MaxResourceBody, Stage::Body)),
        "{err}"
    );
    if let (Some(before), Some(after)) = (before, hostile::peak_rss()) {
        // The body limit is 8 MiB; reading it may take a few times that while it is
        // collected. Unbounded, the endless body grows until the test's ceiling.
        let grew = after.saturating_sub(before);
        assert!(grew < 128 << 20, "peak RSS grew by {grew} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_hits_the_resource_deadline() {
    let server = Hostile::start(|_, _| Reply::Trickle {
        headers: vec![("Content-Type".into(), "application/json".into())],
        bytes: vec![b' '; 10_000],
        every: Duration::from_millis(100),
    });
    let client = client(&server, policy()).await;
    let err = list_tools(&client, server.url("/mcp")).await.unwrap_err();
    assert_eq!(
        limit_of(&err),
        Some((Limit::ResourceDeadline, Stage::Body)),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endless_event_hits_the_event_limit() {
    let server = Hostile::start(|_, _| Reply::Endless {
        headers: vec![("Content-Type".into(), "text/event-stream".into())],
        chunk: b"data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".to_vec(),
    });
    let client = client(&server, policy()).await;
    let before = hostile::peak_rss();
    let err = list_tools(&client, server.url("/mcp")).await.unwrap_err();
    assert_eq!(
        limit_of(&err),
        Some((Limit::MaxStreamEvent, Stage::Stream)),
        "{err}"
    );
    assert!(
        err.to_string().contains("max_stream_event (65536 bytes)"),
        "{err}"
    );
    if let (Some(before), Some(after)) = (before, hostile::peak_rss()) {
        let grew = after.saturating_sub(before);
        assert!(grew < 64 << 20, "peak RSS grew by {grew} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_hits_the_idle_timeout_but_keep_alives_do_not() {
    // Comments (keep-alives) every 100 ms for a while, each ending an event, then
    // silence: the stream lives past the idle timeout while they come, then ends.
    let mut bytes = Vec::new();
    for _ in 0..30 {
        bytes.extend_from_slice(b":\n\n");
    }
    let server = Hostile::start(move |_, _| Reply::Trickle {
        headers: vec![("Content-Type".into(), "text/event-stream".into())],
        bytes: bytes.clone(),
        every: Duration::from_millis(35),
    });
    let client = client(&server, policy()).await;
    let started = tokio::time::Instant::now();
    let err = list_tools(&client, server.url("/mcp")).await.unwrap_err();
    assert_eq!(
        limit_of(&err),
        Some((Limit::StreamIdleTimeout, Stage::Stream)),
        "{err}"
    );
    // 30 keep-alives, 3 bytes 35 ms apart: about 3 s of life, longer than the 1.5 s
    // idle timeout, so the timer was reset by them.
    assert!(started.elapsed() >= Duration::from_millis(3_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stays_open_after_the_answer_is_not_waited_for() {
    let server = Hostile::start(|r, _| {
        let id = r.json()["id"].clone();
        let answer = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}});
        let mut bytes = format!("event: message\ndata: {answer}\n\n").into_bytes();
        // Then the stream stays open, idle, far longer than the test allows.
        bytes.extend(std::iter::repeat_n(b':', 1));
        Reply::Trickle {
            headers: vec![("Content-Type".into(), "text/event-stream".into())],
            bytes,
            every: Duration::ZERO,
        }
    });
    let mut p = policy();
    p.stream_idle_timeout = Millis(3_600_000);
    let client = client(&server, p).await;
    let tools = list_tools(&client, server.url("/mcp"))
        .await
        .expect("the answer arrives before the stream ends");
    assert_eq!(tools["tools"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let other = Hostile::start(|_, _| Reply::json(200, serde_json::json!({})));
    let other_url = other.url("/steal");
    // A plain-http, non-loopback host too: refused before any lookup.
    for location in [other_url.clone(), "http://attacker.invalid/mcp".to_string()] {
        let loc = location.clone();
        let server = Hostile::start(move |_, _| Reply::Full {
            status: 307,
            headers: vec![("Location".into(), loc.clone())],
            body: Vec::new(),
        });
        let client = client(&server, policy()).await;
        let request = client
            .post(server.url("/mcp"))
            .body("{}")
            .build()
            .expect("a request");
        let err = tokio::time::timeout(TEST_DEADLINE, client.send(request))
            .await
            .expect("bounded")
            .expect_err("refused");
        match &err {
            Error::Redirect(RedirectRefused::CrossOrigin { from, to }) => {
                assert_eq!(from, &format!("http://{}", server.addr));
                assert!(location.starts_with(to.as_str()), "{to} / {location}");
            }
            other => panic!("{other}"),
        }
        assert_eq!(err.code(), "redirect_refused");
        assert_clean(&err.to_string());
    }
    assert!(other.seen().is_empty(), "the other origin was contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_origin_redirects_are_followed_but_not_forever() {
    let server = Hostile::start(|r, _| match r.path() {
        "/mcp" => Reply::Full {
            status: 308,
            headers: vec![("Location".into(), "/mcp/".into())],
            body: Vec::new(),
        },
        "/mcp/" => Reply::json(200, serde_json::json!({"ok": true})),
        p => {
            // /loop/N → /loop/N+1, forever.
            let n: u32 = p.trim_start_matches("/loop/").parse().unwrap_or(0);
            Reply::redirect(&format!("/loop/{}", n + 1))
        }
    });
    let client = client(&server, policy()).await;
    let request = client.post(server.url("/mcp")).body("{}").build().unwrap();
    let response = client
        .send(request)
        .await
        .expect("followed on the same origin");
    assert_eq!(response.status(), 200);
    // The retried POST kept its credential on the same origin.
    let seen = server.seen();
    assert!(seen[1]
        .header("authorization")
        .is_some_and(|h| h.ends_with(TOKEN)));
    let request = client
        .post(server.url("/loop/0"))
        .body("{}")
        .build()
        .unwrap();
    let err = tokio::time::timeout(TEST_DEADLINE, client.send(request))
        .await
        .expect("bounded")
        .expect_err("too many");
    assert!(
        matches!(err, Error::Redirect(RedirectRefused::TooMany { max: 10 })),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_response_head_names_its_cause() {
    let server = Hostile::start(|_, _| {
        let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec();
        for i in 0..4_000 {
            raw.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(200)).as_bytes());
        }
        raw.extend_from_slice(b"Content-Length: 2\r\n\r\n{}");
        Reply::Raw(raw)
    });
    let client = client(&server, policy()).await;
    let err = list_tools(&client, server.url("/mcp")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err.transport(), Some(Error::Http(_))), "{text}");
    assert!(text.contains("too large"), "the cause is named: {text}");
    assert_clean(&text);
}

//! A client that starts from tokens it already holds: a snapshot made straight from a
//! token response (`expires_in` relative, received now), or tokens handed over with
//! `Client::set_tokens`. Refreshes and authorizations are counted in `Status` and in
//! `Event::Credential`. And tokens handed over on the caller's own task are stored
//! before any request goes out with them.

mod common;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use bearerflow::oauth::{ClientRegistration, TokenResponse};
use bearerflow::secret::Secret;
use bearerflow::session::{Config, OAuthConfig, Snapshot, StoredServer, StoredTokens};
use bearerflow::token::Phase;
use bearerflow_async::{Client, Event, MemoryStore, NoAuthorize, Obtained, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn token_response(t: bearerflow_testbed::IssuedTokens) -> (TokenResponse, String) {
    (
        TokenResponse {
            access_token: t.access_token,
            expires_in: Some(t.expires_in.as_secs()),
            refresh_token: t.refresh_token,
            scope: Some(t.scope),
        },
        t.client_id,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_starts_from_a_token_response_and_refreshes_it_by_itself() {
    let tb = common::testbed(Duration::from_secs(2), true).await;
    let issued = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let (response, client_id) = token_response(issued);
    let mut snapshot = Snapshot::from_token_response(response, bearerflow_async::now());
    // The client id is known; the authorization server is not (discovered before the
    // first refresh).
    snapshot.client = Some(ClientRegistration::public(client_id));
    let tokens = snapshot
        .tokens
        .as_ref()
        .expect("the snapshot holds the tokens");
    let expires_at = tokens.expires_at.expect("an expiry from expires_in");
    assert_eq!(expires_at, tokens.received_at + 2_000);
    assert!(snapshot.server.is_none());

    let client = Client::builder(common::oauth_config(&tb, false))
        .store(MemoryStore::with(snapshot))
        .authorizer(NoAuthorize)
        .build()
        .await
        .unwrap();
    let mut events = client.subscribe();
    let mcp = common::mcp(&client, &tb).await;
    assert_eq!(tb.counters().token_refresh, 0);

    common::sleep_until_unix_ms(expires_at + 200).await;
    let (ok, errors) = common::burst(&mcp, 8).await;
    assert_eq!((ok, errors.len()), (8, 0), "{errors:?}");
    assert_eq!(tb.counters().token_refresh, 1);

    let status = client.status_now();
    assert_eq!((status.refreshes, status.authorizations), (1, 0));
    assert_eq!(status.stats.refresh_requests, 1);
    let credentials: Vec<(Obtained, u32)> = common::drain_events(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Credential {
                obtained,
                refreshes,
                generation,
                ..
            } => {
                assert!(generation.is_some());
                Some((obtained, refreshes))
            }
            _ => None,
        })
        .collect();
    assert_eq!(credentials, vec![(Obtained::Refresh, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_tokens_hands_a_client_the_tokens_one_has() {
    let tb = common::testbed(Duration::from_secs(3600), true).await;
    let store = Arc::new(MemoryStore::new());
    let client = Client::builder(common::oauth_config(&tb, false))
        .shared_store(store.clone())
        .authorizer(NoAuthorize)
        .build()
        .await
        .unwrap();
    let mut events = client.subscribe();
    assert_eq!(client.status_now().generation, None);

    let (response, _) = token_response(tb.issue_tokens_for_test("mcp:tools").unwrap());
    let access = response.access_token.expose().to_string();
    client.set_tokens(response);
    let status = client.status_now();
    assert_eq!(status.phase, Phase::Fresh);
    assert!(status.generation.is_some());

    let mcp = common::mcp(&client, &tb).await;
    let (ok, errors) = common::burst(&mcp, 4).await;
    assert_eq!((ok, errors.len()), (4, 0), "{errors:?}");
    let c = tb.counters();
    assert_eq!((c.unauthorized, c.token_refresh), (0, 0));

    // Stored before use, as every credential is.
    let stored = store.load().await.unwrap().expect("the tokens were stored");
    assert_eq!(
        stored.tokens.map(|t| t.access_token.expose().to_string()),
        Some(access)
    );
    let events = common::drain_events(&mut events);
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Credential {
                obtained: Obtained::Host,
                refreshes: 0,
                authorizations: 0,
                ..
            }
        )),
        "{events:?}"
    );
}

/// A store whose `save` waits until the test opens the gate, and that says when it has
/// stored the new tokens.
struct GatedStore {
    entered: tokio::sync::Notify,
    gate: tokio::sync::Semaphore,
    stored_new: Arc<AtomicBool>,
    inner: MemoryStore,
}

#[async_trait]
impl Store for GatedStore {
    async fn save(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.entered.notify_one();
        let permit = self.gate.acquire().await;
        drop(permit);
        self.inner.save(snapshot).await?;
        if snapshot
            .tokens
            .as_ref()
            .is_some_and(|t| t.access_token.expose() == "new-token")
        {
            self.stored_new.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    async fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load().await
    }
}

/// What the resource saw: each request's token, and whether the new tokens were stored
/// when it arrived.
type Seen = Arc<Mutex<Vec<(String, bool)>>>;

/// A resource that records each bearer token and answers 200, and a token endpoint
/// that never answers (so requests wait for a credential until the host hands one).
async fn resource(stored_new: Arc<AtomicBool>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::get(move |headers: HeaderMap| {
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default()
                    .to_string();
                let stored = stored_new.load(Ordering::SeqCst);
                log.lock().unwrap().push((token, stored));
                async { StatusCode::OK }
            }),
        )
        .route(
            "/token",
            axum::routing::post(std::future::pending::<StatusCode>),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_handed_over_on_the_callers_task_are_stored_before_any_request_uses_them() {
    let stored_new = Arc::new(AtomicBool::new(false));
    let (base, seen) = resource(Arc::clone(&stored_new)).await;
    let now = bearerflow_async::now().0;
    // A previous process's tokens, expired: requests wait for the refresh, which never
    // comes back.
    let snapshot = Snapshot {
        version: bearerflow::session::SNAPSHOT_VERSION,
        tokens: Some(StoredTokens {
            access_token: Secret::new("old-token"),
            refresh_token: Some(Secret::new("old-refresh")),
            received_at: now - 120_000,
            expires_at: Some(now - 60_000),
            scope: None,
            generation: 1,
            refresh_at: None,
            issuer: None,
        }),
        client: Some(ClientRegistration::public("c1")),
        server: Some(StoredServer {
            issuer: base.clone(),
            token_endpoint: format!("{base}/token"),
            ..StoredServer::default()
        }),
        ..Snapshot::default()
    };
    let store = Arc::new(GatedStore {
        entered: tokio::sync::Notify::new(),
        gate: tokio::sync::Semaphore::new(0),
        stored_new: Arc::clone(&stored_new),
        inner: MemoryStore::with(snapshot),
    });
    let client = Client::builder(Config::oauth(format!("{base}/mcp"), OAuthConfig::default()))
        .shared_store(store.clone())
        .authorizer(NoAuthorize)
        .build()
        .await
        .unwrap();
    let mut events = client.subscribe();

    let mut calls = Vec::new();
    for _ in 0..3 {
        let client = client.clone();
        let base = base.clone();
        calls.push(tokio::spawn(async move {
            let request = client.get(format!("{base}/mcp")).build().unwrap();
            client.send(request).await.map(|r| r.status().as_u16())
        }));
    }
    // All three wait for the refresh in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while client.status_now().pending < 3 || client.status_now().stats.refresh_requests < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the calls never waited"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Handed over on this task: the step that installs them drains `Persist` and the
    // three `Send`s here, and the store is still saving.
    client.set_tokens(TokenResponse {
        access_token: Secret::new("new-token"),
        expires_in: Some(3600),
        refresh_token: Some(Secret::new("new-refresh")),
        scope: None,
    });
    store.entered.notified().await;
    let released_early = tokio::time::timeout(Duration::from_millis(300), async {
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        released_early.is_err(),
        "a request went out while its tokens were being stored: {:?}",
        seen.lock().unwrap()
    );

    store.gate.add_permits(1);
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 200);
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for (token, stored) in &seen {
        assert_eq!(token, "new-token");
        assert!(
            stored,
            "a request carried the new token before it was stored"
        );
    }
    // The Persist event comes before any response reported to the session.
    let events = common::drain_events(&mut events);
    let persisted = events
        .iter()
        .position(|e| matches!(e, Event::Persist { ok: true, .. }))
        .expect("the tokens were persisted");
    let first_response = events
        .iter()
        .position(|e| matches!(e, Event::Response { .. }))
        .expect("responses were reported");
    assert!(persisted < first_response, "{events:?}");
}

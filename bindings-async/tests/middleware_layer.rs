//! The reqwest-middleware layer: an existing `ClientWithMiddleware` gets bearerflow by
//! adding one `.with(...)`. A burst after expiry through the layer shares one refresh,
//! a session failure comes back as a typed error inside the middleware error, and with
//! a usable token a request needs no task of the session (the same fast path as
//! `Client::send`).

mod common;

use bearerflow::session::RequestError;
use bearerflow_async::BearerflowMiddleware;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_layer_gives_an_existing_client_refresh_and_single_flight() {
    let tb = common::testbed(Duration::from_secs(5), true).await;
    let (client, _) = common::restored_client(&tb, common::oauth_config(&tb, false)).await;
    // Connected through the bearerflow client itself; raw calls then carry what the
    // wire needs (a legacy session id, or the modern _meta and headers).
    let mcp = common::mcp(&client, &tb).await;
    // Wait for the token the client holds after set-up (a slow set-up may have
    // refreshed the restored one), and count the refreshes the burst's waiting calls
    // share, not a later proactive one.
    let expires_at = common::settled_expiry(&client).await;
    let mut events = client.subscribe();

    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerflowMiddleware::new(client.clone()))
        .build();
    common::sleep_until_unix_ms(expires_at + 200).await;
    let mut tasks = Vec::new();
    for id in 0..16u64 {
        let http = http.clone();
        let url = tb.mcp_url();
        let (body, headers) = common::raw_echo(&mcp, id, &format!("m{id}"));
        tasks.push(tokio::spawn(async move {
            let mut request = http
                .post(url)
                .header("Accept", "application/json, text/event-stream")
                .header("Content-Type", "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let r = request.body(body).send().await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let body = r.text().await.map_err(|e| e.to_string())?;
            if status == 200 && body.contains(&format!("m{id}")) {
                Ok(())
            } else {
                Err(format!("{status}: {body}"))
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let events = common::drain_events(&mut events);
    assert_eq!(
        common::refreshes_while_calls_wait(&events),
        1,
        "{events:#?}"
    );
    let c = tb.counters();
    assert!(c.token_refresh >= 1);
    assert_eq!(c.unauthorized, 0);

    // A session failure surfaces as a typed bearerflow error inside the middleware error.
    tb.revoke_all();
    let (body, _) = common::raw_echo(&mcp, 99, "m99");
    let err = http
        .post(tb.mcp_url())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("expected a middleware error, got {err}");
    };
    let e = inner
        .downcast_ref::<bearerflow_async::Error>()
        .expect("a bearerflow_async::Error");
    assert_eq!(
        e.request_error(),
        Some(RequestError::ReauthorizationRequired),
        "{e}"
    );
}

/// The fast path: with a usable token, a request's bookkeeping (begin, take the
/// credential, report the response) runs on the caller's task, through the layer as
/// through `Client::send`. Shown by building the session on a runtime that is then shut
/// down, which takes every task of the session with it: requests still go through.
#[test]
fn with_a_usable_token_the_layer_needs_no_task_of_the_session() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tb = rt.block_on(common::testbed(Duration::from_secs(3600), true));
    let config = common::oauth_config(&tb, false);
    let snapshot = common::minted_snapshot(&tb);
    let client = std::thread::spawn(move || {
        let session_runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = session_runtime
            .block_on(
                bearerflow_async::Client::builder(config)
                    .store(bearerflow_async::MemoryStore::with(snapshot))
                    .authorizer(bearerflow_async::NoAuthorize)
                    .build(),
            )
            .unwrap();
        // Its timer task, and any task it would spawn, end here.
        drop(session_runtime);
        client
    })
    .join()
    .unwrap();

    rt.block_on(async {
        let mcp = common::mcp(&client, &tb).await;
        let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(BearerflowMiddleware::new(client.clone()))
            .build();
        for id in 0..8u64 {
            let (body, headers) = common::raw_echo(&mcp, id, &format!("m{id}"));
            let mut request = http
                .post(tb.mcp_url())
                .header("Accept", "application/json, text/event-stream")
                .header("Content-Type", "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let r = request.body(body).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.text().await.unwrap().contains(&format!("m{id}")));
        }
    });
    let c = tb.counters();
    assert_eq!((c.unauthorized, c.token_refresh), (0, 0));
    let status = client.status_now();
    assert_eq!(status.pending, 0);
    // The eight through the layer, after those that connected.
    assert!(status.stats.sends >= 9, "{:?}", status.stats);
}

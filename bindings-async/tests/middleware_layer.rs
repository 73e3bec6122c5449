//! The reqwest-middleware layer: an existing `ClientWithMiddleware` gets bearerflow by
//! adding one `.with(...)`. A burst after expiry through the layer shares one refresh,
//! and a session failure comes back as a typed error inside the middleware error.

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

    bearerflow_async::install_crypto_provider();
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

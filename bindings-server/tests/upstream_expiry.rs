//! A handler's upstream token expired: the layer answers `401 invalid_token` with core's
//! challenge instead of the `200` the handler began, for JSON and SSE responses, as long
//! as the handler signals before its first message (the rule in `bearerflow_server::signal`).

mod common;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post as route_post};
use axum::{Extension, Json, Router};
use bearerflow_server::{AuthSignal, Signalled, UpstreamTokenExpired};
use common::*;
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tower::ServiceExt;

const UPSTREAM_EXPIRED: &str = "the access token expired upstream; renew it and retry";

fn upstream_challenge() -> String {
    format!(
        r#"Bearer realm="mcp", error="invalid_token", error_description="{UPSTREAM_EXPIRED}", resource_metadata="{PRM}""#
    )
}

/// A deadline for what must happen: a hang fails the test instead of stalling CI.
async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("happened within the deadline")
}

#[tokio::test]
async fn an_axum_handler_that_returns_the_error_gets_401() {
    async fn tool() -> Result<Json<serde_json::Value>, UpstreamTokenExpired> {
        Err(UpstreamTokenExpired)
    }
    let app = Router::new().route("/mcp", route_post(tool)).layer(layer());
    let (status, challenge, body) =
        read(app.oneshot(post(&["Bearer good"], None)).await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, Some(upstream_challenge()));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"error": "invalid_token", "error_description": UPSTREAM_EXPIRED})
    );
}

#[tokio::test]
async fn a_json_handler_that_signals_before_answering_gets_401_not_its_200() {
    async fn tool(Extension(signal): Extension<AuthSignal>) -> Json<serde_json::Value> {
        assert_eq!(signal.upstream_token_expired(), Signalled::Accepted);
        // What an SDK would send: a JSON-RPC error over 200. It never reaches the client.
        Json(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "upstream 401"}}),
        )
    }
    let app = Router::new().route("/mcp", route_post(tool)).layer(layer());
    let (status, challenge, body) =
        read(app.oneshot(post(&["Bearer good"], None)).await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, Some(upstream_challenge()));
    assert!(
        !body.contains("jsonrpc"),
        "the JSON-RPC error is not sent: {body}"
    );
}

#[tokio::test]
async fn a_scope_signal_gets_403_naming_the_scope() {
    async fn tool(Extension(signal): Extension<AuthSignal>) -> &'static str {
        assert_eq!(
            signal.insufficient_scope("mcp:tools mcp:admin"),
            Signalled::Accepted
        );
        "{}"
    }
    let app = Router::new().route("/mcp", route_post(tool)).layer(layer());
    let (status, challenge, _) =
        read(app.oneshot(post(&["Bearer good"], None)).await.unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.unwrap(),
        format!(
            r#"Bearer realm="mcp", error="insufficient_scope", error_description="the request needs more scope than the token has", scope="mcp:tools mcp:admin", resource_metadata="{PRM}""#
        )
    );
}

/// What an SSE handler hands the test: the sender feeding its body and its signal.
type Handed = (mpsc::UnboundedSender<Bytes>, AuthSignal);

#[derive(Clone, Default)]
struct Hand(Arc<Mutex<Option<oneshot::Sender<Handed>>>>);

impl Hand {
    fn expect(&self) -> oneshot::Receiver<Handed> {
        let (tx, rx) = oneshot::channel();
        *self.0.lock().unwrap() = Some(tx);
        rx
    }
}

/// Answers at once with a `200 text/event-stream` whose events the test sends, as SDKs
/// do (the head first, the tool's result later on the stream).
async fn streaming(State(hand): State<Hand>, Extension(signal): Extension<AuthSignal>) -> Response {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    if let Some(h) = hand.0.lock().unwrap().take() {
        let _ = h.send((tx, signal));
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        StatusCode::OK,
        [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn streaming_app(hand: &Hand) -> Router {
    Router::new()
        .route("/mcp", route_post(streaming).get(streaming))
        .with_state(hand.clone())
        .layer(layer())
}

const PRIMING: &[u8] = b"id: 0\nretry: 3000\ndata: \n\n";
const MESSAGE: &[u8] =
    b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n";

#[tokio::test]
async fn an_sse_handler_that_signals_before_its_first_message_gets_401() {
    let hand = Hand::default();
    let handed = hand.expect();
    let app = streaming_app(&hand);
    let call = tokio::spawn(app.oneshot(post(&["Bearer good"], None)));
    let (tx, signal) = within(handed).await.unwrap();
    // The priming event (id, retry, empty data) and a keep-alive are not messages.
    tx.send(Bytes::from_static(PRIMING)).unwrap();
    tx.send(Bytes::from_static(b": keep-alive\n\n")).unwrap();
    assert_eq!(signal.upstream_token_expired(), Signalled::Accepted);
    let response = within(call).await.unwrap().unwrap();
    let (status, challenge, body) = read(response).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, Some(upstream_challenge()));
    assert!(body.starts_with('{'), "a JSON body, not the stream: {body}");
    assert!(tx.is_closed(), "the held stream was dropped unsent");
}

#[tokio::test]
async fn after_the_first_message_a_signal_is_too_late_and_the_stream_is_intact() {
    let hand = Hand::default();
    let handed = hand.expect();
    let app = streaming_app(&hand);
    let call = tokio::spawn(app.oneshot(post(&["Bearer good"], None)));
    let (tx, signal) = within(handed).await.unwrap();
    tx.send(Bytes::from_static(PRIMING)).unwrap();
    // A message split across two frames.
    tx.send(Bytes::from_static(&MESSAGE[..20])).unwrap();
    tx.send(Bytes::from_static(&MESSAGE[20..])).unwrap();
    let response = within(call).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(signal.upstream_token_expired(), Signalled::TooLate);
    tx.send(Bytes::from_static(b"data: second\n\n")).unwrap();
    drop(tx);
    drop(signal);
    let body = within(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    let mut want = Vec::new();
    want.extend_from_slice(PRIMING);
    want.extend_from_slice(MESSAGE);
    want.extend_from_slice(b"data: second\n\n");
    assert_eq!(body.as_ref(), want.as_slice(), "every byte, in order");
}

#[tokio::test]
async fn a_response_nobody_can_signal_any_more_is_released() {
    // POST: the handler's signal is dropped while only a priming event was sent.
    let hand = Hand::default();
    let handed = hand.expect();
    let app = streaming_app(&hand);
    let call = tokio::spawn(app.clone().oneshot(post(&["Bearer good"], None)));
    let (tx, signal) = within(handed).await.unwrap();
    tx.send(Bytes::from_static(PRIMING)).unwrap();
    drop(signal);
    let response = within(call).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = within(body.frame())
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(first.as_ref(), PRIMING);
    drop(tx);

    // GET (a standalone stream, no tool runs): never held, even with no event yet.
    let handed = hand.expect();
    let get_request = http::Request::get("/mcp")
        .header("authorization", "Bearer good")
        .body(Body::empty())
        .unwrap();
    let call = tokio::spawn(app.oneshot(get_request));
    let (_tx, _signal) = within(handed).await.unwrap();
    let response = within(call).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_layer_serves_hyper_too() {
    use hyper::server::conn::http1::Builder;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    // A plain tower service (no axum): 200 unless the handler signals.
    fn handler(
        request: http::Request<hyper::body::Incoming>,
    ) -> std::future::Ready<Result<http::Response<http_body_util::Full<Bytes>>, Infallible>> {
        if request.uri().path() == "/expired" {
            let signal = request.extensions().get::<AuthSignal>().expect("guarded");
            assert_eq!(signal.upstream_token_expired(), Signalled::Accepted);
        }
        std::future::ready(Ok(http::Response::new(http_body_util::Full::new(
            Bytes::from("{\"ok\":true}"),
        ))))
    }
    let service = tower::service_fn(handler);
    let guarded = tower::ServiceBuilder::new().layer(layer()).service(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(guarded.clone());
            tokio::spawn(async move {
                let _ = Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let ok = http
        .post(format!("http://{addr}/ok"))
        .bearer_auth("good")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let expired = http
        .post(format!("http://{addr}/expired"))
        .bearer_auth("good")
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.headers()["www-authenticate"].to_str().unwrap(),
        upstream_challenge()
    );
    let none = http.post(format!("http://{addr}/ok")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    server.abort();
}

#[tokio::test]
async fn a_handler_outside_the_layer_is_told_so() {
    let app: Router = Router::new().route(
        "/mcp",
        get(|request: http::Request<Body>| async move {
            let r = bearerflow_server::signal_upstream_token_expired(request.extensions());
            format!("{r:?}")
        }),
    );
    let response = app
        .oneshot(http::Request::get("/mcp").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (_, _, body) = read(response).await;
    assert_eq!(body, "Err(NotGuarded)");
}

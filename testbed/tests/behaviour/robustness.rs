//! Garbage in gives a 4xx, never a crash: the server keeps answering afterwards.

use bearerflow_testbed::Config;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::common::*;

const GARBAGE: [&[u8]; 9] = [
    b"",
    b"\xff\xfe\x00garbage",
    b"{",
    b"[]",
    b"null",
    b"grant_type=authorization_code&code=%ZZ&code_verifier=%",
    b"token=&token=&&&==",
    b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":7}",
    b"{\"redirect_uris\":[1,2],\"grant_types\":{},\"scope\":5}",
];

#[tokio::test]
async fn every_endpoint_survives_garbage() {
    let tb = start(Config {
        require_session: false,
        ..Config::default()
    })
    .await;
    let http = http();
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    let endpoints = [
        tb.token_endpoint(),
        tb.registration_endpoint(),
        tb.introspection_endpoint(),
        tb.revocation_endpoint(),
        tb.mcp_url(),
    ];
    for url in &endpoints {
        for body in GARBAGE {
            for ct in [
                "application/x-www-form-urlencoded",
                "application/json",
                "text/plain",
            ] {
                let resp = http
                    .post(url)
                    .header(CONTENT_TYPE, ct)
                    .header(AUTHORIZATION, format!("Bearer {}", t.access_token.expose()))
                    .body(body.to_vec())
                    .send()
                    .await
                    .unwrap();
                let s = resp.status();
                assert!(
                    s.is_client_error() || s == StatusCode::OK || s == StatusCode::ACCEPTED,
                    "{url} {ct} {body:?} -> {s}"
                );
            }
        }
    }
    for query in [
        "%",
        "client_id=%FF",
        "a=b=c&&",
        "client_id=x&client_id=y",
        "redirect_uri=::::",
    ] {
        let resp = http
            .get(format!("{}?{query}", tb.authorization_endpoint()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let resp = mcp_post(
        &tb,
        &http,
        Some(t.access_token.expose()),
        None,
        call(1, "echo", serde_json::json!({"text": "alive"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK, "still serving");
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let tb = start(Config::default()).await;
    let resp = http()
        .get(format!("{}/nope", tb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

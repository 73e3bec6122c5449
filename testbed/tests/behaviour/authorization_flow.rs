//! register → authorize (302 followed by hand) → token → /mcp, and every way each step
//! refuses a bad request.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bearerflow_testbed::{AuthMethod, ClientSpec, Config, GrantType};
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn full_flow_then_tool_calls() {
    let tb = start(Config::default()).await;
    let http = http();
    let client_id = register_public(&tb, &http).await;
    let p = pkce();
    let code = authorize(&tb, &http, &client_id, &p, Some("mcp:tools")).await;
    let mcp = tb.mcp_url();
    let (status, headers, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &client_id),
                ("code_verifier", &p.verifier),
                ("resource", &mcp),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "mcp:tools");
    let t = tokens_of(body);
    assert!(
        t.refresh.is_some(),
        "the client registered the refresh_token grant"
    );

    let session = initialize(&tb, &http, &t.access).await;
    let resp = mcp_post(
        &tb,
        &http,
        Some(&t.access),
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Value = resp.json().await.unwrap();
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "add"]);

    let resp = mcp_post(
        &tb,
        &http,
        Some(&t.access),
        Some(&session),
        call(3, "echo", json!({"text": "hello"})),
    )
    .await;
    let echoed: Value = resp.json().await.unwrap();
    assert_eq!(echoed["id"], 3);
    assert_eq!(echoed["result"]["content"][0]["text"], "hello");
    let resp = mcp_post(
        &tb,
        &http,
        Some(&t.access),
        Some(&session),
        call(4, "add", json!({"a": 2, "b": 40})),
    )
    .await;
    let sum: Value = resp.json().await.unwrap();
    assert_eq!(sum["result"]["content"][0]["text"], "42");

    let c = tb.counters();
    assert_eq!(c.registrations, 1);
    assert_eq!(c.authorizations, 1);
    assert_eq!(c.token_authorization_code, 1);
    assert_eq!(c.token_calls(), 1);
    assert_eq!(c.token_errors, 0);
    assert_eq!(c.initializations, 1);
    assert_eq!(c.tool_calls, 2);
    assert_eq!(c.unauthorized, 0);
}

#[tokio::test]
async fn pkce_mismatch_and_missing_verifier_are_refused() {
    let tb = start(Config::default()).await;
    let http = http();
    let client_id = register_public(&tb, &http).await;
    let p = pkce();
    let code = authorize(&tb, &http, &client_id, &p, None).await;
    let other = pkce();
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
    ];
    let mut wrong = base.to_vec();
    wrong.push(("code_verifier", &other.verifier));
    let (status, _, body) = json_of(token(&tb, &http, &wrong).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"].as_str().unwrap().contains("PKCE"),
        "{body}"
    );

    let (status, _, body) = json_of(token(&tb, &http, &base).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    let mut short = base.to_vec();
    short.push(("code_verifier", "too-short"));
    let (_, _, body) = json_of(token(&tb, &http, &short).await).await;
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(tb.counters().token_errors, 3);
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_produced() {
    let tb = start(Config::default()).await;
    let http = http();
    let client_id = register_public(&tb, &http).await;
    let p = pkce();
    let code = authorize(&tb, &http, &client_id, &p, None).await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("code_verifier", p.verifier.as_str()),
    ];
    let (status, _, body) = json_of(token(&tb, &http, &pairs).await).await;
    assert_eq!(status, StatusCode::OK);
    let first = tokens_of(body);
    let resp = mcp_post(&tb, &http, Some(&first.access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let (status, _, body) = json_of(token(&tb, &http, &pairs).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let resp = mcp_post(&tb, &http, Some(&first.access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = refresh(&tb, &http, &client_id, first.refresh.as_deref().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn redirect_uri_must_match_between_authorize_and_token() {
    let tb = start(Config::default()).await;
    let http = http();
    let client_id = register_public(&tb, &http).await;
    let p = pkce();
    let code = authorize(&tb, &http, &client_id, &p, None).await;
    let (status, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:7777/other"),
                ("client_id", &client_id),
                ("code_verifier", &p.verifier),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn authorize_errors_about_client_or_redirect_are_not_redirected() {
    let tb = start(Config::default()).await;
    let http = http();
    let client_id = register_public(&tb, &http).await;
    let p = pkce();
    for pairs in [
        vec![
            ("response_type", "code"),
            ("client_id", "nobody"),
            ("redirect_uri", REDIRECT),
        ],
        vec![
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        vec![("response_type", "code"), ("redirect_uri", REDIRECT)],
        vec![
            ("client_id", client_id.as_str()),
            ("client_id", client_id.as_str()),
        ],
    ] {
        let url = format!("{}?{}", tb.authorization_endpoint(), form(&pairs));
        let resp = http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{pairs:?}");
        assert!(resp.headers().get("location").is_none());
    }
    // A loopback redirect URI matches on any port (RFC 8252 §7.3).
    let back = authorize_raw(
        &tb,
        &http,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:9999/callback"),
            ("state", "s"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(back.port(), Some(9999));
    assert!(query_param(&back, "code").is_some());
}

#[tokio::test]
async fn authorize_errors_are_redirected_with_state_and_iss() {
    let tb = start(Config::default()).await;
    let http = http();
    let client_id = register_public(&tb, &http).await;
    let p = pkce();
    let good = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "xyz"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let with = |name: &'static str, value: &'static str| {
        let mut v: Vec<(&str, &str)> = good.iter().filter(|(n, _)| *n != name).cloned().collect();
        if !value.is_empty() {
            v.push((name, value));
        }
        v
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (with("response_type", "token"), "unsupported_response_type"),
        (with("code_challenge", ""), "invalid_request"),
        (with("code_challenge_method", "plain"), "invalid_request"),
        (with("code_challenge_method", ""), "invalid_request"),
        (with("code_challenge", "short"), "invalid_request"),
        (with("scope", "mcp:tools nope"), "invalid_scope"),
        (
            with("resource", "https://elsewhere.example/mcp"),
            "invalid_target",
        ),
        (with("state", ""), "invalid_request"),
    ];
    for (pairs, expected) in cases {
        let back = authorize_raw(&tb, &http, &pairs).await;
        assert_eq!(
            query_param(&back, "error").as_deref(),
            Some(expected),
            "{pairs:?}"
        );
        assert!(query_param(&back, "error_description").is_some());
        assert_eq!(query_param(&back, "iss"), Some(tb.issuer()));
        assert_eq!(query_param(&back, "code"), None);
        let has_state = pairs.iter().any(|(n, _)| *n == "state");
        assert_eq!(query_param(&back, "state").is_some(), has_state);
    }
}

#[tokio::test]
async fn registration_validates_metadata() {
    let tb = start(Config::default()).await;
    let http = http();
    let cases = [
        (
            json!({"redirect_uris": ["http://example.com/cb"], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "mcp:tools unknown"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (metadata, expected) in cases {
        let resp = http
            .post(tb.registration_endpoint())
            .json(&metadata)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], expected, "{metadata}");
    }
    let resp = http
        .post(tb.registration_endpoint())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Defaults (RFC 7591 §2): client_secret_basic, authorization_code, code.
    let reg = register(
        &tb,
        &http,
        json!({"redirect_uris": [REDIRECT], "client_name": "x"}),
    )
    .await;
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(reg["grant_types"], json!(["authorization_code"]));
    assert_eq!(reg["response_types"], json!(["code"]));
    assert_eq!(reg["client_name"], "x");
    assert!(reg["client_secret"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(reg["client_secret_expires_at"], 0);
    let public = register(
        &tb,
        &http,
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert!(public.get("client_secret").is_none());
    assert_eq!(tb.counters().registrations, 13);
}

#[tokio::test]
async fn clients_registered_without_refresh_get_no_refresh_token() {
    let tb = start(Config::default()).await;
    let http = http();
    let reg = register(
        &tb,
        &http,
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let client_id = reg["client_id"].as_str().unwrap();
    let p = pkce();
    let code = authorize(&tb, &http, client_id, &p, None).await;
    let (status, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", client_id),
                ("code_verifier", &p.verifier),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("refresh_token").is_none(), "{body}");
}

fn basic(id: &str, secret: &str) -> String {
    // RFC 6749 §2.3.1: form-urlencode each part, join with ':', then base64.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

#[tokio::test]
async fn confidential_clients_authenticate_with_basic_or_post() {
    let tb = start(Config::default()).await;
    let http = http();
    let cc = tb
        .register_client_for_test(ClientSpec {
            redirect_uris: vec![],
            auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::ClientCredentials],
        })
        .unwrap();
    let secret = cc.client_secret.as_ref().unwrap().expose().to_string();
    let ok = http
        .post(tb.token_endpoint())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(AUTHORIZATION, basic(&cc.client_id, &secret))
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("scope", "mcp:tools"),
        ]))
        .send()
        .await
        .unwrap();
    let (status, _, body) = json_of(ok).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none(), "RFC 6749 §4.4.3");
    let access = body["access_token"].as_str().unwrap().to_string();
    let resp = mcp_post(&tb, &http, Some(&access), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Wrong secret: 401 with a Basic challenge.
    let bad = http
        .post(tb.token_endpoint())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(AUTHORIZATION, basic(&cc.client_id, "wrong"))
        .body(form(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let challenge = bad.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    let (_, _, body) = json_of(bad).await;
    assert_eq!(body["error"], "invalid_client");

    // Registered for Basic, used POST: refused.
    let (status, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &cc.client_id),
                ("client_secret", &secret),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    // A client_secret_post client.
    let post = tb
        .register_client_for_test(ClientSpec {
            redirect_uris: vec![],
            auth_method: AuthMethod::ClientSecretPost,
            grant_types: vec![GrantType::ClientCredentials],
        })
        .unwrap();
    let post_secret = post.client_secret.as_ref().unwrap().expose().to_string();
    let (status, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &post.client_id),
                ("client_secret", &post_secret),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "mcp:tools");
    assert_eq!(tb.counters().token_client_credentials, 4);

    // A public client may not use client_credentials.
    let (status, _, body) = json_of(
        token(
            &tb,
            &http,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &tb.default_client_id()),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");
    // Debug of the registered client does not show the secret.
    assert!(!format!("{post:?}").contains(&post_secret));
}

#[tokio::test]
async fn token_endpoint_rejects_malformed_requests() {
    let tb = start(Config::default()).await;
    let http = http();
    let id = tb.default_client_id();
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("grant_type", "password"), ("client_id", &id)],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", &id)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", "nobody"),
                ("refresh_token", "x"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "x")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "refresh_token"), ("client_id", &id)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", &id),
                ("refresh_token", "unknown"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", "unknown"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", &id),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (pairs, status, error) in cases {
        let (s, headers, body) = json_of(token(&tb, &http, &pairs).await).await;
        assert_eq!(
            (s, body["error"].as_str().unwrap()),
            (status, error),
            "{pairs:?}: {body}"
        );
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        if s == StatusCode::UNAUTHORIZED {
            assert!(headers.contains_key(WWW_AUTHENTICATE));
        }
    }
    // JSON is not a token request.
    let resp = http
        .post(tb.token_endpoint())
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // GET is not allowed.
    let resp = http.get(tb.token_endpoint()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let c = tb.counters();
    assert_eq!(c.token_refresh, 5);
    assert_eq!(c.token_other, 3);
    assert_eq!(c.token_authorization_code, 1);
}

//! Exact answers of the layer for every outcome: status, `WWW-Authenticate` byte for
//! byte, and the JSON body (core's `guard`, RFC 6750 §3, RFC 9728 §5.1). Also the check
//! list of the proposed MCP conformance scenario for server token validation, and what
//! must be refused or escaped.

mod common;

use axum::routing::post as route_post;
use axum::{Extension, Router};
use bearerflow_server::{Authenticated, BearerLayer, ProtectedResource, SettingsError};
use common::*;
use tower::ServiceExt;

fn app() -> Router {
    Router::new()
        .route(
            "/mcp",
            route_post(|Extension(a): Extension<Authenticated>| async move {
                format!("hello {}", a.claims.subject.unwrap_or_default())
            }),
        )
        .layer(layer())
}

async fn answer(authorization: &[&str], query: Option<&str>) -> (u16, Option<String>, String) {
    read(app().oneshot(post(authorization, query)).await.unwrap()).await
}

fn invalid_token(description: &str) -> String {
    format!(
        r#"Bearer realm="mcp", error="invalid_token", error_description="{description}", resource_metadata="{PRM}""#
    )
}

fn invalid_request(description: &str) -> String {
    format!(
        r#"Bearer realm="mcp", error="invalid_request", error_description="{description}", resource_metadata="{PRM}""#
    )
}

#[tokio::test]
async fn every_outcome_has_its_exact_header() {
    // (Authorization lines, query, status, WWW-Authenticate, body error)
    type Case<'a> = (Vec<&'a str>, Option<&'a str>, u16, String, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![],
            None,
            401,
            format!(r#"Bearer realm="mcp", resource_metadata="{PRM}""#),
            "unauthorized",
        ),
        (
            vec!["Basic YWxhZGRpbjpvcGVu"],
            None,
            400,
            invalid_request(r#"the Authorization header is not \"Bearer <token>\""#),
            "invalid_request",
        ),
        (
            vec!["Bearer a b"],
            None,
            400,
            invalid_request(r#"the Authorization header is not \"Bearer <token>\""#),
            "invalid_request",
        ),
        (
            vec!["Bearer good", "Bearer good"],
            None,
            400,
            invalid_request("more than one access token was presented"),
            "invalid_request",
        ),
        (
            vec!["Bearer good"],
            Some("x=1&access_token=good"),
            400,
            invalid_request(
                "access tokens must be sent in the Authorization header, not the query string",
            ),
            "invalid_request",
        ),
        (
            vec![],
            Some("access_token=good"),
            400,
            invalid_request(
                "access tokens must be sent in the Authorization header, not the query string",
            ),
            "invalid_request",
        ),
        (
            vec!["DPoP good"],
            None,
            400,
            invalid_request("DPoP-bound access tokens are not supported by this resource"),
            "invalid_request",
        ),
        (
            vec!["Bearer dpop-bound"],
            None,
            400,
            invalid_request("DPoP-bound access tokens are not supported by this resource"),
            "invalid_request",
        ),
        (
            vec!["Bearer forged"],
            None,
            401,
            invalid_token("the access token is not valid"),
            "invalid_token",
        ),
        (
            vec!["Bearer expired"],
            None,
            401,
            invalid_token("the access token expired"),
            "invalid_token",
        ),
        (
            vec!["Bearer other-aud"],
            None,
            401,
            invalid_token("the access token was issued for another resource"),
            "invalid_token",
        ),
        (
            vec!["Bearer no-aud"],
            None,
            401,
            invalid_token("the access token names no audience"),
            "invalid_token",
        ),
    ];
    for (authorization, query, status, challenge, error) in cases {
        let (got_status, got_challenge, body) = answer(&authorization, query).await;
        assert_eq!(got_status, status, "{authorization:?} {query:?}");
        assert_eq!(
            got_challenge.as_deref(),
            Some(challenge.as_str()),
            "{authorization:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], error, "{authorization:?}");
        assert!(body["error_description"].is_string());
    }
}

#[tokio::test]
async fn insufficient_scope_names_the_scope_needed() {
    let layer = BearerLayer::new(
        resource().required_scope("mcp:tools mcp:admin").unwrap(),
        verifier(),
    );
    let app = Router::new()
        .route("/mcp", route_post(|| async { "ok" }))
        .layer(layer);
    let (status, challenge, body) =
        read(app.oneshot(post(&["Bearer good"], None)).await.unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                r#"Bearer realm="mcp", error="insufficient_scope", error_description="the request needs more scope than the token has", scope="mcp:tools mcp:admin", resource_metadata="{PRM}""#
            )
            .as_str()
        )
    );
    assert!(body.contains(r#""error":"insufficient_scope""#));
}

/// The check list of the open conformance proposal for server token validation:
/// unauthenticated request rejected, valid audience accepted, wrong or missing audience
/// rejected, expired token rejected, untrusted token rejected.
#[tokio::test]
async fn conformance_check_list_for_server_token_validation() {
    // Unauthenticated: 401 with a challenge that says where to discover the server.
    let (status, challenge, _) = answer(&[], None).await;
    assert_eq!(status, 401);
    assert!(challenge
        .unwrap()
        .contains(&format!(r#"resource_metadata="{PRM}""#)));
    // Valid audience accepted, and the handler sees who it is.
    let (status, _, body) = answer(&["Bearer good"], None).await;
    assert_eq!((status, body.as_str()), (200, "hello user-1"));
    // Wrong audience, missing audience, expired, untrusted: 401 invalid_token.
    for token in ["other-aud", "no-aud", "expired", "forged"] {
        let (status, challenge, _) = answer(&[&format!("Bearer {token}")], None).await;
        assert_eq!(status, 401, "{token}");
        assert!(
            challenge.unwrap().contains(r#"error="invalid_token""#),
            "{token}"
        );
    }
}

#[tokio::test]
async fn a_verifier_that_cannot_tell_gets_503_without_a_challenge() {
    let (status, challenge, body) = answer(&["Bearer down"], None).await;
    assert_eq!(status, 503);
    assert_eq!(
        challenge, None,
        "a challenge would make the client drop a good token"
    );
    assert!(
        !body.contains("down"),
        "no verifier text reaches the client"
    );
}

#[tokio::test]
async fn quotes_and_backslashes_are_escaped_and_control_characters_refused() {
    let r = ProtectedResource::new(RES)
        .unwrap()
        .with_realm(r#"say "hi" \ bye"#)
        .unwrap();
    let app = Router::new()
        .route("/mcp", route_post(|| async { "ok" }))
        .layer(BearerLayer::new(r, verifier()));
    let (_, challenge, _) = read(app.oneshot(post(&[], None)).await.unwrap()).await;
    assert_eq!(
        challenge.as_deref(),
        Some(format!(r#"Bearer realm="say \"hi\" \\ bye", resource_metadata="{PRM}""#).as_str())
    );
    // A value that cannot go into a header is refused when it is set, never sent.
    for bad in [
        "a\r\nSet-Cookie: x=1",
        "vt\u{b}",
        "bell\u{7}",
        "nul\0",
        "del\u{7f}",
        "é",
    ] {
        assert!(
            matches!(
                ProtectedResource::new(RES).unwrap().with_realm(bad),
                Err(SettingsError::Challenge(_))
            ),
            "realm {bad:?}"
        );
        assert!(
            ProtectedResource::new(RES)
                .unwrap()
                .required_scope(format!("mcp:{bad}"))
                .is_err(),
            "scope {bad:?}"
        );
    }
    assert!(ProtectedResource::new(RES)
        .unwrap()
        .with_metadata_url("https://mcp.example.com/\u{1b}[2J")
        .is_err());
    // A token with a control character or a byte outside ASCII is a malformed request.
    for raw in [&b"Bearer ab\tcd"[..], b"Bearer ab\xffcd", b"Bearer \x80"] {
        let mut request = post(&[], None);
        request
            .headers_mut()
            .insert("authorization", http::HeaderValue::from_bytes(raw).unwrap());
        let (status, challenge, _) = read(app_for_raw().oneshot(request).await.unwrap()).await;
        assert_eq!(status, 400, "{raw:?}");
        assert!(challenge.unwrap().contains(r#"error="invalid_request""#));
    }
}

fn app_for_raw() -> Router {
    app()
}

#[tokio::test]
async fn the_metadata_route_serves_cores_document() {
    let r = resource().scopes_supported(["mcp:tools"]);
    let app: Router = Router::new().route_service(
        r.metadata_path(),
        bearerflow_server::MetadataService::new(&r),
    );
    let get = http::Request::get("/.well-known/oauth-protected-resource/mcp")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(get).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200);
    let parsed = bearerflow::oauth::parse_protected_resource_metadata(body.as_bytes()).unwrap();
    assert_eq!(parsed.resource, RES);
    assert_eq!(parsed.authorization_servers, ["https://auth.example.com"]);
    let post = http::Request::post("/.well-known/oauth-protected-resource/mcp")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, _, _) = read(app.oneshot(post).await.unwrap()).await;
    assert_eq!(status, 405);
}

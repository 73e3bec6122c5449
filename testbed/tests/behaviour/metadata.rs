//! RFC 8414 and RFC 9728 documents, where they are served and what they say.

use bearerflow_testbed::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{http, start};

async fn get(url: &str) -> (StatusCode, Option<Value>) {
    let resp = http().get(url).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.ok())
}

#[tokio::test]
async fn authorization_server_metadata_lists_every_endpoint() {
    let tb = start(Config::default()).await;
    let base = tb.base_url();
    let (status, doc) = get(&format!("{base}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, StatusCode::OK);
    let doc = doc.unwrap();
    assert_eq!(doc["issuer"], tb.issuer());
    assert_eq!(doc["issuer"], base, "no issuer path by default");
    assert_eq!(doc["authorization_endpoint"], format!("{base}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{base}/token"));
    assert_eq!(doc["registration_endpoint"], format!("{base}/register"));
    assert_eq!(doc["introspection_endpoint"], format!("{base}/introspect"));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["mcp:tools", "mcp:admin"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        tb.authorization_server_metadata_url(),
        format!("{base}/.well-known/oauth-authorization-server")
    );
    // OpenID locations are off by default.
    assert_eq!(
        get(&format!("{base}/.well-known/openid-configuration"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(tb.counters().as_metadata_fetches, 1);
}

#[tokio::test]
async fn protected_resource_metadata_at_path_and_root() {
    let tb = start(Config::default()).await;
    let base = tb.base_url();
    for url in [
        format!("{base}/.well-known/oauth-protected-resource/mcp"),
        format!("{base}/.well-known/oauth-protected-resource"),
    ] {
        let (status, doc) = get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        let doc = doc.unwrap();
        assert_eq!(doc["resource"], tb.mcp_url());
        assert_eq!(
            doc["authorization_servers"],
            serde_json::json!([tb.issuer()])
        );
        assert_eq!(
            doc["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
        assert_eq!(
            doc["scopes_supported"],
            serde_json::json!(["mcp:tools", "mcp:admin"])
        );
    }
    assert_eq!(
        tb.resource_metadata_url(),
        format!("{base}/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(tb.counters().resource_metadata_fetches, 2);
    assert_eq!(tb.counters().metadata_fetches(), 2);
    // Only GET.
    let resp = http()
        .post(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn documents_can_be_switched_off_to_test_fallbacks() {
    let tb = start(Config {
        serve_resource_metadata_at_path: false,
        serve_oauth_metadata: false,
        serve_openid_configuration: true,
        dynamic_registration: false,
        ..Config::default()
    })
    .await;
    let base = tb.base_url();
    assert_eq!(
        get(&format!("{base}/.well-known/oauth-protected-resource/mcp"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&format!("{base}/.well-known/oauth-protected-resource"))
            .await
            .0,
        StatusCode::OK
    );
    // The challenge then names the root document.
    assert_eq!(
        tb.resource_metadata_url(),
        format!("{base}/.well-known/oauth-protected-resource")
    );
    assert_eq!(
        get(&format!("{base}/.well-known/oauth-authorization-server"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, doc) = get(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(status, StatusCode::OK);
    let doc = doc.unwrap();
    assert_eq!(doc["issuer"], tb.issuer());
    assert!(
        doc.get("registration_endpoint").is_none(),
        "registration is off"
    );
    let resp = http()
        .post(tb.registration_endpoint())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn issuer_with_a_path_uses_path_insertion_and_nested_endpoints() {
    let tb = start(Config {
        issuer_path: Some("/tenant1".into()),
        serve_openid_configuration: true,
        ..Config::default()
    })
    .await;
    let base = tb.base_url();
    assert_eq!(tb.issuer(), format!("{base}/tenant1"));
    for url in [
        format!("{base}/.well-known/oauth-authorization-server/tenant1"),
        format!("{base}/.well-known/openid-configuration/tenant1"),
        format!("{base}/tenant1/.well-known/openid-configuration"),
    ] {
        let (status, doc) = get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        let doc = doc.unwrap();
        assert_eq!(doc["issuer"], format!("{base}/tenant1"));
        assert_eq!(doc["token_endpoint"], format!("{base}/tenant1/token"));
    }
    assert_eq!(
        get(&format!("{base}/.well-known/oauth-authorization-server"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, prm) = get(&tb.resource_metadata_url()).await;
    assert_eq!(
        prm.unwrap()["authorization_servers"][0],
        format!("{base}/tenant1")
    );
    // The endpoints live under the issuer path only.
    let resp = http().post(format!("{base}/token")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_paths_are_refused_at_start() {
    let err = bearerflow_testbed::Testbed::start(Config {
        issuer_path: Some("/{x}".into()),
        ..Config::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("issuer_path"), "{err}");
}

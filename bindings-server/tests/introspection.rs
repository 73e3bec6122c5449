//! The RFC 7662 verifier against a real introspection endpoint (the testbed's): what it
//! reads, what it caches, and what the layer answers from it.

use bearerflow_server::{IntrospectionAuth, IntrospectionVerifier, TokenStatus, Verifier};
use std::time::Duration;

const OTHER: &str = "http://127.0.0.1:9/other-mcp";

async fn testbed() -> bearerflow_testbed::Testbed {
    bearerflow_testbed::Testbed::start(bearerflow_testbed::Config {
        extra_resources: vec![OTHER.into()],
        ..Default::default()
    })
    .await
    .unwrap()
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn reads_the_answer_and_reuses_it_for_a_burst() {
    let tb = testbed().await;
    let verifier = IntrospectionVerifier::new(tb.introspection_endpoint(), http());
    let t = tb.issue_tokens_for_resource("mcp:tools", OTHER).unwrap();
    for _ in 0..5 {
        let TokenStatus::Valid(claims) = verifier.verify(t.access_token.expose()).await.unwrap()
        else {
            panic!("a valid token")
        };
        assert_eq!(claims.audiences, [OTHER]);
        assert_eq!(claims.scope, "mcp:tools");
        assert!(claims.expires_at.is_some());
    }
    assert_eq!(
        tb.counters().introspections,
        1,
        "four answers came from the cache"
    );
    assert_eq!(
        verifier.verify("not-a-token").await.unwrap(),
        TokenStatus::Invalid
    );
    assert_eq!(tb.counters().introspections, 2);
}

#[tokio::test]
async fn without_a_cache_a_revoked_token_stops_at_once() {
    let tb = testbed().await;
    let verifier = IntrospectionVerifier::new(tb.introspection_endpoint(), http())
        .cache_for(Duration::ZERO)
        .auth(IntrospectionAuth::None);
    let t = tb.issue_tokens_for_test("mcp:tools").unwrap();
    assert!(matches!(
        verifier.verify(t.access_token.expose()).await.unwrap(),
        TokenStatus::Valid(_)
    ));
    tb.revoke_all();
    assert_eq!(
        verifier.verify(t.access_token.expose()).await.unwrap(),
        TokenStatus::Invalid
    );
    assert_eq!(tb.counters().introspections, 2);
}

#[tokio::test]
async fn an_endpoint_that_fails_is_an_error_not_a_verdict() {
    let tb = testbed().await;
    // The token endpoint answers 400 to an introspection-shaped request.
    let wrong = IntrospectionVerifier::new(tb.token_endpoint(), http());
    let e = wrong.verify("secret-token-value").await.unwrap_err();
    assert!(!e.to_string().contains("secret-token-value"), "{e}");
    let unreachable = IntrospectionVerifier::new("http://127.0.0.1:9/introspect", http())
        .timeout(Duration::from_secs(5));
    assert!(unreachable.verify("x").await.is_err());
}

//! Every output has one JSON shape defined in core (snake_case, stable `code()`
//! strings), which is what the C ABI and WASM hand to their hosts; every input a host
//! builds without Rust types (configuration JSON, helper stdout bytes, a helper's exit
//! status) has a flat entry point that refuses bad values with the field named.

use bearerflow::session::{
    Action, Config, ConfigError, FetchPurpose, HttpErrorKind, RedirectError, RequestError,
    RequestId, Session, SessionError, Verdict,
};
use bearerflow::time::Timestamp;
use bearerflow::token::Phase;
use bearerflow_tests::scenarios::SEED;
use serde_json::json;
use std::collections::HashSet;

#[test]
fn every_code_is_snake_case_and_unique_within_its_type() {
    fn check(codes: &[&str]) {
        let mut seen = HashSet::new();
        for c in codes {
            assert!(
                !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c}"
            );
            assert!(seen.insert(*c), "duplicate code {c}");
        }
    }
    use RequestError as R;
    let request = [
        R::ReauthorizationRequired,
        R::Unauthorized,
        R::InsufficientScope,
        R::TokenEndpointUnavailable,
        R::TokenEndpointRejected,
        R::HelperFailed,
        R::AuthorizationFailed,
        R::Timeout,
        R::Cancelled,
        R::TooManyPending,
    ];
    check(&request.map(R::code));
    for e in request {
        // The serde form is the code.
        assert_eq!(serde_json::to_value(e).unwrap(), json!(e.code()));
    }
    let session = [
        SessionError::Deadline,
        SessionError::Network(HttpErrorKind::Io),
        SessionError::HelperFailed,
        SessionError::CrossOriginMetadata,
        SessionError::NoAuthorizationServer,
        SessionError::PkceUnsupported,
        SessionError::NoClientIdentity,
        SessionError::CannotAuthorize,
        SessionError::StateMismatch,
        SessionError::IssuerMismatch,
        SessionError::AuthorizationTimedOut,
        SessionError::AuthorizationUnavailable,
        SessionError::ExpiredOnArrival,
        SessionError::PersistFailed,
        SessionError::MissingEndpoint("token_endpoint"),
        SessionError::Status {
            what: "discovery",
            status: 404,
        },
    ];
    check(&session.iter().map(SessionError::code).collect::<Vec<_>>());
    for e in &session {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(v["code"], json!(e.code()));
        assert_eq!(v["message"], json!(e.to_string()));
    }
    let redirect = [
        RedirectError::NotAuthorizing,
        RedirectError::StateMismatch,
        RedirectError::Denied,
        RedirectError::IssuerMismatch,
        RedirectError::MissingCode,
    ];
    check(&redirect.iter().map(RedirectError::code).collect::<Vec<_>>());
    for p in [
        Phase::Unauthorized,
        Phase::Authorizing,
        Phase::Fresh,
        Phase::Expiring,
        Phase::Expired,
        Phase::Refreshing,
        Phase::Failed,
    ] {
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    for v in [Verdict::Deliver, Verdict::Retry] {
        assert_eq!(serde_json::to_value(v).unwrap(), json!(v.as_str()));
    }
    for k in [
        HttpErrorKind::Connect,
        HttpErrorKind::Io,
        HttpErrorKind::Timeout,
    ] {
        assert_eq!(serde_json::to_value(k).unwrap(), json!(k.code()));
        assert_eq!(HttpErrorKind::from_code(k.code()), Some(k));
    }
    for p in [FetchPurpose::Refresh, FetchPurpose::CodeExchange] {
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
}

#[test]
fn actions_render_in_the_one_json_shape() {
    let config = Config::from_json(
        br#"{"resource_url": "https://mcp.example.com/mcp",
             "credential": {"kind": "oauth", "redirect_uri": "http://127.0.0.1:1/cb"}}"#,
    )
    .expect("a valid config");
    let mut s = Session::new(config, SEED, Timestamp(0));
    s.set_tokens(
        bearerflow::secret::Secret::new("at-1"),
        Some(bearerflow::secret::Secret::new("rt-1")),
        Some(60),
        None,
        Timestamp(0),
    );
    let persist = s.poll_action().expect("a persist");
    let v: serde_json::Value = serde_json::from_str(&persist.to_json(&s)).unwrap();
    assert_eq!(v["persist"]["tokens"]["access_token"], json!("at-1"));
    assert_eq!(v["persist"]["tokens"]["refresh_token"], json!("rt-1"));
    let id = s.begin_request(Timestamp(1));
    let send = s.poll_action().expect("a send");
    let v: serde_json::Value = serde_json::from_str(&send.to_json(&s)).unwrap();
    assert_eq!(
        v,
        json!({"send": {"id": id.0, "generation": 1, "headers": [["Authorization", "Bearer at-1"]]}})
    );
    s.cancel_request(RequestId(99)); // unknown: nothing
    let other = s.begin_request(Timestamp(2));
    s.cancel_request(other);
    let fail = s.poll_action().expect("a fail");
    assert!(matches!(fail, Action::Fail { .. }));
    let v: serde_json::Value = serde_json::from_str(&fail.to_json(&s)).unwrap();
    assert_eq!(
        v,
        json!({"fail": {"id": other.0, "error": "cancelled", "cause": null}})
    );
}

#[test]
fn a_fetch_request_serializes_as_the_fetch_action_carries_it() {
    let req = bearerflow::oauth::refresh_request(
        "https://as.example/token",
        &bearerflow::oauth::ClientRegistration::public("app"),
        &bearerflow::secret::Secret::new("rt"),
        None,
        None,
    );
    let v = serde_json::to_value(&req).unwrap();
    assert_eq!(v["method"], json!("POST"));
    assert_eq!(v["url"], json!("https://as.example/token"));
    assert_eq!(
        v["body"],
        json!("grant_type=refresh_token&refresh_token=rt&client_id=app")
    );
    assert_eq!(
        v["headers"][0],
        json!(["Content-Type", "application/x-www-form-urlencoded"])
    );
}

#[test]
fn config_from_json_refuses_unknown_fields_and_unworkable_values_naming_the_field() {
    let base = json!({
        "resource_url": "https://mcp.example.com/mcp",
        "credential": {"kind": "oauth", "redirect_uri": "http://127.0.0.1:8976/callback"},
        "policy": {"max_token_attempts": 3}
    });
    assert!(Config::from_json(base.to_string().as_bytes()).is_ok());
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth", "redirect_url": "http://127.0.0.1/cb"}}),
            "redirect_url",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth"}, "polcy": {}}),
            "polcy",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth"}, "policy": {"max_token_atempts": 1}}),
            "max_token_atempts",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "header_helper", "ttl": 5}}),
            "ttl",
        ),
        (
            json!({"resource_url": "mcp.example.com", "credential": {"kind": "oauth"}}),
            "resource_url",
        ),
        (
            json!({"resource_url": "ftp://m/mcp", "credential": {"kind": "oauth"}}),
            "resource_url",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth", "redirect_uri": "/callback"}}),
            "credential.redirect_uri",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth", "client_id_metadata_url": "http://m/client.json"}}),
            "credential.client_id_metadata_url",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth"}, "policy": {"jitter_permille": 1500}}),
            "policy.jitter_permille",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth"}, "policy": {"fetch_deadline": 0}}),
            "policy.fetch_deadline",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth"}, "policy": {"max_token_attempts": 0}}),
            "policy.max_token_attempts",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "oauth"}, "policy": {"refresh_window_min": 10, "refresh_window_max": 5}}),
            "policy.refresh_window_min",
        ),
        (
            json!({"resource_url": "https://m/mcp", "credential": {"kind": "header_helper", "ttl_ms": 0}}),
            "credential.ttl_ms",
        ),
    ];
    for (json, field) in cases {
        let e = Config::from_json(json.to_string().as_bytes())
            .expect_err(&format!("{json} must be refused"));
        let text = e.to_string();
        assert!(text.contains(field), "{json}: {text} does not name {field}");
        assert!(matches!(
            e,
            ConfigError::Json(_) | ConfigError::Invalid { .. }
        ));
    }
    // Not JSON at all: a typed error with a position.
    let e = Config::from_json(b"{\"resource_url\": ").expect_err("truncated");
    assert_eq!(e.code(), "config_malformed");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn helper_inputs_are_flat() {
    let config = Config::from_json(
        br#"{"resource_url": "https://mcp.example.com/mcp", "credential": {"kind": "header_helper"}}"#,
    )
    .expect("valid");
    let mut s = Session::new(config, SEED, Timestamp(0));
    let _ = s.poll_action();
    let call = s.begin_request(Timestamp(1));
    s.handle_helper_failure(Some(3), Timestamp(2));
    let Some(Action::Fail {
        id,
        error: RequestError::HelperFailed,
        cause: Some(cause),
    }) = s.poll_action()
    else {
        panic!("the waiting request fails with the helper's cause")
    };
    assert_eq!(id, call);
    assert!(
        cause.to_string().contains("exited with status 3"),
        "{cause}"
    );
    // The next request runs the helper again (after the backoff) and its stdout, as
    // bytes, is the credential.
    let at = s.poll_timeout().expect("a backoff");
    s.handle_timeout(at);
    let next = s.begin_request(at);
    assert!(matches!(s.poll_action(), Some(Action::RunHelper)));
    s.handle_helper_stdout(b"Authorization: Bearer h\r\n", at);
    assert!(matches!(s.poll_action(), Some(Action::Send { id, .. }) if id == next));
}

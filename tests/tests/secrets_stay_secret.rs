//! No error's `Display` or `Debug` ever contains a secret value from a snapshot, a
//! configuration or a response. Each test plants a recognisable value where a secret
//! lives (and where a secret could be misplaced), provokes every error it can, and
//! scans the text.

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, Session, Snapshot, StoredServer, StoredTokens, SNAPSHOT_VERSION,
};
use bearerflow::time::Timestamp;
use bearerflow_tests::scenarios::{refresh_only_config, SEED};
use bearerflow_tests::sim::{ISSUER, TOKEN_ENDPOINT};

const PLANT: &str = "PLANTED-SECRET-7f3a";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(PLANT),
        "{what} leaks the planted value: {text}"
    );
}

fn check_error<E: std::fmt::Display + std::fmt::Debug>(what: &str, e: &E) {
    assert_clean(what, &e.to_string());
    assert_clean(what, &format!("{e:?}"));
}

#[test]
fn snapshot_errors_never_quote_the_snapshot() {
    let bad = [
        format!(r#"{{"version": 1, "tokens": {{"access_token": 7, "refresh_token": "{PLANT}"}}}}"#),
        format!(
            r#"{{"version": 1, "tokens": {{"access_token": "a", "received_at": "{PLANT}", "generation": 1}}}}"#
        ),
        format!(r#"{{"version": "{PLANT}"}}"#),
        format!(
            r#"{{"version": 1, "client": {{"client_id": "c", "client_secret": ["{PLANT}"], "auth_method": "none"}}}}"#
        ),
        format!(r#"{{"version": 1, "client": {{"client_id": "c", "auth_method": "{PLANT}"}}}}"#),
        format!(r#"{{"version": 1, "tokens": {{"access_token": "{PLANT}""#),
        format!(r#"{{"version": 1, "tokens": {PLANT}}}"#),
        format!(r#"["{PLANT}"]"#),
    ];
    for json in &bad {
        let e = Snapshot::from_json(json.as_bytes()).expect_err("malformed");
        check_error("SnapshotError", &e);
    }
    // The snapshot's own Debug redacts, and to_json is a zeroizing buffer.
    let snap = Snapshot {
        revision: 0,
        client_issuer: None,
        version: SNAPSHOT_VERSION,
        tokens: Some(StoredTokens {
            issuer: None,
            access_token: Secret::new(PLANT),
            refresh_token: Some(Secret::new(PLANT)),
            received_at: 0,
            expires_at: None,
            scope: None,
            generation: 1,
            refresh_at: None,
        }),
        client: Some(ClientRegistration::confidential(
            "c",
            Secret::new(PLANT),
            bearerflow::oauth::ClientAuthMethod::ClientSecretBasic,
        )),
        server: None,
    };
    assert_clean("Snapshot Debug", &format!("{snap:?}"));
    let json: zeroize::Zeroizing<String> = snap.to_json();
    assert!(
        json.contains(PLANT),
        "the snapshot's JSON does carry the tokens"
    );
}

#[test]
fn config_errors_never_quote_the_config() {
    let bad = [
        format!(
            r#"{{"resource_url": "https://m/mcp", "credential": {{"kind": "oauth", "client": {{"client_id": "c", "client_secret": 5, "auth_method": "{PLANT}"}}}}}}"#
        ),
        format!(
            r#"{{"resource_url": "https://m/mcp", "credential": {{"kind": "oauth", "client": {{"client_id": "c", "client_secret": ["{PLANT}"], "auth_method": "none"}}}}}}"#
        ),
        format!(r#"{{"resource_url": "{PLANT}", "credential": {{"kind": "oauth"}}}}"#),
        format!(r#"{{"resource_url": "https://m/mcp", "credential": {{"kind": "{PLANT}"}}}}"#),
        format!(
            r#"{{"resource_url": "https://m/mcp", "credential": {{"kind": "oauth", "redirect_uri": "{PLANT}"}}}}"#
        ),
        format!(
            r#"{{"resource_url": "https://m/mcp", "credential": {{"kind": "oauth", "token_endpoint": "ftp://{PLANT}"}}}}"#
        ),
        format!(
            r#"{{"resource_url": "https://m/mcp", "credential": {{"kind": "oauth"}}, "policy": {{"fetch_deadline": "{PLANT}"}}}}"#
        ),
    ];
    for json in &bad {
        let e = Config::from_json(json.as_bytes()).expect_err("invalid");
        check_error("ConfigError", &e);
    }
}

/// An authorization server that echoes the refresh token it was sent in its
/// `error_description` does not get it printed.
#[test]
fn an_echoed_refresh_token_is_redacted_from_the_error() {
    let snap = Snapshot {
        revision: 0,
        client_issuer: None,
        version: SNAPSHOT_VERSION,
        tokens: Some(StoredTokens {
            issuer: None,
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new(PLANT)),
            received_at: 0,
            expires_at: Some(10_000),
            scope: None,
            generation: 1,
            refresh_at: None,
        }),
        client: Some(ClientRegistration::public("client-1")),
        server: Some(StoredServer {
            resource: None,
            requested_scope: None,
            issuer: ISSUER.into(),
            token_endpoint: TOKEN_ENDPOINT.into(),
            authorization_endpoint: None,
            registration_endpoint: None,
        }),
    };
    for code in ["invalid_grant", "invalid_request"] {
        let mut s = Session::restore(refresh_only_config(), snap.clone(), SEED, Timestamp(0));
        s.begin_request(Timestamp(20_000));
        let id = std::iter::from_fn(|| s.poll_action())
            .find_map(|a| match a {
                Action::Fetch { id, .. } => Some(id),
                _ => None,
            })
            .expect("a refresh");
        let body = format!(
            r#"{{"error":"{code}","error_description":"refresh token {PLANT} is not valid"}}"#
        );
        s.handle_http_response(id, 400, &[], body.as_bytes(), Timestamp(20_010));
        let acts: Vec<Action> = std::iter::from_fn(|| s.poll_action()).collect();
        let e = s.last_error().expect("an error");
        check_error(code, e);
        assert!(e.to_string().contains("<redacted>"), "{e}");
        for a in &acts {
            if let Action::Fail { cause: Some(c), .. } = a {
                check_error("Fail cause", c);
            }
        }
    }
}

/// Token endpoint answers that carry the planted value in a secret field, next to a
/// field that makes them unusable, and bodies that are not token responses at all.
#[test]
fn token_endpoint_errors_never_quote_a_token() {
    let bodies = [
        format!(r#"{{"access_token":"{PLANT}","token_type":"Bearer","expires_in":"abc"}}"#),
        format!(r#"{{"access_token":"{PLANT}","token_type":"mac"}}"#),
        format!(r#"{{"access_token":"{PLANT}","refresh_token":7,"token_type":"Bearer"}}"#),
        format!(r#"{{"access_token":"{PLANT}"}}"#),
        format!(r#"{{"refresh_token":"{PLANT}","token_type":"Bearer"}}"#),
        format!(r#"{{"access_token":"{PLANT} with space","token_type":"Bearer"}}"#),
        format!(r#"{{"access_token":"{PLANT}","token_type":"Bearer","scope":5}}"#),
        format!(r#"{{"access_token":"{PLANT}","token_type":"Bearer""#),
        format!(r#"[{{"access_token":"{PLANT}"}}]"#),
    ];
    let statuses = [200u16, 400, 401, 404, 500];
    for body in &bodies {
        for &status in &statuses {
            let snap = Snapshot {
                revision: 0,
                client_issuer: None,
                version: SNAPSHOT_VERSION,
                tokens: Some(StoredTokens {
                    issuer: None,
                    access_token: Secret::new("at"),
                    refresh_token: Some(Secret::new("rt")),
                    received_at: 0,
                    expires_at: Some(10_000),
                    scope: None,
                    generation: 1,
                    refresh_at: None,
                }),
                client: Some(ClientRegistration::public("client-1")),
                server: Some(StoredServer {
                    resource: None,
                    requested_scope: None,
                    issuer: ISSUER.into(),
                    token_endpoint: TOKEN_ENDPOINT.into(),
                    authorization_endpoint: None,
                    registration_endpoint: None,
                }),
            };
            let mut s = Session::restore(refresh_only_config(), snap, SEED, Timestamp(0));
            s.begin_request(Timestamp(20_000));
            let id = std::iter::from_fn(|| s.poll_action())
                .find_map(|a| match a {
                    Action::Fetch { id, .. } => Some(id),
                    _ => None,
                })
                .expect("a refresh");
            s.handle_http_response(id, status, &[], body.as_bytes(), Timestamp(20_010));
            let acts: Vec<Action> = std::iter::from_fn(|| s.poll_action()).collect();
            if let Some(e) = s.last_error() {
                check_error("SessionError", e);
            }
            for a in &acts {
                if let Action::Fail { cause: Some(c), .. } = a {
                    check_error("Fail cause", c);
                }
                assert_clean("action Debug", &format!("{a:?}"));
            }
            assert_clean("session Debug", &format!("{s:?}"));
            // Every direct parse error too.
            if let Err(e) = bearerflow::oauth::parse_token_response(status, body.as_bytes()) {
                check_error("TokenError", &e);
            }
        }
    }
}

//! The core contract as a C or JavaScript host meets it: the documented run loop and
//! nothing else. Each test reproduces one fault found by driving the public API that
//! way (issue "The core contract, host-proof") and checks it no longer happens.

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, FetchId, HelperConfig, OAuthConfig, RequestError, RequestId, Session,
    SessionError, Snapshot, StoredServer, StoredTokens, Verdict, SNAPSHOT_VERSION,
};
use bearerflow::time::Timestamp;
use bearerflow::token::{Generation, Phase};
use bearerflow_tests::scenarios::{authorizing_config, refresh_only_config, SEED};
use bearerflow_tests::sim::{ISSUER, RESOURCE, TOKEN_ENDPOINT};

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn t(ms: u64) -> Timestamp {
    Timestamp(ms)
}

/// A snapshot holding an access token that expired at 10 s and a refresh token.
fn expired_snapshot(server: bool) -> Snapshot {
    Snapshot {
        revision: 0,
        client_issuer: None,
        version: SNAPSHOT_VERSION,
        tokens: Some(StoredTokens {
            issuer: None,
            access_token: Secret::new("at-old"),
            refresh_token: Some(Secret::new("rt-old")),
            received_at: 0,
            expires_at: Some(10_000),
            scope: Some("mcp:tools".into()),
            generation: 1,
            refresh_at: None,
        }),
        client: Some(ClientRegistration::public("client-1")),
        server: server.then(|| StoredServer {
            resource: None,
            requested_scope: None,
            issuer: ISSUER.into(),
            token_endpoint: TOKEN_ENDPOINT.into(),
            authorization_endpoint: Some(format!("{ISSUER}/authorize")),
            registration_endpoint: None,
        }),
    }
}

fn the_fetch(actions: &[Action]) -> (FetchId, String, String) {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Fetch { id, request, .. } => Some((
                *id,
                request.url.clone(),
                String::from_utf8_lossy(&request.body).into_owned(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("expected a Fetch in {actions:?}"))
}

fn fails(actions: &[Action]) -> Vec<(RequestId, RequestError, Option<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fail { id, error, cause } => {
                Some((*id, *error, cause.as_ref().map(|c| c.code().to_string())))
            }
            _ => None,
        })
        .collect()
}

fn persisted_refresh_tokens(actions: &[Action]) -> Vec<Option<String>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Persist(s) => Some(
                s.tokens
                    .as_ref()
                    .and_then(|t| t.refresh_token.as_ref().map(|r| r.expose().to_string())),
            ),
            _ => None,
        })
        .collect()
}

const TOKENS: &[u8] = br#"{"access_token":"at-new","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-new"}"#;

/// A host that only loops `handle_timeout(poll_timeout())`, draining actions and
/// answering nothing: every deadline it is given moves time forward, and it goes quiet.
fn timeout_loop(s: &mut Session, max: usize) -> usize {
    for i in 0..max {
        let _ = drain(s);
        let Some(deadline) = s.poll_timeout() else {
            return i;
        };
        s.handle_timeout(deadline);
        let _ = drain(s);
        if let Some(next) = s.poll_timeout() {
            assert!(
                next > deadline,
                "spin: after handle_timeout({deadline:?}) the next deadline is {next:?} ({:?})",
                s.poll_timeout_reason()
            );
        }
    }
    panic!(
        "no quiescence after {max} timeouts: {:?}",
        s.poll_timeout_reason()
    );
}

#[test]
fn reauthorize_on_a_helper_session_reruns_the_helper_and_timers_never_spin() {
    let config = Config::header_helper(
        RESOURCE,
        HelperConfig {
            ttl_ms: Some(1_000),
            oauth_fallback: None,
        },
    );
    let mut s = Session::new(config, SEED, t(0));
    assert!(matches!(drain(&mut s)[..], [Action::RunHelper]));
    s.handle_helper_stdout(br#"{"Authorization": "Bearer h1"}"#, t(10));
    let _ = drain(&mut s);
    // The TTL passes with nobody calling; then the user asks to start over.
    s.reauthorize(t(5_000));
    let acts = drain(&mut s);
    assert!(
        matches!(acts[..], [Action::RunHelper]),
        "reauthorize re-runs the helper: {acts:?}"
    );
    assert_eq!(s.stats().helper_runs, 2);
    timeout_loop(&mut s, 50);
}

#[test]
fn a_send_queued_before_a_helper_rerun_is_drained_with_headers() {
    let mut s = Session::new(
        Config::header_helper(RESOURCE, HelperConfig::default()),
        SEED,
        t(0),
    );
    let _ = drain(&mut s);
    s.handle_helper_stdout(br#"{"Authorization": "Bearer h1"}"#, t(10));
    let a = s.begin_request(t(20));
    let _ = drain(&mut s); // a goes out with h1
    let b = s.begin_request(t(30)); // b's Send is queued, not drained yet
    assert_eq!(
        s.handle_resource_response(a, 401, &[], t(40)),
        Verdict::Retry
    );
    s.handle_helper_stdout(br#"{"Authorization": "Bearer h2"}"#, t(50));
    let acts = drain(&mut s);
    let sends: Vec<(RequestId, Generation)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Send { id, generation } => Some((*id, *generation)),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 2, "{acts:?}");
    for (id, generation) in sends {
        let headers = s
            .headers(generation)
            .unwrap_or_else(|| panic!("Send {id:?} of generation {generation:?} has no headers"));
        assert_eq!(headers[0].value.expose(), "Bearer h2");
    }
    assert!(acts
        .iter()
        .any(|x| matches!(x, Action::Send { id, .. } if *id == b)));
}

#[test]
fn set_tokens_requeues_sends_queued_for_the_old_tokens() {
    let mut s = Session::restore(refresh_only_config(), expired_snapshot(true), SEED, t(0));
    let a = s.begin_request(t(1_000)); // Send with generation 1, not drained
    s.set_tokens(Secret::new("at-2"), None, Some(60), None, t(1_001));
    let acts = drain(&mut s);
    assert!(matches!(acts[0], Action::Persist(_)), "{acts:?}");
    assert!(
        matches!(acts[1], Action::Send { id, generation } if id == a && s.headers(generation).is_some()),
        "{acts:?}"
    );
    assert_eq!(acts.len(), 2);
}

/// Each odd answer keeps the refresh token: never a `Persist` without it, and the next
/// attempt presents it again.
#[test]
fn odd_token_endpoint_answers_never_drop_the_refresh_token() {
    let odd: [(u16, &[u8]); 7] = [
        (404, b"<html><body>Not Found</body></html>"),
        (408, b""),
        (302, b""),
        (0, b""),
        (200, b"<html>captive portal</html>"),
        (403, br#"{"error":"invalid_grant"}"#), // not a status RFC 6749 §5.2 uses
        (502, br#"{"error":"invalid_grant"}"#),
    ];
    for (status, body) in odd {
        let mut s = Session::restore(refresh_only_config(), expired_snapshot(true), SEED, t(0));
        let call = s.begin_request(t(20_000));
        let (fid, _, form) = the_fetch(&drain(&mut s));
        assert!(form.contains("refresh_token=rt-old"));
        s.handle_http_response(fid, status, &[], body, t(20_050));
        let acts = drain(&mut s);
        assert!(
            persisted_refresh_tokens(&acts).is_empty() && fails(&acts).is_empty(),
            "HTTP {status}: {acts:?}"
        );
        let snap = s.snapshot();
        let kept = snap.tokens.as_ref().and_then(|t| t.refresh_token.as_ref());
        assert_eq!(kept.map(Secret::expose), Some("rt-old"), "HTTP {status}");
        // Backoff, then the same refresh token again; the tokens arrive.
        let at = s.poll_timeout().expect("a backoff");
        assert!(at.0 < 20_050 + 2_000, "HTTP {status}: backoff {at:?}");
        s.handle_timeout(at);
        let (fid, _, form) = the_fetch(&drain(&mut s));
        assert!(form.contains("refresh_token=rt-old"), "HTTP {status}");
        s.handle_http_response(fid, 200, &[], TOKENS, at + bearerflow::time::Millis(10));
        let acts = drain(&mut s);
        assert_eq!(
            persisted_refresh_tokens(&acts),
            [Some("rt-new".to_string())]
        );
        assert!(acts
            .iter()
            .any(|a| matches!(a, Action::Send { id, .. } if *id == call)));
    }
}

#[test]
fn attempts_run_out_with_a_typed_failure_and_the_refresh_token_stays() {
    let mut s = Session::restore(refresh_only_config(), expired_snapshot(true), SEED, t(0));
    let call = s.begin_request(t(20_000));
    let mut now = 20_000;
    let mut all = Vec::new();
    for _ in 0..s.config().policy.max_token_attempts {
        let acts = drain(&mut s);
        let (fid, _, _) = the_fetch(&acts);
        now += 50;
        s.handle_http_response(fid, 404, &[], b"<html>gateway</html>", t(now));
        all.extend(drain(&mut s));
        if let Some(at) = s.poll_timeout() {
            if fails(&all).is_empty() {
                now = at.0;
                s.handle_timeout(at);
            }
        }
    }
    assert_eq!(
        fails(&all),
        [(
            call,
            RequestError::TokenEndpointUnavailable,
            Some("status".into())
        )]
    );
    assert!(persisted_refresh_tokens(&all).is_empty());
    assert!(s.snapshot().tokens.unwrap().refresh_token.is_some());
    // The next request (after the longest backoff) refreshes with it.
    let later = s.poll_timeout().expect("the backoff");
    s.handle_timeout(later);
    let next = s.begin_request(later);
    let (fid, _, form) = the_fetch(&drain(&mut s));
    assert!(form.contains("refresh_token=rt-old"));
    s.handle_http_response(fid, 200, &[], TOKENS, later);
    assert!(drain(&mut s)
        .iter()
        .any(|a| matches!(a, Action::Send { id, .. } if *id == next)));
}

#[test]
fn only_the_errors_that_say_so_drop_credentials() {
    // (error code, refresh token kept, registration kept)
    let cases = [
        ("invalid_grant", false, true),
        ("invalid_client", false, false),
        ("unauthorized_client", false, false),
        ("invalid_request", true, true),
        ("invalid_scope", true, true),
        ("unsupported_grant_type", true, true),
    ];
    for (code, keeps_rt, keeps_client) in cases {
        let mut snap = expired_snapshot(true);
        snap.client = Some(ClientRegistration::public("dyn-client")); // registered, not configured
        let config = Config::oauth(
            RESOURCE,
            OAuthConfig {
                token_endpoint: Some(TOKEN_ENDPOINT.into()),
                ..OAuthConfig::default()
            },
        );
        let mut s = Session::restore(config, snap, SEED, t(0));
        let call = s.begin_request(t(20_000));
        let (fid, _, _) = the_fetch(&drain(&mut s));
        let body = format!(r#"{{"error":"{code}"}}"#);
        let status = if code == "invalid_client" { 401 } else { 400 };
        s.handle_http_response(fid, status, &[], body.as_bytes(), t(20_050));
        let acts = drain(&mut s);
        let snapshot = s.snapshot();
        let rt = snapshot
            .tokens
            .as_ref()
            .and_then(|t| t.refresh_token.as_ref());
        assert_eq!(rt.is_some(), keeps_rt, "{code}");
        assert_eq!(snapshot.client.is_some(), keeps_client, "{code}");
        let expected = if keeps_rt {
            RequestError::TokenEndpointRejected
        } else {
            RequestError::ReauthorizationRequired
        };
        assert_eq!(
            fails(&acts),
            [(call, expected, Some("token_endpoint".into()))],
            "{code}"
        );
        assert_eq!(
            persisted_refresh_tokens(&acts).is_empty(),
            keeps_rt,
            "{code}"
        );
    }
}

#[test]
fn a_network_error_during_discovery_backs_off_and_the_next_request_tries_again() {
    let mut s = Session::new(authorizing_config(), SEED, t(0));
    let probe = s.begin_request(t(0));
    let _ = drain(&mut s);
    let challenge = format!(
        r#"Bearer resource_metadata="{}""#,
        bearerflow_tests::sim::PRM_URL
    );
    assert_eq!(
        s.handle_resource_response(probe, 401, &[&challenge], t(10)),
        Verdict::Retry
    );
    let (fid, url, _) = the_fetch(&drain(&mut s));
    assert_eq!(url, bearerflow_tests::sim::PRM_URL);
    s.handle_http_error(fid, bearerflow::session::HttpErrorKind::Connect, t(20));
    let acts = drain(&mut s);
    assert_eq!(
        fails(&acts),
        [(
            probe,
            RequestError::AuthorizationFailed,
            Some("network".into())
        )]
    );
    assert_eq!(s.phase(t(20)), Phase::Failed);
    assert!(matches!(s.last_error(), Some(SessionError::Network(_))));
    // The next request after the backoff starts over: no reauthorization_required.
    let at = s.poll_timeout().expect("a backoff");
    assert!(
        at.0 <= 20 + 1_000,
        "a transient failure backs off briefly: {at:?}"
    );
    s.handle_timeout(at);
    let next = s.begin_request(at);
    let acts = drain(&mut s);
    assert!(fails(&acts).is_empty(), "{acts:?}");
    assert!(
        matches!(acts[..], [Action::Send { id, generation: Generation::NONE }] if id == next),
        "the next request probes again: {acts:?}"
    );
}

#[test]
fn a_restored_refresh_token_without_the_server_is_refreshed_after_discovery() {
    let mut s = Session::restore(authorizing_config(), expired_snapshot(false), SEED, t(0));
    let call = s.begin_request(t(20_000));
    let mut acts = drain(&mut s);
    // Discovery: resource metadata, then the authorization server's.
    let mut seen = Vec::new();
    loop {
        let (fid, url, body) = the_fetch(&acts);
        seen.push(url.clone());
        let (status, doc): (u16, String) = if url.contains("oauth-protected-resource") {
            (
                200,
                serde_json::json!({"resource": RESOURCE, "authorization_servers": [ISSUER]})
                    .to_string(),
            )
        } else if url.contains("/.well-known/oauth-authorization-server") {
            (
                200,
                serde_json::json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": format!("{ISSUER}/authorize"),
                    "token_endpoint": TOKEN_ENDPOINT,
                    "code_challenge_methods_supported": ["S256"],
                })
                .to_string(),
            )
        } else if url == TOKEN_ENDPOINT {
            assert!(body.contains("grant_type=refresh_token&refresh_token=rt-old"));
            s.handle_http_response(fid, 200, &[], TOKENS, t(20_100));
            break;
        } else {
            (404, String::new())
        };
        s.handle_http_response(fid, status, &[], doc.as_bytes(), t(20_050));
        acts = drain(&mut s);
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Authorize { .. })),
            "authorization before the refresh token was tried: {acts:?}"
        );
    }
    let acts = drain(&mut s);
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Send { id, .. } if *id == call)));
    assert_eq!(s.stats().authorizations, 0);
    assert_eq!(s.stats().refresh_requests, 1);
    assert!(seen.last().is_some_and(|u| u == TOKEN_ENDPOINT));
}

#[test]
fn a_refused_authorization_is_not_sticky_and_last_error_follows_the_state() {
    let mut s = Session::restore(authorizing_config(), expired_snapshot(true), SEED, t(0));
    // Force the flow: the refresh token is refused.
    let call = s.begin_request(t(20_000));
    let (fid, _, _) = the_fetch(&drain(&mut s));
    s.handle_http_response(fid, 400, &[], br#"{"error":"invalid_grant"}"#, t(20_010));
    let acts = drain(&mut s);
    // Known server without metadata: discovery runs, then the browser.
    let mut acts = acts;
    let url = loop {
        if let Some(Action::Authorize { url }) =
            acts.iter().find(|a| matches!(a, Action::Authorize { .. }))
        {
            break url.clone();
        }
        let (fid, u, _) = the_fetch(&acts);
        let doc = if u.contains("oauth-protected-resource") {
            serde_json::json!({"resource": RESOURCE, "authorization_servers": [ISSUER]})
        } else {
            serde_json::json!({
                "issuer": ISSUER,
                "authorization_endpoint": format!("{ISSUER}/authorize"),
                "token_endpoint": TOKEN_ENDPOINT,
                "code_challenge_methods_supported": ["S256"],
            })
        };
        s.handle_http_response(fid, 200, &[], doc.to_string().as_bytes(), t(20_020));
        acts = drain(&mut s);
    };
    let state = url
        .split('&')
        .find_map(|kv| kv.strip_prefix("state="))
        .expect("state in the authorization URL")
        .to_string();
    // The user says no.
    let denied = format!("http://127.0.0.1:8976/callback?error=access_denied&state={state}");
    assert!(s.handle_redirect(&denied, t(21_000)).is_err());
    let acts = drain(&mut s);
    assert_eq!(
        fails(&acts),
        [(
            call,
            RequestError::AuthorizationFailed,
            Some("authorization_denied".into())
        )]
    );
    assert_eq!(
        s.last_error().map(SessionError::code),
        Some("authorization_denied")
    );
    // Not sticky: the next request (after the backoff) authorizes again. It goes out
    // first without a token (there is none), and its 401 starts the flow.
    let at = s.poll_timeout().expect("a backoff");
    s.handle_timeout(at);
    let next = s.begin_request(at);
    let acts = drain(&mut s);
    assert!(
        matches!(acts[..], [Action::Send { id, generation: Generation::NONE }] if id == next),
        "{acts:?}"
    );
    assert_eq!(
        s.handle_resource_response(next, 401, &[], at),
        Verdict::Retry
    );
    let acts = drain(&mut s);
    assert!(fails(&acts).is_empty(), "{acts:?}");
    let Some(Action::Authorize { url }) =
        acts.iter().find(|a| matches!(a, Action::Authorize { .. }))
    else {
        panic!("expected a new authorization, got {acts:?}")
    };
    let state = url
        .split('&')
        .find_map(|kv| kv.strip_prefix("state="))
        .expect("state")
        .to_string();
    let ok = format!(
        "http://127.0.0.1:8976/callback?code=c1&state={state}&iss={}",
        bearerflow::oauth::form::encode(ISSUER)
    );
    s.handle_redirect(&ok, at).expect("accepted");
    let (fid, _, _) = the_fetch(&drain(&mut s));
    s.handle_http_response(fid, 200, &[], TOKENS, at);
    let acts = drain(&mut s);
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Send { id, .. } if *id == next)));
    assert_eq!(s.last_error(), None, "recovered: nothing is wrong now");
    assert_eq!(s.phase(at), Phase::Fresh);
}

#[test]
fn a_stored_generation_cannot_make_credentials_collide() {
    let mut snap = expired_snapshot(true);
    if let Some(tk) = snap.tokens.as_mut() {
        tk.generation = u64::MAX;
    }
    let mut s = Session::restore(refresh_only_config(), snap, SEED, t(0));
    let first = s.tokens().map(|t| t.generation()).expect("tokens");
    s.set_tokens(Secret::new("a2"), None, Some(60), None, t(1));
    let second = s.tokens().map(|t| t.generation()).expect("tokens");
    s.set_tokens(Secret::new("a3"), None, Some(60), None, t(2));
    let third = s.tokens().map(|t| t.generation()).expect("tokens");
    assert!(
        first < second && second < third,
        "{first:?} {second:?} {third:?}"
    );
}

#[test]
fn cancel_ends_a_pending_request_with_one_cancelled_fail() {
    let mut s = Session::restore(refresh_only_config(), expired_snapshot(true), SEED, t(0));
    let a = s.begin_request(t(20_000)); // waits for the refresh
    let _ = drain(&mut s);
    s.cancel_request(a);
    assert_eq!(fails(&drain(&mut s)), [(a, RequestError::Cancelled, None)]);
    s.cancel_request(a); // finished: nothing more
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.pending_requests(), 0);
    // A sent request the host gives up on ends the same way, and its queued Send is
    // withdrawn.
    s.set_tokens(Secret::new("at"), None, Some(60), None, t(20_001));
    let _ = drain(&mut s);
    let b = s.begin_request(t(20_002));
    s.cancel_request(b);
    let acts = drain(&mut s);
    assert_eq!(fails(&acts), [(b, RequestError::Cancelled, None)]);
    assert!(!acts.iter().any(|x| matches!(x, Action::Send { .. })));
}

#[test]
fn each_fail_carries_its_own_cause() {
    // Request 1 waits on a refresh that is refused with invalid_request (kept tokens);
    // request 2 then times out waiting while a later refresh backs off after a 503.
    let mut s = Session::restore(refresh_only_config(), expired_snapshot(true), SEED, t(0));
    let one = s.begin_request(t(20_000));
    let (fid, _, _) = the_fetch(&drain(&mut s));
    s.handle_http_response(fid, 400, &[], br#"{"error":"invalid_request"}"#, t(20_010));
    let first = fails(&drain(&mut s));
    assert_eq!(
        first,
        [(
            one,
            RequestError::TokenEndpointRejected,
            Some("token_endpoint".into())
        )]
    );
    let at = s.poll_timeout().expect("backoff");
    s.handle_timeout(at);
    let two = s.begin_request(at);
    let (fid, _, _) = the_fetch(&drain(&mut s));
    s.handle_http_response(fid, 503, &[], b"", at);
    assert!(drain(&mut s).is_empty());
    // Request 2's own cause is the 503, not request 1's refusal.
    s.cancel_request(two);
    let acts = drain(&mut s);
    assert_eq!(fails(&acts), [(two, RequestError::Cancelled, None)]);
    assert_eq!(s.last_error().map(SessionError::code), Some("status"));
}

#[test]
fn a_failed_persist_is_asked_again_and_the_tokens_stay_in_use() {
    let mut s = Session::restore(refresh_only_config(), expired_snapshot(true), SEED, t(0));
    let a = s.begin_request(t(20_000));
    let (fid, _, _) = the_fetch(&drain(&mut s));
    s.handle_http_response(fid, 200, &[], TOKENS, t(20_010));
    let acts = drain(&mut s);
    assert_eq!(persisted_refresh_tokens(&acts), [Some("rt-new".into())]);
    s.handle_persist_failed(t(20_011));
    assert_eq!(
        s.last_error().map(SessionError::code),
        Some("persist_failed")
    );
    // Requests keep going out with the new tokens meanwhile.
    assert!(acts
        .iter()
        .any(|x| matches!(x, Action::Send { id, .. } if *id == a)));
    let b = s.begin_request(t(20_012));
    assert!(matches!(drain(&mut s)[..], [Action::Send { id, .. }] if id == b));
    // The machine asks again after a backoff, with the current tokens.
    let (at, reason) = s.poll_timeout_reason().expect("a persist retry");
    assert_eq!(reason, bearerflow::session::TimeoutReason::PersistRetry);
    s.handle_timeout(at);
    assert_eq!(
        persisted_refresh_tokens(&drain(&mut s)),
        [Some("rt-new".into())]
    );
    assert_eq!(s.stats().persist_failures, 1);
    // Stored this time: nothing more is due.
    assert_eq!(s.poll_timeout(), None);
}

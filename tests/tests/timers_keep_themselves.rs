//! Timers keep themselves: a host that does nothing but `handle_timeout(poll_timeout())`
//! (and drains actions) never spins and reaches quiescence. Checked over generated
//! histories that leave the session in every kind of state (OAuth sessions restored or
//! new, header helpers with and without a TTL, client credentials; answers of every
//! kind, cancels, re-authorizations, persist failures), then let the clock run alone.

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, FetchId, Grant, HelperConfig, HttpErrorKind, OAuthConfig, RequestId, Session,
};
use bearerflow::time::Timestamp;
use bearerflow::token::Generation;
use bearerflow_tests::scenarios::{authorizing_config, refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Sim, RESOURCE, TOKEN_ENDPOINT};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

#[derive(Clone, Debug)]
enum Kind {
    RestoredRefreshOnly { ttl: u64 },
    RestoredAuthorizing { ttl: u64 },
    New,
    Helper { ttl_ms: Option<u64> },
    ClientCredentials,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (1u64..120).prop_map(|ttl| Kind::RestoredRefreshOnly { ttl }),
        (1u64..120).prop_map(|ttl| Kind::RestoredAuthorizing { ttl }),
        Just(Kind::New),
        proptest::option::of(1u64..120_000).prop_map(|ttl_ms| Kind::Helper { ttl_ms }),
        Just(Kind::ClientCredentials),
    ]
}

fn session(kind: &Kind, idle_refresh: bool, shared: bool) -> Session {
    let mut config = match kind {
        Kind::RestoredRefreshOnly { .. } => refresh_only_config(),
        Kind::RestoredAuthorizing { .. } | Kind::New => authorizing_config(),
        Kind::Helper { ttl_ms } => Config::header_helper(
            RESOURCE,
            HelperConfig {
                ttl_ms: *ttl_ms,
                oauth_fallback: None,
            },
        ),
        Kind::ClientCredentials => Config::oauth(
            RESOURCE,
            OAuthConfig {
                client: Some(ClientRegistration::public("client-1")),
                token_endpoint: Some(TOKEN_ENDPOINT.into()),
                grant: Grant::ClientCredentials,
                ..OAuthConfig::default()
            },
        ),
    };
    config.policy.refresh_when_idle = idle_refresh;
    config.policy.shared_store = shared;
    match kind {
        Kind::RestoredRefreshOnly { ttl } | Kind::RestoredAuthorizing { ttl } => {
            let mut auth = AuthServer::new(Some(*ttl), true);
            let snap = Sim::minted_snapshot(&mut auth, 0);
            Session::restore(config, snap, SEED, Timestamp(0))
        }
        _ => Session::new(config, SEED, Timestamp(0)),
    }
}

/// One thing the host does, with a pick among what is outstanding.
#[derive(Clone, Debug)]
enum Op {
    Begin,
    Answer { pick: usize, status: u16 },
    Fetch { pick: u8 },
    HelperOk,
    HelperFails,
    Redirect,
    Cancel { pick: usize },
    Reauthorize,
    SetTokens { expires_in: Option<u64> },
    PersistFailed,
    Lease { granted: bool },
    StoreUpdate,
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Begin),
        4 => (any::<usize>(), prop_oneof![Just(200u16), Just(401), Just(403), Just(500)])
            .prop_map(|(pick, status)| Op::Answer { pick, status }),
        4 => (0u8..7).prop_map(|pick| Op::Fetch { pick }),
        1 => Just(Op::HelperOk),
        1 => Just(Op::HelperFails),
        1 => Just(Op::Redirect),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        1 => Just(Op::Reauthorize),
        1 => proptest::option::of(0u64..120).prop_map(|expires_in| Op::SetTokens { expires_in }),
        1 => Just(Op::PersistFailed),
        1 => any::<bool>().prop_map(|granted| Op::Lease { granted }),
        1 => Just(Op::StoreUpdate),
        3 => Just(Op::Timeout),
    ]
}

/// What the host holds: sent requests it owes an answer for, the fetch in flight, the
/// authorization URL it was asked to open.
#[derive(Default)]
struct Host {
    sent: Vec<(RequestId, Generation)>,
    fetch: Option<FetchId>,
    authorize: Option<String>,
}

impl Host {
    fn drain(&mut self, s: &mut Session) -> Result<(), TestCaseError> {
        while let Some(a) = s.poll_action() {
            match a {
                Action::Send { id, generation } => {
                    prop_assert!(
                        s.headers(generation).is_some(),
                        "a drained Send of {generation:?} has no headers"
                    );
                    self.sent.retain(|(i, _)| *i != id);
                    self.sent.push((id, generation));
                }
                Action::Fetch { id, .. } => self.fetch = Some(id),
                Action::Authorize { url } => self.authorize = Some(url),
                Action::Fail { id, .. } => self.sent.retain(|(i, _)| *i != id),
                Action::Persist(_)
                | Action::RunHelper
                | Action::AcquireLease { .. }
                | Action::ReleaseLease => {}
            }
        }
        Ok(())
    }
}

const FETCH_ANSWERS: [(u16, &str); 5] = [
    (
        200,
        r#"{"access_token":"at-x","token_type":"Bearer","expires_in":30,"refresh_token":"rt-x"}"#,
    ),
    (400, r#"{"error":"invalid_grant"}"#),
    (503, ""),
    (404, "<html>no</html>"),
    (400, r#"{"error":"invalid_request"}"#),
];

fn apply(s: &mut Session, host: &mut Host, op: &Op, now: Timestamp) {
    match op {
        Op::Begin => {
            s.begin_request(now);
        }
        Op::Answer { pick, status } => {
            if !host.sent.is_empty() {
                let (id, _) = host.sent.remove(pick % host.sent.len());
                let line = r#"Bearer error="invalid_token""#;
                let scope = r#"Bearer error="insufficient_scope", scope="mcp:admin""#;
                let lines: &[&str] = match status {
                    401 => &[line],
                    403 => &[scope],
                    _ => &[],
                };
                let _ = s.handle_resource_response(id, *status, lines, now);
            }
        }
        Op::Fetch { pick } => {
            if let Some(id) = host.fetch.take() {
                match FETCH_ANSWERS.get(*pick as usize) {
                    Some((status, body)) => {
                        s.handle_http_response(id, *status, &[], body.as_bytes(), now)
                    }
                    None if *pick == 5 => s.handle_http_error(id, HttpErrorKind::Connect, now),
                    None => {} // never answered
                }
            }
        }
        Op::HelperOk => s.handle_helper_stdout(br#"{"Authorization": "Bearer h"}"#, now),
        Op::HelperFails => s.handle_helper_failure(Some(1), now),
        Op::Redirect => {
            if let Some(url) = host.authorize.take() {
                let state = url
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("state="))
                    .unwrap_or("")
                    .to_string();
                let _ = s.handle_redirect(
                    &format!("http://127.0.0.1:8976/callback?code=c&state={state}"),
                    now,
                );
            }
        }
        Op::Cancel { pick } => {
            if !host.sent.is_empty() {
                let (id, _) = host.sent.remove(pick % host.sent.len());
                s.cancel_request(id);
            }
        }
        Op::Reauthorize => s.reauthorize(now),
        Op::SetTokens { expires_in } => {
            s.set_tokens(Secret::new("at-set"), None, *expires_in, None, now)
        }
        Op::PersistFailed => s.handle_persist_failed(now),
        Op::Lease { granted } => s.handle_lease(*granted, now),
        Op::StoreUpdate => {
            // Another process stored newer tokens.
            let mut snap = s.snapshot();
            snap.revision += 3;
            if let Some(t) = snap.tokens.as_mut() {
                t.access_token = Secret::new("at-other");
                t.refresh_token = Some(Secret::new("rt-other"));
                t.received_at = now.0;
                t.expires_at = Some(now.0 + 30_000);
                t.refresh_at = None;
            }
            s.handle_store_update(snap, now);
        }
        Op::Timeout => {
            if let Some(t) = s.poll_timeout() {
                if t <= now {
                    s.handle_timeout(now);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_timeout_only_host_never_spins_and_goes_quiet(
        kind in kind(),
        idle_refresh in any::<bool>(),
        shared in any::<bool>(),
        ops in proptest::collection::vec((op(), 0u64..20_000), 0..40),
    ) {
        let mut s = session(&kind, idle_refresh, shared);
        let mut host = Host::default();
        host.drain(&mut s)?;
        let mut now = 0u64;
        for (op, dt) in &ops {
            now += dt;
            apply(&mut s, &mut host, op, Timestamp(now));
            host.drain(&mut s)?;
        }
        // Now only the clock: no answers, no new requests.
        let mut fired = 0;
        while let Some(deadline) = s.poll_timeout() {
            prop_assert!(fired < 200, "no quiescence: still {:?}", s.poll_timeout_reason());
            let deadline = deadline.max(Timestamp(now));
            s.handle_timeout(deadline);
            host.drain(&mut s)?;
            if let Some(next) = s.poll_timeout() {
                prop_assert!(
                    next > deadline,
                    "spin: after handle_timeout({:?}) the next deadline is {:?}",
                    deadline,
                    s.poll_timeout_reason()
                );
            }
            now = deadline.0;
            fired += 1;
        }
    }
}

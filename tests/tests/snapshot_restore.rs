//! Rule 10: a snapshot carries absolute expiry, the refresh window and the generation;
//! restoring it gives the same phase at the same `now`, and a restored expired token
//! with a refresh token refreshes before the first `Send`.

use bearerflow::session::{Action, Session, Snapshot};
use bearerflow::time::Timestamp;
use bearerflow::token::Phase;
use bearerflow_tests::scenarios::{refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Sim};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn restore_gives_the_same_phase_at_the_same_now(
        ttl in 2u64..3_600,
        rotate in any::<bool>(),
        begins in proptest::collection::vec(0u64..20_000, 0..12),
        at in 0u64..30_000,
        probes in proptest::collection::vec(0u64..8_000_000, 1..8),
        seed2 in any::<[u8; 32]>(),
    ) {
        let mut auth = AuthServer::new(Some(ttl), rotate);
        let snap = Sim::minted_snapshot(&mut auth, 0);
        let mut sim = Sim::with_snapshot(refresh_only_config(), auth, SEED, 0, Some(snap));
        for b in begins {
            sim.begin_at(b);
        }
        sim.run_until(at, 100_000);
        let now = Timestamp(sim.now);
        let phase = sim.session.phase(now);
        prop_assume!(!matches!(phase, Phase::Refreshing | Phase::Authorizing));
        let json = sim.session.snapshot().to_json();
        let snap = Snapshot::from_json(json.as_bytes()).expect("own snapshot parses");
        prop_assert_eq!(&snap, &sim.session.snapshot());
        // A different seed: the restored phase must not depend on fresh jitter.
        let restored = Session::restore(refresh_only_config(), snap, seed2, now);
        prop_assert_eq!(restored.phase(now), phase);
        for p in probes {
            let later = Timestamp(now.0 + p);
            prop_assert_eq!(restored.phase(later), sim.session.phase(later), "at +{}ms", p);
        }
    }
}

#[test]
fn restored_expired_token_refreshes_before_the_first_send() {
    let mut auth = AuthServer::new(Some(60), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let now = Timestamp(120_000);
    let mut s = Session::restore(refresh_only_config(), snap, SEED, now);
    assert_eq!(s.phase(now), Phase::Expired);
    let id = s.begin_request(now);
    let first = s.poll_action();
    assert!(
        matches!(&first, Some(Action::Fetch { purpose, .. }) if purpose.is_token_request()),
        "first action must be the refresh, got {first:?}"
    );
    assert!(
        s.poll_action().is_none(),
        "nothing is sent before the refresh"
    );
    let Some(Action::Fetch { id: fid, .. }) = first else {
        unreachable!("checked above")
    };
    let body =
        br#"{"access_token":"new","token_type":"bearer","expires_in":60,"refresh_token":"rt-new"}"#;
    s.handle_http_response(fid, 200, &[], body, Timestamp(120_050));
    match (s.poll_action(), s.poll_action()) {
        (
            Some(Action::Persist(p)),
            Some(Action::Send {
                id: sid,
                generation,
            }),
        ) => {
            assert_eq!(sid, id);
            let t = p.tokens.expect("tokens persisted");
            assert_eq!(
                t.refresh_token.map(|r| r.expose().to_string()).as_deref(),
                Some("rt-new")
            );
            assert_eq!(t.generation, generation.0);
        }
        other => panic!("expected Persist then Send, got {other:?}"),
    }
}

#[test]
fn snapshot_json_is_versioned_and_rejects_newer_versions() {
    let mut auth = AuthServer::new(Some(60), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let json = snap.to_json();
    assert!(json.contains("\"version\":2"));
    let newer = json.replace("\"version\":2", "\"version\":99");
    assert_eq!(
        Snapshot::from_json(newer.as_bytes()),
        Err(bearerflow::session::SnapshotError::UnsupportedVersion(99))
    );
    assert!(matches!(
        Snapshot::from_json(b"{not json"),
        Err(bearerflow::session::SnapshotError::Malformed(_))
    ));
    // Debug never shows the tokens.
    let shown = format!("{snap:?}");
    let access = snap
        .tokens
        .as_ref()
        .expect("tokens")
        .access_token
        .expose()
        .to_string();
    assert!(!shown.contains(&access));
}

/// A version 1 snapshot (before issuer binding) still works after the upgrade: its
/// tokens and client are taken to belong to its stored server's issuer, and the first
/// request after expiry refreshes with them.
#[test]
fn a_version_1_snapshot_is_migrated_and_its_tokens_keep_working() {
    let v1 = br#"{"version":1,
        "tokens":{"access_token":"at-old","refresh_token":"rt-old","received_at":0,
                  "expires_at":10000,"scope":"mcp:tools","generation":3},
        "client":{"client_id":"client-1","auth_method":"none"},
        "server":{"issuer":"https://auth.example.com","token_endpoint":"https://auth.example.com/token",
                  "authorization_endpoint":"https://auth.example.com/authorize"}}"#;
    let snap = Snapshot::from_json(v1).expect("a version 1 snapshot reads");
    assert_eq!(snap.version, bearerflow::session::SNAPSHOT_VERSION);
    assert_eq!(
        snap.client_issuer.as_deref(),
        Some("https://auth.example.com")
    );
    assert_eq!(
        snap.tokens.as_ref().and_then(|t| t.issuer.as_deref()),
        Some("https://auth.example.com")
    );
    let mut s = Session::restore(refresh_only_config(), snap, SEED, Timestamp(0));
    s.begin_request(Timestamp(20_000));
    let acts: Vec<Action> = std::iter::from_fn(|| s.poll_action()).collect();
    let Some(Action::Fetch { request, .. }) = acts.first() else {
        panic!("expected the refresh, got {acts:?}")
    };
    let body = String::from_utf8_lossy(&request.body);
    assert!(body.contains("refresh_token=rt-old"), "{body}");
    assert!(body.contains("client_id=client-1"), "{body}");
    // Written back as version 2.
    let again = s.snapshot();
    assert_eq!(again.version, 2);
    assert_eq!(
        again.client_issuer.as_deref(),
        Some("https://auth.example.com")
    );
}

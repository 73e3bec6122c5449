//! Transient token-endpoint failures back off and never hurt calls while the token is
//! still valid. Backoff is checked by the spacing of the token requests themselves:
//! the calls keep coming (every second, or every 100 ms), so a session without backoff
//! would retry at the very next call.

use bearerflow::time::Millis;
use bearerflow_tests::scenarios::{self, refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Fault, Logged, Rule, Sim};

/// (sent at, answered at, status) of each token request, in order; `None` status for a
/// network error or no answer.
fn exchanges(sim: &Sim) -> Vec<(u64, u64, Option<u16>)> {
    let mut out = Vec::new();
    for l in &sim.log {
        match l {
            Logged::TokenRequest { at, .. } => out.push((*at, u64::MAX, None)),
            Logged::TokenAnswer { at, status, .. } => {
                if let Some(last) = out.last_mut() {
                    last.1 = *at;
                    last.2 = *status;
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn transient_failures_with_valid_token_cost_nothing() {
    let sim = scenarios::transient_then_recover();
    sim.assert_rules();
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.ok(), 70);
    assert_eq!(sim.unauthorized_delivered, 0);
    let x = exchanges(&sim);
    let statuses: Vec<Option<u16>> = x.iter().map(|e| e.2).collect();
    assert_eq!(
        statuses[..3],
        [Some(503), Some(500), Some(200)],
        "exchanges: {x:?}"
    );
    // The 503 said `Retry-After: 2`: nothing before 2 s, although calls came every
    // second and each one finds the token in its refresh window.
    assert!(x[1].0 >= x[0].1 + 2_000, "Retry-After ignored: {x:?}");
    // The 500 said nothing: the policy's second backoff (1 s before jitter), which the
    // next call (960 ms later) must not cut short.
    let second = sim.session.config().policy.backoff(2, None, 0);
    assert!(
        x[2].0 >= x[1].1 + second.0,
        "no backoff after the 500: {x:?}"
    );
    assert!(sim.violations_of(Rule::Backoff).is_empty());
    // 503, 500, then success (and later refreshes): bounded, never a storm.
    let refreshes = sim.grants("refresh_token");
    assert!((3..=6).contains(&refreshes), "refreshes: {refreshes}");
}

/// A call every 100 ms inside the refresh window of a 10-minute token, and a token
/// endpoint that fails `n` times without `Retry-After`: the gaps between tries grow
/// as the policy's backoff does (500 ms, 1 s, 2 s before jitter), not as the calls come.
#[test]
fn backoff_doubles_between_tries_however_often_calls_come() {
    let mut auth = AuthServer::new(Some(600), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut sim = Sim::with_snapshot(refresh_only_config(), auth, SEED, 0, Some(snap));
    sim.auth.faults.extend([
        Fault::Status(503, None),
        Fault::NetworkError,
        Fault::Status(502, None),
    ]);
    for i in 0..600 {
        sim.begin_at(530_000 + i * 100);
    }
    sim.run_until(600_000, 100_000);
    sim.assert_rules();
    assert_eq!(sim.failed(), 0);
    let x = exchanges(&sim);
    assert_eq!(x.len(), 4, "three failures, then the refresh: {x:?}");
    assert_eq!(x[3].2, Some(200));
    let policy = &sim.session.config().policy;
    for attempt in 1..=3u8 {
        let i = usize::from(attempt);
        let gap = x[i].0 - x[i - 1].1;
        let least = policy.backoff(attempt, None, 0).0;
        let most = policy.backoff(attempt, None, u32::MAX).0 + 100 + 2 * sim.latency;
        assert!(
            (least..=most).contains(&gap),
            "try {} came {gap} ms after failure {attempt}; the backoff is {least}..{most} ms: {x:?}",
            i + 1
        );
    }
}

/// `Retry-After` longer than `backoff_max` is capped: the next try comes at
/// `backoff_max`, and not a call earlier.
#[test]
fn retry_after_is_capped_by_backoff_max() {
    let mut auth = AuthServer::new(Some(600), true);
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut sim = Sim::with_snapshot(refresh_only_config(), auth, SEED, 0, Some(snap));
    sim.auth.faults.push_back(Fault::Status(503, Some(3_600)));
    for i in 0..600 {
        sim.begin_at(530_000 + i * 100);
    }
    sim.run_until(600_000, 100_000);
    sim.assert_rules();
    let x = exchanges(&sim);
    assert!(x.len() >= 2, "{x:?}");
    let cap: Millis = sim.session.config().policy.backoff_max;
    let gap = x[1].0 - x[0].1;
    assert!(
        (cap.0..=cap.0 + 100 + 2 * sim.latency).contains(&gap),
        "next try {gap} ms after a Retry-After of an hour; the cap is {} ms: {x:?}",
        cap.0
    );
}

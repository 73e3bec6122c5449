//! The machine's rules as properties over generated histories, on the simulated world
//! (`tests/src/sim.rs`). The sim checks every rule on every action and after every
//! event and files each broken one under its [`Rule`]; each property below runs
//! 10 000 histories (`PROPTEST_CASES` overrides) and fails on the violations of its own
//! rule, so a broken rule turns the property named after it red.
//!
//! The generators aim at the situations the rules are about, not at uniform noise:
//! bursts of concurrent requests inside the refresh window and around expiry (known
//! and unknown lifetimes), bursts in flight when the server revokes every token (so
//! several requests hit the same dead token at once), runs of transient token-endpoint
//! failures with and without `Retry-After`, lost rotations, `invalid_grant`, and
//! header-helper sessions whose helper fails or hangs. `generators_reach_every_situation`
//! checks that they do.

use bearerflow::session::{Config, HelperConfig};
use bearerflow_tests::scenarios::{refresh_only_config, SEED};
use bearerflow_tests::sim::{AuthServer, Fault, HelperFault, Rule, Sim, RESOURCE};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

/// Requests begun together: `count` of them spread over `spread` ms from `at`.
#[derive(Debug, Clone)]
struct Burst {
    at: u64,
    count: u64,
    spread: u64,
}

#[derive(Debug, Clone)]
struct OAuthHistory {
    /// Access-token lifetime, seconds.
    ttl: u64,
    /// The server does not send `expires_in` (only a 401 tells).
    hidden: bool,
    rotate: bool,
    latency: u64,
    bursts: Vec<Burst>,
    faults: Vec<Fault>,
    /// Moments the server revokes every access token.
    revokes: Vec<u64>,
    /// From then on the resource refuses every token (a second 401 after a refresh).
    refuse_from: Option<u64>,
    /// Extra resource latency, varying per request (answers overtake each other).
    jitter: u64,
    idle_refresh: bool,
}

#[derive(Debug, Clone)]
struct HelperHistory {
    /// The helper output's TTL the session is told (config).
    ttl_ms: Option<u64>,
    /// How long the server accepts a helper token, seconds.
    server_ttl: Option<u64>,
    latency: u64,
    bursts: Vec<Burst>,
    /// Faults of the helper runs after the first, in order.
    faults: Vec<Option<HelperFault>>,
    revokes: Vec<u64>,
}

#[derive(Debug, Clone)]
enum History {
    OAuth(OAuthHistory),
    Helper(HelperHistory),
}

fn transient_fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => (
            prop_oneof![Just(500u16), Just(502), Just(503), Just(429)],
            proptest::option::of(0u64..8)
        )
            .prop_map(|(s, ra)| Fault::Status(s, ra)),
        2 => Just(Fault::NetworkError),
        1 => Just(Fault::Drop),
    ]
}

fn any_fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => transient_fault(),
        1 => Just(Fault::InvalidGrant),
        1 => Just(Fault::RotateAndDrop),
    ]
}

/// When a burst begins, for tokens of `life` ms: anywhere, inside the refresh window
/// before one of the first expiries, around an expiry, or just before a revocation
/// (the burst's requests are in flight when their token dies).
fn burst_time(life: u64, latency: u64, revokes: Vec<u64>) -> BoxedStrategy<u64> {
    let anywhere = (0..4 * life).boxed();
    // The first token's window, exactly: it ends at expiry less the clock-skew margin
    // and is a tenth of the lifetime, clamped (`Policy::default`).
    let skew = (life / 10).min(5_000);
    let window = (life / 10).clamp(1_000, 300_000);
    let in_window = (0..window)
        .prop_map(move |back| (life - skew).saturating_sub(1 + back))
        .boxed();
    let at_expiry = (1u64..4, 0u64..600)
        .prop_map(move |(k, d)| (k * life + d).saturating_sub(300))
        .boxed();
    if revokes.is_empty() {
        prop_oneof![2 => anywhere, 3 => in_window, 2 => at_expiry].boxed()
    } else {
        let before_revoke = (proptest::sample::select(revokes), 0..=latency)
            .prop_map(|(r, back)| r.saturating_sub(back))
            .boxed();
        prop_oneof![2 => anywhere, 3 => in_window, 2 => at_expiry, 3 => before_revoke].boxed()
    }
}

fn bursts(life: u64, latency: u64, revokes: Vec<u64>) -> impl Strategy<Value = Vec<Burst>> {
    vec(
        (
            burst_time(life, latency, revokes),
            1u64..12,
            0..=2 * latency,
        ),
        1..8,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(at, count, spread)| Burst { at, count, spread })
            .collect()
    })
}

fn oauth_history_with(faults: BoxedStrategy<Vec<Fault>>) -> impl Strategy<Value = OAuthHistory> {
    (
        (2u64..120, any::<bool>(), any::<bool>(), 0u64..400),
        (any::<bool>(), faults, vec(any::<u64>(), 0..3)),
        (
            proptest::option::weighted(0.25, any::<u64>()),
            prop_oneof![Just(0u64), 0u64..2_000],
        ),
    )
        .prop_flat_map(
            |((ttl, hidden, rotate, latency), (idle_refresh, faults, raw), (refuse, jitter))| {
                let life = ttl * 1000;
                let revokes: Vec<u64> = raw.iter().map(|r| r % (4 * life)).collect();
                let refuse_from = refuse.map(|r| r % (4 * life));
                let mut anchors = revokes.clone();
                anchors.extend(refuse_from);
                bursts(life, latency, anchors).prop_map(move |bursts| OAuthHistory {
                    ttl,
                    hidden,
                    rotate,
                    latency,
                    bursts,
                    faults: faults.clone(),
                    revokes: revokes.clone(),
                    refuse_from,
                    jitter,
                    idle_refresh,
                })
            },
        )
}

fn oauth_history() -> impl Strategy<Value = OAuthHistory> {
    oauth_history_with(vec(any_fault(), 0..6).boxed())
}

/// Mostly transient failures, at least one.
fn transient_history() -> impl Strategy<Value = OAuthHistory> {
    oauth_history_with(vec(transient_fault(), 1..7).boxed())
}

fn helper_history() -> impl Strategy<Value = HelperHistory> {
    (
        proptest::option::of(1_000u64..120_000),
        proptest::option::of(1u64..120),
        0u64..400,
        vec(
            proptest::option::weighted(
                0.4,
                prop_oneof![Just(HelperFault::Fail), Just(HelperFault::Hang)],
            ),
            0..6,
        ),
        vec(0u64..400_000, 0..3),
    )
        .prop_flat_map(|(ttl_ms, server_ttl, latency, faults, revokes)| {
            let life = server_ttl.unwrap_or(60) * 1000;
            bursts(life, latency, revokes.clone()).prop_map(move |bursts| HelperHistory {
                ttl_ms,
                server_ttl,
                latency,
                bursts,
                faults: faults.clone(),
                revokes: revokes.clone(),
            })
        })
}

fn any_history() -> impl Strategy<Value = History> {
    prop_oneof![
        3 => oauth_history().prop_map(History::OAuth),
        1 => helper_history().prop_map(History::Helper),
    ]
}

fn schedule(sim: &mut Sim, bursts: &[Burst], revokes: &[u64], refuse_from: Option<u64>) -> usize {
    let mut begun = 0;
    for b in bursts {
        for i in 0..b.count {
            sim.begin_at(b.at + i * b.spread / b.count);
            begun += 1;
        }
    }
    // (when, refuse every token from then on)
    let mut changes: Vec<(u64, bool)> = revokes.iter().map(|&r| (r, false)).collect();
    changes.extend(refuse_from.map(|r| (r, true)));
    changes.sort_unstable();
    let last = bursts.iter().map(|b| b.at + b.spread).max().unwrap_or(0);
    for (at, refuse) in changes {
        sim.run_until(at, 100_000);
        sim.auth.revoke_access();
        sim.auth.resource_refuses_all |= refuse;
    }
    // Every request is over well before this: a wait ends after `wait_deadline`
    // (120 s), at most twice per request, plus a fetch deadline and a backoff.
    sim.run_until(last + 400_000, 100_000);
    begun
}

fn run_oauth(h: &OAuthHistory) -> (Sim, usize) {
    let mut auth = if h.hidden {
        let mut a = AuthServer::new(None, h.rotate);
        a.hidden_ttl = Some(h.ttl);
        a
    } else {
        AuthServer::new(Some(h.ttl), h.rotate)
    };
    auth.faults = h.faults.iter().cloned().collect();
    let snap = Sim::minted_snapshot(&mut auth, 0);
    let mut config = refresh_only_config();
    config.policy.refresh_when_idle = h.idle_refresh;
    let mut sim = Sim::with_snapshot(config, auth, SEED, 0, Some(snap));
    sim.record = false;
    sim.latency = h.latency;
    sim.resource_jitter = h.jitter;
    let begun = schedule(&mut sim, &h.bursts, &h.revokes, h.refuse_from);
    (sim, begun)
}

fn run_helper(h: &HelperHistory) -> (Sim, usize) {
    let config = Config::header_helper(
        RESOURCE,
        HelperConfig {
            ttl_ms: h.ttl_ms,
            oauth_fallback: None,
        },
    );
    let mut sim = Sim::new(config, AuthServer::new(None, false), SEED, 0);
    sim.record = false;
    sim.latency = h.latency;
    sim.helper_server_ttl = h.server_ttl;
    sim.helper_faults = h.faults.iter().copied().collect();
    sim.resource_jitter = h.latency;
    let begun = schedule(&mut sim, &h.bursts, &h.revokes, None);
    (sim, begun)
}

fn run(h: &History) -> (Sim, usize) {
    match h {
        History::OAuth(h) => run_oauth(h),
        History::Helper(h) => run_helper(h),
    }
}

/// The violations of `rules`, for a property's failure message.
fn broken(sim: &Sim, rules: &[Rule]) -> Vec<String> {
    sim.violations
        .iter()
        .filter(|v| rules.contains(&v.rule))
        .map(ToString::to_string)
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// At most one token, discovery or registration request and one helper run in
    /// flight, however many requests need one.
    #[test]
    fn single_flight(h in any_history()) {
        let (sim, _) = run(&h);
        let v = broken(&sim, &[Rule::SingleFlight]);
        prop_assert!(v.is_empty(), "{:#?}", v);
        prop_assert!(sim.max_token_inflight <= 1);
    }

    /// Every begun request ends in exactly one `Send` answered or one `Fail`, and the
    /// run settles.
    #[test]
    fn nothing_lost(h in any_history()) {
        let (mut sim, begun) = run(&h);
        sim.check_finished();
        let v = broken(&sim, &[Rule::NothingLost, Rule::Quiescence]);
        prop_assert!(v.is_empty(), "{:#?}", v);
        prop_assert_eq!(sim.outcomes.len(), begun);
    }

    /// One retry after a `401`; the second `401` ends the request; no third response.
    #[test]
    fn no_loops(h in any_history()) {
        let (sim, _) = run(&h);
        let v = broken(&sim, &[Rule::NoLoops]);
        prop_assert!(v.is_empty(), "{:#?}", v);
        prop_assert!(sim.sends.values().all(|&n| n <= 2), "sends: {:?}", sim.sends);
    }

    /// Tokens reach the host's store, access *and* refresh token, before any request
    /// goes out with them (checked in action order).
    #[test]
    fn persist_before_use(h in oauth_history()) {
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::PersistBeforeUse]);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }

    /// A refresh presents the refresh token the host stores, never a replaced one.
    #[test]
    fn refresh_uses_the_persisted_refresh_token(h in oauth_history()) {
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::RefreshTokenFromStore]);
        prop_assert!(v.is_empty(), "{:#?}", v);
        // A spent refresh token reaches the server only after a rotation whose answer
        // was lost (the client cannot know).
        if !h.faults.contains(&Fault::RotateAndDrop) {
            prop_assert_eq!(sim.auth.reuse_detected, 0);
        }
    }

    /// While the token is valid no request waits; a request begun inside the refresh
    /// window goes out at once and finds one refresh under way.
    #[test]
    fn proactive_refresh(mut h in oauth_history()) {
        h.hidden = false;
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::ProactiveRefresh]);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }

    /// A known-expired token is never sent while a refresh is possible.
    #[test]
    fn expired_token_never_sent(h in oauth_history()) {
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::NoExpiredToken]);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }

    /// Transient token-endpoint failures are spaced by the policy's backoff (or
    /// `Retry-After`, capped), and a waiting request sees the next try in time.
    #[test]
    fn transient_failures_back_off(h in transient_history()) {
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::Backoff]);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }

    /// A `401` for an older token is retried at once with the current one.
    #[test]
    fn stale_401_retries_with_the_current_token(h in oauth_history()) {
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::StaleRetry]);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }

    /// Header helpers re-run on a `401` and never reach for an authorization server.
    #[test]
    fn helper_reruns_and_never_discovers(h in helper_history()) {
        let (sim, _) = run_helper(&h);
        let v = broken(&sim, &[Rule::HelperPath]);
        prop_assert!(v.is_empty(), "{:#?}", v);
        prop_assert_eq!(sim.auth.discovery_gets, 0);
        prop_assert!(sim.auth.grants.is_empty());
    }

    /// Stored credentials are dropped only when the authorization server says so.
    #[test]
    fn credentials_dropped_only_when_the_server_says_so(h in oauth_history()) {
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::CredentialsKept]);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }

    /// The phase a host shows is `Refreshing` exactly while a refresh or a helper run
    /// is in flight.
    #[test]
    fn phase_tells_the_truth(h in any_history()) {
        let (sim, _) = run(&h);
        let v = broken(&sim, &[Rule::PhaseTruth]);
        prop_assert!(v.is_empty(), "{:#?}", v);
    }

    /// Without faults or revocation nothing fails, and with a known lifetime no `401`
    /// ever reaches the caller.
    #[test]
    fn no_faults_means_no_failures(mut h in oauth_history()) {
        h.faults.clear();
        h.revokes.clear();
        h.refuse_from = None;
        // Latency that eats a short token's life makes 401s legitimate; keep it small.
        h.latency = h.latency.min(h.ttl * 1000 / 20);
        h.jitter = h.jitter.min(h.ttl * 1000 / 20);
        let (sim, _) = run_oauth(&h);
        prop_assert!(sim.violations.is_empty(), "{:#?}", broken(&sim, &[
            Rule::SingleFlight, Rule::NothingLost, Rule::NoLoops, Rule::PersistBeforeUse,
            Rule::RefreshTokenFromStore, Rule::ProactiveRefresh, Rule::NoExpiredToken,
            Rule::Backoff, Rule::StaleRetry, Rule::HelperPath, Rule::CredentialsKept,
            Rule::PhaseTruth, Rule::Quiescence,
        ]));
        prop_assert_eq!(sim.failed(), 0, "outcomes: {:?}", sim.outcomes);
        if !h.hidden {
            prop_assert_eq!(sim.unauthorized_delivered, 0);
        }
    }
}

/// A token endpoint that answers with a page instead of JSON (a proxy's 404, a `302`
/// to a login page, a `408`, a `502` page): none of these is an RFC 6749 §5.2 error, so
/// none may cost the refresh token, and each is transient (backed off).
///
/// Core drops the credentials on the 4xx and 3xx pages today (issue 9, "Refresh token
/// thrown away"); this property is ready for the fix and runs with `--ignored` until
/// then, counted as skipped in the meantime.
#[test]
#[ignore = "core drops the refresh token on a non-OAuth token-endpoint answer (issue 9); enable with the fix"]
fn odd_token_answers_keep_the_refresh_token() {
    let page =
        prop_oneof![Just(404u16), Just(302), Just(408), Just(502), Just(403)].prop_map(Fault::Page);
    let faults = vec(prop_oneof![2 => page, 1 => transient_fault()], 1..6).boxed();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&oauth_history_with(faults), |h| {
        let (sim, _) = run_oauth(&h);
        let v = broken(&sim, &[Rule::CredentialsKept, Rule::Backoff]);
        prop_assert!(v.is_empty(), "{:#?}", v);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The generators do produce what the properties are about: concurrent `401`s on one
/// dead token, second `401`s, stale `401`s, transient failures, begins inside the
/// refresh window, helper sessions and helper re-runs. Counted over 1 000 histories
/// of each kind; each situation must come up in a good share of them.
#[test]
fn generators_reach_every_situation() {
    let mut runner = TestRunner::deterministic();
    let n = 1_000;
    let mut oauth = [0u32; 5];
    let mut helper = [0u32; 3];
    let oauth_gen = oauth_history();
    let transient_gen = transient_history();
    let helper_gen = helper_history();
    for _ in 0..n {
        let h = oauth_gen
            .new_tree(&mut runner)
            .expect("a history")
            .current();
        let (sim, _) = run_oauth(&h);
        let c = sim.coverage;
        oauth[0] += u32::from(c.concurrent_401s >= 2);
        oauth[1] += u32::from(c.second_401s > 0);
        oauth[2] += u32::from(c.stale_401s > 0);
        oauth[3] += u32::from(c.begins_in_window > 0);
        let h = transient_gen
            .new_tree(&mut runner)
            .expect("a history")
            .current();
        let (sim, _) = run_oauth(&h);
        oauth[4] += u32::from(sim.coverage.transient_failures >= 2);
        let h = helper_gen
            .new_tree(&mut runner)
            .expect("a history")
            .current();
        let (sim, _) = run_helper(&h);
        let c = sim.coverage;
        helper[0] += u32::from(c.helper_runs >= 3);
        helper[1] += u32::from(c.concurrent_401s >= 2);
        helper[2] += u32::from(sim.session.stats().unauthorized_seen > 0);
    }
    let share = |k: u32| f64::from(k) / f64::from(n);
    let report = format!("oauth {oauth:?}, helper {helper:?} of {n}");
    eprintln!("{report}");
    // Concurrent 401s, second 401s, stale 401s, begins in the window, 2+ transient
    // failures in one history.
    for (k, min) in oauth.iter().zip([0.15, 0.05, 0.05, 0.15, 0.50]) {
        assert!(share(*k) >= min, "{report}");
    }
    // Three or more helper runs, concurrent 401s on a helper token, any 401.
    for (k, min) in helper.iter().zip([0.20, 0.05, 0.20]) {
        assert!(share(*k) >= min, "{report}");
    }
}

//! 32 calls right after expiry with rotating refresh tokens: the case where the
//! official TypeScript SDK gets 1 success and 31 failures.

use bearerflow_tests::scenarios;
use bearerflow_tests::sim::{Logged, Rule};

#[test]
fn burst_after_expiry_refreshes_once() {
    let sim = scenarios::burst_after_expiry();
    sim.assert_rules();
    assert_eq!(sim.ok(), 32);
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.grants("refresh_token"), 1);
    assert_eq!(sim.max_token_inflight, 1);
    assert_eq!(sim.auth.reuse_detected, 0);
    // Every request was sent exactly once: the expired token was never sent.
    assert!(
        sim.sends.values().all(|&n| n == 1),
        "sends: {:?}",
        sim.sends
    );
    assert_eq!(sim.session.stats().unauthorized_seen, 0);
}

/// Order, not only the end state: the refresh's answer rotates the refresh token, the
/// next action stores the new access token *and* the new refresh token, and only then
/// does any request go out with the new access token. The stored refresh token is the
/// one the server holds live, so the next refresh (another process, or this one after
/// a restart) uses it.
#[test]
fn rotated_refresh_token_is_persisted_before_use() {
    let sim = scenarios::burst_after_expiry();
    assert!(
        sim.violations_of(Rule::PersistBeforeUse).is_empty()
            && sim.violations_of(Rule::RefreshTokenFromStore).is_empty(),
        "{:?}",
        sim.violations
    );
    let current = sim.session.tokens().expect("current tokens");
    let new_access = current.access_token().to_string();
    let new_refresh = current
        .refresh_token()
        .expect("a rotated refresh token")
        .expose()
        .to_string();
    let Some(Logged::TokenRequest {
        refresh_token: Some(old_refresh),
        ..
    }) = sim
        .log
        .iter()
        .find(|l| matches!(l, Logged::TokenRequest { .. }))
    else {
        panic!("a refresh: {:?}", sim.log)
    };
    assert_ne!(old_refresh, &new_refresh, "the server rotated it");

    let position = |pred: &dyn Fn(&Logged) -> bool| sim.log.iter().position(pred);
    let answer = position(&|l| {
        matches!(
            l,
            Logged::TokenAnswer {
                status: Some(200),
                ..
            }
        )
    })
    .expect("the refresh answered");
    let persist =
        position(&|l| matches!(l, Logged::Persist { access: Some(a), .. } if *a == new_access))
            .expect("the new tokens persisted");
    let first_use =
        position(&|l| matches!(l, Logged::Send { token: Some(t), .. } if *t == new_access))
            .expect("the new access token used");
    assert!(
        answer < persist && persist < first_use,
        "answer at {answer}, persist at {persist}, first use at {first_use}: {:#?}",
        sim.log
    );
    // Nothing but the Persist between the answer and the released requests.
    assert_eq!(persist, answer + 1, "{:#?}", sim.log);
    let Logged::Persist { refresh, .. } = &sim.log[persist] else {
        unreachable!("found as a Persist")
    };
    assert_eq!(refresh.as_deref(), Some(new_refresh.as_str()));
    assert_eq!(
        sim.auth.refresh.get(&new_refresh),
        Some(&true),
        "live on the server"
    );
    assert_eq!(
        sim.auth.refresh.get(old_refresh),
        Some(&false),
        "spent on the server"
    );
    // All 32 waiting requests went out with the new token, after the Persist.
    let sends_after: usize = sim.log[persist..]
        .iter()
        .filter(|l| matches!(l, Logged::Send { token: Some(t), .. } if *t == new_access))
        .count();
    assert_eq!(sends_after, 32);
}

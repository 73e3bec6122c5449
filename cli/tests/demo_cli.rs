//! `bearerflow demo --duration 10 --ttl 2 --json`: the main job end to end, checked
//! through its JSON summary line.
//!
//! The demo runs on the real clock, so how many calls fit in its duration depends on
//! the machine. The checks are the summary's invariants instead: no call failed, the
//! whole burst succeeded, and the refreshes stay within what the expiries call for
//! (at most one per ended lifetime, plus the one replacing the live token). The
//! duration leaves the set-up (discovery, registration, PKCE, `initialize`) eight
//! seconds before the first 2-second token must have expired for the burst to run.

use std::process::Command;

#[test]
fn demo_keeps_every_call_authorized_and_reports_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args(["demo", "--duration", "10", "--ttl", "2", "--json"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("some output");
    let j: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    let n = |k: &str| {
        j[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {last}"))
    };
    assert_eq!(n("calls_failed"), 0, "{stdout}");
    assert_eq!(
        n("unauthorized_seen"),
        0,
        "no 401 reached a caller: {stdout}"
    );
    // The burst ran after the first token expired, and every call of it succeeded.
    assert_eq!(n("burst_ok"), 32, "{last}");
    assert!(n("calls_ok") >= 32, "{last}");
    // The burst needed a refresh; nothing refreshes more than expiry calls for.
    assert!(n("expiries") >= 1, "{last}");
    assert!(n("burst_refreshes") >= 1, "{last}");
    assert!(n("refreshes") >= n("burst_refreshes"), "{last}");
    assert!(
        n("refreshes") <= n("expiries") + 1,
        "more refreshes than lifetimes ended (+1 for the live token): {last}"
    );
    assert_eq!(n("authorizations"), 1, "{last}");
    assert_eq!(n("registrations"), 1, "{last}");
    // The timeline tells the story.
    for needle in [
        "protected resource metadata",
        "dynamic client registration",
        "PKCE authorization request",
        "code exchange",
        "→ refreshing",
        "refreshing → fresh",
        "tools/list: echo, add",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
}

#[test]
fn demo_fails_with_status_1_when_calls_fail() {
    // Four 500s in a row exhaust the token attempts while the burst waits: those calls
    // fail with a typed error and the exit status says so. (The duration leaves the
    // set-up nine seconds before the first 1-second token must have expired.)
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args([
            "demo",
            "--duration",
            "10",
            "--ttl",
            "1",
            "--burst",
            "4",
            "--fail-refresh",
            "4",
            "--json",
        ])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let last = stdout.lines().last().expect("some output");
    let j: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    assert!(j["calls_failed"].as_u64().unwrap() >= 4, "{last}");
    assert!(stdout.contains("token_endpoint_unavailable"), "{stdout}");
}

#[test]
fn demo_rejects_bad_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args(["demo", "--ttl", "soon"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ttl"));
}

//! `bearerflow demo --duration 8 --ttl 2 --json`: the main job end to end, checked
//! through its JSON summary line.

use std::process::Command;

#[test]
fn demo_keeps_every_call_authorized_and_reports_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args(["demo", "--duration", "8", "--ttl", "2", "--json"])
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
    assert_eq!(n("unauthorized_seen"), 0, "{stdout}");
    // The 32-call burst plus a call every 500 ms for the remaining ~6 s.
    assert!(n("calls_ok") >= 40, "{last}");
    assert_eq!(n("burst_ok"), 32, "{last}");
    assert_eq!(
        n("burst_refreshes"),
        1,
        "one refresh for the whole burst: {last}"
    );
    // 2-second tokens over 8 s: several lifetimes end, each refreshed.
    assert!(n("expiries") >= 2, "{last}");
    assert!(n("refreshes") >= 3, "{last}");
    assert_eq!(n("authorizations"), 1, "{last}");
    assert_eq!(n("registrations"), 1, "{last}");
    // The timeline tells the story.
    for needle in [
        "protected resource metadata",
        "dynamic client registration",
        "PKCE authorization request",
        "code exchange",
        "fresh → expiring",
        "expiring → refreshing",
        "refreshing → fresh",
        "tools/list: echo, add",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
}

#[test]
fn demo_fails_with_status_1_when_calls_fail() {
    // Four 500s in a row exhaust the token attempts while the burst waits: those calls
    // fail with a typed error and the exit status says so.
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args([
            "demo",
            "--duration",
            "4",
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

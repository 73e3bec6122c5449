//! `bearerflow demo` on each MCP wire: against a dual-era testbed the client speaks the
//! 2026-07-28 stateless wire, against a legacy-only one it falls back to `initialize`,
//! and the summary says which it used. Every call succeeds on both.

use std::process::Command;

fn demo(server_wires: &str) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args([
            "demo",
            "--duration",
            "3",
            "--ttl",
            "1",
            "--burst",
            "4",
            "--server-wires",
            server_wires,
            "--json",
        ])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("some output").to_string();
    (
        serde_json::from_str(&last).expect("a JSON last line"),
        stdout,
    )
}

#[test]
fn the_demo_says_which_wire_it_used() {
    let (j, stdout) = demo("both");
    assert_eq!(j["wire"], "modern", "{stdout}");
    assert_eq!(j["protocol_version"], "2026-07-28");
    assert_eq!(j["calls_failed"], 0, "{stdout}");
    assert_eq!(j["initializations"], 0);
    assert_eq!(j["wire_rejections"], 0);
    assert!(j["modern_requests"].as_u64().unwrap() >= 5, "{stdout}");
    assert!(
        stdout.contains("modern wire (stateless requests"),
        "{stdout}"
    );

    let (j, stdout) = demo("legacy");
    assert_eq!(j["wire"], "legacy", "{stdout}");
    assert_eq!(j["protocol_version"], "2025-11-25");
    assert_eq!(j["calls_failed"], 0, "{stdout}");
    assert_eq!(j["initializations"], 1);
    assert_eq!(j["modern_requests"], 0);
    assert!(
        stdout.contains("legacy wire (initialize handshake"),
        "{stdout}"
    );
}

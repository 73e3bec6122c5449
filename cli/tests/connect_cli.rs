//! `bearerflow connect URL --headless` against the testbed: the full first-contact flow,
//! the snapshot stored in the config directory (one file per origin, mode 0600), and a
//! second run that reuses it without authorizing again.

use bearerflow_testbed::Testbed;
use std::process::Command;
use std::time::Duration;

#[test]
fn connect_authorizes_lists_calls_and_stores_per_origin() {
    let tb = Testbed::start_in_background(bearerflow_testbed::Config {
        access_ttl: Duration::from_secs(60),
        ..Default::default()
    })
    .expect("the testbed starts");
    let home = std::env::temp_dir().join(format!(
        "bearerflow-connect-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    ));
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_bearerflow"))
            .args([
                "connect",
                &tb.mcp_url(),
                "--headless",
                "--call",
                "add",
                "--args",
                r#"{"a": 2, "b": 3}"#,
                "--json",
            ])
            .env("XDG_CONFIG_HOME", &home)
            .output()
            .expect("the binary runs")
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("connected to bearerflow-testbed"),
        "{stdout}"
    );
    assert!(stdout.contains("  - echo: "), "{stdout}");
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("a JSON last line");
    assert_eq!(last["result"]["content"][0]["text"], "5");
    assert_eq!(last["tools"], serde_json::json!(["echo", "add"]));
    let port = tb.addr().port();
    let store = home
        .join("bearerflow")
        .join(format!("http_127.0.0.1_{port}.json"));
    assert_eq!(last["store"], store.display().to_string());
    let snapshot = std::fs::read_to_string(&store).expect("the snapshot file exists");
    assert!(snapshot.contains("refresh_token"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&store).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let c = tb.counters();
    assert_eq!((c.authorizations, c.registrations), (1, 1));

    // A second run uses the stored tokens: no new authorization, no 401.
    let unauthorized = c.unauthorized;
    let out = run();
    assert!(out.status.success());
    let c = tb.counters();
    assert_eq!((c.authorizations, c.registrations), (1, 1));
    assert_eq!(c.unauthorized, unauthorized);
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn connect_reports_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args(["connect", "ftp://example.com/"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an http(s) URL"));
}

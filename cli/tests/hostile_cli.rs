//! Issue 20 through the command line: `bearerflow connect URL --headless --json`
//! against small hostile servers on 127.0.0.1 (the helpers of bindings-async's tests).
//! Every run is bounded by a generous deadline, and its whole output, standard output
//! and standard error, must hold no raw control character and no planted secret, while
//! still saying what happened with a stable code.

#[path = "../../bindings-async/tests/hostile/mod.rs"]
mod hostile;

use hostile::{mcp_answer, Authorize, OAuthServer, Reply};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "PLANTED-CLI-SECRET-99";
const TEST_DEADLINE: Duration = Duration::from_secs(90);

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    fn last_json(&self) -> serde_json::Value {
        let line = self.stdout.lines().last().unwrap_or("");
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    fn assert_clean(&self) {
        let all = self.all();
        assert!(!all.contains(SECRET), "a secret was printed:\n{all}");
        assert!(
            !hostile::has_raw_control(&all),
            "a raw control character was printed:\n{all:?}"
        );
    }
}

/// `bearerflow connect URL --headless --json` with a fresh store, ended by the test's
/// deadline at the latest.
fn connect(url: &str) -> Run {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let store = std::env::temp_dir().join(format!(
        "bearerflow-hostile-{}-{}.json",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args(["connect", url, "--headless", "--json", "--store"])
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > TEST_DEADLINE {
            let _ = child.kill();
            panic!("bearerflow connect did not finish within {TEST_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let _ = std::fs::remove_file(&store);
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn what_a_hostile_mcp_server_says_is_printed_escaped() {
    let mut s = OAuthServer::honest("at-cli-0001");
    s.mcp = Box::new(|r| {
        mcp_answer(
            r,
            "\u{1b}]0;pwned\u{7}evil\r\u{1b}[2K",
            "\u{1b}[2Jwiped\u{9b}31m\u{202e}reversed",
        )
    });
    let server = s.start();
    let run = connect(&server.url("/mcp"));
    assert!(run.ok, "{}", run.all());
    run.assert_clean();
    assert!(
        run.stdout
            .contains("connected to \\u{1b}]0;pwned\\u{7}evil\\u{d}\\u{1b}[2K"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  - t: \\u{1b}[2Jwiped\\u{9b}31m\\u{202e}reversed"),
        "{}",
        run.stdout
    );
    // The JSON line keeps the exact value, escaped as JSON.
    let last = run.last_json();
    assert_eq!(last["ok"], true);
    assert_eq!(last["server"]["name"], "\u{1b}]0;pwned\u{7}evil\r\u{1b}[2K");
}

#[test]
fn a_token_response_with_an_escaped_key_prints_no_token() {
    let mut s = OAuthServer::honest("unused");
    s.token = Box::new(|_| {
        Reply::text(
            200,
            "application/json",
            format!(
                r#"{{"access\u005ftoken":"{SECRET}","token_type":"Bearer","expires_in":"abc"}}"#
            ),
        )
    });
    let server = s.start();
    let run = connect(&server.url("/mcp"));
    assert!(!run.ok);
    run.assert_clean();
    let last = run.last_json();
    assert_eq!(last["ok"], false);
    assert_eq!(last["error"]["code"], "authorization_failed");
    let message = last["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("`expires_in`"), "{message}");
}

#[test]
fn a_redirect_with_a_forged_state_is_named_at_once() {
    let mut s = OAuthServer::honest("unused");
    s.authorize = Authorize::ForgedState;
    let server = s.start();
    // The default authorization deadline is five minutes; the test's ceiling is 90 s.
    let run = connect(&server.url("/mcp"));
    assert!(!run.ok);
    run.assert_clean();
    let last = run.last_json();
    assert_eq!(last["error"]["code"], "authorization_failed");
    let authorizer = last["error"]["authorizer"].as_str().unwrap_or("");
    assert!(authorizer.contains("state"), "{}", run.all());
    assert!(run.stderr.contains("authorizer:"), "{}", run.stderr);
}

#[test]
fn an_mcp_error_echoing_the_authorization_header_prints_no_token() {
    let mut s = OAuthServer::honest(SECRET);
    s.mcp = Box::new(|r| {
        let echoed = r.header("authorization").unwrap_or("").to_string();
        match r.json()["method"].as_str() {
            Some("initialize") => mcp_answer(r, "echo", "d"),
            Some("tools/list") => Reply::text(
                400,
                "text/plain",
                format!("\u{1b}[31mrejected\u{1b}[0m Authorization: {echoed}\r\n"),
            ),
            _ => mcp_answer(r, "echo", "d"),
        }
    });
    let server = s.start();
    let run = connect(&server.url("/mcp"));
    assert!(!run.ok);
    run.assert_clean();
    let last = run.last_json();
    assert_eq!(last["error"]["code"], "http_status");
    let message = last["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("HTTP 400"), "{message}");
    assert!(message.contains("[redacted]"), "{message}");
}

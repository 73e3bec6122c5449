//! `bearerflow connect URL --headless` against a real OpenID Provider (`oidc-provider`,
//! set up like an MCP deployment, login and consent approving at once) and the official
//! TypeScript SDK's `requireBearerAuth` endpoint (`interop/server.mjs`): the first run
//! discovers, registers, follows the provider's login and consent with their cookies,
//! lists and calls a tool, and stores the tokens; the second run reuses them.
//!
//! Run by `cargo xtask interop`, which installs Node 22 and the peers (`#[ignore]`d
//! otherwise: a plain `cargo test` reports it as skipped).

#[path = "../../bindings-async/tests/oidc_peer/mod.rs"]
mod oidc_peer;

use oidc_peer::{run_case, Counts, Setup, TokenFormat};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node 22 and oidc-provider: run `cargo xtask interop`"]
async fn connect_headless_completes_against_oidc_provider() {
    run_case(Setup::mcp(TokenFormat::Opaque), |peers| async move {
        let home = std::env::temp_dir().join(format!(
            "bearerflow-connect-oidc-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let url = peers.mcp_url.clone();
        let run = move |home: std::path::PathBuf| {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_bearerflow"))
                    .args([
                        "connect",
                        &url,
                        "--headless",
                        "--call",
                        "echo",
                        "--args",
                        r#"{"text": "through a real provider"}"#,
                        "--json",
                    ])
                    .env("XDG_CONFIG_HOME", &home)
                    .output()
                    .expect("the binary runs")
            })
        };
        let out = run(home.clone()).await.expect("the run finishes");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("connected to bearerflow-interop-oidc"),
            "{stdout}"
        );
        let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
            .unwrap_or_else(|e| panic!("a JSON last line: {e}\n{stdout}"));
        assert_eq!(last["ok"], true, "{last}");
        assert_eq!(
            last["result"]["content"][0]["text"], "through a real provider",
            "{last}"
        );
        assert_eq!(last["tools"], serde_json::json!(["echo"]));
        let c = peers.counts().await;
        assert_eq!((c.registrations, c.authorizations), (1, 1), "{c:?}");
        assert_eq!((c.logins, c.consents), (1, 1), "{c:?}");
        assert_eq!(c.tokens("authorization_code", true), 1, "{c:?}");

        // The second run uses the stored tokens: no new registration or authorization.
        let out = run(home.clone()).await.expect("the run finishes");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let again: Counts = peers.counts().await;
        assert_eq!(
            (again.registrations, again.authorizations),
            (1, 1),
            "{again:?}"
        );
        let _ = std::fs::remove_dir_all(&home);
    })
    .await;
}

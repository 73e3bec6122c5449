//! A header-helper credential (a command printing `{"Authorization": "Bearer …"}`) is
//! re-run when the resource answers 401, and the request is retried with its new
//! output, without any OAuth discovery request.

mod common;

use bearerflow::session::{Config, HelperConfig, RequestError};
use bearerflow_async::{Client, CommandHelper};
use std::path::Path;
use std::time::Duration;

fn write_token(path: &Path, token: &str) {
    let json = serde_json::json!({"Authorization": format!("Bearer {token}")}).to_string();
    std::fs::write(path, json).unwrap();
}

fn runs(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_is_rerun_on_401_and_discovery_never_happens() {
    let tb = common::testbed(Duration::from_secs(3600), true).await;
    let dir = std::env::temp_dir().join(format!(
        "bearerflow-helper-{}-{}",
        std::process::id(),
        bearerflow_async::now().0
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token.json");
    let count_file = dir.join("runs");
    write_token(
        &token_file,
        tb.issue_tokens_for_test("mcp:tools")
            .unwrap()
            .access_token
            .expose(),
    );
    let command = format!(
        "echo run >> '{}'; cat '{}'",
        count_file.display(),
        token_file.display()
    );
    let client = Client::builder(Config::header_helper(tb.mcp_url(), HelperConfig::default()))
        .helper(CommandHelper::new(command))
        .build()
        .await
        .unwrap();
    let mcp = common::mcp(&client, &tb).await;
    let (ok, errors) = common::burst(&mcp, 2).await;
    assert_eq!((ok, errors.len()), (2, 0), "{errors:?}");
    assert_eq!(runs(&count_file), 1);

    // The credential dies; the helper would now print a new one.
    tb.revoke_all();
    write_token(
        &token_file,
        tb.issue_tokens_for_test("mcp:tools")
            .unwrap()
            .access_token
            .expose(),
    );
    let (ok, errors) = common::burst(&mcp, 4).await;
    assert_eq!((ok, errors.len()), (4, 0), "{errors:?}");
    assert_eq!(runs(&count_file), 2, "one re-run for the 401s");

    let c = tb.counters();
    assert!(c.unauthorized >= 1);
    assert_eq!(c.resource_metadata_fetches, 0, "no RFC 9728 discovery");
    assert_eq!(c.as_metadata_fetches, 0, "no RFC 8414 discovery");
    assert_eq!(c.registrations, 0);
    assert_eq!(c.token_calls(), 0);
    let status = client.status().await.unwrap();
    assert_eq!(status.stats.helper_runs, 2);
    assert_eq!(status.stats.discovery_requests, 0);

    // A helper that fails gives each waiting call a typed error with the host's cause.
    tb.revoke_all();
    std::fs::remove_file(&token_file).unwrap();
    let err = mcp
        .call_tool("echo", serde_json::json!({"text": "x"}))
        .await
        .unwrap_err();
    let e = err.transport().expect("a bearerflow error");
    assert_eq!(e.request_error(), Some(RequestError::HelperFailed), "{e}");
    assert!(e.to_string().contains("exited with status"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

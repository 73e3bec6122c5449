//! `bearerflow proxy` as a stdio MCP server, driven line by line as a 2025-11-25 client
//! drives it, against the testbed on either wire.

mod proxy_common;

use bearerflow_testbed::Wires;
use proxy_common::{temp_dir, testbed, testbed_on, wait_for, Proxy};
use serde_json::json;

/// A notification and a request from the server reach the local client, its answer
/// and its own notification reach the server, and the call completes: through a
/// 2026-07-28 server (the request is an `input_required` result the bridge turns into
/// `elicitation/create`) and a 2025-11-25 server (a request on the response's event
/// stream, answered with a `POST`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_messages_cross_in_both_directions_on_either_wire() {
    for wires in [Wires::Both, Wires::Legacy] {
        let tb = testbed(wires).await;
        let store = temp_dir("proxy-bridge").join("tokens.json");
        let mut p = Proxy::start(&[
            &tb.mcp_url(),
            "--headless",
            "--store",
            store.to_str().unwrap(),
        ]);
        let init = p.initialize().await;
        assert_eq!(init["result"]["serverInfo"]["name"], "bearerflow-testbed");
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
        assert!(init["result"].get("resultType").is_none());
        p.send(json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}))
            .await;
        p.send(json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
                      "params": {"name": "interact", "arguments": {"text": "hi"}}}))
            .await;
        let note = p.recv().await;
        assert_eq!(note["method"], "notifications/message", "{wires:?}: {note}");
        assert!(note.get("id").is_none());
        let ask = p.recv().await;
        assert_eq!(ask["method"], "elicitation/create", "{wires:?}: {ask}");
        assert_eq!(ask["params"]["message"], "Return \"hi\"?");
        let ask_id = ask["id"].clone();
        assert!(ask_id.is_string(), "{ask}");
        p.send(json!({"jsonrpc": "2.0", "id": ask_id,
                      "result": {"action": "accept", "content": {"confirmed": true}}}))
            .await;
        let done = p.response(&json!(10)).await;
        assert_eq!(
            done["result"]["content"][0]["text"], "confirmed: hi",
            "{wires:?}: {done}"
        );
        assert!(p.seen.is_empty(), "nothing else arrived: {:?}", p.seen);
        let c = tb.counters();
        assert_eq!(c.server_notifications, 1, "{wires:?}");
        assert_eq!(c.server_requests, 1, "{wires:?}");
        assert_eq!(c.client_responses, 1, "{wires:?}");
        assert_eq!(
            c.client_notifications, 1,
            "{wires:?}: roots/list_changed arrived"
        );
        match wires {
            Wires::Legacy => assert_eq!(c.initializations, 1),
            _ => {
                assert_eq!(c.initializations, 0, "the modern wire has no initialize");
                assert!(c.modern_requests >= 3);
                assert_eq!(c.input_required, 1);
            }
        }
        // The local client's ids come back as they were, strings too.
        let r = p.request(json!("abc"), "tools/list", json!({})).await;
        assert!(r["result"]["tools"].as_array().unwrap().len() >= 3, "{r}");
        assert!(r["result"].get("resultType").is_none(), "{r}");
        assert!(p.finish().await.success());
        tb.shutdown().await;
    }
}

/// Bad input is answered with a JSON-RPC error and the bridge reads on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_rpc_errors_and_the_bridge_stays_up() {
    let tb = testbed(Wires::Both).await;
    let store = temp_dir("proxy-bad").join("tokens.json");
    let mut p = Proxy::start(&[
        &tb.mcp_url(),
        "--headless",
        "--store",
        store.to_str().unwrap(),
    ]);
    p.initialize().await;
    let cases: Vec<(Vec<u8>, i64, serde_json::Value)> = vec![
        (b"not json".to_vec(), -32700, json!(null)),
        (b"\xff\xfe{}".to_vec(), -32700, json!(null)),
        (
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec(),
            -32600,
            json!(null),
        ),
        (
            br#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#.to_vec(),
            -32600,
            json!(7),
        ),
        (br#"{"jsonrpc":"2.0","id":8}"#.to_vec(), -32600, json!(8)),
        (br#""just a string""#.to_vec(), -32600, json!(null)),
    ];
    for (line, code, id) in cases {
        p.send_raw(&line).await;
        let e = p.recv().await;
        assert_eq!(
            e["error"]["code"],
            code,
            "{}: {e}",
            String::from_utf8_lossy(&line)
        );
        assert_eq!(e["id"], id);
    }
    // A line longer than the bridge takes (16 MiB) is refused as a whole.
    let long = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(17 << 20)
    );
    p.send_raw(long.as_bytes()).await;
    let e = p.recv().await;
    assert_eq!(e["error"]["code"], -32600, "{e}");
    // An unknown tool is the server's own JSON-RPC error, passed through.
    let r = p
        .request(
            json!(11),
            "tools/call",
            json!({"name": "nope", "arguments": {}}),
        )
        .await;
    assert!(r.get("error").is_some(), "{r}");
    // And the bridge still works.
    assert_eq!(p.echo(12, "still here").await.unwrap(), "still here");
    assert!(p.stderr().contains("refused"), "the refusals are logged");
    assert!(p.finish().await.success());
}

/// With `--json-events`, standard error is JSON lines: the logs and the session's
/// lifecycle events (the first-contact authorization, the stored tokens), none of
/// them carrying a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_events_are_json_lines_on_stderr_without_secrets() {
    let tb = testbed(Wires::Both).await;
    let store = temp_dir("proxy-events").join("tokens.json");
    let mut p = Proxy::start(&[
        &tb.mcp_url(),
        "--headless",
        "--store",
        store.to_str().unwrap(),
        "--json-events",
    ]);
    p.initialize().await;
    assert_eq!(p.echo(1, "x").await.unwrap(), "x");
    let stderr = std::sync::Arc::clone(&p.stderr);
    wait_for("the persist event", || {
        stderr
            .lock()
            .map(|s| s.contains("\"persist\""))
            .unwrap_or(false)
    })
    .await;
    assert!(p.finish().await.success());
    let text = std::fs::read_to_string(&store).unwrap();
    let snapshot: serde_json::Value = serde_json::from_str(&text).unwrap();
    let access = snapshot["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = snapshot["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let stderr = stderr.lock().unwrap().clone();
    let mut kinds = Vec::new();
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a stderr line that is not JSON ({e}): {line}"));
        if let Some(k) = v["event"].as_str() {
            kinds.push(k.to_string());
        } else {
            assert!(v["log"].is_string(), "{line}");
        }
    }
    for k in [
        "authorize",
        "redirect",
        "persist",
        "send",
        "response",
        "phase",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }
    assert!(
        !stderr.contains(&access) && !stderr.contains(&refresh),
        "a token leaked"
    );
    tb.shutdown().await;
}

/// The server going away: the call waits, the proxy says it is retrying, and the
/// call completes once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_going_away_is_reported_and_retried() {
    let tb = testbed(Wires::Both).await;
    let port = tb.addr().port();
    let url = tb.mcp_url();
    let store = temp_dir("proxy-away").join("tokens.json");
    let mut p = Proxy::start(&[&url, "--headless", "--store", store.to_str().unwrap()]);
    p.initialize().await;
    assert_eq!(p.echo(1, "before").await.unwrap(), "before");
    tb.shutdown().await;
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "echo", "arguments": {"text": "after"}}}))
        .await;
    let stderr = std::sync::Arc::clone(&p.stderr);
    wait_for("the proxy to report the retry", || {
        stderr
            .lock()
            .map(|s| s.contains("cannot reach the server") && s.contains("retrying in"))
            .unwrap_or(false)
    })
    .await;
    let tb = testbed_on(Wires::Both, port).await;
    let r = p.response(&json!(2)).await;
    assert_eq!(r["result"]["content"][0]["text"], "after", "{r}");
    // The proxy says so on stderr, which the test reads on its own thread: wait for
    // the line rather than race the reader.
    let stderr = std::sync::Arc::clone(&p.stderr);
    wait_for("the proxy to report the server back", || {
        stderr
            .lock()
            .map(|s| s.contains("answers again"))
            .unwrap_or(false)
    })
    .await;
    assert!(p.finish().await.success());
    tb.shutdown().await;
}

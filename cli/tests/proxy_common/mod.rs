//! What the `proxy_*` tests share: a `bearerflow proxy` child driven over its stdio as
//! an MCP client would, line by line, and a testbed with 5-second tokens.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long any single wait may take before the test fails (generous: a loaded
/// machine is slow, never wrong).
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bearerflow")
}

/// A fresh directory under the target's temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A testbed with 5-second tokens, rotation, and the `interact` tool.
pub async fn testbed(wires: bearerflow_testbed::Wires) -> bearerflow_testbed::Testbed {
    testbed_on(wires, 0).await
}

pub async fn testbed_on(
    wires: bearerflow_testbed::Wires,
    port: u16,
) -> bearerflow_testbed::Testbed {
    bearerflow_testbed::Testbed::start(bearerflow_testbed::Config {
        access_ttl: Duration::from_secs(5),
        rotate_refresh_tokens: true,
        interactive_tools: true,
        wires,
        port,
        ..bearerflow_testbed::Config::default()
    })
    .await
    .expect("the testbed starts")
}

/// A running `bearerflow proxy` and the local client's end of its stdio.
pub struct Proxy {
    pub child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Everything it wrote on standard error so far.
    pub stderr: Arc<Mutex<String>>,
    /// Messages read while waiting for something else.
    pub seen: Vec<Value>,
}

impl Proxy {
    pub fn start(args: &[&str]) -> Proxy {
        Proxy::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let mut cmd = Command::new(bin());
        cmd.arg("proxy")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("bearerflow proxy starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut err_lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        Proxy {
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Write raw bytes and a newline.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.expect("stdin open");
        self.stdin.write_all(b"\n").await.expect("stdin open");
        self.stdin.flush().await.expect("stdin open");
    }

    pub async fn send(&mut self, message: Value) {
        self.send_raw(message.to_string().as_bytes()).await;
    }

    /// The next line, which must be one JSON-RPC message (stdout is the protocol).
    pub async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(DEADLINE, self.lines.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!("no message within {DEADLINE:?}; stderr:\n{}", self.stderr())
            })
            .expect("stdout readable")
            .unwrap_or_else(|| panic!("the proxy closed stdout; stderr:\n{}", self.stderr()));
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a line that is not JSON ({e}): {line:?}"));
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        v
    }

    /// Read until the response with `id`; what came before is kept in `seen`.
    pub async fn response(&mut self, id: &Value) -> Value {
        loop {
            let m = self.recv().await;
            if m.get("method").is_none() && m.get("id") == Some(id) {
                return m;
            }
            self.seen.push(m);
        }
    }

    pub async fn request(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.response(&id).await
    }

    /// `initialize` as a 2025-11-25 client that can answer elicitations, then
    /// `notifications/initialized`.
    pub async fn initialize(&mut self) -> Value {
        let r = self
            .request(
                json!("init"),
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
                       "clientInfo": {"name": "proxy-test", "version": "1"}}),
            )
            .await;
        assert!(r.get("result").is_some(), "initialize failed: {r}");
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        r
    }

    /// `echo` through the proxy: its text, or the whole answer as the error.
    pub async fn echo(&mut self, id: u64, text: &str) -> Result<String, Value> {
        let r = self
            .request(
                json!(id),
                "tools/call",
                json!({"name": "echo", "arguments": {"text": text}}),
            )
            .await;
        match r["result"]["content"][0]["text"].as_str() {
            Some(t) if r["result"]["isError"] != true => Ok(t.to_string()),
            _ => Err(r),
        }
    }

    /// Close stdin and wait for the exit status.
    pub async fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin);
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the proxy exits when stdin closes")
            .expect("exit status")
    }
}

/// The token expiry recorded in a store file (unix ms).
pub fn stored_expiry(store: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(store).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["tokens"]["expires_at"].as_u64()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Wait until the wall clock passes `at` (unix ms): the event "the token expired".
pub async fn until_unix_ms(at: u64) {
    let now = now_ms();
    if at > now {
        tokio::time::sleep(Duration::from_millis(at - now)).await;
    }
}

/// Wait until `condition` holds, checking every 20 ms, failing after [`DEADLINE`].
pub async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Many processes, one refresh token (issue 17), with real OS processes: 8 processes ×
//! 16 concurrent calls across 3 expiries against the testbed, with rotating refresh
//! tokens and reuse detection (a rotated refresh token presented again revokes the
//! whole family). Once on a [`FileTokenStore`], once on a real `redis-server` (feature
//! `redis`; the test starts it on 127.0.0.1 with a free port and stops it after).
//! Every count comes from the testbed's counters: 0 failed calls and exactly one
//! refresh per expiry across all processes.
//!
//! Also: a process SIGKILLed while it holds the refresh lease (the others wait its
//! lease out, then one refreshes; no call fails; the store keeps the new tokens), and
//! Redis restarted mid-run (calls keep succeeding with the tokens in hand; the refresh
//! resumes when it is back).
//!
//! The processes are this test binary run again with `BEARERFLOW_WORKER` set: the
//! `worker` test below then connects, says `WORKER READY`, and answers each `GO` line
//! on its stdin with one burst of concurrent calls and a `WORKER DONE <ok> <errors>`
//! line. Rounds start when the parent says so (after the stored tokens expired), so
//! no outcome depends on timing: waits are on conditions, with generous deadlines.

mod common;

use bearerflow::session::{Config, OAuthConfig, Snapshot};
use bearerflow_async::{Client, FileTokenStore, Swap, TokenStore};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const PROCESSES: usize = 8;
const CALLS: usize = 16;
const EXPIRIES: u64 = 3;
/// Token lifetime: a round (16 calls per process) ends long before the next refresh
/// window opens.
const TTL: Duration = Duration::from_secs(4);
/// The refresh lease: what a dead holder costs the others.
const LEASE_TTL_MS: u64 = 3_000;
/// A generous deadline for any one condition (a slow CI machine).
const DEADLINE: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------
// The worker process
// ---------------------------------------------------------------------------------------

/// Wraps a store: after the first lease it gets, says `WORKER LEASED` and stalls for
/// good (holding the lease, before any token request), waiting to be killed.
struct StallOnLease(Arc<dyn TokenStore>);

#[async_trait::async_trait]
impl TokenStore for StallOnLease {
    async fn load(&self) -> Result<Option<Snapshot>, bearerflow_async::StoreError> {
        self.0.load().await
    }
    async fn swap(&self, s: &Snapshot) -> Result<Swap, bearerflow_async::StoreError> {
        self.0.swap(s).await
    }
    async fn acquire_lease(&self, ttl: Duration) -> Result<bool, bearerflow_async::StoreError> {
        let got = self.0.acquire_lease(ttl).await?;
        if got {
            println!("WORKER LEASED");
            std::future::pending::<()>().await;
        }
        Ok(got)
    }
    async fn release_lease(&self) -> Result<(), bearerflow_async::StoreError> {
        self.0.release_lease().await
    }
    async fn changed(&self, seen: u64) -> Result<Snapshot, bearerflow_async::StoreError> {
        self.0.changed(seen).await
    }
}

fn open_store(spec: &str) -> Arc<dyn TokenStore> {
    if let Some(path) = spec.strip_prefix("file:") {
        return Arc::new(
            FileTokenStore::new(path)
                .expect("a file store")
                .poll_interval(Duration::from_millis(50)),
        );
    }
    #[cfg(feature = "redis")]
    if let Some(rest) = spec.strip_prefix("redis:") {
        let (url, key) = rest.split_once('|').expect("redis:URL|KEY");
        return Arc::new(
            bearerflow_async::RedisTokenStore::with_timeout(url, key, Duration::from_millis(500))
                .expect("a redis store")
                .poll_interval(Duration::from_millis(200)),
        );
    }
    panic!("unknown store {spec}")
}

/// Not a test of its own: the body of a worker process (does nothing unless run as
/// one).
#[test]
fn worker() {
    let Ok(spec) = std::env::var("BEARERFLOW_WORKER") else {
        return;
    };
    let url = std::env::var("WORKER_URL").expect("WORKER_URL");
    let stall = std::env::var("WORKER_STALL").is_ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let mut store = open_store(&spec);
        if stall {
            store = Arc::new(StallOnLease(store));
        }
        let mut config = Config::oauth(url.clone(), OAuthConfig::default());
        config.policy.lease_ttl = bearerflow::time::Millis(LEASE_TTL_MS);
        config.policy.lease_wait = bearerflow::time::Millis(500);
        let client = Client::builder(config)
            .shared_token_store(store)
            .authorizer(bearerflow_async::NoAuthorize)
            .build()
            .await
            .expect("the client builds");
        if std::env::var("WORKER_DEBUG").is_ok() {
            let mut ev = client.subscribe();
            tokio::spawn(async move {
                while let Ok(e) = ev.recv().await {
                    eprintln!("worker event: {e:?}");
                }
            });
        }
        let mcp = Arc::new(bearerflow_async::mcp::McpClient::new(client.clone(), url));
        mcp.connect().await.expect("connect succeeds");
        println!("WORKER READY");
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim() != "GO" {
                continue;
            }
            let (ok, errors) = common::burst(&mcp, CALLS).await;
            let status = client.status().await.expect("status");
            println!(
                "WORKER DONE {ok} {} refreshes={} {}",
                errors.len(),
                status.refreshes,
                serde_json::to_string(&errors).unwrap_or_default()
            );
        }
    });
}

// ---------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn spawn(url: &str, store: &str, stall: bool) -> Worker {
        let exe = std::env::current_exe().expect("the test binary");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "worker", "--nocapture", "--test-threads", "1"])
            .env("BEARERFLOW_WORKER", store)
            .env("WORKER_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if stall {
            cmd.env("WORKER_STALL", "1");
        }
        let mut child = cmd.spawn().expect("the worker starts");
        let stdin = child.stdin.take().expect("piped");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        Worker {
            child,
            stdin,
            lines,
        }
    }

    /// The next `WORKER …` line starting with `prefix` (other output is libtest's).
    async fn expect(&mut self, prefix: &str) -> String {
        let wanted = format!("WORKER {prefix}");
        let found = tokio::time::timeout(DEADLINE, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                // libtest's `test worker ... ` may precede the first line.
                if let Some(at) = line.find(&wanted) {
                    return Some(line[at..].to_string());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the worker ended before {wanted:?}"),
            Err(_) => panic!("no {wanted:?} within {DEADLINE:?}"),
        }
    }

    async fn go(&mut self) {
        self.stdin
            .write_all(b"GO\n")
            .await
            .expect("the worker reads");
        self.stdin.flush().await.expect("the worker reads");
    }

    /// The calls that succeeded and the errors of one burst.
    async fn done(&mut self) -> (usize, String) {
        let line = self.expect("DONE").await;
        let mut parts = line.split(' ').skip(2);
        let ok = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        (ok, line)
    }
}

/// Start `n` workers on `store` and wait until each is connected.
async fn start_workers(url: &str, store: &str, n: usize) -> Vec<Worker> {
    let mut workers: Vec<Worker> = (0..n).map(|_| Worker::spawn(url, store, false)).collect();
    for w in &mut workers {
        w.expect("READY").await;
    }
    workers
}

/// One round: every worker bursts at once; every call must succeed.
async fn round(workers: &mut [Worker], label: &str) {
    for w in workers.iter_mut() {
        w.go().await;
    }
    for (i, w) in workers.iter_mut().enumerate() {
        let (ok, line) = w.done().await;
        assert_eq!(ok, CALLS, "{label}, worker {i}: {line}");
    }
}

/// The stored tokens' expiry (unix ms).
async fn stored_expiry(store: &dyn TokenStore) -> u64 {
    store
        .load()
        .await
        .expect("the store reads")
        .and_then(|s| s.tokens)
        .and_then(|t| t.expires_at)
        .expect("tokens with an expiry are stored")
}

/// Wait until the stored tokens have expired.
async fn past_expiry(store: &dyn TokenStore) {
    common::sleep_until_unix_ms(stored_expiry(store).await + 50).await;
}

/// Put the testbed's freshly minted tokens in `store`, as a previous process would.
async fn seed(tb: &bearerflow_testbed::Handle, store: &dyn TokenStore) {
    let mut snapshot = common::minted_snapshot(tb);
    snapshot.revision = 1;
    assert!(matches!(store.swap(&snapshot).await, Ok(Swap::Stored)));
}

/// 8 processes × 16 calls across 3 expiries: one refresh per expiry, no failure.
async fn three_expiries(tb: &bearerflow_testbed::Handle, spec: &str, store: &dyn TokenStore) {
    seed(tb, store).await;
    let mut workers = start_workers(&tb.mcp_url(), spec, PROCESSES).await;
    for expiry in 1..=EXPIRIES {
        past_expiry(store).await;
        round(&mut workers, &format!("expiry {expiry}")).await;
        let c = tb.counters();
        assert_eq!(c.token_refresh, expiry, "one refresh per expiry: {c:?}");
        assert_eq!(c.refresh_reuse_detected, 0, "{c:?}");
        assert_eq!(c.token_errors, 0, "{c:?}");
    }
    let c = tb.counters();
    assert!(
        c.tool_calls >= PROCESSES as u64 * CALLS as u64 * EXPIRIES,
        "{c:?}"
    );
    drop(workers);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bearerflow-shared-{name}-{}-{}",
        std::process::id(),
        bearerflow_async::now().0
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_eight_processes_three_expiries_one_refresh_each() {
    let tb = common::testbed(TTL, true).await;
    let dir = temp_dir("file");
    let path = dir.join("tokens.json");
    let spec = format!("file:{}", path.display());
    let store = FileTokenStore::new(&path).expect("a file store");
    three_expiries(&tb.handle(), &spec, &store).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_lease_holder_killed_mid_refresh() {
    let tb = common::testbed(TTL, true).await;
    let dir = temp_dir("kill");
    let path = dir.join("tokens.json");
    let spec = format!("file:{}", path.display());
    let store = FileTokenStore::new(&path).expect("a file store");
    seed(&tb.handle(), &store).await;
    let url = tb.mcp_url();
    let mut victim = Worker::spawn(&url, &spec, true);
    victim.expect("READY").await;
    let mut others = start_workers(&url, &spec, PROCESSES - 1).await;
    let before = store.load().await.expect("reads").expect("seeded");
    past_expiry(&store).await;
    // The victim takes the lease and stalls before its token request: killed there.
    victim.go().await;
    victim.expect("LEASED").await;
    victim.child.kill().await.expect("SIGKILL");
    // The others: refused until the dead holder's lease runs out, then one refreshes.
    round(&mut others, "after the kill").await;
    let c = tb.counters();
    assert_eq!(c.token_refresh, 1, "{c:?}");
    assert_eq!(c.refresh_reuse_detected, 0, "{c:?}");
    // Nothing lost: the store holds the new tokens.
    let after = store.load().await.expect("reads").expect("stored");
    assert!(after.revision > before.revision);
    assert_ne!(
        after
            .tokens
            .as_ref()
            .map(|t| t.access_token.expose().to_string()),
        before
            .tokens
            .as_ref()
            .map(|t| t.access_token.expose().to_string())
    );
    // And the next expiry goes as usual.
    past_expiry(&store).await;
    round(&mut others, "the expiry after").await;
    let c = tb.counters();
    assert_eq!(c.token_refresh, 2, "{c:?}");
    assert_eq!(c.refresh_reuse_detected, 0, "{c:?}");
    drop(others);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "redis")]
mod redis_server {
    use super::*;

    /// A `redis-server` on 127.0.0.1 with a free port, its data in `dir` (append-only,
    /// fsync'd: a restart loses nothing). Stopped when dropped.
    pub struct Redis {
        child: Option<std::process::Child>,
        pub port: u16,
        dir: std::path::PathBuf,
    }

    impl Redis {
        pub fn start(dir: &std::path::Path) -> Redis {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut r = Redis {
                child: None,
                port,
                dir: dir.to_path_buf(),
            };
            r.restart();
            r
        }

        pub fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/", self.port)
        }

        pub fn restart(&mut self) {
            let child = std::process::Command::new("redis-server")
                .args([
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &self.port.to_string(),
                    "--dir",
                    &self.dir.display().to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--daemonize",
                    "no",
                ])
                .stdout(Stdio::null())
                .spawn()
                .expect(
                    "redis-server runs (Debian package redis-server; `cargo xtask ci` installs it)",
                );
            self.child = Some(child);
            let deadline = std::time::Instant::now() + DEADLINE;
            loop {
                if let Ok(client) = redis::Client::open(self.url()) {
                    if let Ok(mut con) = client.get_connection() {
                        if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                            return;
                        }
                    }
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        pub fn stop(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    impl Drop for Redis {
        fn drop(&mut self) {
            self.stop();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_eight_processes_three_expiries_one_refresh_each() {
        let tb = common::testbed(TTL, true).await;
        let dir = temp_dir("redis");
        let redis = Redis::start(&dir);
        let key = "bearerflow:test:three-expiries";
        let spec = format!("redis:{}|{key}", redis.url());
        let store = bearerflow_async::RedisTokenStore::new(&redis.url(), key).expect("a store");
        three_expiries(&tb.handle(), &spec, &store).await;
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_restarted_mid_run() {
        let tb = common::testbed(TTL, true).await;
        let dir = temp_dir("redis-restart");
        let mut redis = Redis::start(&dir);
        let key = "bearerflow:test:restart";
        let spec = format!("redis:{}|{key}", redis.url());
        let store = bearerflow_async::RedisTokenStore::new(&redis.url(), key).expect("a store");
        seed(&tb.handle(), &store).await;
        let mut workers = start_workers(&tb.mcp_url(), &spec, PROCESSES).await;
        let expires = stored_expiry(&store).await;
        // Redis goes away while the tokens are fresh: calls go out with them.
        redis.stop();
        round(&mut workers, "redis away, tokens in hand").await;
        // The tokens expire with Redis still away: no process can take the lease, so
        // none refreshes; the calls wait.
        common::sleep_until_unix_ms(expires + 50).await;
        for w in workers.iter_mut() {
            w.go().await;
        }
        // Several lease attempts fail (each waits `lease_wait`) before Redis is back.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(
            tb.counters().token_refresh,
            0,
            "no refresh without the lease"
        );
        redis.restart();
        for (i, w) in workers.iter_mut().enumerate() {
            let (ok, line) = w.done().await;
            assert_eq!(ok, CALLS, "worker {i} after the restart: {line}");
        }
        let c = tb.counters();
        assert_eq!(c.token_refresh, 1, "the refresh resumed, once: {c:?}");
        assert_eq!(c.refresh_reuse_detected, 0, "{c:?}");
        // The store came back with what it held, and now holds the new tokens.
        let after = store.load().await.expect("reads").expect("stored");
        assert!(after.revision > 1, "{}", after.revision);
        drop(workers);
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The peers of the interop suite (`cargo xtask interop`): a certified OpenID Provider
//! (`oidc-provider`) set up like an MCP deployment, and an MCP endpoint guarded by the
//! official TypeScript SDK's `requireBearerAuth`, both in one Node process
//! (`interop/server.mjs`, which says how each is configured).
//!
//! The xtask installs Node 22 and the peers' packages and names them in
//! `BEARERFLOW_INTEROP_NODE` (the node binary) and `BEARERFLOW_INTEROP_SERVER` (the
//! installed `server.mjs`). The tests that use this are `#[ignore]`d, so a plain
//! `cargo test` reports them as skipped; run with `--ignored` but without those
//! variables, they fail and say how to run them.
//!
//! Shared by path with `cli/tests/`.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// What the xtask sets.
pub const NODE_VAR: &str = "BEARERFLOW_INTEROP_NODE";
/// What the xtask sets.
pub const SERVER_VAR: &str = "BEARERFLOW_INTEROP_SERVER";

/// The redirect URI the sessions register (never listened on: the follower stops at
/// the redirect that leads there).
pub const REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";

/// The provider's access token format for the MCP endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// RFC 9068 JWT access tokens, verified by the endpoint against the JWKS.
    Jwt,
    /// Opaque access tokens, introspected at the provider (RFC 7662).
    Opaque,
}

/// When the provider issues a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// To every client allowed the `refresh_token` grant (an MCP deployment's choice).
    Always,
    /// oidc-provider's default: only when `offline_access` was granted.
    ProviderDefault,
    /// Never.
    Never,
}

/// How the peers are set up.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub format: TokenFormat,
    pub refresh: RefreshPolicy,
    /// Access token lifetime, seconds.
    pub access_ttl: u32,
}

impl Setup {
    /// The deployment of the issue: 5-second tokens, refresh tokens always.
    pub fn mcp(format: TokenFormat) -> Setup {
        Setup {
            format,
            refresh: RefreshPolicy::Always,
            access_ttl: 5,
        }
    }
}

/// A running pair of peers; killed when dropped.
pub struct Peers {
    child: Child,
    pub setup: Setup,
    /// `http://127.0.0.1:A/oidc`.
    pub issuer: String,
    /// `http://127.0.0.1:B/mcp`.
    pub mcp_url: String,
    control: String,
    stderr: PathBuf,
    http: reqwest::Client,
}

fn env_path(name: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!(
            "{name} is not set: the interop tests need Node 22 and the oidc-provider peers, \
             which `cargo xtask interop` installs before it runs them"
        ),
    }
}

impl Peers {
    /// Start the peers and wait for them to listen (up to a minute).
    pub fn start(setup: Setup) -> Peers {
        let node = env_path(NODE_VAR);
        let server = env_path(SERVER_VAR);
        let stderr = std::env::temp_dir().join(format!(
            "bearerflow-interop-{}-{}.log",
            std::process::id(),
            unique()
        ));
        let err_file = std::fs::File::create(&stderr).expect("a file for the peers' stderr");
        let mut child = Command::new(&node)
            .arg(&server)
            .env(
                "TOKEN_FORMAT",
                match setup.format {
                    TokenFormat::Jwt => "jwt",
                    TokenFormat::Opaque => "opaque",
                },
            )
            .env(
                "REFRESH_POLICY",
                match setup.refresh {
                    RefreshPolicy::Always => "always",
                    RefreshPolicy::ProviderDefault => "default",
                    RefreshPolicy::Never => "never",
                },
            )
            .env("ACCESS_TTL", setup.access_ttl.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err_file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {} {}: {e}", node.display(), server.display())
            });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if !l.trim().is_empty() => l,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the peers did not start within 60 s:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
        };
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the peers printed {line:?}, not JSON: {e}"));
        let field = |k: &str| {
            info[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {line}"))
                .to_string()
        };
        bearerflow_async::install_crypto_provider();
        Peers {
            issuer: field("issuer"),
            mcp_url: field("mcp_url"),
            control: field("control_url"),
            child,
            setup,
            stderr,
            http: reqwest::Client::new(),
        }
    }

    /// Everything the provider and the endpoint recorded, in order.
    pub async fn log(&self) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/log", self.control))
            .send()
            .await
            .expect("the control route answers");
        let body = r.bytes().await.expect("the log is read");
        serde_json::from_slice(&body).expect("the log is JSON")
    }

    async fn control(&self, action: &str) -> Value {
        let r = self
            .http
            .post(format!("{}/{action}", self.control))
            .send()
            .await
            .expect("the control route answers");
        assert!(r.status().is_success(), "{action}: HTTP {}", r.status());
        let body = r.bytes().await.expect("the answer is read");
        serde_json::from_slice(&body).expect("JSON")
    }

    /// Destroy every opaque access token issued so far (the refresh tokens stay
    /// valid).
    pub async fn revoke_access_tokens(&self) {
        let r = self.control("revoke-access-tokens").await;
        assert!(r["tokens"].as_u64() > Some(0), "nothing to revoke: {r}");
    }

    /// Revoke every grant: its tokens, codes and the grant itself.
    pub async fn revoke_grants(&self) {
        let r = self.control("revoke-grants").await;
        assert!(r["grants"].as_u64() > Some(0), "nothing to revoke: {r}");
    }

    /// What the log adds up to.
    pub async fn counts(&self) -> Counts {
        Counts::of(&self.log().await)
    }

    /// The log as text, one line per entry, for a failure report: every request the
    /// provider and the endpoint answered (by its non-secret parameters) and the
    /// answer, and the provider's own events.
    pub async fn trace(&self) -> String {
        let log = self.log().await;
        let mut out = format!(
            "peers: {:?}, issuer {}, endpoint {}\n",
            self.setup, self.issuer, self.mcp_url
        );
        for entry in &log {
            let t = entry["t"].as_u64().unwrap_or(0);
            let kind = entry["kind"].as_str().unwrap_or("?");
            let mut rest = entry.clone();
            if let Some(map) = rest.as_object_mut() {
                map.remove("t");
                map.remove("kind");
                map.retain(|_, v| !v.is_null());
            }
            let _ = writeln!(out, "  {t:>6} ms  {kind:<11} {rest}");
        }
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let stderr: Vec<&str> = stderr.lines().filter(|l| !l.contains("WARNING")).collect();
        if !stderr.is_empty() {
            let _ = writeln!(out, "peers' stderr:\n  {}", stderr.join("\n  "));
        }
        out
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The provider's and the endpoint's record, added up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Authorization requests (the first leg, `GET /oidc/auth`), not the resumes.
    pub authorizations: u64,
    /// Logins and consents the interaction routes approved.
    pub logins: u64,
    pub consents: u64,
    /// Dynamic registrations that succeeded.
    pub registrations: u64,
    /// Token requests by grant type and outcome: (grant_type, ok) → n.
    pub token_requests: BTreeMap<(String, bool), u64>,
    /// Token responses that carried a refresh token.
    pub refresh_tokens_issued: u64,
    /// Refresh tokens presented again after rotation (the provider then revokes the
    /// grant).
    pub reuse: u64,
    /// Grants the provider revoked by itself.
    pub grants_revoked: u64,
    /// Endpoint answers 401 to a request that carried a token.
    pub endpoint_401_with_token: u64,
    /// Endpoint answers 401 to a request without a token.
    pub endpoint_401_without_token: u64,
    /// Endpoint answers 403.
    pub endpoint_403: u64,
    /// Authorization-leg parameters, in order (scope, prompt, resource).
    pub authorization_params: Vec<Value>,
}

impl Counts {
    pub fn of(log: &[Value]) -> Counts {
        let mut c = Counts::default();
        for e in log {
            match (e["kind"].as_str(), e["route"].as_str()) {
                (Some("provider"), Some("authorization")) => {
                    c.authorizations += 1;
                    c.authorization_params.push(e["params"].clone());
                }
                (Some("provider"), Some("registration")) if e["status"] == 201 => {
                    c.registrations += 1;
                }
                (Some("provider"), Some("token")) => {
                    let grant = e["params"]["grant_type"]
                        .as_str()
                        .unwrap_or("?")
                        .to_string();
                    let ok = e["status"] == 200;
                    *c.token_requests.entry((grant, ok)).or_default() += 1;
                    let tokens = e["answer"]["tokens"].as_array();
                    if tokens.is_some_and(|t| t.iter().any(|t| t == "refresh_token")) {
                        c.refresh_tokens_issued += 1;
                    }
                }
                (Some("event"), _) => match e["event"].as_str() {
                    Some("grant.error") if e["reuse"] == true => c.reuse += 1,
                    Some("grant.revoked") => c.grants_revoked += 1,
                    _ => {}
                },
                (Some("interaction"), _) => match e["prompt"].as_str() {
                    Some("login") => c.logins += 1,
                    Some("consent") => c.consents += 1,
                    _ => {}
                },
                (Some("mcp"), _) => match e["status"].as_u64() {
                    Some(401) if e["sent_token"] == true => c.endpoint_401_with_token += 1,
                    Some(401) => c.endpoint_401_without_token += 1,
                    Some(403) => c.endpoint_403 += 1,
                    _ => {}
                },
                _ => {}
            }
        }
        c
    }

    /// Token requests of `grant` that got `ok` (true: 200) answers.
    pub fn tokens(&self, grant: &str, ok: bool) -> u64 {
        self.token_requests
            .get(&(grant.to_string(), ok))
            .copied()
            .unwrap_or(0)
    }

    /// Refresh grants answered 200.
    pub fn refreshes(&self) -> u64 {
        self.tokens("refresh_token", true)
    }
}

/// Run `body` against freshly started peers; print the peers' trace whatever happens
/// (libtest shows it for a failing test), then pass a panic on.
pub async fn run_case<F, Fut>(setup: Setup, body: F)
where
    F: FnOnce(Arc<Peers>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let peers = Arc::new(Peers::start(setup));
    let result = tokio::spawn(body(Arc::clone(&peers))).await;
    println!("{}", peers.trace().await);
    if let Err(e) = result {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the case did not finish: {e}"),
        }
    }
}

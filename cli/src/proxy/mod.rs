//! `bearerflow proxy URL`: every MCP client that can launch a local stdio server (or
//! send a static header to a local HTTP endpoint) gets bearerflow's whole lifecycle
//! with no change of its own: proactive refresh, single flight, one retry after a
//! `401`, step-up, first-contact authorization in the system browser with a loopback
//! redirect, or a header helper re-run on `401` and on its TTL.
//!
//! - [`bridge`]: the stdio bridge (the default), a drop-in for `npx mcp-remote URL`.
//! - [`gateway`]: `--listen 127.0.0.1:PORT`, a local Streamable HTTP endpoint that
//!   forwards with fresh credentials and never forwards the local client's own.
//! - [`upstream`]: the remote server, on either MCP wire, through one bearerflow
//!   [`Client`]; the token store is any [`Store`] (default: the per-server file that
//!   `bearerflow connect` writes, so one `connect` signs the proxy in).
//! - [`args`]: the command line, mcp-remote's shape plus bearerflow's options.
//! - [`log`]: standard error only; standard output is the protocol.

pub(crate) mod args;
pub(crate) mod bridge;
pub(crate) mod gateway;
pub(crate) mod log;
pub(crate) mod upstream;

use args::Options;
use bearerflow::session::{Config, HelperConfig, OAuthConfig};
use bearerflow_async::{
    Client, CommandHelper, FileTokenStore, HeadlessFollow, JsonFileStore, LoopbackBrowser,
    MemoryStore, NoAuthorize, Store,
};
use log::Log;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::mpsc;
use upstream::Upstream;

const USAGE: &str = "usage: bearerflow proxy URL [CALLBACK_PORT] [OPTIONS]

A stdio MCP server that forwards every message to the remote Streamable HTTP server
URL and keeps its authorization alive. A drop-in for `npx mcp-remote URL ...`: put
`bearerflow` as the command and `proxy URL ...` as the arguments in the client's config.

mcp-remote's options:
  --header NAME:VALUE   add a header to every request; ${VAR} expands from the
                        environment (e.g. \"Authorization:${AUTH_HEADER}\"). A static
                        Authorization is replaced by bearerflow's once it has its own
  --allow-http          allow plain http to a host that is not loopback
  --resource URL        the RFC 8707 resource to ask tokens for (and keep apart)
  --static-oauth-client-info JSON|@FILE
                        a pre-registered client: client_id, client_secret,
                        token_endpoint_auth_method
  --static-oauth-client-metadata JSON|@FILE
                        scope and client_name for registration
  --host HOST           the OAuth callback host (default localhost)
  --callback-path PATH  the OAuth callback path (default /oauth/callback)
  --auth-timeout SECS   how long to wait for the browser (default 300)
  --ignore-tool PATTERN hide tools matching PATTERN (* wildcards) and refuse calls
  --transport http-only|http-first   Streamable HTTP (the only transport here)
  --debug, --silent     the same as --log-level debug, --log-level error
  --enable-proxy, --disable-resource-parameter   accepted, with a note

bearerflow's options:
  --headless            follow the authorization URL without a browser (servers that
                        approve without a user, such as `bearerflow testbed`)
  --no-open             print the authorization URL instead of opening the browser
  --store PATH          the token file (default: the per-server file of `bearerflow
                        connect` in $XDG_CONFIG_HOME/bearerflow or ~/.config/bearerflow)
  --no-shared-store     the token file is this process's alone (by default other
                        processes may use it too: one refresh under a lock in
                        PATH.lock, the tokens another process stored adopted)
  --headers-helper CMD  take the headers from CMD's output (a JSON object or Name:
                        value lines), re-run on 401 and after --helper-ttl; never
                        falls into OAuth discovery
  --helper-ttl DUR      how long the helper's headers stay valid (e.g. 300s, 5m)
  --listen ADDR:PORT    serve a local Streamable HTTP endpoint instead of stdio; any
                        Authorization the local client sends is replaced, its
                        credentials are never forwarded. Loopback only unless
                        --allow-remote-listen
  --wire W              auto (default: MCP 2026-07-28, falling back to the 2025-11-25
                        initialize handshake), modern or legacy
  --log-level L         error, warn, info (default) or debug; all logs go to stderr
  --json-events         print logs and the session's lifecycle events as JSON lines
                        on stderr";

/// `bearerflow proxy ...`
pub fn run(args: &[String]) -> ExitCode {
    crate::command::run("proxy", USAGE, args, args::parse, |rt, options| {
        rt.block_on(main(options))
    })
}

/// The token file when `--store` is not given: `connect`'s per-server file, or, with
/// `--resource`, one beside it per resource (mcp-remote keeps those apart too).
fn default_store(o: &Options) -> Option<PathBuf> {
    let dir = crate::connect::config_dir()?;
    let base = crate::connect::store_file_name(&o.url)?;
    let Some(resource) = &o.resource else {
        return Some(dir.join(base));
    };
    let tag: String = resource
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let stem = base.strip_suffix(".json").unwrap_or(&base);
    Some(dir.join(format!("{stem}_resource_{tag}.json")))
}

/// The store the session persists to. Any [`Store`] works here: this is where a
/// shared, locking store plugs in.
fn store(o: &Options) -> Result<Arc<dyn Store>, String> {
    if let Some(p) = &o.store {
        return Ok(Arc::new(JsonFileStore::new(p)));
    }
    if o.headers_helper.is_some() {
        // A helper's headers are its own; nothing to keep between runs.
        return Ok(Arc::new(MemoryStore::new()));
    }
    let path = default_store(o).ok_or(
        "no config directory for the token file: set HOME or XDG_CONFIG_HOME, or pass --store",
    )?;
    Ok(Arc::new(JsonFileStore::new(path)))
}

/// The session for `o`: OAuth (browser or headless) or a header helper.
pub(crate) async fn build_client(o: &Options, store: Arc<dyn Store>) -> Result<Client, String> {
    let resource = o.resource.clone().unwrap_or_else(|| o.url.clone());
    if let Some(cmd) = &o.headers_helper {
        let config = Config::header_helper(
            resource,
            HelperConfig {
                ttl_ms: o
                    .helper_ttl
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)),
                oauth_fallback: None,
            },
        );
        return Client::builder(config)
            .shared_store(store)
            .authorizer(NoAuthorize)
            .helper(CommandHelper::new(cmd.clone()))
            .build()
            .await
            .map_err(|e| e.to_string());
    }
    let oauth = |redirect_uri: String| OAuthConfig {
        client: o.static_client.clone(),
        redirect_uri: Some(redirect_uri),
        scope: o.scope.clone(),
        client_name: Some(
            o.client_name
                .clone()
                .unwrap_or_else(|| "bearerflow proxy".into()),
        ),
        allow_insecure_http: o.allow_http,
        ..OAuthConfig::default()
    };
    let callback = |port: u16| format!("http://{}:{port}{}", o.callback_host, o.callback_path);
    let builder = if o.headless {
        let config = Config::oauth(resource, oauth(callback(o.callback_port.unwrap_or(8976))));
        let follow = HeadlessFollow::with_policy(&config.policy).map_err(|e| e.to_string())?;
        Client::builder(config).authorizer(follow)
    } else {
        let (browser, redirect_uri) = match o.callback_port {
            Some(port) => (LoopbackBrowser::new(), callback(port)),
            None => {
                let b = LoopbackBrowser::bind(&o.callback_path).await.map_err(|e| {
                    format!("cannot listen on 127.0.0.1 for the OAuth callback: {e}")
                })?;
                let uri = b.redirect_uri().unwrap_or_default().to_string();
                (b, uri)
            }
        };
        let mut browser = browser.open_browser(o.open_browser);
        if let Some(t) = o.auth_timeout {
            browser = browser.timeout(t);
        }
        Client::builder(Config::oauth(resource, oauth(redirect_uri))).authorizer(browser)
    };
    let builder = match shared_token_file(o)? {
        Some(path) => builder.token_store(FileTokenStore::new(path).map_err(|e| e.to_string())?),
        None => builder.shared_store(store),
    };
    builder.build().await.map_err(|e| e.to_string())
}

/// The token file as a [`FileTokenStore`]'s, unless `--no-shared-store` (or there is
/// no token file, so nothing to share).
fn shared_token_file(o: &Options) -> Result<Option<PathBuf>, String> {
    if !o.shared_store {
        return Ok(None);
    }
    Ok(o.store.clone().or_else(|| default_store(o)))
}

async fn main(o: Options) -> ExitCode {
    let log = Log {
        level: o.log_level,
        json: o.json_events,
    };
    for note in &o.notes {
        log.info(format_args!("{note}"));
    }
    let store = match store(&o) {
        Ok(s) => s,
        Err(e) => {
            log.error(format_args!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    let client = match build_client(&o, store).await {
        Ok(c) => c,
        Err(e) => {
            log.error(format_args!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut events = client.subscribe();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(e) => log.event(&e),
                Err(RecvError::Lagged(n)) => log.warn(format_args!(
                    "{n} lifecycle events were not shown (too many at once)"
                )),
                Err(RecvError::Closed) => break,
            }
        }
    });
    let up = Arc::new(Upstream::new(
        client,
        o.url.clone(),
        upstream::header_map(&o.headers),
        o.wire,
        log,
    ));
    match o.listen {
        Some(addr) => gateway::serve(up, addr, o.allow_remote_listen).await,
        None => {
            log.info(format_args!(
                "bridging stdio to {} (credentials: {})",
                o.url,
                if o.headers_helper.is_some() {
                    "header helper"
                } else {
                    "OAuth"
                }
            ));
            stdio(up, o.ignore_tools, log).await
        }
    }
}

/// The stdio bridge until the local client closes standard input.
async fn stdio(up: Arc<Upstream>, ignore: Vec<String>, log: Log) -> ExitCode {
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(bridge::write_lines(rx, tokio::io::stdout(), log));
    let bridge = bridge::Bridge::new(up, tx.clone(), ignore);
    bridge
        .run(tokio::io::BufReader::new(tokio::io::stdin()))
        .await;
    // Null is never a message: it tells the writer to stop after what is queued.
    let _ = tx.send(serde_json::Value::Null);
    let _ = writer.await;
    log.debug(format_args!("standard input closed; exiting"));
    ExitCode::SUCCESS
}

//! `bearerflow connect URL`: authorize against a real MCP server and use it.
//!
//! The same flow as the demo, with a person in the loop: the first request's 401 starts
//! discovery (RFC 9728, RFC 8414), registration (RFC 7591) and a PKCE authorization
//! request; the URL is printed (and opened with `--open`), and the browser's redirect is
//! captured on a 127.0.0.1 listener (RFC 8252 §7.3). The tokens are stored in the
//! user's config directory, one file per server origin, so the next run needs no
//! browser. Then the MCP client connects (`--wire`: by default the MCP 2026-07-28
//! negotiation, `server/discover` on the stateless wire with a fallback to the
//! 2025-11-25 `initialize` handshake for legacy servers), lists the tools, and with
//! `--call` calls one.

use crate::safe;
use bearerflow::session::{Config, OAuthConfig};
use bearerflow_async::mcp::{McpClient, McpError, WireChoice};
use bearerflow_async::{Client, Event, HeadlessFollow, JsonFileStore, LoopbackBrowser};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: bearerflow connect URL [OPTIONS]
  --call NAME         call this tool after listing the tools
  --args JSON         its arguments (default {})
  --headless          follow the authorization URL without a browser (servers that
                      approve without a user, such as `bearerflow testbed`)
  --open              also open the authorization URL in the system browser
  --port N            listen for the browser's redirect on 127.0.0.1:N (default: a
                      free port)
  --store PATH        where to keep the tokens (default: $XDG_CONFIG_HOME/bearerflow/
                      or ~/.config/bearerflow/, one file per server origin)
  --wire W            auto (default: 2026-07-28 stateless, falling back to the
                      2025-11-25 initialize handshake), modern or legacy
  --json              end with one JSON line: server, wire, tools, result, store (or,
                      on failure, one JSON line with ok: false and error: code, message)

Everything a server says (names, descriptions, error messages) is printed with
control characters escaped (as \\u{1b}) and cut to a few hundred bytes.";

#[derive(Debug, Default, PartialEq)]
struct Options {
    url: String,
    call: Option<String>,
    args: Option<Value>,
    headless: bool,
    open: bool,
    port: Option<u16>,
    store: Option<PathBuf>,
    wire: WireChoice,
    json: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--call" => o.call = Some(value("--call")?),
            "--args" => {
                let v = value("--args")?;
                let parsed: Value =
                    serde_json::from_str(&v).map_err(|e| format!("--args: not JSON: {e}"))?;
                if !parsed.is_object() {
                    return Err("--args must be a JSON object".into());
                }
                o.args = Some(parsed);
            }
            "--headless" => o.headless = true,
            "--open" => o.open = true,
            "--port" => {
                let v = value("--port")?;
                o.port = Some(
                    v.parse()
                        .map_err(|_| format!("--port: {v:?} is not a port"))?,
                );
            }
            "--store" => o.store = Some(PathBuf::from(value("--store")?)),
            "--wire" => {
                let v = value("--wire")?;
                o.wire = WireChoice::parse(&v)
                    .ok_or_else(|| format!("--wire: expected auto, modern or legacy, got {v:?}"))?;
            }
            "--json" => o.json = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other:?}")),
            url if o.url.is_empty() => o.url = url.to_string(),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    if o.url.is_empty() {
        return Err("the MCP server URL is missing".into());
    }
    let parsed = url::Url::parse(&o.url).map_err(|e| format!("{}: {e}", o.url))?;
    if parsed.scheme() != "https" && parsed.scheme() != "http" {
        return Err(format!("{}: not an http(s) URL", o.url));
    }
    if o.args.is_some() && o.call.is_none() {
        return Err("--args needs --call".into());
    }
    Ok(o)
}

/// The user's config directory for bearerflow (`proxy` keeps its tokens there too).
pub(crate) fn config_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("bearerflow"))
}

/// One snapshot file per server origin: `https_mcp.example.com_443.json` (`proxy`
/// reads the same file, so one `connect` signs both in).
pub(crate) fn store_file_name(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    let port = u.port_or_known_default()?;
    let raw = format!("{}_{host}_{port}", u.scheme());
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(format!("{safe}.json"))
}

/// Why `connect` failed: a stable code, the message, and what the authorizer said
/// when authorization was what failed.
#[derive(Debug)]
struct Failure {
    code: &'static str,
    message: String,
    authorizer: Option<String>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            code: "setup",
            message,
            authorizer: None,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::from(message.to_string())
    }
}

/// The code of an MCP failure: bearerflow's own (the session's reason, the limit, a
/// refused redirect) or the kind of bad answer.
fn mcp_code(e: &McpError) -> &'static str {
    match e {
        McpError::Transport(t) => t.code(),
        McpError::Status { .. } => "http_status",
        McpError::Body(_) => "body",
        McpError::Malformed(_) => "malformed_response",
        McpError::Rpc { .. } => "rpc_error",
        _ => "mcp",
    }
}

/// `step` failed with `e`; `events` tells what the authorizer said, if it failed (the
/// session's own detail only says that it did).
fn failure(
    step: &str,
    e: &McpError,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) -> Failure {
    let mut authorizer = None;
    loop {
        match events.try_recv() {
            Ok(Event::AuthorizeFailed { reason, .. }) => authorizer = Some(reason),
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    let mut message = format!("{step}: {e}");
    if let Some(reason) = &authorizer {
        message.push_str(&format!(" (authorizer: {reason})"));
    }
    Failure {
        code: mcp_code(e),
        message,
        authorizer,
    }
}

/// `bearerflow connect ...`
pub fn run(args: &[String]) -> ExitCode {
    crate::command::run("connect", USAGE, args, parse_args, |rt, options| {
        match rt.block_on(connect(&options)) {
            Ok(code) => code,
            Err(f) => {
                eprintln!("bearerflow connect: {}", safe::line(&f.message));
                if options.json {
                    let mut error = json!({"code": f.code, "message": safe::line(&f.message)});
                    if let Some(reason) = &f.authorizer {
                        error["authorizer"] = json!(safe::line(reason));
                    }
                    println!("{}", safe::json(&json!({"ok": false, "error": error})));
                }
                ExitCode::FAILURE
            }
        }
    })
}

async fn connect(o: &Options) -> Result<ExitCode, Failure> {
    let store_path = match &o.store {
        Some(p) => p.clone(),
        None => {
            let dir = config_dir().ok_or("no config directory: set HOME or XDG_CONFIG_HOME")?;
            let file = store_file_name(&o.url).ok_or("the URL has no host")?;
            dir.join(file)
        }
    };
    let builder;
    if o.headless {
        let port = o.port.unwrap_or(8976);
        let config = oauth_config(&o.url, format!("http://127.0.0.1:{port}/callback"));
        let follow = HeadlessFollow::with_policy(&config.policy).map_err(|e| e.to_string())?;
        builder = Client::builder(config).authorizer(follow);
    } else {
        let browser = match o.port {
            Some(port) => (
                LoopbackBrowser::new(),
                format!("http://127.0.0.1:{port}/callback"),
            ),
            None => {
                let b = LoopbackBrowser::bind("/callback")
                    .await
                    .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
                let uri = b.redirect_uri().unwrap_or_default().to_string();
                (b, uri)
            }
        };
        let (browser, redirect_uri) = browser;
        builder = Client::builder(oauth_config(&o.url, redirect_uri))
            .authorizer(browser.open_browser(o.open));
    }
    let client = builder
        .store(JsonFileStore::new(&store_path))
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let mut events = client.subscribe();
    let mcp = McpClient::new(client.clone(), o.url.clone()).with_wire(o.wire);
    let connected = mcp.connect().await.map_err(|e| {
        failure(
            &format!("connect ({} wire)", o.wire.as_str()),
            &e,
            &mut events,
        )
    })?;
    let info = connected.server_info.clone().unwrap_or(Value::Null);
    let server = json!({
        "name": info["name"],
        "version": info["version"],
        "protocolVersion": connected.protocol_version,
    });
    println!(
        "connected to {} {} (MCP {}, {} wire: {}) at {}",
        safe::text(info["name"].as_str().unwrap_or("?")),
        safe::text(info["version"].as_str().unwrap_or("")),
        safe::text(&connected.protocol_version),
        connected.wire,
        connected.wire.describe(),
        safe::text(&o.url)
    );
    let tools = mcp
        .list_tools()
        .await
        .map_err(|e| failure("tools/list", &e, &mut events))?;
    let list = tools["tools"].as_array().cloned().unwrap_or_default();
    println!("tools ({}):", list.len());
    for t in &list {
        println!(
            "  - {}: {}",
            safe::text(t["name"].as_str().unwrap_or("?")),
            safe::text(t["description"].as_str().unwrap_or(""))
        );
    }
    for (name, why) in mcp.rejected_tools() {
        println!("  (left out {}: {})", safe::text(&name), safe::text(&why));
    }
    let mut code = ExitCode::SUCCESS;
    let mut result = Value::Null;
    if let Some(name) = &o.call {
        let args = o.args.clone().unwrap_or_else(|| json!({}));
        result = mcp
            .call_tool(name, args)
            .await
            .map_err(|e| failure(&format!("tools/call {name}"), &e, &mut events))?;
        println!("{} →", safe::text(name));
        println!(
            "{}",
            safe::escape_json_text(&serde_json::to_string_pretty(&result).unwrap_or_default())
        );
        if result["isError"] == true {
            code = ExitCode::FAILURE;
        }
    }
    println!(
        "tokens stored in {}",
        safe::text(&store_path.display().to_string())
    );
    if o.json {
        let names: Vec<&Value> = list.iter().map(|t| &t["name"]).collect();
        println!(
            "{}",
            safe::json(&json!({
                "ok": true,
                "server": server,
                "wire": connected.wire.as_str(),
                "tools": names,
                "result": result,
                "store": store_path.display().to_string(),
            }))
        );
    }
    Ok(code)
}

fn oauth_config(url: &str, redirect_uri: String) -> Config {
    Config::oauth(
        url,
        OAuthConfig {
            redirect_uri: Some(redirect_uri),
            client_name: Some("bearerflow CLI".into()),
            ..OAuthConfig::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_args(&args(&[
            "https://mcp.example.com/mcp",
            "--call",
            "add",
            "--args",
            r#"{"a": 1}"#,
            "--headless",
            "--port",
            "9000",
        ]))
        .unwrap();
        assert_eq!(o.url, "https://mcp.example.com/mcp");
        assert_eq!(o.call.as_deref(), Some("add"));
        assert_eq!(o.args, Some(json!({"a": 1})));
        assert!(o.headless);
        assert_eq!(o.port, Some(9000));
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&args(&["ftp://x/"])).is_err());
        assert!(parse_args(&args(&["https://x/", "--args", "[1]", "--call", "a"])).is_err());
        assert!(parse_args(&args(&["https://x/", "--args", "{}"])).is_err());
        assert!(parse_args(&args(&["https://x/", "https://y/"])).is_err());
        assert!(parse_args(&args(&["https://x/", "--nope"])).is_err());
    }

    #[test]
    fn one_store_file_per_origin() {
        assert_eq!(
            store_file_name("https://mcp.example.com/mcp").as_deref(),
            Some("https_mcp.example.com_443.json")
        );
        assert_eq!(
            store_file_name("http://127.0.0.1:8080/a/b?x").as_deref(),
            Some("http_127.0.0.1_8080.json")
        );
        assert_eq!(
            store_file_name("http://[::1]:9/").as_deref(),
            Some("http____1__9.json")
        );
        assert_eq!(store_file_name("not a url"), None);
    }
}

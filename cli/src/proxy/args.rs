//! The command line of `bearerflow proxy`: the shape `npx mcp-remote` users already have
//! in their client configs (`URL [CALLBACK_PORT] --header NAME:VALUE --allow-http
//! --resource URL --static-oauth-client-info JSON|@FILE …`), plus bearerflow's own
//! options. Replacing `npx mcp-remote` (or `npx -y mcp-remote@latest`) with
//! `bearerflow proxy` is the whole migration; options of mcp-remote that mean nothing
//! here are accepted with a note on standard error, never silently.

use bearerflow::oauth::{ClientAuthMethod, ClientRegistration};
use bearerflow::secret::Secret;
use bearerflow_async::mcp::WireChoice;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::log::Level;

/// mcp-remote's default OAuth callback path, so that a client pre-registered for
/// mcp-remote keeps its redirect URI.
pub(crate) const DEFAULT_CALLBACK_PATH: &str = "/oauth/callback";

/// Everything `bearerflow proxy` was told.
#[derive(Debug)]
pub(crate) struct Options {
    /// The remote MCP endpoint.
    pub url: String,
    /// The OAuth callback port (mcp-remote's optional second positional argument).
    pub callback_port: Option<u16>,
    /// `--host`: the host of the redirect URI (`localhost` or a loopback address).
    pub callback_host: String,
    /// `--callback-path`.
    pub callback_path: String,
    /// `--auth-timeout SECS`: how long to wait for the browser.
    pub auth_timeout: Option<Duration>,
    /// `--header NAME:VALUE`, environment variables expanded.
    pub headers: Vec<(String, String)>,
    /// `--allow-http`: plain http to a host that is not loopback.
    pub allow_http: bool,
    /// `--resource URL`: the RFC 8707 resource (and the token store's key) when it is
    /// not the URL itself.
    pub resource: Option<String>,
    /// `--static-oauth-client-info`: a pre-registered client.
    pub static_client: Option<ClientRegistration>,
    /// `--static-oauth-client-metadata`: `scope` and `client_name` are used.
    pub scope: Option<String>,
    /// `client_name` for dynamic registration.
    pub client_name: Option<String>,
    /// `--ignore-tool PATTERN` (`*` wildcards).
    pub ignore_tools: Vec<String>,
    /// `--headless`: follow the authorization URL without a browser.
    pub headless: bool,
    /// The token file is shared with other processes (the default; `--no-shared-store`
    /// turns it off): several proxies for one server refresh once, under a lock.
    pub shared_store: bool,
    /// Open the system browser for authorization (default; `--no-open` turns it off).
    pub open_browser: bool,
    /// `--store PATH`.
    pub store: Option<PathBuf>,
    /// `--headers-helper CMD`.
    pub headers_helper: Option<String>,
    /// `--helper-ttl DUR`.
    pub helper_ttl: Option<Duration>,
    /// `--listen ADDR`: serve a local Streamable HTTP endpoint instead of stdio.
    pub listen: Option<SocketAddr>,
    /// `--allow-remote-listen`: let `--listen` bind an address that is not loopback.
    pub allow_remote_listen: bool,
    /// `--wire`: which MCP wire toward the server.
    pub wire: WireChoice,
    /// `--log-level`, `--debug`, `--silent`.
    pub log_level: Level,
    /// `--json-events`.
    pub json_events: bool,
    /// Notes about accepted options that change nothing here, printed at start.
    pub notes: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            url: String::new(),
            callback_port: None,
            callback_host: "localhost".into(),
            callback_path: DEFAULT_CALLBACK_PATH.into(),
            auth_timeout: None,
            headers: Vec::new(),
            allow_http: false,
            resource: None,
            static_client: None,
            scope: None,
            client_name: None,
            ignore_tools: Vec::new(),
            headless: false,
            shared_store: true,
            open_browser: true,
            store: None,
            headers_helper: None,
            helper_ttl: None,
            listen: None,
            allow_remote_listen: false,
            wire: WireChoice::Auto,
            log_level: Level::Info,
            json_events: false,
            notes: Vec::new(),
        }
    }
}

/// Expand `${NAME}` from the environment, as mcp-remote does for `--header` values (a
/// client config's `env` block carries the secret; the args carry the reference). A
/// variable that is not set is an error: an empty credential would only fail later,
/// less clearly.
pub(crate) fn expand_env(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("an unclosed ${ in a --header value".into());
        };
        let name = &after[..end];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "${{{name}}} in a --header value is not an environment variable name"
            ));
        }
        let Some(v) = lookup(name) else {
            return Err(format!(
                "the environment variable {name} used in --header is not set"
            ));
        };
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `NAME:VALUE` (spaces after the colon are dropped, as mcp-remote does). The name is
/// an RFC 9110 token of `[A-Za-z0-9_-]`; the value, once expanded, must be a valid
/// header value (no line breaks or other control characters).
pub(crate) fn parse_header(
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String), String> {
    let Some((name, value)) = raw.split_once(':') else {
        return Err(format!(
            "--header {raw:?}: expected NAME:VALUE (mcp-remote's form, e.g. \"Authorization:${{AUTH_HEADER}}\")"
        ));
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(format!("--header {name:?}: not a header name"));
    }
    let value = expand_env(value.trim_start(), lookup)?;
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!(
            "--header {name}: the value holds a control character (a line break?)"
        ));
    }
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
        || reqwest::header::HeaderValue::from_str(&value).is_err()
    {
        return Err(format!("--header {name}: not a valid header"));
    }
    Ok((name.to_string(), value))
}

/// A JSON argument given inline or as `@PATH` (mcp-remote's form).
fn json_arg(name: &str, raw: &str) -> Result<Value, String> {
    let text = match raw.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read {path}: {e}"))?
        }
        None => raw.to_string(),
    };
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{name}: not a JSON object: {e}"))?;
    if !v.is_object() {
        return Err(format!("{name}: not a JSON object"));
    }
    Ok(v)
}

/// `--static-oauth-client-info`: `client_id`, optional `client_secret` and
/// `token_endpoint_auth_method` (default `client_secret_basic` with a secret, `none`
/// without), optional `client_secret_expires_at`.
pub(crate) fn static_client(v: &Value) -> Result<ClientRegistration, String> {
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let id = field("client_id")
        .ok_or("--static-oauth-client-info: client_id is missing or not a string")?;
    let secret = field("client_secret");
    let method = match field("token_endpoint_auth_method") {
        None if secret.is_some() => ClientAuthMethod::ClientSecretBasic,
        None | Some("none") => ClientAuthMethod::None,
        Some("client_secret_basic") => ClientAuthMethod::ClientSecretBasic,
        Some("client_secret_post") => ClientAuthMethod::ClientSecretPost,
        Some(other) => {
            return Err(format!(
                "--static-oauth-client-info: token_endpoint_auth_method {other:?} is not supported (none, client_secret_basic, client_secret_post)"
            ))
        }
    };
    let mut reg = match secret {
        Some(s) => ClientRegistration::confidential(id, Secret::new(s), method),
        None => ClientRegistration::public(id),
    };
    reg.client_secret_expires_at = v
        .get("client_secret_expires_at")
        .and_then(Value::as_u64)
        .filter(|t| *t != 0);
    Ok(reg)
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Parse the arguments (after `proxy`).
pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
    parse_with_env(args, &|name| std::env::var(name).ok())
}

/// [`parse`] with an explicit environment (for tests).
pub(crate) fn parse_with_env(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Options, String> {
    let mut o = Options::default();
    let mut positional: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--header" => o.headers.push(parse_header(&value("--header")?, env)?),
            "--allow-http" => o.allow_http = true,
            "--resource" => {
                let v = value("--resource")?;
                url::Url::parse(&v).map_err(|e| format!("--resource {v:?}: {e}"))?;
                o.resource = Some(v);
            }
            "--static-oauth-client-info" => {
                let v = json_arg(arg, &value(arg)?)?;
                o.static_client = Some(static_client(&v)?);
            }
            "--static-oauth-client-metadata" => {
                let v = json_arg(arg, &value(arg)?)?;
                if let Some(s) = v.get("scope").and_then(Value::as_str) {
                    o.scope = Some(s.to_string());
                }
                if let Some(s) = v.get("client_name").and_then(Value::as_str) {
                    o.client_name = Some(s.to_string());
                }
                let unused: Vec<&String> = v
                    .as_object()
                    .map(|m| {
                        m.keys()
                            .filter(|k| *k != "scope" && *k != "client_name")
                            .collect()
                    })
                    .unwrap_or_default();
                if !unused.is_empty() {
                    o.notes.push(format!(
                        "--static-oauth-client-metadata: only scope and client_name are used; ignored {unused:?}"
                    ));
                }
            }
            "--host" => {
                let v = value("--host")?;
                let probe = url::Url::parse(&format!("http://{v}/"))
                    .map_err(|e| format!("--host {v:?}: {e}"))?;
                if !is_loopback_host(&probe) {
                    return Err(format!(
                        "--host {v:?}: the OAuth callback must be a loopback host (RFC 8252 §7.3)"
                    ));
                }
                o.callback_host = v;
            }
            "--callback-path" => {
                let v = value("--callback-path")?;
                if !v.starts_with('/') || v.contains(['?', '#', ' ']) {
                    return Err(format!("--callback-path {v:?}: must be a path starting with /"));
                }
                o.callback_path = v;
            }
            "--auth-timeout" => {
                let v = value("--auth-timeout")?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--auth-timeout {v:?}: expected seconds"))?;
                o.auth_timeout = Some(Duration::from_secs(secs));
            }
            "--transport" => match value("--transport")?.as_str() {
                "http-only" | "http-first" => {}
                "sse-only" | "sse-first" | "sse" => {
                    return Err("--transport: the HTTP+SSE transport of MCP 2024-11-05 is not spoken here; bearerflow proxy uses Streamable HTTP (http-only)".into())
                }
                other => return Err(format!("--transport {other:?}: expected http-only or http-first")),
            },
            "--ignore-tool" => o.ignore_tools.push(value("--ignore-tool")?),
            "--debug" => o.log_level = Level::Debug,
            "--silent" => o.log_level = Level::Error,
            "--enable-proxy" => o.notes.push(
                "--enable-proxy: HTTP_PROXY, HTTPS_PROXY and NO_PROXY are always honoured".into(),
            ),
            "--disable-resource-parameter" => o.notes.push(
                "--disable-resource-parameter is not supported: MCP authorization requires the RFC 8707 resource parameter, which is always sent".into(),
            ),
            "--headless" => o.headless = true,
            "--shared-store" => o.shared_store = true,
            "--no-shared-store" => o.shared_store = false,
            "--no-open" => o.open_browser = false,
            "--open" => o.open_browser = true,
            "--store" => o.store = Some(PathBuf::from(value("--store")?)),
            "--headers-helper" => {
                let v = value("--headers-helper")?;
                if v.trim().is_empty() {
                    return Err("--headers-helper: the command is empty".into());
                }
                o.headers_helper = Some(v);
            }
            "--helper-ttl" => {
                let v = value("--helper-ttl")?;
                o.helper_ttl = Some(
                    bearerflow_testbed::cli::parse_duration(&v)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| format!("--helper-ttl {v:?}: expected e.g. 300s, 5m"))?,
                );
            }
            "--listen" => {
                let v = value("--listen")?;
                o.listen = Some(v.parse().map_err(|_| {
                    format!("--listen {v:?}: expected ADDRESS:PORT, e.g. 127.0.0.1:8931")
                })?);
            }
            "--allow-remote-listen" => o.allow_remote_listen = true,
            "--wire" => {
                let v = value("--wire")?;
                o.wire = WireChoice::parse(&v)
                    .ok_or_else(|| format!("--wire: expected auto, modern or legacy, got {v:?}"))?;
            }
            "--log-level" => {
                let v = value("--log-level")?;
                o.log_level = Level::parse(&v).ok_or_else(|| {
                    format!("--log-level {v:?}: expected error, warn, info or debug")
                })?;
            }
            "--json-events" => o.json_events = true,
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(format!("unknown option {other:?}"))
            }
            p => positional.push(p.to_string()),
        }
    }
    let mut positional = positional.into_iter();
    o.url = positional.next().ok_or("the MCP server URL is missing")?;
    if let Some(port) = positional.next() {
        o.callback_port = Some(
            port.parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{port:?}: expected the OAuth callback port"))?,
        );
    }
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    let url = url::Url::parse(&o.url).map_err(|e| format!("{}: {e}", o.url))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) || o.allow_http => {}
        "http" => {
            return Err(format!(
                "{}: plain http to a host that is not loopback sends the credential in clear; pass --allow-http on a trusted private network",
                o.url
            ))
        }
        _ => return Err(format!("{}: not an http(s) URL", o.url)),
    }
    if o.helper_ttl.is_some() && o.headers_helper.is_none() {
        return Err("--helper-ttl needs --headers-helper".into());
    }
    if o.headers_helper.is_some() && (o.static_client.is_some() || o.headless) {
        return Err(
            "--headers-helper takes its credentials from the command: --static-oauth-client-info and --headless are OAuth options".into(),
        );
    }
    if let Some(addr) = o.listen {
        if !addr.ip().is_loopback() && !o.allow_remote_listen {
            return Err(format!(
                "--listen {addr}: not a loopback address; the gateway adds your credentials to every request it forwards, so binding beyond this machine needs --allow-remote-listen"
            ));
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "AUTH_HEADER" => Some("Bearer abc".into()),
            "TOKEN" => Some("t0k".into()),
            "NL" => Some("a\nb".into()),
            _ => None,
        }
    }

    #[test]
    fn mcp_remote_shapes_parse() {
        let o = parse_with_env(
            &args(&[
                "https://remote.mcp.server/sse",
                "9696",
                "--header",
                "Authorization:${AUTH_HEADER}",
                "--header",
                "X-Key: k-${TOKEN}-x",
                "--resource",
                "https://tenant1.atlassian.net/",
                "--static-oauth-client-info",
                r#"{"client_id": "cid", "client_secret": "s3cret"}"#,
                "--static-oauth-client-metadata",
                r#"{"scope": "read write", "software_id": "x"}"#,
                "--host",
                "127.0.0.1",
                "--callback-path",
                "/custom/callback",
                "--auth-timeout",
                "60",
                "--transport",
                "http-first",
                "--ignore-tool",
                "delete*",
                "--debug",
                "--enable-proxy",
            ]),
            &env,
        )
        .unwrap();
        assert_eq!(o.url, "https://remote.mcp.server/sse");
        assert_eq!(o.callback_port, Some(9696));
        assert_eq!(
            o.headers,
            vec![
                ("Authorization".to_string(), "Bearer abc".to_string()),
                ("X-Key".to_string(), "k-t0k-x".to_string())
            ]
        );
        assert_eq!(
            o.resource.as_deref(),
            Some("https://tenant1.atlassian.net/")
        );
        let client = o.static_client.unwrap();
        assert_eq!(client.client_id, "cid");
        assert_eq!(client.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(o.scope.as_deref(), Some("read write"));
        assert_eq!(o.callback_host, "127.0.0.1");
        assert_eq!(o.callback_path, "/custom/callback");
        assert_eq!(o.auth_timeout, Some(Duration::from_secs(60)));
        assert_eq!(o.ignore_tools, vec!["delete*".to_string()]);
        assert_eq!(o.log_level, Level::Debug);
        assert_eq!(o.notes.len(), 2, "{:?}", o.notes);
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let refuse = |a: &[&str], why: &str| {
            let e = parse_with_env(&args(a), &env).unwrap_err();
            assert!(e.contains(why), "{a:?}: {e}");
        };
        refuse(&[], "URL is missing");
        refuse(&["http://mcp.example.com/mcp"], "--allow-http");
        refuse(&["ftp://x/"], "not an http(s) URL");
        refuse(&["https://x/", "--header", "NoColon"], "NAME:VALUE");
        refuse(
            &["https://x/", "--header", "Bad Name:v"],
            "not a header name",
        );
        refuse(&["https://x/", "--header", "A:${MISSING}"], "MISSING");
        refuse(&["https://x/", "--header", "A:${NL}"], "control character");
        refuse(&["https://x/", "--header", "A:${1X}"], "not an environment");
        refuse(&["https://x/", "--header", "A:${OPEN"], "unclosed");
        refuse(&["https://x/", "notaport"], "callback port");
        refuse(&["https://x/", "1", "2"], "unexpected argument");
        refuse(&["https://x/", "--transport", "sse-only"], "HTTP+SSE");
        refuse(
            &["https://x/", "--listen", "0.0.0.0:1"],
            "--allow-remote-listen",
        );
        refuse(&["https://x/", "--listen", "nope"], "ADDRESS:PORT");
        refuse(&["https://x/", "--helper-ttl", "5s"], "--headers-helper");
        refuse(&["https://x/", "--host", "example.com"], "loopback");
        refuse(&["https://x/", "--wat"], "unknown option");
        refuse(
            &["https://x/", "--static-oauth-client-info", "{}"],
            "client_id",
        );
        refuse(
            &[
                "https://x/",
                "--static-oauth-client-info",
                "@/nonexistent/x.json",
            ],
            "cannot read",
        );
        refuse(
            &["https://x/", "--headers-helper", "echo", "--headless"],
            "OAuth options",
        );
    }

    #[test]
    fn bearerflow_options_parse() {
        let o = parse_with_env(
            &args(&[
                "http://10.0.0.5/mcp",
                "--allow-http",
                "--headers-helper",
                "print-token",
                "--helper-ttl",
                "300s",
                "--listen",
                "127.0.0.1:8931",
                "--store",
                "/tmp/t.json",
                "--wire",
                "legacy",
                "--log-level",
                "warn",
                "--json-events",
                "--no-open",
            ]),
            &env,
        )
        .unwrap();
        assert_eq!(o.headers_helper.as_deref(), Some("print-token"));
        assert_eq!(o.helper_ttl, Some(Duration::from_secs(300)));
        assert_eq!(o.listen, Some("127.0.0.1:8931".parse().unwrap()));
        assert_eq!(o.wire, WireChoice::Legacy);
        assert_eq!(o.log_level, Level::Warn);
        assert!(o.json_events && !o.open_browser);
        let public = static_client(&serde_json::json!({"client_id": "p"})).unwrap();
        assert_eq!(public.auth_method, ClientAuthMethod::None);
        assert!(public.client_secret.is_none());
    }
}

//! `bearerflow-testbed`: run the loopback OAuth 2.1 + MCP testbed until killed.
//!
//! Prints one JSON line with the URLs (and, with `--mint-token`, a token set) so that
//! scripts and other-language peers (a Node MCP client, the conformance runner) can use
//! it.

use std::process::ExitCode;
use std::time::Duration;

use bearerflow_testbed::{Config, Testbed};

const USAGE: &str = "usage: bearerflow-testbed [OPTIONS]
  --port N                  bind 127.0.0.1:N (default 0: a free port)
  --access-ttl DUR          access token lifetime, e.g. 5s, 500ms, 2m (default 1h)
  --refresh-ttl DUR         refresh token lifetime (default: never expires)
  --no-rotate               do not rotate refresh tokens
  --issuer-path PATH        issuer path component, e.g. /tenant1
  --extra-scope-tool T=S    add tool T that needs scope S (S is added to scopes_supported)
  --prefer-sse              answer /mcp with SSE when the client accepts it
  --no-session              do not require Mcp-Session-Id
  --no-registration         no dynamic client registration
  --openid                  also serve the metadata at the OpenID Connect locations
  --mint-token SCOPE        print a token set for the default client (a secret: test use only)";

/// Parse `5s`, `500ms`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

struct Options {
    config: Config,
    mint: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut config = Config::default();
    let mut mint = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                config.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port"))?;
            }
            "--access-ttl" => {
                let v = value("--access-ttl")?;
                config.access_ttl = parse_duration(&v)
                    .ok_or_else(|| format!("--access-ttl: bad duration {v:?}"))?;
            }
            "--refresh-ttl" => {
                let v = value("--refresh-ttl")?;
                config.refresh_ttl = Some(
                    parse_duration(&v)
                        .ok_or_else(|| format!("--refresh-ttl: bad duration {v:?}"))?,
                );
            }
            "--no-rotate" => config.rotate_refresh_tokens = false,
            "--issuer-path" => config.issuer_path = Some(value("--issuer-path")?),
            "--extra-scope-tool" => {
                let v = value("--extra-scope-tool")?;
                let (tool, scope) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--extra-scope-tool: expected TOOL=SCOPE, got {v:?}"))?;
                if !config.scopes_supported.iter().any(|s| s == scope) {
                    config.scopes_supported.push(scope.to_string());
                }
                config.extra_scope_tool = Some((tool.to_string(), scope.to_string()));
            }
            "--prefer-sse" => config.prefer_sse = true,
            "--no-session" => config.require_session = false,
            "--no-registration" => config.dynamic_registration = false,
            "--openid" => config.serve_openid_configuration = true,
            "--mint-token" => mint = Some(value("--mint-token")?),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Options { config, mint })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bearerflow-testbed: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bearerflow-testbed: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let testbed = match Testbed::start(options.config).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("bearerflow-testbed: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut info = serde_json::json!({
            "issuer": testbed.issuer(),
            "mcp_url": testbed.mcp_url(),
            "resource_metadata": testbed.resource_metadata_url(),
            "authorization_server_metadata": testbed.authorization_server_metadata_url(),
            "client_id": testbed.default_client_id(),
        });
        if let Some(scope) = options.mint {
            match testbed.issue_tokens_for_test(&scope) {
                Ok(t) => {
                    info["access_token"] = t.access_token.expose().into();
                    if let Some(r) = &t.refresh_token {
                        info["refresh_token"] = r.expose().into();
                    }
                }
                Err(e) => {
                    eprintln!("bearerflow-testbed: --mint-token: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        println!("{info}");
        // Serve until the process is killed.
        std::future::pending::<()>().await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn args() {
        let a: Vec<String> = [
            "--access-ttl",
            "2s",
            "--no-rotate",
            "--extra-scope-tool",
            "admin=mcp:admin2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = parse_args(&a).unwrap();
        assert_eq!(o.config.access_ttl, Duration::from_secs(2));
        assert!(!o.config.rotate_refresh_tokens);
        assert!(o.config.scopes_supported.iter().any(|s| s == "mcp:admin2"));
        assert!(parse_args(&["--bogus".to_string()]).is_err());
        assert!(parse_args(&["--port".to_string()]).is_err());
    }
}

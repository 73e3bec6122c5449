//! The testbed as a command: shared by the `bearerflow-testbed` binary and
//! `bearerflow testbed`, so both take the same options and print the same JSON line.

use crate::{Config, Testbed};
use std::process::ExitCode;
use std::time::Duration;

/// Options, for the usage text of either program.
pub const OPTIONS: &str =
    "  --ttl DUR, --access-ttl DUR   access token lifetime, e.g. 5s, 1.5s, 500ms, 2m
  --refresh-ttl DUR         refresh token lifetime (default: never expires)
  --no-rotate               do not rotate refresh tokens
  --port N                  bind 127.0.0.1:N (default 0: a free port)
  --issuer-path PATH        issuer path component, e.g. /tenant1
  --extra-scope-tool T=S    add tool T that needs scope S (S is added to scopes_supported)
  --prefer-sse              answer /mcp with SSE when the client accepts it
  --no-session              do not require Mcp-Session-Id
  --wires W                 MCP wires to serve: both (default), modern (2026-07-28
                            stateless only) or legacy (2025-11-25 initialize only)
  --modern-feature-tools    also list confirm (MRTR) and echo_region (x-mcp-header)
  --interactive-tools       also list interact (a notification and an elicitation
                            to the client before its result, on both wires)
  --no-registration         no dynamic client registration
  --openid                  also serve the metadata at the OpenID Connect locations
  --resource URL            also issue tokens for this resource (another MCP server
                            that verifies them through /introspect); repeatable
  --bearer-layer            guard /mcp with bearerflow-server's layer (core's
                            refusals) and list the tool upstream_echo
  --mint-token SCOPE        add a token set for the default client to the JSON line
                            (a secret: test use only)
Prints one JSON line with the URLs on standard output, then serves until killed.";

/// Parse `5`, `5s`, `1.5s`, `500ms`, `2m` or `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Parsed command line.
#[derive(Debug)]
pub struct Options {
    /// The testbed configuration.
    pub config: Config,
    /// `--mint-token SCOPE`.
    pub mint: Option<String>,
}

/// Parse the options, starting from `defaults`.
pub fn parse_args(args: &[String], defaults: Config) -> Result<Options, String> {
    let mut config = defaults;
    let mut mint = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let duration = |name: &str, v: String| {
            parse_duration(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{name}: bad duration {v:?}"))
        };
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                config.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port"))?;
            }
            "--ttl" | "--access-ttl" => config.access_ttl = duration(arg, value(arg)?)?,
            "--refresh-ttl" => config.refresh_ttl = Some(duration(arg, value(arg)?)?),
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
            "--wires" => {
                let v = value("--wires")?;
                config.wires = crate::Wires::parse(&v).ok_or_else(|| {
                    format!("--wires: expected both, modern or legacy, got {v:?}")
                })?;
            }
            "--modern-feature-tools" => config.modern_feature_tools = true,
            "--interactive-tools" => config.interactive_tools = true,
            "--no-registration" => config.dynamic_registration = false,
            "--openid" => config.serve_openid_configuration = true,
            "--mint-token" => mint = Some(value("--mint-token")?),
            "--resource" => config.extra_resources.push(value("--resource")?),
            "--bearer-layer" => config.bearer_layer = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Options { config, mint })
}

/// Run as the command `program` (for messages): `--help`, option errors (exit 2), then
/// serve until killed. With `describe`, a few human-readable lines go to standard error
/// first; the JSON line on standard output is the same either way.
pub fn run(
    program: &str,
    usage: &str,
    args: &[String],
    defaults: Config,
    describe: bool,
) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{usage}\n{OPTIONS}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_args(args, defaults) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{program}: {e}\n{usage}\n{OPTIONS}");
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
            eprintln!("{program}: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(program, options, describe))
}

async fn serve(program: &str, options: Options, describe: bool) -> ExitCode {
    let ttl = options.config.access_ttl;
    let rotate = options.config.rotate_refresh_tokens;
    let testbed = match Testbed::start(options.config).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{program}: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if describe {
        eprintln!("bearerflow testbed on 127.0.0.1 (stop with Ctrl-C)");
        eprintln!("  MCP endpoint           {}", testbed.mcp_url());
        eprintln!("  issuer                 {}", testbed.issuer());
        eprintln!(
            "  access tokens live     {} ms, refresh-token rotation {}",
            ttl.as_millis(),
            if rotate { "on" } else { "off" }
        );
        eprintln!(
            "  try: bearerflow connect {} --headless --call echo --args '{{\"text\":\"hi\"}}'",
            testbed.mcp_url()
        );
    }
    let mut info = serde_json::json!({
        "issuer": testbed.issuer(),
        "mcp_url": testbed.mcp_url(),
        "resource_metadata": testbed.resource_metadata_url(),
        "authorization_server_metadata": testbed.authorization_server_metadata_url(),
        "token_endpoint": testbed.token_endpoint(),
        "introspection_endpoint": testbed.introspection_endpoint(),
        "client_id": testbed.default_client_id(),
        "access_ttl_ms": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        "rotate_refresh_tokens": rotate,
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
                eprintln!("{program}: --mint-token: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!("{info}");
    // Serve until the process is killed.
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1e400"), None);
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
        let o = parse_args(&a, Config::default()).unwrap();
        assert_eq!(o.config.access_ttl, Duration::from_secs(2));
        assert!(!o.config.rotate_refresh_tokens);
        assert!(o.config.scopes_supported.iter().any(|s| s == "mcp:admin2"));
        let o = parse_args(&["--ttl".into(), "1.5s".into()], Config::default()).unwrap();
        assert_eq!(o.config.access_ttl, Duration::from_millis(1500));
        assert!(parse_args(&["--bogus".to_string()], Config::default()).is_err());
        assert!(parse_args(&["--port".to_string()], Config::default()).is_err());
        assert!(parse_args(&["--ttl".into(), "0".into()], Config::default()).is_err());
        let o = parse_args(
            &[
                "--wires".into(),
                "modern".into(),
                "--modern-feature-tools".into(),
            ],
            Config::default(),
        )
        .unwrap();
        assert_eq!(o.config.wires, crate::Wires::Modern);
        assert!(o.config.modern_feature_tools);
        assert_eq!(Config::default().wires, crate::Wires::Both);
        assert!(parse_args(&["--wires".into(), "x".into()], Config::default()).is_err());
    }
}

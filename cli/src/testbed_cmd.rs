//! `bearerflow testbed`: run the loopback OAuth 2.1 + MCP testbed (the
//! `bearerflow-testbed` library) until stopped, for trying `bearerflow connect` or
//! another MCP client against it.

use bearerflow_testbed::{Config, Testbed};
use serde_json::json;
use std::process::ExitCode;

const USAGE: &str = "usage: bearerflow testbed [OPTIONS]
  --ttl DUR       access token lifetime (default 5s; e.g. 2, 5s, 1500ms, 1m)
  --no-rotate     do not rotate refresh tokens
  --port N        bind 127.0.0.1:N (default: a free port)
  --prefer-sse    answer MCP requests with SSE when the client accepts it
Prints the URLs, then one JSON line with them, and serves until killed.";

fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut config = Config {
        access_ttl: std::time::Duration::from_secs(5),
        ..Config::default()
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--ttl" => {
                let v = value("--ttl")?;
                config.access_ttl = crate::demo::parse_duration(&v)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| format!("--ttl: bad duration {v:?}"))?;
            }
            "--no-rotate" => config.rotate_refresh_tokens = false,
            "--port" => {
                let v = value("--port")?;
                config.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port"))?;
            }
            "--prefer-sse" => config.prefer_sse = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(config)
}

/// `bearerflow testbed ...`
pub fn run(args: &[String]) -> ExitCode {
    crate::command::run("testbed", USAGE, args, parse_args, |rt, config| {
        rt.block_on(serve(config))
    })
}

/// Start the testbed, print its URLs, serve until the process is stopped.
async fn serve(config: Config) -> ExitCode {
    let ttl = config.access_ttl;
    let rotate = config.rotate_refresh_tokens;
    let testbed = match Testbed::start(config).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bearerflow testbed: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("bearerflow testbed on 127.0.0.1 (stop with Ctrl-C)");
    println!("  MCP endpoint           {}", testbed.mcp_url());
    println!("  issuer                 {}", testbed.issuer());
    println!(
        "  resource metadata      {}",
        testbed.resource_metadata_url()
    );
    println!(
        "  server metadata        {}",
        testbed.authorization_server_metadata_url()
    );
    println!("  token endpoint         {}", testbed.token_endpoint());
    println!(
        "  access tokens live     {} ms, refresh-token rotation {}",
        ttl.as_millis(),
        if rotate { "on" } else { "off" }
    );
    println!(
        "  try: bearerflow connect {} --headless --call echo --args '{{\"text\":\"hi\"}}'",
        testbed.mcp_url()
    );
    println!(
        "{}",
        json!({
            "mcp_url": testbed.mcp_url(),
            "issuer": testbed.issuer(),
            "resource_metadata": testbed.resource_metadata_url(),
            "authorization_server_metadata": testbed.authorization_server_metadata_url(),
            "token_endpoint": testbed.token_endpoint(),
            "client_id": testbed.default_client_id(),
        })
    );
    // Serve until the process is stopped.
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn options() {
        let a: Vec<String> = ["--ttl", "2s", "--no-rotate", "--port", "0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = parse_args(&a).unwrap();
        assert_eq!(c.access_ttl, Duration::from_secs(2));
        assert!(!c.rotate_refresh_tokens);
        assert_eq!(parse_args(&[]).unwrap().access_ttl, Duration::from_secs(5));
        assert!(parse_args(&["--ttl".to_string(), "0".to_string()]).is_err());
        assert!(parse_args(&["--bogus".to_string()]).is_err());
    }
}

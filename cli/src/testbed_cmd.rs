//! `bearerflow testbed`: run the loopback OAuth 2.1 + MCP testbed (the
//! `bearerflow-testbed` library, the same command as its own binary) until stopped, for
//! trying `bearerflow connect` or another MCP client against it.

use std::process::ExitCode;

/// `bearerflow testbed ...`: 5-second tokens by default, a short description on
/// standard error, the URLs as one JSON line on standard output.
pub fn run(args: &[String]) -> ExitCode {
    bearerflow_testbed::cli::run(
        "bearerflow testbed",
        "usage: bearerflow testbed [OPTIONS] (default access-token lifetime 5s)",
        args,
        bearerflow_testbed::Config {
            access_ttl: std::time::Duration::from_secs(5),
            ..bearerflow_testbed::Config::default()
        },
        true,
    )
}

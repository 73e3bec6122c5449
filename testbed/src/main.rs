//! `bearerflow-testbed`: run the loopback OAuth 2.1 + MCP testbed until killed.
//!
//! Prints one JSON line with the URLs (and, with `--mint-token`, a token set) so that
//! scripts and other-language peers (a Node MCP client, the conformance runner) can use
//! it. The same command is `bearerflow testbed`; both are [`bearerflow_testbed::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    bearerflow_testbed::cli::run(
        "bearerflow-testbed",
        "usage: bearerflow-testbed [OPTIONS] (default access-token lifetime 1h)",
        &args,
        bearerflow_testbed::Config::default(),
        false,
    )
}

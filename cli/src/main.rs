//! The `bearerflow` command: `demo` (the main job), `connect`, `testbed`, `challenge`
//! (parse WWW-Authenticate header lines), `conformance-client`, `proxy`.

mod challenge;
mod command;
mod conformance;
mod connect;
mod demo;
mod proxy;
mod safe;
mod testbed_cmd;

use std::process::ExitCode;

const USAGE: &str = "usage:
  bearerflow demo [--ttl 5] [--burst 32] [--duration 30] [--json] ...   the main job: an MCP client kept
                                                      authorized against a loopback testbed (see demo --help)
  bearerflow connect URL [--call NAME --args JSON] [--headless]   authorize against an MCP server, list its tools
  bearerflow testbed [--ttl 5] [--no-rotate] [--port N]   run the loopback OAuth + MCP testbed until stopped
  bearerflow challenge [--strict] [--bearer] VALUE...   parse WWW-Authenticate lines ('-' reads stdin)
  bearerflow conformance-client [--verbose] URL       the MCP client the official conformance runner drives
  bearerflow proxy URL [PORT] [--header N:V] [--headless] [--listen ADDR] ...   a stdio bridge (or local
                                                      HTTP gateway) that keeps any MCP client authorized;
                                                      a drop-in for `npx mcp-remote` (see proxy --help)";

fn main() -> ExitCode {
    // `env::args` panics on an argument that is not UTF-8; say which one instead.
    let mut args: Vec<String> = Vec::new();
    for (i, a) in std::env::args_os().skip(1).enumerate() {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(_) => {
                eprintln!("bearerflow: argument {} is not valid UTF-8", i + 1);
                return ExitCode::from(2);
            }
        }
    }
    match args.first().map(String::as_str) {
        Some("demo") => demo::run(&args[1..]),
        Some("connect") => connect::run(&args[1..]),
        Some("testbed") => testbed_cmd::run(&args[1..]),
        Some("challenge") => challenge::run(&args[1..]),
        Some("conformance-client") => conformance::run(&args[1..]),
        Some("proxy") => proxy::run(&args[1..]),
        Some("-h") | Some("--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

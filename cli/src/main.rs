//! The `bearerflow` command: `challenge` parses WWW-Authenticate header lines.

mod challenge;
mod conformance;

use std::process::ExitCode;

const USAGE: &str = "usage:
  bearerflow challenge [--strict] [--bearer] VALUE...   parse WWW-Authenticate lines ('-' reads stdin)
  bearerflow conformance-client [--verbose] URL       the MCP client the official conformance runner drives";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("challenge") => challenge::run(&args[1..]),
        Some("conformance-client") => conformance::run(&args[1..]),
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

//! What every async subcommand shares: `--help`, option errors, a tokio runtime.

use std::process::ExitCode;

/// Run subcommand `name`: `--help` prints `usage`; options that `parse` refuses exit 2
/// with the reason; otherwise `body` runs with the options on a two-thread runtime.
pub(crate) fn run<O>(
    name: &str,
    usage: &str,
    args: &[String],
    parse: fn(&[String]) -> Result<O, String>,
    body: impl FnOnce(&tokio::runtime::Runtime, O) -> ExitCode,
) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{usage}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bearerflow {name}: {e}\n{usage}");
            return ExitCode::from(2);
        }
    };
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => body(&rt, options),
        Err(e) => {
            eprintln!("bearerflow {name}: cannot start a runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `bearerflow challenge`: placeholder until the parser lands.

use std::process::ExitCode;

pub fn run(_args: &[String]) -> ExitCode {
    ExitCode::from(2)
}

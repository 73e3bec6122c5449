//! The vector files against their JSON Schemas (`tests/vectors/*.schema.json`), with
//! Python's `jsonschema` (installed when missing).

use crate::tools::works;
use crate::{root, run, run_tally, Tally};
use std::process::Command;

/// Install `jsonschema` for python3 when it is missing: pip first, then (on a system
/// Python that refuses pip) Debian's package.
fn ensure_jsonschema() -> Result<(), String> {
    if works("python3", &["-c", "import jsonschema"]) {
        return Ok(());
    }
    let pip = ["-m", "pip", "install", "--quiet", "jsonschema"];
    if run(Command::new("python3").args(pip)).is_ok()
        || run(Command::new("python3")
            .args(pip)
            .arg("--break-system-packages"))
        .is_ok()
    {
        return Ok(());
    }
    run(Command::new("apt-get").args(["install", "-y", "python3-jsonschema"]))
}

/// Check every vector file; one test per file in the tally.
pub fn check() -> Result<Tally, String> {
    ensure_jsonschema()?;
    let script = root().join("tests/vectors/check_schemas.py");
    run_tally(Command::new("python3").arg(script))
}

//! Results in the shape `cargo xtask embedded` (and CI's tally) reads: one
//! `test NAME ... ok|FAILED` line per check, a libtest summary line, `measure:` lines,
//! and the exit status. Printing never allocates (semihosting writes the formatted
//! pieces straight to the host), so it does not disturb the heap counts.

use alloc::string::String;
use core::fmt::Display;
use cortex_m_semihosting::hprintln;

/// The tally of one run.
#[derive(Default)]
pub struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    /// An empty tally.
    pub fn new() -> Report {
        Report::default()
    }

    /// Record one check: `Ok` passes; `Err` fails with its explanation.
    pub fn check(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                hprintln!("test {} ... ok", name);
            }
            Err(why) => {
                self.failed += 1;
                hprintln!("test {} ... FAILED", name);
                hprintln!("    {}", why);
            }
        }
    }

    /// Print the summary line and exit: status 0 only when every check passed and
    /// there was at least one.
    pub fn finish(self) -> ! {
        let ok = self.failed == 0 && self.passed > 0;
        hprintln!(
            "test result: {}. {} passed; {} failed; 0 ignored; 0 measured; 0 filtered out",
            if ok { "ok" } else { "FAILED" },
            self.passed,
            self.failed
        );
        if ok {
            crate::exit_success()
        } else {
            crate::exit_failure()
        }
    }
}

/// One figure for `cargo xtask bench`: `measure: KEY = VALUE UNIT`.
pub fn measure(key: &str, value: impl Display, unit: &str) {
    hprintln!("measure: {} = {} {}", key, value, unit);
}

/// A line of commentary (not counted).
pub fn note(text: impl Display) {
    hprintln!("note: {}", text);
}

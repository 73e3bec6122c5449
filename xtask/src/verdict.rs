//! Judging a suite's results against its baseline of expected failures
//! (`conformance/expected-failures.txt`, `interop/expected-failures.txt`): the rule both
//! `cargo xtask conformance` and `cargo xtask interop` hold their runs to.

/// What a run found (for `cargo xtask ci`'s tally).
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Cases that passed.
    pub passed: u64,
    /// Cases that failed and are listed in the baseline.
    pub expected: u64,
}

/// One case's result, judged against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Passed, but the baseline lists it.
    UnexpectedPass,
    ExpectedFailure,
    Failure,
}

impl Verdict {
    pub fn of(passed: bool, expected: bool) -> Verdict {
        match (passed, expected) {
            (true, false) => Verdict::Pass,
            (true, true) => Verdict::UnexpectedPass,
            (false, true) => Verdict::ExpectedFailure,
            (false, false) => Verdict::Failure,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::UnexpectedPass => "pass*",
            Verdict::ExpectedFailure => "xfail",
            Verdict::Failure => "FAIL",
        }
    }
}

/// Tallies `cases` (name, verdict), prints the suite's one-line summary, and fails on
/// an unexpected failure or on a case the baseline (`baseline`, a path for the
/// message) lists that now passes.
pub fn judge(
    suite: &str,
    baseline: &str,
    cases: impl IntoIterator<Item = (String, Verdict)>,
) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    let mut unexpected = Vec::new();
    let mut stale = Vec::new();
    for (name, verdict) in cases {
        match verdict {
            Verdict::Pass => outcome.passed += 1,
            Verdict::ExpectedFailure => outcome.expected += 1,
            Verdict::UnexpectedPass => stale.push(name),
            Verdict::Failure => unexpected.push(name),
        }
    }
    println!(
        "{suite}: {} passed, {} failed ({} expected failures in the baseline)",
        outcome.passed,
        unexpected.len() + stale.len(),
        outcome.expected
    );
    let mut problems = Vec::new();
    if !unexpected.is_empty() {
        problems.push(format!(
            "unexpected failures (not in {baseline}): {}",
            unexpected.join(", ")
        ));
    }
    if !stale.is_empty() {
        problems.push(format!(
            "now passing but listed in {baseline} (remove them): {}",
            stale.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(outcome)
    } else {
        Err(format!("{suite}: {}", problems.join("; ")))
    }
}

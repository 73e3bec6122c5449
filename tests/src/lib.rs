//! Workspace integration tests for bearerflow: a simulated world for the session
//! machine ([`sim`]) and the binding-neutral JSON vectors ([`vector`]).

pub mod scenarios;
pub mod sim;
pub mod vector;

use std::path::PathBuf;

/// The `tests/vectors` folder.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

//! Helpers shared by the vector runners: where the vectors live and how to load them.

use std::path::PathBuf;

/// The `tests/vectors` folder.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

//! Replays every session vector in `tests/vectors/session/` against core, and checks
//! that each scenario still records to exactly the committed vector.
//!
//! `BEARERFLOW_RECORD_VECTORS=1 cargo test -p bearerflow-tests --test session_vectors`
//! rewrites the files from the scenarios (review the diff before committing).

use bearerflow_tests::{scenarios, vector, vectors_dir};

#[test]
fn committed_vectors_replay_against_core() {
    if std::env::var_os("BEARERFLOW_RECORD_VECTORS").is_some() {
        return; // the files are being rewritten by the other test
    }
    let dir = vectors_dir().join("session");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/vectors/session exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable vector");
        let v: vector::Vector =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        vector::replay(&v).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    assert_eq!(n, scenarios::ALL.len(), "one vector per scenario");
}

#[test]
fn scenarios_record_the_committed_vectors() {
    let dir = vectors_dir().join("session");
    let record = std::env::var_os("BEARERFLOW_RECORD_VECTORS").is_some();
    for (name, description, run) in scenarios::ALL {
        let sim = run();
        sim.assert_rules();
        let v = sim.into_vector(name, description);
        let text = serde_json::to_string_pretty(&v).expect("serializable") + "\n";
        let path = dir.join(format!("{name}.json"));
        if record {
            std::fs::create_dir_all(&dir).expect("create vectors dir");
            std::fs::write(&path, &text).expect("write vector");
        } else {
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!(
                    "{} missing: record with BEARERFLOW_RECORD_VECTORS=1",
                    path.display()
                )
            });
            assert!(
                committed == text,
                "{name}: the scenario no longer records to the committed vector"
            );
        }
    }
}

//! Fuzz `Snapshot::from_json`, what a host reads back from its store. No input may
//! panic; an accepted snapshot written again reads back to itself; an access or
//! refresh token never shows in the snapshot's Debug; errors never quote a value (a
//! planted `PLANTEDs3cr3t` may show only as a quoted member name).
#![no_main]

use bearerflow::session::Snapshot;

const PLANTED: &str = "PLANTEDs3cr3t";

/// Whether every planted text in an error sits in a backtick-quoted member name (the
/// only input the JSON errors quote: `unknown field \`name\``).
fn only_in_names(shown: &str) -> bool {
    shown
        .split('`')
        .step_by(2)
        .all(|outside| !outside.contains(PLANTED))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match Snapshot::from_json(data) {
        Ok(snap) => {
            let json = snap.to_json();
            let again = Snapshot::from_json(json.as_bytes());
            assert_eq!(again.as_ref(), Ok(&snap), "{}", json.as_str());
            if let Some(t) = &snap.tokens {
                let shown = format!("{snap:?}");
                let at = t.access_token.expose();
                if at.contains(PLANTED) {
                    assert!(!shown.contains(at), "Debug shows the access token");
                }
                if let Some(rt) = &t.refresh_token {
                    if rt.expose().contains(PLANTED) {
                        assert!(
                            !shown.contains(rt.expose()),
                            "Debug shows the refresh token"
                        );
                    }
                }
            }
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            if e.to_string().contains(PLANTED) {
                assert!(only_in_names(&e.to_string()), "error quotes a value: {shown}");
            }
        }
    }
});

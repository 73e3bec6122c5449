//! Fuzz `Config::from_json`, the configuration C and JavaScript hosts hand in. No input
//! may panic; an accepted configuration validates and starts a session that takes a
//! request; an error never quotes a value of the input (it names fields only): a value
//! planted as `PLANTEDs3cr3t` may show in an error only as a quoted member name.
#![no_main]

use bearerflow::session::{Config, Session};
use bearerflow::time::Timestamp;

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
    match Config::from_json(data) {
        Ok(config) => {
            assert_eq!(config.validate(), Ok(()));
            let mut s = Session::new(config, [7; 32], Timestamp(1));
            let _ = s.begin_request(Timestamp(2));
            let mut n = 0;
            while s.poll_action().is_some() {
                n += 1;
                assert!(n < 1000, "a new session queued over 1000 actions");
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

//! Fuzz the header helper's output reader (`parse_helper_output`) and a header-helper
//! session fed the same bytes (`handle_helper_stdout`). No input may panic; accepted
//! headers have token names and no control characters in their values (they go
//! straight onto requests: no header injection); the session then sends with them.
#![no_main]

use bearerflow::session::{parse_helper_output, Action, Config, HelperConfig, Session};
use bearerflow::time::Timestamp;

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let parsed = parse_helper_output(data);
    match &parsed {
        Ok(out) => {
            assert!(!out.headers.is_empty());
            for h in &out.headers {
                let name = h.name.as_str();
                assert!(!name.is_empty() && name.bytes().all(is_tchar), "{name:?}");
                assert!(!h
                    .value
                    .expose()
                    .bytes()
                    .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f));
            }
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
    let config = Config::header_helper("https://mcp.example.com/mcp", HelperConfig::default());
    let mut s = Session::new(config, [9; 32], Timestamp(0));
    while s.poll_action().is_some() {}
    s.handle_helper_stdout(data, Timestamp(10));
    let id = s.begin_request(Timestamp(20));
    let mut sent = false;
    while let Some(a) = s.poll_action() {
        if let Action::Send { id: i, generation } = a {
            assert_eq!(i, id);
            assert!(s.headers(generation).is_some());
            sent = true;
        }
    }
    let lasting = parsed
        .as_ref()
        .is_ok_and(|o| o.ttl_ms.is_none_or(|t| t > 20));
    if lasting && data.len() <= 65536 {
        assert!(sent, "good helper output, yet the request was not sent");
    }
});

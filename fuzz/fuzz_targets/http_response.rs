//! Fuzz the raw HTTP/1.1 response parser: no input may panic, and feeding the bytes
//! in pieces must give exactly what one-shot parsing gives.
//!
//! The last two input bytes choose the split point; the rest is the response stream.
#![no_main]

use bearerflow::http::raw::{parse_response, Progress, RawError, ResponseParser};
use bearerflow::http::Response;

/// Feed `data` in the pieces delimited by `cuts` (ascending), with the contract of
/// `parse_response`: exactly one response, ended by the end of `data`.
fn in_pieces(data: &[u8], cuts: impl Iterator<Item = usize>) -> Result<Response, RawError> {
    let mut parser = ResponseParser::new();
    let mut start = 0;
    for end in cuts.chain(core::iter::once(data.len())) {
        let end = end.clamp(start, data.len());
        if let Progress::Done { response, consumed } = parser.feed(&data[start..end])? {
            let after = start + consumed;
            if after < data.len() {
                return Err(RawError::TrailingData { offset: after });
            }
            return Ok(response);
        }
        start = end;
    }
    parser.finish()
}

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let (data, selector) = match input.len() {
        0..=2 => (input, 0usize),
        n => {
            let (data, tail) = input.split_at(n - 2);
            (data, usize::from(u16::from_le_bytes([tail[0], tail[1]])))
        }
    };
    let split = selector % (data.len() + 1);
    let whole = parse_response(data);
    assert_eq!(
        in_pieces(data, core::iter::once(split)),
        whole,
        "split at {split}"
    );
    if data.len() <= 2048 {
        assert_eq!(in_pieces(data, 1..data.len()), whole, "byte by byte");
    }
    if let Err(e) = &whole {
        // Every error renders (and says where when it parses bytes).
        let _ = std::format!("{e}");
    }
});

//! Just enough of the event stream format (WHATWG HTML, "Server-sent events", §9.2.6
//! "Interpreting an event stream") to tell whether held bytes already hold a message:
//! a complete event (ended by a blank line) with a `data` line whose value is not
//! empty. Priming events (`id` and an empty `data`, MCP 2025-11-25 Streamable HTTP),
//! `retry` lines and comments (`: keep-alive`) are not messages.

/// Whether `bytes` (the start of an event stream) holds a complete event with data.
pub(crate) fn has_message(bytes: &[u8]) -> bool {
    let mut has_data = false;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\n' => i + 1,
            // A CR at the very end may be the first half of a CRLF: wait for more.
            b'\r' if i + 1 == bytes.len() => return false,
            b'\r' if bytes[i + 1] == b'\n' => i + 2,
            b'\r' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        let line = &bytes[start..i];
        if line.is_empty() {
            if has_data {
                return true;
            }
        } else if let Some(value) = data_value(line) {
            has_data |= !value.is_empty();
        }
        start = end;
        i = end;
    }
    false
}

/// The value of a `data` field line (one leading space removed), or `None` for any
/// other line.
fn data_value(line: &[u8]) -> Option<&[u8]> {
    let (name, value) = match line.iter().position(|&b| b == b':') {
        Some(0) => return None, // a comment
        Some(colon) => (&line[..colon], &line[colon + 1..]),
        None => (line, &[][..]),
    };
    if name != b"data" {
        return None;
    }
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

#[cfg(test)]
mod tests {
    use super::has_message;

    #[test]
    fn priming_events_comments_and_half_events_are_not_messages() {
        assert!(!has_message(b""));
        assert!(!has_message(b"id: 0\nretry: 3000\ndata: \n\n"));
        assert!(!has_message(b"id: 0\r\nretry: 3000\r\ndata:\r\n\r\n"));
        assert!(!has_message(b": keep-alive\n\n"));
        assert!(!has_message(b"event: message\ndata: {\"jsonrpc\""));
        assert!(!has_message(b"data: {}\n"));
        assert!(!has_message(b"data: {}\r\n\r"));
        assert!(!has_message(b"data\n\n"));
    }

    #[test]
    fn a_complete_event_with_data_is_a_message() {
        assert!(has_message(b"data: {}\n\n"));
        assert!(has_message(
            b"id: 0\ndata: \n\nevent: message\ndata: {\"a\":1}\n\n"
        ));
        assert!(has_message(b"data:x\r\n\r\n"));
        assert!(has_message(b"data: x\r\rmore"));
        assert!(has_message(b": c\ndata: \ndata: y\n\n"));
    }
}

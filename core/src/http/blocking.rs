//! A blocking driver for socket-only hosts (feature `embedded-io`).
//!
//! [`exchange`] runs one HTTP/1.1 exchange for a session's [`Request`] over a socket
//! the caller already opened (plain TCP for `http`, a TLS stream such as
//! `embedded-tls` for `https`), using only the caller's `scratch` buffer for I/O. It
//! allocates nothing beyond the [`Response`] it returns (plus the parsed URL): the
//! request is written through `scratch` piece by piece, and response bytes are read
//! into `scratch` and fed to a [`ResponseParser`], whose head buffer becomes the
//! response body.
//!
//! The request says `Connection: close`, so the caller closes (or drops) the socket
//! afterwards and opens a new one for the next exchange. `scratch` is zeroized
//! before returning, since it held credentials on the way out and tokens on the way
//! in.
//!
//! ```
//! use bearerflow::http::blocking::exchange;
//! use bearerflow::http::Request;
//!
//! /// A socket that answers every request with a canned response.
//! struct Canned { reply: &'static [u8], sent: Vec<u8> }
//! impl embedded_io::ErrorType for Canned { type Error = embedded_io::ErrorKind; }
//! impl embedded_io::Read for Canned {
//!     fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
//!         let n = buf.len().min(self.reply.len());
//!         buf[..n].copy_from_slice(&self.reply[..n]);
//!         self.reply = &self.reply[n..];
//!         Ok(n)
//!     }
//! }
//! impl embedded_io::Write for Canned {
//!     fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
//!         self.sent.extend_from_slice(buf);
//!         Ok(buf.len())
//!     }
//!     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! }
//!
//! let mut socket = Canned {
//!     reply: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
//!     sent: Vec::new(),
//! };
//! let mut scratch = [0u8; 256];
//! let req = Request::get_json("http://192.168.1.10:8080/.well-known/oauth-protected-resource");
//! let response = exchange(&mut socket, &req, &mut scratch)?;
//! assert_eq!((response.status, response.body.as_slice()), (200, &b"{}"[..]));
//! assert!(socket.sent.starts_with(b"GET /.well-known/oauth-protected-resource HTTP/1.1\r\n"));
//! # Ok::<(), bearerflow::http::blocking::ExchangeError<embedded_io::ErrorKind>>(())
//! ```

use super::raw::{ParseOptions, Progress, RawError, RequestWriter, ResponseParser};
use super::{Request, Response};
use core::fmt;
use embedded_io::{ErrorKind, Read, Write};
use zeroize::Zeroize;

/// Why an exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangeError<E> {
    /// The socket reported an error (passed through unchanged).
    Io(E),
    /// The request could not be written or the response could not be parsed.
    Http(RawError),
    /// `scratch` is empty: there is nowhere to read into.
    EmptyScratch,
    /// The socket accepted zero bytes of a non-empty write (it can take no more).
    WriteZero,
    /// The socket claimed to read more bytes than the buffer it was given holds.
    ReadOverflow {
        /// What `read` returned.
        returned: usize,
        /// The buffer length.
        capacity: usize,
    },
}

impl<E: fmt::Display> fmt::Display for ExchangeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Io(e) => write!(f, "socket error: {e}"),
            ExchangeError::Http(e) => write!(f, "HTTP exchange failed: {e}"),
            ExchangeError::EmptyScratch => f.write_str("the scratch buffer is empty"),
            ExchangeError::WriteZero => f.write_str("the socket accepted no bytes of a write"),
            ExchangeError::ReadOverflow { returned, capacity } => write!(
                f,
                "the socket reported reading {returned} bytes into a {capacity}-byte buffer"
            ),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for ExchangeError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ExchangeError::Io(e) => Some(e),
            ExchangeError::Http(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> From<RawError> for ExchangeError<E> {
    fn from(e: RawError) -> ExchangeError<E> {
        ExchangeError::Http(e)
    }
}

/// Send `req` over `socket` and read the response, with `Connection: close` and
/// [`ParseOptions::DEFAULT`].
///
/// `scratch` is the only I/O buffer; a few hundred bytes are plenty (larger means
/// fewer socket calls). Interim `1xx` responses are skipped; a body delimited by the
/// connection closing ends when `read` returns 0.
pub fn exchange<S: Read + Write>(
    socket: &mut S,
    req: &Request,
    scratch: &mut [u8],
) -> Result<Response, ExchangeError<S::Error>> {
    exchange_with(
        socket,
        req,
        scratch,
        &RequestWriter::new(),
        &ParseOptions::DEFAULT,
    )
}

/// [`exchange`] with explicit writer and parser options.
pub fn exchange_with<S: Read + Write>(
    socket: &mut S,
    req: &Request,
    scratch: &mut [u8],
    writer: &RequestWriter,
    opts: &ParseOptions,
) -> Result<Response, ExchangeError<S::Error>> {
    let result = run(socket, req, scratch, writer, opts);
    scratch.zeroize();
    result
}

/// Run one [`Action::Fetch`](crate::session::Action::Fetch) of `session` over `socket`
/// and report the outcome to the session: the response via
/// [`Session::handle_http_response`](crate::session::Session::handle_http_response), a failure below HTTP via
/// [`Session::handle_http_error`](crate::session::Session::handle_http_error) (the session decides what it means). The host's
/// whole job for a fetch on a socket-only device is: open a connection to the
/// request's host, call this, close the connection.
///
/// Returns the exchange error too, for the host's logs; the session already knows.
pub fn fetch<S: Read + Write>(
    session: &mut crate::session::Session,
    id: crate::session::FetchId,
    req: &Request,
    socket: &mut S,
    scratch: &mut [u8],
    now: crate::time::Timestamp,
) -> Result<(), ExchangeError<S::Error>> {
    match exchange(socket, req, scratch) {
        Ok(resp) => {
            let headers: alloc::vec::Vec<(&str, &str)> = resp
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            session.handle_http_response(id, resp.status, &headers, &resp.body, now);
            Ok(())
        }
        Err(e) => {
            session.handle_http_error(id, crate::session::HttpErrorKind::Io, now);
            Err(e)
        }
    }
}

fn run<S: Read + Write>(
    socket: &mut S,
    req: &Request,
    scratch: &mut [u8],
    writer: &RequestWriter,
    opts: &ParseOptions,
) -> Result<Response, ExchangeError<S::Error>> {
    if scratch.is_empty() {
        return Err(ExchangeError::EmptyScratch);
    }
    let prepared = writer.prepare(req)?;
    let mut out = Buffered {
        socket: &mut *socket,
        buf: &mut *scratch,
        len: 0,
    };
    prepared.emit(&mut |bytes: &[u8]| out.put(bytes))?;
    out.flush()?;
    retry(|| socket.flush()).map_err(ExchangeError::Io)?;

    let mut parser = ResponseParser::with_options(*opts);
    loop {
        let n = retry(|| socket.read(scratch)).map_err(ExchangeError::Io)?;
        if n == 0 {
            return Ok(parser.finish()?);
        }
        let capacity = scratch.len();
        let got = scratch.get(..n).ok_or(ExchangeError::ReadOverflow {
            returned: n,
            capacity,
        })?;
        if let Progress::Done { response, .. } = parser.feed(got)? {
            return Ok(response);
        }
    }
}

/// Retry an operation the socket interrupted (`ErrorKind::Interrupted`), as
/// `std::io` callers do.
fn retry<T, E: embedded_io::Error>(mut op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    loop {
        match op() {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Collects small writes in `buf` and sends them in large ones; a piece larger than
/// the buffer (typically the body) goes straight to the socket.
struct Buffered<'a, S> {
    socket: &'a mut S,
    buf: &'a mut [u8],
    len: usize,
}

impl<S: Write> Buffered<'_, S> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), ExchangeError<S::Error>> {
        if bytes.len() > self.buf.len().saturating_sub(self.len) {
            self.flush()?;
        }
        if bytes.len() >= self.buf.len() {
            return write_all(self.socket, bytes);
        }
        let end = self.len.saturating_add(bytes.len());
        match self.buf.get_mut(self.len..end) {
            Some(slot) => slot.copy_from_slice(bytes),
            // Unreachable after the flush above; fall back to a direct write.
            None => return write_all(self.socket, bytes),
        }
        self.len = end;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExchangeError<S::Error>> {
        let pending = self.buf.get(..self.len).unwrap_or_default();
        write_all(self.socket, pending)?;
        self.len = 0;
        Ok(())
    }
}

/// `Write::write_all` without its panic on `Ok(0)`.
fn write_all<S: Write>(socket: &mut S, mut bytes: &[u8]) -> Result<(), ExchangeError<S::Error>> {
    while !bytes.is_empty() {
        match retry(|| socket.write(bytes)).map_err(ExchangeError::Io)? {
            0 => return Err(ExchangeError::WriteZero),
            n => bytes = bytes.get(n..).unwrap_or_default(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::http::raw::{parse_response, write_request};
    use crate::http::{Header, Method};
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// An in-memory socket: serves `incoming` in reads of at most `max_read` bytes,
    /// records writes accepting at most `max_write` bytes each, and can be told to
    /// fail or to misbehave.
    struct FakeSocket {
        incoming: Vec<u8>,
        pos: usize,
        max_read: usize,
        max_write: usize,
        written: Vec<u8>,
        writes: usize,
        interrupt_every_other: bool,
        interrupted: bool,
        fail_read: Option<ErrorKind>,
        write_zero: bool,
        over_read: bool,
    }

    impl FakeSocket {
        fn new(incoming: &[u8]) -> FakeSocket {
            FakeSocket {
                incoming: incoming.to_vec(),
                pos: 0,
                max_read: usize::MAX,
                max_write: usize::MAX,
                written: Vec::new(),
                writes: 0,
                interrupt_every_other: false,
                interrupted: false,
                fail_read: None,
                write_zero: false,
                over_read: false,
            }
        }

        fn interrupt(&mut self) -> bool {
            if self.interrupt_every_other {
                self.interrupted = !self.interrupted;
                return self.interrupted;
            }
            false
        }
    }

    impl embedded_io::ErrorType for FakeSocket {
        type Error = ErrorKind;
    }

    impl Read for FakeSocket {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            if let Some(kind) = self.fail_read {
                return Err(kind);
            }
            if self.interrupt() {
                return Err(ErrorKind::Interrupted);
            }
            if self.over_read {
                return Ok(buf.len() + 1);
            }
            let rest = &self.incoming[self.pos..];
            let n = rest.len().min(buf.len()).min(self.max_read);
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl Write for FakeSocket {
        fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            if self.write_zero {
                return Ok(0);
            }
            if self.interrupt() {
                return Err(ErrorKind::Interrupted);
            }
            let n = buf.len().min(self.max_write);
            self.written.extend_from_slice(&buf[..n]);
            self.writes += 1;
            Ok(n)
        }

        fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }

    fn token_request() -> Request {
        Request {
            method: Method::Post,
            url: "https://as.example.com/token".into(),
            headers: vec![
                Header::new("Content-Type", "application/x-www-form-urlencoded"),
                Header::new("Authorization", "Basic Y2xpZW50OnNlY3JldA=="),
            ],
            body: b"grant_type=refresh_token&refresh_token=rt-secret-value".to_vec(),
        }
    }

    const CHUNKED_REPLY: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
        9\r\n{\"access_\r\n13;x=y\r\ntoken\":\"at-secret\"}\r\n0\r\n\r\n";

    fn expected_wire(req: &Request) -> Vec<u8> {
        let mut out = Vec::new();
        write_request(req, &mut out).unwrap();
        out
    }

    #[test]
    fn exchange_writes_the_request_and_reads_the_response() {
        let req = token_request();
        let mut socket = FakeSocket::new(CHUNKED_REPLY);
        let mut scratch = [0u8; 512];
        let r = exchange(&mut socket, &req, &mut scratch).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"access_token\":\"at-secret\"}");
        assert_eq!(socket.written, expected_wire(&req));
        // The whole request fit in scratch: one write.
        assert_eq!(socket.writes, 1);
        // Credentials and tokens do not linger in the caller's buffer.
        assert!(scratch.iter().all(|b| *b == 0));
    }

    #[test]
    fn tiny_scratch_and_short_reads_and_writes() {
        let req = token_request();
        let mut socket = FakeSocket::new(CHUNKED_REPLY);
        socket.max_read = 3;
        socket.max_write = 5;
        socket.interrupt_every_other = true;
        let mut scratch = [0u8; 7];
        let r = exchange(&mut socket, &req, &mut scratch).unwrap();
        assert_eq!(r.body, b"{\"access_token\":\"at-secret\"}");
        assert_eq!(socket.written, expected_wire(&req));
    }

    #[test]
    fn close_delimited_body_ends_at_eof() {
        let mut socket = FakeSocket::new(b"HTTP/1.0 200 OK\r\n\r\n{\"issuer\":\"x\"}");
        let mut scratch = [0u8; 16];
        let r = exchange(&mut socket, &Request::get_json("http://h/m"), &mut scratch).unwrap();
        assert_eq!(r.body, b"{\"issuer\":\"x\"}");
    }

    #[test]
    fn errors_are_typed() {
        let req = Request::get_json("http://h/m");
        let mut scratch = [0u8; 64];

        let mut socket = FakeSocket::new(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc");
        assert_eq!(
            exchange(&mut socket, &req, &mut scratch),
            Err(ExchangeError::Http(RawError::TruncatedBody {
                offset: 41,
                missing: 6
            }))
        );

        let mut socket = FakeSocket::new(b"");
        assert_eq!(
            exchange(&mut socket, &req, &mut scratch),
            Err(ExchangeError::Http(RawError::NoResponse { offset: 0 }))
        );

        let mut socket = FakeSocket::new(b"");
        socket.fail_read = Some(ErrorKind::ConnectionReset);
        assert_eq!(
            exchange(&mut socket, &req, &mut scratch),
            Err(ExchangeError::Io(ErrorKind::ConnectionReset))
        );

        let mut socket = FakeSocket::new(b"");
        socket.write_zero = true;
        assert_eq!(
            exchange(&mut socket, &req, &mut scratch),
            Err(ExchangeError::WriteZero)
        );

        let mut socket = FakeSocket::new(b"");
        socket.over_read = true;
        assert_eq!(
            exchange(&mut socket, &req, &mut scratch),
            Err(ExchangeError::ReadOverflow {
                returned: 65,
                capacity: 64
            })
        );

        let mut socket = FakeSocket::new(b"");
        assert_eq!(
            exchange(&mut socket, &req, &mut []),
            Err(ExchangeError::EmptyScratch)
        );

        // A request that would inject headers is refused before anything is sent.
        let mut bad = Request::get_json("http://h/m");
        bad.headers.push(Header::new("X", "a\r\nEvil: 1"));
        let mut socket = FakeSocket::new(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(
            exchange(&mut socket, &bad, &mut scratch),
            Err(ExchangeError::Http(RawError::InvalidHeaderValue {
                index: 1,
                offset: 1
            }))
        );
        assert!(socket.written.is_empty());
    }

    #[test]
    fn error_display_and_source() {
        use alloc::string::ToString;
        let e: ExchangeError<ErrorKind> = ExchangeError::Http(RawError::NoResponse { offset: 0 });
        assert!(e.to_string().contains("before any response"));
        assert!(core::error::Error::source(&e).is_some());
        let e: ExchangeError<ErrorKind> = ExchangeError::ReadOverflow {
            returned: 9,
            capacity: 8,
        };
        assert!(e.to_string().contains("9 bytes into a 8-byte buffer"));
    }

    proptest! {
        #[test]
        fn any_socket_pacing_gives_the_one_shot_result(
            reply in proptest::collection::vec(any::<u8>(), 0..200).prop_map(|tail| {
                let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for piece in tail.chunks(17) {
                    r.extend_from_slice(std::format!("{:x}\r\n", piece.len()).as_bytes());
                    r.extend_from_slice(piece);
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
                r
            }),
            max_read in 1usize..40,
            max_write in 1usize..40,
            scratch_len in 1usize..64,
        ) {
            let req = token_request();
            let mut socket = FakeSocket::new(&reply);
            socket.max_read = max_read;
            socket.max_write = max_write;
            let mut scratch = vec![0u8; scratch_len];
            let got = exchange(&mut socket, &req, &mut scratch);
            prop_assert_eq!(got, parse_response(&reply).map_err(ExchangeError::Http));
            prop_assert_eq!(socket.written, expected_wire(&req));
        }
    }
    #[test]
    fn fetch_feeds_the_session() {
        use crate::oauth::ClientRegistration;
        use crate::secret::Secret;
        use crate::session::{Action, Config, OAuthConfig, Session};
        use crate::time::Timestamp;
        let config = Config::oauth(
            "https://mcp.example.com/mcp",
            OAuthConfig {
                client: Some(ClientRegistration::public("c")),
                token_endpoint: Some("https://auth.example.com/token".into()),
                ..OAuthConfig::default()
            },
        );
        let mut s = Session::new(config, [1; 32], Timestamp(0));
        s.set_tokens(
            Secret::new("old"),
            Some(Secret::new("rt")),
            Some(10),
            None,
            Timestamp(0),
        );
        while s.poll_action().is_some() {}
        let _ = s.begin_request(Timestamp(20_000));
        let Some(Action::Fetch { id, request, .. }) = s.poll_action() else {
            panic!("expected the refresh fetch");
        };
        let body = br#"{"access_token":"new","token_type":"Bearer","expires_in":10}"#;
        let mut reply = alloc::format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
            .into_bytes();
        reply.extend_from_slice(body);
        let mut sock = FakeSocket::new(&reply);
        let mut scratch = [0u8; 256];
        assert!(fetch(
            &mut s,
            id,
            &request,
            &mut sock,
            &mut scratch,
            Timestamp(20_050)
        )
        .is_ok());
        assert!(matches!(s.poll_action(), Some(Action::Persist(_))));
        assert!(matches!(s.poll_action(), Some(Action::Send { .. })));
        assert_eq!(s.tokens().map(|t| t.access_token()), Some("new"));
        let written = std::string::String::from_utf8_lossy(&sock.written).into_owned();
        assert!(written.starts_with("POST /token HTTP/1.1\r\n"), "{written}");
    }
}

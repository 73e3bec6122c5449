//! Raw HTTP/1.1 bytes in and out, for hosts that only have a socket.
//!
//! Most hosts own an HTTP client and never need this module: they turn a
//! [`Request`] into a call of their client and a reply into a [`Response`]. An embedded
//! device, or a C host holding nothing but a TCP (or TLS) stream, has no client. For
//! them this module writes the bytes of a request ([`write_request`],
//! [`write_request_parts`]) and reads the bytes of a response ([`ResponseParser`],
//! [`parse_response`]), following RFC 9112 (HTTP/1.1 message syntax).
//!
//! Both directions are strict where looseness is dangerous and lenient where the RFC
//! asks a recipient to be:
//!
//! - Writing refuses anything that could change the framing of the message: a CR, LF
//!   or NUL in a header (header injection, RFC 9110 §5.5), a header name that is not a
//!   token, a URL that is not `http`/`https`, a URL with userinfo (RFC 9110 §4.2.4
//!   forbids sending it), and headers the writer owns (`Host`, `Content-Length`,
//!   `Transfer-Encoding`, `Connection`).
//! - Reading rejects ambiguous framing (both `Content-Length` and `Transfer-Encoding`,
//!   or disagreeing `Content-Length` values: RFC 9112 §6.3), caps the head, the
//!   number of header fields and the body, and skips `1xx` interim responses
//!   (RFC 9110 §15.2). Every error is a [`RawError`] that names what was wrong and
//!   the byte offset (counted from the first byte fed to the parser) where it was
//!   found.
//!
//! No byte sequence makes the parser panic, and feeding a response in any number of
//! pieces gives the same result as feeding it at once: both are property-tested and
//! fuzzed (`fuzz/fuzz_targets/http_response.rs`).
//!
//! # Example
//!
//! ```
//! use bearerflow::http::raw::{write_request, Progress, ResponseParser};
//! use bearerflow::http::Request;
//!
//! let req = Request::get_json("https://auth.example.com:8443/.well-known/oauth-authorization-server?x=1");
//! let mut wire = Vec::new();
//! write_request(&req, &mut wire)?;
//! assert!(wire.starts_with(
//!     b"GET /.well-known/oauth-authorization-server?x=1 HTTP/1.1\r\nHost: auth.example.com:8443\r\n"
//! ));
//!
//! // Bytes arrive from the socket in whatever pieces the network chose.
//! let mut parser = ResponseParser::new();
//! assert!(matches!(parser.feed(b"HTTP/1.1 200 OK\r\nContent-Le")?, Progress::NeedMore));
//! match parser.feed(b"ngth: 2\r\n\r\n{}")? {
//!     Progress::Done { response, .. } => {
//!         assert_eq!(response.status, 200);
//!         assert_eq!(response.body, b"{}");
//!     }
//!     Progress::NeedMore => unreachable!("the body is complete"),
//! }
//! # Ok::<(), bearerflow::http::raw::RawError>(())
//! ```

use super::{Header, Request, Response};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use zeroize::Zeroize;

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// What httparse found wrong in a response head (RFC 9112 §4, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeadFault {
    /// The status line does not start with `HTTP/1.0` or `HTTP/1.1`.
    Version,
    /// The status code is not three digits, or the status line is malformed.
    Status,
    /// A byte that cannot appear in a field name (a token, RFC 9110 §5.1).
    HeaderName,
    /// A byte that cannot appear in a field value (RFC 9110 §5.5).
    HeaderValue,
    /// A line ending that is neither CRLF nor LF.
    NewLine,
    /// A byte where a token was required.
    Token,
}

impl HeadFault {
    fn from_httparse(e: httparse::Error) -> HeadFault {
        match e {
            httparse::Error::HeaderName => HeadFault::HeaderName,
            httparse::Error::HeaderValue => HeadFault::HeaderValue,
            httparse::Error::NewLine => HeadFault::NewLine,
            httparse::Error::Status => HeadFault::Status,
            httparse::Error::Version => HeadFault::Version,
            // TooManyHeaders is handled by the caller; Token cannot occur in a response
            // head but is mapped rather than assumed away.
            httparse::Error::Token | httparse::Error::TooManyHeaders => HeadFault::Token,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            HeadFault::Version => "the status line does not start with HTTP/1.0 or HTTP/1.1",
            HeadFault::Status => "malformed status line",
            HeadFault::HeaderName => "invalid byte in a header field name",
            HeadFault::HeaderValue => "invalid byte in a header field value",
            HeadFault::NewLine => "invalid line ending",
            HeadFault::Token => "invalid byte where a token was expected",
        }
    }
}

/// Everything that can go wrong writing a request or reading a response.
///
/// Offsets in the reading errors count bytes from the first byte fed to the
/// [`ResponseParser`] (for [`parse_response`]: the index in its buffer). Offsets in
/// the writing errors are byte indexes into the offending input (URL, method, header
/// name or value). Header values are never included: they may be credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RawError {
    // ----- writing -----
    /// The request URL could not be parsed as an absolute URL.
    InvalidUrl {
        /// What the URL parser objected to.
        reason: &'static str,
    },
    /// The request URL contains a control character or space (raw CR/LF in a URL
    /// would otherwise be silently dropped by URL parsing, hiding an injection).
    UrlByte {
        /// Byte index in the URL.
        offset: usize,
    },
    /// The URL scheme is not `http` or `https`.
    UnsupportedScheme,
    /// The URL carries userinfo (`user:pass@`), which must not be sent
    /// (RFC 9110 §4.2.4).
    UserinfoInUrl,
    /// The method is empty or not a token (RFC 9110 §9.1).
    InvalidMethod {
        /// Byte index in the method.
        offset: usize,
    },
    /// A request header name is empty or not a token (RFC 9110 §5.1).
    InvalidHeaderName {
        /// Position of the header in the request's header list.
        index: usize,
        /// Byte index in the name.
        offset: usize,
    },
    /// A request header value contains CR, LF, NUL or another control byte
    /// (RFC 9110 §5.5): writing it would allow header injection.
    InvalidHeaderValue {
        /// Position of the header in the request's header list.
        index: usize,
        /// Byte index in the value.
        offset: usize,
    },
    /// The request sets a header the writer controls (`Host`, `Content-Length`,
    /// `Transfer-Encoding` or `Connection`).
    ReservedHeader {
        /// Position of the header in the request's header list.
        index: usize,
    },

    // ----- reading -----
    /// The response head is malformed.
    MalformedHead {
        /// What was wrong.
        fault: HeadFault,
        /// Offset of the first byte that made the head invalid.
        offset: usize,
    },
    /// The head (or the trailer section) has more header fields than allowed.
    TooManyHeaders {
        /// The configured maximum.
        limit: usize,
        /// Offset where the excess was detected.
        offset: usize,
    },
    /// The response head is longer than allowed.
    HeadTooLarge {
        /// The configured maximum in bytes.
        limit: usize,
        /// Offset of the first byte past the limit.
        offset: usize,
    },
    /// The status code is outside 100..=599 (RFC 9110 §15).
    InvalidStatus {
        /// The code received.
        status: u16,
        /// Offset of the status code.
        offset: usize,
    },
    /// `101 Switching Protocols` arrived although no upgrade was requested: what
    /// follows is not HTTP/1.1.
    SwitchingProtocols {
        /// Offset of the status code.
        offset: usize,
    },
    /// More `1xx` interim responses than allowed precede the final response.
    TooManyInterim {
        /// The configured maximum.
        limit: usize,
        /// Offset of the interim response over the limit.
        offset: usize,
    },
    /// A `Content-Length` value is not a decimal number (RFC 9110 §8.6).
    InvalidContentLength {
        /// Offset of the field value.
        offset: usize,
    },
    /// `Content-Length` values disagree (RFC 9112 §6.3, rule 5).
    ConflictingContentLength {
        /// Offset of the disagreeing value.
        offset: usize,
    },
    /// Both `Content-Length` and `Transfer-Encoding` are present: a sign of request
    /// smuggling or response splitting, handled as an error (RFC 9112 §6.3, rule 3).
    ContentLengthWithTransferEncoding {
        /// Offset of the later of the two field values.
        offset: usize,
    },
    /// `Transfer-Encoding` names something other than a single, final `chunked`
    /// (this client never offers other codings, RFC 9112 §6.1, §7).
    UnsupportedTransferCoding {
        /// Offset of the field value.
        offset: usize,
    },
    /// An HTTP/1.0 response carries `Transfer-Encoding`: its framing is faulty
    /// (RFC 9112 §6.1).
    TransferEncodingInHttp10 {
        /// Offset of the field value.
        offset: usize,
    },
    /// The body is larger than allowed.
    BodyTooLarge {
        /// The configured maximum in bytes.
        limit: usize,
        /// Offset where the excess was announced or received.
        offset: usize,
    },
    /// A chunk-size line has no hex digits, too many, or a stray byte
    /// (RFC 9112 §7.1).
    InvalidChunkSize {
        /// Offset of the offending byte.
        offset: usize,
    },
    /// A chunk extension is longer than allowed.
    ChunkExtensionTooLong {
        /// The maximum in bytes.
        limit: usize,
        /// Offset of the first byte past the limit.
        offset: usize,
    },
    /// A CRLF was required in chunked framing (after a chunk-size line, after chunk
    /// data, after a trailer line) and something else came.
    ExpectedCrlf {
        /// Offset of the offending byte.
        offset: usize,
    },
    /// A trailer field line is malformed (RFC 9112 §7.1.2).
    InvalidTrailer {
        /// Offset of the offending byte.
        offset: usize,
    },
    /// The trailer section is longer than allowed.
    TrailersTooLarge {
        /// The maximum in bytes (the head limit).
        limit: usize,
        /// Offset of the first byte past the limit.
        offset: usize,
    },
    /// The connection closed before any response byte arrived.
    NoResponse {
        /// Offset of the end of input.
        offset: usize,
    },
    /// The connection closed in the middle of a response head.
    TruncatedHead {
        /// Offset of the end of input.
        offset: usize,
    },
    /// The connection closed before the `Content-Length` body was complete
    /// (RFC 9112 §8).
    TruncatedBody {
        /// Offset of the end of input.
        offset: usize,
        /// Bytes still missing.
        missing: u64,
    },
    /// The connection closed before the last chunk and trailer section
    /// (RFC 9112 §8).
    TruncatedChunked {
        /// Offset of the end of input.
        offset: usize,
    },
    /// Bytes follow the end of the response in a buffer that should hold exactly one.
    TrailingData {
        /// Offset of the first byte after the response.
        offset: usize,
    },
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RawError::*;
        match *self {
            InvalidUrl { reason } => write!(f, "request URL is invalid: {reason}"),
            UrlByte { offset } => {
                write!(
                    f,
                    "request URL has a control character or space at byte {offset}"
                )
            }
            UnsupportedScheme => f.write_str("request URL scheme is not http or https"),
            UserinfoInUrl => f.write_str("request URL carries userinfo (user:password@)"),
            InvalidMethod { offset } => {
                write!(f, "request method is not a token (byte {offset})")
            }
            InvalidHeaderName { index, offset } => write!(
                f,
                "request header #{index}: name is empty or not a token (byte {offset} of the name)"
            ),
            InvalidHeaderValue { index, offset } => write!(
                f,
                "request header #{index}: value has CR, LF, NUL or a control byte at byte \
                 {offset} of the value (header injection refused)"
            ),
            ReservedHeader { index } => write!(
                f,
                "request header #{index} is Host, Content-Length, Transfer-Encoding or \
                 Connection, which the writer sets itself"
            ),
            MalformedHead { fault, offset } => {
                write!(f, "response head: {} at byte {offset}", fault.describe())
            }
            TooManyHeaders { limit, offset } => {
                write!(
                    f,
                    "response has more than {limit} header fields (byte {offset})"
                )
            }
            HeadTooLarge { limit, offset } => {
                write!(f, "response head exceeds {limit} bytes (byte {offset})")
            }
            InvalidStatus { status, offset } => {
                write!(
                    f,
                    "response status {status} is outside 100..=599 (byte {offset})"
                )
            }
            SwitchingProtocols { offset } => {
                write!(
                    f,
                    "unrequested 101 Switching Protocols response (byte {offset})"
                )
            }
            TooManyInterim { limit, offset } => write!(
                f,
                "more than {limit} 1xx interim responses before the final one (byte {offset})"
            ),
            InvalidContentLength { offset } => {
                write!(f, "Content-Length is not a decimal number (byte {offset})")
            }
            ConflictingContentLength { offset } => {
                write!(f, "Content-Length values disagree (byte {offset})")
            }
            ContentLengthWithTransferEncoding { offset } => write!(
                f,
                "response has both Content-Length and Transfer-Encoding (byte {offset})"
            ),
            UnsupportedTransferCoding { offset } => write!(
                f,
                "Transfer-Encoding is not a single final \"chunked\" (byte {offset})"
            ),
            TransferEncodingInHttp10 { offset } => {
                write!(
                    f,
                    "HTTP/1.0 response carries Transfer-Encoding (byte {offset})"
                )
            }
            BodyTooLarge { limit, offset } => {
                write!(f, "response body exceeds {limit} bytes (byte {offset})")
            }
            InvalidChunkSize { offset } => write!(f, "invalid chunk-size line at byte {offset}"),
            ChunkExtensionTooLong { limit, offset } => {
                write!(f, "chunk extension exceeds {limit} bytes (byte {offset})")
            }
            ExpectedCrlf { offset } => write!(f, "expected CRLF in chunked body at byte {offset}"),
            InvalidTrailer { offset } => write!(f, "invalid trailer field at byte {offset}"),
            TrailersTooLarge { limit, offset } => {
                write!(f, "trailer section exceeds {limit} bytes (byte {offset})")
            }
            NoResponse { offset } => {
                write!(f, "connection closed before any response (byte {offset})")
            }
            TruncatedHead { offset } => {
                write!(
                    f,
                    "connection closed inside the response head (byte {offset})"
                )
            }
            TruncatedBody { offset, missing } => write!(
                f,
                "connection closed with {missing} body bytes missing (byte {offset})"
            ),
            TruncatedChunked { offset } => {
                write!(
                    f,
                    "connection closed inside the chunked body (byte {offset})"
                )
            }
            TrailingData { offset } => {
                write!(
                    f,
                    "unexpected bytes after the end of the response (byte {offset})"
                )
            }
        }
    }
}

impl core::error::Error for RawError {}

// ---------------------------------------------------------------------------------
// Writing requests
// ---------------------------------------------------------------------------------

/// How to write a request. The default writes `Connection: close`.
///
/// `Connection: close` (RFC 9112 §9.6) is the right default for a host that opens a
/// socket per exchange: the server closes after the response, so a body without
/// framing headers can still be read to its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestWriter {
    /// Leave the connection persistent (HTTP/1.1's default, RFC 9112 §9.3) instead of
    /// writing `Connection: close`.
    pub keep_alive: bool,
}

impl RequestWriter {
    /// A writer with the default options (`Connection: close`).
    pub const fn new() -> RequestWriter {
        RequestWriter { keep_alive: false }
    }

    /// Append the HTTP/1.1 bytes of `req` to `out`. On error `out` is unchanged.
    ///
    /// See [`write_request`] for what is written.
    pub fn write(&self, req: &Request, out: &mut Vec<u8>) -> Result<(), RawError> {
        let prepared = self.prepare(req)?;
        prepared
            .emit(&mut |b: &[u8]| {
                out.extend_from_slice(b);
                Ok::<(), core::convert::Infallible>(())
            })
            .unwrap_or_else(|never| match never {});
        Ok(())
    }

    /// Append the HTTP/1.1 bytes of a request given as parts to `out`. On error `out`
    /// is unchanged.
    ///
    /// See [`write_request_parts`].
    pub fn write_parts(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RawError> {
        let prepared = prepare(
            method,
            url,
            HeaderSource::Pairs(headers),
            body,
            self.keep_alive,
        )?;
        prepared
            .emit(&mut |b: &[u8]| {
                out.extend_from_slice(b);
                Ok::<(), core::convert::Infallible>(())
            })
            .unwrap_or_else(|never| match never {});
        Ok(())
    }

    /// Validate `req` and return what [`Prepared::emit`] writes.
    pub(crate) fn prepare<'a>(&self, req: &'a Request) -> Result<Prepared<'a>, RawError> {
        prepare(
            req.method.as_str(),
            &req.url,
            HeaderSource::Owned(&req.headers),
            &req.body,
            self.keep_alive,
        )
    }
}

/// Append the HTTP/1.1 bytes of `req` to `out` (RFC 9112 §3), with
/// `Connection: close`.
///
/// Written, in order: the request line with the origin-form target (path and query
/// of the absolute URL; the fragment is never sent, RFC 9112 §3.2.1), `Host` first
/// (with the port when it is not the scheme's default, RFC 9112 §3.2), the request's
/// headers in order, `Content-Length` when there is a body or the method expects one
/// (RFC 9110 §8.6), `Connection: close`, an empty line, the body.
///
/// Everything is validated before anything is written; on error `out` is unchanged.
///
/// ```
/// use bearerflow::http::raw::{write_request, RawError};
/// use bearerflow::http::{Header, Request};
///
/// let mut req = Request::get_json("http://localhost:8080/mcp");
/// req.headers.push(Header::new("X-Evil", "a\r\nInjected: yes"));
/// let mut out = Vec::new();
/// assert_eq!(
///     write_request(&req, &mut out),
///     Err(RawError::InvalidHeaderValue { index: 1, offset: 1 })
/// );
/// assert!(out.is_empty());
/// ```
pub fn write_request(req: &Request, out: &mut Vec<u8>) -> Result<(), RawError> {
    RequestWriter::new().write(req, out)
}

/// Append the HTTP/1.1 bytes of a request given as parts to `out`, with
/// `Connection: close`.
///
/// This is for a host's own resource request (for example an MCP `POST`) to which a
/// session's `Send` action attaches header pairs such as `Authorization`: the host
/// passes its method, URL, its headers plus the attached ones, and its body. The
/// method must be a token (`GET`, `POST`, `DELETE`, ...). Layout and validation are
/// those of [`write_request`].
///
/// ```
/// use bearerflow::http::raw::write_request_parts;
///
/// let mut out = Vec::new();
/// write_request_parts(
///     "POST",
///     "https://mcp.example.com/mcp",
///     &[("Authorization", "Bearer abc"), ("Content-Type", "application/json")],
///     b"{}",
///     &mut out,
/// )?;
/// assert_eq!(
///     out,
///     b"POST /mcp HTTP/1.1\r\nHost: mcp.example.com\r\nAuthorization: Bearer abc\r\n\
///       Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
/// );
/// # Ok::<(), bearerflow::http::raw::RawError>(())
/// ```
pub fn write_request_parts(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RawError> {
    RequestWriter::new().write_parts(method, url, headers, body, out)
}

/// Headers of a request, borrowed from either shape the public API accepts.
#[derive(Clone, Copy)]
enum HeaderSource<'a> {
    Owned(&'a [Header]),
    Pairs(&'a [(&'a str, &'a str)]),
}

impl<'a> HeaderSource<'a> {
    fn iter(self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let (owned, pairs): (&'a [Header], &'a [(&'a str, &'a str)]) = match self {
            HeaderSource::Owned(h) => (h, &[]),
            HeaderSource::Pairs(p) => (&[], p),
        };
        owned
            .iter()
            .map(|h| (h.name.as_str(), h.value.expose()))
            .chain(pairs.iter().copied())
    }
}

/// A validated request, ready to be written by [`Prepared::emit`].
pub(crate) struct Prepared<'a> {
    method: &'a str,
    url: crate::oauth::url::Url,
    headers: HeaderSource<'a>,
    body: &'a [u8],
    content_length: bool,
    keep_alive: bool,
}

/// Header names the writer sets itself; a caller's copy would duplicate or
/// contradict the framing.
const RESERVED: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

fn prepare<'a>(
    method: &'a str,
    url: &str,
    headers: HeaderSource<'a>,
    body: &'a [u8],
    keep_alive: bool,
) -> Result<Prepared<'a>, RawError> {
    if method.is_empty() {
        return Err(RawError::InvalidMethod { offset: 0 });
    }
    if let Some(offset) = method.bytes().position(|b| !is_tchar(b)) {
        return Err(RawError::InvalidMethod { offset });
    }
    if let Some(offset) = url.bytes().position(|b| b <= b' ' || b == 0x7f) {
        return Err(RawError::UrlByte { offset });
    }
    let parsed = crate::oauth::url::Url::parse(url)
        .map_err(|e| RawError::InvalidUrl { reason: e.reason() })?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(RawError::UnsupportedScheme);
    }
    if parsed.has_userinfo() {
        return Err(RawError::UserinfoInUrl);
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(RawError::InvalidUrl { reason: "no host" });
    }
    for (index, (name, value)) in headers.iter().enumerate() {
        if name.is_empty() {
            return Err(RawError::InvalidHeaderName { index, offset: 0 });
        }
        if let Some(offset) = name.bytes().position(|b| !is_tchar(b)) {
            return Err(RawError::InvalidHeaderName { index, offset });
        }
        if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            return Err(RawError::ReservedHeader { index });
        }
        if let Some(offset) = value
            .bytes()
            .position(|b| (b < b' ' && b != b'\t') || b == 0x7f)
        {
            return Err(RawError::InvalidHeaderValue { index, offset });
        }
    }
    // RFC 9110 §8.6: send Content-Length when there is content, or when the method
    // defines a meaning for content (an empty POST still says `Content-Length: 0`,
    // which servers otherwise answer with 411), and not otherwise.
    let expects_body = ["POST", "PUT", "PATCH"]
        .iter()
        .any(|m| method.eq_ignore_ascii_case(m));
    Ok(Prepared {
        method,
        url: parsed,
        headers,
        body,
        content_length: !body.is_empty() || expects_body,
        keep_alive,
    })
}

impl Prepared<'_> {
    /// Write the request through `put`, piece by piece (no allocation). A socket
    /// driver passes a closure that buffers into its scratch space.
    pub(crate) fn emit<E>(&self, put: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let mut digits = [0u8; 20];
        put(self.method.as_bytes())?;
        put(b" ")?;
        let path = self.url.path();
        // http(s) URLs always have a path starting with '/'; keep the target valid
        // even if that ever changed.
        put(if path.is_empty() { "/" } else { path }.as_bytes())?;
        if let Some(query) = self.url.query() {
            put(b"?")?;
            put(query.as_bytes())?;
        }
        put(b" HTTP/1.1\r\nHost: ")?;
        put(self.url.host_str().unwrap_or_default().as_bytes())?;
        // `Url::port` is `None` for the scheme's default port, which Host omits
        // (RFC 9110 §7.2).
        if let Some(port) = self.url.port() {
            put(b":")?;
            put(decimal(u64::from(port), &mut digits))?;
        }
        put(b"\r\n")?;
        for (name, value) in self.headers.iter() {
            put(name.as_bytes())?;
            put(b": ")?;
            put(value.as_bytes())?;
            put(b"\r\n")?;
        }
        if self.content_length {
            put(b"Content-Length: ")?;
            let len = u64::try_from(self.body.len()).unwrap_or(u64::MAX);
            put(decimal(len, &mut digits))?;
            put(b"\r\n")?;
        }
        if !self.keep_alive {
            put(b"Connection: close\r\n")?;
        }
        put(b"\r\n")?;
        put(self.body)
    }
}

/// `n` in decimal ASCII, written at the end of `buf` (20 bytes hold any `u64`).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    while let Some(slot) = start.checked_sub(1).and_then(|i| buf.get_mut(i)) {
        // `n % 10` is below 10, so the cast and the addition cannot overflow.
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or_default()
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ---------------------------------------------------------------------------------
// Reading responses
// ---------------------------------------------------------------------------------

/// The most header fields a response head may have, whatever the options say.
pub const MAX_HEADERS: usize = 64;

/// The longest chunk extension accepted on one chunk-size line, in bytes.
pub const MAX_CHUNK_EXTENSION: usize = 4096;

/// Limits and context for reading a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParseOptions {
    /// Largest response head (status line and header fields) in bytes; also the
    /// largest trailer section. Default 16 KiB.
    pub max_head: usize,
    /// Most header fields in the head (and in the trailer section); at most
    /// [`MAX_HEADERS`]. Default 64.
    pub max_headers: usize,
    /// Largest body in bytes, after removing chunked framing. Default 1 MiB.
    pub max_body: usize,
    /// Most `1xx` interim responses before the final one. Default 16.
    pub max_interim: usize,
    /// The request was `HEAD`: the response has no body whatever its headers say
    /// (RFC 9112 §6.3, rule 1).
    pub head_request: bool,
}

impl ParseOptions {
    /// The defaults: 16 KiB head, 64 header fields, 1 MiB body, 16 interim responses.
    pub const DEFAULT: ParseOptions = ParseOptions {
        max_head: 16 * 1024,
        max_headers: MAX_HEADERS,
        max_body: 1024 * 1024,
        max_interim: 16,
        head_request: false,
    };
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions::DEFAULT
    }
}

/// What [`ResponseParser::feed`] made of the bytes so far.
#[derive(Debug)]
#[must_use]
pub enum Progress {
    /// The response is not complete: feed more bytes, or call
    /// [`ResponseParser::finish`] at end of stream.
    NeedMore,
    /// The final response is complete.
    Done {
        /// The response (interim `1xx` responses are skipped).
        response: Response,
        /// How many bytes of the slice just fed belong to it. Bytes after them are
        /// not part of this response: with `Connection: close` there should be none.
        /// The parser is ready for another response, so a keep-alive host feeds
        /// them back for the next one.
        consumed: usize,
    },
}

/// An incremental HTTP/1.1 response parser (RFC 9112) built on `httparse`.
///
/// Feed bytes as they arrive with [`feed`](ResponseParser::feed); it says
/// [`Progress::NeedMore`] until the final response is complete, then
/// [`Progress::Done`]. At end of stream call [`finish`](ResponseParser::finish),
/// which completes a body delimited by the connection closing (RFC 9112 §6.3,
/// rule 8) or reports what was cut off.
///
/// Memory: the head is buffered (at most `max_head + 1` bytes) and that buffer then
/// becomes the body of the returned [`Response`], so the only allocations are the
/// response's own. Body bytes are copied straight into it; chunk-size lines and
/// trailers are decoded as a stream and never buffered. Trailer fields are checked
/// and discarded (RFC 9112 §7.1.2 allows this).
///
/// After an error the parser is finished: every later call returns the same error.
///
/// ```
/// use bearerflow::http::raw::{Progress, ResponseParser};
///
/// let mut p = ResponseParser::new();
/// let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\
///              Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n0\r\nX-T: 1\r\n\r\n";
/// for piece in wire.chunks(7) {
///     if let Progress::Done { response, .. } = p.feed(piece)? {
///         assert_eq!((response.status, response.body.as_slice()), (200, &b"Wiki"[..]));
///     }
/// }
/// # Ok::<(), bearerflow::http::raw::RawError>(())
/// ```
pub struct ResponseParser {
    opts: ParseOptions,
    state: State,
    /// Head bytes received so far (in the head state).
    buf: Vec<u8>,
    /// Stream offset of `buf[0]` in the head state, of the next byte in the body state.
    offset: usize,
    /// Interim responses skipped for the current response.
    interim: usize,
    failed: Option<RawError>,
}

enum State {
    Head,
    Body {
        response: Response,
        framing: Framing,
    },
}

enum Framing {
    /// `Content-Length` (or no body at all: 0).
    Length {
        remaining: u64,
    },
    Chunked(Chunked),
    /// Read until the connection closes.
    Close,
}

/// Streaming decoder state for `Transfer-Encoding: chunked` (RFC 9112 §7.1).
struct Chunked {
    step: ChunkStep,
    /// Stream offset of the current chunk-size line.
    line_start: usize,
    digits: u8,
    size: u64,
    ext_len: usize,
    trailer_bytes: usize,
    trailer_fields: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ChunkStep {
    /// Hex digits of the chunk size.
    Size,
    /// Whitespace after the size: only `;` may follow (BWS before a chunk-ext).
    SizeWs,
    /// Inside chunk extensions, ignored (RFC 9112 §7.1.1).
    Ext,
    /// Got CR ending the chunk-size line.
    SizeLf,
    /// Chunk data.
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// Start of a trailer line or of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// Got CR of the final empty line.
    EndLf,
}

enum HeadOutcome {
    NeedMore,
    /// A head (interim or final) ended after `used` bytes of the input.
    Next {
        used: usize,
    },
}

impl Default for ResponseParser {
    fn default() -> ResponseParser {
        ResponseParser::new()
    }
}

impl fmt::Debug for ResponseParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Head => "head",
            State::Body {
                framing: Framing::Length { .. },
                ..
            } => "body (content-length)",
            State::Body {
                framing: Framing::Chunked(_),
                ..
            } => "body (chunked)",
            State::Body {
                framing: Framing::Close,
                ..
            } => "body (until close)",
        };
        f.debug_struct("ResponseParser")
            .field("state", &state)
            .field("buffered", &self.buf.len())
            .field("offset", &self.offset)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Drop for ResponseParser {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl ResponseParser {
    /// A parser with [`ParseOptions::DEFAULT`]. Allocates nothing until fed.
    pub const fn new() -> ResponseParser {
        ResponseParser::with_options(ParseOptions::DEFAULT)
    }

    /// A parser with the given limits.
    pub const fn with_options(opts: ParseOptions) -> ResponseParser {
        ResponseParser {
            opts,
            state: State::Head,
            buf: Vec::new(),
            offset: 0,
            interim: 0,
            failed: None,
        }
    }

    /// The options this parser uses.
    pub fn options(&self) -> &ParseOptions {
        &self.opts
    }

    /// Feed the next bytes received.
    ///
    /// Returns [`Progress::Done`] as soon as the final response is complete; bytes of
    /// `bytes` after it are left unconsumed (see `consumed`) and the parser is ready
    /// for the next response.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Progress, RawError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = self.run(bytes, false);
        if let Err(e) = result {
            self.fail(e);
        }
        result
    }

    /// The stream ended (the peer closed the connection).
    ///
    /// Completes a response whose body runs until close; otherwise reports what was
    /// cut off (RFC 9112 §8: an incomplete message is an error, never a response).
    pub fn finish(&mut self) -> Result<Response, RawError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = match self.run(&[], true) {
            Ok(Progress::Done { response, .. }) => Ok(response),
            Ok(Progress::NeedMore) => self.eof(),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.fail(e);
        }
        result
    }

    fn fail(&mut self, e: RawError) {
        self.failed = Some(e);
        // Dropping a partial Response zeroizes its body.
        self.state = State::Head;
        self.buf.zeroize();
    }

    /// End of stream with nothing left to parse in the input.
    fn eof(&mut self) -> Result<Response, RawError> {
        let offset = self.offset;
        match core::mem::replace(&mut self.state, State::Head) {
            State::Head if self.buf.is_empty() && self.interim == 0 => {
                Err(RawError::NoResponse { offset })
            }
            State::Head => Err(RawError::TruncatedHead {
                offset: offset.saturating_add(self.buf.len()),
            }),
            State::Body { response, framing } => match framing {
                Framing::Close => {
                    self.interim = 0;
                    Ok(response)
                }
                Framing::Length { remaining: 0 } => Ok(response),
                Framing::Length { remaining } => Err(RawError::TruncatedBody {
                    offset,
                    missing: remaining,
                }),
                Framing::Chunked(_) => Err(RawError::TruncatedChunked { offset }),
            },
        }
    }

    fn run(&mut self, input: &[u8], eof: bool) -> Result<Progress, RawError> {
        let mut i = 0usize;
        loop {
            let rest = input.get(i..).unwrap_or_default();
            if let State::Head = self.state {
                match self.head_step(rest, eof)? {
                    HeadOutcome::NeedMore => return Ok(Progress::NeedMore),
                    HeadOutcome::Next { used } => i = i.saturating_add(used),
                }
                continue;
            }
            match self.body_step(rest)? {
                None => return Ok(Progress::NeedMore),
                Some(used) => {
                    i = i.saturating_add(used);
                    let State::Body { response, .. } =
                        core::mem::replace(&mut self.state, State::Head)
                    else {
                        // body_step only returns Some in the body state; stay safe anyway.
                        return Ok(Progress::NeedMore);
                    };
                    self.interim = 0;
                    return Ok(Progress::Done {
                        response,
                        consumed: i,
                    });
                }
            }
        }
    }

    /// Buffer head bytes and parse once a head may be complete.
    fn head_step(&mut self, input: &[u8], force: bool) -> Result<HeadOutcome, RawError> {
        let cap = self.opts.max_head;
        let old_len = self.buf.len();
        // Buffer at most one byte past the limit: enough to tell "too large" apart
        // from "complete at exactly the limit", and the same prefix whatever the
        // split of the input, so incremental and one-shot parsing agree.
        let take = cap
            .saturating_add(1)
            .saturating_sub(old_len)
            .min(input.len());
        let new = input.get(..take).unwrap_or_default();
        self.buf.extend_from_slice(new);
        let over = self.buf.len() > cap;
        // A head can only end at a LF, so parse when one arrived; also parse the first
        // bytes (to refuse a non-HTTP peer early), at the limit and at end of stream.
        // This bounds the work to one parse per line, not one per byte.
        if !(force || over || old_len < 8 || new.contains(&b'\n')) {
            return Ok(HeadOutcome::NeedMore);
        }
        let limit = self.opts.max_headers.min(MAX_HEADERS);
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let slots = slots.get_mut(..limit).unwrap_or_default();
        let mut head = httparse::Response::new(slots);
        let start = self.offset;
        let n = match parser_config().parse_response(&mut head, &self.buf) {
            Ok(httparse::Status::Complete(n)) if n <= cap => n,
            Ok(httparse::Status::Complete(_)) => {
                return Err(RawError::HeadTooLarge {
                    limit: cap,
                    offset: start.saturating_add(cap),
                })
            }
            Ok(httparse::Status::Partial) if over => {
                return Err(RawError::HeadTooLarge {
                    limit: cap,
                    offset: start.saturating_add(cap),
                })
            }
            Ok(httparse::Status::Partial) => return Ok(HeadOutcome::NeedMore),
            Err(e) => {
                let offset = start.saturating_add(locate_error(&self.buf, limit));
                return Err(match e {
                    httparse::Error::TooManyHeaders => RawError::TooManyHeaders { limit, offset },
                    other => RawError::MalformedHead {
                        fault: HeadFault::from_httparse(other),
                        offset,
                    },
                });
            }
        };
        // The head ends inside the bytes just added (see above), so `n > old_len`.
        let used = n.saturating_sub(old_len);
        let status = head.code.unwrap_or(0);
        let lead = self
            .buf
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(0);
        // "HTTP/1.x " is 9 bytes: the status code follows.
        let status_at = start.saturating_add(lead).saturating_add(9);
        if !(100..=599).contains(&status) {
            return Err(RawError::InvalidStatus {
                status,
                offset: status_at,
            });
        }
        if status == 101 {
            return Err(RawError::SwitchingProtocols { offset: status_at });
        }
        if status < 200 {
            // RFC 9110 §15.2: interim responses carry no body; the final response follows.
            self.interim = self.interim.saturating_add(1);
            if self.interim > self.opts.max_interim {
                return Err(RawError::TooManyInterim {
                    limit: self.opts.max_interim,
                    offset: start,
                });
            }
            self.buf.zeroize();
            self.offset = start.saturating_add(n);
            return Ok(HeadOutcome::Next { used });
        }
        let version = head.version.unwrap_or(1);
        let framing = framing(
            &self.opts,
            status,
            version,
            head.headers,
            &self.buf,
            start,
            n,
        )?;
        let headers = head
            .headers
            .iter()
            .map(|h| (String::from(h.name), field_value(h.value)))
            .collect();
        // The head buffer becomes the body buffer: no further allocation.
        let mut body = core::mem::take(&mut self.buf);
        body.zeroize();
        self.offset = start.saturating_add(n);
        self.state = State::Body {
            response: Response {
                status,
                headers,
                body,
            },
            framing,
        };
        Ok(HeadOutcome::Next { used })
    }

    /// Consume body bytes; `Some(used)` when the body ended after `used` bytes.
    fn body_step(&mut self, input: &[u8]) -> Result<Option<usize>, RawError> {
        let State::Body { response, framing } = &mut self.state else {
            return Ok(None);
        };
        let base = self.offset;
        let max_body = self.opts.max_body;
        let (done, used) = match framing {
            Framing::Length { remaining } => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                response
                    .body
                    .extend_from_slice(input.get(..n).unwrap_or_default());
                // n <= remaining, so this cannot underflow.
                *remaining = remaining.saturating_sub(n as u64);
                (*remaining == 0, n)
            }
            Framing::Close => {
                let room = max_body.saturating_sub(response.body.len());
                if input.len() > room {
                    return Err(RawError::BodyTooLarge {
                        limit: max_body,
                        offset: base.saturating_add(room),
                    });
                }
                response.body.extend_from_slice(input);
                (false, input.len())
            }
            Framing::Chunked(c) => match c.step(&mut response.body, input, base, &self.opts)? {
                Some(n) => (true, n),
                None => (false, input.len()),
            },
        };
        self.offset = base.saturating_add(used);
        Ok(done.then_some(used))
    }
}

impl Chunked {
    fn new(line_start: usize) -> Chunked {
        Chunked {
            step: ChunkStep::Size,
            line_start,
            digits: 0,
            size: 0,
            ext_len: 0,
            trailer_bytes: 0,
            trailer_fields: 0,
        }
    }

    /// Decode `input` (which starts at stream offset `base`) into `body`; `Some(n)`
    /// when the message ended after `n` bytes.
    fn step(
        &mut self,
        body: &mut Vec<u8>,
        input: &[u8],
        base: usize,
        opts: &ParseOptions,
    ) -> Result<Option<usize>, RawError> {
        let mut i = 0usize;
        while let Some(&b) = input.get(i) {
            let at = base.saturating_add(i);
            if let ChunkStep::Data { remaining } = self.step {
                let avail = input.len().saturating_sub(i);
                let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(avail);
                body.extend_from_slice(input.get(i..i.saturating_add(n)).unwrap_or_default());
                i = i.saturating_add(n);
                // n <= remaining.
                let remaining = remaining.saturating_sub(n as u64);
                self.step = if remaining == 0 {
                    ChunkStep::DataCr
                } else {
                    ChunkStep::Data { remaining }
                };
                continue;
            }
            i += 1;
            let crlf_err = RawError::ExpectedCrlf { offset: at };
            self.step = match self.step {
                ChunkStep::Size => match hex_value(b) {
                    Some(d) => {
                        // 16 hex digits fill a u64; more can only be leading zeros or
                        // an overflow, both refused.
                        if self.digits >= 16 {
                            return Err(RawError::InvalidChunkSize { offset: at });
                        }
                        self.digits += 1;
                        self.size = (self.size << 4) | u64::from(d);
                        ChunkStep::Size
                    }
                    None if self.digits == 0 => {
                        return Err(RawError::InvalidChunkSize { offset: at })
                    }
                    None => match b {
                        b' ' | b'\t' => ChunkStep::SizeWs,
                        b';' => ChunkStep::Ext,
                        b'\r' => ChunkStep::SizeLf,
                        b'\n' => return Err(crlf_err),
                        _ => return Err(RawError::InvalidChunkSize { offset: at }),
                    },
                },
                ChunkStep::SizeWs => match b {
                    b' ' | b'\t' => ChunkStep::SizeWs,
                    b';' => ChunkStep::Ext,
                    _ => return Err(RawError::InvalidChunkSize { offset: at }),
                },
                ChunkStep::Ext => match b {
                    b'\r' => ChunkStep::SizeLf,
                    b'\n' => return Err(crlf_err),
                    b if (b < b' ' && b != b'\t') || b == 0x7f => {
                        return Err(RawError::InvalidChunkSize { offset: at })
                    }
                    _ => {
                        self.ext_len += 1;
                        if self.ext_len > MAX_CHUNK_EXTENSION {
                            return Err(RawError::ChunkExtensionTooLong {
                                limit: MAX_CHUNK_EXTENSION,
                                offset: at,
                            });
                        }
                        ChunkStep::Ext
                    }
                },
                ChunkStep::SizeLf => {
                    if b != b'\n' {
                        return Err(crlf_err);
                    }
                    let size = self.size;
                    self.size = 0;
                    self.digits = 0;
                    self.ext_len = 0;
                    if size == 0 {
                        ChunkStep::TrailerStart
                    } else {
                        let room = opts.max_body.saturating_sub(body.len());
                        if size > u64::try_from(room).unwrap_or(u64::MAX) {
                            return Err(RawError::BodyTooLarge {
                                limit: opts.max_body,
                                offset: self.line_start,
                            });
                        }
                        ChunkStep::Data { remaining: size }
                    }
                }
                // Handled before the match; kept for exhaustiveness.
                ChunkStep::Data { remaining } => ChunkStep::Data { remaining },
                ChunkStep::DataCr if b == b'\r' => ChunkStep::DataLf,
                ChunkStep::DataCr => return Err(crlf_err),
                ChunkStep::DataLf if b == b'\n' => {
                    self.line_start = at.saturating_add(1);
                    ChunkStep::Size
                }
                ChunkStep::DataLf => return Err(crlf_err),
                ChunkStep::TrailerStart
                | ChunkStep::TrailerName
                | ChunkStep::TrailerValue
                | ChunkStep::TrailerLf
                | ChunkStep::EndLf => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > opts.max_head {
                        return Err(RawError::TrailersTooLarge {
                            limit: opts.max_head,
                            offset: at,
                        });
                    }
                    match self.trailer(b, at, opts)? {
                        Some(next) => next,
                        None => return Ok(Some(i)),
                    }
                }
            };
        }
        Ok(None)
    }

    /// One byte of the trailer section (RFC 9112 §7.1.2: field lines, then CRLF).
    /// `None` when the message ended.
    fn trailer(
        &mut self,
        b: u8,
        at: usize,
        opts: &ParseOptions,
    ) -> Result<Option<ChunkStep>, RawError> {
        let bad = RawError::InvalidTrailer { offset: at };
        let crlf_err = RawError::ExpectedCrlf { offset: at };
        Ok(Some(match self.step {
            ChunkStep::TrailerStart => match b {
                b'\r' => ChunkStep::EndLf,
                b'\n' => return Err(crlf_err),
                b if is_tchar(b) => {
                    self.trailer_fields += 1;
                    let limit = opts.max_headers.min(MAX_HEADERS);
                    if self.trailer_fields > limit {
                        return Err(RawError::TooManyHeaders { limit, offset: at });
                    }
                    ChunkStep::TrailerName
                }
                _ => return Err(bad),
            },
            ChunkStep::TrailerName => match b {
                b':' => ChunkStep::TrailerValue,
                b if is_tchar(b) => ChunkStep::TrailerName,
                _ => return Err(bad),
            },
            ChunkStep::TrailerValue => match b {
                b'\r' => ChunkStep::TrailerLf,
                b'\n' => return Err(crlf_err),
                b if (b < b' ' && b != b'\t') || b == 0x7f => return Err(bad),
                _ => ChunkStep::TrailerValue,
            },
            ChunkStep::TrailerLf if b == b'\n' => ChunkStep::TrailerStart,
            ChunkStep::EndLf if b == b'\n' => return Ok(None),
            _ => return Err(crlf_err),
        }))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn parser_config() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    // RFC 9112 §5.2: a user agent must accept obs-fold in responses and replace it
    // with spaces (done in `field_value`).
    config.allow_obsolete_multiline_headers_in_responses(true);
    config
}

/// Index of the byte at which httparse first fails on `buf` (which it rejects).
///
/// httparse reports what failed but not where. It parses left to right and answers
/// `Partial` for a valid prefix, so the shortest failing prefix ends at the
/// offending byte: find it by bisection (at most ~15 parses of the bounded head,
/// and only on the error path).
fn locate_error(buf: &[u8], limit: usize) -> usize {
    let fails = |len: usize| {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let slots = slots.get_mut(..limit).unwrap_or_default();
        let prefix = buf.get(..len).unwrap_or(buf);
        parser_config()
            .parse_response(&mut httparse::Response::new(slots), prefix)
            .is_err()
    };
    // Invariant: the prefix of length `ok` parses (or is partial), that of `bad` fails.
    let (mut ok, mut bad) = (0usize, buf.len());
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if fails(mid) {
            bad = mid;
        } else {
            ok = mid;
        }
    }
    bad.saturating_sub(1)
}

/// Byte offset of `part` inside `whole` (a sub-slice httparse returned).
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

/// A field value as text: UTF-8 as is, anything else decoded as ISO-8859-1 (the
/// historical field charset, RFC 9110 §5.5), which never fails and loses nothing.
/// Line breaks left by obs-fold become spaces (RFC 9112 §5.2).
fn field_value(v: &[u8]) -> String {
    let unfold = |c: char| if c == '\r' || c == '\n' { ' ' } else { c };
    match core::str::from_utf8(v) {
        Ok(s) => s.chars().map(unfold).collect(),
        Err(_) => v.iter().map(|&b| unfold(char::from(b))).collect(),
    }
}

/// Trim optional whitespace (RFC 9110 §5.6.3) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Decide how the body of a final response is delimited (RFC 9112 §6.3).
fn framing(
    opts: &ParseOptions,
    status: u16,
    version: u8,
    headers: &[httparse::Header<'_>],
    buf: &[u8],
    start: usize,
    head_len: usize,
) -> Result<Framing, RawError> {
    // Rule 1: no body for HEAD, 204 and 304, whatever the headers say.
    if opts.head_request || status == 204 || status == 304 {
        return Ok(Framing::Length { remaining: 0 });
    }
    let mut te_at: Option<usize> = None;
    let mut chunked = false;
    let mut length: Option<(u64, usize)> = None;
    for h in headers {
        let at = start.saturating_add(offset_in(buf, h.value));
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_at = Some(at);
            for coding in h.value.split(|b| *b == b',').map(trim_ows) {
                if coding.is_empty() {
                    continue;
                }
                // chunked must be applied once, and last (RFC 9112 §6.1); no other
                // coding is ever offered by this client.
                if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(RawError::UnsupportedTransferCoding { offset: at });
                }
                chunked = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // Rule 5: a list of identical values counts as one value.
            for value in h.value.split(|b| *b == b',').map(trim_ows) {
                let n =
                    parse_decimal(value).ok_or(RawError::InvalidContentLength { offset: at })?;
                match length {
                    Some((prev, _)) if prev != n => {
                        return Err(RawError::ConflictingContentLength { offset: at })
                    }
                    _ => length = Some((n, at)),
                }
            }
        }
    }
    if let Some(te) = te_at {
        if version == 0 {
            return Err(RawError::TransferEncodingInHttp10 { offset: te });
        }
        if let Some((_, cl)) = length {
            return Err(RawError::ContentLengthWithTransferEncoding { offset: te.max(cl) });
        }
        if !chunked {
            return Err(RawError::UnsupportedTransferCoding { offset: te });
        }
        return Ok(Framing::Chunked(Chunked::new(
            start.saturating_add(head_len),
        )));
    }
    if let Some((n, at)) = length {
        if n > u64::try_from(opts.max_body).unwrap_or(u64::MAX) {
            return Err(RawError::BodyTooLarge {
                limit: opts.max_body,
                offset: at,
            });
        }
        return Ok(Framing::Length { remaining: n });
    }
    // Rule 8: no framing headers, the body runs until the connection closes.
    Ok(Framing::Close)
}

/// Parse a buffer holding one complete response (the whole stream up to the
/// connection closing), with [`ParseOptions::DEFAULT`].
///
/// A body delimited by close is taken to end at the end of `bytes`. Bytes after the
/// end of a response framed by `Content-Length` or chunked are an error
/// ([`RawError::TrailingData`]).
///
/// ```
/// use bearerflow::http::raw::{parse_response, RawError};
///
/// let r = parse_response(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n\
///                          Content-Length: 0\r\n\r\n")?;
/// assert_eq!(r.status, 401);
/// assert_eq!(r.header("www-authenticate"), Some("Bearer"));
/// assert_eq!(
///     parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"),
///     Err(RawError::TruncatedBody { offset: 40, missing: 3 })
/// );
/// # Ok::<(), RawError>(())
/// ```
pub fn parse_response(bytes: &[u8]) -> Result<Response, RawError> {
    parse_response_with(bytes, ParseOptions::DEFAULT)
}

/// [`parse_response`] with the given options.
pub fn parse_response_with(bytes: &[u8], opts: ParseOptions) -> Result<Response, RawError> {
    let mut parser = ResponseParser::with_options(opts);
    match parser.feed(bytes)? {
        Progress::Done { response, consumed } if consumed == bytes.len() => Ok(response),
        Progress::Done { consumed, .. } => Err(RawError::TrailingData { offset: consumed }),
        Progress::NeedMore => parser.finish(),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::http::{Header, Method};
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    /// Feed `data` cut at `cuts` (sorted, clamped), following the contract of
    /// [`parse_response`]: what one-shot parsing must agree with.
    fn in_pieces(data: &[u8], cuts: &[usize], opts: ParseOptions) -> Result<Response, RawError> {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| (*c).min(data.len())).collect();
        bounds.sort_unstable();
        bounds.push(data.len());
        let mut parser = ResponseParser::with_options(opts);
        let mut start = 0;
        for end in bounds {
            let piece = &data[start..end];
            if let Progress::Done { response, consumed } = parser.feed(piece)? {
                let end_of_response = start + consumed;
                if end_of_response < data.len() {
                    return Err(RawError::TrailingData {
                        offset: end_of_response,
                    });
                }
                return Ok(response);
            }
            start = end;
        }
        parser.finish()
    }

    fn every_split_agrees(data: &[u8]) -> Result<Response, RawError> {
        let whole = parse_response(data);
        for cut in 0..=data.len() {
            assert_eq!(
                in_pieces(data, &[cut], ParseOptions::DEFAULT),
                whole,
                "cut at {cut}"
            );
        }
        let bytewise: Vec<usize> = (0..data.len()).collect();
        assert_eq!(
            in_pieces(data, &bytewise, ParseOptions::DEFAULT),
            whole,
            "byte by byte"
        );
        whole
    }

    fn ok(data: &[u8]) -> Response {
        match every_split_agrees(data) {
            Ok(r) => r,
            Err(e) => panic!("unexpected error {e:?}: {e}"),
        }
    }

    fn err(data: &[u8]) -> RawError {
        match every_split_agrees(data) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => {
                // Display must not be empty and must name the offset when there is one.
                assert!(!e.to_string().is_empty());
                e
            }
        }
    }

    // ----- writing -----

    fn written(req: &Request) -> String {
        let mut out = Vec::new();
        write_request(req, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn get_with_query_and_default_port() {
        let req = Request::get_json("https://as.example.com/.well-known/x?a=1&b=%20#frag");
        assert_eq!(
            written(&req),
            "GET /.well-known/x?a=1&b=%20 HTTP/1.1\r\nHost: as.example.com\r\n\
             Accept: application/json\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn host_carries_non_default_port_only() {
        let req = Request::get_json("http://127.0.0.1:8080/");
        assert!(written(&req).contains("\r\nHost: 127.0.0.1:8080\r\n"));
        let req = Request::get_json("http://example.com:80/a");
        assert!(written(&req).contains("\r\nHost: example.com\r\n"));
        let req = Request::get_json("https://example.com:80/a");
        assert!(written(&req).contains("\r\nHost: example.com:80\r\n"));
        let req = Request::get_json("http://[::1]:9000");
        let text = written(&req);
        assert!(
            text.starts_with("GET / HTTP/1.1\r\nHost: [::1]:9000\r\n"),
            "{text}"
        );
    }

    #[test]
    fn post_body_gets_content_length() {
        let req = Request {
            method: Method::Post,
            url: "https://as.example.com/token".into(),
            headers: vec![Header::new(
                "Content-Type",
                "application/x-www-form-urlencoded",
            )],
            body: b"grant_type=refresh_token&refresh_token=r".to_vec(),
        };
        let text = written(&req);
        assert!(text.starts_with("POST /token HTTP/1.1\r\nHost: as.example.com\r\n"));
        assert!(text.contains("\r\nContent-Length: 40\r\n"));
        assert!(text.ends_with("\r\n\r\ngrant_type=refresh_token&refresh_token=r"));
        // An empty POST still announces its (zero) length; an empty GET does not.
        let mut out = Vec::new();
        write_request_parts("POST", "http://h/", &[], b"", &mut out).unwrap();
        assert!(out.windows(19).any(|w| w == b"Content-Length: 0\r\n"));
        out.clear();
        write_request_parts("GET", "http://h/", &[], b"", &mut out).unwrap();
        assert!(!out.windows(15).any(|w| w == b"Content-Length:"));
    }

    #[test]
    fn keep_alive_omits_connection_close() {
        let mut out = Vec::new();
        RequestWriter { keep_alive: true }
            .write(&Request::get_json("http://h/x"), &mut out)
            .unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("Connection"));
    }

    #[test]
    fn header_injection_is_refused() {
        for (value, offset) in [
            ("a\r\nX: y", 1),
            ("ab\n", 2),
            ("\0", 0),
            ("x\ry", 1),
            ("\x7f", 0),
        ] {
            let mut req = Request::get_json("http://h/");
            req.headers.push(Header::new("Authorization", value));
            let mut out = b"keep".to_vec();
            let e = write_request(&req, &mut out).unwrap_err();
            assert_eq!(e, RawError::InvalidHeaderValue { index: 1, offset });
            assert_eq!(out, b"keep", "output untouched on error");
            // The value (a credential) never shows in the error.
            assert!(!format!("{e} {e:?}").contains(value));
        }
        // Tabs and non-ASCII (obs-text) are legal in values.
        let mut out = Vec::new();
        write_request_parts("GET", "http://h/", &[("X", "a\tb é")], b"", &mut out).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            write_request_parts(
                "GET",
                "http://h/",
                &[("X-A", "1"), ("Bad Name", "v")],
                b"",
                &mut out
            ),
            Err(RawError::InvalidHeaderName {
                index: 1,
                offset: 3
            })
        );
        assert_eq!(
            write_request_parts("GET", "http://h/", &[("X:Y", "v")], b"", &mut out),
            Err(RawError::InvalidHeaderName {
                index: 0,
                offset: 1
            })
        );
        assert_eq!(
            write_request_parts("GET", "http://h/", &[("", "v")], b"", &mut out),
            Err(RawError::InvalidHeaderName {
                index: 0,
                offset: 0
            })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn reserved_headers_are_refused() {
        for name in ["Host", "content-length", "Transfer-Encoding", "CONNECTION"] {
            let mut out = Vec::new();
            assert_eq!(
                write_request_parts(
                    "GET",
                    "http://h/",
                    &[("A", "b"), (name, "x")],
                    b"",
                    &mut out
                ),
                Err(RawError::ReservedHeader { index: 1 })
            );
        }
    }

    #[test]
    fn bad_urls_and_methods_are_refused() {
        let mut out = Vec::new();
        let mut w = |m: &str, u: &str| write_request_parts(m, u, &[], b"", &mut out);
        assert_eq!(w("GET", "ftp://h/"), Err(RawError::UnsupportedScheme));
        assert_eq!(
            w("GET", "file:///etc/passwd"),
            Err(RawError::UnsupportedScheme)
        );
        assert_eq!(w("GET", "http://user:pw@h/"), Err(RawError::UserinfoInUrl));
        assert_eq!(w("GET", "http://user@h/"), Err(RawError::UserinfoInUrl));
        assert_eq!(
            w("GET", "/relative"),
            Err(RawError::InvalidUrl {
                reason: "not an absolute URL"
            })
        );
        assert_eq!(
            w("GET", "http://h:99999/"),
            Err(RawError::InvalidUrl {
                reason: "invalid port number"
            })
        );
        assert_eq!(
            w("GET", "http://h/a\r\nX: y"),
            Err(RawError::UrlByte { offset: 10 })
        );
        assert_eq!(
            w("GET", "http://h/a b"),
            Err(RawError::UrlByte { offset: 10 })
        );
        assert_eq!(
            w("GE T", "http://h/"),
            Err(RawError::InvalidMethod { offset: 2 })
        );
        assert_eq!(
            w("", "http://h/"),
            Err(RawError::InvalidMethod { offset: 0 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn written_request_parses_back() {
        let mut out = Vec::new();
        write_request_parts(
            "DELETE",
            "http://mcp.local:3000/mcp?session=1",
            &[("Authorization", "Bearer t"), ("Mcp-Session-Id", "abc")],
            b"xyz",
            &mut out,
        )
        .unwrap();
        let mut slots = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut slots);
        let n = req.parse(&out).unwrap();
        assert_eq!(n, httparse::Status::Complete(out.len() - 3));
        assert_eq!(req.method, Some("DELETE"));
        assert_eq!(req.path, Some("/mcp?session=1"));
        let names: Vec<&str> = req.headers.iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            [
                "Host",
                "Authorization",
                "Mcp-Session-Id",
                "Content-Length",
                "Connection"
            ]
        );
        assert_eq!(req.headers[0].value, b"mcp.local:3000");
    }

    #[test]
    fn decimal_digits() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(80, &mut buf), b"80");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }

    // ----- reading: framing -----

    #[test]
    fn content_length_body() {
        let r = ok(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\":\"token\"}");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"a\":\"token\"}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.headers,
            vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("Content-Length".to_string(), "13".to_string())
            ]
        );
        // Identical repeated values are one value (RFC 9112 §6.3 rule 5).
        let r = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(r.body, b"hi");
        let r = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(r.body.is_empty());
    }

    #[test]
    fn content_length_errors() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: ";
        let at = head.len();
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
            RawError::ConflictingContentLength { offset: 52 }
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd"),
            RawError::ConflictingContentLength { offset: at }
        );
        for bad in [
            &b"-1"[..],
            b"0x10",
            b"1 2",
            b"",
            b"99999999999999999999999",
            b"3,",
        ] {
            let mut data = head.to_vec();
            data.extend_from_slice(bad);
            data.extend_from_slice(b"\r\n\r\nabc");
            assert_eq!(
                err(&data),
                RawError::InvalidContentLength { offset: at },
                "{bad:?}"
            );
        }
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"),
            RawError::TruncatedBody {
                offset: 40,
                missing: 3
            }
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc"),
            RawError::TrailingData { offset: 40 }
        );
    }

    #[test]
    fn content_length_with_chunked_is_refused() {
        let e = err(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(
            e,
            RawError::ContentLengthWithTransferEncoding { offset: 55 }
        );
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(
            e,
            RawError::ContentLengthWithTransferEncoding { offset: 61 }
        );
    }

    #[test]
    fn transfer_coding_errors() {
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            RawError::UnsupportedTransferCoding { offset: 36 }
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            RawError::UnsupportedTransferCoding { offset: 36 }
        );
        assert_eq!(
            err(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"
            ),
            RawError::UnsupportedTransferCoding { offset: 64 }
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n"),
            RawError::UnsupportedTransferCoding { offset: 35 }
        );
        assert_eq!(
            err(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            RawError::TransferEncodingInHttp10 { offset: 36 }
        );
        // Split over two lines and in any case is still one chunked.
        let r = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n");
        assert!(r.body.is_empty());
    }

    #[test]
    fn chunked_several_chunks_extensions_trailers() {
        let r = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4\r\nWiki\r\n\
            5;name=value;q=\"quoted ; \\\" str\"\r\npedia\r\n\
            e ; last\r\n in\r\n\r\nchunks.\r\n\
            0\r\nExpires: never\r\nX-Sig:\tabc \r\n\r\n");
        assert_eq!(r.body, b"Wikipedia in\r\n\r\nchunks.");
        // Trailers are checked and discarded, never merged into the headers.
        assert_eq!(r.header("expires"), None);
        assert_eq!(r.headers.len(), 1);
    }

    #[test]
    fn chunked_hex_sizes() {
        let mut data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n".to_vec();
        data.extend_from_slice(&[b'x'; 26]);
        data.extend_from_slice(b"\r\n1A\r\n");
        data.extend_from_slice(&[b'y'; 26]);
        data.extend_from_slice(b"\r\n000\r\n\r\n");
        let r = ok(&data);
        assert_eq!(r.body.len(), 52);
        assert_eq!(&r.body[..26], &[b'x'; 26]);
    }

    #[test]
    fn chunked_errors() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let h = head.len();
        let case = |body: &[u8]| {
            let mut d = head.to_vec();
            d.extend_from_slice(body);
            err(&d)
        };
        assert_eq!(case(b"g\r\n"), RawError::InvalidChunkSize { offset: h });
        assert_eq!(
            case(b"1g\r\nx\r\n0\r\n\r\n"),
            RawError::InvalidChunkSize { offset: h + 1 }
        );
        assert_eq!(case(b"\r\n"), RawError::InvalidChunkSize { offset: h });
        assert_eq!(case(b";ext\r\n"), RawError::InvalidChunkSize { offset: h });
        assert_eq!(case(b"-1\r\n"), RawError::InvalidChunkSize { offset: h });
        assert_eq!(
            case(b"1 2\r\n"),
            RawError::InvalidChunkSize { offset: h + 2 }
        );
        assert_eq!(
            case(b"10000000000000000\r\n"),
            RawError::InvalidChunkSize { offset: h + 16 }
        );
        // Missing CRLF: bare LF, or data longer than announced.
        assert_eq!(
            case(b"3\nabc\r\n0\r\n\r\n"),
            RawError::ExpectedCrlf { offset: h + 1 }
        );
        assert_eq!(
            case(b"3\r\nabcd\r\n0\r\n\r\n"),
            RawError::ExpectedCrlf { offset: h + 6 }
        );
        assert_eq!(
            case(b"3\r\nabc\n0\r\n\r\n"),
            RawError::ExpectedCrlf { offset: h + 6 }
        );
        assert_eq!(
            case(b"3\r\nabc\r0\r\n\r\n"),
            RawError::ExpectedCrlf { offset: h + 7 }
        );
        assert_eq!(case(b"3\rabc"), RawError::ExpectedCrlf { offset: h + 2 });
        assert_eq!(case(b"0\r\n\n"), RawError::ExpectedCrlf { offset: h + 3 });
        assert_eq!(case(b"0\r\n\r\r"), RawError::ExpectedCrlf { offset: h + 4 });
        assert_eq!(
            case(b"1;a\x01\r\n"),
            RawError::InvalidChunkSize { offset: h + 3 }
        );
        // Trailers.
        assert_eq!(
            case(b"0\r\nBad Name: x\r\n\r\n"),
            RawError::InvalidTrailer { offset: h + 6 }
        );
        assert_eq!(
            case(b"0\r\n folded\r\n\r\n"),
            RawError::InvalidTrailer { offset: h + 3 }
        );
        assert_eq!(
            case(b"0\r\nA: b\0\r\n\r\n"),
            RawError::InvalidTrailer { offset: h + 7 }
        );
        assert_eq!(
            case(b"0\r\nA: b\nc\r\n\r\n"),
            RawError::ExpectedCrlf { offset: h + 7 }
        );
        // Truncation.
        assert_eq!(
            case(b"5\r\nab"),
            RawError::TruncatedChunked { offset: h + 5 }
        );
        assert_eq!(case(b"0\r\n"), RawError::TruncatedChunked { offset: h + 3 });
        assert_eq!(
            case(b"0\r\n\r\nextra"),
            RawError::TrailingData { offset: h + 5 }
        );
    }

    #[test]
    fn chunk_extension_is_capped() {
        let mut d = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
        let ext_start = d.len();
        d.extend(core::iter::repeat_n(b'a', MAX_CHUNK_EXTENSION + 10));
        d.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(
            parse_response(&d),
            Err(RawError::ChunkExtensionTooLong {
                limit: MAX_CHUNK_EXTENSION,
                offset: ext_start + MAX_CHUNK_EXTENSION
            })
        );
    }

    #[test]
    fn close_delimited_body() {
        let r = ok(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\r\n\r\n");
        assert_eq!(r.body, b"until the end\r\n\r\n");
        let r = ok(b"HTTP/1.0 200 OK\r\n\r\n");
        assert!(r.body.is_empty());
        // The parser alone never finishes such a body before the stream ends.
        let mut p = ResponseParser::new();
        assert!(matches!(
            p.feed(b"HTTP/1.1 200 OK\r\n\r\nabc").unwrap(),
            Progress::NeedMore
        ));
        assert!(matches!(p.feed(b"def").unwrap(), Progress::NeedMore));
        assert_eq!(p.finish().unwrap().body, b"abcdef");
    }

    #[test]
    fn no_body_statuses() {
        let r = ok(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
        assert_eq!((r.status, r.body.len()), (204, 0));
        let r = ok(b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(r.status, 304);
        let opts = ParseOptions {
            head_request: true,
            ..ParseOptions::DEFAULT
        };
        let r =
            parse_response_with(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", opts).unwrap();
        assert!(r.body.is_empty());
    }

    #[test]
    fn interim_responses_are_skipped() {
        let data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n\
            HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\n\
            Content-Length: 0\r\n\r\n";
        let r = ok(data);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("link"), None);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        assert_eq!(
            err(b"HTTP/1.1 100 Continue\r\n\r\n"),
            RawError::TruncatedHead { offset: 25 }
        );
        assert_eq!(
            err(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
            RawError::SwitchingProtocols { offset: 9 }
        );
        let mut many = Vec::new();
        for _ in 0..17 {
            many.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        many.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            err(&many),
            RawError::TooManyInterim {
                limit: 16,
                offset: 16 * 25
            }
        );
    }

    #[test]
    fn keep_alive_stream_of_two_responses() {
        let data = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let mut p = ResponseParser::new();
        let Progress::Done { response, consumed } = p.feed(data).unwrap() else {
            panic!()
        };
        assert_eq!((response.status, consumed), (200, 39));
        let Progress::Done { response, consumed } = p.feed(&data[consumed..]).unwrap() else {
            panic!()
        };
        assert_eq!((response.status, consumed), (404, data.len() - 39));
        assert_eq!(p.finish(), Err(RawError::NoResponse { offset: data.len() }));
    }

    // ----- reading: head -----

    #[test]
    fn malformed_heads_name_the_byte() {
        assert_eq!(
            err(b"SSH-2.0-OpenSSH\r\n"),
            RawError::MalformedHead {
                fault: HeadFault::Version,
                offset: 0
            }
        );
        assert_eq!(
            err(b"HTTP/2 200 OK\r\n\r\n"),
            RawError::MalformedHead {
                fault: HeadFault::Version,
                offset: 5
            }
        );
        assert_eq!(
            err(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            RawError::MalformedHead {
                fault: HeadFault::Status,
                offset: 10
            }
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"),
            RawError::MalformedHead {
                fault: HeadFault::HeaderName,
                offset: 20
            }
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n"),
            RawError::MalformedHead {
                fault: HeadFault::HeaderValue,
                offset: 21
            }
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\rX"),
            RawError::MalformedHead {
                fault: HeadFault::Status,
                offset: 16
            }
        );
        assert_eq!(
            err(b"HTTP/1.1 099 Odd\r\n\r\n"),
            RawError::InvalidStatus {
                status: 99,
                offset: 9
            }
        );
        assert_eq!(
            err(b"\r\nHTTP/1.1 600 Odd\r\n\r\n"),
            RawError::InvalidStatus {
                status: 600,
                offset: 11
            }
        );
    }

    #[test]
    fn head_variants_accepted() {
        // Bare LF line endings, no reason phrase, obs-fold (unfolded to spaces),
        // Latin-1 bytes decoded losslessly, leading empty lines.
        let r =
            ok(b"\r\nHTTP/1.1 200\nA: one\n  two\nB: caf\xe9\nC: \xc3\xa9\nContent-Length: 0\n\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("a"), Some("one   two"));
        assert_eq!(r.header("b"), Some("café"));
        assert_eq!(r.header("c"), Some("é"));
    }

    #[test]
    fn too_many_headers() {
        let mut data = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..64 {
            data.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut ok_data = data.clone();
        ok_data.extend_from_slice(b"\r\n");
        assert_eq!(parse_response(&ok_data).unwrap().headers.len(), 64);
        data.extend_from_slice(b"X-64: v\r\n\r\n");
        let e = parse_response(&data).unwrap_err();
        assert_eq!(
            e,
            RawError::TooManyHeaders {
                limit: 64,
                offset: data.len() - 2
            }
        );
        assert_eq!(
            in_pieces(&data, &[100, 200, 300], ParseOptions::DEFAULT),
            Err(e)
        );
        let opts = ParseOptions {
            max_headers: 2,
            ..ParseOptions::DEFAULT
        };
        assert!(matches!(
            parse_response_with(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", opts),
            Err(RawError::TooManyHeaders { limit: 2, .. })
        ));
        let mut trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
        trailers.extend_from_slice(b"A: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        assert!(matches!(
            parse_response_with(&trailers, opts),
            Err(RawError::TooManyHeaders { limit: 2, .. })
        ));
    }

    #[test]
    fn oversize_head_and_body() {
        let mut data = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        data.extend(core::iter::repeat_n(b'a', 20_000));
        data.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_response(&data),
            Err(RawError::HeadTooLarge {
                limit: 16384,
                offset: 16384
            })
        );
        assert_eq!(
            in_pieces(&data, &[5, 9000, 16384, 16385], ParseOptions::DEFAULT),
            Err(RawError::HeadTooLarge {
                limit: 16384,
                offset: 16384
            })
        );
        // A head of exactly the limit is fine.
        let opts = ParseOptions {
            max_head: 38,
            max_body: 4,
            ..ParseOptions::DEFAULT
        };
        let exact = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
        assert_eq!(parse_response_with(exact, opts).unwrap().body, b"body");
        let small = ParseOptions {
            max_head: 37,
            ..opts
        };
        assert_eq!(
            parse_response_with(exact, small),
            Err(RawError::HeadTooLarge {
                limit: 37,
                offset: 37
            })
        );

        // Body limits, for each framing.
        let too_long = ParseOptions {
            max_body: 3,
            ..ParseOptions::DEFAULT
        };
        assert_eq!(
            parse_response_with(exact, too_long),
            Err(RawError::BodyTooLarge {
                limit: 3,
                offset: 33
            })
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
        assert_eq!(
            parse_response_with(chunked, too_long),
            Err(RawError::BodyTooLarge {
                limit: 3,
                offset: 54
            })
        );
        let close = b"HTTP/1.1 200 OK\r\n\r\nabcdef";
        assert_eq!(
            parse_response_with(close, too_long),
            Err(RawError::BodyTooLarge {
                limit: 3,
                offset: 22
            })
        );
        assert_eq!(
            in_pieces(close, &[20, 21, 22], too_long),
            Err(RawError::BodyTooLarge {
                limit: 3,
                offset: 22
            })
        );
        let mut huge = b"HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n".to_vec();
        assert_eq!(
            parse_response(&huge),
            Err(RawError::BodyTooLarge {
                limit: 1 << 20,
                offset: 33
            })
        );
        huge.truncate(17);
        huge.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n");
        assert!(matches!(
            parse_response(&huge),
            Err(RawError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn end_of_stream_errors() {
        assert_eq!(err(b""), RawError::NoResponse { offset: 0 });
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nA: b"),
            RawError::TruncatedHead { offset: 21 }
        );
        assert_eq!(err(b"HTTP/1."), RawError::TruncatedHead { offset: 7 });
    }

    #[test]
    fn errors_are_sticky_and_secrets_do_not_leak() {
        let mut p = ResponseParser::new();
        let _ = p
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nsecret-token")
            .unwrap();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        let e = p.finish().unwrap_err();
        assert_eq!(
            e,
            RawError::TruncatedBody {
                offset: 51,
                missing: 8
            }
        );
        assert_eq!(p.feed(b"more").unwrap_err(), e);
        assert_eq!(p.finish(), Err(e));
    }

    // ----- properties -----

    fn response_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, u16)> {
        let body = proptest::collection::vec(any::<u8>(), 0..300);
        let chunks = proptest::collection::vec(1usize..50, 0..8);
        let status = prop_oneof![200u16..600, Just(401u16), Just(404u16)];
        let framing = 0u8..3;
        let ext = proptest::option::of("[a-z]{1,5}(=[a-z0-9]{0,5})?");
        let trailer = proptest::option::of("[A-Za-z-]{1,8}: [ -~]{0,10}");
        (body, chunks, status, framing, ext, trailer).prop_map(
            |(body, chunks, status, framing, ext, trailer)| {
                let mut d = format!("HTTP/1.1 {status} Whatever\r\nX-A: 1\r\n").into_bytes();
                let status_no_body = status == 204 || status == 304;
                match framing {
                    0 => {
                        d.extend_from_slice(
                            format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                        );
                        if !status_no_body {
                            d.extend_from_slice(&body);
                        }
                    }
                    1 => {
                        d.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                        if !status_no_body {
                            let mut rest = &body[..];
                            let mut sizes = chunks.iter().cycle();
                            while !rest.is_empty() {
                                let n = (*sizes.next().unwrap_or(&7)).min(rest.len());
                                d.extend_from_slice(format!("{n:x}").as_bytes());
                                if let Some(e) = &ext {
                                    d.extend_from_slice(format!(";{e}").as_bytes());
                                }
                                d.extend_from_slice(b"\r\n");
                                d.extend_from_slice(&rest[..n]);
                                d.extend_from_slice(b"\r\n");
                                rest = &rest[n..];
                            }
                            d.extend_from_slice(b"0\r\n");
                            if let Some(t) = &trailer {
                                d.extend_from_slice(format!("{t}\r\n").as_bytes());
                            }
                            d.extend_from_slice(b"\r\n");
                        }
                    }
                    _ => {
                        d.extend_from_slice(b"\r\n");
                        if !status_no_body {
                            d.extend_from_slice(&body);
                        }
                    }
                }
                let expected = if status_no_body { Vec::new() } else { body };
                (d, expected, status)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic_and_splits_agree(
            data in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            prop_assert_eq!(in_pieces(&data, &cuts, ParseOptions::DEFAULT), parse_response(&data));
        }

        #[test]
        fn http_looking_bytes_splits_agree(
            head in "HTTP/1\\.[01] [0-9]{3}[ -~]{0,8}(\r?\n[A-Za-z-]{1,6}:[ -~]{0,6}){0,4}\r?\n\r?\n",
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            cuts in proptest::collection::vec(any::<usize>(), 0..4),
        ) {
            let mut data = head.into_bytes();
            data.extend_from_slice(&tail);
            let cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            prop_assert_eq!(in_pieces(&data, &cuts, ParseOptions::DEFAULT), parse_response(&data));
        }

        #[test]
        fn valid_responses_round_trip((data, body, status) in response_strategy(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let r = parse_response(&data);
            prop_assert!(r.is_ok(), "{:?}", r);
            let r = r.unwrap();
            prop_assert_eq!(r.status, status);
            prop_assert_eq!(&r.body, &body);
            prop_assert_eq!(r.header("x-a"), Some("1"));
            let cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            prop_assert_eq!(in_pieces(&data, &cuts, ParseOptions::DEFAULT), Ok(r));
        }

        #[test]
        fn mutated_responses_splits_agree((data, _body, _status) in response_strategy(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut data = data;
            for (at, byte) in flips {
                let i = at % data.len();
                data[i] = byte;
            }
            let cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            prop_assert_eq!(in_pieces(&data, &cuts, ParseOptions::DEFAULT), parse_response(&data));
        }

        #[test]
        fn writer_never_panics_and_output_is_well_formed(
            method in "[A-Z]{1,7}|[ -~]{0,4}",
            url in "https?://[a-z.]{1,10}(:[0-9]{1,5})?(/[ -~]{0,12})?|[ -~\r\n]{0,20}",
            headers in proptest::collection::vec(("[!-~]{0,8}", "[\\x00-\\x7f]{0,10}"), 0..4),
            body in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut out = Vec::new();
            match write_request_parts(&method, &url, &pairs, &body, &mut out) {
                Err(_) => prop_assert!(out.is_empty()),
                Ok(()) => {
                    let mut slots = [httparse::EMPTY_HEADER; 16];
                    let mut req = httparse::Request::new(&mut slots);
                    let n = req.parse(&out);
                    prop_assert!(matches!(n, Ok(httparse::Status::Complete(_))), "{:?}", n);
                    let Ok(httparse::Status::Complete(n)) = n else { unreachable!() };
                    prop_assert_eq!(&out[n..], &body[..]);
                    prop_assert_eq!(req.headers.len(), pairs.len() + 2 + usize::from(out.windows(16).any(|w| w == b"Content-Length: ")));
                    for (got, (name, value)) in req.headers[1..].iter().zip(&pairs) {
                        prop_assert_eq!(got.name, *name);
                        prop_assert_eq!(got.value, value.trim_matches([' ', '\t']).as_bytes());
                    }
                }
            }
        }
    }
}

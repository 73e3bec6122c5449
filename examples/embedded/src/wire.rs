//! A simulated socket for `bearerflow::http::blocking`: an `embedded-io` byte stream
//! that serves one recorded HTTP/1.1 response, in reads of a chosen size, and keeps
//! what the driver wrote so the request bytes can be checked.
//!
//! Responses are rendered here from recorded exchanges (status, headers, body) with one
//! of several framings (RFC 9112 §6: `Content-Length`, `chunked`, close-delimited, and
//! after an interim `100 Continue`, RFC 9110 §15.2), so the driver's parser meets each
//! on the target. Everything works in caller-provided buffers: the device-sized runs
//! count only what bearerflow itself allocates.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use bearerflow::http::Request;
use embedded_io::ErrorKind;

/// One connection's worth of simulated socket.
pub struct SimSocket<'a> {
    reply: &'a [u8],
    pos: usize,
    max_read: usize,
    written: &'a mut [u8],
    written_len: usize,
    fail_read: Option<ErrorKind>,
}

impl<'a> SimSocket<'a> {
    /// A socket that answers with `reply`, at most `max_read` bytes per `read`, and
    /// records writes into `written` (a write beyond it fails with `OutOfMemory`).
    pub fn new(reply: &'a [u8], max_read: usize, written: &'a mut [u8]) -> SimSocket<'a> {
        SimSocket {
            reply,
            pos: 0,
            max_read: max_read.max(1),
            written,
            written_len: 0,
            fail_read: None,
        }
    }

    /// A socket whose peer resets the connection: the request is written, the read
    /// fails.
    pub fn reset_by_peer(written: &'a mut [u8]) -> SimSocket<'a> {
        let mut s = SimSocket::new(&[], 1, written);
        s.fail_read = Some(ErrorKind::ConnectionReset);
        s
    }

    /// What the driver wrote.
    pub fn written(&self) -> &[u8] {
        &self.written[..self.written_len]
    }

    /// Whether the whole reply was read.
    pub fn reply_consumed(&self) -> bool {
        self.pos == self.reply.len()
    }
}

impl embedded_io::ErrorType for SimSocket<'_> {
    type Error = ErrorKind;
}

impl embedded_io::Read for SimSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if let Some(kind) = self.fail_read {
            return Err(kind);
        }
        let rest = &self.reply[self.pos..];
        let n = rest.len().min(buf.len()).min(self.max_read);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl embedded_io::Write for SimSocket<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        let room = self.written.len() - self.written_len;
        if room == 0 {
            return Err(ErrorKind::OutOfMemory);
        }
        let n = room.min(buf.len());
        self.written[self.written_len..self.written_len + n].copy_from_slice(&buf[..n]);
        self.written_len += n;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// Where rendered bytes go: a growable `Vec` (the harness) or a fixed buffer (the
/// device-sized runs, which must not allocate on the host's behalf).
pub trait Sink {
    /// Append `bytes`; `Err` when there is no room.
    fn put(&mut self, bytes: &[u8]) -> Result<(), Full>;
}

/// A fixed buffer ran out of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Full> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// A fixed-capacity byte buffer.
pub struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBuf<N> {
    /// Empty.
    pub const fn new() -> Self {
        FixedBuf {
            buf: [0; N],
            len: 0,
        }
    }

    /// The bytes so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forget the contents.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Sink for FixedBuf<N> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.len + bytes.len();
        if end > N {
            return Err(Full);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// `core::fmt::Write` over a [`Sink`], for numbers.
struct FmtSink<'a, S: Sink>(&'a mut S);

impl<S: Sink> core::fmt::Write for FmtSink<'_, S> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.put(s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// How a rendered response delimits its body (RFC 9112 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: N`.
    ContentLength,
    /// `Transfer-Encoding: chunked`, in chunks of at most this many bytes (the first
    /// with a chunk extension, which the parser must skip).
    Chunked(usize),
    /// No length: the body ends when the connection closes (`read` returns 0).
    CloseDelimited,
    /// An interim `100 Continue`, then `Content-Length`.
    ContinueFirst,
}

impl Framing {
    /// The framings, so exchanges can rotate through them.
    pub const ALL: [Framing; 4] = [
        Framing::ContentLength,
        Framing::Chunked(13),
        Framing::CloseDelimited,
        Framing::ContinueFirst,
    ];
}

/// The reason phrase for the status line (informative only, RFC 9112 §4).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Render one HTTP/1.1 response. `status` must be a three-digit code (a host that
/// got none, status 0, has no bytes to parse).
pub fn render_response(
    out: &mut impl Sink,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    framing: Framing,
) -> Result<(), Full> {
    use core::fmt::Write as _;
    if framing == Framing::ContinueFirst {
        out.put(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    write!(FmtSink(out), "HTTP/1.1 {status} {}\r\n", reason(status)).map_err(|_| Full)?;
    for (name, value) in headers {
        out.put(name.as_bytes())?;
        out.put(b": ")?;
        out.put(value.as_bytes())?;
        out.put(b"\r\n")?;
    }
    match framing {
        Framing::ContentLength | Framing::ContinueFirst => {
            write!(FmtSink(out), "Content-Length: {}\r\n\r\n", body.len()).map_err(|_| Full)?;
            out.put(body)?;
        }
        Framing::Chunked(size) => {
            out.put(b"Transfer-Encoding: chunked\r\n\r\n")?;
            for (i, chunk) in body.chunks(size.max(1)).enumerate() {
                let ext = if i == 0 { ";sim=1" } else { "" };
                write!(FmtSink(out), "{:x}{ext}\r\n", chunk.len()).map_err(|_| Full)?;
                out.put(chunk)?;
                out.put(b"\r\n")?;
            }
            out.put(b"0\r\n\r\n")?;
        }
        Framing::CloseDelimited => {
            out.put(b"Connection: close\r\n\r\n")?;
            out.put(body)?;
        }
    }
    Ok(())
}

/// The authority and request-target of an absolute URL, by plain string splitting
/// (RFC 3986 §3: `scheme "://" authority path-abempty [ "?" query ] [ "#" fragment ]`),
/// enough for the URLs the vectors hold. The request-target is origin-form (RFC 9112
/// §3.2.1): `/` when the path is empty, the fragment dropped.
fn authority_and_target(url: &str) -> Option<(&str, String)> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = &rest[end..];
    let tail = tail.split_once('#').map_or(tail, |(t, _)| t);
    let target = if tail.starts_with('/') {
        String::from(tail)
    } else {
        format!("/{tail}")
    };
    Some((authority, target))
}

/// Check the bytes `http::blocking` wrote for `req`: the request line (method and
/// origin-form target, HTTP/1.1), a `Host` naming the URL's authority, every header of
/// the request, `Connection: close`, the body with its `Content-Length`.
pub fn check_request(written: &[u8], req: &Request) -> Result<(), String> {
    let text = core::str::from_utf8(written).map_err(|e| format!("request is not UTF-8: {e}"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| String::from("request head does not end with CRLF CRLF"))?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let (authority, target) = authority_and_target(&req.url)
        .ok_or_else(|| format!("fetch URL {:?} is not absolute", req.url))?;
    let want_line = format!("{} {} HTTP/1.1", req.method.as_str(), target);
    if line != want_line {
        return Err(format!("request line {line:?}, want {want_line:?}"));
    }
    let fields: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(": ")).collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let host = field("host").ok_or_else(|| String::from("no Host header"))?;
    let default_port_stripped = authority
        .strip_suffix(":443")
        .or_else(|| authority.strip_suffix(":80"));
    if !host.eq_ignore_ascii_case(authority)
        && !default_port_stripped.is_some_and(|a| host.eq_ignore_ascii_case(a))
    {
        return Err(format!("Host {host:?}, URL authority {authority:?}"));
    }
    for h in &req.headers {
        let value = h.value.expose();
        if !fields.iter().any(|(n, v)| *n == h.name && *v == value) {
            return Err(format!(
                "header {:?} missing or altered on the wire",
                h.name
            ));
        }
    }
    if !field("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
        return Err(String::from("no Connection: close"));
    }
    if body.as_bytes() != req.body.as_slice() {
        return Err(format!(
            "body on the wire ({} bytes) differs from the request's ({} bytes)",
            body.len(),
            req.body.len()
        ));
    }
    if !req.body.is_empty() {
        let len = field("content-length").ok_or_else(|| String::from("no Content-Length"))?;
        if len.parse::<usize>().ok() != Some(req.body.len()) {
            return Err(format!(
                "Content-Length {len}, body {} bytes",
                req.body.len()
            ));
        }
    }
    Ok(())
}

//! URLs: a small, strict RFC 3986 reader ([`Url`]) and the rules built on it that
//! discovery, authorization and the HTTP writer share: origins, loopback, the RFC 8707
//! resource identifier, and which endpoints may be contacted at all.
//!
//! # Why a reader of our own
//!
//! The `url` crate implements the WHATWG URL Standard, which always runs hosts through
//! IDNA (UTS #46); its tables are most of what a browser would download for this
//! crate. MCP endpoints, issuers and redirect URIs are ASCII, so [`Url::parse`] reads
//! absolute URIs (RFC 3986 §4.3) and refuses a non-ASCII host with
//! [`UrlError::NonAsciiHost`], which asks for the punycode (`xn--`) form instead.
//!
//! # What it normalises (RFC 3986 §6.2.2, §6.2.3), as `url` does
//!
//! - scheme and reg-name host lower case; IPv6 literals in RFC 5952 §4 form
//!   (`[2001:db8::1]`, lower-case hex, longest zero run compressed);
//! - the scheme's default port dropped (`http` 80, `https` 443), an empty port too;
//! - an empty `http(s)` path becomes `/`;
//! - dot segments removed (RFC 3986 §5.2.4), counting `%2e` as a dot as WHATWG does;
//! - userinfo is detected ([`Url::has_userinfo`]) and never kept.
//!
//! Everything else stays as written: percent-encodings keep their case and are not
//! decoded, an empty query (`?`) or fragment (`#`) stays present, a trailing dot on a
//! host stays (`example.com.` is another origin than `example.com`, as in `url`).
//!
//! # Where it is stricter than `url` (each is refused with a typed [`UrlError`])
//!
//! - Characters RFC 3986 does not allow (space, controls, non-ASCII, `"<>\^`{|}`, a
//!   `#` in a fragment, a `%` not followed by two hex digits) are refused where `url`
//!   would percent-encode, trim or drop them: such a string is not a URI, and which
//!   resource it means depends on the parser.
//! - A host is an IPv6 literal, a dotted-quad IPv4 address, or a reg-name of RFC 3986
//!   unreserved characters (letters, digits, `-`, `.`, `_`, `~`) with no empty label
//!   (one trailing dot is allowed). Percent-encoded hosts, sub-delimiters, IPvFuture
//!   and zone identifiers are refused.
//! - A host whose last label is a number (`127.1`, `0x7f.1`, `010.0.0.1`) must be a
//!   dotted-quad without leading zeros (RFC 3986 §3.2.2 `dec-octet`). WHATWG and the C
//!   library's `inet_aton` read such hosts as IPv4 in octal, hex or short forms; refusing
//!   them means no two parsers can disagree about which machine a URL names.
//! - `@` after `//` always marks userinfo; a second `@` in the authority is refused.
//! - `http:example.com` is not read as `http://example.com/`: it has no host, which
//!   every caller that needs one refuses (RFC 9110 §4.2.1).
//!
//! Any scheme is read (RFC 8252 §7.1 private-use redirect URIs such as
//! `com.example.app:/oauth2redirect`); callers check the scheme they need.

use super::discovery::DiscoveryError;
use alloc::string::String;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// Why a string is not a URL [`Url::parse`] accepts. Offsets are byte indexes into
/// the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlError {
    /// No scheme (RFC 3986 §3.1): a relative reference or not a URL at all.
    NotAbsolute,
    /// A character RFC 3986 does not allow in this part of a URL; percent-encode it.
    InvalidCharacter {
        /// Byte index of the character.
        offset: usize,
    },
    /// A `%` not followed by two hexadecimal digits (RFC 3986 §2.1).
    InvalidPercentEncoding {
        /// Byte index of the `%`.
        offset: usize,
    },
    /// The host is not ASCII. Internationalized names must be given in their punycode
    /// (`xn--`) form (RFC 5890 §2.3.2.1).
    NonAsciiHost,
    /// The host is percent-encoded; write the name itself.
    PercentEncodedHost,
    /// The host has a character outside RFC 3986 `unreserved`, or an empty label.
    InvalidHost {
        /// Byte index of the offending character or dot.
        offset: usize,
    },
    /// The host ends in a number but is not a dotted-quad IPv4 address without
    /// leading zeros (RFC 3986 §3.2.2).
    InvalidIpv4,
    /// A bracketed host that is not an IPv6 address (RFC 4291 §2.2); IPvFuture and
    /// zone identifiers are not supported.
    InvalidIpv6,
    /// The port is not a decimal number up to 65535.
    InvalidPort,
}

impl UrlError {
    /// A short reason, without offsets.
    pub const fn reason(&self) -> &'static str {
        match self {
            UrlError::NotAbsolute => "not an absolute URL",
            UrlError::InvalidCharacter { .. } => "character not allowed in a URL",
            UrlError::InvalidPercentEncoding { .. } => "malformed percent-encoding",
            UrlError::NonAsciiHost => {
                "non-ASCII host: use the punycode (xn--) form of internationalized names"
            }
            UrlError::PercentEncodedHost => "percent-encoded host",
            UrlError::InvalidHost { .. } => "invalid domain character",
            UrlError::InvalidIpv4 => "invalid IPv4 address",
            UrlError::InvalidIpv6 => "invalid IPv6 address",
            UrlError::InvalidPort => "invalid port number",
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())?;
        match self {
            UrlError::InvalidCharacter { offset }
            | UrlError::InvalidPercentEncoding { offset }
            | UrlError::InvalidHost { offset } => write!(f, " at byte {offset}"),
            _ => Ok(()),
        }
    }
}

impl core::error::Error for UrlError {}

/// The host of a [`Url`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A reg-name, lower case (may be empty for schemes such as `file`).
    Domain(&'a str),
    /// A dotted-quad IPv4 address.
    Ipv4(Ipv4Addr),
    /// A bracketed IPv6 literal.
    Ipv6(Ipv6Addr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum HostKind {
    Domain,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

/// An absolute URL (RFC 3986 §4.3), read strictly and normalised; see the
/// [module documentation](self) for exactly what is accepted and changed.
///
/// ```
/// use bearerflow::oauth::url::{Host, Url, UrlError};
/// let u = Url::parse("HTTPS://MCP.Example.com:443/a/./b/../mcp?x=1#top").unwrap();
/// assert_eq!(u.as_str(), "https://mcp.example.com/a/mcp?x=1#top");
/// assert_eq!(u.host(), Some(Host::Domain("mcp.example.com")));
/// assert_eq!((u.port(), u.port_or_known_default()), (None, Some(443)));
/// assert_eq!((u.path(), u.query(), u.fragment()), ("/a/mcp", Some("x=1"), Some("top")));
/// assert_eq!(Url::parse("http://[::1]:8080").unwrap().as_str(), "http://[::1]:8080/");
/// assert_eq!(Url::parse("com.example.app:/cb").unwrap().scheme(), "com.example.app");
/// assert_eq!(Url::parse("https://bücher.example/"), Err(UrlError::NonAsciiHost));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url {
    /// The normalised serialization, without userinfo.
    text: String,
    /// Index of the `:` after the scheme.
    scheme_end: usize,
    /// The host's range in `text` (brackets included) and kind; `None` without an
    /// authority.
    host: Option<(usize, usize, HostKind)>,
    /// An explicit port other than the scheme's default.
    port: Option<u16>,
    path_start: usize,
    /// Index of the `?`.
    query_start: Option<usize>,
    /// Index of the `#`.
    fragment_start: Option<usize>,
    userinfo: bool,
}

/// RFC 3986 §2.3 `unreserved`.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 `sub-delims`.
fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// RFC 3986 §3.3 `pchar`, without `pct-encoded`.
fn is_pchar(c: u8) -> bool {
    is_unreserved(c) || is_sub_delim(c) || matches!(c, b':' | b'@')
}

fn is_path_char(c: u8) -> bool {
    is_pchar(c) || c == b'/'
}

/// RFC 3986 §3.4, §3.5: `query` and `fragment` share a grammar.
fn is_query_char(c: u8) -> bool {
    is_pchar(c) || matches!(c, b'/' | b'?')
}

/// RFC 3986 §3.2.1 `userinfo`, without `pct-encoded`.
fn is_userinfo_char(c: u8) -> bool {
    is_unreserved(c) || is_sub_delim(c) || c == b':'
}

/// Check `input[start..end]` against `allowed` plus RFC 3986 §2.1 percent-encoding.
fn check_chars(
    input: &[u8],
    start: usize,
    end: usize,
    allowed: fn(u8) -> bool,
) -> Result<(), UrlError> {
    let mut i = start;
    while i < end {
        let c = input[i];
        if c == b'%' {
            let hex = |k: usize| k < end && input[k].is_ascii_hexdigit();
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(UrlError::InvalidPercentEncoding { offset: i });
            }
            i += 3;
        } else if allowed(c) {
            i += 1;
        } else {
            return Err(UrlError::InvalidCharacter { offset: i });
        }
    }
    Ok(())
}

/// The port a scheme uses when none is given (RFC 9110 §4.2.1, §4.2.2).
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn is_http(scheme: &str) -> bool {
    scheme == "http" || scheme == "https"
}

/// `.` or its percent-encoded form: a dot segment (RFC 3986 §5.2.4; `%2e` as WHATWG).
fn is_single_dot(segment: &str) -> bool {
    segment == "." || segment.eq_ignore_ascii_case("%2e")
}

fn is_double_dot(segment: &str) -> bool {
    match segment.len() {
        2 => segment == "..",
        4 => segment.eq_ignore_ascii_case(".%2e") || segment.eq_ignore_ascii_case("%2e."),
        6 => segment.eq_ignore_ascii_case("%2e%2e"),
        _ => false,
    }
}

/// Append `path` (which starts with `/`) to `out` with dot segments removed (RFC 3986
/// §5.2.4, done segment by segment: the output always ends in `/` between segments).
fn push_path_without_dots(out: &mut String, path: &str) {
    let base = out.len();
    out.push('/');
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if is_single_dot(segment) {
            continue;
        }
        if is_double_dot(segment) {
            // Drop the last output segment; the root stays.
            let kept = &out[base..out.len() - 1];
            if let Some(slash) = kept.rfind('/') {
                out.truncate(base + slash + 1);
            }
            continue;
        }
        out.push_str(segment);
        if !last {
            out.push('/');
        }
    }
}

fn push_decimal(out: &mut String, mut n: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// RFC 5952 §4: lower-case hex without leading zeros, the longest run of two or more
/// zero groups (the first of equal runs) as `::`. Embedded IPv4 is written in hex too,
/// as the `url` crate does.
fn push_ipv6(out: &mut String, addr: Ipv6Addr) {
    let groups = addr.segments();
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, g) in groups.iter().enumerate() {
        if *g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let skip = if best_len >= 2 {
        best..best + best_len
    } else {
        0..0
    };
    out.push('[');
    let mut i = 0;
    while i < groups.len() {
        if i == skip.start && !skip.is_empty() {
            out.push_str(if i == 0 { "::" } else { ":" });
            i = skip.end;
            continue;
        }
        let g = groups[i];
        let mut shift = 12;
        while shift > 0 && (g >> shift) == 0 {
            shift -= 4;
        }
        loop {
            let nibble = ((g >> shift) & 0xf) as u8;
            out.push(char::from(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            }));
            if shift == 0 {
                break;
            }
            shift -= 4;
        }
        if i + 1 < groups.len() {
            out.push(':');
        }
        i += 1;
    }
    out.push(']');
}

/// Whether a label is a number in any form WHATWG's IPv4 parser reads (decimal, or
/// `0x` hex), so that a host ending in it must be an IPv4 address.
fn is_numeric_label(label: &[u8]) -> bool {
    match label {
        [] => false,
        [b'0', b'x' | b'X', hex @ ..] => hex.iter().all(u8::is_ascii_hexdigit),
        digits => digits.iter().all(u8::is_ascii_digit),
    }
}

/// Read a host that is not bracketed, append it to `out` lower-cased.
fn read_plain_host(
    input: &str,
    start: usize,
    end: usize,
    out: &mut String,
) -> Result<HostKind, UrlError> {
    let host = &input.as_bytes()[start..end];
    if !host.is_ascii() {
        return Err(UrlError::NonAsciiHost);
    }
    if host.contains(&b'%') {
        return Err(UrlError::PercentEncodedHost);
    }
    if let Some(i) = host.iter().position(|&c| !is_unreserved(c)) {
        return Err(UrlError::InvalidHost { offset: start + i });
    }
    if host.is_empty() {
        return Ok(HostKind::Domain);
    }
    // No empty label, except after one trailing dot.
    let labels = host.strip_suffix(b".").unwrap_or(host);
    let mut at = start;
    for label in labels.split(|&c| c == b'.') {
        if label.is_empty() {
            return Err(UrlError::InvalidHost { offset: at });
        }
        at += label.len() + 1;
    }
    let last = labels.rsplit(|&c| c == b'.').next().unwrap_or(labels);
    if is_numeric_label(last) {
        // Rust's parser takes exactly four decimal octets without leading zeros.
        let addr: Ipv4Addr = input[start..end]
            .parse()
            .map_err(|_| UrlError::InvalidIpv4)?;
        out.push_str(&input[start..end]);
        return Ok(HostKind::Ipv4(addr));
    }
    out.extend(host.iter().map(|c| char::from(c.to_ascii_lowercase())));
    Ok(HostKind::Domain)
}

impl Url {
    /// Read `input` as an absolute URL: `scheme ":" ["//" authority] path ["?" query]
    /// ["#" fragment]` (RFC 3986 §3). Never panics; every refusal is a [`UrlError`].
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let b = input.as_bytes();
        let scheme_end = b
            .iter()
            .position(|&c| c == b':')
            .ok_or(UrlError::NotAbsolute)?;
        let scheme = &b[..scheme_end];
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(UrlError::NotAbsolute);
        }
        let mut text = String::with_capacity(input.len());
        text.extend(scheme.iter().map(|c| char::from(c.to_ascii_lowercase())));
        text.push(':');
        let default = default_port(&text[..scheme_end]);
        let http = is_http(&text[..scheme_end]);

        let mut url = Url {
            text: String::new(),
            scheme_end,
            host: None,
            port: None,
            path_start: 0,
            query_start: None,
            fragment_start: None,
            userinfo: false,
        };
        let mut at = scheme_end + 1;
        if b[at..].starts_with(b"//") {
            let start = at + 2;
            let end = b[start..]
                .iter()
                .position(|c| matches!(c, b'/' | b'?' | b'#'))
                .map_or(b.len(), |p| start + p);
            let mut host_start = start;
            if let Some(i) = b[start..end].iter().position(|&c| c == b'@') {
                check_chars(b, start, start + i, is_userinfo_char)?;
                url.userinfo = true;
                host_start = start + i + 1;
            }
            text.push_str("//");
            let text_host_start = text.len();
            let (kind, port_at) = if b.get(host_start) == Some(&b'[') {
                let close = b[host_start..end]
                    .iter()
                    .position(|&c| c == b']')
                    .map(|p| host_start + p)
                    .ok_or(UrlError::InvalidIpv6)?;
                let addr: Ipv6Addr = input[host_start + 1..close]
                    .parse()
                    .map_err(|_| UrlError::InvalidIpv6)?;
                push_ipv6(&mut text, addr);
                match b.get(close + 1) {
                    Some(b':') if close + 1 < end => (HostKind::Ipv6(addr), Some(close + 1)),
                    _ if close + 1 == end => (HostKind::Ipv6(addr), None),
                    _ => return Err(UrlError::InvalidIpv6),
                }
            } else {
                let colon = b[host_start..end]
                    .iter()
                    .position(|&c| c == b':')
                    .map(|p| host_start + p);
                let host_end = colon.unwrap_or(end);
                (
                    read_plain_host(input, host_start, host_end, &mut text)?,
                    colon,
                )
            };
            url.host = Some((text_host_start, text.len(), kind));
            if let Some(colon) = port_at {
                let digits = &b[colon + 1..end];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(UrlError::InvalidPort);
                }
                let mut port: u16 = 0;
                for &d in digits {
                    port = port
                        .checked_mul(10)
                        .and_then(|p| p.checked_add(u16::from(d - b'0')))
                        .ok_or(UrlError::InvalidPort)?;
                }
                // An empty port is no port (RFC 3986 §6.2.3).
                if !digits.is_empty() && Some(port) != default {
                    text.push(':');
                    push_decimal(&mut text, port);
                    url.port = Some(port);
                }
            }
            at = end;
        }

        let path_end = b[at..]
            .iter()
            .position(|c| matches!(c, b'?' | b'#'))
            .map_or(b.len(), |p| at + p);
        check_chars(b, at, path_end, is_path_char)?;
        url.path_start = text.len();
        let path = &input[at..path_end];
        if path.starts_with('/') {
            push_path_without_dots(&mut text, path);
            if url.host.is_none() && text[url.path_start..].starts_with("//") {
                // Without an authority the path must not start with `//` (RFC 3986
                // §3.3); WHATWG keeps such a path readable the same way.
                text.insert_str(url.path_start, "/.");
            }
        } else if path.is_empty() && http && url.host.is_some() {
            text.push('/');
        } else {
            text.push_str(path);
        }
        at = path_end;

        if b.get(at) == Some(&b'?') {
            let end = b[at..]
                .iter()
                .position(|&c| c == b'#')
                .map_or(b.len(), |p| at + p);
            check_chars(b, at + 1, end, is_query_char)?;
            url.query_start = Some(text.len());
            text.push_str(&input[at..end]);
            at = end;
        }
        if b.get(at) == Some(&b'#') {
            check_chars(b, at + 1, b.len(), is_query_char)?;
            url.fragment_start = Some(text.len());
            text.push_str(&input[at..]);
        }
        url.text = text;
        Ok(url)
    }

    /// The normalised URL, without userinfo.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The scheme, lower case.
    pub fn scheme(&self) -> &str {
        &self.text[..self.scheme_end]
    }

    /// Whether the input had userinfo (`user:password@`), which is never kept.
    pub fn has_userinfo(&self) -> bool {
        self.userinfo
    }

    /// The host as written in the URL (IPv6 in brackets); `None` without an authority.
    pub fn host_str(&self) -> Option<&str> {
        self.host.map(|(start, end, _)| &self.text[start..end])
    }

    /// The host, typed.
    pub fn host(&self) -> Option<Host<'_>> {
        self.host.map(|(start, end, kind)| match kind {
            HostKind::Domain => Host::Domain(&self.text[start..end]),
            HostKind::Ipv4(a) => Host::Ipv4(a),
            HostKind::Ipv6(a) => Host::Ipv6(a),
        })
    }

    /// The port, unless absent or the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or the scheme's default (`http` 80, `https` 443).
    pub fn port_or_known_default(&self) -> Option<u16> {
        self.port.or_else(|| default_port(self.scheme()))
    }

    /// The path, dot segments removed (`/` at least for `http(s)`).
    pub fn path(&self) -> &str {
        let end = self
            .query_start
            .or(self.fragment_start)
            .unwrap_or(self.text.len());
        &self.text[self.path_start..end]
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&str> {
        let end = self.fragment_start.unwrap_or(self.text.len());
        self.query_start.map(|q| &self.text[q + 1..end])
    }

    /// The fragment, without the `#`.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment_start.map(|f| &self.text[f + 1..])
    }

    /// `scheme://host[:port]`: the RFC 6454 §6.2 serialization of an http(s) origin.
    pub fn origin_str(&self) -> &str {
        &self.text[..self.path_start]
    }

    /// The URL up to its query (scheme, authority, path).
    pub fn without_query(&self) -> &str {
        let end = self
            .query_start
            .or(self.fragment_start)
            .unwrap_or(self.text.len());
        &self.text[..end]
    }

    /// The URL without its fragment.
    pub fn without_fragment(&self) -> &str {
        &self.text[..self.fragment_start.unwrap_or(self.text.len())]
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parse `s` as an absolute `http` or `https` URL with a host. `what` names the URL
/// in errors ("server URL", "issuer", ...).
pub(crate) fn parse_http_url(s: &str, what: &'static str) -> Result<Url, DiscoveryError> {
    let u = Url::parse(s).map_err(|reason| DiscoveryError::InvalidUrl { what, reason })?;
    if !is_http(u.scheme()) {
        return Err(DiscoveryError::UnsupportedScheme {
            what,
            scheme: String::from(u.scheme()),
        });
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(DiscoveryError::MissingHost { what });
    }
    Ok(u)
}

/// `scheme://host[:port]` of a parsed http(s) URL (default port omitted).
pub(crate) fn origin_of(u: &Url) -> String {
    String::from(u.origin_str())
}

/// Whether a parsed host is loopback: `127.0.0.0/8`, `[::1]` or `localhost`
/// (RFC 8252 §7.3, RFC 6761 §6.3).
pub(crate) fn is_loopback_host(host: Option<Host<'_>>) -> bool {
    match host {
        Some(Host::Ipv4(a)) => a.is_loopback(),
        Some(Host::Ipv6(a)) => a.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// The origin (RFC 6454 §4) of an `http`/`https` URL as `scheme://host[:port]`, lower
/// case, default port omitted, no trailing slash.
///
/// ```
/// use bearerflow::oauth::origin;
/// assert_eq!(origin("HTTPS://MCP.Example.com:443/mcp?x#y").unwrap(), "https://mcp.example.com");
/// assert_eq!(origin("http://127.0.0.1:8080/a").unwrap(), "http://127.0.0.1:8080");
/// assert!(origin("ftp://example.com/").is_err());
/// ```
pub fn origin(url: &str) -> Result<String, DiscoveryError> {
    Ok(origin_of(&parse_http_url(url, "URL")?))
}

/// Whether two URLs have the same origin (scheme, host, port; RFC 6454 §5). Unparseable
/// URLs are never the same origin as anything.
///
/// ```
/// use bearerflow::oauth::same_origin;
/// assert!(same_origin("https://a.example/x", "https://A.example:443/y"));
/// assert!(!same_origin("https://a.example", "http://a.example"));
/// assert!(!same_origin("https://a.example", "https://a.example:8443"));
/// ```
pub fn same_origin(a: &str, b: &str) -> bool {
    match (parse_http_url(a, "URL"), parse_http_url(b, "URL")) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host() == b.host()
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

/// Whether `url` is an `http`/`https` URL whose host is loopback (`127.0.0.0/8`,
/// `[::1]`, `localhost`).
pub fn is_loopback(url: &str) -> bool {
    parse_http_url(url, "URL").is_ok_and(|u| is_loopback_host(u.host()))
}

/// Check that an endpoint may be contacted: an absolute `https` URL without a fragment
/// (RFC 6749 §3.1, §3.2; OAuth 2.1 §1.5 requires TLS), or `http` to a loopback host
/// (`127.0.0.0/8`, `[::1]`, `localhost`), which never leaves the machine.
///
/// Apply it to every metadata URL and endpoint before sending anything there: a token
/// or a client secret must never travel in clear over a network.
///
/// ```
/// use bearerflow::oauth::{check_endpoint, DiscoveryError};
/// assert!(check_endpoint("https://as.example.com/token").is_ok());
/// assert!(check_endpoint("http://127.0.0.1:9000/token").is_ok());
/// assert!(check_endpoint("http://localhost/token").is_ok());
/// assert!(matches!(check_endpoint("http://as.example.com/token"), Err(DiscoveryError::Insecure { .. })));
/// ```
pub fn check_endpoint(url: &str) -> Result<(), DiscoveryError> {
    const WHAT: &str = "endpoint";
    let u = parse_http_url(url, WHAT)?;
    if u.fragment().is_some() {
        return Err(DiscoveryError::FragmentNotAllowed { what: WHAT });
    }
    if u.scheme() == "http" && !is_loopback_host(u.host()) {
        return Err(DiscoveryError::Insecure {
            host: String::from(u.host_str().unwrap_or("")),
        });
    }
    Ok(())
}

/// The canonical resource identifier of an MCP server URL, for the RFC 8707 `resource`
/// parameter (MCP authorization, "Canonical Server URI").
///
/// Choices, following RFC 8707 §2 and the MCP specification:
/// - scheme and host lower case, default port dropped, dot segments removed (see
///   [`Url`]);
/// - no fragment (RFC 8707 §2: MUST NOT) and no user info;
/// - the path is kept as given, including a trailing slash on a non-root path (it can
///   be significant to the server); a bare root path is dropped, giving
///   `https://host` rather than `https://host/` (MCP prefers the form without the
///   slash);
/// - the query is kept: RFC 8707 discourages but allows it, and when a server URL
///   carries one it is part of what identifies the resource.
///
/// Prefer the `resource` value from the server's protected resource metadata when it
/// passed [`resource_matches`]; this function is the fallback.
///
/// ```
/// use bearerflow::oauth::canonical_resource;
/// assert_eq!(canonical_resource("HTTPS://MCP.Example.com:443/mcp#x").unwrap(), "https://mcp.example.com/mcp");
/// assert_eq!(canonical_resource("https://mcp.example.com/").unwrap(), "https://mcp.example.com");
/// assert_eq!(canonical_resource("http://127.0.0.1:8080/server/mcp/").unwrap(), "http://127.0.0.1:8080/server/mcp/");
/// ```
pub fn canonical_resource(server_url: &str) -> Result<String, DiscoveryError> {
    // The reader never keeps userinfo; the fragment is cut here.
    let u = parse_http_url(server_url, "server URL")?;
    if u.path() == "/" && u.query().is_none() {
        return Ok(origin_of(&u));
    }
    Ok(String::from(u.without_fragment()))
}

/// Path with trailing slashes removed ("" for the root).
fn trim_path(p: &str) -> &str {
    p.trim_end_matches('/')
}

/// Whether the `resource` of protected resource metadata covers `server_url` (RFC 9728
/// §3.3, relaxed as MCP clients do and as draft-mcguinness-oauth-rfc9728bis proposes):
/// same scheme, host and port, and the metadata path is a prefix of the server path on
/// a segment boundary, ignoring trailing slashes. If the metadata resource has a query,
/// the server URL must have the same query.
///
/// ```
/// use bearerflow::oauth::resource_matches;
/// assert!(resource_matches("https://h/api", "https://h/api/v1"));
/// assert!(resource_matches("https://h/mcp/", "https://h/mcp"));
/// assert!(resource_matches("https://h", "https://h/anything"));
/// assert!(!resource_matches("https://h/mcp", "https://h/mcpxxxx"));
/// assert!(!resource_matches("https://h:8443/mcp", "https://h/mcp"));
/// ```
pub fn resource_matches(metadata_resource: &str, server_url: &str) -> bool {
    let (Ok(m), Ok(s)) = (
        parse_http_url(metadata_resource, "resource"),
        parse_http_url(server_url, "server URL"),
    ) else {
        return false;
    };
    if m.scheme() != s.scheme()
        || m.host() != s.host()
        || m.port_or_known_default() != s.port_or_known_default()
    {
        return false;
    }
    if m.query().is_some() && m.query() != s.query() {
        return false;
    }
    let mp = trim_path(m.path());
    let sp = trim_path(s.path());
    match sp.strip_prefix(mp) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    #[test]
    fn origin_rules() {
        assert_eq!(
            origin("https://example.com").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            origin("https://user:pw@example.com:8443/").unwrap(),
            "https://example.com:8443"
        );
        assert_eq!(origin("http://[::1]:3000/x").unwrap(), "http://[::1]:3000");
        assert_eq!(
            origin("http://example.com:80/").unwrap(),
            "http://example.com"
        );
        assert!(matches!(
            origin("not a url"),
            Err(DiscoveryError::InvalidUrl { .. })
        ));
        assert!(matches!(
            origin("mailto:a@b"),
            Err(DiscoveryError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn loopback_hosts() {
        for u in [
            "http://127.0.0.1/",
            "http://127.255.0.9:1/",
            "http://[::1]:8080/",
            "http://localhost/",
            "http://LOCALHOST:1/",
        ] {
            assert!(is_loopback(u), "{u}");
            assert!(check_endpoint(u).is_ok(), "{u}");
        }
        for u in [
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "http://10.0.0.1/",
            "http://example.com/",
        ] {
            assert!(!is_loopback(u), "{u}");
            assert!(
                matches!(check_endpoint(u), Err(DiscoveryError::Insecure { .. })),
                "{u}"
            );
        }
    }

    #[test]
    fn check_endpoint_rules() {
        assert!(check_endpoint("https://as.example.com/oauth/token?x=1").is_ok());
        assert!(matches!(
            check_endpoint("https://as.example.com/token#frag"),
            Err(DiscoveryError::FragmentNotAllowed { .. })
        ));
        assert!(matches!(
            check_endpoint("ftp://as.example.com/"),
            Err(DiscoveryError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            check_endpoint("/token"),
            Err(DiscoveryError::InvalidUrl { .. })
        ));
        assert!(matches!(
            check_endpoint(""),
            Err(DiscoveryError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn canonical_resource_rules() {
        assert_eq!(
            canonical_resource("https://mcp.example.com").unwrap(),
            "https://mcp.example.com"
        );
        assert_eq!(
            canonical_resource("https://u:p@h.example/mcp").unwrap(),
            "https://h.example/mcp"
        );
        assert_eq!(
            canonical_resource("https://h.example:8443/mcp?tenant=a").unwrap(),
            "https://h.example:8443/mcp?tenant=a"
        );
        assert_eq!(
            canonical_resource("https://h.example/?a=1").unwrap(),
            "https://h.example/?a=1"
        );
        assert_eq!(
            canonical_resource("http://[::1]:9/").unwrap(),
            "http://[::1]:9"
        );
        assert!(canonical_resource("urn:x:y").is_err());
    }

    #[test]
    fn resource_matching() {
        assert!(resource_matches("https://h/mcp", "https://h/mcp"));
        assert!(resource_matches("https://h/mcp", "https://h/mcp/"));
        assert!(resource_matches("https://h/", "https://h/mcp"));
        assert!(resource_matches("https://H:443/api", "https://h/api/v1/x"));
        assert!(!resource_matches("https://h/api/v1", "https://h/api"));
        assert!(!resource_matches("https://h/mcp", "https://h/mcpxxxx"));
        assert!(!resource_matches("https://h/mcp", "http://h/mcp"));
        assert!(!resource_matches("https://h/mcp", "https://g/mcp"));
        assert!(!resource_matches("https://h/mcp", "https://h:444/mcp"));
        assert!(!resource_matches("https://h/mcp?t=1", "https://h/mcp?t=2"));
        assert!(resource_matches("https://h/mcp?t=1", "https://h/mcp?t=1"));
        assert!(resource_matches("https://h/mcp", "https://h/mcp?t=1"));
        assert!(!resource_matches("garbage", "https://h/mcp"));
        assert!(!resource_matches("https://h/mcp", ""));
    }

    proptest! {
        #[test]
        fn helpers_never_panic(a in any::<std::string::String>(), b in "https?://[a-zA-Z0-9.:/?#%@\\[\\]-]{0,40}") {
            let _ = origin(&a);
            let _ = origin(&b);
            let _ = same_origin(&a, &b);
            let _ = check_endpoint(&b);
            let _ = canonical_resource(&b);
            let _ = resource_matches(&a, &b);
            let _ = resource_matches(&b, &b);
        }

        #[test]
        fn canonical_is_idempotent_and_matches(host in "[a-z]{1,10}(\\.[a-z]{1,5})?", port in proptest::option::of(1u16..),
                                               path in "(/[a-zA-Z0-9_-]{1,8}){0,3}/?") {
            let url = match port { Some(p) => std::format!("https://{host}:{p}{path}"), None => std::format!("https://{host}{path}") };
            let c = canonical_resource(&url).unwrap();
            prop_assert_eq!(canonical_resource(&c).unwrap(), c.clone());
            prop_assert!(resource_matches(&c, &url));
            prop_assert!(same_origin(&c, &url));
        }
    }

    // ----- the reader -----

    fn p(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> UrlError {
        match Url::parse(s) {
            Ok(u) => panic!("{s} parsed as {u}"),
            Err(e) => e,
        }
    }

    #[test]
    fn reader_ipv6_literals() {
        let u = p("http://[::1]/");
        assert_eq!(u.host(), Some(Host::Ipv6(Ipv6Addr::LOCALHOST)));
        assert_eq!(u.host_str(), Some("[::1]"));
        assert_eq!(
            p("http://[0:0:0:0:0:0:0:1]:8080").as_str(),
            "http://[::1]:8080/"
        );
        assert_eq!(
            p("https://[2001:DB8:0:0:1:0:0:1]:443/x").as_str(),
            "https://[2001:db8::1:0:0:1]/x"
        );
        assert_eq!(
            p("http://[1:0:0:2:0:0:0:3]/").host_str(),
            Some("[1:0:0:2::3]")
        );
        assert_eq!(
            p("http://[1:2:3:4:5:6:7:8]/").host_str(),
            Some("[1:2:3:4:5:6:7:8]")
        );
        assert_eq!(
            p("http://[1:0:2:3:4:5:6:7]/").host_str(),
            Some("[1:0:2:3:4:5:6:7]")
        );
        assert_eq!(p("http://[::]/").host_str(), Some("[::]"));
        // Embedded IPv4 is written in hex (as `url` does); it is not loopback.
        assert_eq!(
            p("http://[::ffff:127.0.0.1]/").host_str(),
            Some("[::ffff:7f00:1]")
        );
        assert!(!is_loopback("http://[::ffff:127.0.0.1]/"));
        assert_eq!(p("http://[::1]:/").as_str(), "http://[::1]/");
        for bad in [
            "http://[::1/",
            "http://[::1]x/",
            "http://[::1]]/",
            "http://[fe80::1%25eth0]/",
            "http://[v1.x]/",
            "http://[1.2.3.4]/",
            "http://[::ffff:1.2.3.04]/",
            "http://[12345::]/",
            "http://[]/",
        ] {
            assert_eq!(err(bad), UrlError::InvalidIpv6, "{bad}");
        }
    }

    #[test]
    fn reader_ports() {
        assert_eq!(p("http://h:80/").port(), None);
        assert_eq!(p("http://h:80/").as_str(), "http://h/");
        assert_eq!(p("https://h:443").as_str(), "https://h/");
        assert_eq!(p("https://h:80/").port(), Some(80));
        assert_eq!(p("http://h:443/").port(), Some(443));
        assert_eq!(p("http://h:0080/").port(), None);
        assert_eq!(p("http://h:08080/").as_str(), "http://h:8080/");
        assert_eq!(p("http://h:/").port(), None);
        assert_eq!(p("http://h:0/").port(), Some(0));
        assert_eq!(p("http://h:65535/").port(), Some(65535));
        assert_eq!(p("myapp://h:80/").port(), Some(80));
        assert_eq!(p("myapp://h:80/").port_or_known_default(), Some(80));
        assert_eq!(p("myapp://h/").port_or_known_default(), None);
        assert_eq!(p("https://h/").port_or_known_default(), Some(443));
        for bad in [
            "http://h:65536/",
            "http://h:99999999999999999999/",
            "http://h:8a/",
            "http://h:-1/",
            "http://h:80:81/",
            "http://h: 80/",
        ] {
            assert_eq!(err(bad), UrlError::InvalidPort, "{bad}");
        }
    }

    #[test]
    fn reader_hosts_are_lower_cased_and_strict() {
        let u = p("HTTP://EXAMPLE.Com/A/B?Q=X#F");
        assert_eq!(u.as_str(), "http://example.com/A/B?Q=X#F");
        assert_eq!(u.scheme(), "http");
        assert_eq!(u.host(), Some(Host::Domain("example.com")));
        assert_eq!(
            p("http://a_b~c-d.example/").host_str(),
            Some("a_b~c-d.example")
        );
        assert_eq!(
            p("http://127.0.0.1/").host(),
            Some(Host::Ipv4(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(
            p("http://1.2.3.4.example/").host(),
            Some(Host::Domain("1.2.3.4.example"))
        );
        // Numeric-looking hosts WHATWG or inet_aton would read as IPv4 in another form.
        for bad in [
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f000001/",
            "http://010.0.0.1/",
            "http://2130706433/",
            "http://1.2.3.256/",
            "http://example.123/",
            "http://example.0x1/",
            "http://127.0.0.1./",
        ] {
            assert_eq!(err(bad), UrlError::InvalidIpv4, "{bad}");
        }
        assert_eq!(err("http://a..b/"), UrlError::InvalidHost { offset: 9 });
        assert_eq!(err("http://./"), UrlError::InvalidHost { offset: 7 });
        assert_eq!(err("http://.a/"), UrlError::InvalidHost { offset: 7 });
        assert_eq!(err("http://a!b/"), UrlError::InvalidHost { offset: 8 });
        assert_eq!(err("http://a b/"), UrlError::InvalidHost { offset: 8 });
        assert_eq!(err("http://a\\b/"), UrlError::InvalidHost { offset: 8 });
        assert_eq!(
            err("http://h\\@x/"),
            UrlError::InvalidCharacter { offset: 8 }
        );
    }

    #[test]
    fn reader_trailing_dot_is_kept() {
        let u = p("https://Example.COM./x");
        assert_eq!(u.host_str(), Some("example.com."));
        assert!(!same_origin(
            "https://example.com./",
            "https://example.com/"
        ));
        assert!(!is_loopback("http://localhost./"));
        assert!(is_loopback("http://LocalHost/"));
    }

    #[test]
    fn reader_non_ascii_and_percent_encoded_hosts() {
        let e = err("https://bücher.example/");
        assert_eq!(e, UrlError::NonAsciiHost);
        assert!(e.to_string().contains("xn--"), "{e}");
        assert_eq!(err("https://例え.テスト/"), UrlError::NonAsciiHost);
        assert_eq!(err("http://exa\u{ff0f}mple/"), UrlError::NonAsciiHost);
        assert_eq!(
            p("https://xn--bcher-kva.example/").host_str(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(err("http://%6c%6fcalhost/"), UrlError::PercentEncodedHost);
        assert_eq!(err("http://h%2e/"), UrlError::PercentEncodedHost);
        assert!(!is_loopback("http://%6c%6fcalhost/"));
        assert!(matches!(
            check_endpoint("http://%6c%6fcalhost/"),
            Err(DiscoveryError::InvalidUrl {
                reason: UrlError::PercentEncodedHost,
                ..
            })
        ));
        assert!(matches!(
            origin("https://bücher.example/"),
            Err(DiscoveryError::InvalidUrl {
                reason: UrlError::NonAsciiHost,
                ..
            })
        ));
    }

    #[test]
    fn reader_dot_segments() {
        for (input, path) in [
            ("http://h/a/b/../c", "/a/c"),
            ("http://h/../../x", "/x"),
            ("http://h/a/%2E%2e/b", "/b"),
            ("http://h/a/.%2e/b", "/b"),
            ("http://h/a/%2e./b", "/b"),
            ("http://h/a/%2e/b", "/a/b"),
            ("http://h/a/./", "/a/"),
            ("http://h/a/.", "/a/"),
            ("http://h/a/..", "/"),
            ("http://h/a/../", "/"),
            ("http://h/..", "/"),
            ("http://h/.", "/"),
            ("http://h/a//../b", "/a/b"),
            ("http://h/a//b", "/a//b"),
            ("http://h/a/...", "/a/..."),
            ("http://h/a/..b/.c", "/a/..b/.c"),
            ("http://h/a/b/..?q=/../", "/a/"),
        ] {
            assert_eq!(p(input).path(), path, "{input}");
        }
        assert_eq!(p("http://h/a/b/..?q=/../").query(), Some("q=/../"));
    }

    #[test]
    fn reader_empty_path_query_fragment() {
        assert_eq!(p("https://h").as_str(), "https://h/");
        assert_eq!(p("https://h?x").as_str(), "https://h/?x");
        assert_eq!(p("https://h#f").as_str(), "https://h/#f");
        let u = p("https://h/p?");
        assert_eq!((u.query(), u.fragment()), (Some(""), None));
        let u = p("https://h/p#");
        assert_eq!((u.query(), u.fragment()), (None, Some("")));
        let u = p("https://h/p?a=1?b/c:@&d=%2F#frag/?:@");
        assert_eq!(u.path(), "/p");
        assert_eq!(u.query(), Some("a=1?b/c:@&d=%2F"));
        assert_eq!(u.fragment(), Some("frag/?:@"));
        assert_eq!(u.without_query(), "https://h/p");
        assert_eq!(u.without_fragment(), "https://h/p?a=1?b/c:@&d=%2F");
        assert_eq!(u.origin_str(), "https://h");
        assert_eq!(
            err("https://h/p#a#b"),
            UrlError::InvalidCharacter { offset: 13 }
        );
    }

    #[test]
    fn reader_userinfo_is_detected_and_dropped() {
        let u = p("https://u:p@H/x");
        assert!(u.has_userinfo());
        assert_eq!(u.as_str(), "https://h/x");
        assert!(p("https://@h/").has_userinfo());
        assert!(p("https://:@h/").has_userinfo());
        assert!(!p("https://h/a@b").has_userinfo());
        assert_eq!(err("https://a@b@h/"), UrlError::InvalidHost { offset: 11 });
        assert_eq!(
            err("https://u p@h/"),
            UrlError::InvalidCharacter { offset: 9 }
        );
        assert_eq!(
            err("https://u%zz@h/"),
            UrlError::InvalidPercentEncoding { offset: 9 }
        );
        assert_eq!(p("https://u%40x:p%3A@h/").host_str(), Some("h"));
    }

    #[test]
    fn reader_characters_and_percent_encoding() {
        assert_eq!(
            err("http://h/a b"),
            UrlError::InvalidCharacter { offset: 10 }
        );
        assert_eq!(err("http://h/é"), UrlError::InvalidCharacter { offset: 9 });
        assert_eq!(
            err("http://h/a\\b"),
            UrlError::InvalidCharacter { offset: 10 }
        );
        for c in ['"', '<', '>', '^', '`', '{', '|', '}', '\t', '\n', '\u{7f}'] {
            let s = std::format!("http://h/?{c}");
            assert_eq!(err(&s), UrlError::InvalidCharacter { offset: 10 }, "{s:?}");
        }
        assert_eq!(
            err("http://h/a%zz"),
            UrlError::InvalidPercentEncoding { offset: 10 }
        );
        assert_eq!(
            err("http://h/a%2"),
            UrlError::InvalidPercentEncoding { offset: 10 }
        );
        assert_eq!(
            err("http://h/?%"),
            UrlError::InvalidPercentEncoding { offset: 10 }
        );
        // Percent-encodings are kept as written.
        assert_eq!(p("http://h/%7e%7E?%aa").as_str(), "http://h/%7e%7E?%aa");
        assert_eq!(p("http://h/!$&'()*+,;=:@").path(), "/!$&'()*+,;=:@");
        let e = err("http://h/a b");
        assert_eq!(e.to_string(), "character not allowed in a URL at byte 10");
    }

    #[test]
    fn reader_schemes_and_redirect_uris() {
        for bad in [
            "",
            "/relative",
            "not a url",
            "1http://h/",
            "h ttp://h/",
            ":x",
            "ht~tp://h",
        ] {
            assert_eq!(err(bad), UrlError::NotAbsolute, "{bad:?}");
        }
        // RFC 8252 §7.1 private-use scheme redirect URIs.
        let u = p("com.example.app:/oauth2redirect/example-provider");
        assert_eq!(u.scheme(), "com.example.app");
        assert_eq!(
            (u.host(), u.path()),
            (None, "/oauth2redirect/example-provider")
        );
        assert_eq!(
            p("Com.Example.App:/a/../cb").as_str(),
            "com.example.app:/cb"
        );
        assert_eq!(p("com.example.app:/.//x").as_str(), "com.example.app:/.//x");
        assert_eq!(p("com.example.app:/.//x").path(), "/.//x");
        let u = p("urn:ietf:params:oauth:x");
        assert_eq!((u.scheme(), u.path()), ("urn", "ietf:params:oauth:x"));
        assert_eq!(p("myapp://cb/path").host_str(), Some("cb"));
        assert_eq!(p("myapp://cb").path(), "");
        assert_eq!(p("file:///etc/passwd").host_str(), Some(""));
        assert_eq!(p("x+y.z-1:").as_str(), "x+y.z-1:");
        // No `//`: no host, whatever the scheme.
        let u = p("http:example.com");
        assert_eq!(u.host(), None);
        assert!(matches!(
            origin("http:example.com"),
            Err(DiscoveryError::MissingHost { .. })
        ));
        assert!(matches!(
            origin("http:///x"),
            Err(DiscoveryError::MissingHost { .. })
        ));
        assert!(matches!(
            origin("https://u@:1/"),
            Err(DiscoveryError::MissingHost { .. })
        ));
    }

    #[test]
    fn configuration_urls_use_the_reader() {
        use crate::session::{Config, ConfigError, OAuthConfig};
        let problem = |resource: &str, redirect: &str| match Config::oauth(
            resource,
            OAuthConfig {
                redirect_uri: Some(redirect.into()),
                ..OAuthConfig::default()
            },
        )
        .validate()
        {
            Ok(()) => None,
            Err(ConfigError::Invalid { field, problem }) => Some((field, problem)),
            Err(e) => panic!("{e:?}"),
        };
        let ok = "http://127.0.0.1:8976/callback";
        assert_eq!(problem("https://mcp.example.com/mcp", ok), None);
        assert_eq!(
            problem("https://mcp.example.com/mcp", "com.example.app:/cb"),
            None
        );
        let (field, why) = problem("https://bücher.example/mcp", ok).unwrap();
        assert_eq!(field, "resource_url");
        assert!(why.contains("punycode"), "{why}");
        for no_host in ["http:mcp.example.com", "https:///mcp"] {
            assert_eq!(
                problem(no_host, ok),
                Some(("resource_url".into(), "has no host")),
                "{no_host}"
            );
        }
        assert_eq!(
            problem("https://h/mcp", "http://127.0.0.1/cb#x"),
            Some(("credential.redirect_uri".into(), "must not have a fragment"))
        );
        assert_eq!(
            problem("https://h/mcp", "/cb"),
            Some(("credential.redirect_uri".into(), "is not an absolute URL"))
        );
    }

    /// The host as written in an `http_url()` input (no brackets to skip there: IPv6
    /// literals never reach the IPv4 check).
    fn written_host(input: &str) -> &str {
        let after = input.split_once("//").map_or("", |(_, rest)| rest);
        let authority = after.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        host_port.split(':').next().unwrap_or("")
    }

    /// `url` reads numeric hosts as IPv4 in any form (and drops a trailing dot after
    /// one); ours only the dotted quad as written.
    fn url_reads_as_ipv4(input: &str, theirs: &::url::Url) -> bool {
        matches!(theirs.host(), Some(::url::Host::Ipv4(_)))
            && theirs.host_str() != Some(written_host(input))
    }

    /// Whether `e`, a refusal of a URL that `url` accepts, is one of the documented
    /// strictnesses (see the module documentation) rather than a disagreement.
    fn refusal_is_documented(input: &str, e: &DiscoveryError, theirs: &::url::Url) -> bool {
        let b = input.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        match e {
            DiscoveryError::InvalidUrl { reason, .. } => match *reason {
                UrlError::InvalidIpv4 => url_reads_as_ipv4(input, theirs),
                UrlError::InvalidHost { offset } => {
                    is_sub_delim(at(offset)) || matches!(at(offset), b'.' | b'@')
                }
                UrlError::InvalidCharacter { offset } => !is_query_char(at(offset)),
                UrlError::InvalidPercentEncoding { offset } => at(offset) == b'%',
                UrlError::PercentEncodedHost => true,
                _ => false,
            },
            // `url` reads `http:///x` as `http://x/`.
            DiscoveryError::MissingHost { .. } => written_host(input).is_empty(),
            _ => false,
        }
    }

    fn ipv6_text() -> impl Strategy<Value = std::string::String> {
        (any::<[u16; 8]>(), any::<u8>(), any::<bool>()).prop_map(|(mut g, zeros, upper)| {
            for (i, x) in g.iter_mut().enumerate() {
                if zeros & (1 << i) != 0 {
                    *x = 0;
                }
            }
            let a = Ipv6Addr::from(g);
            // Rust's own text (compressed, IPv4-mapped in mixed form) or all groups.
            let s = if upper {
                g.iter()
                    .map(|x| std::format!("{x:X}"))
                    .collect::<std::vec::Vec<_>>()
                    .join(":")
            } else {
                std::format!("{a}")
            };
            std::format!("[{s}]")
        })
    }

    fn host_text() -> impl Strategy<Value = std::string::String> {
        prop_oneof![
            4 => "[a-zA-Z0-9_~-]{1,6}(\\.[a-zA-Z0-9-]{1,6}){0,3}\\.?",
            2 => any::<[u8; 4]>().prop_map(|o| std::format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
            2 => ipv6_text(),
            1 => "[0-9]{1,4}(\\.[0-9]{1,4}){0,4}\\.?",
            1 => "0[xX][0-9a-fA-F]{0,8}(\\.[0-9]{1,3}){0,3}",
            1 => Just("localhost".into()),
            1 => "[a-z]{1,3}[!$&'()*+,;=][a-z]{1,3}",
            1 => "[a-z]{0,3}%[0-9a-fA-F]{2}[a-z]{0,3}",
            1 => Just("".into()),
            1 => Just("a..b".into()),
        ]
    }

    fn segment() -> impl Strategy<Value = std::string::String> {
        prop_oneof![
            4 => "[a-zA-Z0-9_~-]{1,5}",
            2 => prop::sample::select(std::vec![".", "..", "%2e", "%2E%2e", ".%2E", "", "..."]).prop_map(Into::into),
            1 => "[!$&'()*+,;=:@]{1,3}",
            1 => "%[0-9a-fA-F]{2}",
            1 => prop::sample::select(std::vec!["a b", "%", "%g0", "\\", "|", "^", "{x}", "\"", "é", "<>"]).prop_map(Into::into),
        ]
    }

    fn http_url() -> impl Strategy<Value = std::string::String> {
        (
            prop::sample::select(std::vec!["http", "https", "HTTP", "HtTpS"]),
            proptest::option::weighted(0.1, "[a-z0-9]{1,4}(:[a-z0-9]{0,4})?"),
            host_text(),
            proptest::option::weighted(
                0.4,
                prop_oneof![
                    Just(std::string::String::new()),
                    any::<u16>().prop_map(|p| std::format!("{p}")),
                    prop::sample::select(std::vec!["80", "443", "0080", "65536", "99999"])
                        .prop_map(Into::into),
                ],
            ),
            proptest::collection::vec(segment(), 0..5),
            proptest::option::of("[a-zA-Z0-9=&/?:@+-]{0,8}(%[0-9A-F]{2})?"),
            proptest::option::weighted(0.3, "[a-zA-Z0-9/?:@-]{0,6}"),
        )
            .prop_map(|(scheme, user, host, port, segments, query, fragment)| {
                let mut s = std::format!("{scheme}://");
                if let Some(u) = user {
                    s.push_str(&u);
                    s.push('@');
                }
                s.push_str(&host);
                if let Some(p) = port {
                    s.push(':');
                    s.push_str(&p);
                }
                for seg in segments {
                    s.push('/');
                    s.push_str(&seg);
                }
                if let Some(q) = query {
                    s.push('?');
                    s.push_str(&q);
                }
                if let Some(f) = fragment {
                    s.push('#');
                    s.push_str(&f);
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// On http(s) ASCII URLs our reader agrees with the `url` crate (WHATWG) on
        /// every component, or refuses with one of the documented strictnesses.
        #[test]
        fn reader_agrees_with_the_url_crate(input in http_url()) {
            let ours = parse_http_url(&input, "URL");
            let theirs = ::url::Url::parse(&input);
            match (ours, theirs) {
                (Ok(o), Ok(t)) => {
                    prop_assert_eq!(o.scheme(), t.scheme());
                    prop_assert_eq!(o.host_str(), t.host_str());
                    prop_assert_eq!(o.port(), t.port());
                    prop_assert_eq!(o.port_or_known_default(), t.port_or_known_default());
                    prop_assert_eq!(o.path(), t.path());
                    prop_assert_eq!(o.query(), t.query());
                    prop_assert_eq!(o.fragment(), t.fragment());
                    prop_assert_eq!(o.origin_str(), t.origin().ascii_serialization());
                    let their_userinfo = !t.username().is_empty() || t.password().is_some();
                    prop_assert_eq!(o.has_userinfo(), their_userinfo);
                    if !their_userinfo {
                        prop_assert_eq!(o.as_str(), t.as_str());
                    }
                    let loopback = match t.host() {
                        Some(::url::Host::Ipv4(a)) => a.is_loopback(),
                        Some(::url::Host::Ipv6(a)) => a.is_loopback(),
                        Some(::url::Host::Domain(d)) => d == "localhost",
                        None => false,
                    };
                    prop_assert_eq!(is_loopback(&input), loopback);
                }
                (Err(e), Ok(t)) => {
                    prop_assert!(refusal_is_documented(&input, &e, &t), "{} refused: {:?}; url: {}", input, e, t);
                }
                (Ok(o), Err(e)) => prop_assert!(false, "{} accepted as {} but url says {}", input, o, e),
                (Err(_), Err(_)) => {}
            }
        }

        /// Whatever it reads, it reads its own output back to the same URL.
        #[test]
        fn reader_is_idempotent(input in prop_oneof![http_url(), any::<std::string::String>(), "[a-z.+-]{1,6}:[a-z/.%2e:@?#]{0,20}"]) {
            if let Ok(u) = Url::parse(&input) {
                prop_assert!(u.as_str().is_ascii());
                let mut without_userinfo = u.clone();
                without_userinfo.userinfo = false;
                prop_assert_eq!(Url::parse(u.as_str()), Ok(without_userinfo), "{}", input);
            }
        }
    }
}

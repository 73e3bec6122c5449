//! Small owned HTTP values: what the machine asks the host to send, and what came back.
//!
//! These are plain data (strings, bytes, integers) so that every binding can mirror
//! them one to one. Header values and bodies can carry secrets (a refresh token in a
//! form body, a bearer token in `Authorization`), so `Debug` shows only their names
//! and sizes.

#[cfg(feature = "embedded-io")]
pub mod blocking;
pub mod raw;

pub use raw::{
    parse_response, write_request, write_request_parts, Progress, RawError, ResponseParser,
};

use crate::secret::Secret;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// An HTTP method the machine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// `GET`: metadata discovery.
    Get,
    /// `POST`: token endpoint, registration.
    Post,
}

impl Method {
    /// The method as it appears on the request line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A header name: a `&'static str` for the names the machine writes itself (no
/// allocation: every session keeps an `Authorization` header), or an owned one (a
/// header helper's). Reads as a `&str`.
#[derive(Clone)]
pub struct HeaderName(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Static(&'static str),
    Owned(alloc::boxed::Box<str>),
}

impl HeaderName {
    /// The name as written (compare case-insensitively, RFC 9110 §5.1).
    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Static(s) => s,
            NameRepr::Owned(s) => s,
        }
    }
}

impl core::ops::Deref for HeaderName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for HeaderName {
    fn from(s: &'static str) -> HeaderName {
        HeaderName(NameRepr::Static(s))
    }
}

impl From<String> for HeaderName {
    fn from(s: String) -> HeaderName {
        HeaderName(NameRepr::Owned(s.into_boxed_str()))
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for HeaderName {}

impl PartialEq<str> for HeaderName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for HeaderName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for HeaderName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for HeaderName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HeaderName, D::Error> {
        String::deserialize(d).map(HeaderName::from)
    }
}

/// One request header. The value may be a credential, so it is a [`Secret`].
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// Header name as written (compare case-insensitively).
    pub name: HeaderName,
    /// Header value.
    pub value: Secret,
}

impl Header {
    /// A header from a name and a value.
    pub fn new(name: impl Into<HeaderName>, value: impl Into<Secret>) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

/// A request the machine wants the host to perform (token endpoint, discovery,
/// registration).
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers in order.
    pub headers: Vec<Header>,
    /// Body bytes (empty for `GET`). May contain secrets.
    pub body: Vec<u8>,
}

impl Request {
    /// A `GET` of `url` that accepts JSON.
    pub fn get_json(url: impl Into<String>) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: alloc::vec![Header::new("Accept", "application/json")],
            body: Vec::new(),
        }
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.expose())
    }
}

/// `{"method", "url", "headers": [[name, value], …], "body"}`: the shape a `fetch`
/// action carries (see `Action::to_json`). The header values and the body may hold
/// secrets: serialize into a buffer that is zeroized after use.
impl serde::Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Pairs<'a>(&'a [Header]);
        impl serde::Serialize for Pairs<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for h in self.0 {
                    seq.serialize_element(&(h.name.as_str(), h.value.expose()))?;
                }
                seq.end()
            }
        }
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("method", self.method.as_str())?;
        map.serialize_entry("url", &self.url)?;
        map.serialize_entry("headers", &Pairs(&self.headers))?;
        map.serialize_entry("body", &String::from_utf8_lossy(&self.body))?;
        map.end()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

/// A response to a [`Request`], as the host received it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// Body bytes (may contain tokens).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of headers named `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

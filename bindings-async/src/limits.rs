//! Limits on what a resource server can make a request cost: one place that puts the
//! [`Policy`]'s resource limits on every resource request ([`Client::send`], the
//! [`BearerflowMiddleware`], the MCP client).
//!
//! - `resource_deadline`: the response headers must arrive by then; a response that is
//!   not a stream must also have its whole body by then (measured from the send).
//! - `max_resource_body`: the most bytes a response that is not a stream may have. A
//!   `Content-Length` above it fails before anything is read.
//! - A stream (`text/event-stream`, MCP Streamable HTTP over SSE, WHATWG HTML §9.2) has
//!   no total deadline and no total size: each event may take at most
//!   `max_stream_event` bytes, and the stream may stay silent at most
//!   `stream_idle_timeout` between the ends of two events (an SSE comment line, which
//!   servers send as keep-alive, ends an event too).
//!
//! A limit is enforced inside the response body the caller reads, so `bytes()`,
//! `text()` and `chunk()` all stop at it; the failure is a [`LimitExceeded`] that names
//! the limit, its value and the request it hit. Read from a `reqwest::Error`, it is in
//! the error's source chain: [`Error::from_reqwest`](crate::Error::from_reqwest) finds
//! it, or [`LimitExceeded::find`].
//!
//! [`Client::send`]: crate::Client::send
//! [`BearerflowMiddleware`]: crate::BearerflowMiddleware

use crate::deadline::Alarm;
use bearerflow::policy::Policy;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use reqwest::ResponseBuilderExt;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Which [`Policy`] limit a resource response exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// `Policy::resource_deadline`: no response headers in time, or (for a response
    /// that is not a stream) not the whole body in time.
    ResourceDeadline,
    /// `Policy::max_resource_body`: a response that is not a stream is larger.
    MaxResourceBody,
    /// `Policy::max_stream_event`: one event of a stream is larger.
    MaxStreamEvent,
    /// `Policy::stream_idle_timeout`: a stream stayed silent longer between events.
    StreamIdleTimeout,
}

impl Limit {
    /// The `Policy` field's name, which is also the stable code of the failure.
    pub const fn code(self) -> &'static str {
        match self {
            Limit::ResourceDeadline => "resource_deadline",
            Limit::MaxResourceBody => "max_resource_body",
            Limit::MaxStreamEvent => "max_stream_event",
            Limit::StreamIdleTimeout => "stream_idle_timeout",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Limit::ResourceDeadline | Limit::StreamIdleTimeout => "ms",
            Limit::MaxResourceBody | Limit::MaxStreamEvent => "bytes",
        }
    }
}

/// Where in the exchange a limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Waiting for the response headers.
    Headers,
    /// Reading a response body that is not a stream.
    Body,
    /// Reading a stream (`text/event-stream`).
    Stream,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Headers => "waiting for the response headers",
            Stage::Body => "reading the response body",
            Stage::Stream => "reading the event stream",
        })
    }
}

/// A resource response exceeded a [`Policy`] limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit.
    pub limit: Limit,
    /// Its value, in [`Limit`]'s unit (milliseconds or bytes).
    pub value: u64,
    /// Where in the exchange.
    pub stage: Stage,
    /// The request's origin and path (no query: it is ours, but need not be shown).
    pub url: String,
}

impl LimitExceeded {
    fn new(limit: Limit, value: u64, stage: Stage, url: &reqwest::Url) -> LimitExceeded {
        LimitExceeded {
            limit,
            value,
            stage,
            url: origin_and_path(url),
        }
    }

    /// The `LimitExceeded` in `error`'s source chain, if any (a body read through a
    /// bearerflow-limited response fails with a `reqwest::Error` that wraps it).
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a LimitExceeded> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<LimitExceeded>() {
                return Some(found);
            }
            next = e.source();
        }
        None
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: limit {} ({} {}) exceeded while {}",
            bearerflow::text::Sanitized::quoted(&self.url),
            self.limit.code(),
            self.value,
            self.limit.unit(),
            self.stage
        )
    }
}

impl std::error::Error for LimitExceeded {}

/// `scheme://host[:port]/path` of `url`.
pub(crate) fn origin_and_path(url: &reqwest::Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// The resource limits of one [`Policy`], as the driver applies them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResourceLimits {
    deadline: Duration,
    max_body: u64,
    max_event: u64,
    idle: Duration,
}

impl ResourceLimits {
    pub(crate) fn from_policy(policy: &Policy) -> ResourceLimits {
        ResourceLimits {
            deadline: Duration::from_millis(policy.resource_deadline.0),
            max_body: policy.max_resource_body,
            max_event: u64::from(policy.max_stream_event),
            idle: Duration::from_millis(policy.stream_idle_timeout.0),
        }
    }

    fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// `exchange` (a request whose response headers are awaited) held to
    /// `resource_deadline` from `started`: await it, and turn its `Err` into
    /// [`ResourceLimits::headers_late`]. The deadline is kept by the process's deadline
    /// watchdog ([`crate::deadline`]), not a tokio timer per request; and this is a
    /// plain future, not an `async fn`, so that the exchange is not moved once more on
    /// every request.
    pub(crate) fn headers_by_deadline<F: std::future::Future + Unpin>(
        &self,
        started: Instant,
        exchange: F,
    ) -> crate::deadline::Deadline<F> {
        crate::deadline::Deadline::new((started + self.deadline).into_std(), exchange)
    }

    /// The response headers of a request to `url` did not come by the deadline.
    pub(crate) fn headers_late(&self, url: &reqwest::Url) -> LimitExceeded {
        LimitExceeded::new(
            Limit::ResourceDeadline,
            Self::millis(self.deadline),
            Stage::Headers,
            url,
        )
    }

    /// `response` with its body limited: a stream per event and by idle time, any
    /// other body by size and by `resource_deadline` from `started`.
    pub(crate) fn guard(&self, response: reqwest::Response, started: Instant) -> reqwest::Response {
        let url = response.url().clone();
        let streaming = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| is_event_stream(v.as_bytes()));
        let mode = if streaming {
            Mode::Stream {
                event_bytes: 0,
                line_empty: true,
                after_cr: false,
            }
        } else {
            Mode::Whole { read: 0 }
        };
        let due = if streaming {
            Instant::now() + self.idle
        } else {
            started + self.deadline
        };
        let http: http::Response<reqwest::Body> = response.into();
        let (mut parts, body) = http.into_parts();
        let guarded = Guarded {
            inner: body,
            limits: *self,
            mode,
            alarm: Alarm::new(due.into_std()),
            url: url.clone(),
            failed: false,
        };
        // `reqwest::Response::from` reads the URL from an extension only reqwest's
        // `ResponseBuilderExt` can set: carry it over from a builder, alone in the map
        // (reqwest takes it out), and put the response's own extensions back after.
        let own = std::mem::take(&mut parts.extensions);
        if let Ok(carrier) = http::Response::builder().url(url).body(()) {
            parts.extensions = carrier.into_parts().0.extensions;
        }
        let mut rebuilt = reqwest::Response::from(http::Response::from_parts(
            parts,
            reqwest::Body::wrap(guarded),
        ));
        *rebuilt.extensions_mut() = own;
        rebuilt
    }
}

/// Whether a `Content-Type` value names `text/event-stream` (its media type, before
/// any parameter, ASCII case-insensitive, surrounding whitespace ignored).
fn is_event_stream(content_type: &[u8]) -> bool {
    let media_type = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    media_type.eq_ignore_ascii_case(b"text/event-stream")
}

enum Mode {
    /// Not a stream: bytes so far.
    Whole { read: u64 },
    /// `text/event-stream`: bytes of the current event, and where the line scanner is
    /// (SSE lines end in CRLF, LF or CR; an empty line ends an event).
    Stream {
        event_bytes: u64,
        line_empty: bool,
        after_cr: bool,
    },
}

/// A response body that fails with [`LimitExceeded`] at the first byte too many or
/// when its timer runs out.
struct Guarded {
    inner: reqwest::Body,
    limits: ResourceLimits,
    mode: Mode,
    /// When the body fails for want of progress: the deadline (a whole body) or the
    /// idle limit (a stream, moved at the end of each event). Armed with the deadline
    /// watchdog only when the body has to wait: a body that is there at once (most
    /// are) costs no timer.
    alarm: Alarm,
    url: reqwest::Url,
    failed: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Guarded {
    fn exceeded(&mut self, limit: Limit, value: u64, stage: Stage) -> BoxError {
        self.failed = true;
        Box::new(LimitExceeded::new(limit, value, stage, &self.url))
    }

    /// Count `data` against the limits; an error when one is exceeded.
    fn account(&mut self, data: &Bytes) -> Result<(), BoxError> {
        let limits = self.limits;
        let exceeded = match &mut self.mode {
            Mode::Whole { read } => {
                *read = read.saturating_add(data.len() as u64);
                (*read > limits.max_body).then_some((
                    Limit::MaxResourceBody,
                    limits.max_body,
                    Stage::Body,
                ))
            }
            Mode::Stream {
                event_bytes,
                line_empty,
                after_cr,
            } => {
                let mut event_ended = false;
                let mut too_big = false;
                for &b in data.iter() {
                    if b == b'\n' && *after_cr {
                        // The LF of a CRLF: the line already ended at the CR.
                        *after_cr = false;
                        continue;
                    }
                    *after_cr = b == b'\r';
                    if b == b'\n' || b == b'\r' {
                        if *line_empty {
                            *event_bytes = 0;
                            event_ended = true;
                        }
                        *line_empty = true;
                        continue;
                    }
                    *line_empty = false;
                    *event_bytes += 1;
                    if *event_bytes > limits.max_event {
                        too_big = true;
                        break;
                    }
                }
                if event_ended {
                    self.alarm.reset(std::time::Instant::now() + limits.idle);
                }
                too_big.then_some((Limit::MaxStreamEvent, limits.max_event, Stage::Stream))
            }
        };
        match exceeded {
            Some((limit, value, stage)) => Err(self.exceeded(limit, value, stage)),
            None => Ok(()),
        }
    }

    fn timed_out(&mut self) -> BoxError {
        let limits = self.limits;
        match self.mode {
            Mode::Whole { .. } => self.exceeded(
                Limit::ResourceDeadline,
                ResourceLimits::millis(limits.deadline),
                Stage::Body,
            ),
            Mode::Stream { .. } => self.exceeded(
                Limit::StreamIdleTimeout,
                ResourceLimits::millis(limits.idle),
                Stage::Stream,
            ),
        }
    }
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if let Mode::Whole { read: 0 } = this.mode {
            // A declared length above the limit fails before anything is read.
            if this
                .inner
                .size_hint()
                .upper()
                .is_some_and(|n| n > this.limits.max_body)
            {
                let max = this.limits.max_body;
                return Poll::Ready(Some(Err(this.exceeded(
                    Limit::MaxResourceBody,
                    max,
                    Stage::Body,
                ))));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Err(e) = this.account(data) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.alarm.poll_passed(cx) {
                    Poll::Ready(Some(Err(this.timed_out())))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bearerflow::time::Millis;

    fn limits() -> ResourceLimits {
        ResourceLimits::from_policy(&Policy {
            resource_deadline: Millis(1_000),
            max_resource_body: 10,
            max_stream_event: 8,
            stream_idle_timeout: Millis(500),
            ..Policy::default()
        })
    }

    fn response(content_type: &str, body: reqwest::Body) -> reqwest::Response {
        let r = http::Response::builder()
            .header("content-type", content_type)
            .url("http://127.0.0.1:9/mcp?x=1".parse().expect("a URL"))
            .body(body)
            .expect("a response");
        reqwest::Response::from(r)
    }

    #[tokio::test]
    async fn a_whole_body_stops_at_the_size_limit_and_names_it() {
        let ok = limits().guard(
            response("application/json", reqwest::Body::from("0123456789")),
            Instant::now(),
        );
        assert_eq!(ok.url().as_str(), "http://127.0.0.1:9/mcp?x=1");
        assert_eq!(ok.bytes().await.expect("10 bytes fit").len(), 10);
        let big = limits().guard(
            response("application/json", reqwest::Body::from("0123456789A")),
            Instant::now(),
        );
        let err = big.bytes().await.expect_err("11 bytes do not fit");
        let found = LimitExceeded::find(&err).expect("the limit is in the chain");
        assert_eq!(found.limit, Limit::MaxResourceBody);
        assert_eq!(found.value, 10);
        assert_eq!(found.stage, Stage::Body);
        assert_eq!(found.url, "http://127.0.0.1:9/mcp");
        assert_eq!(
            found.to_string(),
            "http://127.0.0.1:9/mcp: limit max_resource_body (10 bytes) exceeded while reading the response body"
        );
    }

    #[tokio::test]
    async fn events_are_limited_one_by_one_not_in_total() {
        // Three events of 8 bytes each, with every kind of line end: 24 bytes in all,
        // more than max_resource_body, but no event over max_stream_event.
        let body = "data:abc\n\ndata:abc\r\n\r\ndata:abc\r\r: keep\n\n";
        let r = limits().guard(
            response(
                "text/event-stream; charset=utf-8",
                reqwest::Body::from(body),
            ),
            Instant::now(),
        );
        assert_eq!(r.text().await.expect("within limits"), body);
        let r = limits().guard(
            response("text/event-stream", reqwest::Body::from("data:abcd\n\n")),
            Instant::now(),
        );
        let err = r.bytes().await.expect_err("a 9-byte event");
        let found = LimitExceeded::find(&err).expect("in the chain");
        assert_eq!(
            (found.limit, found.stage),
            (Limit::MaxStreamEvent, Stage::Stream)
        );
    }
}

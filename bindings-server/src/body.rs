//! The body of a guarded response: the handler's body (with the frames the layer held
//! while it waited for the first message replayed first), or a refusal's JSON.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The body of a response that went through a [`BearerLayer`](crate::BearerLayer).
pub struct GuardedBody<B: Body> {
    kind: Kind<B>,
}

enum Kind<B: Body> {
    /// The handler's body: held frames first, then an error met while holding (if
    /// any), then the rest (`None` once it ended, or when it ended or failed while held).
    Passed {
        held: VecDeque<Frame<Bytes>>,
        failed: Option<B::Error>,
        rest: Option<Pin<Box<B>>>,
    },
    /// A body the layer wrote (a refusal's JSON).
    Full(Option<Bytes>),
}

impl<B: Body<Data = Bytes>> GuardedBody<B> {
    /// Held frames, then the error met while holding, or the rest of the body.
    pub(crate) fn passed(
        held: VecDeque<Frame<Bytes>>,
        failed: Option<B::Error>,
        rest: Option<Pin<Box<B>>>,
    ) -> GuardedBody<B> {
        GuardedBody {
            kind: Kind::Passed { held, failed, rest },
        }
    }

    /// Text the layer wrote.
    pub(crate) fn full(text: impl Into<Bytes>) -> GuardedBody<B> {
        GuardedBody {
            kind: Kind::Full(Some(text.into())),
        }
    }
}

// Nothing of a `GuardedBody` is ever pinned in place: the handler's body is boxed and
// pinned on its own, the rest are plain values that are moved freely.
impl<B: Body> Unpin for GuardedBody<B> {}

impl<B: Body> fmt::Debug for GuardedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Passed { held, .. } => f
                .debug_struct("GuardedBody::Passed")
                .field("held_frames", &held.len())
                .finish_non_exhaustive(),
            Kind::Full(b) => f
                .debug_struct("GuardedBody::Full")
                .field("len", &b.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Passed { held, failed, rest } => {
                if let Some(frame) = held.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(e) = failed.take() {
                    return Poll::Ready(Some(Err(e)));
                }
                let Some(body) = rest.as_mut() else {
                    return Poll::Ready(None);
                };
                let polled = body.as_mut().poll_frame(cx);
                if let Poll::Ready(None) = polled {
                    *rest = None;
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::Passed { held, failed, rest } => {
                held.is_empty()
                    && failed.is_none()
                    && rest.as_ref().is_none_or(|b| b.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::Passed { held, rest, .. } => {
                let held_len: u64 = held
                    .iter()
                    .filter_map(Frame::data_ref)
                    .map(|d| d.len() as u64)
                    .sum();
                let rest_hint = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint());
                let mut hint = SizeHint::new();
                hint.set_lower(rest_hint.lower().saturating_add(held_len));
                if let Some(upper) = rest_hint.upper() {
                    hint.set_upper(upper.saturating_add(held_len));
                }
                hint
            }
        }
    }
}

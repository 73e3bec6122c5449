//! Book-keeping for the resource requests the host has begun and not yet finished.
//!
//! Kept in id order (ids only grow), so waiting requests are released in the order they
//! began. One unfinished request (the common case) lives inline, with no buffer; a burst
//! moves the list to a `Vec` whose capacity is kept, so the steady state of "begin,
//! send, finish" never allocates.

use super::action::RequestId;
use crate::time::Timestamp;
use crate::token::Generation;
use alloc::vec::Vec;

/// Where one request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Waiting for a credential since this moment.
    Waiting { since: Timestamp },
    /// A `Send` was emitted with this credential generation; the host owes an answer.
    Sent { generation: Generation },
}

/// One unfinished request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub(crate) id: RequestId,
    pub(crate) state: State,
    /// Already retried once after a `401` (rule: at most one retry, then `Fail`).
    pub(crate) retried: bool,
    /// Step-up authorizations done for this request.
    pub(crate) step_ups: u8,
    /// Already retried once with a new DPoP nonce (RFC 9449 §9; at most once).
    pub(crate) nonce_retried: bool,
    /// Fingerprint of the scope the last step-up was for.
    pub(crate) step_up_scope: u32,
}

/// The unfinished requests, in id order.
#[derive(Default)]
pub(crate) enum Requests {
    /// None, and no buffer.
    #[default]
    Empty,
    /// One, inline.
    One(Pending),
    /// A buffer, once more than one was unfinished at a time.
    Many(Vec<Pending>),
}

impl Requests {
    fn as_slice(&self) -> &[Pending] {
        match self {
            Requests::Empty => &[],
            Requests::One(p) => core::slice::from_ref(p),
            Requests::Many(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Pending] {
        match self {
            Requests::Empty => &mut [],
            Requests::One(p) => core::slice::from_mut(p),
            Requests::Many(v) => v,
        }
    }

    fn push(&mut self, id: RequestId, state: State) {
        let p = Pending {
            id,
            state,
            retried: false,
            step_ups: 0,
            nonce_retried: false,
            step_up_scope: 0,
        };
        match self {
            Requests::Empty => *self = Requests::One(p),
            Requests::Many(v) => v.push(p),
            Requests::One(first) => {
                let mut v = Vec::with_capacity(4);
                v.push(*first);
                v.push(p);
                *self = Requests::Many(v);
            }
        }
    }

    /// A new request, sent at once with `generation`.
    pub(crate) fn push_sent(&mut self, id: RequestId, generation: Generation) {
        self.push(id, State::Sent { generation });
    }

    /// A new request, waiting for a credential since `now`.
    pub(crate) fn push_waiting(&mut self, id: RequestId, now: Timestamp) {
        self.push(id, State::Waiting { since: now });
    }

    /// The generation request `id` was sent with, if it is unfinished and sent.
    pub(crate) fn sent_generation(&self, id: RequestId) -> Option<Generation> {
        let p = self.as_slice().get(self.index(id)?)?;
        match p.state {
            State::Sent { generation } => Some(generation),
            State::Waiting { .. } => None,
        }
    }

    fn index(&self, id: RequestId) -> Option<usize> {
        self.as_slice().binary_search_by_key(&id, |p| p.id).ok()
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut Pending> {
        let i = self.index(id)?;
        self.as_mut_slice().get_mut(i)
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Pending> {
        let i = self.index(id)?;
        match self {
            Requests::Empty => None,
            Requests::One(p) => {
                let p = *p;
                *self = Requests::Empty;
                Some(p)
            }
            Requests::Many(v) => Some(v.remove(i)),
        }
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Pending> {
        self.as_mut_slice().iter_mut()
    }

    pub(crate) fn any_waiting(&self) -> bool {
        self.as_slice()
            .iter()
            .any(|p| matches!(p.state, State::Waiting { .. }))
    }

    /// The earliest moment any request started waiting.
    pub(crate) fn oldest_wait(&self) -> Option<Timestamp> {
        self.as_slice()
            .iter()
            .filter_map(|p| match p.state {
                State::Waiting { since } => Some(since),
                State::Sent { .. } => None,
            })
            .min()
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Remove and return the ids of every waiting request that `pred` selects, in order.
    pub(crate) fn drain_waiting(
        &mut self,
        mut pred: impl FnMut(&Pending) -> bool,
    ) -> Vec<RequestId> {
        let mut out = Vec::new();
        let mut take = |p: &Pending| {
            let take = matches!(p.state, State::Waiting { .. }) && pred(p);
            if take {
                out.push(p.id);
            }
            take
        };
        match self {
            Requests::Empty => {}
            Requests::One(p) => {
                if take(p) {
                    *self = Requests::Empty;
                }
            }
            Requests::Many(v) => v.retain(|p| !take(p)),
        }
        out
    }
}

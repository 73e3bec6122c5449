//! Book-keeping for the resource requests the host has begun and not yet finished.
//!
//! A `Vec` kept in id order (ids only grow), so waiting requests are released in the
//! order they began, and so the steady state of "begin, send, finish" reuses capacity
//! instead of allocating.

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
    /// Fingerprint of the scope the last step-up was for.
    pub(crate) step_up_scope: u64,
}

/// The unfinished requests, in id order.
#[derive(Default)]
pub(crate) struct Requests {
    list: Vec<Pending>,
}

impl Requests {
    fn push(&mut self, id: RequestId, state: State) {
        self.list.push(Pending {
            id,
            state,
            retried: false,
            step_ups: 0,
            step_up_scope: 0,
        });
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
        let p = self.list.get(self.index(id)?)?;
        match p.state {
            State::Sent { generation } => Some(generation),
            State::Waiting { .. } => None,
        }
    }

    fn index(&self, id: RequestId) -> Option<usize> {
        self.list.binary_search_by_key(&id, |p| p.id).ok()
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut Pending> {
        let i = self.index(id)?;
        self.list.get_mut(i)
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Pending> {
        let i = self.index(id)?;
        Some(self.list.remove(i))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Pending> {
        self.list.iter_mut()
    }

    pub(crate) fn any_waiting(&self) -> bool {
        self.list
            .iter()
            .any(|p| matches!(p.state, State::Waiting { .. }))
    }

    /// The earliest moment any request started waiting.
    pub(crate) fn oldest_wait(&self) -> Option<Timestamp> {
        self.list
            .iter()
            .filter_map(|p| match p.state {
                State::Waiting { since } => Some(since),
                State::Sent { .. } => None,
            })
            .min()
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Remove and return the ids of every waiting request that `pred` selects, in order.
    pub(crate) fn drain_waiting(
        &mut self,
        mut pred: impl FnMut(&Pending) -> bool,
    ) -> Vec<RequestId> {
        let mut out = Vec::new();
        self.list.retain(|p| {
            let take = matches!(p.state, State::Waiting { .. }) && pred(p);
            if take {
                out.push(p.id);
            }
            !take
        });
        out
    }
}

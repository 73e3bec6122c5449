//! The queue of actions waiting to be drained.
//!
//! Most of the time it holds nothing or one action (a `Send` between `begin_request` and
//! `poll_action`), so that case lives inline: a quiet session keeps no queue buffer, and
//! the hot path allocates nothing. A burst moves it to a `VecDeque`, whose capacity is
//! kept for the next burst.

use super::Action;
use alloc::collections::VecDeque;

#[derive(Default)]
pub(crate) enum ActionQueue {
    /// Nothing queued, and no buffer.
    #[default]
    Empty,
    /// One action queued, no buffer.
    One(Action),
    /// A buffer (possibly empty), once more than one action was queued at a time.
    Many(VecDeque<Action>),
}

impl ActionQueue {
    pub(crate) fn push_back(&mut self, action: Action) {
        match self {
            ActionQueue::Empty => *self = ActionQueue::One(action),
            ActionQueue::Many(q) => q.push_back(action),
            ActionQueue::One(_) => {
                let ActionQueue::One(first) = core::mem::take(self) else {
                    // Matched just above.
                    return;
                };
                let mut q = VecDeque::with_capacity(4);
                q.push_back(first);
                q.push_back(action);
                *self = ActionQueue::Many(q);
            }
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Action> {
        match self {
            ActionQueue::Empty => None,
            ActionQueue::Many(q) => q.pop_front(),
            ActionQueue::One(_) => match core::mem::take(self) {
                ActionQueue::One(a) => Some(a),
                _ => None,
            },
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ActionQueue::Empty => 0,
            ActionQueue::One(_) => 1,
            ActionQueue::Many(q) => q.len(),
        }
    }

    /// Keep only the actions `keep` selects, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Action) -> bool) {
        match self {
            ActionQueue::Empty => {}
            ActionQueue::One(a) => {
                if !keep(a) {
                    *self = ActionQueue::Empty;
                }
            }
            ActionQueue::Many(q) => q.retain(|a| keep(a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{RequestError, RequestId};

    fn fail(n: u64) -> Action {
        Action::Fail {
            id: RequestId(n),
            error: RequestError::Timeout,
            cause: None,
        }
    }

    #[test]
    fn fifo_across_the_inline_and_the_buffer() {
        let mut q = ActionQueue::default();
        assert!(q.pop_front().is_none());
        q.push_back(fail(1));
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_front(), Some(fail(1)));
        for n in 1..=5 {
            q.push_back(fail(n));
        }
        q.retain(|a| {
            !matches!(
                a,
                Action::Fail {
                    id: RequestId(3),
                    ..
                }
            )
        });
        let got: alloc::vec::Vec<Action> = core::iter::from_fn(|| q.pop_front()).collect();
        assert_eq!(got, [fail(1), fail(2), fail(4), fail(5)]);
        q.push_back(fail(9));
        q.retain(|_| false);
        assert_eq!(q.len(), 0);
    }
}

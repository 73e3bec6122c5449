//! Deadlines for resource requests without a tokio timer for each.
//!
//! Every resource request is held to `Policy::resource_deadline` until its response
//! headers arrive ([`crate::limits`]). A tokio timer per request costs a registration
//! and a removal under the time driver's lock, and while one is registered every park
//! of the runtime reads the clock and turns the wheel: on a loaded two-core machine
//! about half a microsecond per request, the largest single share of what bearerflow
//! added to a request (`cargo xtask bench driver`). Almost every request is answered
//! long before its deadline, so the deadlines live here instead: one thread for the
//! process sleeps until the earliest deadline of a request still waiting and, if it
//! passes, marks that request expired and wakes its task. Arming a deadline is a short
//! lock and a push; an answered request just marks its ticket done.
//!
//! The clock is `std::time::Instant`: tokio's paused test clock does not move these
//! deadlines. If the thread cannot be started, each deadline falls back to a tokio
//! timer.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// A deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

const WAITING: u8 = 0;
const DONE: u8 = 1;
const EXPIRED: u8 = 2;

/// One armed deadline, shared by the request and the watchdog.
struct Entry {
    at: Instant,
    state: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

impl Entry {
    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Mark the deadline passed and wake the request, unless it finished first.
    fn expire(&self) {
        if self
            .state
            .compare_exchange(WAITING, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let waker = lock(&self.waker).take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; a poisoned one is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process's deadlines, earliest first, and the thread that watches them.
struct Watchdog {
    queue: Mutex<VecDeque<Arc<Entry>>>,
    changed: Condvar,
    /// Tickets not yet dropped: when the queue holds many more entries than this, the
    /// finished ones are swept out (a queue never outgrows twice the requests in flight).
    live: AtomicUsize,
}

/// Below this many entries the queue is never swept.
const SWEEP_FLOOR: usize = 64;

impl Watchdog {
    /// The process's watchdog, its thread started on first use; `None` if the thread
    /// could not be started.
    fn get() -> Option<&'static Watchdog> {
        static WATCHDOG: OnceLock<Option<&'static Watchdog>> = OnceLock::new();
        *WATCHDOG.get_or_init(|| {
            let watchdog: &'static Watchdog = Box::leak(Box::new(Watchdog {
                queue: Mutex::new(VecDeque::new()),
                changed: Condvar::new(),
                live: AtomicUsize::new(0),
            }));
            std::thread::Builder::new()
                .name("bearerflow-deadlines".into())
                .spawn(move || watchdog.run())
                .ok()
                .map(|_| watchdog)
        })
    }

    fn arm(&'static self, at: Instant) -> Ticket {
        let entry = Arc::new(Entry {
            at,
            state: AtomicU8::new(WAITING),
            waker: Mutex::new(None),
        });
        let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        let earliest = {
            let mut queue = lock(&self.queue);
            // Deadlines of one policy come in order: almost always a push at the back.
            let at_back = queue.back().is_none_or(|last| last.at <= at);
            let position = if at_back {
                queue.len()
            } else {
                queue.partition_point(|e| e.at <= at)
            };
            queue.insert(position, Arc::clone(&entry));
            if queue.len() >= SWEEP_FLOOR && queue.len() > 2 * live {
                queue.retain(|e| e.state() == WAITING);
            }
            position == 0
        };
        if earliest {
            self.changed.notify_one();
        }
        Ticket {
            entry,
            watchdog: self,
        }
    }

    /// Sleep until the earliest deadline of a request still waiting; expire what passed.
    fn run(&self) {
        let mut queue = lock(&self.queue);
        loop {
            let now = Instant::now();
            let mut passed = Vec::new();
            while let Some(front) = queue.front() {
                match front.state() {
                    WAITING if front.at > now => break,
                    WAITING => passed.extend(queue.pop_front()),
                    _ => {
                        queue.pop_front();
                    }
                }
            }
            if !passed.is_empty() {
                drop(queue);
                for entry in passed {
                    entry.expire();
                }
                queue = lock(&self.queue);
                continue;
            }
            queue = match queue.front().map(|e| e.at) {
                None => self
                    .changed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    self.changed
                        .wait_timeout(queue, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// An armed deadline; dropping it tells the watchdog the request no longer waits.
struct Ticket {
    entry: Arc<Entry>,
    watchdog: &'static Watchdog,
}

impl Ticket {
    /// Wake `waker` when the deadline passes; true if it already has.
    fn register(&self, waker: &Waker) -> bool {
        {
            let mut slot = lock(&self.entry.waker);
            match slot.as_ref() {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        // Checked after registering: an expiry in between wakes the waker just stored.
        self.entry.state() == EXPIRED
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ =
            self.entry
                .state
                .compare_exchange(WAITING, DONE, Ordering::AcqRel, Ordering::Acquire);
        self.watchdog.live.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Timer {
    /// Not armed yet: armed at the first wait (most exchanges are answered before
    /// their deadline, but few before their first poll).
    Unarmed,
    Watched(Ticket),
    /// The watchdog thread could not be started.
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

/// A deadline a future checks when it has to wait: armed with the watchdog at the
/// first [`Alarm::poll_passed`], and moved with [`Alarm::reset`].
pub(crate) struct Alarm {
    at: Instant,
    timer: Timer,
}

impl Alarm {
    pub(crate) fn new(at: Instant) -> Alarm {
        Alarm {
            at,
            timer: Timer::Unarmed,
        }
    }

    /// Move the deadline to `at`.
    pub(crate) fn reset(&mut self, at: Instant) {
        self.at = at;
        self.timer = Timer::Unarmed;
    }

    /// Whether the deadline has passed; if not, `cx`'s task is woken when it does.
    /// Call it when the guarded work returned `Pending`.
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>) -> bool {
        if matches!(self.timer, Timer::Unarmed) {
            self.timer = match Watchdog::get() {
                Some(watchdog) => Timer::Watched(watchdog.arm(self.at)),
                None => Timer::Tokio(Box::pin(tokio::time::sleep_until(self.at.into()))),
            };
        }
        match &mut self.timer {
            Timer::Watched(ticket) => ticket.register(cx.waker()),
            Timer::Tokio(sleep) => sleep.as_mut().poll(cx).is_ready(),
            Timer::Unarmed => false,
        }
    }
}

/// `inner`, failing with [`Elapsed`] if it has not finished by `at`.
pub(crate) struct Deadline<F> {
    inner: F,
    alarm: Alarm,
}

impl<F> Deadline<F> {
    pub(crate) fn new(at: Instant, inner: F) -> Deadline<F> {
        Deadline {
            inner,
            alarm: Alarm::new(at),
        }
    }
}

impl<F: Future + Unpin> Future for Deadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(output) = Pin::new(&mut this.inner).poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if this.alarm.poll_passed(cx) {
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_future_that_finishes_in_time_gives_its_output() {
        let at = Instant::now() + Duration::from_secs(30);
        let quick = Deadline::new(at, Box::pin(async { 7 }));
        assert_eq!(quick.await, Ok(7));
        let slower = Deadline::new(
            at,
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                8
            }),
        );
        assert_eq!(slower.await, Ok(8));
    }

    #[tokio::test]
    async fn a_future_past_its_deadline_fails_and_others_keep_theirs() {
        let now = Instant::now();
        let never = || Box::pin(std::future::pending::<()>());
        // Armed out of order: the watchdog keeps them sorted.
        let late = tokio::spawn(Deadline::new(now + Duration::from_secs(3600), never()));
        let soon = Deadline::new(now + Duration::from_millis(50), never());
        let sooner = Deadline::new(now + Duration::from_millis(10), never());
        let (a, b) = tokio::join!(soon, sooner);
        assert_eq!((a, b), (Err(Elapsed), Err(Elapsed)));
        assert!(Instant::now() >= now + Duration::from_millis(50));
        assert!(!late.is_finished(), "a later deadline is not cut short");
        late.abort();
    }

    #[tokio::test]
    async fn finished_tickets_are_swept_so_the_queue_stays_small() {
        let at = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10 * SWEEP_FLOOR {
            // Each is armed (its first poll is Pending), then finishes.
            let mut yielded = false;
            let once = std::future::poll_fn(move |cx| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            });
            Deadline::new(at, Box::pin(once)).await.expect("in time");
        }
        let watchdog = Watchdog::get().expect("the watchdog thread runs");
        let queued = lock(&watchdog.queue).len();
        assert!(queued <= 2 * SWEEP_FLOOR, "{queued} entries kept");
    }
}

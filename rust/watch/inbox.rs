//! The hand-over from the OS event reader to the watcher thread, in batches.
//!
//! The reader appends everything one read of the OS queue produced with one
//! lock ([`Inbox::push`]); the watcher thread swaps the whole backlog out with
//! one lock ([`Inbox::take`]), sleeping on a condition variable while there is
//! nothing — never spinning. So a flood costs one lock and at most one wake-up
//! per batch on each side, not per event, and an idle watcher sleeps.

use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::engine::Raw;

#[derive(Debug, Default)]
struct State {
    raws: Vec<Raw>,
    errors: Vec<String>,
    wake: bool,
    closed: bool,
    waiting: bool,
    batches: u64,
}

/// What [`Inbox::take`] found besides the raw notifications.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Taken {
    /// Errors the reader met, in order.
    pub errors: Vec<String>,
    /// Whether the inbox was closed.
    pub closed: bool,
}

/// Raw notifications waiting for the watcher thread.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    state: Mutex<State>,
    cv: Condvar,
}

impl Inbox {
    /// Moves every notification of `raws` (left empty) into the inbox and
    /// wakes the watcher thread if it sleeps.
    pub(super) fn push(&self, raws: &mut Vec<Raw>) {
        if raws.is_empty() {
            return;
        }
        let mut s = self.state.lock();
        if s.raws.is_empty() {
            std::mem::swap(&mut s.raws, raws);
        } else {
            s.raws.append(raws);
        }
        s.batches += 1;
        self.wake_locked(&s);
    }

    /// Records an error of the OS event source.
    pub(super) fn push_error(&self, error: String) {
        let mut s = self.state.lock();
        s.errors.push(error);
        self.wake_locked(&s);
    }

    /// Wakes the watcher thread without a notification (the consumer made room).
    pub(super) fn wake(&self) {
        let mut s = self.state.lock();
        s.wake = true;
        self.wake_locked(&s);
    }

    /// Closes the inbox: [`Inbox::take`] returns at once from now on.
    pub(super) fn close(&self) {
        let mut s = self.state.lock();
        s.closed = true;
        self.wake_locked(&s);
    }

    fn wake_locked(&self, s: &State) {
        if s.waiting {
            self.cv.notify_one();
        }
    }

    /// Waits up to `timeout` for notifications, a wake-up or the close, then
    /// moves every waiting notification into `into` (which should be empty;
    /// its allocation is reused).
    pub(super) fn take(&self, timeout: Duration, into: &mut Vec<Raw>) -> Taken {
        let mut s = self.state.lock();
        if s.raws.is_empty() && s.errors.is_empty() && !s.wake && !s.closed {
            s.waiting = true;
            self.cv.wait_for(&mut s, timeout);
            s.waiting = false;
        }
        if into.is_empty() {
            std::mem::swap(&mut s.raws, into);
        } else {
            into.append(&mut s.raws);
        }
        s.wake = false;
        Taken {
            errors: std::mem::take(&mut s.errors),
            closed: s.closed,
        }
    }

    /// Batches pushed so far.
    #[cfg(test)]
    pub(super) fn batches(&self) -> u64 {
        self.state.lock().batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Instant;

    fn created(i: usize) -> Raw {
        Raw::Created(PathBuf::from(format!("/r/f{i}")))
    }

    #[test]
    fn one_take_gets_every_batch_pushed_meanwhile_in_order() {
        let inbox = Inbox::default();
        for chunk in 0..3 {
            let mut raws: Vec<Raw> = (chunk * 10..chunk * 10 + 10).map(created).collect();
            inbox.push(&mut raws);
            assert!(raws.is_empty());
        }
        let mut got = Vec::new();
        let taken = inbox.take(Duration::from_secs(5), &mut got);
        assert_eq!(got, (0..30).map(created).collect::<Vec<_>>());
        assert_eq!(taken, Taken::default());
        assert_eq!(inbox.batches(), 3);
        // nothing left: the next take times out empty
        let t = Instant::now();
        got.clear();
        inbox.take(Duration::from_millis(20), &mut got);
        assert!(got.is_empty());
        assert!(t.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn an_empty_push_is_not_a_batch() {
        let inbox = Inbox::default();
        inbox.push(&mut Vec::new());
        assert_eq!(inbox.batches(), 0);
    }

    #[test]
    fn a_sleeping_taker_wakes_for_a_batch_long_before_its_timeout() {
        let inbox = Arc::new(Inbox::default());
        let taker = {
            let inbox = Arc::clone(&inbox);
            std::thread::spawn(move || {
                let t = Instant::now();
                let mut got = Vec::new();
                while got.is_empty() {
                    inbox.take(Duration::from_secs(30), &mut got);
                }
                (got, t.elapsed())
            })
        };
        // wait until the taker sleeps, then push one batch of many events
        let deadline = Instant::now() + Duration::from_secs(10);
        while !inbox.state.lock().waiting {
            assert!(Instant::now() < deadline, "the taker never slept");
            std::thread::yield_now();
        }
        let mut raws: Vec<Raw> = (0..1000).map(created).collect();
        inbox.push(&mut raws);
        let (got, waited) = taker.join().unwrap();
        assert_eq!(got.len(), 1000);
        assert!(waited < Duration::from_secs(10), "{waited:?}");
    }

    #[test]
    fn wake_close_and_errors_end_the_wait() {
        let inbox = Inbox::default();
        let mut got = Vec::new();
        inbox.wake();
        let t = Instant::now();
        assert_eq!(inbox.take(Duration::from_secs(30), &mut got), Taken::default());
        inbox.push_error("read failed".into());
        let taken = inbox.take(Duration::from_secs(30), &mut got);
        assert_eq!(taken.errors, vec!["read failed".to_string()]);
        inbox.close();
        assert!(inbox.take(Duration::from_secs(30), &mut got).closed);
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(got.is_empty());
    }
}

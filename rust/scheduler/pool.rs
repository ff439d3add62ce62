//! The work-stealing pool: one LIFO deque per worker plus a shared injector
//! for the roots. A worker pops from its own deque, then steals from the
//! injector and from the other workers' deques, and parks (with a timeout, so
//! it never sleeps past a stop) when there is nothing to take.
//!
//! Dependency bookkeeping is lock-free: each node has an atomic count of the
//! upstreams that have not completed, and the node that brings a count to zero
//! makes its successor ready. One atomic counter of "tokens" (ready or running
//! nodes) detects the end of a run: a node passes its token to its first ready
//! successor, so a chain costs no extra atomic operation. When the last token
//! is returned nothing is queued or running, and nothing ever will be.

use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::{Condvar, Mutex};

use super::task::{Execute, ExecuteOne, Plan};
use crate::graph::ready::NodeState;
use crate::graph::NodeId;

/// How long an idle worker sleeps before it looks for work again, in case a
/// wake-up was missed. Wake-ups are not expected to be missed; this bounds the
/// damage if one is.
const PARK_TIMEOUT: Duration = Duration::from_millis(20);

/// The budget of one batch (see [`Execute`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) tasks: usize,
    pub(crate) time: Duration,
}

/// Idle workers sleep here. The counter lets a producer skip the lock when
/// nobody sleeps, which is the common case under load.
struct Sleep {
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Sleep {
    fn new() -> Self {
        Sleep {
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Sleeps unless `wake_now()` holds. Registering as a sleeper before the
    /// check (with the fences in `wake_one`) means that a producer either sees
    /// the sleeper or the sleeper sees the producer's work.
    fn park(&self, wake_now: impl Fn() -> bool) {
        let mut guard = self.lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !wake_now() {
            self.cv.wait_for(&mut guard, PARK_TIMEOUT);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn wake_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.cv.notify_one();
        }
    }

    fn wake_all(&self) {
        fence(Ordering::SeqCst);
        let _guard = self.lock.lock();
        self.cv.notify_all();
    }
}

const WAITING: u8 = NodeState::Waiting as u8;
const DONE: u8 = NodeState::Done as u8;
const FAILED: u8 = NodeState::Failed as u8;

/// The state shared by the workers of one run.
pub(crate) struct Pool<'a, X: Execute> {
    plan: &'a Plan,
    exec: &'a X,
    budget: Budget,
    fail_fast: bool,
    /// Upstreams of each node that have not completed yet.
    waiting_on: Vec<AtomicU32>,
    /// `NodeState` as u8: only `Done` and `Failed` are written during a run.
    state: Vec<AtomicU8>,
    injector: Injector<NodeId>,
    stealers: Vec<Stealer<NodeId>>,
    /// Nodes queued or running (see the module docs).
    tokens: AtomicUsize,
    /// Set when the run ends, either finished or cancelled: workers exit.
    /// What did not start by then is cancelled.
    stop: AtomicBool,
    error: Mutex<Option<X::Error>>,
    sleep: Sleep,
    /// Workers still running, for the thread that waits on the run.
    live: Mutex<usize>,
    all_exited: Condvar,
}

impl<'a, X: Execute> Pool<'a, X> {
    /// A pool for `plan` with one deque per worker; returns the deques to hand
    /// to the worker threads, in worker order.
    pub(crate) fn new(
        plan: &'a Plan,
        exec: &'a X,
        workers: usize,
        budget: Budget,
        fail_fast: bool,
    ) -> (Self, Vec<Worker<NodeId>>) {
        let deques: Vec<Worker<NodeId>> = (0..workers).map(|_| Worker::new_lifo()).collect();
        let injector = Injector::new();
        let mut roots = 0;
        for root in plan.roots() {
            injector.push(root);
            roots += 1;
        }
        let pool = Pool {
            plan,
            exec,
            budget,
            fail_fast,
            waiting_on: plan.in_degrees().iter().map(|&d| AtomicU32::new(d)).collect(),
            state: (0..plan.len()).map(|_| AtomicU8::new(WAITING)).collect(),
            injector,
            stealers: deques.iter().map(Worker::stealer).collect(),
            tokens: AtomicUsize::new(roots),
            stop: AtomicBool::new(roots == 0),
            error: Mutex::new(None),
            sleep: Sleep::new(),
            live: Mutex::new(0),
            all_exited: Condvar::new(),
        };
        (pool, deques)
    }

    /// Counts a worker thread as started; call before spawning it.
    pub(crate) fn enter(&self) {
        *self.live.lock() += 1;
    }

    /// Undoes [`Pool::enter`] for a thread that could not be spawned.
    pub(crate) fn abandon(&self) {
        self.exit();
    }

    fn exit(&self) {
        let mut live = self.live.lock();
        *live -= 1;
        if *live == 0 {
            self.all_exited.notify_all();
        }
    }

    /// Stops the run: nothing new starts, running nodes finish.
    pub(crate) fn cancel(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.sleep.wake_all();
    }

    /// Waits until every worker exited, calling `monitor` every `step`; when
    /// `monitor` returns true the run is cancelled (once). Returns whether it
    /// was.
    pub(crate) fn wait(&self, step: Duration, mut monitor: impl FnMut() -> bool) -> bool {
        let mut interrupted = false;
        loop {
            {
                let mut live = self.live.lock();
                if *live == 0 {
                    return interrupted;
                }
                self.all_exited.wait_for(&mut live, step);
                if *live == 0 {
                    return interrupted;
                }
            }
            // The lock is released here: `monitor` may block (the bindings
            // attach to the interpreter in it).
            if !interrupted && monitor() {
                interrupted = true;
                self.cancel();
            }
        }
    }

    /// The body of one worker thread.
    pub(crate) fn work(&self, index: usize, local: Worker<NodeId>) {
        let _exit = ExitGuard(self);
        let mut seed = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        while !self.stop.load(Ordering::Acquire) {
            match self.find(&local, &mut seed) {
                Some(first) => self.run_batch(&local, first),
                None => self.sleep.park(|| self.stop.load(Ordering::SeqCst) || self.has_work()),
            }
        }
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Own deque first, then the injector, then the others from a random start.
    fn find(&self, local: &Worker<NodeId>, seed: &mut u64) -> Option<NodeId> {
        if let Some(n) = local.pop() {
            return Some(n);
        }
        let found = self.steal(local, seed);
        if found.is_some() && !local.is_empty() {
            // This worker took more than it can start now: let a sleeper take
            // some, in case the node it starts blocks for long.
            self.sleep.wake_one();
        }
        found
    }

    fn steal(&self, local: &Worker<NodeId>, seed: &mut u64) -> Option<NodeId> {
        loop {
            let mut retry = false;
            match self.injector.steal_batch_and_pop(local) {
                Steal::Success(n) => return Some(n),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let count = self.stealers.len();
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let start = (*seed % count as u64) as usize;
            for i in 0..count {
                match self.stealers[(start + i) % count].steal_batch_and_pop(local) {
                    Steal::Success(n) => return Some(n),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry || self.stop.load(Ordering::Relaxed) {
                return None;
            }
        }
    }

    /// Executes `first` and then more nodes from the own deque, within the
    /// budget, in one [`Execute::batch`].
    fn run_batch(&self, local: &Worker<NodeId>, first: NodeId) {
        self.exec.batch(|call| {
            let started = Instant::now();
            let mut node = first;
            let mut count = 0;
            loop {
                let next = self.execute(call, local, node);
                count += 1;
                // Reading the clock costs about as much as the bookkeeping of
                // a node, so look at it every few nodes only.
                let spent = count >= self.budget.tasks || (count % 4 == 0 && started.elapsed() >= self.budget.time);
                if spent || self.stop.load(Ordering::Relaxed) {
                    // Back into the deque: this worker takes it next, or it is
                    // cancelled with the rest if the run stopped.
                    if let Some(n) = next {
                        local.push(n);
                    }
                    return;
                }
                match next.or_else(|| local.pop()) {
                    Some(n) => node = n,
                    None => return,
                }
            }
        });
    }

    /// Executes one node and releases its successors. Returns the successor
    /// to run next (which inherits this node's token), if any became ready.
    fn execute(&self, call: &mut ExecuteOne<'_, X::Error>, local: &Worker<NodeId>, node: NodeId) -> Option<NodeId> {
        let ok = match call(node) {
            Ok(ok) => ok,
            Err(err) => {
                let mut slot = self.error.lock();
                if slot.is_none() {
                    *slot = Some(err);
                }
                false
            }
        };
        if !ok {
            self.state[node as usize].store(FAILED, Ordering::Relaxed);
            if self.fail_fast {
                self.cancel();
            }
            self.return_token();
            return None;
        }
        self.state[node as usize].store(DONE, Ordering::Relaxed);
        let mut next = None;
        let mut pushed = false;
        for &m in self.plan.successors(node) {
            // AcqRel: the successor runs after every upstream's effects.
            if self.waiting_on[m as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                if next.is_none() {
                    next = Some(m);
                } else {
                    // Count the node before anyone can take (and finish) it.
                    self.tokens.fetch_add(1, Ordering::Relaxed);
                    local.push(m);
                    pushed = true;
                }
            }
        }
        if pushed {
            self.sleep.wake_one();
        }
        if next.is_none() {
            self.return_token();
        }
        next
    }

    fn return_token(&self) {
        if self.tokens.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stop.store(true, Ordering::SeqCst);
            self.sleep.wake_all();
        }
    }

    /// The final state of every node, and the first error. Call after every
    /// worker exited. A node that did not run is blocked when a failed node is
    /// upstream of it and cancelled otherwise.
    pub(crate) fn finish(self) -> (Vec<NodeState>, Option<X::Error>) {
        let mut states: Vec<NodeState> = self
            .state
            .into_iter()
            .map(|s| match s.into_inner() {
                DONE => NodeState::Done,
                FAILED => NodeState::Failed,
                _ => NodeState::Waiting,
            })
            .collect();
        let mut stack: Vec<NodeId> = (0..states.len() as NodeId)
            .filter(|&n| states[n as usize] == NodeState::Failed)
            .collect();
        while let Some(n) = stack.pop() {
            for &m in self.plan.successors(n) {
                if states[m as usize] == NodeState::Waiting {
                    states[m as usize] = NodeState::Blocked;
                    stack.push(m);
                }
            }
        }
        for s in &mut states {
            if *s == NodeState::Waiting {
                *s = NodeState::Cancelled;
            }
        }
        (states, self.error.into_inner())
    }
}

/// Marks a worker as exited even when the callback panicked, so that the
/// waiting thread is released (the panic is then re-raised by the scope).
struct ExitGuard<'p, 'a, X: Execute>(&'p Pool<'a, X>);

impl<X: Execute> Drop for ExitGuard<'_, '_, X> {
    fn drop(&mut self) {
        let pool = self.0;
        if std::thread::panicking() {
            pool.cancel();
        }
        pool.exit();
    }
}

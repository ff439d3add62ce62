//! The work-stealing scheduler: runs each node of a graph once all its
//! upstreams completed, on a pool of worker threads ([`pool`]), calling a
//! generic callback ([`Execute`]) and recording each node's final state.
//!
//! A node's callback returns `Ok(true)` (completed: successors may run),
//! `Ok(false)` (failed) or `Err(e)` (failed; the first such error is returned in
//! [`Outcome::error`]). The descendants of a failed node never run and end
//! [`NodeState::Blocked`]. With [`Options::fail_fast`], or when the monitor
//! passed to [`run_with`] asks to stop, nothing new starts after that point:
//! running nodes finish, and nodes that did not start end
//! [`NodeState::Cancelled`] (or `Blocked` below a failure).
//!
//! The core knows nothing of Python: the bindings implement [`Execute`] to
//! enter the interpreter once per batch of nodes and pass a monitor that checks
//! for signals.
//!
//! # Example
//! ```
//! use _core::graph::{ready::NodeState, Graph};
//! use _core::scheduler::{run, Options};
//! let mut g = Graph::new();
//! g.extend(&["a", "b", "c"], &[("a", "b"), ("b", "c")]).unwrap();
//! let out = run(&g, &Options::new(2), |node| if node == 1 { Err("b broke") } else { Ok(true) }).unwrap();
//! assert_eq!(out.states, vec![NodeState::Done, NodeState::Failed, NodeState::Blocked]);
//! assert_eq!(out.error, Some("b broke"));
//! ```

mod pool;
mod task;

use std::thread;
use std::time::Duration;

pub use task::{Execute, ExecuteOne, Plan};

use crate::error::{CoreError, CoreResult};
use crate::graph::ready::NodeState;
use crate::graph::{Graph, NodeId};
use pool::{Budget, Pool};
use task::PerNode;

/// Stack size of worker threads: the size Python gives its own threads on
/// Linux, since tasks may run deep Python code.
const WORKER_STACK_BYTES: usize = 8 << 20;

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (0 is treated as 1; never more than the nodes).
    pub workers: usize,
    /// After the first failure, start nothing new.
    pub fail_fast: bool,
    /// At most this many nodes per [`Execute::batch`].
    pub batch_tasks: usize,
    /// A batch takes no new node once it ran this long.
    pub batch_time: Duration,
    /// How often the waiting thread calls the monitor of [`run_with`].
    pub poll_interval: Duration,
}

impl Options {
    /// Defaults for `workers` threads: no fail-fast, batches of up to 64 nodes
    /// or 1 ms, monitor polled every 5 ms.
    pub fn new(workers: usize) -> Self {
        Options {
            workers,
            fail_fast: false,
            batch_tasks: 64,
            batch_time: Duration::from_millis(1),
            poll_interval: Duration::from_millis(5),
        }
    }

    /// Sets [`Options::fail_fast`].
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome<E> {
    /// The final state of each node, indexed by id: `Done`, `Failed`,
    /// `Blocked` or `Cancelled`.
    pub states: Vec<NodeState>,
    /// The first error a callback returned.
    pub error: Option<E>,
    /// Whether the monitor stopped the run.
    pub interrupted: bool,
}

impl<E> Outcome<E> {
    /// Number of nodes in `state`.
    pub fn count(&self, state: NodeState) -> usize {
        self.states.iter().filter(|&&s| s == state).count()
    }
}

/// Runs every node of `graph` with `execute`, on `options.workers` threads,
/// and waits for the end. Fails only when no worker thread can be started.
pub fn run<F, E>(graph: &Graph, options: &Options, execute: F) -> CoreResult<Outcome<E>>
where
    F: Fn(NodeId) -> Result<bool, E> + Sync,
    E: Send,
{
    run_with(&Plan::new(graph), options, &PerNode(execute), || false)
}

/// Runs every node of `plan` through `exec`, on `options.workers` threads.
///
/// The calling thread only waits: every `options.poll_interval` it calls
/// `monitor`, and when that returns true the run is cancelled (running nodes
/// finish, nothing new starts) and [`Outcome::interrupted`] is set. A panic in
/// a callback cancels the run and is re-raised here once every worker stopped.
///
/// # Example
/// ```
/// use _core::graph::Graph;
/// use _core::scheduler::{run_with, Execute, ExecuteOne, Options, Plan};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// struct Counting(AtomicUsize);
/// impl Execute for Counting {
///     type Error = ();
///     fn batch<R>(&self, body: impl FnOnce(&mut ExecuteOne<'_, ()>) -> R) -> R {
///         body(&mut |_node| {
///             self.0.fetch_add(1, Ordering::Relaxed);
///             Ok(true)
///         })
///     }
/// }
///
/// let mut g = Graph::new();
/// g.extend(&["a", "b"], &[("a", "b")]).unwrap();
/// let exec = Counting(AtomicUsize::new(0));
/// let out = run_with(&Plan::new(&g), &Options::new(4), &exec, || false).unwrap();
/// assert_eq!(exec.0.into_inner(), 2);
/// assert!(!out.interrupted);
/// ```
pub fn run_with<X: Execute>(
    plan: &Plan,
    options: &Options,
    exec: &X,
    monitor: impl FnMut() -> bool,
) -> CoreResult<Outcome<X::Error>> {
    if plan.is_empty() {
        return Ok(Outcome {
            states: Vec::new(),
            error: None,
            interrupted: false,
        });
    }
    // More threads than nodes would only sit idle.
    let workers = options.workers.clamp(1, plan.len());
    let budget = Budget {
        tasks: options.batch_tasks.max(1),
        time: options.batch_time,
    };
    let (pool, deques) = Pool::new(plan, exec, workers, budget, options.fail_fast);
    let mut spawn_error = None;
    let interrupted = thread::scope(|scope| {
        for (index, deque) in deques.into_iter().enumerate() {
            let pool = &pool;
            pool.enter();
            let spawned = thread::Builder::new()
                .name(format!("ferroflow-worker-{index}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, move || exec.worker(move || pool.work(index, deque)));
            if let Err(err) = spawned {
                pool.abandon();
                if index == 0 {
                    spawn_error = Some(CoreError::InvalidState(format!("cannot start a worker thread: {err}")));
                    pool.cancel();
                }
                // With at least one worker the run proceeds on fewer threads.
                break;
            }
        }
        pool.wait(options.poll_interval, monitor)
    });
    if let Some(err) = spawn_error {
        return Err(err);
    }
    let (states, error) = pool.finish();
    Ok(Outcome {
        states,
        error,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
    use std::time::Instant;

    use proptest::prelude::*;

    use super::*;
    use crate::graph::ready::ReadyTracker;

    fn graph(n: usize, edges: &[(usize, usize)]) -> Graph {
        let mut g = Graph::with_capacity(n);
        g.add_nodes((0..n).map(|i| format!("n{i}"))).unwrap();
        let ids: Vec<(NodeId, NodeId)> = edges.iter().map(|&(a, b)| (a as NodeId, b as NodeId)).collect();
        g.extend_ids(0, &ids).unwrap();
        g
    }

    /// Random DAG: edges only go from a lower to a higher index.
    fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
        (1usize..80).prop_flat_map(|n| {
            let edges = proptest::collection::vec((0..n, 0..n), 0..n * 3)
                .prop_map(|pairs| pairs.into_iter().filter(|(a, b)| a < b).collect::<Vec<_>>());
            (Just(n), edges)
        })
    }

    /// Runs `g` recording how often each node ran and whether any node ran
    /// before one of its upstreams finished.
    fn checked_run(g: &Graph, options: &Options, fail: &[bool]) -> (Outcome<String>, Vec<u32>, bool) {
        let calls: Vec<AtomicU32> = (0..g.node_count()).map(|_| AtomicU32::new(0)).collect();
        let finished: Vec<AtomicBool> = (0..g.node_count()).map(|_| AtomicBool::new(false)).collect();
        let misordered = AtomicBool::new(false);
        let out = run(g, options, |n| {
            if g.predecessors(n)
                .iter()
                .any(|&p| !finished[p as usize].load(Ordering::Acquire))
            {
                misordered.store(true, Ordering::Relaxed);
            }
            calls[n as usize].fetch_add(1, Ordering::Relaxed);
            finished[n as usize].store(true, Ordering::Release);
            if fail[n as usize] {
                Err(format!("node {n} failed"))
            } else {
                Ok(true)
            }
        })
        .unwrap();
        (
            out,
            calls.into_iter().map(AtomicU32::into_inner).collect(),
            misordered.into_inner(),
        )
    }

    /// The states a sequential run reaches, driven by the ready tracker.
    fn oracle(g: &Graph, fail: &[bool]) -> Vec<NodeState> {
        let mut t = ReadyTracker::new(g);
        let mut stack = t.start();
        while let Some(n) = stack.pop() {
            if fail[n as usize] {
                t.fail(n).unwrap();
            } else {
                stack.extend(t.complete(n).unwrap());
            }
        }
        (0..g.node_count() as NodeId).map(|n| t.state(n).unwrap()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn every_node_runs_once_after_its_upstreams((n, edges) in dag(), w in prop::sample::select(vec![1usize, 2, 4, 8])) {
            let g = graph(n, &edges);
            let (out, calls, misordered) = checked_run(&g, &Options::new(w), &vec![false; n]);
            prop_assert!(calls.iter().all(|&c| c == 1), "calls {:?}", calls);
            prop_assert!(!misordered);
            prop_assert_eq!(out.count(NodeState::Done), n);
            prop_assert!(out.error.is_none());
        }

        #[test]
        fn failures_block_exactly_their_descendants(
            (n, edges) in dag(),
            seed in any::<u64>(),
            w in prop::sample::select(vec![1usize, 2, 4, 8]),
        ) {
            let g = graph(n, &edges);
            let fail: Vec<bool> = (0..n).map(|i| (seed.rotate_left(i as u32 % 64) ^ i as u64) % 5 == 0).collect();
            let (out, calls, misordered) = checked_run(&g, &Options::new(w), &fail);
            let expected = oracle(&g, &fail);
            prop_assert_eq!(&out.states, &expected);
            prop_assert!(!misordered);
            for (i, s) in expected.iter().enumerate() {
                let ran = matches!(s, NodeState::Done | NodeState::Failed);
                prop_assert_eq!(calls[i], u32::from(ran));
            }
            prop_assert_eq!(out.error.is_some(), expected.contains(&NodeState::Failed));
        }
    }

    #[test]
    fn large_random_dag_runs_once_in_order_on_each_worker_count() {
        let n = 50_000;
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut edges = Vec::new();
        for i in 1..n {
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                edges.push(((x % i as u64) as usize, i));
            }
        }
        let g = graph(n, &edges);
        for w in [1, 2, 4, 8] {
            let (out, calls, misordered) = checked_run(&g, &Options::new(w), &vec![false; n]);
            assert!(calls.iter().all(|&c| c == 1), "{w} workers");
            assert!(!misordered, "{w} workers");
            assert_eq!(out.count(NodeState::Done), n);
        }
    }

    #[test]
    fn empty_graph_returns_at_once() {
        let out = run(&Graph::new(), &Options::new(4), |_| Ok::<_, ()>(true)).unwrap();
        assert!(out.states.is_empty());
        assert!(!out.interrupted);
    }

    #[test]
    fn zero_workers_means_one() {
        let g = graph(3, &[(0, 1), (1, 2)]);
        let out = run(&g, &Options::new(0), |_| Ok::<_, ()>(true)).unwrap();
        assert_eq!(out.count(NodeState::Done), 3);
    }

    #[test]
    fn false_is_a_failure_without_error() {
        let g = graph(3, &[(0, 1), (0, 2)]);
        let out = run(&g, &Options::new(2), |n| Ok::<_, ()>(n != 0)).unwrap();
        assert_eq!(
            out.states,
            vec![NodeState::Failed, NodeState::Blocked, NodeState::Blocked]
        );
        assert!(out.error.is_none());
    }

    #[test]
    fn only_the_first_error_is_kept() {
        let g = graph(3, &[(0, 1), (1, 2)]);
        let out = run(&g, &Options::new(1), |n| if n == 2 { Ok(true) } else { Err(n) }).unwrap();
        assert_eq!(out.error, Some(0));
        assert_eq!(
            out.states,
            vec![NodeState::Failed, NodeState::Blocked, NodeState::Blocked]
        );
        let g = graph(2, &[]);
        let out = run(&g, &Options::new(2), Err::<bool, NodeId>).unwrap();
        assert!(matches!(out.error, Some(0 | 1)));
        assert_eq!(out.count(NodeState::Failed), 2);
    }

    #[test]
    fn fail_fast_cancels_what_did_not_start() {
        // r -> f -> g, and r -> c0 -> c1 -> ... ; with one worker, f runs right
        // after r (the first ready successor runs next) and fails.
        let mut edges = vec![(0, 1), (1, 2), (0, 3)];
        edges.extend((3..102).map(|i| (i, i + 1)));
        let g = graph(103, &edges);
        let (out, calls, _) = checked_run(&g, &Options::new(1).fail_fast(true), &{
            let mut f = vec![false; 103];
            f[1] = true;
            f
        });
        assert_eq!(
            &out.states[..3],
            &[NodeState::Done, NodeState::Failed, NodeState::Blocked]
        );
        assert!(out.states[3..].iter().all(|&s| s == NodeState::Cancelled));
        assert_eq!(calls.iter().sum::<u32>(), 2);
        assert_eq!(out.error.as_deref(), Some("node 1 failed"));
        assert!(!out.interrupted);
    }

    #[test]
    fn fail_fast_with_many_workers_stops_early() {
        // A failing root next to 100k independent slow-ish nodes.
        let g = graph(100_000, &[]);
        let ran = AtomicUsize::new(0);
        let out = run(&g, &Options::new(4).fail_fast(true), |n| {
            ran.fetch_add(1, Ordering::Relaxed);
            if n == 0 {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_micros(20));
            Ok::<_, ()>(true)
        })
        .unwrap();
        assert_eq!(out.count(NodeState::Failed), 1);
        assert!(out.count(NodeState::Cancelled) > 0);
        assert_eq!(out.count(NodeState::Done) + 1, ran.into_inner());
    }

    #[test]
    fn without_fail_fast_independent_work_continues() {
        let g = graph(5, &[(0, 1), (2, 3), (3, 4)]);
        let out = run(&g, &Options::new(2), |n| Ok::<_, ()>(n != 0)).unwrap();
        assert_eq!(
            out.states,
            vec![
                NodeState::Failed,
                NodeState::Blocked,
                NodeState::Done,
                NodeState::Done,
                NodeState::Done
            ]
        );
    }

    #[test]
    fn million_node_chain_and_fan_out() {
        let n = 1_000_000;
        let chain: Vec<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
        let fan: Vec<(usize, usize)> = (1..n).map(|i| (0, i)).collect();
        for edges in [chain, fan] {
            let g = graph(n, &edges);
            let ran = AtomicUsize::new(0);
            let out = run(&g, &Options::new(4), |_| {
                ran.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ()>(true)
            })
            .unwrap();
            assert_eq!(ran.into_inner(), n);
            assert_eq!(out.count(NodeState::Done), n);
        }
        // A failure at the root of a million-node fan-out blocks them all.
        let fan: Vec<(usize, usize)> = (1..n).map(|i| (0, i)).collect();
        let out = run(&graph(n, &fan), &Options::new(2), |_| Ok::<_, ()>(false)).unwrap();
        assert_eq!(out.count(NodeState::Blocked), n - 1);
    }

    #[test]
    fn monitor_cancels_waiting_nodes() {
        let n = 1000;
        let g = graph(n, &(1..n).map(|i| (i - 1, i)).collect::<Vec<_>>());
        let started = AtomicBool::new(false);
        let polled = AtomicBool::new(false);
        let mut options = Options::new(2);
        options.poll_interval = Duration::from_millis(1);
        let exec = PerNode(|node: NodeId| {
            if node == 0 {
                started.store(true, Ordering::Release);
                // Hold the run open until the monitor asked to stop.
                let deadline = Instant::now() + Duration::from_secs(10);
                while !polled.load(Ordering::Acquire) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok::<_, ()>(true)
        });
        let out = run_with(&Plan::new(&g), &options, &exec, || {
            let stop = started.load(Ordering::Acquire);
            polled.store(stop, Ordering::Release);
            stop
        })
        .unwrap();
        assert!(out.interrupted);
        assert_eq!(out.states[0], NodeState::Done);
        assert!(
            out.count(NodeState::Cancelled) >= n - 2,
            "{}",
            out.count(NodeState::Cancelled)
        );
        assert_eq!(out.count(NodeState::Done) + out.count(NodeState::Cancelled), n);
    }

    #[test]
    fn a_panicking_callback_is_re_raised_not_hung() {
        let g = graph(100, &[]);
        let result = std::panic::catch_unwind(|| {
            run(&g, &Options::new(4), |n| {
                assert!(n != 7, "task 7 exploded");
                Ok::<_, ()>(true)
            })
        });
        assert!(result.is_err());
    }

    /// Counts batches, to see the budget at work.
    struct Batches(AtomicUsize);

    impl Execute for Batches {
        type Error = ();
        fn batch<R>(&self, body: impl FnOnce(&mut ExecuteOne<'_, ()>) -> R) -> R {
            self.0.fetch_add(1, Ordering::Relaxed);
            body(&mut |_| Ok(true))
        }
    }

    #[test]
    fn batches_respect_the_task_budget() {
        let n = 1000;
        let plan = Plan::new(&graph(n, &(1..n).map(|i| (i - 1, i)).collect::<Vec<_>>()));
        let mut options = Options::new(1);
        options.batch_time = Duration::from_secs(10);
        let exec = Batches(AtomicUsize::new(0));
        run_with(&plan, &options, &exec, || false).unwrap();
        assert_eq!(exec.0.into_inner(), n.div_ceil(64));
        options.batch_tasks = 1;
        let exec = Batches(AtomicUsize::new(0));
        run_with(&plan, &options, &exec, || false).unwrap();
        assert_eq!(exec.0.into_inner(), n);
    }
}

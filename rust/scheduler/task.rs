//! What the pool runs: the [`Plan`] (a compressed, immutable copy of a graph's
//! edges) and the [`Execute`] trait through which the pool calls the caller's
//! work for one node or a batch of consecutive nodes.

use crate::graph::{Graph, NodeId};

/// The graph as the scheduler needs it: successor lists in compressed form and
/// the number of upstreams of each node. A snapshot, so the graph may change
/// (or be borrowed elsewhere) while a run is in progress.
///
/// # Example
/// ```
/// use _core::graph::Graph;
/// use _core::scheduler::Plan;
/// let mut g = Graph::new();
/// g.extend(&["a", "b", "c"], &[("a", "c"), ("b", "c")]).unwrap();
/// let plan = Plan::new(&g);
/// assert_eq!(plan.len(), 3);
/// assert_eq!(plan.successors(0), &[2]);
/// assert_eq!(plan.in_degree(2), 2);
/// assert_eq!(plan.roots().collect::<Vec<_>>(), vec![0, 1]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Plan {
    offsets: Vec<u32>,
    targets: Vec<NodeId>,
    in_degrees: Vec<u32>,
}

impl Plan {
    /// A snapshot of `graph`'s nodes and edges.
    pub fn new(graph: &Graph) -> Self {
        let (offsets, targets) = graph.successor_csr();
        Plan {
            offsets,
            targets,
            in_degrees: graph.in_degrees(),
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.in_degrees.len()
    }

    /// Whether the plan has no nodes.
    pub fn is_empty(&self) -> bool {
        self.in_degrees.is_empty()
    }

    /// The direct successors (downstream nodes) of `node`.
    pub fn successors(&self, node: NodeId) -> &[NodeId] {
        let n = node as usize;
        &self.targets[self.offsets[n] as usize..self.offsets[n + 1] as usize]
    }

    /// The number of direct upstreams of `node`.
    pub fn in_degree(&self, node: NodeId) -> u32 {
        self.in_degrees[node as usize]
    }

    /// The upstream counts of every node, indexed by id.
    pub fn in_degrees(&self) -> &[u32] {
        &self.in_degrees
    }

    /// The nodes without upstreams, in id order.
    pub fn roots(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.in_degrees
            .iter()
            .enumerate()
            .filter(|(_, &d)| d == 0)
            .map(|(n, _)| n as NodeId)
    }
}

/// The function a batch body uses to execute one node: `Ok(true)` when the
/// node completed (its successors may run), `Ok(false)` when it failed, `Err`
/// when it failed with an error worth reporting.
pub type ExecuteOne<'a, E> = dyn FnMut(NodeId) -> Result<bool, E> + 'a;

/// How the pool calls the caller's work.
///
/// A worker that found a ready node calls [`Execute::batch`] once and, inside
/// the body, executes that node and then further ready nodes from its own
/// queue, up to a small budget. An implementation can therefore pay a fixed
/// cost once per batch instead of once per node: the Python bindings acquire
/// the interpreter once per batch. The pool never blocks waiting for work
/// inside a batch.
///
/// Plain closures are wrapped by [`crate::scheduler::run`]; implement this
/// trait and call [`crate::scheduler::run_with`] to batch.
///
/// # Example
/// ```
/// use _core::graph::NodeId;
/// use _core::scheduler::{Execute, ExecuteOne};
/// use std::sync::Mutex;
///
/// /// Takes the lock once per batch rather than once per node.
/// struct Logged(Mutex<Vec<NodeId>>);
///
/// impl Execute for Logged {
///     type Error = String;
///     fn batch<R>(&self, body: impl FnOnce(&mut ExecuteOne<'_, String>) -> R) -> R {
///         let mut log = self.0.lock().unwrap();
///         body(&mut |node| {
///             log.push(node);
///             Ok(true)
///         })
///     }
/// }
/// ```
pub trait Execute: Sync {
    /// The error a node's execution may report.
    type Error: Send;

    /// Runs `body` with a function that executes one node.
    fn batch<R>(&self, body: impl FnOnce(&mut ExecuteOne<'_, Self::Error>) -> R) -> R;

    /// Wraps the whole life of a worker thread (`body` returns when the
    /// worker exits), to set up per-thread state once. The default just runs
    /// `body`; the Python bindings register the thread with the interpreter
    /// here, so that a batch does not create and destroy a thread state.
    fn worker<R: Send>(&self, body: impl FnOnce() -> R + Send) -> R {
        body()
    }
}

/// Adapts a per-node closure to [`Execute`] (one call per node, no batching).
pub(crate) struct PerNode<F>(pub(crate) F);

impl<F, E> Execute for PerNode<F>
where
    F: Fn(NodeId) -> Result<bool, E> + Sync,
    E: Send,
{
    type Error = E;

    fn batch<R>(&self, body: impl FnOnce(&mut ExecuteOne<'_, E>) -> R) -> R {
        body(&mut |node| (self.0)(node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_of_a_diamond() {
        let mut g = Graph::new();
        g.extend(&["a", "b", "c", "d"], &[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
            .unwrap();
        let plan = Plan::new(&g);
        assert_eq!(plan.successors(0), &[1, 2]);
        assert!(plan.successors(3).is_empty());
        assert_eq!(plan.in_degrees(), &[0, 1, 1, 2]);
        assert_eq!(plan.roots().collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn empty_plan() {
        let plan = Plan::new(&Graph::new());
        assert!(plan.is_empty());
        assert_eq!(plan.roots().count(), 0);
    }

    #[test]
    fn per_node_forwards_each_call() {
        let exec = PerNode(|n: NodeId| if n == 1 { Err("boom") } else { Ok(n % 2 == 0) });
        let got = exec.batch(|call| (0..3).map(call).collect::<Vec<_>>());
        assert_eq!(got, vec![Ok(true), Err("boom"), Ok(true)]);
    }
}

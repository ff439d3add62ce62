//! The ready tracker: hands out each node once all its predecessors completed.
//! Every executor drives one (the Rust scheduler directly, the async and Dask
//! executors from Python through the bindings).
//!
//! ```
//! use _core::graph::{Graph, ready::ReadyTracker};
//! let mut g = Graph::new();
//! g.extend(&["a", "b", "c"], &[("a", "c"), ("b", "c")]).unwrap();
//! let mut t = ReadyTracker::new(&g);
//! assert_eq!(t.start(), vec![0, 1]);
//! assert_eq!(t.complete(0).unwrap(), Vec::<u32>::new());
//! assert_eq!(t.complete(1).unwrap(), vec![2]);
//! ```

use super::{Graph, NodeId};
use crate::error::{CoreError, CoreResult};

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeState {
    /// Some predecessor has not completed yet.
    Waiting = 0,
    /// Handed out by `start` or `complete`; the caller runs it.
    Running = 1,
    /// Completed (successfully or skipped): its successors may run.
    Done = 2,
    /// Failed: its descendants are blocked.
    Failed = 3,
    /// A predecessor failed, so it will never run.
    Blocked = 4,
    /// Cancelled before it started.
    Cancelled = 5,
}

/// Tracks which nodes may run, in a compressed copy of the graph.
#[derive(Debug, Clone)]
pub struct ReadyTracker {
    offsets: Vec<u32>,
    targets: Vec<NodeId>,
    waiting_on: Vec<u32>,
    state: Vec<NodeState>,
    started: bool,
    waiting: usize,
    running: usize,
    done: usize,
    failed: usize,
    blocked: usize,
    cancelled: usize,
}

impl ReadyTracker {
    /// A tracker for the graph as it is now.
    pub fn new(g: &Graph) -> Self {
        let (offsets, targets) = g.successor_csr();
        let waiting_on = g.in_degrees();
        let n = waiting_on.len();
        ReadyTracker {
            offsets,
            targets,
            waiting_on,
            state: vec![NodeState::Waiting; n],
            started: false,
            waiting: n,
            running: 0,
            done: 0,
            failed: 0,
            blocked: 0,
            cancelled: 0,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether the graph had no nodes.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// Hands out the nodes without predecessors, in id order. Only the first
    /// call returns them.
    pub fn start(&mut self) -> Vec<NodeId> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        let ready: Vec<NodeId> = (0..self.state.len() as NodeId)
            .filter(|&n| self.waiting_on[n as usize] == 0)
            .collect();
        for &n in &ready {
            self.set(n, NodeState::Running);
        }
        ready
    }

    fn set(&mut self, n: NodeId, to: NodeState) {
        let from = std::mem::replace(&mut self.state[n as usize], to);
        for (s, delta) in [(from, usize::MAX), (to, 1)] {
            let c = match s {
                NodeState::Waiting => &mut self.waiting,
                NodeState::Running => &mut self.running,
                NodeState::Done => &mut self.done,
                NodeState::Failed => &mut self.failed,
                NodeState::Blocked => &mut self.blocked,
                NodeState::Cancelled => &mut self.cancelled,
            };
            *c = c.wrapping_add(delta);
        }
    }

    fn expect_running(&self, n: NodeId) -> CoreResult<()> {
        match self.state.get(n as usize) {
            Some(NodeState::Running) => Ok(()),
            Some(s) => Err(CoreError::InvalidState(format!(
                "node {n} is {s:?}, not running: it was not handed out or was already reported"
            ))),
            None => Err(CoreError::InvalidState(format!("node id {n} out of range"))),
        }
    }

    fn succ(&self, n: NodeId) -> &[NodeId] {
        &self.targets[self.offsets[n as usize] as usize..self.offsets[n as usize + 1] as usize]
    }

    /// Marks a running node done and hands out the successors this made ready.
    pub fn complete(&mut self, n: NodeId) -> CoreResult<Vec<NodeId>> {
        self.expect_running(n)?;
        self.set(n, NodeState::Done);
        let mut ready = Vec::new();
        let (lo, hi) = (self.offsets[n as usize] as usize, self.offsets[n as usize + 1] as usize);
        for i in lo..hi {
            let m = self.targets[i];
            let w = &mut self.waiting_on[m as usize];
            *w -= 1;
            if *w == 0 && self.state[m as usize] == NodeState::Waiting {
                self.set(m, NodeState::Running);
                ready.push(m);
            }
        }
        Ok(ready)
    }

    /// Marks a running node failed and returns its descendants that can no
    /// longer run (not counting ones already blocked or cancelled), in id order.
    pub fn fail(&mut self, n: NodeId) -> CoreResult<Vec<NodeId>> {
        self.expect_running(n)?;
        self.set(n, NodeState::Failed);
        let mut blocked = Vec::new();
        let mut stack = vec![n];
        while let Some(v) = stack.pop() {
            let succ: Vec<NodeId> = self.succ(v).to_vec();
            for m in succ {
                if self.state[m as usize] == NodeState::Waiting {
                    self.set(m, NodeState::Blocked);
                    blocked.push(m);
                    stack.push(m);
                }
            }
        }
        blocked.sort_unstable();
        Ok(blocked)
    }

    /// Cancels every node that has not been handed out yet and returns them.
    pub fn cancel_waiting(&mut self) -> Vec<NodeId> {
        let out: Vec<NodeId> = (0..self.state.len() as NodeId)
            .filter(|&n| self.state[n as usize] == NodeState::Waiting)
            .collect();
        for &n in &out {
            self.set(n, NodeState::Cancelled);
        }
        out
    }

    /// The state of a node.
    pub fn state(&self, n: NodeId) -> Option<NodeState> {
        self.state.get(n as usize).copied()
    }

    /// Nodes not handed out yet.
    pub fn waiting(&self) -> usize {
        self.waiting
    }
    /// Nodes handed out and not yet reported.
    pub fn running(&self) -> usize {
        self.running
    }
    /// Nodes completed.
    pub fn done(&self) -> usize {
        self.done
    }
    /// Nodes failed.
    pub fn failed(&self) -> usize {
        self.failed
    }
    /// Nodes blocked by a failed ancestor.
    pub fn blocked(&self) -> usize {
        self.blocked
    }
    /// Nodes cancelled.
    pub fn cancelled(&self) -> usize {
        self.cancelled
    }
    /// Whether nothing is waiting or running.
    pub fn is_finished(&self) -> bool {
        self.started && self.waiting == 0 && self.running == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diamond() -> Graph {
        let mut g = Graph::new();
        g.extend(&["a", "b", "c", "d"], &[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
            .unwrap();
        g
    }

    #[test]
    fn releases_after_all_predecessors() {
        let mut t = ReadyTracker::new(&diamond());
        assert_eq!(t.start(), vec![0]);
        assert_eq!(t.complete(0).unwrap(), vec![1, 2]);
        assert_eq!(t.complete(1).unwrap(), Vec::<NodeId>::new());
        assert_eq!(t.complete(2).unwrap(), vec![3]);
        assert_eq!(t.complete(3).unwrap(), Vec::<NodeId>::new());
        assert!(t.is_finished());
        assert_eq!(t.done(), 4);
    }

    #[test]
    fn double_complete_is_refused() {
        let mut t = ReadyTracker::new(&diamond());
        t.start();
        t.complete(0).unwrap();
        assert!(t.complete(0).is_err());
        assert!(t.complete(3).is_err());
    }

    #[test]
    fn fail_blocks_descendants_only() {
        let mut g = diamond();
        g.extend(&["e"], &[]).unwrap();
        let mut t = ReadyTracker::new(&g);
        assert_eq!(t.start(), vec![0, 4]);
        assert_eq!(t.complete(0).unwrap(), vec![1, 2]);
        assert_eq!(t.fail(1).unwrap(), vec![3]);
        assert_eq!(t.complete(2).unwrap(), Vec::<NodeId>::new());
        t.complete(4).unwrap();
        assert!(t.is_finished());
        assert_eq!((t.done(), t.failed(), t.blocked()), (3, 1, 1));
    }

    #[test]
    fn cancel_waiting_stops_the_rest() {
        let mut t = ReadyTracker::new(&diamond());
        t.start();
        assert_eq!(t.cancel_waiting(), vec![1, 2, 3]);
        t.complete(0).unwrap();
        assert!(t.is_finished());
        assert_eq!(t.cancelled(), 3);
    }
}

//! Incremental cycle detection: the online topological-order algorithm of
//! Pearce and Kelly ("A dynamic topological sort algorithm for directed acyclic
//! graphs", JEA 2006).
//!
//! The graph keeps `ord`, a topological position per node. Inserting `x -> y`
//! with `ord[x] < ord[y]` costs O(1). Otherwise only the *affected region*
//! `ord[y]..=ord[x]` is searched: forward from `y` (nodes before `x`) and
//! backward from `x` (nodes after `y`). Reaching `x` from `y` is a cycle, and the
//! search's parent links give its path; else the two visited sets swap their
//! positions. Work is proportional to the region, not to the graph.

use super::{Graph, NodeId};
use crate::error::{CoreError, CoreResult};

/// Checks that `from -> to` keeps the graph acyclic and repairs `ord` so that
/// `ord[from] < ord[to]`. Does not insert the edge itself.
pub(super) fn insert_edge(g: &mut Graph, from: NodeId, to: NodeId) -> CoreResult<()> {
    let (lb, ub) = (g.ord[to as usize], g.ord[from as usize]);
    if lb > ub {
        return Ok(());
    }
    let forward = match forward_search(g, to, from, ub) {
        Ok(visited) => visited,
        Err(path) => {
            let names = path.iter().map(|&n| g.names[n as usize].clone()).collect();
            return Err(CoreError::Cycle { path: names });
        }
    };
    let backward = backward_search(g, from, lb);
    reorder(g, backward, forward);
    Ok(())
}

/// Depth-first search from `start` over successors with `ord < ub`. Returns the
/// visited nodes, or the cycle path `target -> start -> ... -> target` when
/// `target` is reached.
fn forward_search(g: &Graph, start: NodeId, target: NodeId, ub: u32) -> Result<Vec<NodeId>, Vec<NodeId>> {
    let mut parent: rustc_hash::FxHashMap<NodeId, NodeId> = rustc_hash::FxHashMap::default();
    let mut visited = vec![start];
    let mut stack = vec![start];
    parent.insert(start, start);
    while let Some(n) = stack.pop() {
        for &m in &g.succ[n as usize] {
            if m == target {
                // The new edge is target -> start, so the cycle reads
                // start -> ... -> n -> target -> start.
                let mut path = vec![n];
                let mut cur = n;
                while cur != start {
                    cur = parent[&cur];
                    path.push(cur);
                }
                path.reverse();
                path.push(target);
                path.push(start);
                return Err(path);
            }
            if g.ord[m as usize] < ub && !parent.contains_key(&m) {
                parent.insert(m, n);
                visited.push(m);
                stack.push(m);
            }
        }
    }
    Ok(visited)
}

/// Depth-first search from `start` over predecessors with `ord > lb`.
fn backward_search(g: &Graph, start: NodeId, lb: u32) -> Vec<NodeId> {
    let mut seen = rustc_hash::FxHashSet::default();
    let mut visited = vec![start];
    let mut stack = vec![start];
    seen.insert(start);
    while let Some(n) = stack.pop() {
        for &m in &g.pred[n as usize] {
            if g.ord[m as usize] > lb && seen.insert(m) {
                visited.push(m);
                stack.push(m);
            }
        }
    }
    visited
}

/// Gives the backward set the lowest of the freed positions, in their old
/// relative order, and the forward set the rest.
fn reorder(g: &mut Graph, mut backward: Vec<NodeId>, mut forward: Vec<NodeId>) {
    backward.sort_unstable_by_key(|&n| g.ord[n as usize]);
    forward.sort_unstable_by_key(|&n| g.ord[n as usize]);
    let mut slots: Vec<u32> = backward
        .iter()
        .chain(forward.iter())
        .map(|&n| g.ord[n as usize])
        .collect();
    slots.sort_unstable();
    for (n, slot) in backward.into_iter().chain(forward).zip(slots) {
        g.ord[n as usize] = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Graph;
    use crate::error::CoreError;

    #[test]
    fn cycle_path_starts_at_edge_target() {
        let mut g = Graph::new();
        for n in ["a", "b", "c", "d"] {
            g.add_node(n).unwrap();
        }
        g.add_edge_by_name("b", "c").unwrap();
        g.add_edge_by_name("c", "d").unwrap();
        g.add_edge_by_name("a", "b").unwrap();
        let err = g.add_edge_by_name("d", "b").unwrap_err();
        assert_eq!(
            err,
            CoreError::Cycle {
                path: vec!["b".into(), "c".into(), "d".into(), "b".into()]
            }
        );
    }

    #[test]
    fn reorder_keeps_existing_edges_valid() {
        let mut g = Graph::new();
        for n in ["e", "d", "c", "b", "a"] {
            g.add_node(n).unwrap();
        }
        for (x, y) in [("d", "e"), ("c", "d"), ("b", "c"), ("a", "b")] {
            g.add_edge_by_name(x, y).unwrap();
        }
        assert_eq!(g.topological_names(), vec!["a", "b", "c", "d", "e"]);
    }
}

//! Whole-graph algorithms in linear time: Kahn's topological order (which also
//! validates a bulk build and extracts a cycle's path) and Kahn layers.

use std::collections::VecDeque;

use super::{Graph, NodeId};

/// A topological order by Kahn's algorithm, seeded in insertion order. When the
/// graph has a cycle, returns one cycle's path instead, in edge direction with
/// the first node repeated at the end.
pub fn kahn_order(g: &Graph) -> Result<Vec<NodeId>, Vec<NodeId>> {
    let n = g.node_count();
    let mut indeg = g.in_degrees();
    let mut queue: VecDeque<NodeId> = (0..n as NodeId).filter(|&v| indeg[v as usize] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(v) = queue.pop_front() {
        order.push(v);
        for &w in g.successors(v) {
            let d = &mut indeg[w as usize];
            *d -= 1;
            if *d == 0 {
                queue.push_back(w);
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err(cycle_among_remaining(g, &indeg))
    }
}

/// Every node left with a non-zero in-degree after Kahn has a predecessor that
/// is also left, so walking predecessors from any of them must revisit a node.
fn cycle_among_remaining(g: &Graph, indeg: &[u32]) -> Vec<NodeId> {
    let remaining = |v: NodeId| indeg[v as usize] > 0;
    let Some(first) = (0..g.node_count() as NodeId).find(|&v| remaining(v)) else {
        return Vec::new();
    };
    let mut step_of = vec![u32::MAX; g.node_count()];
    let mut walk = Vec::new();
    let mut cur = first;
    while step_of[cur as usize] == u32::MAX {
        step_of[cur as usize] = walk.len() as u32;
        walk.push(cur);
        cur = match g.predecessors(cur).iter().copied().find(|&p| remaining(p)) {
            Some(p) => p,
            None => return Vec::new(),
        };
    }
    // walk[step_of[cur]..] is the cycle against edge direction.
    let mut cycle: Vec<NodeId> = walk[step_of[cur as usize] as usize..].to_vec();
    cycle.reverse();
    cycle.push(cycle[0]);
    cycle
}

/// Kahn layers: each layer holds the nodes whose predecessors are all in
/// earlier layers, in insertion order.
pub fn layers(g: &Graph) -> Vec<Vec<NodeId>> {
    let mut indeg = g.in_degrees();
    let mut current: Vec<NodeId> = (0..g.node_count() as NodeId)
        .filter(|&v| indeg[v as usize] == 0)
        .collect();
    let mut out = Vec::new();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &v in &current {
            for &w in g.successors(v) {
                let d = &mut indeg[w as usize];
                *d -= 1;
                if *d == 0 {
                    next.push(w);
                }
            }
        }
        next.sort_unstable();
        out.push(std::mem::replace(&mut current, next));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Graph;
    use super::*;

    #[test]
    fn cycle_found_among_remaining_is_a_real_cycle() {
        let mut g = Graph::new();
        for n in ["a", "b", "c", "d"] {
            g.add_node(n).unwrap();
        }
        // Build the cycle behind the validator's back to test extraction.
        for (x, y) in [(0, 1), (1, 2), (2, 3), (3, 1)] {
            g.succ[x].push(y as NodeId);
            g.pred[y].push(x as NodeId);
        }
        let path = kahn_order(&g).unwrap_err();
        assert_eq!(path.first(), path.last());
        for w in path.windows(2) {
            assert!(g.successors(w[0]).contains(&w[1]));
        }
        assert_eq!(path.len(), 4);
    }
}

//! Property tests of the graph invariants: every order respects every edge; a
//! cycle is reported exactly when one exists, and the reported path is a real
//! cycle; the ready tracker releases every node exactly once, after all its
//! predecessors.

use proptest::prelude::*;

use super::ready::ReadyTracker;
use super::{Graph, NodeId};
use crate::error::CoreError;

/// Random edge lists over `n` nodes (may contain cycles and duplicates).
fn edges(max_nodes: usize) -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1..max_nodes).prop_flat_map(|n| (Just(n), prop::collection::vec((0..n, 0..n), 0..n * 3)))
}

/// Random DAG: edges only from a lower to a higher rank of a random permutation.
fn dag(max_nodes: usize) -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1..max_nodes).prop_flat_map(|n| {
        (
            Just(n),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            prop::collection::vec((0..n, 0..n), 0..n * 3),
        )
            .prop_map(|(n, perm, raw)| {
                let e = raw
                    .into_iter()
                    .filter(|(a, b)| a != b)
                    .map(|(a, b)| if a < b { (perm[a], perm[b]) } else { (perm[b], perm[a]) })
                    .collect();
                (n, e)
            })
    })
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// Brute-force reachability on the accepted edges.
fn reaches(n: usize, accepted: &[(usize, usize)], from: usize, to: usize) -> bool {
    let mut seen = vec![false; n];
    let mut stack = vec![from];
    while let Some(v) = stack.pop() {
        if v == to {
            return true;
        }
        if !std::mem::replace(&mut seen[v], true) {
            stack.extend(accepted.iter().filter(|e| e.0 == v).map(|e| e.1));
        }
    }
    false
}

fn assert_real_cycle(g: &Graph, path: &[String]) {
    assert!(path.len() >= 2);
    assert_eq!(path.first(), path.last());
    for w in path.windows(2) {
        let (a, b) = (g.id(&w[0]).unwrap(), g.id(&w[1]).unwrap());
        assert!(g.has_edge(a, b), "{w:?} is not an edge");
    }
}

fn assert_order_respects_edges(g: &Graph) {
    let order = g.topological_order();
    let mut pos = vec![0usize; g.node_count()];
    for (i, &n) in order.iter().enumerate() {
        pos[n as usize] = i;
    }
    for v in 0..g.node_count() as NodeId {
        for &w in g.successors(v) {
            assert!(pos[v as usize] < pos[w as usize]);
        }
    }
}

proptest! {
    #[test]
    fn incremental_insertion_reports_cycle_exactly_when_one_exists((n, es) in edges(40)) {
        let mut g = Graph::new();
        g.add_nodes(names(n)).unwrap();
        let mut accepted: Vec<(usize, usize)> = Vec::new();
        for (a, b) in es {
            let would_cycle = a == b || reaches(n, &accepted, b, a);
            match g.add_edge(a as NodeId, b as NodeId) {
                Ok(()) => {
                    prop_assert!(!would_cycle);
                    if !accepted.contains(&(a, b)) {
                        accepted.push((a, b));
                    }
                }
                Err(CoreError::Cycle { path }) => {
                    prop_assert!(would_cycle);
                    // The path closes through the refused edge a -> b.
                    prop_assert_eq!(path.first(), path.last());
                    prop_assert_eq!(&path[0], &format!("n{b}"));
                    prop_assert_eq!(&path[path.len() - 2], &format!("n{a}"));
                    for w in path[..path.len() - 1].windows(2) {
                        prop_assert!(g.has_edge(g.id(&w[0]).unwrap(), g.id(&w[1]).unwrap()));
                    }
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
            assert_order_respects_edges(&g);
        }
        prop_assert_eq!(g.edge_count(), accepted.len());
    }

    #[test]
    fn bulk_build_reports_cycle_exactly_when_one_exists((n, es) in edges(40)) {
        let ns = names(n);
        let pairs: Vec<(String, String)> = es.iter().map(|&(a, b)| (ns[a].clone(), ns[b].clone())).collect();
        let mut accepted: Vec<(usize, usize)> = Vec::new();
        let mut has_cycle = false;
        for &(a, b) in &es {
            if a == b || reaches(n, &accepted, b, a) {
                has_cycle = true;
            }
            accepted.push((a, b));
        }
        let mut g = Graph::new();
        match g.extend(&ns, &pairs) {
            Ok(()) => {
                prop_assert!(!has_cycle);
                assert_order_respects_edges(&g);
                prop_assert!(g.is_dag());
            }
            Err(CoreError::Cycle { path }) => {
                prop_assert!(has_cycle);
                // Check the path against the input edges (the graph rolled back).
                let mut full = Graph::new();
                full.add_nodes(ns.clone()).unwrap();
                for &(a, b) in &es {
                    full.succ[a].push(b as NodeId);
                    full.pred[b].push(a as NodeId);
                }
                assert_real_cycle(&full, &path);
                prop_assert_eq!(g.node_count(), 0);
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn ready_tracker_releases_each_node_once_after_its_predecessors((n, es) in dag(60), pick in any::<u64>()) {
        let ns = names(n);
        let pairs: Vec<(String, String)> = es.iter().map(|&(a, b)| (ns[a].clone(), ns[b].clone())).collect();
        let mut g = Graph::new();
        g.extend(&ns, &pairs).unwrap();
        let mut t = ReadyTracker::new(&g);
        let mut ready = t.start();
        let mut done = vec![false; n];
        let mut released = vec![0u32; n];
        for &r in &ready {
            released[r as usize] += 1;
        }
        let mut x = pick | 1;
        while !ready.is_empty() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let node = ready.swap_remove((x % ready.len() as u64) as usize);
            for &p in g.predecessors(node) {
                prop_assert!(done[p as usize]);
            }
            done[node as usize] = true;
            for m in t.complete(node).unwrap() {
                released[m as usize] += 1;
                ready.push(m);
            }
        }
        prop_assert!(released.iter().all(|&c| c == 1));
        prop_assert!(t.is_finished());
        prop_assert_eq!(t.done(), n);
    }

    #[test]
    fn layers_put_each_node_after_its_predecessors((n, es) in dag(60)) {
        let ns = names(n);
        let pairs: Vec<(String, String)> = es.iter().map(|&(a, b)| (ns[a].clone(), ns[b].clone())).collect();
        let mut g = Graph::new();
        g.extend(&ns, &pairs).unwrap();
        let mut layer_of = vec![usize::MAX; n];
        for (i, layer) in g.layers().iter().enumerate() {
            for &v in layer {
                layer_of[v as usize] = i;
            }
        }
        for v in 0..n as NodeId {
            prop_assert!(layer_of[v as usize] != usize::MAX);
            for &p in g.predecessors(v) {
                prop_assert!(layer_of[p as usize] < layer_of[v as usize]);
            }
        }
    }
}

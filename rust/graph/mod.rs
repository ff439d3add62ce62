//! The DAG: nodes keyed by name, mapped to dense ids, with adjacency lists both
//! ways and a maintained topological order.
//!
//! Two ways to build:
//! - one by one ([`Graph::add_node`], [`Graph::add_edge`]): every edge is checked
//!   at once by the online topological-order algorithm of [`cycle`], which only
//!   touches the part of the order the new edge disturbs;
//! - in bulk ([`Graph::extend`]): nodes and edges are appended and the whole graph
//!   is validated once, in linear time, with Kahn's algorithm ([`topo`]). A cycle
//!   rolls the whole batch back.
//!
//! # Example
//! ```
//! use _core::graph::Graph;
//! let mut g = Graph::new();
//! g.extend(&["a", "b", "c"], &[("a", "b"), ("b", "c")]).unwrap();
//! assert_eq!(g.topological_names(), vec!["a", "b", "c"]);
//! let err = g.add_edge_by_name("c", "a").unwrap_err();
//! assert_eq!(err.to_string(), "cycle detected: a -> b -> c -> a; remove one of these dependencies");
//! ```

pub mod cycle;
pub mod ready;
pub mod topo;

#[cfg(test)]
mod proptests;

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;

use crate::error::{CoreError, CoreResult};

/// Dense node id: the index of the node in insertion order.
pub type NodeId = u32;

/// An adjacency list: workflow nodes rarely have more than a few neighbours, so
/// they are stored inline (no allocation, no pointer to chase) up to four.
pub type Adjacency = SmallVec<[NodeId; 4]>;

/// A directed graph that is kept acyclic.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    names: Vec<String>,
    /// Ids hashed by their name: the text is stored once, in `names`.
    index: HashTable<NodeId>,
    succ: Vec<Adjacency>,
    pred: Vec<Adjacency>,
    /// `ord[n]` is the position of `n` in a topological order (unique values).
    ord: Vec<u32>,
    edges: usize,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with room for `nodes` nodes.
    pub fn with_capacity(nodes: usize) -> Self {
        Graph {
            names: Vec::with_capacity(nodes),
            index: HashTable::with_capacity(nodes),
            succ: Vec::with_capacity(nodes),
            pred: Vec::with_capacity(nodes),
            ord: Vec::with_capacity(nodes),
            edges: 0,
        }
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.names.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges
    }

    /// Adds a node; fails with [`CoreError::DuplicateNode`] if the name exists.
    pub fn add_node(&mut self, name: &str) -> CoreResult<NodeId> {
        if self.contains(name) {
            return Err(CoreError::DuplicateNode(name.to_owned()));
        }
        Ok(self.push_node(name.to_owned()))
    }

    /// Adds many nodes; on a duplicate name, none of them is kept. Returns the
    /// node count before the batch, to pass to [`Graph::extend_ids`].
    pub fn add_nodes<I: IntoIterator<Item = String>>(&mut self, names: I) -> CoreResult<usize> {
        let mark = self.names.len();
        let names = names.into_iter();
        self.reserve(names.size_hint().0);
        for name in names {
            if self.contains(&name) {
                self.truncate(mark);
                return Err(CoreError::DuplicateNode(name));
            }
            self.push_node(name);
        }
        Ok(mark)
    }

    /// Makes room for `additional` more nodes (avoids rehashing while growing).
    pub fn reserve(&mut self, additional: usize) {
        let names = &self.names;
        self.index
            .reserve(additional, |&id| FxBuildHasher.hash_one(names[id as usize].as_str()));
        self.names.reserve(additional);
        self.succ.reserve(additional);
        self.pred.reserve(additional);
        self.ord.reserve(additional);
    }

    /// Removes the nodes added after `mark` (which must have no edges yet).
    pub fn rollback_nodes(&mut self, mark: usize) {
        self.truncate(mark);
    }

    fn push_node(&mut self, name: String) -> NodeId {
        let id = self.names.len() as NodeId;
        let hash = FxBuildHasher.hash_one(name.as_str());
        let names = &self.names;
        self.index
            .insert_unique(hash, id, |&i| FxBuildHasher.hash_one(names[i as usize].as_str()));
        self.names.push(name);
        self.succ.push(Adjacency::new());
        self.pred.push(Adjacency::new());
        // A new node has no edges, so it may go last in the order.
        self.ord.push(id);
        id
    }

    /// The id of a node.
    pub fn id(&self, name: &str) -> CoreResult<NodeId> {
        self.find(name).ok_or_else(|| CoreError::UnknownNode(name.to_owned()))
    }

    fn find(&self, name: &str) -> Option<NodeId> {
        let hash = FxBuildHasher.hash_one(name);
        self.index.find(hash, |&id| self.names[id as usize] == name).copied()
    }

    /// Whether a node of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The name of a node id.
    pub fn name(&self, id: NodeId) -> CoreResult<&str> {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .ok_or_else(|| CoreError::InvalidState(format!("node id {id} out of range")))
    }

    /// All names, indexed by id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Successors (downstream nodes) of a node.
    pub fn successors(&self, id: NodeId) -> &[NodeId] {
        &self.succ[id as usize]
    }

    /// Predecessors (upstream nodes) of a node.
    pub fn predecessors(&self, id: NodeId) -> &[NodeId] {
        &self.pred[id as usize]
    }

    /// Whether the edge `from -> to` exists.
    pub fn has_edge(&self, from: NodeId, to: NodeId) -> bool {
        let (a, b) = (&self.succ[from as usize], &self.pred[to as usize]);
        if a.len() <= b.len() {
            a.contains(&to)
        } else {
            b.contains(&from)
        }
    }

    fn check_id(&self, id: NodeId) -> CoreResult<()> {
        if (id as usize) < self.names.len() {
            Ok(())
        } else {
            Err(CoreError::InvalidState(format!("node id {id} out of range")))
        }
    }

    /// Adds the edge `from -> to` (`to` runs after `from`), checking for a cycle
    /// at once. A duplicate edge is ignored. On a cycle the graph is unchanged.
    pub fn add_edge(&mut self, from: NodeId, to: NodeId) -> CoreResult<()> {
        self.check_id(from)?;
        self.check_id(to)?;
        if from == to {
            let name = self.names[from as usize].clone();
            return Err(CoreError::Cycle {
                path: vec![name.clone(), name],
            });
        }
        if self.has_edge(from, to) {
            return Ok(());
        }
        cycle::insert_edge(self, from, to)?;
        self.succ[from as usize].push(to);
        self.pred[to as usize].push(from);
        self.edges += 1;
        Ok(())
    }

    /// Adds node `name` after the nodes `upstreams`, then before the nodes
    /// `downstreams` (each of those edges checked for a cycle), and returns its
    /// id: one task with its declared upstreams and the earlier tasks that take
    /// its result. All or nothing: on any error the graph is left as it was
    /// (only the maintained order may differ, and it stays a valid one).
    pub fn add_node_linked(&mut self, name: &str, upstreams: &[NodeId], downstreams: &[NodeId]) -> CoreResult<NodeId> {
        for &id in upstreams.iter().chain(downstreams) {
            self.check_id(id)?;
        }
        let id = self.add_node(name)?;
        let edges = self.edges;
        for &up in upstreams {
            if !self.has_edge(up, id) {
                self.succ[up as usize].push(id);
                self.pred[id as usize].push(up);
                self.edges += 1;
            }
        }
        for (k, &down) in downstreams.iter().enumerate() {
            if let Err(e) = self.add_edge(id, down) {
                for &done in downstreams[..k].iter().rev() {
                    if self.succ[id as usize].last() == Some(&done) {
                        self.succ[id as usize].pop();
                        self.pred[done as usize].pop();
                    }
                }
                for &up in self.pred[id as usize].clone().iter().rev() {
                    self.succ[up as usize].pop();
                }
                self.pred[id as usize].clear();
                self.edges = edges;
                self.remove_last_node();
                return Err(e);
            }
        }
        Ok(id)
    }

    /// Removes the last node, which must have no edges left, keeping `ord` a
    /// permutation of `0..n`.
    fn remove_last_node(&mut self) {
        let last = self.names.len() - 1;
        let pos = self.ord[last];
        for p in self.ord.iter_mut() {
            if *p > pos {
                *p -= 1;
            }
        }
        self.truncate(last);
    }

    /// [`Graph::add_edge`] by names.
    pub fn add_edge_by_name(&mut self, from: &str, to: &str) -> CoreResult<()> {
        let (f, t) = (self.id(from)?, self.id(to)?);
        self.add_edge(f, t)
    }

    /// Adds many nodes and edges at once and validates the result once, in
    /// linear time. Edges may name nodes of this batch or existing ones. On any
    /// error (duplicate node, unknown node, cycle) the graph is left exactly as
    /// it was.
    pub fn extend<S: AsRef<str>>(&mut self, nodes: &[S], edges: &[(S, S)]) -> CoreResult<()> {
        let node_mark = self.names.len();
        for name in nodes {
            if let Err(e) = self.add_node(name.as_ref()) {
                self.truncate(node_mark);
                return Err(e);
            }
        }
        let mut ids = Vec::with_capacity(edges.len());
        for (a, b) in edges {
            match (self.id(a.as_ref()), self.id(b.as_ref())) {
                (Ok(x), Ok(y)) => ids.push((x, y)),
                (Err(e), _) | (_, Err(e)) => {
                    self.truncate(node_mark);
                    return Err(e);
                }
            }
        }
        self.extend_ids(node_mark, &ids)
    }

    /// Adds edges between existing nodes (ids) in bulk and validates once.
    /// `node_mark` is the node count to roll back to on error (pass
    /// `node_count()` when no nodes were added in this batch).
    pub fn extend_ids(&mut self, node_mark: usize, edges: &[(NodeId, NodeId)]) -> CoreResult<()> {
        let mut added = Vec::with_capacity(edges.len());
        for &(a, b) in edges {
            if let Err(e) = self.check_id(a).and_then(|_| self.check_id(b)) {
                self.rollback_edges(&added);
                self.truncate(node_mark);
                return Err(e);
            }
            if a == b {
                let name = self.names[a as usize].clone();
                self.rollback_edges(&added);
                self.truncate(node_mark);
                return Err(CoreError::Cycle {
                    path: vec![name.clone(), name],
                });
            }
            // Duplicate edges are rare in bulk input; checking the shorter list
            // keeps this near O(1) for workflow-shaped graphs.
            if self.has_edge(a, b) {
                continue;
            }
            self.succ[a as usize].push(b);
            self.pred[b as usize].push(a);
            added.push((a, b));
        }
        self.edges += added.len();
        match topo::kahn_order(self) {
            Ok(order) => {
                for (pos, &n) in order.iter().enumerate() {
                    self.ord[n as usize] = pos as u32;
                }
                Ok(())
            }
            Err(path) => {
                let names = path.iter().map(|&n| self.names[n as usize].clone()).collect();
                self.edges -= added.len();
                self.rollback_edges(&added);
                self.truncate(node_mark);
                Err(CoreError::Cycle { path: names })
            }
        }
    }

    fn rollback_edges(&mut self, added: &[(NodeId, NodeId)]) {
        for &(a, b) in added.iter().rev() {
            self.succ[a as usize].pop();
            self.pred[b as usize].pop();
        }
    }

    fn truncate(&mut self, nodes: usize) {
        while self.names.len() > nodes {
            if let Some(name) = self.names.last() {
                let hash = FxBuildHasher.hash_one(name.as_str());
                let last = (self.names.len() - 1) as NodeId;
                if let Ok(entry) = self.index.find_entry(hash, |&id| id == last) {
                    entry.remove();
                }
            }
            self.names.pop();
            self.succ.pop();
            self.pred.pop();
            self.ord.pop();
        }
    }

    /// Node ids in a topological order: the maintained one, read off in O(n)
    /// (`ord` is always a permutation of `0..n`).
    pub fn topological_order(&self) -> Vec<NodeId> {
        let mut ids = vec![0; self.names.len()];
        for (n, &pos) in self.ord.iter().enumerate() {
            ids[pos as usize] = n as NodeId;
        }
        ids
    }

    /// Node names in a topological order.
    pub fn topological_names(&self) -> Vec<&str> {
        self.topological_order()
            .into_iter()
            .map(|n| self.names[n as usize].as_str())
            .collect()
    }

    /// Kahn layers: layer 0 holds the nodes without predecessors, layer k the
    /// nodes whose predecessors all sit in earlier layers. Within a layer nodes
    /// keep insertion order.
    pub fn layers(&self) -> Vec<Vec<NodeId>> {
        topo::layers(self)
    }

    /// Always true: the graph refuses every edge that would close a cycle. Kept
    /// as an independent linear-time check of that invariant.
    pub fn is_dag(&self) -> bool {
        topo::kahn_order(self).is_ok()
    }

    /// The nodes `id` depends on, directly or not (not including `id`).
    pub fn ancestors(&self, id: NodeId) -> Vec<NodeId> {
        self.reach(id, &self.pred)
    }

    /// The nodes that depend on `id`, directly or not (not including `id`).
    pub fn descendants(&self, id: NodeId) -> Vec<NodeId> {
        self.reach(id, &self.succ)
    }

    fn reach(&self, id: NodeId, adj: &[Adjacency]) -> Vec<NodeId> {
        let mut seen = vec![false; self.names.len()];
        let mut out = Vec::new();
        let mut stack = vec![id];
        seen[id as usize] = true;
        while let Some(n) = stack.pop() {
            for &m in &adj[n as usize] {
                if !seen[m as usize] {
                    seen[m as usize] = true;
                    out.push(m);
                    stack.push(m);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Compressed successor lists: `(offsets, targets)` with the successors of
    /// node `n` at `targets[offsets[n]..offsets[n + 1]]`.
    pub fn successor_csr(&self) -> (Vec<u32>, Vec<NodeId>) {
        let mut offsets = Vec::with_capacity(self.names.len() + 1);
        let mut targets = Vec::with_capacity(self.edges);
        offsets.push(0);
        for s in &self.succ {
            targets.extend_from_slice(s);
            offsets.push(targets.len() as u32);
        }
        (offsets, targets)
    }

    /// Number of predecessors of each node.
    pub fn in_degrees(&self) -> Vec<u32> {
        self.pred.iter().map(|p| p.len() as u32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Graph {
        let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let edges: Vec<(String, String)> = (1..n).map(|i| (names[i - 1].clone(), names[i].clone())).collect();
        let mut g = Graph::new();
        g.extend(&names, &edges).unwrap();
        g
    }

    #[test]
    fn duplicate_node_is_refused() {
        let mut g = Graph::new();
        g.add_node("a").unwrap();
        assert_eq!(g.add_node("a"), Err(CoreError::DuplicateNode("a".into())));
    }

    #[test]
    fn unknown_node_is_named() {
        let mut g = Graph::new();
        g.add_node("a").unwrap();
        assert_eq!(g.add_edge_by_name("a", "zz"), Err(CoreError::UnknownNode("zz".into())));
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let mut g = Graph::new();
        let a = g.add_node("a").unwrap();
        assert_eq!(
            g.add_edge(a, a),
            Err(CoreError::Cycle {
                path: vec!["a".into(), "a".into()]
            })
        );
        assert_eq!(g.edge_count(), 0);
    }

    #[test]
    fn incremental_cycle_reports_path_in_edge_direction() {
        let mut g = Graph::new();
        for n in ["a", "b", "c"] {
            g.add_node(n).unwrap();
        }
        g.add_edge_by_name("a", "b").unwrap();
        g.add_edge_by_name("b", "c").unwrap();
        let err = g.add_edge_by_name("c", "a").unwrap_err();
        assert_eq!(
            err,
            CoreError::Cycle {
                path: vec!["a".into(), "b".into(), "c".into(), "a".into()]
            }
        );
        assert_eq!(g.edge_count(), 2);
        assert!(g.is_dag());
    }

    #[test]
    fn bulk_cycle_rolls_back_whole_batch() {
        let mut g = Graph::new();
        g.extend(&["x"], &[]).unwrap();
        let err = g
            .extend(&["a", "b", "c"], &[("x", "a"), ("a", "b"), ("b", "c"), ("c", "a")])
            .unwrap_err();
        match err {
            CoreError::Cycle { path } => {
                assert_eq!(path.first(), path.last());
                assert_eq!(path.len(), 4);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(g.node_count(), 1);
        assert_eq!(g.edge_count(), 0);
        assert!(!g.contains("a"));
    }

    #[test]
    fn bulk_unknown_node_rolls_back() {
        let mut g = Graph::new();
        let err = g.extend(&["a"], &[("a", "b")]).unwrap_err();
        assert_eq!(err, CoreError::UnknownNode("b".into()));
        assert_eq!(g.node_count(), 0);
    }

    #[test]
    fn order_after_reversed_insertion() {
        let mut g = Graph::new();
        for n in ["c", "b", "a"] {
            g.add_node(n).unwrap();
        }
        g.add_edge_by_name("a", "b").unwrap();
        g.add_edge_by_name("b", "c").unwrap();
        assert_eq!(g.topological_names(), vec!["a", "b", "c"]);
    }

    #[test]
    fn ancestors_and_descendants() {
        let g = chain(5);
        assert_eq!(g.ancestors(2), vec![0, 1]);
        assert_eq!(g.descendants(2), vec![3, 4]);
        assert!(g.descendants(4).is_empty());
    }

    #[test]
    fn layers_of_a_diamond() {
        let mut g = Graph::new();
        g.extend(&["a", "b", "c", "d"], &[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
            .unwrap();
        assert_eq!(g.layers(), vec![vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn long_chain_has_no_recursion_limit() {
        let g = chain(200_000);
        assert_eq!(g.topological_order().len(), 200_000);
        assert_eq!(g.descendants(0).len(), 199_999);
    }

    #[test]
    fn linked_node_takes_upstreams_and_downstreams() {
        let mut g = chain(2);
        let c = g.add_node("c").unwrap();
        let d = g.add_node_linked("d", &[1, 1], &[c]).unwrap();
        assert_eq!(g.predecessors(d), &[1]);
        assert_eq!(g.predecessors(c), &[d]);
        assert_eq!(g.edge_count(), 3);
        assert_eq!(g.topological_names(), vec!["n0", "n1", "d", "c"]);
    }

    #[test]
    fn linked_node_closing_a_loop_leaves_the_graph_as_it_was() {
        let mut g = chain(3);
        let x = g.add_node("x").unwrap();
        let before = (g.node_count(), g.edge_count());
        // y runs after n2 and before x (fine) and n0 (a loop: n0 -> n1 -> n2 -> y).
        let err = g.add_node_linked("y", &[2], &[x, 0]).unwrap_err();
        assert_eq!(
            err,
            CoreError::Cycle {
                path: vec!["n0".into(), "n1".into(), "n2".into(), "y".into(), "n0".into()]
            }
        );
        assert_eq!((g.node_count(), g.edge_count()), before);
        assert!(!g.contains("y"));
        assert!(g.successors(x).is_empty() && g.predecessors(x).is_empty());
        assert_eq!(g.successors(2), &[] as &[NodeId]);
        assert!(g.is_dag());
        let mut order = g.topological_order();
        order.sort_unstable();
        assert_eq!(order, vec![0, 1, 2, 3]);
        g.add_edge(2, x).unwrap();
    }

    #[test]
    fn duplicate_edge_is_ignored() {
        let mut g = chain(2);
        g.add_edge(0, 1).unwrap();
        assert_eq!(g.edge_count(), 1);
    }

    #[test]
    fn csr_lists_successors() {
        let g = chain(3);
        let (off, tgt) = g.successor_csr();
        assert_eq!(off, vec![0, 1, 2, 2]);
        assert_eq!(tgt, vec![1, 2]);
        assert_eq!(g.in_degrees(), vec![0, 1, 1]);
    }
}

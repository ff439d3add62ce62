//! `Graph` and `ReadyTracker` for Python. Names cross as `str`, ids as `int`;
//! bulk methods take whole lists so that a large graph crosses the boundary
//! once.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use rustc_hash::FxHashMap;

use super::errors::{name_type_error, to_py};
use crate::graph::ready::ReadyTracker;
use crate::graph::{Graph, NodeId};

/// A directed acyclic graph of named nodes.
#[pyclass(name = "Graph", module = "ferroflow._core")]
#[derive(Default)]
pub(crate) struct PyGraph {
    pub(crate) inner: Graph,
    /// The `str` object of each node, by id: names go back to Python as the
    /// objects that came in, without creating a string per node.
    objs: Vec<Py<PyString>>,
}

fn extract_name<'a, 'py>(value: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyString>> {
    value.cast::<PyString>().map_err(|_| name_type_error(value))
}

fn pair<'py>(item: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() == 2 {
            return Ok((t.get_item(0)?, t.get_item(1)?));
        }
    }
    let seq: Vec<Bound<'py, PyAny>> = item.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!("an edge must be a pair (upstream, downstream), got {item}"))
    })?;
    match <[Bound<'py, PyAny>; 2]>::try_from(seq) {
        Ok([a, b]) => Ok((a, b)),
        Err(_) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "an edge must be a pair (upstream, downstream), got {item}"
        ))),
    }
}

/// The ids of the name objects `keep` (nodes `mark..`), by the objects' addresses.
fn ptr_ids(mark: usize, keep: &[Bound<'_, PyString>]) -> FxHashMap<usize, NodeId> {
    let mut by_ptr = FxHashMap::default();
    by_ptr.reserve(keep.len());
    for (i, obj) in keep.iter().enumerate() {
        by_ptr.insert(obj.as_ptr() as usize, (mark + i) as NodeId);
    }
    by_ptr
}

impl PyGraph {
    fn id(&self, name: &str) -> PyResult<NodeId> {
        to_py(self.inner.id(name))
    }

    fn names_of<'py>(&self, py: Python<'py>, ids: &[NodeId]) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, ids.iter().map(|&i| self.objs[i as usize].bind(py)))
    }

    /// Adds the names in `nodes` (all or none); returns the node count before
    /// them and the name objects, in order.
    fn push_names<'py>(&mut self, nodes: &Bound<'py, PyAny>) -> PyResult<(usize, Vec<Bound<'py, PyString>>)> {
        let hint = nodes.len().unwrap_or(0);
        let mut keep = Vec::with_capacity(hint);
        let mut owned = Vec::with_capacity(hint);
        for item in nodes.try_iter()? {
            let item = item?;
            let obj = extract_name(&item)?.clone();
            owned.push(obj.to_str()?.to_owned());
            keep.push(obj);
        }
        let mark = to_py(self.inner.add_nodes(owned))?;
        self.objs.extend(keep.iter().map(|o| o.clone().unbind()));
        Ok((mark, keep))
    }

    fn rollback(&mut self, mark: usize) {
        self.inner.rollback_nodes(mark);
        self.objs.truncate(mark);
    }
}

#[pymethods]
impl PyGraph {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Adds a node and returns its id.
    fn add_node(&mut self, name: &Bound<'_, PyAny>) -> PyResult<NodeId> {
        let obj = extract_name(name)?;
        let id = to_py(self.inner.add_node(obj.to_str()?))?;
        self.objs.push(obj.clone().unbind());
        Ok(id)
    }

    /// Adds a node that runs after the given node ids and returns its id: one
    /// call for a task and its upstreams. Edges into a new node cannot close a
    /// loop, so once the ids are checked nothing can fail half-way.
    fn add_node_after(&mut self, name: &Bound<'_, PyAny>, upstreams: Vec<NodeId>) -> PyResult<NodeId> {
        for &up in &upstreams {
            to_py(self.inner.name(up))?;
        }
        let id = self.add_node(name)?;
        for &up in &upstreams {
            to_py(self.inner.add_edge(up, id))?;
        }
        Ok(id)
    }

    /// Adds a node after the node ids `upstreams` and before the node ids
    /// `downstreams` (each checked for a cycle) and returns its id; on any error
    /// nothing is kept.
    fn add_node_linked(
        &mut self,
        name: &Bound<'_, PyAny>,
        upstreams: Vec<NodeId>,
        downstreams: Vec<NodeId>,
    ) -> PyResult<NodeId> {
        let obj = extract_name(name)?;
        let id = to_py(self.inner.add_node_linked(obj.to_str()?, &upstreams, &downstreams))?;
        self.objs.push(obj.clone().unbind());
        Ok(id)
    }

    /// Adds nodes in bulk, node `k` after the nodes named in `upstreams[k]` (a
    /// list or tuple of names, of this batch or already in the graph), plus
    /// the `edges` between ids, and validates once; on error nothing is kept.
    #[pyo3(signature = (nodes, upstreams, edges = Vec::new()))]
    fn extend_named(
        &mut self,
        py: Python<'_>,
        nodes: &Bound<'_, PyAny>,
        upstreams: &Bound<'_, PyAny>,
        edges: Vec<(NodeId, NodeId)>,
    ) -> PyResult<()> {
        // As in `extend`: upstreams usually name nodes with the very string
        // objects of `nodes`, resolved by address (`keep` holds them alive).
        let (mark, keep) = self.push_names(nodes)?;
        let by_ptr = ptr_ids(mark, &keep);
        let ids = match self.named_edge_ids(mark, keep.len(), upstreams, &edges, &by_ptr) {
            Ok(ids) => ids,
            Err(e) => {
                self.rollback(mark);
                return Err(e);
            }
        };
        let inner = &mut self.inner;
        let validated = py.detach(|| inner.extend_ids(mark, &ids));
        if validated.is_err() {
            self.objs.truncate(mark);
        }
        to_py(validated)
    }

    /// The upstream ids of every node, in the order they were added, as tuples.
    ///
    /// The tuples hold only ints, so they are taken off the garbage collector's
    /// list (as CPython does with such tuples once it has seen them): a million
    /// of them do not make every later collection visit them.
    fn predecessor_lists<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let n = self.inner.node_count() as NodeId;
        let tuples = (0..n)
            .map(|i| {
                let t = PyTuple::new(py, self.inner.predecessors(i))?;
                // SAFETY: `t` is a live tuple holding only ints, which cannot be
                // part of a cycle; untracking an untracked object (the shared
                // empty tuple) does nothing.
                unsafe { pyo3::ffi::PyObject_GC_UnTrack(t.as_ptr().cast()) };
                Ok(t.unbind())
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, tuples)
    }

    /// Adds the edge `src -> dst` (dst runs after src), checking for a cycle now.
    fn add_edge(&mut self, src: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<()> {
        let (a, b) = (
            self.id(extract_name(src)?.to_str()?)?,
            self.id(extract_name(dst)?.to_str()?)?,
        );
        to_py(self.inner.add_edge(a, b))
    }

    /// Adds the edge between two node ids, checking for a cycle now.
    fn add_edge_ids(&mut self, src: NodeId, dst: NodeId) -> PyResult<()> {
        to_py(self.inner.add_edge(src, dst))
    }

    /// Adds nodes and edges in bulk and validates once; on error nothing is kept.
    #[pyo3(signature = (nodes, edges = None))]
    fn extend(&mut self, py: Python<'_>, nodes: &Bound<'_, PyAny>, edges: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        // Edges usually name nodes with the very string objects of `nodes`: map
        // those objects' addresses to ids so that most edge ends resolve without
        // hashing or comparing text. `keep` holds a reference to each object so
        // that no address can be reused while the map lives.
        let (mark, keep) = self.push_names(nodes)?;
        let ids = match edges {
            None => Vec::new(),
            Some(edges) => {
                let by_ptr = ptr_ids(mark, &keep);
                match self.edge_ids(edges, &by_ptr) {
                    Ok(ids) => ids,
                    Err(e) => {
                        self.rollback(mark);
                        return Err(e);
                    }
                }
            }
        };
        let inner = &mut self.inner;
        let validated = py.detach(|| inner.extend_ids(mark, &ids));
        if validated.is_err() {
            self.objs.truncate(mark);
        }
        to_py(validated)
    }

    /// Adds nodes in bulk, node `k` after the ids in `upstreams[k]`, plus the
    /// `edges` between ids, and validates once; on error nothing is kept.
    ///
    /// The id-based twin of `extend` for callers that already know the ids of
    /// the upstreams: no `(name, name)` pair per edge crosses the boundary.
    #[pyo3(signature = (nodes, upstreams, edges = Vec::new()))]
    fn extend_upstreams(
        &mut self,
        py: Python<'_>,
        nodes: &Bound<'_, PyAny>,
        upstreams: Vec<Vec<NodeId>>,
        edges: Vec<(NodeId, NodeId)>,
    ) -> PyResult<()> {
        let (mark, keep) = self.push_names(nodes)?;
        if upstreams.len() != keep.len() {
            self.rollback(mark);
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "extend_upstreams: {} nodes but {} upstream lists",
                keep.len(),
                upstreams.len()
            )));
        }
        let total = upstreams.iter().map(Vec::len).sum::<usize>() + edges.len();
        let mut ids = Vec::with_capacity(total);
        for (k, ups) in upstreams.iter().enumerate() {
            let node = (mark + k) as NodeId;
            ids.extend(ups.iter().map(|&up| (up, node)));
        }
        ids.extend_from_slice(&edges);
        let inner = &mut self.inner;
        let validated = py.detach(|| inner.extend_ids(mark, &ids));
        if validated.is_err() {
            self.objs.truncate(mark);
        }
        to_py(validated)
    }

    /// Adds edges between existing node ids in bulk and validates once.
    fn extend_ids(&mut self, py: Python<'_>, edges: Vec<(NodeId, NodeId)>) -> PyResult<()> {
        let inner = &mut self.inner;
        let mark = inner.node_count();
        to_py(py.detach(|| inner.extend_ids(mark, &edges)))
    }

    /// Number of nodes.
    #[getter]
    fn node_count(&self) -> usize {
        self.inner.node_count()
    }

    /// Number of edges.
    #[getter]
    fn edge_count(&self) -> usize {
        self.inner.edge_count()
    }

    fn __len__(&self) -> usize {
        self.inner.node_count()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.cast::<PyString>()
            .ok()
            .and_then(|s| s.to_str().ok().map(|s| self.inner.contains(s)))
            .unwrap_or(false)
    }

    /// The id of a node.
    fn id_of(&self, name: &str) -> PyResult<NodeId> {
        self.id(name)
    }

    /// The name of a node id.
    fn name_of<'py>(&self, py: Python<'py>, node: NodeId) -> PyResult<Bound<'py, PyString>> {
        to_py(self.inner.name(node))?;
        Ok(self.objs[node as usize].bind(py).clone())
    }

    /// All names, indexed by id.
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.objs.iter().map(|o| o.bind(py)))
    }

    /// Names in a topological order.
    fn topological_order<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = &self.inner;
        let order = py.detach(|| inner.topological_order());
        self.names_of(py, &order)
    }

    /// Ids in a topological order.
    fn topological_ids(&self, py: Python<'_>) -> Vec<NodeId> {
        let inner = &self.inner;
        py.detach(|| inner.topological_order())
    }

    /// Kahn layers, as names.
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyList>>> {
        let inner = &self.inner;
        let layers = py.detach(|| inner.layers());
        layers.iter().map(|l| self.names_of(py, l)).collect()
    }

    /// Kahn layers, as ids.
    fn layer_ids(&self, py: Python<'_>) -> Vec<Vec<NodeId>> {
        let inner = &self.inner;
        py.detach(|| inner.layers())
    }

    /// Whether the graph is acyclic (always true; checked independently).
    fn is_dag(&self, py: Python<'_>) -> bool {
        let inner = &self.inner;
        py.detach(|| inner.is_dag())
    }

    /// Names of every node `name` depends on, directly or not.
    fn ancestors<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyList>> {
        let ids = self.inner.ancestors(self.id(name)?);
        self.names_of(py, &ids)
    }

    /// Names of every node that depends on `name`, directly or not.
    fn descendants<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyList>> {
        let ids = self.inner.descendants(self.id(name)?);
        self.names_of(py, &ids)
    }

    /// Names of the direct upstreams of `name`, in the order they were added.
    fn predecessors<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyList>> {
        let ids = self.inner.predecessors(self.id(name)?).to_vec();
        self.names_of(py, &ids)
    }

    /// Names of the direct downstreams of `name`, in the order they were added.
    fn successors<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyList>> {
        let ids = self.inner.successors(self.id(name)?).to_vec();
        self.names_of(py, &ids)
    }

    /// Ids of the direct upstreams of a node id.
    fn predecessor_ids(&self, node: NodeId) -> PyResult<Vec<NodeId>> {
        to_py(self.inner.name(node))?;
        Ok(self.inner.predecessors(node).to_vec())
    }

    fn __repr__(&self) -> String {
        format!(
            "Graph(nodes={}, edges={})",
            self.inner.node_count(),
            self.inner.edge_count()
        )
    }
}

impl PyGraph {
    /// The `(upstream, node)` id pairs of `extend_named`, then `edges`.
    fn named_edge_ids(
        &self,
        mark: usize,
        count: usize,
        upstreams: &Bound<'_, PyAny>,
        edges: &[(NodeId, NodeId)],
        by_ptr: &FxHashMap<usize, NodeId>,
    ) -> PyResult<Vec<(NodeId, NodeId)>> {
        let mut ids = Vec::with_capacity(count * 3 + edges.len());
        let mut k = 0usize;
        for entry in upstreams.try_iter()? {
            let entry = entry?;
            if k >= count {
                k += 1;
                continue;
            }
            let node = (mark + k) as NodeId;
            let mut add = |item: Bound<'_, PyAny>| -> PyResult<()> {
                let up = match by_ptr.get(&(item.as_ptr() as usize)) {
                    Some(&id) => id,
                    None => self.id(extract_name(&item)?.to_str()?)?,
                };
                ids.push((up, node));
                Ok(())
            };
            if let Ok(list) = entry.cast::<PyList>() {
                for item in list.iter() {
                    add(item)?;
                }
            } else if let Ok(tuple) = entry.cast::<PyTuple>() {
                for item in tuple.iter() {
                    add(item)?;
                }
            } else {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "extend_named: the upstreams of node {k} must be a list or tuple of names"
                )));
            }
            k += 1;
        }
        if k != count {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "extend_named: {count} nodes but {k} upstream lists"
            )));
        }
        ids.extend_from_slice(edges);
        Ok(ids)
    }

    fn edge_ids(&self, edges: &Bound<'_, PyAny>, by_ptr: &FxHashMap<usize, NodeId>) -> PyResult<Vec<(NodeId, NodeId)>> {
        let resolve = |end: &Bound<'_, PyAny>| -> PyResult<NodeId> {
            match by_ptr.get(&(end.as_ptr() as usize)) {
                Some(&id) => Ok(id),
                None => self.id(extract_name(end)?.to_str()?),
            }
        };
        let mut ids = Vec::with_capacity(edges.len().unwrap_or(0));
        for item in edges.try_iter()? {
            let (a, b) = pair(&item?)?;
            ids.push((resolve(&a)?, resolve(&b)?));
        }
        Ok(ids)
    }
}

/// Hands out node ids as their upstreams complete.
#[pyclass(name = "ReadyTracker", module = "ferroflow._core")]
pub(crate) struct PyReadyTracker {
    inner: ReadyTracker,
}

#[pymethods]
impl PyReadyTracker {
    #[new]
    fn new(graph: PyRef<'_, PyGraph>) -> Self {
        PyReadyTracker {
            inner: ReadyTracker::new(&graph.inner),
        }
    }

    /// The ids with no upstream (first call only).
    fn start(&mut self) -> Vec<NodeId> {
        self.inner.start()
    }

    /// Marks a handed-out node done; returns the ids it made ready.
    fn complete(&mut self, node: NodeId) -> PyResult<Vec<NodeId>> {
        to_py(self.inner.complete(node))
    }

    /// Marks a handed-out node failed; returns the descendants that can no longer run.
    fn fail(&mut self, node: NodeId) -> PyResult<Vec<NodeId>> {
        to_py(self.inner.fail(node))
    }

    /// Cancels every node not handed out yet; returns them.
    fn cancel_waiting(&mut self) -> Vec<NodeId> {
        self.inner.cancel_waiting()
    }

    /// Nodes not handed out yet.
    #[getter]
    fn waiting(&self) -> usize {
        self.inner.waiting()
    }
    /// Nodes handed out and not reported yet.
    #[getter]
    fn running(&self) -> usize {
        self.inner.running()
    }
    /// Nodes completed.
    #[getter]
    fn done(&self) -> usize {
        self.inner.done()
    }
    /// Nodes failed.
    #[getter]
    fn failed(&self) -> usize {
        self.inner.failed()
    }
    /// Nodes blocked by a failed upstream.
    #[getter]
    fn blocked(&self) -> usize {
        self.inner.blocked()
    }
    /// Nodes cancelled.
    #[getter]
    fn cancelled(&self) -> usize {
        self.inner.cancelled()
    }
    /// Whether nothing is waiting or running.
    #[getter]
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGraph>()?;
    m.add_class::<PyReadyTracker>()?;
    Ok(())
}

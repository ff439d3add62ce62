//! `Graph` and `ReadyTracker` for Python. Names cross as `str`, ids as `int`;
//! bulk methods take whole lists so that a large graph crosses the boundary
//! once.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use super::errors::{name_type_error, to_py};
use crate::graph::ready::ReadyTracker;
use crate::graph::{Graph, NodeId};

/// A directed acyclic graph of named nodes.
#[pyclass(name = "Graph", module = "ferroflow._core")]
#[derive(Default)]
pub(crate) struct PyGraph {
    pub(crate) inner: Graph,
}

fn extract_name<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<&'a Bound<'a, PyString>> {
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

impl PyGraph {
    fn id(&self, name: &str) -> PyResult<NodeId> {
        to_py(self.inner.id(name))
    }

    fn names_of<'py>(&self, py: Python<'py>, ids: &[NodeId]) -> PyResult<Bound<'py, PyList>> {
        let names = self.inner.names();
        PyList::new(py, ids.iter().map(|&i| names[i as usize].as_str()))
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
        let name = extract_name(name)?.to_str()?;
        to_py(self.inner.add_node(name))
    }

    /// Adds the edge `src -> dst` (dst runs after src), checking for a cycle now.
    fn add_edge(&mut self, src: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<()> {
        let (a, b) = (self.id(extract_name(src)?.to_str()?)?, self.id(extract_name(dst)?.to_str()?)?);
        to_py(self.inner.add_edge(a, b))
    }

    /// Adds the edge between two node ids, checking for a cycle now.
    fn add_edge_ids(&mut self, src: NodeId, dst: NodeId) -> PyResult<()> {
        to_py(self.inner.add_edge(src, dst))
    }

    /// Adds nodes and edges in bulk and validates once; on error nothing is kept.
    #[pyo3(signature = (nodes, edges = None))]
    fn extend(&mut self, py: Python<'_>, nodes: &Bound<'_, PyAny>, edges: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let mut owned = Vec::with_capacity(nodes.len().unwrap_or(0));
        for item in nodes.try_iter()? {
            let item = item?;
            owned.push(extract_name(&item)?.to_str()?.to_owned());
        }
        let mark = to_py(self.inner.add_nodes(owned))?;
        let ids = match edges {
            None => Vec::new(),
            Some(edges) => match self.edge_ids(edges) {
                Ok(ids) => ids,
                Err(e) => {
                    self.inner.rollback_nodes(mark);
                    return Err(e);
                }
            },
        };
        let inner = &mut self.inner;
        to_py(py.detach(|| inner.extend_ids(mark, &ids)))
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
    fn name_of(&self, node: NodeId) -> PyResult<String> {
        to_py(self.inner.name(node).map(str::to_owned))
    }

    /// All names, indexed by id.
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.names().iter().map(String::as_str))
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
    fn edge_ids(&self, edges: &Bound<'_, PyAny>) -> PyResult<Vec<(NodeId, NodeId)>> {
        let mut ids = Vec::with_capacity(edges.len().unwrap_or(0));
        for item in edges.try_iter()? {
            let (a, b) = pair(&item?)?;
            let a = self.id(extract_name(&a)?.to_str()?)?;
            let b = self.id(extract_name(&b)?.to_str()?)?;
            ids.push((a, b));
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

//! `run_graph`: the work-stealing scheduler for Python. The calling thread
//! waits detached from the interpreter and re-attaches briefly to check for
//! signals; each worker attaches only to call `execute`, once per batch of
//! consecutive ready nodes, because handing the interpreter from thread to
//! thread costs more than a short Python call.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::errors::to_py;
use super::graph::PyGraph;
use crate::graph::NodeId;
use crate::scheduler::{self, Execute, ExecuteOne, Options, Plan};

/// Calls a Python callable for each node, attached once per batch.
struct PyExecute {
    func: Py<PyAny>,
}

impl Execute for PyExecute {
    type Error = PyErr;

    fn batch<R>(&self, body: impl FnOnce(&mut ExecuteOne<'_, PyErr>) -> R) -> R {
        Python::attach(|py| {
            let func = self.func.bind(py);
            body(&mut |node: NodeId| func.call1((node,))?.is_truthy())
        })
    }

    fn worker<R: Send>(&self, body: impl FnOnce() -> R + Send) -> R {
        // Attaching once for the thread's life keeps its thread state, so the
        // attach of each batch only takes the interpreter lock.
        Python::attach(|py| py.detach(body))
    }
}

/// Runs `execute(node_id)` once for each node of `graph` whose upstreams all
/// completed, from `workers` threads; returns the final state of each node.
/// `on_interrupt` (if given) is called once, on the calling thread, as soon as
/// an interrupt is seen, so that running callbacks can be told to wind down.
#[pyfunction]
#[pyo3(signature = (graph, execute, workers, fail_fast = false, on_interrupt = None))]
fn run_graph<'py>(
    py: Python<'py>,
    graph: PyRef<'_, PyGraph>,
    execute: Bound<'_, PyAny>,
    workers: i64,
    fail_fast: bool,
    on_interrupt: Option<Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    if workers < 1 {
        return Err(PyValueError::new_err(format!(
            "workers must be at least 1, got {workers}"
        )));
    }
    if !execute.is_callable() {
        return Err(PyTypeError::new_err(format!(
            "execute must be callable, got {}",
            execute.get_type().name()?
        )));
    }
    if let Some(cb) = on_interrupt.as_ref().filter(|cb| !cb.is_callable()) {
        return Err(PyTypeError::new_err(format!(
            "on_interrupt must be callable, got {}",
            cb.get_type().name()?
        )));
    }
    let on_interrupt = on_interrupt.map(Bound::unbind);
    let plan = {
        let g = &graph.inner;
        py.detach(|| Plan::new(g))
    };
    // The plan is a snapshot: callbacks may use the graph while it runs.
    drop(graph);
    if plan.is_empty() {
        return Ok(PyList::empty(py));
    }
    let options = Options::new(usize::try_from(workers).unwrap_or(usize::MAX)).fail_fast(fail_fast);
    let exec = PyExecute { func: execute.unbind() };
    let mut interrupt: Option<PyErr> = None;
    let outcome = py.detach(|| {
        scheduler::run_with(&plan, &options, &exec, || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                Err(err) => {
                    if let Some(cb) = &on_interrupt {
                        // A failing hook must not hide the interrupt itself.
                        if let Err(hook_err) = cb.bind(py).call0() {
                            hook_err.write_unraisable(py, None);
                        }
                    }
                    interrupt = Some(err);
                    true
                }
            })
        })
    });
    let outcome = to_py(outcome)?;
    if let Some(err) = interrupt {
        return Err(err);
    }
    if let Some(err) = outcome.error {
        return Err(err);
    }
    // These numbers must match `graph::ready::NodeState` (2 done, 3 failed,
    // 4 blocked, 5 cancelled), as documented in `_core.pyi::run_graph`.
    PyList::new(py, outcome.states.into_iter().map(|s| s as u8))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_graph, m)?)?;
    Ok(())
}

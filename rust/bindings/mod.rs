//! The Python extension module `ferroflow._core`: the one place that names
//! pyo3. Each submodule wraps one part of the core and registers its classes.

mod errors;
mod graph;
mod scheduler;
mod watch;

use pyo3::prelude::*;

/// ferroflow's Rust core: graph, scheduler and file watcher.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    graph::register(m)?;
    scheduler::register(m)?;
    watch::register(m)?;
    Ok(())
}

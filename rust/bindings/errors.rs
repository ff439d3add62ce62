//! Maps core errors onto the exception classes of `ferroflow.errors`, once.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::error::CoreError;

pyo3::import_exception!(ferroflow.errors, FerroflowError);
pyo3::import_exception!(ferroflow.errors, CycleError);
pyo3::import_exception!(ferroflow.errors, DuplicateTaskError);
pyo3::import_exception!(ferroflow.errors, UnknownDependencyError);

/// A core error on its way to Python.
pub(crate) struct PyCoreError(pub CoreError);

impl From<CoreError> for PyCoreError {
    fn from(err: CoreError) -> Self {
        PyCoreError(err)
    }
}

impl From<PyCoreError> for PyErr {
    fn from(PyCoreError(err): PyCoreError) -> PyErr {
        let msg = err.to_string();
        match err {
            CoreError::Cycle { path } => CycleError::new_err((msg, path)),
            CoreError::DuplicateNode(_) => DuplicateTaskError::new_err(msg),
            CoreError::UnknownNode(_) => UnknownDependencyError::new_err(msg),
            CoreError::InvalidState(_) => FerroflowError::new_err(msg),
        }
    }
}

/// Converts a core result for return to Python.
pub(crate) fn to_py<T>(r: Result<T, CoreError>) -> PyResult<T> {
    r.map_err(|e| PyCoreError(e).into())
}

/// The `TypeError` for a node name that is not a `str`.
pub(crate) fn name_type_error(value: &Bound<'_, PyAny>) -> PyErr {
    let ty = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let repr = value.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".to_owned());
    PyTypeError::new_err(format!("node names must be str, got {ty}: {repr}"))
}

//! `Watcher` for Python: plain tuples cross, `ferroflow.watch` wraps them in
//! `Change` and `FileEvent`. Waiting happens with the GIL released, in short
//! steps that look at signals in between, so Ctrl+C works at once.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::watch::filter::compile;
use crate::watch::{SubSpec, WatchError as CoreWatchError, WatchOptions, Watcher};

pyo3::import_exception!(ferroflow.errors, WatchError);

/// The one place a watch error becomes a Python exception.
fn to_py_err(err: CoreWatchError) -> PyErr {
    WatchError::new_err(err.to_string())
}

/// How long one detached wait lasts before signals are looked at.
const STEP: Duration = Duration::from_millis(50);

/// `(root, recursive, patterns, ignore, default_ignores, process_existing, stable_for_seconds)`
type SubTuple = (PathBuf, bool, Vec<String>, Vec<String>, bool, bool, f64);

/// `(change, path, subscription indices, existing)`; change values match
/// `ferroflow.watch.Change`; `existing` marks files reported by `process_existing`.
type EventTuple = (u8, OsString, Vec<u32>, bool);

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!("{what} must be a finite number >= 0, got {value}"))
    })
}

/// A running watcher over a set of subscriptions.
#[pyclass(name = "Watcher", module = "ferroflow._core", frozen)]
struct PyWatcher {
    inner: Watcher,
}

#[pymethods]
impl PyWatcher {
    #[new]
    #[pyo3(signature = (
        subscriptions,
        *,
        debounce_ms = 1600,
        force_polling = false,
        poll_interval_ms = 1000,
        strict_watch_limit = false,
        max_buffered = 10_000,
        max_os_watches = None,
    ))]
    fn new(
        py: Python<'_>,
        subscriptions: Vec<SubTuple>,
        debounce_ms: u64,
        force_polling: bool,
        poll_interval_ms: u64,
        strict_watch_limit: bool,
        max_buffered: usize,
        max_os_watches: Option<usize>,
    ) -> PyResult<Self> {
        let mut specs = Vec::with_capacity(subscriptions.len());
        for (root, recursive, patterns, ignore, default_ignores, process_existing, stable_for) in subscriptions {
            specs.push(SubSpec {
                root,
                recursive,
                patterns,
                ignore,
                default_ignores,
                process_existing,
                stable_for: seconds(stable_for, "stable_for")?,
            });
        }
        let opts = WatchOptions {
            debounce: Duration::from_millis(debounce_ms),
            force_polling,
            poll_interval: Duration::from_millis(poll_interval_ms),
            strict_watch_limit,
            max_buffered: max_buffered.max(1),
            max_os_watches,
        };
        let inner = py.detach(|| Watcher::start(&specs, opts)).map_err(to_py_err)?;
        Ok(PyWatcher { inner })
    }

    /// Waits up to `timeout_ms` for the next batch; `None` once closed.
    #[pyo3(signature = (timeout_ms = 1000, max_events = 10_000))]
    fn next_batch(&self, py: Python<'_>, timeout_ms: u64, max_events: usize) -> PyResult<Option<Vec<EventTuple>>> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let step = STEP.min(deadline.saturating_duration_since(Instant::now()));
            let batch = py
                .detach(|| self.inner.next_batch(step, max_events))
                .map_err(to_py_err)?;
            match batch {
                None => return Ok(None),
                Some(events) if !events.is_empty() => {
                    return Ok(Some(
                        events
                            .into_iter()
                            .map(|e| (e.change as u8, e.path.into_os_string(), e.subs, e.existing))
                            .collect(),
                    ))
                }
                Some(_) => {}
            }
            py.check_signals()?;
            if Instant::now() >= deadline {
                return Ok(Some(Vec::new()));
            }
        }
    }

    /// Stops the watcher (idempotent); `next_batch` then returns `None`.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    /// Whether `close()` was called.
    #[getter]
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Counters as a dict of ints.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = py.detach(|| self.inner.stats());
        let d = PyDict::new(py);
        d.set_item("events", s.events)?;
        d.set_item("rescans", s.rescans)?;
        d.set_item("polls", s.polls)?;
        d.set_item("os_watches", s.os_watches)?;
        d.set_item("polled_subtrees", s.polled_subtrees)?;
        d.set_item("known_files", s.known_files)?;
        d.set_item("pending", s.pending)?;
        d.set_item("buffered", s.buffered)?;
        Ok(d)
    }

    /// Warnings gathered since the last call.
    fn take_warnings(&self, py: Python<'_>) -> Vec<String> {
        py.detach(|| self.inner.take_warnings())
    }

    /// Folders with an OS watch, sorted.
    fn watched_dirs(&self, py: Python<'_>) -> Vec<OsString> {
        py.detach(|| self.inner.watched_dirs())
            .into_iter()
            .map(PathBuf::into_os_string)
            .collect()
    }

    /// Subtrees watched by polling because the OS refused more watches.
    fn polled_dirs(&self, py: Python<'_>) -> Vec<OsString> {
        py.detach(|| self.inner.polled_dirs())
            .into_iter()
            .map(PathBuf::into_os_string)
            .collect()
    }

    /// The canonical roots, in subscription order.
    fn roots(&self, py: Python<'_>) -> Vec<OsString> {
        py.detach(|| self.inner.roots())
            .into_iter()
            .map(PathBuf::into_os_string)
            .collect()
    }

    /// Test only: stop reading OS events so the kernel queue overflows.
    fn _pause_reader(&self) {
        self.inner.pause_reader();
    }

    /// Test only: read OS events again.
    fn _resume_reader(&self) {
        self.inner.resume_reader();
    }

    fn __repr__(&self) -> String {
        let roots: Vec<String> = self.inner.roots().iter().map(|r| r.display().to_string()).collect();
        format!("Watcher(roots={roots:?}, closed={})", self.inner.is_closed())
    }
}

/// Raises `WatchError` naming `pattern` if it is not a valid glob.
#[pyfunction]
fn check_glob(pattern: &str) -> PyResult<()> {
    compile(pattern).map(drop).map_err(to_py_err)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWatcher>()?;
    m.add_function(wrap_pyfunction!(check_glob, m)?)?;
    Ok(())
}

//! ferroflow's Rust core.
//!
//! The crate is pure Rust: the DAG ([`graph`]), the work-stealing scheduler
//! ([`scheduler`]) and the file watcher ([`watch`]) know nothing of Python and
//! are tested with `cargo test`. The PyO3 bindings live in `bindings/`, compiled
//! only with the `python` feature (maturin turns it on), and are the one place
//! that names pyo3.

pub mod error;
pub mod graph;
pub mod scheduler;
pub mod watch;

#[cfg(feature = "python")]
mod bindings;

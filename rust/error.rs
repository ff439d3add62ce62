//! Errors of the core, as plain Rust values. `bindings/errors.rs` maps each
//! variant onto a Python exception class of `ferroflow.errors`.

use std::fmt;

/// Every error the pure core can report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// Adding an edge (or validating a bulk build) closed a cycle. `path` lists
    /// node names in edge direction with the first repeated at the end.
    Cycle { path: Vec<String> },
    /// A node with this name already exists.
    DuplicateNode(String),
    /// An edge or query named a node that does not exist.
    UnknownNode(String),
    /// A node id out of range, or a node reported in a state it cannot be in.
    InvalidState(String),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Cycle { path } => write!(
                f,
                "cycle detected: {}; remove one of these dependencies",
                path.join(" -> ")
            ),
            CoreError::DuplicateNode(name) => {
                write!(f, "duplicate node {name:?}: names must be unique within a graph")
            }
            CoreError::UnknownNode(name) => {
                write!(f, "unknown node {name:?}: add it before referring to it")
            }
            CoreError::InvalidState(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for CoreError {}

/// Result alias used throughout the core.
pub type CoreResult<T> = Result<T, CoreError>;

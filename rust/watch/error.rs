//! Errors of the watcher, as plain values. `bindings/watch.rs` raises each as
//! `ferroflow.errors.WatchError`; the messages name the root or pattern at
//! fault and say what to do.

use std::fmt;
use std::path::PathBuf;

/// Where the kernel's inotify watch limit lives.
pub const MAX_USER_WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";

/// The current inotify watch limit, when the system exposes it.
pub fn max_user_watches() -> Option<u64> {
    std::fs::read_to_string(MAX_USER_WATCHES).ok()?.trim().parse().ok()
}

/// Every error the watcher can report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchError {
    /// The root does not exist.
    RootMissing(PathBuf),
    /// The root is a file or something else that is not a folder.
    RootNotDir(PathBuf),
    /// The root cannot be listed.
    RootUnreadable {
        /// The root.
        root: PathBuf,
        /// The OS's words.
        reason: String,
    },
    /// A glob does not compile.
    Pattern {
        /// The pattern as the user wrote it.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The OS refused another watch (inotify `max_user_watches`).
    WatchLimit {
        /// The folder that could not be watched.
        path: PathBuf,
    },
    /// The event source failed.
    Backend(String),
}

impl WatchError {
    /// The same error naming `pattern` (the user's spelling) instead.
    pub fn with_pattern(self, pattern: &str) -> WatchError {
        match self {
            WatchError::Pattern { reason, .. } => WatchError::Pattern {
                pattern: pattern.to_owned(),
                reason,
            },
            other => other,
        }
    }

    /// Advice on the watch limit, shared by the error and the polling warning.
    pub fn watch_limit_advice() -> String {
        let limit = max_user_watches().map_or_else(|| "?".to_owned(), |n| n.to_string());
        format!(
            "fs.inotify.max_user_watches is {limit}; raise it with `sudo sysctl fs.inotify.max_user_watches=524288` \
             (add the line to /etc/sysctl.d/ to keep it after a reboot), or watch by polling (poll=True)"
        )
    }
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::RootMissing(p) => write!(f, "watch root {:?} does not exist", p.display().to_string()),
            WatchError::RootNotDir(p) => write!(
                f,
                "watch root {:?} is not a folder: watch the folder that holds it and use pattern= to select the file",
                p.display().to_string()
            ),
            WatchError::RootUnreadable { root, reason } => {
                write!(
                    f,
                    "watch root {:?} cannot be read: {reason}",
                    root.display().to_string()
                )
            }
            WatchError::Pattern { pattern, reason } => write!(f, "invalid glob pattern {pattern:?}: {reason}"),
            WatchError::WatchLimit { path } => write!(
                f,
                "the inotify watch limit was reached while watching {:?}: {}",
                path.display().to_string(),
                WatchError::watch_limit_advice()
            ),
            WatchError::Backend(msg) => write!(f, "file watcher failed: {msg}"),
        }
    }
}

impl std::error::Error for WatchError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_is_at_fault() {
        assert!(WatchError::RootMissing("/x/inbox".into())
            .to_string()
            .contains("/x/inbox"));
        let limit = WatchError::WatchLimit {
            path: "/data/big".into(),
        }
        .to_string();
        assert!(limit.contains("/data/big") && limit.contains("max_user_watches") && limit.contains("poll"));
        let p = WatchError::Pattern {
            pattern: "x".into(),
            reason: "r".into(),
        }
        .with_pattern("[a");
        assert!(p.to_string().contains("[a"));
    }
}

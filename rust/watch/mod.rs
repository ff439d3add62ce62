//! The file watcher (filled in by the watch work).

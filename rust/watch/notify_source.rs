//! The event source outside Linux: `notify`, one non-recursive watch per
//! folder. Its callback runs once per event; each one goes to the inbox with
//! one lock, and the watcher thread takes whatever accumulated in one go.

use std::path::Path;
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};

use super::engine::{DirWatcher, Raw, WatchFailure};
use super::inbox::Inbox;
use super::Pause;

/// One OS watch per folder through `notify`.
pub(super) struct NotifyDirs {
    watcher: Option<notify::RecommendedWatcher>,
    count: usize,
    cap: Option<usize>,
}

impl DirWatcher for NotifyDirs {
    fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFailure> {
        let Some(w) = self.watcher.as_mut() else {
            return Err(WatchFailure::Other("the watcher is closed".into()));
        };
        if self.cap.is_some_and(|cap| self.count >= cap) {
            return Err(WatchFailure::Limit);
        }
        match w.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.count += 1;
                Ok(())
            }
            Err(e) => Err(match e.kind {
                notify::ErrorKind::MaxFilesWatch => WatchFailure::Limit,
                notify::ErrorKind::PathNotFound => WatchFailure::Gone,
                notify::ErrorKind::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound => WatchFailure::Gone,
                _ => WatchFailure::Other(e.to_string()),
            }),
        }
    }

    fn unwatch_dir(&mut self, dir: &Path) {
        if let Some(w) = self.watcher.as_mut() {
            if w.unwatch(dir).is_ok() {
                self.count = self.count.saturating_sub(1);
            }
        }
    }
}

/// Translates one `notify` event into raw notifications.
fn translate(event: notify::Event, out: &mut Vec<Raw>) {
    if event.need_rescan() {
        out.push(Raw::Overflow);
    }
    let kind = event.kind;
    for path in event.paths {
        let raw = match kind {
            EventKind::Create(CreateKind::Folder) => Raw::CreatedDir(path),
            EventKind::Create(CreateKind::File) => Raw::Created(path),
            EventKind::Create(_) => Raw::Unknown(path),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Raw::MovedFrom(path),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Raw::MovedTo(path),
            // Both halves were already reported as From and To.
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => return,
            EventKind::Modify(ModifyKind::Name(_)) => Raw::Unknown(path),
            EventKind::Modify(_) => Raw::Modified(path),
            EventKind::Remove(_) => Raw::Removed(path),
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Raw::ClosedWrite(path),
            EventKind::Access(_) | EventKind::Other | EventKind::Any => continue,
        };
        out.push(raw);
    }
}

/// Nothing to stop: the callback ends with the `notify` watcher.
pub(super) struct Reader;

impl Reader {
    /// Starts a `notify` watcher whose callback feeds `inbox` and waits while
    /// `pause` is set. Returns the reader and the watches.
    pub(super) fn start(
        inbox: Arc<Inbox>,
        pause: Arc<Pause>,
        cap: Option<usize>,
    ) -> Result<(Reader, NotifyDirs), String> {
        let handler = move |res: notify::Result<notify::Event>| {
            pause.wait_while_paused();
            let mut raws = Vec::new();
            match res {
                Ok(event) => translate(event, &mut raws),
                // notify gave up on a watch; re-learn the tree.
                Err(e)
                    if matches!(
                        e.kind,
                        notify::ErrorKind::MaxFilesWatch | notify::ErrorKind::WatchNotFound
                    ) =>
                {
                    raws.push(Raw::Overflow)
                }
                Err(e) => inbox.push_error(e.to_string()),
            }
            inbox.push(&mut raws);
        };
        let watcher = notify::recommended_watcher(handler).map_err(|e| e.to_string())?;
        let dirs = NotifyDirs {
            watcher: Some(watcher),
            count: 0,
            cap,
        };
        Ok((Reader, dirs))
    }

    /// Nothing to do: dropping the watches stops the callback.
    pub(super) fn stop(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::{Duration, Instant};

    #[test]
    fn feeds_the_inbox_with_every_change_and_the_watch_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let inbox = Arc::new(Inbox::default());
        let (mut reader, mut dirs) = Reader::start(Arc::clone(&inbox), Arc::new(Pause::default()), Some(1)).unwrap();
        assert_eq!(dirs.watch_dir(&root.join("nope")), Err(WatchFailure::Gone));
        dirs.watch_dir(&root).unwrap();
        assert_eq!(dirs.watch_dir(&root), Err(WatchFailure::Limit));
        fs::create_dir(root.join("sub")).unwrap();
        let n = 500;
        for i in 0..n {
            fs::write(root.join(format!("f{i}")), "x").unwrap();
        }
        fs::rename(root.join("f0"), root.join("g0")).unwrap();
        fs::remove_file(root.join("f1")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while !got.contains(&Raw::Removed(root.join("f1"))) {
            assert!(Instant::now() < deadline, "only {got:?}");
            let mut more = Vec::new();
            let taken = inbox.take(Duration::from_millis(50), &mut more);
            assert!(taken.errors.is_empty(), "{:?}", taken.errors);
            got.extend(more);
        }
        let created = got.iter().filter(|r| matches!(r, Raw::Created(_))).count();
        assert_eq!(created, n);
        for want in [
            Raw::CreatedDir(root.join("sub")),
            Raw::ClosedWrite(root.join("f2")),
            Raw::MovedFrom(root.join("f0")),
            Raw::MovedTo(root.join("g0")),
        ] {
            assert!(got.contains(&want), "{want:?} not in {got:?}");
        }
        reader.stop();
        dirs.unwatch_dir(&root);
        dirs.watch_dir(&root).unwrap();
    }
}

//! The rescan of a tree: its listing compared with what the index knows.
//!
//! A rescan follows a lost batch of OS events (a kernel queue overflow, a
//! lost watch) or a polling pass. [`Resync`] is the [`Visitor`] that the
//! engine walks a tree with: it compares each folder's listing with the
//! index's files of that folder (so it holds one folder at a time, not the
//! tree's listing), records created and modified files and, once a folder is
//! closed, the known files it no longer holds.
//!
//! What it finds goes through the debouncer like any change, except a created
//! or modified file whose last change (inode change time) is at least a window
//! (and its `stable_for`) old: its window would have closed already had its
//! events not been lost, so it is *ready* at once, and the ready changes are
//! handed over in batches while the walk goes on. After an overflow of tens of
//! thousands of files, the first events are thus delivered within
//! milliseconds, not after the whole walk and another debounce window.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::DirEntry;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rustc_hash::{FxHashMap, FxHashSet};

use super::debounce::{Change, Debouncer};
use super::engine::{DirWatcher, Event, Matcher, Tracker};
use super::rescan::{self, FileMeta, Index, Visitor};

/// Nanoseconds since the epoch (zero before it).
pub(super) fn unix_ns(wall: SystemTime) -> i64 {
    wall.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Ready changes handed to the sink at a time during a rescan.
const HAND_OVER_EVERY: usize = 256;

/// The [`Visitor`] of a rescan: compares each folder's listing with what the
/// index knows of it, without holding the whole tree's listing in memory.
pub(super) struct Resync<'a, W> {
    pub(super) matcher: &'a Matcher,
    pub(super) tracker: &'a mut Tracker<W>,
    pub(super) index: &'a mut Index,
    pub(super) debouncer: &'a mut Debouncer,
    pub(super) ready: &'a mut VecDeque<Event>,
    pub(super) sink: &'a mut dyn FnMut(&mut VecDeque<Event>),
    pub(super) now: Instant,
    /// The wall clock (ns since the epoch), when changes found quiet are
    /// ready at once.
    pub(super) wall_ns: Option<i64>,
    /// Pending paths believed to exist that the listing has not found (yet).
    pub(super) stale: FxHashSet<PathBuf>,
    /// Folders listed completely.
    pub(super) listed: FxHashSet<PathBuf>,
    pub(super) unreadable: Vec<(PathBuf, String)>,
    /// Known files of the open folder not found yet: gone once it is closed.
    pub(super) unseen: FxHashMap<OsString, FileMeta>,
    /// What the index will know of the open folder once it is closed.
    pub(super) seen: FxHashMap<OsString, FileMeta>,
    pub(super) unflushed: usize,
}

impl<W> Resync<'_, W> {
    /// Whether a file last changed at `changed_ns` has been quiet for a
    /// window and for `settle`.
    fn is_quiet(&self, changed_ns: i64, settle: Duration) -> bool {
        self.wall_ns.is_some_and(|wall_ns| {
            let need = settle.max(self.debouncer.window());
            let need_ns = i64::try_from(need.as_nanos()).unwrap_or(i64::MAX);
            wall_ns.saturating_sub(changed_ns) >= need_ns
        })
    }
}

impl<W: DirWatcher> Visitor for Resync<'_, W> {
    fn prune(&mut self, dir: &Path) -> bool {
        self.matcher.prunes(dir)
    }

    fn enter(&mut self, dir: &Path) {
        self.tracker.try_watch(dir);
    }

    fn open(&mut self, dir: &Path) {
        self.unseen = self.index.take_dir(dir);
        self.seen = FxHashMap::with_capacity_and_hasher(self.unseen.len(), Default::default());
    }

    fn file(&mut self, path: PathBuf, entry: &DirEntry) {
        let subs = self.matcher.matching(&path);
        let (Some(settle), Some(name)) = (self.matcher.settle_of(&subs), path.file_name()) else {
            return;
        };
        let Some((meta, changed_ns)) = rescan::entry_stat(entry) else {
            return; // gone meanwhile: if it was known, it stays unseen
        };
        let (name, known) = match self.unseen.remove_entry(name) {
            Some((name, known)) => (name, Some(known)),
            None => (name.to_os_string(), None),
        };
        let pending = if self.debouncer.is_empty() {
            None
        } else {
            self.debouncer.pending_exists(&path)
        };
        if pending == Some(true) {
            self.stale.remove(&path);
        }
        let quiet = self.is_quiet(changed_ns, settle);
        let change = if quiet && pending.is_some() {
            self.debouncer.close_existing(&path)
        } else {
            match known {
                None => Some(Change::Created),
                Some(k) if k != meta => Some(Change::Modified),
                // found though the events so far said it was deleted
                Some(_) if pending == Some(false) => Some(Change::Created),
                Some(_) => None,
            }
        };
        match change {
            Some(change) if quiet => {
                self.seen.insert(name, meta);
                self.ready.push_back(Event {
                    change,
                    path,
                    subs,
                    existing: false,
                });
                self.unflushed += 1;
                if self.unflushed >= HAND_OVER_EVERY {
                    self.unflushed = 0;
                    (self.sink)(self.ready);
                }
            }
            change => {
                if let Some(known) = known {
                    self.seen.insert(name, known);
                }
                if let Some(change) = change {
                    self.debouncer.push_settling(path, change, self.now, settle);
                }
            }
        }
    }

    fn close(&mut self, dir: PathBuf) {
        let mut files = std::mem::take(&mut self.seen);
        for (name, meta) in std::mem::take(&mut self.unseen) {
            // Known until the deletion is delivered.
            self.debouncer.push(dir.join(&name), Change::Deleted, self.now);
            files.insert(name, meta);
        }
        self.index.put_dir(&dir, files);
        self.listed.insert(dir);
    }

    fn unreadable(&mut self, dir: PathBuf, reason: String) {
        self.unreadable.push((dir, reason));
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant, SystemTime};

    use crate::watch::debounce::Change;
    use crate::watch::engine::{DirWatcher, Engine, Event, Raw, SubSpec, WatchFailure};

    struct NoDirs;

    impl DirWatcher for NoDirs {
        fn watch_dir(&mut self, _: &Path) -> Result<(), WatchFailure> {
            Ok(())
        }
        fn unwatch_dir(&mut self, _: &Path) {}
    }

    const W: Duration = Duration::from_millis(100);
    /// A wall clock late enough for every file written by a test to be quiet.
    fn late() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    fn engine(root: &Path, stable_for: Duration) -> Engine<NoDirs> {
        let spec = SubSpec {
            root: root.to_path_buf(),
            recursive: true,
            patterns: vec![],
            ignore: vec![],
            default_ignores: true,
            process_existing: false,
            stable_for,
        };
        let mut e = Engine::new(&[spec], W, NoDirs, false, false).unwrap();
        e.start().unwrap();
        e
    }

    fn names(events: &[Event], root: &Path) -> Vec<(String, Change)> {
        let mut v: Vec<_> = events
            .iter()
            .map(|e| (e.path.strip_prefix(root).unwrap().display().to_string(), e.change))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        (tmp, root)
    }

    #[test]
    fn quiet_files_are_ready_at_once_and_handed_over_while_the_walk_goes_on() {
        let (_tmp, root) = setup();
        fs::write(root.join("edit"), "e").unwrap();
        let mut e = engine(&root, Duration::ZERO);
        let t = Instant::now();
        fs::create_dir(root.join("sub")).unwrap();
        for i in 0..600 {
            fs::write(root.join(format!("sub/n{i}")), "").unwrap();
        }
        fs::write(root.join("edit"), "edited").unwrap();
        let mut handed = Vec::new();
        e.rescan_all(t, late(), &mut |ready| handed.push(ready.drain(..).collect::<Vec<_>>()));
        assert!(handed.len() >= 3, "{} hand-overs", handed.len());
        let got: Vec<Event> = handed.into_iter().flatten().collect();
        let changes = names(&got, &root);
        assert_eq!(changes.len(), 601);
        assert!(changes.contains(&("edit".into(), Change::Modified)));
        assert!(got.iter().all(|ev| ev.subs == vec![0] && !ev.existing));
        assert_eq!(e.known_files(), 601);
        assert_eq!(e.pending(), 0);
        assert_eq!(e.next_due(), None);
        // nothing is left for later, and a second rescan finds nothing new
        assert!(e.drain(t + W, SystemTime::now(), usize::MAX).is_empty());
        e.rescan_all(t + W, late(), &mut |_| {});
        assert_eq!(e.pending(), 0);
    }

    #[test]
    fn ready_changes_come_first_from_drain_when_nobody_took_them() {
        let (_tmp, root) = setup();
        let mut e = engine(&root, Duration::ZERO);
        let t = Instant::now();
        fs::write(root.join("a"), "").unwrap();
        e.rescan_all(t, late(), &mut |_| {});
        assert!(e.has_ready());
        assert_eq!(e.pending(), 1);
        let got = e.drain(t, SystemTime::now(), 10);
        assert_eq!(names(&got, &root), vec![("a".into(), Change::Created)]);
        assert!(!e.has_ready());
    }

    #[test]
    fn files_changed_within_a_window_still_wait_for_it() {
        let (_tmp, root) = setup();
        let mut e = engine(&root, Duration::ZERO);
        let t = Instant::now();
        fs::write(root.join("fresh"), "").unwrap();
        let mut handed = 0;
        e.rescan_all(t, SystemTime::now(), &mut |ready| handed += ready.len());
        assert_eq!(handed, 0);
        assert!(!e.has_ready());
        assert!(e.drain(t + W / 2, SystemTime::now(), 10).is_empty());
        let got = e.drain(t + W, SystemTime::now(), 10);
        assert_eq!(names(&got, &root), vec![("fresh".into(), Change::Created)]);
    }

    #[test]
    fn stable_for_longer_than_the_window_is_waited_for_too() {
        let (_tmp, root) = setup();
        let mut e = engine(&root, Duration::from_secs(30));
        let t = Instant::now();
        fs::write(root.join("slow"), "").unwrap();
        // quiet for a window, not for 30 s
        e.rescan_all(t, SystemTime::now() + W * 2, &mut |_| {});
        assert!(!e.has_ready());
        assert_eq!(e.pending(), 1);
        // quiet for 30 s: the window is closed, once
        e.rescan_all(t, late(), &mut |_| {});
        assert!(e.has_ready());
        assert_eq!(e.pending(), 1);
        let got = e.drain(t, SystemTime::now(), 10);
        assert_eq!(names(&got, &root), vec![("slow".into(), Change::Created)]);
        assert!(e.drain(t + Duration::from_secs(60), late(), 10).is_empty());
    }

    #[test]
    fn a_window_opened_by_events_before_the_overflow_is_closed_by_the_rescan() {
        let (_tmp, root) = setup();
        fs::write(root.join("known"), "k").unwrap();
        fs::write(root.join("gone"), "g").unwrap();
        let mut e = engine(&root, Duration::ZERO);
        let t = Instant::now();
        fs::write(root.join("seen"), "").unwrap();
        fs::write(root.join("known"), "longer").unwrap();
        fs::remove_file(root.join("gone")).unwrap();
        e.handle(Raw::Created(root.join("seen")), t);
        e.handle(Raw::Modified(root.join("known")), t);
        e.handle(Raw::Removed(root.join("gone")), t);
        e.rescan_all(t, late(), &mut |_| {});
        let first = e.drain(t, SystemTime::now(), 10);
        assert_eq!(
            names(&first, &root),
            vec![("known".into(), Change::Modified), ("seen".into(), Change::Created)]
        );
        // a deletion has no time stamp to tell how long ago it was: it waits its window
        let later = e.drain(t + W, SystemTime::now(), 10);
        assert_eq!(names(&later, &root), vec![("gone".into(), Change::Deleted)]);
        assert_eq!(e.pending(), 0);
        assert_eq!(e.known_files(), 2);
    }

    #[test]
    fn a_file_found_again_after_its_deletion_was_seen_is_a_modification() {
        let (_tmp, root) = setup();
        fs::write(root.join("f"), "x").unwrap();
        let mut e = engine(&root, Duration::ZERO);
        let t = Instant::now();
        // the deletion was seen, the re-creation's events were lost
        e.handle(Raw::Removed(root.join("f")), t);
        e.rescan_all(t, SystemTime::now(), &mut |_| {});
        let got = e.drain(t + W, SystemTime::now(), 10);
        assert_eq!(names(&got, &root), vec![("f".into(), Change::Modified)]);
    }

    #[test]
    fn files_of_a_folder_that_vanished_are_deleted_and_stay_known_until_then() {
        let (_tmp, root) = setup();
        fs::create_dir_all(root.join("d/e")).unwrap();
        fs::write(root.join("d/e/a"), "").unwrap();
        fs::write(root.join("top"), "").unwrap();
        let mut e = engine(&root, Duration::ZERO);
        let t = Instant::now();
        fs::remove_dir_all(root.join("d")).unwrap();
        e.rescan_all(t, late(), &mut |_| {});
        assert_eq!(e.known_files(), 2);
        let got = e.drain(t + W, SystemTime::now(), 10);
        assert_eq!(names(&got, &root), vec![("d/e/a".into(), Change::Deleted)]);
        assert_eq!(e.known_files(), 1);
    }
}

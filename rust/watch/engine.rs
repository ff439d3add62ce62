//! The watcher's bookkeeping, fed with explicit instants.
//!
//! [`Engine`] turns raw OS notifications ([`Raw`]) into debounced,
//! filtered [`Event`]s. It owns the filters, the [`Index`] of known files,
//! the [`Debouncer`] and the set of watched folders, and asks a [`DirWatcher`]
//! to put an OS watch on each folder *before* reading it (so nothing created
//! meanwhile is missed). It never reads a clock and starts no thread:
//! `watch/mod.rs` does that and wires it to `notify`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rustc_hash::{FxHashMap, FxHashSet};

use super::debounce::{Change, Debouncer, Due};
use super::error::WatchError;
use super::filter::Filter;
use super::rescan::{self, Index, Scan};
use super::resync::{unix_ns, Resync};

/// What the OS said about a path, before filtering and debouncing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    /// A file (or something not known to be a folder) appeared.
    Created(PathBuf),
    /// A folder appeared (possibly with files already inside).
    CreatedDir(PathBuf),
    /// A file's content or metadata changed.
    Modified(PathBuf),
    /// A file that was open for writing was closed.
    ClosedWrite(PathBuf),
    /// A path (file or folder) was removed.
    Removed(PathBuf),
    /// A path was renamed away.
    MovedFrom(PathBuf),
    /// A path was renamed to here.
    MovedTo(PathBuf),
    /// Something happened to a path; look at the disk to know what.
    Unknown(PathBuf),
    /// The OS queue overflowed: events were lost.
    Overflow,
}

/// Why a folder could not be watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchFailure {
    /// The OS watch limit is reached.
    Limit,
    /// The folder is gone.
    Gone,
    /// Anything else, in the OS's words.
    Other(String),
}

/// Puts and removes one non-recursive OS watch per folder.
pub trait DirWatcher {
    /// Watches the entries of `dir` (not below it).
    fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFailure>;
    /// Stops watching `dir`; a folder that is not watched is ignored.
    fn unwatch_dir(&mut self, dir: &Path);
}

/// One subscription: a root and the files of it that someone wants.
#[derive(Debug, Clone)]
pub struct SubSpec {
    /// The folder to watch.
    pub root: PathBuf,
    /// Whether folders below the root are watched too.
    pub recursive: bool,
    /// Include globs (empty: every file).
    pub patterns: Vec<String>,
    /// Ignore globs, added to the defaults.
    pub ignore: Vec<String>,
    /// Whether the default ignores apply.
    pub default_ignores: bool,
    /// Whether existing files are reported as created at start.
    pub process_existing: bool,
    /// Hold created files until unchanged for this long (zero: no hold).
    pub stable_for: Duration,
}

/// A debounced change and the subscriptions (indices into the specs given to
/// [`Engine::new`]) that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The net change.
    pub change: Change,
    /// The file (absolute, under a canonical root).
    pub path: PathBuf,
    /// Indices of the subscriptions that match it.
    pub subs: Vec<u32>,
    /// Whether this reports a file that existed at start (`process_existing`).
    pub existing: bool,
}

#[derive(Debug)]
struct Sub {
    filter: Filter,
    process_existing: bool,
    settle: Duration,
}

#[derive(Debug)]
struct Root {
    path: PathBuf,
    subs: Vec<u32>,
    recursive: bool,
}

/// The filters of every subscription, grouped by canonical root.
#[derive(Debug)]
pub(super) struct Matcher {
    roots: Vec<Root>,
    subs: Vec<Sub>,
}

impl Matcher {
    /// The subscriptions that want `path`, sorted.
    pub(super) fn matching(&self, path: &Path) -> Vec<u32> {
        let mut out = Vec::new();
        for root in &self.roots {
            if let Ok(rel) = path.strip_prefix(&root.path) {
                for &s in &root.subs {
                    if self.subs[s as usize].filter.matches(rel) && !out.contains(&s) {
                        out.push(s);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    fn wants(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| {
            path.strip_prefix(&root.path)
                .is_ok_and(|rel| root.subs.iter().any(|&s| self.subs[s as usize].filter.matches(rel)))
        })
    }

    /// The settle time a path asks for, or `None` if no subscription wants it.
    fn settle(&self, path: &Path) -> Option<Duration> {
        self.settle_of(&self.matching(path))
    }

    /// The largest settle time of the subscriptions `subs`.
    pub(super) fn settle_of(&self, subs: &[u32]) -> Option<Duration> {
        subs.iter().map(|&s| self.subs[s as usize].settle).max()
    }

    /// A folder is pruned when no subscription of any root holding it wants
    /// anything below it.
    pub(super) fn prunes(&self, dir: &Path) -> bool {
        for root in &self.roots {
            if let Ok(rel) = dir.strip_prefix(&root.path) {
                if rel.as_os_str().is_empty()
                    || root.subs.iter().any(|&s| !self.subs[s as usize].filter.prunes_dir(rel))
                {
                    return false;
                }
            }
        }
        true
    }

    fn is_root(&self, path: &Path) -> bool {
        self.roots.iter().any(|r| r.path == path)
    }
}

/// OS watches and where they could not be had.
#[derive(Debug)]
pub(super) struct Tracker<W> {
    os: W,
    polling: bool,
    watched: FxHashSet<PathBuf>,
    polled: Vec<PathBuf>,
    warnings: Vec<String>,
    fail_on_limit: Option<PathBuf>,
    strict_limit: bool,
}

impl<W: DirWatcher> Tracker<W> {
    fn is_polled(&self, dir: &Path) -> bool {
        self.polling || self.polled.iter().any(|p| dir.starts_with(p))
    }

    /// Puts an OS watch on `dir` unless it has one or is polled.
    pub(super) fn try_watch(&mut self, dir: &Path) {
        if self.is_polled(dir) || self.watched.contains(dir) {
            return;
        }
        match self.os.watch_dir(dir) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
            }
            Err(WatchFailure::Limit) => {
                if self.strict_limit {
                    self.fail_on_limit.get_or_insert_with(|| dir.to_path_buf());
                }
                self.polled.push(dir.to_path_buf());
                self.warnings.push(format!(
                    "inotify watch limit reached at {:?}: polling this subtree instead ({} folders watched natively); {}",
                    dir.display().to_string(),
                    self.watched.len(),
                    WatchError::watch_limit_advice()
                ));
            }
            Err(WatchFailure::Gone) => {}
            Err(WatchFailure::Other(msg)) => self
                .warnings
                .push(format!("cannot watch {:?}: {msg}", dir.display().to_string())),
        }
    }

    fn forget_under(&mut self, dir: &Path) {
        let gone: Vec<PathBuf> = self.watched.iter().filter(|d| d.starts_with(dir)).cloned().collect();
        for d in gone {
            self.watched.remove(&d);
            self.os.unwatch_dir(&d);
        }
    }
}

/// Counters the engine keeps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Full rescans after a queue overflow or a lost watch.
    pub rescans: u64,
    /// Polling passes.
    pub polls: u64,
}

/// Raw notifications in, debounced events out.
#[derive(Debug)]
pub struct Engine<W> {
    matcher: Matcher,
    tracker: Tracker<W>,
    index: Index,
    debouncer: Debouncer,
    /// Changes a rescan found already quiet for a full window: they are
    /// delivered first, without waiting for another one.
    ready: VecDeque<Event>,
    lost_roots: Vec<PathBuf>,
    stats: EngineStats,
}

fn check_root(root: &Path) -> Result<PathBuf, WatchError> {
    let md = match std::fs::metadata(root) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(WatchError::RootMissing(root.to_path_buf())),
        Err(e) => {
            return Err(WatchError::RootUnreadable {
                root: root.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    if !md.is_dir() {
        return Err(WatchError::RootNotDir(root.to_path_buf()));
    }
    if let Err(e) = std::fs::read_dir(root) {
        return Err(WatchError::RootUnreadable {
            root: root.to_path_buf(),
            reason: e.to_string(),
        });
    }
    std::fs::canonicalize(root).map_err(|e| WatchError::RootUnreadable {
        root: root.to_path_buf(),
        reason: e.to_string(),
    })
}

impl<W: DirWatcher> Engine<W> {
    /// Validates the roots (existing, readable folders), compiles every glob
    /// and builds an engine that debounces over `debounce`. With `polling`
    /// no OS watch is used at all; with `strict_limit` reaching the OS watch
    /// limit is an error instead of a fallback to polling.
    pub fn new(
        specs: &[SubSpec],
        debounce: Duration,
        os: W,
        polling: bool,
        strict_limit: bool,
    ) -> Result<Self, WatchError> {
        let mut roots: Vec<Root> = Vec::new();
        let mut subs = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let path = check_root(&spec.root)?;
            let filter = Filter::new(&spec.patterns, &spec.ignore, spec.default_ignores, spec.recursive)?;
            subs.push(Sub {
                filter,
                process_existing: spec.process_existing,
                settle: spec.stable_for,
            });
            let idx = u32::try_from(i).map_err(|_| WatchError::Backend("too many subscriptions".into()))?;
            match roots.iter_mut().find(|r| r.path == path) {
                Some(r) => {
                    r.subs.push(idx);
                    r.recursive |= spec.recursive;
                }
                None => roots.push(Root {
                    path,
                    subs: vec![idx],
                    recursive: spec.recursive,
                }),
            }
        }
        Ok(Engine {
            matcher: Matcher { roots, subs },
            tracker: Tracker {
                os,
                polling,
                watched: FxHashSet::default(),
                polled: Vec::new(),
                warnings: Vec::new(),
                fail_on_limit: None,
                strict_limit,
            },
            index: Index::new(),
            debouncer: Debouncer::new(debounce),
            ready: VecDeque::new(),
            lost_roots: Vec::new(),
            stats: EngineStats::default(),
        })
    }

    fn walk(&mut self, start: &Path, descend: bool) -> Scan {
        let matcher = &self.matcher;
        let tracker = &mut self.tracker;
        rescan::walk(
            start,
            descend,
            &|d| matcher.prunes(d),
            &|f| matcher.wants(f),
            &mut |d| tracker.try_watch(d),
        )
    }

    /// Watches every root and learns the files there. Returns a created event
    /// for each existing file wanted by a subscription with `process_existing`
    /// (those subscriptions only), sorted by path.
    pub fn start(&mut self) -> Result<Vec<Event>, WatchError> {
        let roots: Vec<(PathBuf, bool)> = self
            .matcher
            .roots
            .iter()
            .map(|r| (r.path.clone(), r.recursive))
            .collect();
        let mut existing = Vec::new();
        for (root, recursive) in roots {
            let scan = self.walk(&root, recursive);
            if let Some(path) = self.tracker.fail_on_limit.take() {
                return Err(WatchError::WatchLimit { path });
            }
            for (path, meta) in scan.files {
                if self.index.contains(&path) {
                    continue;
                }
                self.index.insert(&path, meta);
                let subs: Vec<u32> = self
                    .matcher
                    .matching(&path)
                    .into_iter()
                    .filter(|&s| self.matcher.subs[s as usize].process_existing)
                    .collect();
                if !subs.is_empty() {
                    existing.push(Event {
                        change: Change::Created,
                        path,
                        subs,
                        existing: true,
                    });
                }
            }
            self.note_unreadable(scan.unreadable);
        }
        existing.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(existing)
    }

    fn note_unreadable(&mut self, unreadable: Vec<(PathBuf, String)>) {
        for (dir, reason) in unreadable {
            self.tracker
                .warnings
                .push(format!("cannot read folder {:?}: {reason}", dir.display().to_string()));
        }
    }

    /// Feeds one raw notification seen at `now`. [`Raw::Overflow`] rescans
    /// like [`Engine::rescan_all`], but without a wall clock to tell which
    /// files are quiet, so every change found waits a window.
    pub fn handle(&mut self, raw: Raw, now: Instant) {
        match raw {
            Raw::Created(p) => self.file_change(p, Change::Created, now),
            Raw::CreatedDir(p) => self.new_dir(&p, now),
            Raw::Modified(p) => self.file_change(p, Change::Modified, now),
            Raw::ClosedWrite(p) => {
                if self.debouncer.pending_exists(&p).is_some() {
                    self.file_change(p, Change::Modified, now);
                }
            }
            Raw::Removed(p) | Raw::MovedFrom(p) => {
                if self.was_dir(&p) {
                    self.dir_gone(&p, now);
                } else {
                    self.file_change(p, Change::Deleted, now);
                }
            }
            Raw::MovedTo(p) | Raw::Unknown(p) => match std::fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => self.new_dir(&p, now),
                Ok(_) => self.file_change(p, Change::Created, now),
                Err(_) if self.was_dir(&p) => self.dir_gone(&p, now),
                Err(_) => self.file_change(p, Change::Deleted, now),
            },
            Raw::Overflow => self.rescan_roots(now, None, &mut |_| {}),
        }
    }

    fn was_dir(&self, p: &Path) -> bool {
        self.tracker.watched.contains(p) || self.matcher.is_root(p) || self.tracker.polled.iter().any(|d| d == p)
    }

    /// Records a change to a file, reconciling it with what is known: a
    /// "created" for a file already known and unchanged is a duplicate (a
    /// walk and the OS both saw it), one for a file known but different is a
    /// modification (a rename over it); a "modified" for a file never
    /// reported is a creation; a "deleted" for one never reported is nothing.
    fn file_change(&mut self, path: PathBuf, change: Change, now: Instant) {
        let Some(settle) = self.matcher.settle(&path) else {
            return;
        };
        if self.debouncer.pending_exists(&path).is_some() {
            self.debouncer.push_settling(path, change, now, settle);
            return;
        }
        let known = self.index.get(&path);
        let change = match (change, known) {
            (Change::Created, Some(meta)) => match rescan::stat(&path) {
                Some(now_meta) if now_meta != meta => Change::Modified,
                _ => return,
            },
            (Change::Created, None) => Change::Created,
            (Change::Modified, Some(_)) => Change::Modified,
            (Change::Modified, None) => {
                // A folder's own attribute change comes through as "modified" too.
                match std::fs::symlink_metadata(&path) {
                    Ok(md) if !md.is_dir() => Change::Created,
                    _ => return,
                }
            }
            (Change::Deleted, Some(_)) => Change::Deleted,
            (Change::Deleted, None) => return,
        };
        self.debouncer.push_settling(path, change, now, settle);
    }

    fn new_dir(&mut self, dir: &Path, now: Instant) {
        if self.matcher.prunes(dir) || !self.matcher.roots.iter().any(|r| dir.starts_with(&r.path)) {
            return;
        }
        let scan = self.walk(dir, true);
        for (path, _) in scan.files {
            self.file_change(path, Change::Created, now);
        }
        self.note_unreadable(scan.unreadable);
    }

    fn dir_gone(&mut self, dir: &Path, now: Instant) {
        self.tracker.forget_under(dir);
        self.tracker.polled.retain(|p| !p.starts_with(dir));
        let mut gone = self.index.files_under(dir, true);
        gone.extend(self.debouncer.existing_under(dir));
        for path in gone {
            self.debouncer.push(path, Change::Deleted, now);
        }
        if self.matcher.is_root(dir) && !self.lost_roots.iter().any(|r| r == dir) {
            self.tracker.warnings.push(format!(
                "watch root {:?} was removed or moved away; watching for it to come back",
                dir.display().to_string()
            ));
            self.lost_roots.push(dir.to_path_buf());
        }
    }

    /// Lists `scope` again and records every difference from what is known,
    /// including files still pending in the debouncer that are gone. With
    /// `wall`, a created or modified file whose last change is at least a
    /// window (and its `stable_for`) old is ready at once: its window would
    /// have closed already had its events not been lost. `sink` is handed the
    /// ready changes as they accumulate, while the listing goes on.
    fn resync(
        &mut self,
        scope: &Path,
        descend: bool,
        now: Instant,
        wall: Option<SystemTime>,
        sink: &mut dyn FnMut(&mut VecDeque<Event>),
    ) {
        let stale: FxHashSet<PathBuf> = self
            .debouncer
            .existing_under(scope)
            .into_iter()
            .filter(|p| descend || p.parent() == Some(scope))
            .collect();
        let mut visitor = Resync {
            matcher: &self.matcher,
            tracker: &mut self.tracker,
            index: &mut self.index,
            debouncer: &mut self.debouncer,
            ready: &mut self.ready,
            sink: &mut *sink,
            now,
            wall_ns: wall.map(unix_ns),
            stale,
            listed: FxHashSet::default(),
            unreadable: Vec::new(),
            unseen: FxHashMap::default(),
            seen: FxHashMap::default(),
            unflushed: 0,
        };
        rescan::visit(scope, descend, &mut visitor);
        let Resync {
            stale,
            listed,
            unreadable,
            ..
        } = visitor;
        let lost: Vec<PathBuf> = self
            .tracker
            .watched
            .iter()
            .filter(|d| d.starts_with(scope) && !listed.contains(d.as_path()))
            .cloned()
            .collect();
        for d in lost {
            self.tracker.watched.remove(&d);
            self.tracker.os.unwatch_dir(&d);
        }
        for dir in self.index.dirs_under(scope, descend) {
            if !listed.contains(&dir) {
                for path in self.index.files_under(&dir, false) {
                    self.debouncer.push(path, Change::Deleted, now);
                }
            }
        }
        for path in stale {
            self.debouncer.push(path, Change::Deleted, now);
        }
        self.note_unreadable(unreadable);
        sink(&mut self.ready);
    }

    /// Rescans every root (after the OS queue overflowed or a watch was lost)
    /// and records what changed since the index was last right. Changes to
    /// files quiet for a full window before `wall` are ready at once (see
    /// [`Engine::drain`]) and handed to `sink` in batches as the rescan finds
    /// them; `sink` takes what it can from the front of the queue.
    pub fn rescan_all(&mut self, now: Instant, wall: SystemTime, sink: &mut dyn FnMut(&mut VecDeque<Event>)) {
        self.rescan_roots(now, Some(wall), sink);
    }

    fn rescan_roots(&mut self, now: Instant, wall: Option<SystemTime>, sink: &mut dyn FnMut(&mut VecDeque<Event>)) {
        self.stats.rescans += 1;
        let roots: Vec<(PathBuf, bool)> = self
            .matcher
            .roots
            .iter()
            .map(|r| (r.path.clone(), r.recursive))
            .collect();
        for (root, recursive) in roots {
            if self.lost_roots.contains(&root) {
                continue;
            }
            self.resync(&root, recursive, now, wall, sink);
        }
    }

    /// One polling pass: in polling mode every root, otherwise the subtrees
    /// the OS would not watch and roots that vanished (re-watched once they
    /// are back).
    pub fn poll(&mut self, now: Instant) {
        self.stats.polls += 1;
        let back: Vec<PathBuf> = self.lost_roots.iter().filter(|r| r.is_dir()).cloned().collect();
        self.lost_roots.retain(|r| !back.contains(r));
        for root in back {
            let recursive = self.matcher.roots.iter().any(|r| r.path == root && r.recursive);
            self.resync(&root, recursive, now, None, &mut |_| {});
        }
        let scopes: Vec<(PathBuf, bool)> = if self.tracker.polling {
            self.matcher
                .roots
                .iter()
                .map(|r| (r.path.clone(), r.recursive))
                .collect()
        } else {
            self.tracker.polled.iter().map(|p| (p.clone(), true)).collect()
        };
        for (scope, descend) in scopes {
            if !self.lost_roots.contains(&scope) {
                self.resync(&scope, descend, now, None, &mut |_| {});
            }
        }
    }

    /// Whether [`Engine::poll`] has anything to do.
    pub fn needs_polling(&self) -> bool {
        self.tracker.polling || !self.tracker.polled.is_empty() || !self.lost_roots.is_empty()
    }

    /// Removes and returns up to `max` events due at `now`, updating the index:
    /// first the changes a rescan found quiet, then those whose window closed.
    /// `wall` is the current wall-clock time, used to see whether a file held
    /// by `stable_for` was modified more recently than the events said.
    pub fn drain(&mut self, now: Instant, wall: SystemTime, max: usize) -> Vec<Event> {
        let take = self.ready.len().min(max);
        let mut out: Vec<Event> = self.ready.drain(..take).collect();
        for due in self.debouncer.drain_due_max(now, max - take) {
            let meta = match due.change {
                Change::Deleted => None,
                _ => rescan::stat(&due.path),
            };
            if due.change == Change::Created && !due.settle.is_zero() {
                if let Some(m) = meta {
                    if let Some(wait) = still_settling(m.mtime_ns, wall, due.settle) {
                        self.debouncer.restore(due, now + wait);
                        continue;
                    }
                }
            }
            let Due { path, change, .. } = due;
            match change {
                Change::Deleted => {
                    self.index.remove(&path);
                }
                _ => self.index.insert(&path, meta.unwrap_or_default()),
            }
            let subs = self.matcher.matching(&path);
            if !subs.is_empty() {
                out.push(Event {
                    change,
                    path,
                    subs,
                    existing: false,
                });
            }
        }
        out
    }

    /// When the next pending change falls due ([`Engine::has_ready`] aside).
    pub fn next_due(&mut self) -> Option<Instant> {
        self.debouncer.next_due()
    }

    /// Whether changes found by a rescan wait to be drained (they are due now).
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Warnings gathered since the last call (watch limit, unreadable folders, lost roots).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.tracker.warnings)
    }

    /// Folders with an OS watch.
    pub fn watched_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.tracker.watched.iter().cloned().collect();
        v.sort();
        v
    }

    /// Subtrees watched by polling because the OS refused more watches.
    pub fn polled_dirs(&self) -> Vec<PathBuf> {
        self.tracker.polled.clone()
    }

    /// The canonical roots.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.matcher.roots.iter().map(|r| r.path.clone()).collect()
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Files known to exist.
    pub fn known_files(&self) -> usize {
        self.index.len()
    }

    /// Changes not delivered yet: paths waiting in the debouncer, and changes
    /// a rescan found ready.
    pub fn pending(&self) -> usize {
        self.debouncer.len() + self.ready.len()
    }

    /// The OS-watch backend.
    pub fn dir_watcher(&mut self) -> &mut W {
        &mut self.tracker.os
    }
}

/// How much longer a file last modified at `mtime_ns` must stay unchanged
/// before it has been stable for `settle`, or `None` if it already has.
fn still_settling(mtime_ns: i64, wall: SystemTime, settle: Duration) -> Option<Duration> {
    let now_ns = wall
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let age_ns = now_ns.saturating_sub(mtime_ns).max(0);
    let settle_ns = i64::try_from(settle.as_nanos()).unwrap_or(i64::MAX);
    (age_ns < settle_ns).then(|| Duration::from_nanos(u64::try_from(settle_ns - age_ns).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Records watch calls and can refuse past a limit.
    #[derive(Debug, Default)]
    struct FakeDirs {
        watched: Vec<PathBuf>,
        limit: Option<usize>,
    }

    impl DirWatcher for FakeDirs {
        fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFailure> {
            if self.limit.is_some_and(|l| self.watched.len() >= l) {
                return Err(WatchFailure::Limit);
            }
            self.watched.push(dir.to_path_buf());
            Ok(())
        }
        fn unwatch_dir(&mut self, dir: &Path) {
            self.watched.retain(|d| d != dir);
        }
    }

    fn spec(root: &Path) -> SubSpec {
        SubSpec {
            root: root.to_path_buf(),
            recursive: true,
            patterns: vec![],
            ignore: vec![],
            default_ignores: true,
            process_existing: false,
            stable_for: Duration::ZERO,
        }
    }

    const W: Duration = Duration::from_millis(100);

    fn engine(specs: &[SubSpec]) -> Engine<FakeDirs> {
        let mut e = Engine::new(specs, W, FakeDirs::default(), false, false).unwrap();
        e.start().unwrap();
        e
    }

    fn names(events: &[Event], root: &Path) -> Vec<(String, Change)> {
        let mut v: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.path.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                    e.change,
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn canon(p: &Path) -> PathBuf {
        fs::canonicalize(p).unwrap()
    }

    #[test]
    fn bad_roots_are_errors_naming_them() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = Engine::new(&[spec(&missing)], W, FakeDirs::default(), false, false).unwrap_err();
        assert_eq!(err, WatchError::RootMissing(missing));
        let file = tmp.path().join("f");
        fs::write(&file, "").unwrap();
        let err = Engine::new(&[spec(&file)], W, FakeDirs::default(), false, false).unwrap_err();
        assert!(matches!(err, WatchError::RootNotDir(_)));
        let mut bad = spec(tmp.path());
        bad.patterns = vec!["[z".into()];
        let err = Engine::new(&[bad], W, FakeDirs::default(), false, false).unwrap_err();
        assert!(err.to_string().contains("[z"));
    }

    #[test]
    fn start_watches_folders_but_not_ignored_ones_and_reports_existing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join(".git/objects")).unwrap();
        fs::create_dir_all(root.join("node_modules/x")).unwrap();
        fs::write(root.join("a/b/one.txt"), "").unwrap();
        fs::write(root.join("two.csv"), "").unwrap();
        let mut s = spec(&root);
        s.process_existing = true;
        s.patterns = vec!["*.txt".into()];
        let mut e = Engine::new(&[s, spec(&root)], W, FakeDirs::default(), false, false).unwrap();
        let existing = e.start().unwrap();
        assert_eq!(names(&existing, &root), vec![("a/b/one.txt".into(), Change::Created)]);
        assert_eq!(existing[0].subs, vec![0]);
        let watched = e.watched_dirs();
        assert_eq!(watched, vec![root.clone(), root.join("a"), root.join("a/b")]);
        assert_eq!(e.known_files(), 2);
    }

    #[test]
    fn a_new_tree_is_walked_and_every_file_reported_once() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        let mut e = engine(&[spec(&root)]);
        let t = Instant::now();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::write(root.join("a/b/c/f.txt"), "x").unwrap();
        fs::write(root.join("a/g.txt"), "x").unwrap();
        e.handle(Raw::CreatedDir(root.join("a")), t);
        // the OS may also report the files themselves: no duplicates
        e.handle(Raw::Created(root.join("a/b/c/f.txt")), t);
        e.handle(Raw::Modified(root.join("a/b/c/f.txt")), t);
        let got = e.drain(t + W, SystemTime::now(), usize::MAX);
        assert_eq!(
            names(&got, &root),
            vec![
                ("a/b/c/f.txt".into(), Change::Created),
                ("a/g.txt".into(), Change::Created)
            ]
        );
        assert!(e.watched_dirs().contains(&root.join("a/b/c")));
    }

    #[test]
    fn rename_over_a_known_file_is_a_modification() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        fs::write(root.join("doc.txt"), "old").unwrap();
        let mut e = engine(&[spec(&root)]);
        let t = Instant::now();
        fs::write(root.join("doc.txt.tmp"), "new content").unwrap();
        e.handle(Raw::Created(root.join("doc.txt.tmp")), t);
        fs::rename(root.join("doc.txt.tmp"), root.join("doc.txt")).unwrap();
        e.handle(Raw::MovedFrom(root.join("doc.txt.tmp")), t);
        e.handle(Raw::MovedTo(root.join("doc.txt")), t);
        let got = e.drain(t + W, SystemTime::now(), usize::MAX);
        assert_eq!(names(&got, &root), vec![("doc.txt".into(), Change::Modified)]);
    }

    #[test]
    fn duplicate_create_of_a_known_unchanged_file_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        fs::write(root.join("x"), "1").unwrap();
        let mut e = engine(&[spec(&root)]);
        let t = Instant::now();
        e.handle(Raw::Created(root.join("x")), t);
        e.handle(Raw::Removed(root.join("never-known")), t);
        assert!(e.drain(t + W, SystemTime::now(), usize::MAX).is_empty());
    }

    #[test]
    fn overflow_rescan_emits_the_difference() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        fs::write(root.join("keep"), "k").unwrap();
        fs::write(root.join("gone"), "g").unwrap();
        fs::write(root.join("edit"), "e").unwrap();
        let mut e = engine(&[spec(&root)]);
        let t = Instant::now();
        // events for all of this were lost
        fs::remove_file(root.join("gone")).unwrap();
        fs::write(root.join("edit"), "edited!").unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        for i in 0..50 {
            fs::write(root.join(format!("sub/n{i}")), "").unwrap();
        }
        // one event got through before the overflow: it must not be doubled
        e.handle(Raw::Created(root.join("sub/n0")), t);
        e.handle(Raw::Overflow, t);
        let got = names(&e.drain(t + W, SystemTime::now(), usize::MAX), &root);
        assert_eq!(got.len(), 52, "{got:?}");
        assert!(got.contains(&("edit".into(), Change::Modified)));
        assert!(got.contains(&("gone".into(), Change::Deleted)));
        assert_eq!(got.iter().filter(|(_, c)| *c == Change::Created).count(), 50);
        assert_eq!(e.stats().rescans, 1);
        assert!(e.watched_dirs().contains(&root.join("sub")));
    }

    #[test]
    fn rescan_drops_pending_files_that_vanished() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        let mut e = engine(&[spec(&root)]);
        let t = Instant::now();
        fs::write(root.join("brief"), "").unwrap();
        e.handle(Raw::Created(root.join("brief")), t);
        fs::remove_file(root.join("brief")).unwrap();
        e.handle(Raw::Overflow, t);
        assert!(e.drain(t + W, SystemTime::now(), usize::MAX).is_empty());
    }

    #[test]
    fn removed_folder_reports_each_known_file_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        fs::create_dir_all(root.join("d/e")).unwrap();
        fs::write(root.join("d/a"), "").unwrap();
        fs::write(root.join("d/e/b"), "").unwrap();
        let mut e = engine(&[spec(&root)]);
        let t = Instant::now();
        fs::remove_dir_all(root.join("d")).unwrap();
        e.handle(Raw::Removed(root.join("d")), t);
        let got = names(&e.drain(t + W, SystemTime::now(), usize::MAX), &root);
        assert_eq!(
            got,
            vec![("d/a".into(), Change::Deleted), ("d/e/b".into(), Change::Deleted)]
        );
        assert_eq!(e.watched_dirs(), vec![root.clone()]);
    }

    #[test]
    fn watch_limit_falls_back_to_polling_that_subtree() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        fs::create_dir_all(root.join("big/x/y")).unwrap();
        let dirs = FakeDirs {
            limit: Some(1),
            ..FakeDirs::default()
        };
        let mut e = Engine::new(&[spec(&root)], W, dirs, false, false).unwrap();
        e.start().unwrap();
        assert_eq!(e.polled_dirs(), vec![root.join("big")]);
        let warnings = e.take_warnings();
        assert!(
            warnings[0].contains("big") && warnings[0].contains("max_user_watches"),
            "{warnings:?}"
        );
        assert!(e.needs_polling());
        let t = Instant::now();
        fs::write(root.join("big/x/y/new.txt"), "").unwrap();
        e.poll(t);
        let got = names(&e.drain(t + W, SystemTime::now(), usize::MAX), &root);
        assert_eq!(got, vec![("big/x/y/new.txt".into(), Change::Created)]);
    }

    #[test]
    fn strict_watch_limit_is_an_error_naming_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        fs::create_dir_all(root.join("big")).unwrap();
        let dirs = FakeDirs {
            limit: Some(1),
            ..FakeDirs::default()
        };
        let mut e = Engine::new(&[spec(&root)], W, dirs, false, true).unwrap();
        let err = e.start().unwrap_err();
        assert_eq!(err, WatchError::WatchLimit { path: root.join("big") });
    }

    #[test]
    fn polling_mode_uses_no_os_watch() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        let mut e = Engine::new(&[spec(&root)], W, FakeDirs::default(), true, false).unwrap();
        e.start().unwrap();
        assert!(e.dir_watcher().watched.is_empty());
        let t = Instant::now();
        fs::write(root.join("p"), "").unwrap();
        e.poll(t);
        assert_eq!(e.drain(t + W, SystemTime::now(), 10).len(), 1);
        fs::remove_file(root.join("p")).unwrap();
        e.poll(t + W);
        let got = e.drain(t + W * 2, SystemTime::now(), 10);
        assert_eq!(got[0].change, Change::Deleted);
    }

    #[test]
    fn settle_holds_a_file_whose_mtime_is_recent() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(tmp.path());
        let mut s = spec(&root);
        s.stable_for = Duration::from_secs(5);
        let mut e = engine(&[s]);
        let t = Instant::now();
        fs::write(root.join("slow"), "chunk").unwrap();
        e.handle(Raw::Created(root.join("slow")), t);
        // the events say it is quiet, but its mtime is a moment ago
        assert!(e.drain(t + Duration::from_secs(5), SystemTime::now(), 10).is_empty());
        let later = SystemTime::now() + Duration::from_secs(6);
        let got = e.drain(t + Duration::from_secs(11), later, 10);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].change, Change::Created);
    }

    #[test]
    fn a_lost_root_is_polled_until_it_returns() {
        let tmp = tempfile::tempdir().unwrap();
        let root = canon(&tmp.path().join(".")).join("r");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("a"), "").unwrap();
        let mut e = engine(&[spec(&root)]);
        let t = Instant::now();
        fs::remove_dir_all(&root).unwrap();
        e.handle(Raw::Removed(root.clone()), t);
        assert_eq!(e.drain(t + W, SystemTime::now(), 10)[0].change, Change::Deleted);
        assert!(e.needs_polling());
        fs::create_dir(&root).unwrap();
        fs::write(root.join("b"), "").unwrap();
        e.poll(t + W);
        let got = e.drain(t + W * 2, SystemTime::now(), 10);
        assert_eq!(names(&got, &root), vec![("b".into(), Change::Created)]);
        assert!(e.watched_dirs().contains(&root));
    }

    #[test]
    fn still_settling_measures_from_mtime() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let s = Duration::from_secs(2);
        assert_eq!(still_settling(99_000_000_000, wall, s), Some(Duration::from_secs(1)));
        assert_eq!(still_settling(97_000_000_000, wall, s), None);
    }
}

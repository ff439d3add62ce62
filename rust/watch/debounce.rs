//! Per-path debouncing as a pure state machine.
//!
//! The debouncer knows nothing of clocks, threads or the OS: the caller feeds
//! it changes with the instant they were seen (`push`) and asks which paths are
//! due (`drain_due`). Each path has one pending entry that remembers whether
//! the file existed before the window opened and whether it exists now; the net
//! change follows from those two facts (docs/guide/watching.md):
//!
//! | within one window        | delivered |
//! |--------------------------|-----------|
//! | created + modified       | created   |
//! | created + deleted        | nothing   |
//! | deleted + created        | modified  |
//! | modified × n             | modified  |
//! | modified + deleted       | deleted   |
//!
//! A window opens with the first change of a path and lasts `window`, so a
//! storm of writes to one file yields one event per window. An entry may also
//! carry a *settle* time (`stable_for`): a created file is then held until no
//! change was seen for that long.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

/// A file change, as delivered. The values match `ferroflow.watch.Change`
/// (and `watchfiles.Change`): added = 1, modified = 2, deleted = 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Change {
    /// The file appeared.
    Created = 1,
    /// The file's content or metadata changed.
    Modified = 2,
    /// The file disappeared.
    Deleted = 3,
}

#[derive(Debug)]
struct Pending {
    existed_before: bool,
    exists_now: bool,
    due: Instant,
    settle: Duration,
    seq: u64,
}

impl Pending {
    fn net(&self) -> Option<Change> {
        match (self.existed_before, self.exists_now) {
            (false, false) => None,
            (false, true) => Some(Change::Created),
            (true, false) => Some(Change::Deleted),
            (true, true) => Some(Change::Modified),
        }
    }
}

/// One debounced change that fell due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The file.
    pub path: PathBuf,
    /// The net change over the window.
    pub change: Change,
    /// The settle time the entry carried (zero when none).
    pub settle: Duration,
}

/// Coalesces the changes of each path over a window.
///
/// # Example
/// ```
/// use std::time::{Duration, Instant};
/// use _core::watch::debounce::{Change, Debouncer};
///
/// let t0 = Instant::now();
/// let mut d = Debouncer::new(Duration::from_millis(100));
/// d.push("a.txt".into(), Change::Created, t0);
/// d.push("a.txt".into(), Change::Modified, t0 + Duration::from_millis(10));
/// assert!(d.drain_due(t0 + Duration::from_millis(50)).is_empty());
/// let due = d.drain_due(t0 + Duration::from_millis(100));
/// assert_eq!(due.len(), 1);
/// assert_eq!(due[0].change, Change::Created);
/// ```
#[derive(Debug)]
pub struct Debouncer {
    window: Duration,
    pending: FxHashMap<PathBuf, Pending>,
    heap: BinaryHeap<Reverse<(Instant, u64, PathBuf)>>,
    seq: u64,
}

impl Debouncer {
    /// A debouncer whose windows last `window`.
    pub fn new(window: Duration) -> Self {
        Debouncer {
            window,
            pending: FxHashMap::default(),
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records `change` of `path` seen at `now`.
    pub fn push(&mut self, path: PathBuf, change: Change, now: Instant) {
        self.push_settling(path, change, now, Duration::ZERO);
    }

    /// Records a change and asks that, should the path net out as created, it
    /// be held until no change was seen for `settle` (the largest settle
    /// asked for an entry wins).
    pub fn push_settling(&mut self, path: PathBuf, change: Change, now: Instant, settle: Duration) {
        if let Some(entry) = self.pending.get_mut(&path) {
            match change {
                Change::Created | Change::Modified => entry.exists_now = true,
                Change::Deleted => entry.exists_now = false,
            }
            entry.settle = entry.settle.max(settle);
            if !entry.existed_before && !entry.settle.is_zero() {
                let held = now + entry.settle;
                if held > entry.due {
                    entry.due = held;
                    self.heap.push(Reverse((held, entry.seq, path)));
                }
            }
            return;
        }
        let (existed_before, exists_now) = match change {
            Change::Created => (false, true),
            Change::Modified => (true, true),
            Change::Deleted => (true, false),
        };
        let mut due = now + self.window;
        if !existed_before {
            due = due.max(now + settle);
        }
        self.insert(path, existed_before, exists_now, due, settle);
    }

    fn insert(&mut self, path: PathBuf, existed_before: bool, exists_now: bool, due: Instant, settle: Duration) {
        self.seq += 1;
        let seq = self.seq;
        self.heap.push(Reverse((due, seq, path.clone())));
        self.pending.insert(
            path,
            Pending {
                existed_before,
                exists_now,
                due,
                settle,
                seq,
            },
        );
    }

    /// Puts a drained change back, due at `due` (used when a file that must
    /// settle turned out to have changed more recently than the events said).
    /// Ignored if the path has a pending entry again.
    pub fn restore(&mut self, item: Due, due: Instant) {
        if self.pending.contains_key(&item.path) {
            return;
        }
        let (existed_before, exists_now) = match item.change {
            Change::Created => (false, true),
            Change::Modified => (true, true),
            Change::Deleted => (true, false),
        };
        self.insert(item.path, existed_before, exists_now, due, item.settle);
    }

    /// Ends the window of `path` at once, the file having been found to exist
    /// and to have been quiet for a full window: removes its entry and returns
    /// its net change (created, or modified when the file existed before the
    /// window opened), or `None` if `path` has no entry.
    pub fn close_existing(&mut self, path: &Path) -> Option<Change> {
        let entry = self.pending.remove(path)?;
        // Its heap item is now stale and is skipped when it comes up.
        Some(if entry.existed_before {
            Change::Modified
        } else {
            Change::Created
        })
    }

    /// Removes and returns every entry due at `now`, in due order. Entries that
    /// net out to nothing (created then deleted) are dropped silently.
    pub fn drain_due(&mut self, now: Instant) -> Vec<Due> {
        self.drain_due_max(now, usize::MAX)
    }

    /// Like [`Debouncer::drain_due`], returning at most `max` changes; the rest
    /// stay pending (and keep coalescing) until the next call.
    pub fn drain_due_max(&mut self, now: Instant, max: usize) -> Vec<Due> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(Reverse((due, _, _))) = self.heap.peek() else {
                break;
            };
            if *due > now {
                break;
            }
            let Some(Reverse((due, seq, path))) = self.heap.pop() else {
                break;
            };
            let current = match self.pending.get(&path) {
                Some(p) => p.seq == seq && p.due == due,
                None => false,
            };
            if !current {
                continue;
            }
            if let Some(entry) = self.pending.remove(&path) {
                if let Some(change) = entry.net() {
                    out.push(Due {
                        path,
                        change,
                        settle: entry.settle,
                    });
                }
            }
        }
        out
    }

    /// The earliest instant an entry falls due, if any is pending.
    pub fn next_due(&mut self) -> Option<Instant> {
        // Drop stale heap items so the answer is exact.
        while let Some(Reverse((due, seq, path))) = self.heap.peek() {
            match self.pending.get(path) {
                Some(p) if p.seq == *seq && p.due == *due => return Some(*due),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// Whether `path` has a pending entry, and if so whether the file exists
    /// according to the changes seen so far.
    pub fn pending_exists(&self, path: &Path) -> Option<bool> {
        self.pending.get(path).map(|p| p.exists_now)
    }

    /// Pending paths under `dir` (any depth) that exist according to the
    /// changes seen so far.
    pub fn existing_under(&self, dir: &Path) -> Vec<PathBuf> {
        self.pending
            .iter()
            .filter(|(p, e)| e.exists_now && p.starts_with(dir))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Number of pending paths.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn changes(d: Vec<Due>) -> Vec<(String, Change)> {
        d.into_iter()
            .map(|x| (x.path.to_string_lossy().into_owned(), x.change))
            .collect()
    }

    #[test]
    fn created_then_modified_emits_created() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("a".into(), Change::Created, t);
        d.push("a".into(), Change::Modified, t + ms(5));
        d.push("a".into(), Change::Modified, t + ms(6));
        assert_eq!(changes(d.drain_due(t + W)), vec![("a".into(), Change::Created)]);
        assert!(d.is_empty());
    }

    #[test]
    fn created_then_deleted_emits_nothing() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("a".into(), Change::Created, t);
        d.push("a".into(), Change::Modified, t + ms(1));
        d.push("a".into(), Change::Deleted, t + ms(2));
        assert!(d.drain_due(t + W * 2).is_empty());
        assert!(d.is_empty());
        assert_eq!(d.next_due(), None);
    }

    #[test]
    fn deleted_then_created_emits_modified() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("a".into(), Change::Deleted, t);
        d.push("a".into(), Change::Created, t + ms(3));
        assert_eq!(changes(d.drain_due(t + W)), vec![("a".into(), Change::Modified)]);
    }

    #[test]
    fn many_modified_emit_one() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        for i in 0..10_000u64 {
            d.push("a".into(), Change::Modified, t + Duration::from_micros(i));
        }
        assert_eq!(
            changes(d.drain_due(t + W + ms(50))),
            vec![("a".into(), Change::Modified)]
        );
    }

    #[test]
    fn modified_then_deleted_emits_deleted() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("a".into(), Change::Modified, t);
        d.push("a".into(), Change::Deleted, t + ms(1));
        assert_eq!(changes(d.drain_due(t + W)), vec![("a".into(), Change::Deleted)]);
    }

    #[test]
    fn created_deleted_created_emits_created() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("a".into(), Change::Created, t);
        d.push("a".into(), Change::Deleted, t + ms(1));
        d.push("a".into(), Change::Created, t + ms(2));
        assert_eq!(changes(d.drain_due(t + W)), vec![("a".into(), Change::Created)]);
    }

    #[test]
    fn rename_is_deleted_plus_created() {
        // The watcher reports a rename as a delete of the old path and a create of the new.
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("old".into(), Change::Deleted, t);
        d.push("new".into(), Change::Created, t);
        let mut got = changes(d.drain_due(t + W));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![("new".into(), Change::Created), ("old".into(), Change::Deleted)]
        );
    }

    #[test]
    fn nothing_is_due_before_the_window_closes() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("a".into(), Change::Created, t);
        assert!(d.drain_due(t + ms(99)).is_empty());
        assert_eq!(d.next_due(), Some(t + W));
        assert_eq!(d.drain_due(t + W).len(), 1);
    }

    #[test]
    fn window_is_fixed_from_first_change_so_a_storm_yields_one_event_per_window() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        let mut delivered = 0;
        // writes every millisecond for one second: about ten windows
        for i in 0..1000u64 {
            let now = t + ms(i);
            d.push("a".into(), Change::Modified, now);
            delivered += d.drain_due(now).len();
        }
        delivered += d.drain_due(t + ms(2000)).len();
        assert!((10..=11).contains(&delivered), "{delivered}");
    }

    #[test]
    fn a_change_after_the_window_starts_a_new_one() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("a".into(), Change::Created, t);
        assert_eq!(changes(d.drain_due(t + W)), vec![("a".into(), Change::Created)]);
        d.push("a".into(), Change::Modified, t + W + ms(1));
        assert_eq!(
            changes(d.drain_due(t + W * 2 + ms(1))),
            vec![("a".into(), Change::Modified)]
        );
    }

    #[test]
    fn paths_are_independent_and_drained_in_due_order() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("b".into(), Change::Created, t);
        d.push("a".into(), Change::Created, t + ms(10));
        d.push("b".into(), Change::Deleted, t + ms(20));
        d.push("c".into(), Change::Modified, t + ms(30));
        assert_eq!(
            changes(d.drain_due(t + ms(500))),
            vec![("a".into(), Change::Created), ("c".into(), Change::Modified)]
        );
    }

    #[test]
    fn settle_holds_a_created_file_until_it_stops_changing() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        let settle = ms(1000);
        d.push_settling("f".into(), Change::Created, t, settle);
        // a slow writer: one chunk every 300 ms for 3 s
        for i in 1..10u64 {
            let now = t + ms(300 * i);
            d.push("f".into(), Change::Modified, now);
            assert!(d.drain_due(now).is_empty(), "delivered while still changing");
        }
        let last = t + ms(2700);
        assert!(d.drain_due(last + ms(999)).is_empty());
        assert_eq!(changes(d.drain_due(last + settle)), vec![("f".into(), Change::Created)]);
    }

    #[test]
    fn settle_does_not_hold_changes_of_existing_files() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push_settling("f".into(), Change::Modified, t, ms(1000));
        assert_eq!(changes(d.drain_due(t + W)), vec![("f".into(), Change::Modified)]);
    }

    #[test]
    fn drain_due_max_leaves_the_rest_pending() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        for i in 0..10 {
            d.push(format!("f{i}").into(), Change::Created, t);
        }
        assert_eq!(d.drain_due_max(t + W, 4).len(), 4);
        assert_eq!(d.len(), 6);
        assert_eq!(d.drain_due(t + W).len(), 6);
    }

    #[test]
    fn restore_puts_a_change_back_until_later() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push_settling("f".into(), Change::Created, t, ms(200));
        let due = d.drain_due(t + ms(200));
        assert_eq!(due.len(), 1);
        d.restore(due[0].clone(), t + ms(400));
        assert!(d.drain_due(t + ms(399)).is_empty());
        assert_eq!(changes(d.drain_due(t + ms(400))), vec![("f".into(), Change::Created)]);
    }

    #[test]
    fn close_existing_ends_a_window_early_with_its_net_change() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("new".into(), Change::Created, t);
        d.push("gone".into(), Change::Deleted, t);
        d.push("back".into(), Change::Deleted, t);
        d.push("back".into(), Change::Created, t + ms(1));
        assert_eq!(d.close_existing(Path::new("new")), Some(Change::Created));
        assert_eq!(d.close_existing(Path::new("gone")), Some(Change::Modified));
        assert_eq!(d.close_existing(Path::new("back")), Some(Change::Modified));
        assert_eq!(d.close_existing(Path::new("never")), None);
        assert!(d.is_empty());
        assert_eq!(d.next_due(), None);
        assert!(d.drain_due(t + W * 2).is_empty());
    }

    #[test]
    fn pending_state_is_queryable() {
        let t = Instant::now();
        let mut d = Debouncer::new(W);
        d.push("dir/a".into(), Change::Created, t);
        d.push("dir/b".into(), Change::Deleted, t);
        d.push("other/c".into(), Change::Modified, t);
        assert_eq!(d.pending_exists(Path::new("dir/a")), Some(true));
        assert_eq!(d.pending_exists(Path::new("dir/b")), Some(false));
        assert_eq!(d.pending_exists(Path::new("nope")), None);
        assert_eq!(d.existing_under(Path::new("dir")), vec![PathBuf::from("dir/a")]);
    }

    proptest::proptest! {
        #[test]
        fn net_change_follows_existence(ops in proptest::collection::vec(0u8..3, 1..20)) {
            let t = Instant::now();
            let mut d = Debouncer::new(W);
            let mut existed: Option<bool> = None;
            let mut exists = false;
            for op in &ops {
                let change = match op { 0 => Change::Created, 1 => Change::Modified, _ => Change::Deleted };
                if existed.is_none() {
                    existed = Some(change != Change::Created);
                }
                exists = change != Change::Deleted;
                d.push("p".into(), change, t);
            }
            let got: Vec<Change> = d.drain_due(t + W).into_iter().map(|x| x.change).collect();
            let want = match (existed.unwrap_or(false), exists) {
                (false, false) => vec![],
                (false, true) => vec![Change::Created],
                (true, false) => vec![Change::Deleted],
                (true, true) => vec![Change::Modified],
            };
            proptest::prop_assert_eq!(got, want);
        }
    }
}

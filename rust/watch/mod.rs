//! The file watcher: the OS event source, the clock and the watcher thread.
//!
//! Everything with semantics lives in the submodules and is tested with
//! explicit instants: [`debounce`] (the per-path state machine), [`filter`]
//! (globs), [`rescan`] (the index of known files, tree walks, diffs) and
//! [`engine`] (which ties them together). This module only
//!
//! - runs one OS event source with one non-recursive watch per folder (so
//!   ignored folders cost no watch, and new folders are walked as they
//!   appear): on Linux inotify, read in batches by its own thread
//!   (`inotify_source.rs`); elsewhere `notify`;
//! - hands the raw notifications ([`engine::Raw`], including the queue
//!   overflow) to the watcher thread in batches through an inbox
//!   (`inbox.rs`): one lock and at most one wake-up per batch, never a spin;
//! - runs the watcher thread, which sleeps until a batch arrives or the next
//!   change falls due (a tick at most), feeds the engine, polls, and hands
//!   finished batches to a consumer that pulls them ([`Watcher::next_batch`]).
//!
//! Backpressure: at most `max_buffered` events wait for the consumer; while
//! the buffer is full, changes keep coalescing per path in the debouncer (and
//! the changes a rescan found wait in the engine, one per path), so memory
//! grows with the number of distinct paths changed, never with the number of
//! events. A rescan hands its findings over in batches while it runs, so the
//! consumer works on the first ones while the tree is still being listed.

pub mod debounce;
pub mod engine;
pub mod error;
pub mod filter;
mod inbox;
#[cfg(target_os = "linux")]
mod inotify_source;
// Compiled and tested on Linux too, where it is not the one in use.
#[cfg(any(test, not(target_os = "linux")))]
mod notify_source;
pub mod rescan;
mod resync;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};

pub use debounce::Change;
pub use engine::{Event, Raw, SubSpec};
pub use error::WatchError;

use engine::{DirWatcher, Engine, WatchFailure};
use inbox::Inbox;
#[cfg(target_os = "linux")]
use inotify_source::{InotifyDirs as OsDirs, Reader};
#[cfg(not(target_os = "linux"))]
use notify_source::{NotifyDirs as OsDirs, Reader};

/// How the watcher runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The debounce window.
    pub debounce: Duration,
    /// Watch by polling only (for file systems without native events, such
    /// as network mounts).
    pub force_polling: bool,
    /// Interval between polling passes (polling mode, subtrees past the OS
    /// watch limit, roots that vanished).
    pub poll_interval: Duration,
    /// Fail at start instead of polling when the OS watch limit is reached.
    pub strict_watch_limit: bool,
    /// At most this many events wait for the consumer.
    pub max_buffered: usize,
    /// Test only: pretend the OS refuses watches past this many.
    pub max_os_watches: Option<usize>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(1600),
            force_polling: false,
            poll_interval: Duration::from_secs(1),
            strict_watch_limit: false,
            max_buffered: 10_000,
            max_os_watches: None,
        }
    }
}

/// The OS watches, or none (polling mode, or once closed).
struct Dirs(Option<OsDirs>);

impl DirWatcher for Dirs {
    fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFailure> {
        match self.0.as_mut() {
            Some(d) => d.watch_dir(dir),
            None => Err(WatchFailure::Other("the watcher is closed".into())),
        }
    }

    fn unwatch_dir(&mut self, dir: &Path) {
        if let Some(d) = self.0.as_mut() {
            d.unwatch_dir(dir);
        }
    }
}

/// Test-only switch that stops the OS event reader (see [`Watcher::pause_reader`]).
#[derive(Default)]
struct Pause {
    paused: Mutex<bool>,
    cv: Condvar,
}

impl Pause {
    fn wait_while_paused(&self) {
        let mut p = self.paused.lock();
        while *p {
            self.cv.wait(&mut p);
        }
    }

    fn set(&self, paused: bool) {
        *self.paused.lock() = paused;
        self.cv.notify_all();
    }
}

/// Counters shared with the consumer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WatchStats {
    /// Events handed to the consumer.
    pub events: u64,
    /// Full rescans after an overflow or a lost watch.
    pub rescans: u64,
    /// Polling passes.
    pub polls: u64,
    /// Folders with an OS watch.
    pub os_watches: u64,
    /// Subtrees watched by polling.
    pub polled_subtrees: u64,
    /// Files known to exist.
    pub known_files: u64,
    /// Paths waiting in the debouncer.
    pub pending: u64,
    /// Events waiting for the consumer.
    pub buffered: u64,
}

struct Shared {
    out: Mutex<VecDeque<Event>>,
    out_cv: Condvar,
    closed: AtomicBool,
    error: Mutex<Option<WatchError>>,
    engine: Mutex<Engine<Dirs>>,
    inbox: Arc<Inbox>,
    pause: Arc<Pause>,
    events: AtomicU64,
    opts: WatchOptions,
}

/// A running watcher over one or more roots; the consumer pulls batches.
pub struct Watcher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Watcher {
    /// Validates the subscriptions, puts OS watches on every folder of every
    /// root (pruning ignored ones), learns the files there and starts the
    /// watcher thread. Existing files of subscriptions with
    /// `process_existing` are the first events delivered.
    pub fn start(specs: &[SubSpec], opts: WatchOptions) -> Result<Watcher, WatchError> {
        let inbox = Arc::new(Inbox::default());
        let pause = Arc::new(Pause::default());
        let (reader, dirs) = if opts.force_polling {
            (None, Dirs(None))
        } else {
            let (reader, dirs) = Reader::start(Arc::clone(&inbox), Arc::clone(&pause), opts.max_os_watches)
                .map_err(WatchError::Backend)?;
            (Some(reader), Dirs(Some(dirs)))
        };
        let mut engine = Engine::new(specs, opts.debounce, dirs, opts.force_polling, opts.strict_watch_limit)?;
        let existing = engine.start()?;
        let shared = Arc::new(Shared {
            out: Mutex::new(existing.into()),
            out_cv: Condvar::new(),
            closed: AtomicBool::new(false),
            error: Mutex::new(None),
            engine: Mutex::new(engine),
            inbox,
            pause,
            events: AtomicU64::new(0),
            opts,
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("ferroflow-watch".into())
                .spawn(move || run(&shared, reader))
                .map_err(|e| WatchError::Backend(format!("cannot start the watcher thread: {e}")))?
        };
        Ok(Watcher {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Waits up to `timeout` for events and returns up to `max` of them.
    /// `Ok(None)` means the watcher is closed; an error from the watcher
    /// thread is returned once, on the next call after it happened.
    pub fn next_batch(&self, timeout: Duration, max: usize) -> Result<Option<Vec<Event>>, WatchError> {
        if let Some(err) = self.shared.error.lock().take() {
            return Err(err);
        }
        let mut out = self.shared.out.lock();
        if out.is_empty() && !self.is_closed() {
            self.shared.out_cv.wait_for(&mut out, timeout);
        }
        if out.is_empty() && self.is_closed() {
            return Ok(None);
        }
        let was_full = out.len() >= self.shared.opts.max_buffered;
        let n = out.len().min(max.max(1));
        let batch: Vec<Event> = out.drain(..n).collect();
        drop(out);
        self.shared.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if was_full {
            self.shared.inbox.wake();
        }
        Ok(Some(batch))
    }

    /// Stops the watcher thread and the OS watches. Idempotent.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.pause.set(false);
        self.shared.inbox.close();
        self.shared.out_cv.notify_all();
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }

    /// Whether [`Watcher::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Test only: stop reading OS events until [`Watcher::resume_reader`], so
    /// that the kernel queue overflows and the rescan path runs.
    pub fn pause_reader(&self) {
        self.shared.pause.set(true);
    }

    /// Test only: read OS events again.
    pub fn resume_reader(&self) {
        self.shared.pause.set(false);
    }

    /// Warnings gathered since the last call.
    pub fn take_warnings(&self) -> Vec<String> {
        self.shared.engine.lock().take_warnings()
    }

    /// Folders with an OS watch, sorted.
    pub fn watched_dirs(&self) -> Vec<PathBuf> {
        self.shared.engine.lock().watched_dirs()
    }

    /// Subtrees watched by polling because the OS refused more watches.
    pub fn polled_dirs(&self) -> Vec<PathBuf> {
        self.shared.engine.lock().polled_dirs()
    }

    /// The canonical roots.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.shared.engine.lock().roots()
    }

    /// Current counters.
    pub fn stats(&self) -> WatchStats {
        let buffered = self.shared.out.lock().len() as u64;
        let engine = self.shared.engine.lock();
        let s = engine.stats();
        WatchStats {
            events: self.shared.events.load(Ordering::Relaxed),
            rescans: s.rescans,
            polls: s.polls,
            os_watches: engine.watched_dirs().len() as u64,
            polled_subtrees: engine.polled_dirs().len() as u64,
            known_files: engine.known_files() as u64,
            pending: engine.pending() as u64,
            buffered,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.close();
    }
}

/// Moves what fits of `ready` (changes a rescan found, due now) into the
/// consumer's buffer, so that it can work on them while the rescan goes on.
fn hand_over(shared: &Shared, ready: &mut VecDeque<Event>) {
    let mut out = shared.out.lock();
    let n = shared.opts.max_buffered.saturating_sub(out.len()).min(ready.len());
    if n > 0 {
        out.extend(ready.drain(..n));
        drop(out);
        shared.out_cv.notify_all();
    }
}

/// The longest the thread sleeps without looking at the clock while changes are pending.
const TICK: Duration = Duration::from_millis(50);
/// The longest it sleeps with nothing pending (a batch or the close wakes it at once).
const IDLE_TICK: Duration = Duration::from_secs(1);
/// The shortest sleep: changes falling due within it are delivered together.
const MIN_WAIT: Duration = Duration::from_millis(1);

fn run(shared: &Shared, mut reader: Option<Reader>) {
    let poll_every = shared.opts.poll_interval.max(Duration::from_millis(10));
    let mut next_poll = Instant::now() + poll_every;
    let mut raws = Vec::new();
    while !shared.closed.load(Ordering::SeqCst) {
        let now = Instant::now();
        // With the output full, due changes wait for the consumer (it wakes the inbox), not the clock.
        let full = shared.out.lock().len() >= shared.opts.max_buffered;
        let mut wait;
        {
            let mut engine = shared.engine.lock();
            wait = if engine.pending() > 0 { TICK } else { IDLE_TICK };
            if let Some(due) = engine.next_due().filter(|_| !full) {
                wait = wait.min(due.saturating_duration_since(now));
            }
            if engine.has_ready() && !full {
                wait = Duration::ZERO;
            }
            if engine.needs_polling() {
                wait = wait.min(next_poll.saturating_duration_since(now));
            }
        }
        let taken = shared.inbox.take(wait.max(MIN_WAIT), &mut raws);
        if taken.closed {
            break;
        }
        if let Some(err) = taken.errors.into_iter().last() {
            *shared.error.lock() = Some(WatchError::Backend(err));
        }
        let mut engine = shared.engine.lock();
        let mut overflow = false;
        // One batch was read at one moment: its changes share that instant.
        let arrived = Instant::now();
        for raw in raws.drain(..) {
            if raw == Raw::Overflow {
                // Several overflow notices in a batch need one rescan, after the batch.
                overflow = true;
            } else {
                engine.handle(raw, arrived);
            }
        }
        let now = Instant::now();
        if overflow {
            engine.rescan_all(now, SystemTime::now(), &mut |ready| hand_over(shared, ready));
        }
        if engine.needs_polling() && now >= next_poll {
            engine.poll(now);
            next_poll = now + poll_every;
        }
        let room = shared.opts.max_buffered.saturating_sub(shared.out.lock().len());
        if room > 0 {
            let events = engine.drain(now, SystemTime::now(), room);
            if !events.is_empty() {
                shared.out.lock().extend(events);
                shared.out_cv.notify_all();
            }
        }
    }
    // Stop the OS event source here so that its thread ends with ours.
    if let Some(reader) = reader.as_mut() {
        reader.stop();
    }
    shared.engine.lock().dir_watcher().0 = None;
    shared.out_cv.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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

    fn opts() -> WatchOptions {
        WatchOptions {
            debounce: Duration::from_millis(50),
            ..WatchOptions::default()
        }
    }

    fn collect_until(w: &Watcher, want: usize) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < want {
            assert!(Instant::now() < deadline, "only {} of {want} events", got.len());
            if let Some(batch) = w.next_batch(Duration::from_millis(50), 10_000).unwrap() {
                got.extend(batch);
            }
        }
        got
    }

    #[test]
    fn reports_created_modified_deleted_through_the_os() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let w = Watcher::start(&[spec(&root)], opts()).unwrap();
        fs::write(root.join("a.txt"), "1").unwrap();
        let got = collect_until(&w, 1);
        assert_eq!(
            (got[0].change, got[0].path.clone()),
            (Change::Created, root.join("a.txt"))
        );
        fs::write(root.join("a.txt"), "22").unwrap();
        assert_eq!(collect_until(&w, 1)[0].change, Change::Modified);
        fs::remove_file(root.join("a.txt")).unwrap();
        assert_eq!(collect_until(&w, 1)[0].change, Change::Deleted);
        w.close();
        assert!(w.next_batch(Duration::from_millis(1), 10).unwrap().is_none());
    }

    #[test]
    fn paused_reader_overflows_and_the_rescan_reports_every_file() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let w = Watcher::start(&[spec(&root)], opts()).unwrap();
        w.pause_reader();
        fs::write(root.join("first"), "").unwrap();
        let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16384);
        let n = limit / 2 + 500;
        for i in 0..n {
            fs::write(root.join(format!("f{i}")), "x").unwrap();
        }
        w.resume_reader();
        let got = collect_until(&w, n + 1);
        assert_eq!(got.len(), n + 1);
        assert!(got.iter().all(|e| e.change == Change::Created));
        assert!(w.stats().rescans >= 1);
    }
}

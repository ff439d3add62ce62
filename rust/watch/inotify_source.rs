//! The Linux event source: one inotify instance, read in batches.
//!
//! One non-recursive watch per folder ([`InotifyDirs`], used by the engine),
//! and a reader thread ([`Reader`]) that sleeps in `poll(2)` until the queue
//! is readable, then reads everything there is (64 KiB per `read`, until the
//! kernel has nothing more), translates it into [`Raw`] notifications and
//! hands the lot to the watcher thread in one [`Inbox::push`]. After a read
//! that found something it waits [`GATHER`] before looking again, so that a
//! flood is read a few hundred events at a time instead of one per wake-up;
//! an isolated change is still handed over as soon as it is read.
//!
//! The translation is the one the watcher always made: a create (a folder
//! create apart), a modification or attribute change, a close after writing,
//! a delete, both halves of a rename, a watched folder deleted or moved
//! itself, and the queue overflow. A folder renamed or deleted loses its
//! watch and those below it (their paths are no longer true).

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchMask, Watches};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use super::engine::{DirWatcher, Raw, WatchFailure};
use super::inbox::Inbox;
use super::Pause;

/// Pause after a read that found events, so the next read finds many.
pub(super) const GATHER: Duration = Duration::from_millis(2);
/// Bytes per `read` of the inotify queue (about 2,000 short names).
const BUFFER: usize = 64 * 1024;

fn mask() -> WatchMask {
    WatchMask::ATTRIB
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

/// Watch descriptors and the folders they stand for.
struct Map {
    watches: Watches,
    by_wd: FxHashMap<i32, PathBuf>,
    by_path: FxHashMap<PathBuf, inotify::WatchDescriptor>,
}

impl Map {
    /// Forgets the watch of `dir` and every watch below it, removing them
    /// from the kernel too; returns whether `dir` itself had one.
    fn remove_under(&mut self, dir: &Path) -> bool {
        let had = self.by_path.contains_key(dir);
        if !had {
            return false;
        }
        let gone: Vec<PathBuf> = self.by_path.keys().filter(|p| p.starts_with(dir)).cloned().collect();
        for p in gone {
            if let Some(wd) = self.by_path.remove(&p) {
                self.by_wd.remove(&wd.get_watch_descriptor_id());
                // The kernel may have dropped it already (the folder is gone).
                let _ = self.watches.remove(wd);
            }
        }
        true
    }
}

/// Translates one inotify event into raw notifications appended to `out`.
fn translate(map: &mut Map, wd: i32, event_mask: EventMask, name: Option<&OsStr>, out: &mut Vec<Raw>) {
    if event_mask.contains(EventMask::Q_OVERFLOW) {
        out.push(Raw::Overflow);
    }
    if event_mask.contains(EventMask::IGNORED) {
        // The kernel dropped the watch (its folder is gone or unmounted).
        if let Some(dir) = map.by_wd.remove(&wd) {
            map.by_path.remove(&dir);
        }
        return;
    }
    let Some(dir) = map.by_wd.get(&wd) else {
        return; // unknown or removed watch (and the overflow notice, wd -1)
    };
    let path = match name {
        Some(name) => dir.join(name),
        None => dir.clone(),
    };
    let is_dir = event_mask.contains(EventMask::ISDIR);
    let mut remove = false;
    if event_mask.contains(EventMask::MOVED_FROM) {
        remove = true;
        out.push(Raw::MovedFrom(path.clone()));
    } else if event_mask.contains(EventMask::MOVED_TO) {
        out.push(Raw::MovedTo(path.clone()));
    }
    if event_mask.contains(EventMask::MOVE_SELF) {
        out.push(Raw::MovedFrom(path.clone()));
    }
    if event_mask.contains(EventMask::CREATE) {
        out.push(if is_dir {
            Raw::CreatedDir(path.clone())
        } else {
            Raw::Created(path.clone())
        });
    }
    if event_mask.intersects(EventMask::DELETE | EventMask::DELETE_SELF) {
        remove = true;
        out.push(Raw::Removed(path.clone()));
    }
    if event_mask.contains(EventMask::MODIFY) {
        out.push(Raw::Modified(path.clone()));
    }
    if event_mask.contains(EventMask::CLOSE_WRITE) {
        out.push(Raw::ClosedWrite(path.clone()));
    }
    if event_mask.contains(EventMask::ATTRIB) {
        out.push(Raw::Modified(path.clone()));
    }
    if remove {
        map.remove_under(&path);
    }
}

/// One OS watch per folder on the shared inotify instance.
pub(super) struct InotifyDirs {
    map: Arc<Mutex<Map>>,
    cap: Option<usize>,
}

impl DirWatcher for InotifyDirs {
    fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFailure> {
        // Held across the call: the reader cannot see an event of the new
        // watch before it knows which folder it stands for.
        let mut map = self.map.lock();
        // Counted from the map, which also loses the watches of folders
        // deleted or moved away.
        if self.cap.is_some_and(|cap| map.by_path.len() >= cap) {
            return Err(WatchFailure::Limit);
        }
        match map.watches.add(dir, mask()) {
            Ok(wd) => {
                map.by_wd.insert(wd.get_watch_descriptor_id(), dir.to_path_buf());
                map.by_path.insert(dir.to_path_buf(), wd);
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Err(WatchFailure::Limit),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(WatchFailure::Gone),
            Err(e) => Err(WatchFailure::Other(e.to_string())),
        }
    }

    fn unwatch_dir(&mut self, dir: &Path) {
        let mut map = self.map.lock();
        if let Some(wd) = map.by_path.remove(dir) {
            map.by_wd.remove(&wd.get_watch_descriptor_id());
            let _ = map.watches.remove(wd);
        }
    }
}

/// The reader thread and the means to stop it.
pub(super) struct Reader {
    stop: Arc<AtomicBool>,
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    /// Starts an inotify instance and its reader thread, which feeds `inbox`
    /// and waits while `pause` is set. Returns the reader and the watches.
    pub(super) fn start(
        inbox: Arc<Inbox>,
        pause: Arc<Pause>,
        cap: Option<usize>,
    ) -> Result<(Reader, InotifyDirs), String> {
        Self::open(inbox, pause, cap).map_err(|e| format!("cannot start inotify: {e}"))
    }

    fn open(inbox: Arc<Inbox>, pause: Arc<Pause>, cap: Option<usize>) -> std::io::Result<(Reader, InotifyDirs)> {
        let inotify = Inotify::init()?;
        let map = Arc::new(Mutex::new(Map {
            watches: inotify.watches(),
            by_wd: FxHashMap::default(),
            by_path: FxHashMap::default(),
        }));
        // SAFETY: eventfd returns a new descriptor this function owns, or -1 (checked).
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a valid descriptor owned by nobody else.
        let wake = unsafe { OwnedFd::from_raw_fd(raw) };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
            let wake = wake.try_clone()?;
            std::thread::Builder::new()
                .name("ferroflow-watch-os".into())
                .spawn(move || read_loop(inotify, &map, &inbox, &pause, &stop, &wake))?
        };
        let reader = Reader {
            stop,
            wake,
            thread: Some(thread),
        };
        let dirs = InotifyDirs { map, cap };
        Ok((reader, dirs))
    }

    /// Stops the reader thread and waits for it; idempotent.
    pub(super) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd this struct owns.
        let _ = unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Blocks until the inotify queue or the stop descriptor is readable.
fn wait_readable(inotify: &Inotify, wake: &OwnedFd) -> std::io::Result<()> {
    let mut fds = [
        libc::pollfd {
            fd: inotify.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a live array of two pollfd structs.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc >= 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn read_loop(mut inotify: Inotify, map: &Mutex<Map>, inbox: &Inbox, pause: &Pause, stop: &AtomicBool, wake: &OwnedFd) {
    let mut buffer = vec![0u8; BUFFER];
    let mut raws: Vec<Raw> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = wait_readable(&inotify, wake) {
            inbox.push_error(format!("waiting for file system events failed: {e}"));
            return;
        }
        pause.wait_while_paused();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        loop {
            match inotify.read_events(&mut buffer) {
                Ok(events) => {
                    let mut read_any = false;
                    let mut map = map.lock();
                    for event in events {
                        read_any = true;
                        translate(
                            &mut map,
                            event.wd.get_watch_descriptor_id(),
                            event.mask,
                            event.name,
                            &mut raws,
                        );
                    }
                    drop(map);
                    if !read_any {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    inbox.push_error(format!("reading file system events failed: {e}"));
                    break;
                }
            }
        }
        if raws.is_empty() {
            continue;
        }
        inbox.push(&mut raws);
        std::thread::sleep(GATHER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::Instant;

    fn started() -> (Reader, InotifyDirs, Arc<Inbox>, Arc<Pause>) {
        let inbox = Arc::new(Inbox::default());
        let pause = Arc::new(Pause::default());
        let (reader, dirs) = Reader::start(Arc::clone(&inbox), Arc::clone(&pause), None).unwrap();
        (reader, dirs, inbox, pause)
    }

    fn take_until(inbox: &Inbox, done: impl Fn(&[Raw]) -> bool) -> Vec<Raw> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while !done(&got) {
            assert!(Instant::now() < deadline, "only {got:?}");
            let mut more = Vec::new();
            let taken = inbox.take(Duration::from_millis(50), &mut more);
            assert!(taken.errors.is_empty(), "{:?}", taken.errors);
            got.extend(more);
        }
        got
    }

    #[test]
    fn a_flood_arrives_in_few_batches_with_every_event() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let (mut reader, mut dirs, inbox, pause) = started();
        dirs.watch_dir(&root).unwrap();
        // hold the reader so that the whole flood waits in the kernel queue
        pause.set(true);
        fs::write(root.join("first"), "").unwrap();
        let n = 2000;
        for i in 0..n {
            fs::write(root.join(format!("f{i}")), "x").unwrap();
        }
        pause.set(false);
        let created = |raws: &[Raw]| raws.iter().filter(|r| matches!(r, Raw::Created(_))).count();
        let got = take_until(&inbox, |raws| created(raws) == n + 1);
        assert!(got.contains(&Raw::Created(root.join("f1999"))));
        assert!(got.contains(&Raw::ClosedWrite(root.join("f0"))));
        // a create, a modify and a close each: read 64 KiB at a time, not one per wake-up
        assert!(inbox.batches() <= 10, "{} batches", inbox.batches());
        reader.stop();
    }

    #[test]
    fn translates_folders_renames_and_deletes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let (mut reader, mut dirs, inbox, _pause) = started();
        dirs.watch_dir(&root).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        dirs.watch_dir(&root.join("sub")).unwrap();
        fs::write(root.join("a"), "").unwrap();
        fs::rename(root.join("a"), root.join("b")).unwrap();
        fs::remove_file(root.join("b")).unwrap();
        fs::rename(root.join("sub"), root.join("moved")).unwrap();
        let got = take_until(&inbox, |raws| raws.contains(&Raw::MovedTo(root.join("moved"))));
        for want in [
            Raw::CreatedDir(root.join("sub")),
            Raw::Created(root.join("a")),
            Raw::MovedFrom(root.join("a")),
            Raw::MovedTo(root.join("b")),
            Raw::Removed(root.join("b")),
            Raw::MovedFrom(root.join("sub")),
        ] {
            assert!(got.contains(&want), "{want:?} not in {got:?}");
        }
        // the moved folder's watch is gone: its events would carry a wrong path
        assert!(!dirs.map.lock().by_path.contains_key(&root.join("sub")));
        reader.stop();
    }

    #[test]
    fn the_watch_limit_and_missing_folders_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let inbox = Arc::new(Inbox::default());
        let (mut reader, mut dirs) = Reader::start(inbox, Arc::new(Pause::default()), Some(1)).unwrap();
        assert_eq!(dirs.watch_dir(&root.join("nope")), Err(WatchFailure::Gone));
        dirs.watch_dir(&root).unwrap();
        assert_eq!(dirs.watch_dir(&root), Err(WatchFailure::Limit));
        dirs.unwatch_dir(&root);
        dirs.watch_dir(&root).unwrap();
        reader.stop();
        reader.stop();
    }
}

//! What the watcher knows about the files on disk, and how it re-learns it.
//!
//! The [`Index`] holds, for each watched file that some subscription wants,
//! its size and modification time — nothing more — grouped by folder so that
//! a path costs only its name. [`visit`] lists a tree folder by folder for a
//! [`Visitor`] (which prunes ignored folders, and is called back before each
//! folder is read so that it can put an OS watch on it first); [`walk`]
//! gathers everything a visit finds into a [`Scan`]. The watcher walks at start and
//! for new folders; when the kernel queue overflows, a watch is lost or a
//! subtree is polled, it visits the tree and compares each folder's listing
//! with what the index knows of it (`engine.rs`).

use std::ffi::OsString;
use std::fs::{DirEntry, Metadata};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

/// Size and modification time of a file: enough to tell that it changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

impl FileMeta {
    /// The meta of an `lstat` result.
    pub fn of(md: &Metadata) -> FileMeta {
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        FileMeta {
            size: md.len(),
            mtime_ns,
        }
    }
}

/// `lstat` of a path as a [`FileMeta`], or `None` if it is gone.
pub fn stat(path: &Path) -> Option<FileMeta> {
    std::fs::symlink_metadata(path).ok().map(|m| FileMeta::of(&m))
}

/// Known files, by folder.
#[derive(Debug, Default)]
pub struct Index {
    dirs: FxHashMap<PathBuf, FxHashMap<OsString, FileMeta>>,
    len: usize,
}

fn split(path: &Path) -> Option<(&Path, &std::ffi::OsStr)> {
    Some((path.parent()?, path.file_name()?))
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::default()
    }

    /// Records (or updates) a file.
    pub fn insert(&mut self, path: &Path, meta: FileMeta) {
        let Some((dir, name)) = split(path) else { return };
        let files = self.dirs.entry(dir.to_path_buf()).or_default();
        if files.insert(name.to_os_string(), meta).is_none() {
            self.len += 1;
        }
    }

    /// Forgets a file; returns whether it was known.
    pub fn remove(&mut self, path: &Path) -> bool {
        let Some((dir, name)) = split(path) else { return false };
        let Some(files) = self.dirs.get_mut(dir) else {
            return false;
        };
        let removed = files.remove(name).is_some();
        if removed {
            self.len -= 1;
            if files.is_empty() {
                self.dirs.remove(dir);
            }
        }
        removed
    }

    /// The meta recorded for a file.
    pub fn get(&self, path: &Path) -> Option<FileMeta> {
        let (dir, name) = split(path)?;
        self.dirs.get(dir)?.get(name).copied()
    }

    /// Whether a file is known.
    pub fn contains(&self, path: &Path) -> bool {
        self.get(path).is_some()
    }

    /// Takes the files known in `dir` out of the index, by name (empty when
    /// none is known); [`Index::put_dir`] gives them back.
    pub fn take_dir(&mut self, dir: &Path) -> FxHashMap<OsString, FileMeta> {
        let files = self.dirs.remove(dir).unwrap_or_default();
        self.len -= files.len();
        files
    }

    /// Records `files` as the known files of `dir`, replacing what was known there.
    pub fn put_dir(&mut self, dir: &Path, files: FxHashMap<OsString, FileMeta>) {
        let _ = self.take_dir(dir);
        if !files.is_empty() {
            self.len += files.len();
            self.dirs.insert(dir.to_path_buf(), files);
        }
    }

    /// Folders with known files: `dir`, and those below it when `descend`.
    pub fn dirs_under(&self, dir: &Path, descend: bool) -> Vec<PathBuf> {
        self.dirs
            .keys()
            .filter(|d| *d == dir || (descend && d.starts_with(dir)))
            .cloned()
            .collect()
    }

    /// Known files in `dir`, and below it when `descend`.
    pub fn files_under(&self, dir: &Path, descend: bool) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (d, files) in &self.dirs {
            if d == dir || (descend && d.starts_with(dir)) {
                out.extend(files.keys().map(|n| d.join(n)));
            }
        }
        out
    }

    /// Number of known files.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no file is known.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The result of listing a tree.
#[derive(Debug, Default)]
pub struct Scan {
    /// Files kept, with their meta.
    pub files: Vec<(PathBuf, FileMeta)>,
    /// Folders listed (the start folder first).
    pub dirs: Vec<PathBuf>,
    /// Folders that could not be listed, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// What [`visit`] reports while it lists a tree, folder by folder: each
/// folder is announced, read in one go and closed before the next one is.
pub trait Visitor {
    /// Whether the folder `dir` below the start is left out, with all it holds.
    fn prune(&mut self, dir: &Path) -> bool;
    /// Called with each folder before it is read, so that a watch put on it
    /// then cannot miss a file created while it is being read.
    fn enter(&mut self, dir: &Path);
    /// `dir` could be opened; its files follow.
    fn open(&mut self, dir: &Path);
    /// One entry of the open folder that is not a folder (symlinks included,
    /// never followed); [`entry_stat`] reads its meta when wanted.
    fn file(&mut self, path: PathBuf, entry: &DirEntry);
    /// The open folder has been read to the end.
    fn close(&mut self, dir: PathBuf);
    /// `dir` exists but could not be listed, in the OS's words.
    fn unreadable(&mut self, dir: PathBuf, reason: String);
}

/// The meta of a listed entry and when it last changed (its inode change
/// time, nanoseconds since the epoch), or `None` if it is gone.
pub fn entry_stat(entry: &DirEntry) -> Option<(FileMeta, i64)> {
    let md = entry.metadata().ok()?;
    let meta = FileMeta::of(&md);
    Some((meta, changed_ns(&md).max(meta.mtime_ns)))
}

#[cfg(unix)]
fn changed_ns(md: &Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    md.ctime().saturating_mul(1_000_000_000).saturating_add(md.ctime_nsec())
}

#[cfg(not(unix))]
fn changed_ns(_: &Metadata) -> i64 {
    i64::MIN
}

/// Lists `start` (and, when `descend`, the folders below it that the visitor
/// does not prune), reporting what it finds to `visitor`. A folder that
/// vanished is skipped silently.
pub fn visit(start: &Path, descend: bool, visitor: &mut dyn Visitor) {
    let mut stack = vec![start.to_path_buf()];
    while let Some(dir) = stack.pop() {
        visitor.enter(&dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    visitor.unreadable(dir, e.to_string());
                }
                continue;
            }
        };
        visitor.open(&dir);
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if !ft.is_dir() {
                visitor.file(path, &entry);
            } else if descend && !visitor.prune(&path) {
                stack.push(path);
            }
        }
        visitor.close(dir);
    }
}

/// A [`Visitor`] that gathers a [`Scan`].
struct Collect<'a> {
    prune: &'a dyn Fn(&Path) -> bool,
    keep: &'a dyn Fn(&Path) -> bool,
    before_list: &'a mut dyn FnMut(&Path),
    scan: Scan,
}

impl Visitor for Collect<'_> {
    fn prune(&mut self, dir: &Path) -> bool {
        (self.prune)(dir)
    }

    fn enter(&mut self, dir: &Path) {
        (self.before_list)(dir);
    }

    fn open(&mut self, _: &Path) {}

    fn file(&mut self, path: PathBuf, entry: &DirEntry) {
        if (self.keep)(&path) {
            if let Ok(md) = entry.metadata() {
                self.scan.files.push((path, FileMeta::of(&md)));
            }
        }
    }

    fn close(&mut self, dir: PathBuf) {
        self.scan.dirs.push(dir);
    }

    fn unreadable(&mut self, dir: PathBuf, reason: String) {
        self.scan.unreadable.push((dir, reason));
    }
}

/// Lists `start` (and, when `descend`, the folders below it that `prune`
/// does not reject), keeping the files `keep` accepts. `before_list` is called
/// with each folder before it is read, so that a watch put on it then cannot
/// miss a file created while the folder is being read. Symlinks are reported
/// as files and never followed.
pub fn walk(
    start: &Path,
    descend: bool,
    prune: &dyn Fn(&Path) -> bool,
    keep: &dyn Fn(&Path) -> bool,
    before_list: &mut dyn FnMut(&Path),
) -> Scan {
    let mut collect = Collect {
        prune,
        keep,
        before_list,
        scan: Scan::default(),
    };
    visit(start, descend, &mut collect);
    collect.scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn all(_: &Path) -> bool {
        true
    }
    fn none(_: &Path) -> bool {
        false
    }

    #[test]
    fn index_records_and_forgets_files() {
        let mut ix = Index::new();
        let meta = FileMeta { size: 3, mtime_ns: 7 };
        ix.insert(Path::new("/r/a/x"), meta);
        ix.insert(Path::new("/r/a/x"), meta);
        ix.insert(Path::new("/r/b/y"), meta);
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.get(Path::new("/r/a/x")), Some(meta));
        assert!(ix.contains(Path::new("/r/b/y")));
        let mut under = ix.files_under(Path::new("/r"), true);
        under.sort();
        assert_eq!(under, vec![PathBuf::from("/r/a/x"), PathBuf::from("/r/b/y")]);
        assert!(ix.files_under(Path::new("/r"), false).is_empty());
        assert!(ix.remove(Path::new("/r/a/x")));
        assert!(!ix.remove(Path::new("/r/a/x")));
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn walk_prunes_keeps_and_calls_back_before_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join("skip/c")).unwrap();
        fs::write(root.join("top.txt"), "1").unwrap();
        fs::write(root.join("a/b/deep.txt"), "22").unwrap();
        fs::write(root.join("a/other.csv"), "").unwrap();
        fs::write(root.join("skip/c/hidden.txt"), "").unwrap();
        let prune = |p: &Path| p.ends_with("skip");
        let keep = |p: &Path| p.extension().is_some_and(|e| e == "txt");
        let mut visited = Vec::new();
        let scan = walk(root, true, &prune, &keep, &mut |d: &Path| visited.push(d.to_path_buf()));
        let mut files: Vec<_> = scan
            .files
            .iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        files.sort();
        assert_eq!(files, vec![PathBuf::from("a/b/deep.txt"), PathBuf::from("top.txt")]);
        assert_eq!(visited.len(), 3);
        assert_eq!(visited[0], root);
        assert!(!visited.iter().any(|d| d.starts_with(root.join("skip"))));
        let deep = scan.files.iter().find(|(p, _)| p.ends_with("deep.txt")).unwrap();
        assert_eq!(deep.1.size, 2);
    }

    #[test]
    fn walk_without_descend_lists_one_folder() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("d")).unwrap();
        fs::write(tmp.path().join("d/x"), "").unwrap();
        fs::write(tmp.path().join("y"), "").unwrap();
        let scan = walk(tmp.path(), false, &none, &all, &mut |_: &Path| {});
        assert_eq!(scan.files.len(), 1);
        assert!(scan.files[0].0.ends_with("y"));
    }

    #[test]
    fn a_folder_taken_out_of_the_index_can_be_put_back() {
        let mut ix = Index::new();
        let meta = FileMeta { size: 1, mtime_ns: 2 };
        ix.insert(Path::new("/r/a/x"), meta);
        ix.insert(Path::new("/r/a/y"), meta);
        ix.insert(Path::new("/r/b/z"), meta);
        let mut dirs = ix.dirs_under(Path::new("/r"), true);
        dirs.sort();
        assert_eq!(dirs, vec![PathBuf::from("/r/a"), PathBuf::from("/r/b")]);
        assert!(ix.dirs_under(Path::new("/r"), false).is_empty());
        let mut files = ix.take_dir(Path::new("/r/a"));
        assert_eq!((files.len(), ix.len()), (2, 1));
        assert!(!ix.contains(Path::new("/r/a/x")));
        assert!(ix.take_dir(Path::new("/r/nothing")).is_empty());
        files.remove(std::ffi::OsStr::new("x"));
        ix.put_dir(Path::new("/r/a"), files);
        assert_eq!(ix.len(), 2);
        assert!(ix.contains(Path::new("/r/a/y")) && !ix.contains(Path::new("/r/a/x")));
        ix.put_dir(Path::new("/r/b"), FxHashMap::default());
        assert_eq!(ix.len(), 1);
        assert!(ix.dirs_under(Path::new("/r/b"), false).is_empty());
    }

    /// Records what a visit reports, in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Visitor for Log {
        fn prune(&mut self, dir: &Path) -> bool {
            dir.ends_with("skip")
        }
        fn enter(&mut self, dir: &Path) {
            self.0
                .push(format!("enter {}", dir.file_name().unwrap().to_string_lossy()));
        }
        fn open(&mut self, dir: &Path) {
            self.0
                .push(format!("open {}", dir.file_name().unwrap().to_string_lossy()));
        }
        fn file(&mut self, path: PathBuf, entry: &DirEntry) {
            let (meta, changed_ns) = entry_stat(entry).unwrap();
            assert!(changed_ns >= meta.mtime_ns && changed_ns > 0);
            self.0.push(format!(
                "file {} {}",
                path.file_name().unwrap().to_string_lossy(),
                meta.size
            ));
        }
        fn close(&mut self, dir: PathBuf) {
            self.0
                .push(format!("close {}", dir.file_name().unwrap().to_string_lossy()));
        }
        fn unreadable(&mut self, dir: PathBuf, reason: String) {
            self.0.push(format!("unreadable {} {reason}", dir.display()));
        }
    }

    #[test]
    fn visit_reports_each_folder_entered_opened_listed_and_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("top");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join("skip")).unwrap();
        fs::write(root.join("sub/f"), "123").unwrap();
        fs::write(root.join("skip/hidden"), "").unwrap();
        let mut log = Log::default();
        visit(&root, true, &mut log);
        assert_eq!(
            log.0,
            [
                "enter top",
                "open top",
                "close top",
                "enter sub",
                "open sub",
                "file f 3",
                "close sub"
            ]
        );
        let mut flat = Log::default();
        visit(&root, false, &mut flat);
        assert_eq!(flat.0, ["enter top", "open top", "close top"]);
    }

    #[test]
    fn walk_of_a_missing_folder_is_empty() {
        let scan = walk(Path::new("/definitely/not/here"), true, &none, &all, &mut |_: &Path| {});
        assert!(scan.files.is_empty() && scan.unreadable.is_empty());
    }
}

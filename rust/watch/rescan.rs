//! What the watcher knows about the files on disk, and how it re-learns it.
//!
//! The [`Index`] holds, for each watched file that some subscription wants,
//! its size and modification time — nothing more — grouped by folder so that
//! a path costs only its name. [`walk`] lists a tree (pruning ignored folders,
//! calling back before each folder is read so the caller can put an OS watch
//! on it first), and [`diff`] turns a fresh listing into the created, modified
//! and deleted changes the index missed. The watcher uses them at start, when
//! the kernel queue overflows or a watch is lost, and for polled subtrees.

use std::ffi::OsString;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

use rustc_hash::{FxHashMap, FxHashSet};

use super::debounce::Change;

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
    let mut scan = Scan::default();
    let mut stack = vec![start.to_path_buf()];
    while let Some(dir) = stack.pop() {
        before_list(&dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    scan.unreadable.push((dir.clone(), e.to_string()));
                }
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                if descend && !prune(&path) {
                    stack.push(path);
                }
            } else if keep(&path) {
                if let Ok(md) = entry.metadata() {
                    scan.files.push((path, FileMeta::of(&md)));
                }
            }
        }
        scan.dirs.push(dir);
    }
    scan
}

/// The changes that turn what `index` knows about `scope` (and below it when
/// `descend`) into what `scan` found there.
pub fn diff(index: &Index, scope: &Path, descend: bool, scan: &Scan) -> Vec<(PathBuf, Change)> {
    let mut out = Vec::new();
    let mut seen: FxHashSet<&Path> = FxHashSet::default();
    seen.reserve(scan.files.len());
    for (path, meta) in &scan.files {
        seen.insert(path.as_path());
        match index.get(path) {
            None => out.push((path.clone(), Change::Created)),
            Some(known) if known != *meta => out.push((path.clone(), Change::Modified)),
            Some(_) => {}
        }
    }
    for path in index.files_under(scope, descend) {
        if !seen.contains(path.as_path()) {
            out.push((path, Change::Deleted));
        }
    }
    out
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
    fn diff_reports_created_modified_and_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("same"), "s").unwrap();
        fs::write(root.join("changed"), "c").unwrap();
        fs::write(root.join("new"), "n").unwrap();
        let mut ix = Index::new();
        ix.insert(&root.join("same"), stat(&root.join("same")).unwrap());
        ix.insert(&root.join("changed"), FileMeta { size: 99, mtime_ns: 1 });
        ix.insert(&root.join("gone"), FileMeta::default());
        let scan = walk(root, true, &none, &all, &mut |_: &Path| {});
        let mut got: Vec<(String, Change)> = diff(&ix, root, true, &scan)
            .into_iter()
            .map(|(p, c)| (p.file_name().unwrap().to_string_lossy().into_owned(), c))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                ("changed".into(), Change::Modified),
                ("gone".into(), Change::Deleted),
                ("new".into(), Change::Created),
            ]
        );
    }

    #[test]
    fn walk_of_a_missing_folder_is_empty() {
        let scan = walk(Path::new("/definitely/not/here"), true, &none, &all, &mut |_: &Path| {});
        assert!(scan.files.is_empty() && scan.unreadable.is_empty());
    }
}

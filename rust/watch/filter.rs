//! Include and ignore globs, compiled once, applied to root-relative paths.
//!
//! Pattern semantics (docs/guide/watching.md, "Handlers"):
//! - a pattern without `/` and without `**` (`*.txt`) matches the file name at
//!   any depth;
//! - a pattern with `/` or `**` (`data/*.csv`, `**/*.json`) matches the path
//!   relative to the root; `**/` matches zero or more folders, so `**/*.json`
//!   also matches files directly in the root;
//! - `*` never crosses `/`.
//!
//! Ignore patterns follow the same rules, but a name pattern ignores a path
//! when *any* of its components matches (so `node_modules` prunes the whole
//! folder), and a path pattern also ignores everything below a matching
//! folder. A trailing `/` (`.git/`) is accepted and means the same thing.

use std::path::{Component, Path};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::error::WatchError;

/// Folders and editor files ignored unless default ignores are turned off.
pub const DEFAULT_IGNORES: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".tox",
    ".nox",
    ".venv",
    ".idea",
    "node_modules",
    ".DS_Store",
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    "*.py[cod]",
    "*___jb_tmp___",
    "*___jb_old___",
];

/// Whether a pattern is matched against the root-relative path (else the name).
fn is_path_pattern(p: &str) -> bool {
    p.contains('/') || p.contains("**")
}

fn normalise(p: &str) -> &str {
    let p = p.strip_prefix("./").unwrap_or(p);
    p.trim_start_matches('/')
}

/// Compiles one glob with ferroflow's rules, or says what is wrong with it.
pub fn compile(pattern: &str) -> Result<globset::Glob, WatchError> {
    if pattern.trim().is_empty() {
        return Err(WatchError::Pattern {
            pattern: pattern.to_owned(),
            reason: "a pattern cannot be empty".to_owned(),
        });
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| WatchError::Pattern {
            pattern: pattern.to_owned(),
            reason: e.kind().to_string(),
        })
}

#[derive(Debug, Default)]
struct Split {
    names: Option<GlobSet>,
    paths: Option<GlobSet>,
    /// Path patterns ending in `/**`, without that suffix: they match a folder.
    dirs: Option<GlobSet>,
}

fn build(set: GlobSetBuilder, any: bool, original: &[String]) -> Result<Option<GlobSet>, WatchError> {
    if !any {
        return Ok(None);
    }
    set.build().map(Some).map_err(|e| WatchError::Pattern {
        pattern: original.join(", "),
        reason: e.to_string(),
    })
}

impl Split {
    fn new(patterns: &[String]) -> Result<Split, WatchError> {
        let (mut names, mut paths, mut dirs) = (GlobSetBuilder::new(), GlobSetBuilder::new(), GlobSetBuilder::new());
        let (mut any_name, mut any_path, mut any_dir) = (false, false, false);
        for raw in patterns {
            let trimmed = raw.strip_suffix('/').unwrap_or(raw);
            let p = normalise(trimmed);
            if p.is_empty() {
                compile("")?;
            }
            if is_path_pattern(p) {
                // Validate against the user's spelling so the error names it.
                compile(raw.as_str()).and_then(|_| compile(p))?;
                paths.add(compile(p)?);
                any_path = true;
                if let Some(prefix) = p.strip_suffix("/**") {
                    if !prefix.is_empty() {
                        dirs.add(compile(prefix)?);
                        any_dir = true;
                    }
                }
            } else {
                names.add(compile(p).map_err(|e| e.with_pattern(raw))?);
                any_name = true;
            }
        }
        Ok(Split {
            names: build(names, any_name, patterns)?,
            paths: build(paths, any_path, patterns)?,
            dirs: build(dirs, any_dir, patterns)?,
        })
    }

    fn name_matches(&self, name: &Path) -> bool {
        self.names.as_ref().is_some_and(|s| s.is_match(name))
    }

    fn path_matches(&self, rel: &Path) -> bool {
        self.paths.as_ref().is_some_and(|s| s.is_match(rel))
    }

    fn dir_matches(&self, rel: &Path) -> bool {
        self.path_matches(rel) || self.dirs.as_ref().is_some_and(|s| s.is_match(rel))
    }
}

/// Which files of one root a subscription wants.
#[derive(Debug)]
pub struct Filter {
    include: Split,
    include_all: bool,
    ignore: Split,
    recursive: bool,
}

impl Filter {
    /// Compiles include `patterns` (empty: every file), `ignore` patterns
    /// (added to [`DEFAULT_IGNORES`] when `default_ignores`), for a root
    /// watched recursively or not.
    ///
    /// # Example
    /// ```
    /// use std::path::Path;
    /// use _core::watch::filter::Filter;
    ///
    /// let f = Filter::new(&["*.txt".into()], &[], true, true).unwrap();
    /// assert!(f.matches(Path::new("a/b/notes.txt")));
    /// assert!(!f.matches(Path::new(".git/notes.txt")));
    /// ```
    pub fn new(
        patterns: &[String],
        ignore: &[String],
        default_ignores: bool,
        recursive: bool,
    ) -> Result<Self, WatchError> {
        let mut ignores: Vec<String> = Vec::new();
        if default_ignores {
            ignores.extend(DEFAULT_IGNORES.iter().map(|s| (*s).to_owned()));
        }
        ignores.extend(ignore.iter().cloned());
        Ok(Filter {
            include: Split::new(patterns)?,
            include_all: patterns.is_empty(),
            ignore: Split::new(&ignores)?,
            recursive,
        })
    }

    /// Whether the subscription wants the file at `rel` (relative to its root).
    pub fn matches(&self, rel: &Path) -> bool {
        let mut depth = 0usize;
        for c in rel.components() {
            match c {
                Component::Normal(_) => depth += 1,
                _ => return false,
            }
        }
        if depth == 0 || (!self.recursive && depth > 1) {
            return false;
        }
        if self.is_ignored(rel) {
            return false;
        }
        if self.include_all {
            return true;
        }
        let name = rel.file_name().map(Path::new).unwrap_or(rel);
        self.include.name_matches(name) || self.include.path_matches(rel)
    }

    /// Whether the file at `rel` or one of its folders is ignored.
    pub fn is_ignored(&self, rel: &Path) -> bool {
        if let Some(name) = rel.file_name() {
            if self.ignore.name_matches(Path::new(name)) || self.ignore.path_matches(rel) {
                return true;
            }
        }
        let mut parent = rel.parent();
        while let Some(dir) = parent {
            if dir.as_os_str().is_empty() {
                break;
            }
            if self.prunes_dir(dir) {
                return true;
            }
            parent = dir.parent();
        }
        false
    }

    /// Whether the folder at `rel_dir` is ignored as a whole (no OS watch is
    /// spent on it and it is not walked). The root itself is never pruned.
    pub fn prunes_dir(&self, rel_dir: &Path) -> bool {
        if rel_dir.as_os_str().is_empty() {
            return false;
        }
        if !self.recursive {
            return true;
        }
        let name = rel_dir.file_name().map(Path::new).unwrap_or(rel_dir);
        self.ignore.name_matches(name) || self.ignore.dir_matches(rel_dir)
    }

    /// Whether the root is watched recursively.
    pub fn recursive(&self) -> bool {
        self.recursive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(patterns: &[&str], ignore: &[&str]) -> Filter {
        let p: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        let i: Vec<String> = ignore.iter().map(|s| (*s).to_owned()).collect();
        Filter::new(&p, &i, true, true).unwrap()
    }

    fn m(filter: &Filter, path: &str) -> bool {
        filter.matches(Path::new(path))
    }

    #[test]
    fn name_pattern_matches_at_any_depth() {
        let x = f(&["*.txt"], &[]);
        assert!(m(&x, "a.txt"));
        assert!(m(&x, "d/e/a.txt"));
        assert!(!m(&x, "a.csv"));
        assert!(!m(&x, "a.txt/b.csv"));
    }

    #[test]
    fn path_pattern_matches_relative_path_and_star_does_not_cross_slash() {
        let x = f(&["data/*.csv"], &[]);
        assert!(m(&x, "data/a.csv"));
        assert!(!m(&x, "data/sub/a.csv"));
        assert!(!m(&x, "a.csv"));
        assert!(!m(&x, "other/data/a.csv"));
    }

    #[test]
    fn double_star_matches_zero_or_more_folders() {
        let x = f(&["**/*.json"], &[]);
        assert!(m(&x, "a.json"));
        assert!(m(&x, "x/a.json"));
        assert!(m(&x, "x/y/z/a.json"));
        assert!(!m(&x, "a.jsonl"));
        let y = f(&["src/**/*.py"], &[]);
        assert!(m(&y, "src/a.py"));
        assert!(m(&y, "src/p/q/a.py"));
        assert!(!m(&y, "lib/a.py"));
    }

    #[test]
    fn leading_dot_slash_is_accepted() {
        assert!(m(&f(&["./data/*.csv"], &[]), "data/a.csv"));
    }

    #[test]
    fn several_patterns_are_alternatives() {
        let x = f(&["*.txt", "*.md"], &[]);
        assert!(m(&x, "a.txt") && m(&x, "b/a.md") && !m(&x, "a.rs"));
    }

    #[test]
    fn no_pattern_matches_everything_not_ignored() {
        let x = f(&[], &[]);
        assert!(m(&x, "a"));
        assert!(m(&x, "q/r/s"));
    }

    #[test]
    fn default_ignores_cover_vcs_caches_and_editor_files() {
        let x = f(&[], &[]);
        for p in [
            ".git/HEAD",
            "sub/.git/objects/ab",
            "pkg/__pycache__/m.cpython-311.pyc",
            "node_modules/x/index.js",
            ".notes.txt.swp",
            "notes.txt~",
            ".#notes.txt",
            "#notes.txt#",
            "m.pyc",
        ] {
            assert!(!m(&x, p), "{p} should be ignored");
        }
        assert!(m(&x, "gitignore.txt"));
    }

    #[test]
    fn default_ignores_can_be_turned_off() {
        let x = Filter::new(&[], &[], false, true).unwrap();
        assert!(x.matches(Path::new(".git/HEAD")));
    }

    #[test]
    fn user_ignores_by_name_and_by_path() {
        let x = f(&["*.txt"], &["build", "docs/**", "*.tmp.txt", "logs/"]);
        assert!(!m(&x, "build/a.txt"));
        assert!(!m(&x, "x/build/a.txt"));
        assert!(!m(&x, "docs/a.txt"));
        assert!(!m(&x, "docs/deep/a.txt"));
        assert!(m(&x, "x/docs/a.txt"));
        assert!(!m(&x, "a.tmp.txt"));
        assert!(!m(&x, "logs/a.txt"));
        assert!(m(&x, "a.txt"));
    }

    #[test]
    fn ignored_folders_are_pruned() {
        let x = f(&[], &["docs/**", "vendor"]);
        for d in [".git", "a/node_modules", "docs", "docs/sub", "vendor", "x/vendor"] {
            assert!(x.prunes_dir(Path::new(d)), "{d} should be pruned");
        }
        for d in ["", "src", "src/git", "x/docs"] {
            assert!(!x.prunes_dir(Path::new(d)), "{d} should not be pruned");
        }
    }

    #[test]
    fn non_recursive_matches_only_files_in_the_root() {
        let x = Filter::new(&[], &[], true, false).unwrap();
        assert!(x.matches(Path::new("a.txt")));
        assert!(!x.matches(Path::new("d/a.txt")));
        assert!(x.prunes_dir(Path::new("d")));
        assert!(!x.recursive());
    }

    #[test]
    fn invalid_glob_is_reported_with_the_pattern() {
        let err = Filter::new(&["data/[a.csv".into()], &[], true, true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("data/[a.csv"), "{msg}");
        let err = Filter::new(&[], &["{a,b".into()], true, true).unwrap_err();
        assert!(err.to_string().contains("{a,b"), "{err}");
        assert!(Filter::new(&["".into()], &[], true, true).is_err());
    }

    #[test]
    fn absolute_or_parent_paths_never_match() {
        let x = f(&[], &[]);
        assert!(!m(&x, "/etc/passwd"));
        assert!(!m(&x, "../a.txt"));
        assert!(!m(&x, ""));
    }
}

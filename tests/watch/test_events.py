"""Change and FileEvent."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import watchfiles
from ferroflow import Change, FileEvent


def test_change_values_match_watchfiles() -> None:
    assert [(c.name, int(c)) for c in Change] == [("added", 1), ("modified", 2), ("deleted", 3)]
    for c in Change:
        assert int(watchfiles.Change[c.name]) == int(c)


def test_file_event_is_frozen_and_has_predicates() -> None:
    e = FileEvent(Change.modified, "/r/sub/a.txt", "/r", "*.txt")
    assert (e.is_created, e.is_modified, e.is_deleted) == (False, True, False)
    assert e.name == "a.txt"
    assert e.relative_path == "sub/a.txt"
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.path = "/x"  # type: ignore[misc]
    assert FileEvent(Change.added, "/r/a", "/r").pattern is None
    assert FileEvent(Change.deleted, "/r/a", "/r").is_deleted
    assert e == FileEvent(Change.modified, "/r/sub/a.txt", "/r", "*.txt")


def test_file_event_paths_are_pathlib_paths() -> None:
    e = FileEvent(Change.added, "/r/sub/a.tar.gz", Path("/r"))
    assert isinstance(e.path, Path) and isinstance(e.root, Path)
    assert (e.path.suffix, e.path.stem, e.path.parent) == (".gz", "a.tar", Path("/r/sub"))
    assert e.root == Path("/r") and e.path.relative_to(e.root) == Path("sub/a.tar.gz")
    assert FileEvent(2, Path("/r/x"), "/r") == FileEvent(Change.modified, "/r/x", "/r")
    assert hash(FileEvent(2, Path("/r/x"), "/r")) == hash(FileEvent(Change.modified, "/r/x", "/r"))


def test_the_inbox_example_handles_existing_and_new_files(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "watch_inbox.py"
    env = {**os.environ, "FERROFLOW_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, str(script), "--demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["existing.csv: 1 rows", "new.csv: 3 rows"]

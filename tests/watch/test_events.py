"""Change and FileEvent."""

from __future__ import annotations

import dataclasses

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

"""The decorators: what they register, every option, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from ferroflow import Change, FileEvent, WatchApp, on_any, on_created, on_deleted, on_modified
from ferroflow.errors import FerroflowError, WatchError
from ferroflow.watch import WatchHandlerError, default_app, reset_default_app

from .conftest import Recorder, settle, with_marker


def test_each_decorator_registers_its_changes_and_returns_the_function(inbox: Path) -> None:
    app = WatchApp()

    def created(event: FileEvent) -> None: ...
    def modified(event: FileEvent) -> None: ...
    def deleted(event: FileEvent) -> None: ...
    def anything(event: FileEvent) -> None: ...

    assert on_created(inbox, app=app)(created) is created
    assert on_modified(inbox, app=app)(modified) is modified
    assert on_deleted(inbox, app=app)(deleted) is deleted
    assert on_any(inbox, app=app)(anything) is anything
    assert [h.events for h in app.handlers] == [
        [Change.added],
        [Change.modified],
        [Change.deleted],
        [Change.added, Change.modified, Change.deleted],
    ]
    assert [h.name.rsplit(".", 1)[-1] for h in app.handlers] == ["created", "modified", "deleted", "anything"]
    assert all(h.root == str(inbox) for h in app.handlers)


def test_options_are_recorded(inbox: Path) -> None:
    app = WatchApp()

    @on_created(inbox, pattern=["*.csv", "in/**"], process_existing=True, priority=7, recursive=False,
                ignore="tmp", stable_for=2.5, app=app)  # fmt: skip
    def h(event: FileEvent) -> None: ...

    (info,) = app.handlers
    assert (info.pattern, info.process_existing, info.priority, info.recursive, info.ignore, info.stable_for) == (
        ["*.csv", "in/**"],
        True,
        7,
        False,
        ("tmp",),
        2.5,
    )


def test_decorators_use_the_default_app(inbox: Path) -> None:
    @on_created(inbox)
    def h(event: FileEvent) -> None: ...

    assert [x.fn for x in default_app().handlers] == [h]
    fresh = reset_default_app()
    assert fresh is default_app() and fresh.handlers == []


def test_invalid_pattern_is_a_watch_error_naming_it(inbox: Path) -> None:
    with pytest.raises(WatchError, match=r"\[oops.*inbox"):
        on_created(inbox, pattern="[oops", app=WatchApp())(lambda e: None)
    with pytest.raises(WatchError, match=r"\{a,b"):
        on_any(inbox, ignore=["{a,b"], app=WatchApp())(lambda e: None)


def test_handler_that_is_not_callable_is_an_error_naming_it(inbox: Path) -> None:
    with pytest.raises(WatchHandlerError, match="not callable") as info:
        WatchApp().add_handler("print", inbox)  # type: ignore[arg-type]
    assert isinstance(info.value, FerroflowError) and isinstance(info.value, TypeError)


def test_handler_with_the_wrong_signature_is_an_error_naming_it(inbox: Path) -> None:
    def two_args(event: FileEvent, other: int) -> None: ...

    def no_args() -> None: ...

    with pytest.raises(WatchHandlerError, match=r"two_args.*one argument"):
        on_created(inbox, app=WatchApp())(two_args)
    with pytest.raises(WatchHandlerError, match=r"no_args"):
        on_modified(inbox, app=WatchApp())(no_args)

    def flexible(event: FileEvent, extra: int = 0, *rest: object) -> None: ...

    on_deleted(inbox, app=WatchApp())(flexible)


def test_bad_events_and_stable_for_are_errors(inbox: Path) -> None:
    with pytest.raises(WatchError, match="unknown change"):
        WatchApp().add_handler(lambda e: None, inbox, [9])
    with pytest.raises(WatchError, match="stable_for"):
        on_created(inbox, stable_for=-1, app=WatchApp())(lambda e: None)


@pytest.mark.parametrize("decorator", [on_created, on_modified, on_deleted, on_any])
def test_process_existing_works_on_every_decorator(decorator: object, inbox: Path, app: WatchApp) -> None:
    (inbox / "sub").mkdir()
    for name in ["a.txt", "sub/b.txt", "c.csv"]:
        (inbox / name).write_text("x")
    rec = Recorder()
    decorator(inbox, pattern="*.txt", process_existing=True, app=app)(rec)  # type: ignore[operator]
    app.start()
    events = rec.wait_for(2)
    assert sorted(rec.names()) == [(Change.added, "a.txt"), (Change.added, "sub/b.txt")]
    assert all(e.pattern == "*.txt" and e.root == inbox and isinstance(e.root, Path) for e in events)


def test_process_existing_honours_recursive_and_ignores(inbox: Path, app: WatchApp) -> None:
    for d in ["sub", "skip", ".git"]:
        (inbox / d).mkdir()
    for name in ["top.txt", "sub/deep.txt", "skip/no.txt", ".git/no.txt", "x.txt~"]:
        (inbox / name).write_text("x")
    flat, deep = Recorder("flat"), Recorder("deep")
    on_created(inbox, process_existing=True, recursive=False, app=app)(flat)
    on_created(inbox, process_existing=True, ignore=["skip"], app=app)(deep)
    with_marker(app, inbox)
    app.start()
    settle(app, inbox)
    assert flat.names() == [(Change.added, "top.txt")]
    assert sorted(deep.names()) == [(Change.added, "sub/deep.txt"), (Change.added, "top.txt")]


def test_recursive_false_ignores_sub_folders(inbox: Path, app: WatchApp) -> None:
    (inbox / "sub").mkdir()
    rec = Recorder()
    on_any(inbox, recursive=False, app=app)(rec)
    with_marker(app, inbox)
    app.start()
    (inbox / "sub" / "no.txt").write_text("x")
    (inbox / "yes.txt").write_text("x")
    settle(app, inbox)
    assert rec.names() == [(Change.added, "yes.txt")]


def test_app_recursive_default_applies_when_the_handler_does_not_say(inbox: Path) -> None:
    (inbox / "sub").mkdir()
    app = WatchApp(debounce=0.1, recursive=False)
    rec = Recorder()
    on_created(inbox, app=app)(rec)
    with_marker(app, inbox)
    app.start()
    try:
        (inbox / "sub" / "no.txt").write_text("x")
        (inbox / "yes.txt").write_text("x")
        settle(app, inbox)
    finally:
        app.stop()
    assert rec.names() == [(Change.added, "yes.txt")]


def test_patterns_on_decorators_follow_the_glob_rules(inbox: Path, app: WatchApp) -> None:
    names, json_any, csv_top = Recorder("names"), Recorder("json"), Recorder("csv")
    on_created(inbox, pattern="*.txt", app=app)(names)
    on_created(inbox, pattern="**/*.json", app=app)(json_any)
    on_created(inbox, pattern="data/*.csv", app=app)(csv_top)
    with_marker(app, inbox)
    app.start()
    (inbox / "data" / "deep").mkdir(parents=True)
    for f in ["a.txt", "data/deep/b.txt", "c.json", "data/deep/d.json", "data/e.csv", "data/deep/f.csv"]:
        (inbox / f).write_text("x")
    settle(app, inbox)
    assert sorted(names.names()) == [(Change.added, "a.txt"), (Change.added, "data/deep/b.txt")]
    assert sorted(json_any.names()) == [(Change.added, "c.json"), (Change.added, "data/deep/d.json")]
    assert csv_top.names() == [(Change.added, "data/e.csv")]
    assert {e.pattern for e in json_any.events} == {"**/*.json"}


def test_a_list_of_patterns_matches_any_and_names_the_one_that_matched(inbox: Path, app: WatchApp) -> None:
    rec = Recorder()
    on_created(inbox, pattern=["*.csv", "reports/**/*.pdf"], app=app)(rec)
    with_marker(app, inbox)
    app.start()
    (inbox / "reports" / "2026").mkdir(parents=True)
    for f in ["a.csv", "reports/2026/q1.pdf", "b.pdf", "c.txt"]:
        (inbox / f).write_text("x")
    settle(app, inbox)
    got = sorted((e.relative_path, e.pattern) for e in rec.events if not e.name.endswith(".marker"))
    assert got == [("a.csv", "*.csv"), ("reports/2026/q1.pdf", "reports/**/*.pdf")]

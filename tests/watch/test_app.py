"""WatchApp: lifecycle, signals, stats, errors, and end-to-end event semantics."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from ferroflow import Change, FileEvent, WatchApp, on_any, on_created, on_deleted, on_modified
from ferroflow.errors import WatchError
from ferroflow.watch import default_app

from ..conftest import wait_until
from .conftest import Recorder, settle, with_marker

# ---------------------------------------------------------------- lifecycle


def test_start_stop_and_is_running_in_background_mode(inbox: Path, app: WatchApp) -> None:
    rec = Recorder()
    on_created(inbox, app=app)(rec)
    assert not app.is_running
    app.start()
    assert app.is_running
    with pytest.raises(WatchError, match="already running"):
        app.start()
    (inbox / "a").write_text("x")
    rec.wait_for(1)
    app.stop()
    assert not app.is_running
    app.stop()  # idempotent
    threads = [t.name for t in threading.enumerate() if t.name.startswith("ferroflow-watch")]
    assert threads == []
    app.start()  # can start again
    assert app.is_running


def test_run_blocks_is_running_and_returns_after_stop(inbox: Path, app: WatchApp) -> None:
    rec = Recorder()
    on_created(inbox, app=app)(rec)
    runner = threading.Thread(target=app.run)
    runner.start()
    wait_until(lambda: app.is_running)
    (inbox / "a").write_text("x")
    rec.wait_for(1)
    app.stop()
    runner.join(10)
    assert not runner.is_alive() and not app.is_running


def test_stop_lets_a_running_handler_finish(inbox: Path, app: WatchApp) -> None:
    started, finished = threading.Event(), threading.Event()

    @on_created(inbox, app=app)
    def slow(event: FileEvent) -> None:
        started.set()
        time.sleep(0.5)
        finished.set()

    app.start()
    (inbox / "a").write_text("x")
    assert started.wait(10)
    app.stop()
    assert finished.is_set()


def test_a_handler_may_stop_its_own_app(inbox: Path, app: WatchApp) -> None:
    @on_created(inbox, app=app)
    def stopper(event: FileEvent) -> None:
        app.stop()

    app.start()
    (inbox / "a").write_text("x")
    wait_until(lambda: not app.is_running)


def test_no_handlers_is_an_error(app: WatchApp) -> None:
    with pytest.raises(WatchError, match="no handlers"):
        app.start()


def test_bad_roots_fail_at_start_naming_the_root(tmp_path: Path, app: WatchApp) -> None:
    on_created(tmp_path / "missing-inbox", app=app)(lambda e: None)
    with pytest.raises(WatchError, match="missing-inbox.*does not exist"):
        app.start()
    assert not app.is_running
    other = WatchApp()
    (tmp_path / "f.txt").write_text("x")
    on_created(tmp_path / "f.txt", app=other)(lambda e: None)
    with pytest.raises(WatchError, match="f.txt.*not a folder"):
        other.run()


def test_watch_limit_error_mode_says_how_to_fix_it(inbox: Path) -> None:
    (inbox / "sub").mkdir()
    app = WatchApp(watch_limit="error")
    app._max_os_watches = 1
    on_created(inbox, app=app)(lambda e: None)
    with pytest.raises(WatchError, match=r"sub.*max_user_watches.*sysctl.*poll"):
        app.start()


def test_watch_limit_poll_mode_warns_and_still_reports(inbox: Path, caplog: pytest.LogCaptureFixture) -> None:
    (inbox / "big" / "deeper").mkdir(parents=True)
    app = WatchApp(debounce=0.1, poll_interval=0.1)
    app._max_os_watches = 1
    rec = Recorder()
    on_created(inbox, app=app)(rec)
    with caplog.at_level(logging.WARNING, logger="ferroflow.watch"):
        app.start()
    try:
        assert any("watch limit" in r.message and str(inbox / "big") in r.message for r in caplog.records)
        (inbox / "big" / "deeper" / "f.txt").write_text("x")
        rec.wait_for(1)
        assert rec.names() == [(Change.added, "big/deeper/f.txt")]
    finally:
        app.stop()


def _run_script(inbox: Path, sig: int) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        from ferroflow import on_created, run
        from ferroflow.watch import default_app

        @on_created({str(inbox)!r})
        def h(event):
            print("event", event.path, flush=True)

        run()
        print("returned normally", default_app().is_running, flush=True)
        """
    )
    live = threading.Event()

    def ping() -> None:  # touch files until the child reports one: then it is watching
        i = 0
        while not live.wait(0.2):
            (inbox / f"ping{i}").write_text("x")
            i += 1

    pinger = threading.Thread(target=ping)
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        pinger.start()
        try:
            for line in proc.stdout:
                if line.startswith("event"):
                    break
            start = time.monotonic()
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
            assert time.monotonic() - start < 5
        finally:
            live.set()
            pinger.join()
            if proc.poll() is None:
                proc.kill()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ferroflow_run_returns_normally_on_sigint_and_sigterm(inbox: Path, sig: int) -> None:
    done = _run_script(inbox, sig)
    assert done.returncode == 0, done.stderr
    assert "returned normally False" in done.stdout
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- stats and observation


def test_stats_count_events_calls_errors(inbox: Path, app: WatchApp) -> None:
    ok = Recorder("ok")

    @on_any(inbox, app=app)
    def boom(event: FileEvent) -> None:
        raise ValueError("boom")

    on_any(inbox, app=app)(ok)
    app.start()
    f = inbox / "a"
    f.write_text("1")
    ok.wait_for(1)
    f.write_text("22")
    ok.wait_for(2)
    f.unlink()
    ok.wait_for(3)
    wait_until(lambda: app.stats["handler_calls"] == 6)
    s = app.stats
    assert s["events_total"] == 3
    assert s["by_change"] == {"added": 1, "modified": 1, "deleted": 1}
    assert s["handler_errors"] == 3
    assert s["rescans"] == 0
    assert [e.change for e in app.recent_events()] == [Change.added, Change.modified, Change.deleted]


def test_handlers_property_lists_what_the_cli_shows(inbox: Path) -> None:
    app = WatchApp()
    on_created(inbox, pattern="*.csv", priority=3, app=app)(lambda e: None)
    on_deleted(inbox, app=app)(lambda e: None)
    rows = [(h.root, h.events, h.pattern, h.priority) for h in app.handlers]
    assert rows == [(str(inbox), [Change.added], "*.csv", 3), (str(inbox), [Change.deleted], None, 0)]
    assert all(isinstance(h.name, str) and h.name for h in app.handlers)
    app.handlers.clear()
    assert len(app.handlers) == 2
    assert app.roots == [str(inbox)]


def test_cli_overrides_are_plain_attributes_read_at_start(inbox: Path) -> None:
    app = WatchApp(debounce=5.0)
    rec = Recorder()
    on_created(inbox, app=app)(rec)
    app.debounce, app.max_workers, app.recursive = 0.05, 2, False
    (inbox / "sub").mkdir()
    app.start()
    try:
        (inbox / "sub" / "no").write_text("x")
        (inbox / "yes").write_text("x")
        rec.wait_for(1, timeout=3)  # far less than the 5 s given at construction
    finally:
        app.stop()
    assert rec.names() == [(Change.added, "yes")]


def test_listeners_see_every_event(inbox: Path, app: WatchApp) -> None:
    seen: list[FileEvent] = []
    on_created(inbox, app=app)(lambda e: None)
    app.add_listener(seen.append)
    app.start()
    (inbox / "a").write_text("x")
    wait_until(lambda: len(seen) == 1)
    app.remove_listener(seen.append)


def test_json_logs_configure_json_lines_when_nothing_else_did(inbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ferroflow.log import reset_logging

    reset_logging()
    app = WatchApp(debounce=0.05, json_logs=True)

    @on_created(inbox, app=app)
    def bad(event: FileEvent) -> None:
        raise RuntimeError("handler blew up")

    app.start()
    try:
        (inbox / "a").write_text("x")
        wait_until(lambda: app.stats["handler_errors"] == 1)
    finally:
        app.stop()
        reset_logging()
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    failure = next(x for x in lines if "failed" in x["message"])
    assert failure["level"] == "ERROR" and "handler blew up" in json.dumps(failure)


# ---------------------------------------------------------------- semantics end to end


def test_debounce_rules_end_to_end(inbox: Path, app: WatchApp) -> None:
    (inbox / "existing").write_text("old")
    (inbox / "renamed").write_text("r")
    rec = Recorder()
    on_any(inbox, app=app)(rec)
    with_marker(app, inbox)
    app.start()
    f = inbox / "new"
    f.write_text("1")
    f.write_text("12")  # created + modified -> added
    g = inbox / "brief"
    g.write_text("x")
    g.unlink()  # created + deleted -> nothing
    (inbox / "existing").unlink()
    (inbox / "existing").write_text("again")  # deleted + created -> modified
    (inbox / "renamed").rename(inbox / "moved")  # rename -> deleted + added
    settle(app, inbox)
    assert sorted(rec.names()) == [
        (Change.added, "moved"),
        (Change.added, "new"),
        (Change.modified, "existing"),
        (Change.deleted, "renamed"),
    ]


def test_editor_style_saves_are_one_modified_never_deleted(inbox: Path, app: WatchApp) -> None:
    target = inbox / "doc.txt"
    target.write_text("v0")
    rec = Recorder()
    on_any(inbox, pattern="doc.txt", app=app)(rec)
    with_marker(app, inbox)
    app.start()
    # write a temp file, rename it over the target (vim, VS Code, many tools)
    tmp = inbox / ".doc.txt.tmp"
    tmp.write_text("v1")
    os.replace(tmp, target)
    settle(app, inbox)
    assert rec.names() == [(Change.modified, "doc.txt")]
    # truncate, then write
    with target.open("r+") as fh:
        fh.truncate()
        fh.flush()
        fh.write("v2" * 100)
    settle(app, inbox)
    assert rec.names() == [(Change.modified, "doc.txt"), (Change.modified, "doc.txt")]


def test_stable_for_delivers_one_event_with_the_final_size(inbox: Path, app: WatchApp) -> None:
    sizes: list[int] = []

    @on_created(inbox, pattern="*.bin", stable_for=1.0, app=app)
    def on_done(event: FileEvent) -> None:
        sizes.append(os.path.getsize(event.path))

    app.start()
    f = inbox / "copy.bin"
    for _ in range(10):  # 10 chunks over 3 s
        with f.open("ab") as fh:
            fh.write(b"x" * 4096)
        time.sleep(0.3)  # the writer's pace, not a wait for the watcher
    wait_until(lambda: sizes, timeout=20)
    time.sleep(0.5)  # the debounce window is 0.1 s: a second event would have come by now
    assert sizes == [40960]


def test_modify_storm_on_one_file_is_one_or_two_events_per_window(inbox: Path) -> None:
    window = 0.25
    app = WatchApp(debounce=window)
    target = inbox / "hot.log"
    target.write_text("")
    rec = Recorder()
    on_modified(inbox, app=app)(rec)
    with_marker(app, inbox)
    app.start()
    try:
        start = time.monotonic()
        with target.open("a") as fh:
            for i in range(10_000):
                fh.write(f"{i}\n")
                fh.flush()
        elapsed = time.monotonic() - start
        settle(app, inbox)
    finally:
        app.stop()
    n = len(rec.names())
    assert 1 <= n <= 2 * (elapsed / window + 1) + 1, (n, elapsed)


def test_two_hundred_new_trees_give_two_hundred_added_events(inbox: Path, app: WatchApp) -> None:
    rec = Recorder()
    on_created(inbox, pattern="*.txt", app=app)(rec)
    with_marker(app, inbox)
    app.start()
    for i in range(200):
        d = inbox / f"run{i}" / "a" / "b" / "c" / "d"
        d.mkdir(parents=True)
        (d / "result.txt").write_text(str(i))
    rec.wait_for(200)
    settle(app, inbox)
    names = rec.names()
    assert len(names) == len(set(names)) == 200


def test_forced_overflow_through_the_app_loses_nothing(inbox: Path, app: WatchApp) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    rec = Recorder()
    on_created(inbox, app=app)(rec)
    app.start()
    watcher = app.watcher
    assert watcher is not None
    watcher._pause_reader()
    n = limit // 2 + 1000
    for i in range(n):
        fd = os.open(inbox / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    watcher._resume_reader()
    rec.wait_for(n, timeout=60)
    wait_until(lambda: app.stats["rescans"] >= 1)
    names = rec.names()
    assert len(names) == len(set(names)) == n


def test_existing_files_come_before_live_events_and_none_is_missed(inbox: Path, app: WatchApp) -> None:
    for i in range(300):
        (inbox / f"old{i}.txt").write_text("x")
    rec = Recorder()
    on_created(inbox, pattern="*.txt", process_existing=True, app=app)(rec)
    stop = threading.Event()
    made: list[str] = []

    def writer() -> None:  # keeps creating files while the app starts
        i = 0
        while not stop.is_set():
            (inbox / f"new{i}.txt").write_text("x")
            made.append(f"new{i}.txt")
            i += 1
            time.sleep(0.001)

    t = threading.Thread(target=writer)
    t.start()
    try:
        app.start()
        started_at = len(made)
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    rec.wait_for(300 + len(made))
    names = [n for _, n in rec.names()]
    assert sorted(names) == sorted([f"old{i}.txt" for i in range(300)] + made)
    assert len(names) == len(set(names))
    # every existing file is reported before any file created after start() returned
    last_old = max(names.index(f"old{i}.txt") for i in range(300))
    live = [names.index(n) for n in made[started_at + 1 :]]
    assert not live or last_old < min(live)


def test_default_app_and_ferroflow_run_share_the_module_level_app(inbox: Path) -> None:
    import ferroflow

    @on_created(inbox)
    def h(event: FileEvent) -> None:
        default_app().stop()

    runner = threading.Thread(target=ferroflow.run)
    runner.start()
    wait_until(lambda: default_app().is_running)
    (inbox / "a").write_text("x")
    runner.join(20)
    assert not runner.is_alive()


def test_force_polling_mode_reports_changes_without_os_events(inbox: Path) -> None:
    app = WatchApp(debounce=0.05, force_polling=True, poll_interval=0.1)
    rec = Recorder()
    on_any(inbox, app=app)(rec)
    app.start()
    try:
        watcher = app.watcher
        assert watcher is not None and watcher.watched_dirs() == []
        (inbox / "d").mkdir()
        (inbox / "d" / "net.txt").write_text("x")
        rec.wait_for(1)
        (inbox / "d" / "net.txt").unlink()
        rec.wait_for(2)
    finally:
        app.stop()
    assert rec.names() == [(Change.added, "d/net.txt"), (Change.deleted, "d/net.txt")]

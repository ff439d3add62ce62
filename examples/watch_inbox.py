"""File-driven pipeline: count the rows of every CSV file that lands in ./inbox.

Run it, drop CSV files into ./inbox, press Ctrl+C to stop. With the
environment variable FERROFLOW_EXAMPLE_TEST=1 (or ``--demo``) it feeds the
inbox itself and stops once both files were handled.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

Path("inbox").mkdir(exist_ok=True)


def _demo() -> None:
    """Drop one file before and one after the app starts, then stop the app."""
    from ferroflow.watch import default_app

    app = default_app()
    deadline = time.monotonic() + 30
    while not app.is_running and time.monotonic() < deadline:
        time.sleep(0.01)
    Path("inbox/new.csv").write_text("id,name\n1,ada\n2,grace\n3,linus\n")
    while app.stats["handler_calls"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    app.stop()


if os.environ.get("FERROFLOW_EXAMPLE_TEST") or "--demo" in sys.argv:
    Path("inbox/existing.csv").write_text("id\n1\n")
    threading.Thread(target=_demo, daemon=True).start()

from ferroflow import FileEvent, on_created, run


@on_created("inbox", pattern="*.csv", process_existing=True)
def count_rows(event: FileEvent) -> None:
    with open(event.path) as f:
        rows = sum(1 for _ in f) - 1
    print(f"{event.name}: {rows} rows")


if __name__ == "__main__":
    run()  # blocks until Ctrl+C; `ferroflow run file.py` runs the handlers too

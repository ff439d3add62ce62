"""Loading a flow file of 5k to 40k tasks: validation, the workflow and the dry run.

Runnable as ``python benches/bench_flow_load.py [--sizes 5000,10000] [--no-cli]``; prints a
table (not a timed test). For each size, a chain of ``command`` tasks in a JSON file:

- ``json.loads``: reading the file, the floor any loader pays;
- ``load_flow``: parse with positions, validate, check the graph, build the workflow;
- ``+ dry_run``: the above plus the bash script and the plan ``--dry-run`` prints;
- ``ferroflow run X --dry-run``: the command as a user runs it, in a fresh process
  (interpreter start and imports included).

The ``per task`` column stays flat when the work is linear in the number of tasks; the last
column is the load's ratio to ``json.loads``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferroflow import load_flow


def write_chain(folder: Path, n: int) -> Path:
    tasks = [
        {"id": f"t{i}", "command": ["echo", f"{i}"], **({"depends_on": [f"t{i - 1}"]} if i else {})} for i in range(n)
    ]
    path = folder / f"chain{n}.json"
    path.write_text(json.dumps({"name": f"chain{n}", "tasks": tasks}))
    return path


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def cli_dry_run(path: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ferroflow", "run", str(path), "--dry-run"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"ferroflow run {path} --dry-run failed:\n{done.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,10000,20000,40000")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-cli", action="store_true", help="skip the `ferroflow run --dry-run` column")
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    print(f"flow-file load, chain of N command tasks (best of {opts.repeat}; cpus={os.cpu_count()})")
    header = f"{'tasks':>7} {'json.loads':>11} {'load_flow':>10} {'+ dry_run':>10} {'per task':>9} {'CLI --dry-run':>14} {'load/json':>10}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in sizes:
            path = write_chain(folder, n)
            floor = best_of(opts.repeat, lambda path=path: json.loads(path.read_text()))
            load = best_of(opts.repeat, lambda path=path: load_flow(path, output_dir=folder / "out"))
            full = best_of(opts.repeat, lambda path=path: load_flow(path, output_dir=folder / "out").dry_run())
            cli = "-" if opts.no_cli else f"{cli_dry_run(path):.2f}s"
            print(
                f"{n:>7} {floor:>10.3f}s {load:>9.2f}s {full:>9.2f}s {full / n * 1e6:>7.0f}µs {cli:>14} {load / floor:>9.0f}x"
            )


if __name__ == "__main__":
    main()

"""Run every benchmark side by side with its peers and print the ratio tables.

    python benches/compare.py            # the full set (tens of minutes)
    python benches/compare.py --quick    # small sizes only (a few minutes)
    python benches/compare.py graph exec # only some of them

Each ``bench_*.py`` is a script that prints its own table; this runs them in
turn with the interpreter it was started with.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK_ARGS = {
    "graph": ["--sizes", "10000", "100000"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="benchmarks to run (graph, exec, scheduler, watch, store)")
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    args = ap.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.names]
    failed = 0
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        extra = QUICK_ARGS.get(name, ["--quick"]) if args.quick else []
        print(f"\n=== {name} ({' '.join(extra) or 'full'}) ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *extra])
        print(f"--- {name}: {time.perf_counter() - t0:.0f} s, exit {rc}", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

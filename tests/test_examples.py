"""Every example runs, and every Python snippet of the README is one of them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py"))


def _normalise(code: str) -> str:
    lines = [line.split("  #")[0].rstrip() for line in code.strip().splitlines()]
    return "\n".join(line for line in lines if line)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FERROFLOW_EXAMPLE_TEST": "1", "FERROFLOW_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_every_readme_snippet_is_an_example() -> None:
    readme = (ROOT / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert snippets
    bodies = [_normalise(p.read_text()) for p in EXAMPLES]
    for snippet in snippets:
        assert any(_normalise(snippet) in body for body in bodies), f"README snippet not in examples/:\n{snippet}"

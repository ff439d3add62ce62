"""The documentation runs: every Python snippet in docs/, and a reference entry for every public name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import ferroflow
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "python" / "ferroflow"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_ext" not in p.parts)
# A fenced Python block, unless the line before it says why it is not run.
_SNIPPET = re.compile(r"^(?P<before>[^\n]*)\n```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
_NOT_RUN = re.compile(r"<!-- not run: .+ -->")


def _snippets(page: Path) -> list[str]:
    text = "\n" + page.read_text()
    return [m["code"] for m in _SNIPPET.finditer(text) if not _NOT_RUN.fullmatch(m["before"].strip())]


RUNNABLE = [p for p in PAGES if _snippets(p)]


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(DOCS)) for p in RUNNABLE])
def test_the_snippets_of_a_page_run_in_order(page: Path, tmp_path: Path) -> None:
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(_snippets(page)))
    env = {**os.environ, "FERROFLOW_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert proc.returncode == 0, f"{page.relative_to(ROOT)}:\n{proc.stdout}\n{proc.stderr}"


def test_a_skipped_snippet_says_why() -> None:
    marker = re.compile(r"<!--\s*not run\b.*?-->")
    for page in PAGES:
        for found in marker.finditer(page.read_text()):
            assert _NOT_RUN.fullmatch(found.group()), f"{page.relative_to(ROOT)}: write <!-- not run: why -->"


def test_every_public_name_has_a_reference_entry() -> None:
    text = "\n".join(p.read_text() for p in sorted((DOCS / "reference").glob("*.md")))
    documented = set(re.findall(r"^::: ferroflow\.(\w+)\s*$", text, re.MULTILINE))
    missing = sorted(set(ferroflow.__all__) - documented - {"__version__"})
    assert not missing, f"add `::: ferroflow.NAME` to a page of docs/reference/ for: {', '.join(missing)}"
    modules = {n for n in documented if (PACKAGE / n).is_dir() or (PACKAGE / f"{n}.py").is_file()}
    unknown = sorted(documented - set(ferroflow.__all__) - modules)
    assert not unknown, f"docs/reference/ names what ferroflow does not export: {', '.join(unknown)}"

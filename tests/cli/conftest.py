"""CLI fixtures: a small project on disk, the in-process runner and a real subprocess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow.cli.app import app
from ferroflow.log import reset_logging
from typer.testing import CliRunner

from tests.conftest import ferroflow

__all__ = ["Invoker", "ferroflow"]  # ferroflow is re-exported: the CLI tests import it from here


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # The root callback configures the ferroflow logger on the runner's captured streams.
    yield
    reset_logging()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """flows/daily.json (fetch -> [left, right] -> report) and its scripts, in the working folder."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "fetch.py").write_text(
        "import os, sys\nopen(os.path.join(os.environ['TMP_DIR'], 'data'), 'w').write(sys.argv[-1])\nprint('fetched', sys.argv[-1])\n"
    )
    (tasks / "side.py").write_text(
        "import os, sys\nprint(sys.argv[1], open(os.path.join(os.environ['TMP_DIR'], 'data')).read())\n"
    )
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "daily.json").write_text(
        json.dumps(
            {
                "name": "daily",
                "description": "the daily flow",
                "params": {"date": "today"},
                "tasks": [
                    {"id": "fetch", "script": "fetch.py", "args": {"date": "{date}"}},
                    {"id": "left", "script": "side.py", "args": ["left"], "depends_on": ["fetch"]},
                    {"id": "right", "script": "side.py", "args": ["right"], "depends_on": ["fetch"]},
                    {"id": "report", "command": ["echo", "report {date}"], "depends_on": ["left", "right"]},
                ],
            },
            indent=2,
        )
    )
    (flows / "broken.yaml").write_text("tasks:\n  - id: a\n    command: 'true'\n    depends_on: [b]\n")
    return tmp_path


class Invoker:
    """Runs the CLI in-process through Typer's runner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0) -> object:
        result = self.runner.invoke(app, list(args), catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (
                f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result


@pytest.fixture
def invoke() -> Invoker:
    return Invoker()

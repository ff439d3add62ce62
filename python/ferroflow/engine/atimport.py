"""Runs started while ferroflow imports a file to find its workflow are refused, with the fix.

``ferroflow graph etl.py`` (and ``run``, ``schedule add``) import the file and look for a
module-level ``Workflow``, ``DAG`` or ``Flow``. A file that calls ``.run()`` at import
would run while it is only being looked at; :func:`refuse_run_at_import` stops that run
and says how to expose the workflow instead.

Example:
    >>> from ferroflow.context import LOADING_TARGET
    >>> token = LOADING_TARGET.set("etl.py")
    >>> try:
    ...     refuse_run_at_import("the workflow")
    ... except FlowFileError as exc:
    ...     print(str(exc).split(" (at ")[0])
    etl.py runs the workflow when imported
    >>> LOADING_TARGET.reset(token)
"""

from __future__ import annotations

import traceback
from pathlib import Path

from ..context import LOADING_TARGET
from ..errors import FlowFileError

__all__ = ["refuse_run_at_import"]

_PACKAGE = str(Path(__file__).resolve().parent.parent)


def refuse_run_at_import(what: str) -> None:
    """Raise when a target is being imported (see :data:`~ferroflow.context.LOADING_TARGET`).

    Args:
        what: What was about to run (``"its workflow"``, ``"its watch handlers"``).

    Raises:
        FlowFileError: Naming the file and line of the call, and how to expose the workflow.
    """
    target = LOADING_TARGET.get()
    if target is None:
        return
    frames = [f for f in traceback.extract_stack()[:-1] if not str(Path(f.filename).resolve()).startswith(_PACKAGE)]
    where = f" (at {_shown(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    raise FlowFileError(
        f"{target} runs {what} when imported{where}: ferroflow imports the file to find the "
        "workflow and must not run it while doing so. Put the call under "
        '`if __name__ == "__main__":` and keep the workflow in a module-level variable (for '
        f'example `dag = DAG("etl")`); then `ferroflow graph {target}` draws it and '
        f"`ferroflow run {target}` runs it"
    )


def _shown(filename: str) -> str:
    """``filename`` relative to the working folder when it is inside it."""
    path = Path(filename).resolve()
    return str(path.relative_to(Path.cwd().resolve())) if path.is_relative_to(Path.cwd().resolve()) else filename

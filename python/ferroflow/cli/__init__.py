"""The ``ferroflow`` command line (Typer + Rich).

``app.py`` wires the commands; each command group lives in its own module and
only parses and prints, calling plain functions of the package.
"""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]

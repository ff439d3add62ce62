"""Shared by the tests and the docstring examples of python/ferroflow (run with --doctest-modules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_globals_after_doctests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Docstring examples register tasks and watch handlers: forget them after each module's examples."""
    yield
    if isinstance(request.node, pytest.DoctestItem):
        from ferroflow import registry
        from ferroflow.watch.app import reset_default_app

        registry.clear()
        reset_default_app()

"""One exception tree: every exception class of the package lives in ``ferroflow.errors``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import ferroflow
import ferroflow.errors
from ferroflow._moved import MOVED


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(ferroflow.__path__, "ferroflow.")]
    return [n for n in names if n not in MOVED and not n.endswith("__main__")]


def test_every_public_exception_class_is_defined_in_errors() -> None:
    elsewhere = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and not issubclass(value, Warning)
                and value.__module__.startswith("ferroflow")
                and not attr.startswith("_")
                and value.__module__ != "ferroflow.errors"
            ):
                elsewhere.append(f"{name}.{attr}")
    assert elsewhere == []


def test_the_drawn_tree_names_every_class_and_ferroflow_exports_them() -> None:
    doc = ferroflow.errors.__doc__ or ""
    for name in ferroflow.errors.__all__:
        cls = getattr(ferroflow.errors, name)
        assert f"── {name} " in doc or f"    {name}\n" in doc, name
        assert getattr(ferroflow, name) is cls
        assert name in ferroflow.__all__


def test_moved_classes_keep_their_old_homes_as_aliases() -> None:
    from ferroflow.flowfiles.positions import SyntaxProblem
    from ferroflow.flowfiles.scripts import ScriptFailedError
    from ferroflow.scheduling.daemon import AlreadyRunningError
    from ferroflow.watch.app import WatchHandlerError

    assert ScriptFailedError is ferroflow.ScriptFailedError
    assert WatchHandlerError is ferroflow.WatchHandlerError and issubclass(WatchHandlerError, ferroflow.WatchError)
    assert AlreadyRunningError is ferroflow.AlreadyRunningError
    assert SyntaxProblem is ferroflow.SyntaxProblem

"""Cache keys for task results: stable across processes, runs and ``Workflow`` objects.

A key is the SHA-256 (hex) of a versioned, length-prefixed record of:

1. the task's name and its ``cache_version``;
2. the function's fingerprint: its code object (bytecode, constants, names,
   nested code objects, recursively) and its source text when there is one
   (``inspect.getsource``; not in a REPL or ``exec``); plus the values of its
   closure cells and of the globals it names that are plain constants (``None``, bool, numbers,
   str, bytes, enum members, and tuples / frozensets / frozen dataclasses of
   those). A closed-over function, or a function of the same module that it
   calls, is fingerprinted the same way, recursively. Mutable objects it closes
   over (lists, dicts, sets, clients, counters) count by their type only: they
   are state, and keying on their contents would make every call a miss. Pass
   such values as inputs, or bump ``cache_version``, when they should key the
   cache;
3. the inputs: the task's ``cache_key(inputs)`` string when it has one, else a
   digest of the pickled inputs (protocol 4, memo disabled). Dicts and sets are
   canonicalized at any depth (items sorted by key when the keys are all str,
   all int or all bytes, else by their own digest), so equal inputs give equal
   keys whatever their insertion order or the process's ``PYTHONHASHSEED``.

Editing the task's body, changing what it closes over or a plain global it
reads, or bumping ``cache_version`` therefore yields a new key. Nothing in a
key depends on ``id()`` or ``hash()``. Inputs that cannot be pickled make the
task uncached for that call: :func:`cache_key` returns
``None`` and emits an :class:`UncacheableWarning`; it never raises.

Keys are stable across processes and runs for one Python version; a new Python
version compiles different bytecode, so its keys differ (the cache starts over).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import inspect
import io
import pickle
import types
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

from ..safetext import describe_error

__all__ = ["CACHE_KEY_VERSION", "UncacheableWarning", "cache_key", "function_fingerprint", "stable_digest"]

#: Part of every key; bumped when the key layout changes (old entries are then never hit).
CACHE_KEY_VERSION = 1
_PROTOCOL = 4
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_MAX_PLAIN_ITEMS = 10_000


class UncacheableWarning(UserWarning):
    """A task call could not be cached (its inputs or closure cannot be hashed); it simply runs."""


# ---------------------------------------------------------------- values


class _CanonicalPickler(pickle.Pickler):
    """Pickles with dicts and sets replaced by order-independent digests, at any depth."""

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is dict:
            if obj and _uniform(obj):
                # Keys of one plain type sort the same everywhere; values are canonicalized as they are pickled.
                return ("ferroflow.dict", tuple(sorted(obj.items(), key=_first)))
            return ("ferroflow.dict#", tuple(sorted((stable_digest(k), stable_digest(v)) for k, v in obj.items())))
        if kind is set or kind is frozenset:
            if obj and _uniform(obj):
                return ("ferroflow.set", kind.__name__, tuple(sorted(obj)))
            return ("ferroflow.set#", kind.__name__, tuple(sorted(stable_digest(x) for x in obj)))
        return None


_SORTABLE = (str, int, bytes)


def _uniform(keys: Any) -> bool:
    """All of one type among str / int / bytes (no bool: True == 1 would make the order ambiguous)."""
    it = iter(keys)
    first = type(next(it))
    return first in _SORTABLE and all(type(k) is first for k in it)


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]


def stable_digest(value: Any) -> bytes:
    """SHA-256 of a canonical pickle of ``value``; equal plain data gives equal digests in any process.

    Raises:
        pickle.PicklingError, TypeError, AttributeError, RecursionError, ValueError:
            ``value`` cannot be pickled.

    Example:
        >>> stable_digest({"b": 2, "a": {1, 2}}) == stable_digest({"a": {2, 1}, "b": 2})
        True
    """
    buf = io.BytesIO()
    pickler = _CanonicalPickler(buf, protocol=_PROTOCOL)
    pickler.fast = True  # no memo: the same value pickles the same whether shared or copied
    pickler.dump(value)
    return hashlib.sha256(buf.getvalue()).digest()


def _is_constant(value: Any, depth: int = 0) -> bool:
    """Immutable plain data: scalars, tuples / frozensets of them, enum members, frozen dataclasses."""
    kind = type(value)
    if kind in _PLAIN_SCALARS or isinstance(value, enum.Enum):
        return True
    if depth > 4:
        return False
    if kind is tuple or kind is frozenset:
        return len(value) <= _MAX_PLAIN_ITEMS and all(_is_constant(x, depth + 1) for x in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = getattr(kind, "__dataclass_params__", None)
        return bool(params is not None and params.frozen) and all(
            _is_constant(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        )
    return False


# ---------------------------------------------------------------- functions


def _const_repr(const: Any) -> str:
    # frozenset constants (``x in {"a", "b"}``) iterate in hash order, which differs per process.
    if isinstance(const, frozenset):
        return "frozenset{" + ",".join(sorted(_const_repr(c) for c in const)) + "}"
    if isinstance(const, tuple):
        return "(" + ",".join(_const_repr(c) for c in const) + ")"
    return repr(const)


def _code_bytes(code: types.CodeType, out: list[bytes]) -> None:
    out.append(code.co_code)
    out.append(repr(code.co_names).encode())
    out.append(repr(code.co_varnames).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_bytes(const, out)
        else:
            out.append(_const_repr(const).encode())


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


# Code object -> its source: reading and tokenizing the file is by far the slowest part of a key.
# Keyed by identity, holding the code object so the id is not reused; a code object never changes,
# and the source read the first time is the source of the code that runs.
_SOURCES: dict[int, tuple[types.CodeType, bytes]] = {}
_SOURCES_MAX = 4096


def _source_or_code(fn: types.FunctionType) -> bytes:
    code = fn.__code__
    hit = _SOURCES.get(id(code))
    if hit is not None and hit[0] is code:
        return hit[1]
    # The code tells apart what the source cannot (two lambdas on one line); the source covers
    # what compiles away (a changed comment or docstring still means an edited task).
    parts: list[bytes] = []
    _code_bytes(code, parts)
    try:
        parts.append(inspect.getsource(fn).encode())
    except (OSError, TypeError):
        pass
    text = b"\0".join(parts)
    if len(_SOURCES) >= _SOURCES_MAX:
        _SOURCES.clear()
    _SOURCES[id(code)] = (code, text)
    return text


def function_fingerprint(fn: Callable[..., Any]) -> bytes:
    """A digest of what a function computes: source (or code), closure values, plain globals it reads.

    Example:
        >>> def make(n):
        ...     return lambda x: x + n
        >>> function_fingerprint(make(1)) == function_fingerprint(make(2))
        False
    """
    return _fingerprint(fn, set())


def _fingerprint(fn: Any, seen: set[int]) -> bytes:
    h = hashlib.sha256()
    if id(fn) in seen:  # recursion through closures / globals
        h.update(b"recursive:" + getattr(fn, "__qualname__", "?").encode())
        return h.digest()
    seen = seen | {id(fn)}
    if isinstance(fn, partial):
        h.update(b"partial")
        h.update(_fingerprint(fn.func, seen))
        h.update(_value_digest(fn.args, seen))
        h.update(_value_digest(fn.keywords, seen))
        return h.digest()
    if isinstance(fn, types.MethodType):
        h.update(b"method")
        h.update(_fingerprint(fn.__func__, seen))
        return h.digest()
    fn = inspect.unwrap(fn) if isinstance(fn, types.FunctionType) else fn
    if not isinstance(fn, types.FunctionType):
        call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class attribute, to fingerprint it
        h.update(f"callable:{type(fn).__module__}.{type(fn).__qualname__}".encode())
        if isinstance(call, types.FunctionType):
            h.update(_fingerprint(call, seen))
        return h.digest()
    h.update(f"fn:{fn.__module__}.{fn.__qualname__}\0".encode())
    h.update(_source_or_code(fn))
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            value = cell.cell_contents
        except ValueError:  # empty cell
            continue
        h.update(b"\0cell:" + name.encode() + b"=")
        h.update(_value_digest(value, seen))
    g = fn.__globals__
    for name in sorted(_global_names(fn.__code__)):
        if name in g:
            value = g[name]
            if _is_constant(value):
                h.update(b"\0global:" + name.encode() + b"=")
                h.update(stable_digest(value))
            elif isinstance(value, types.FunctionType) and value.__module__ == fn.__module__:
                h.update(b"\0global-fn:" + name.encode() + b"=")
                h.update(_fingerprint(value, seen))
    return h.digest()


def _value_digest(value: Any, seen: set[int]) -> bytes:
    if isinstance(value, types.FunctionType | partial | types.MethodType):
        return _fingerprint(value, seen)
    if isinstance(value, types.ModuleType):
        return hashlib.sha256(b"module:" + value.__name__.encode()).digest()
    if isinstance(value, type):
        return hashlib.sha256(f"class:{value.__module__}.{value.__qualname__}".encode()).digest()
    if _is_constant(value):
        with contextlib.suppress(Exception):  # e.g. a frozen dataclass defined inside a function
            return stable_digest(value)
    # Mutable objects (lists, dicts, clients, counters...) are state, not code: only their type counts.
    kind = type(value)
    return hashlib.sha256(f"object:{kind.__module__}.{kind.__qualname__}".encode()).digest()


# ---------------------------------------------------------------- keys


_SIGNATURES: dict[int, tuple[Callable[..., Any], inspect.Signature]] = {}


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    hit = _SIGNATURES.get(id(fn))
    if hit is not None and hit[0] is fn:
        return hit[1]
    sig = inspect.signature(fn)
    if len(_SIGNATURES) >= _SOURCES_MAX:
        _SIGNATURES.clear()
    _SIGNATURES[id(fn)] = (fn, sig)
    return sig


def _bound_inputs(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        bound = _signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": args, "kwargs": kwargs}
    bound.apply_defaults()
    return dict(bound.arguments)


def cache_key(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The cache key of calling ``task`` with these inputs, or ``None`` if it cannot have one.

    Args:
        task: Anything with ``name``, ``fn``, ``cache_key`` (``callable(inputs)
            -> str`` or ``None``; ``inputs`` maps parameter names to the values
            bound for this call) and ``cache_version``.
        args: The positional inputs of the call.
        kwargs: The keyword inputs of the call.

    Returns:
        A 64-character hex string, stable across processes, or ``None`` (with
        an :class:`UncacheableWarning`) when the inputs or the closure cannot
        be pickled, or the custom ``cache_key`` fails.

    Example:
        >>> from types import SimpleNamespace
        >>> def double(x):
        ...     return 2 * x
        >>> t = SimpleNamespace(name="double", fn=double, cache_key=None, cache_version=None)
        >>> cache_key(t, (21,), {}) == cache_key(t, (), {"x": 21})
        True
        >>> cache_key(t, (21,), {}) == cache_key(t, (22,), {})
        False
    """
    name = str(getattr(task, "name", "") or getattr(task.fn, "__name__", "task"))
    fn = task.fn
    custom: Callable[[dict[str, Any]], Any] | None = getattr(task, "cache_key", None)
    version = getattr(task, "cache_version", None)
    h = hashlib.sha256()
    h.update(f"ferroflow-cache-key/{CACHE_KEY_VERSION}\0{len(name)}:{name}\0".encode())
    h.update(f"version:{version!r}\0".encode())
    try:
        h.update(function_fingerprint(fn))
    except RecursionError as exc:
        _warn(name, f"{exc}")
        return None
    inputs = _bound_inputs(fn, args, kwargs)
    if custom is not None:
        try:
            text = str(custom(inputs))
        except Exception as exc:  # noqa: BLE001 - user code; a failing key means "not cached", never an error
            _warn(name, f"its cache_key function raised {describe_error(exc)}")
            return None
        h.update(b"custom:" + text.encode())
    else:
        try:
            h.update(b"inputs:" + stable_digest(inputs))
        except Exception as exc:  # noqa: BLE001 - any __reduce__ may raise anything; uncached, never an error
            _warn(name, f"an input cannot be pickled ({describe_error(exc)})")
            return None
    return h.hexdigest()


def _warn(task_name: str, why: str) -> None:
    warnings.warn(
        f"task {task_name!r} is not cached for this call: {why}; give it a cache_key= function to cache it",
        UncacheableWarning,
        stacklevel=3,
    )

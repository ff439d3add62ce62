"""Run params: read from ``--params`` and checked before anything runs.

A flow's params are a JSON object of name to value. What a shell, an
argument list or an environment variable cannot carry, or what JSON does not
allow, is refused at the door with the key at fault: ``NaN`` and
``Infinity``, a repeated key, a NUL character and nesting deeper than
:data:`~ferroflow.flowfiles.positions.MAX_DEPTH` levels.

Example:
    >>> parse_params('{"date": "2024-01-02", "n": 3}')
    {'date': '2024-01-02', 'n': 3}
    >>> parse_params('{"n": NaN}')
    Traceback (most recent call last):
    ...
    ferroflow.errors.FerroflowError: invalid --params: "n": NaN is not a number JSON allows; use a number or a string
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FerroflowError
from .positions import SyntaxProblem, check_nesting

__all__ = ["check_params", "parse_params"]


def parse_params(text: str | None) -> dict[str, Any]:
    """``--params``: a JSON object, ``@file.json``, or the path of a JSON file, checked with :func:`check_params`.

    A value that does not parse as JSON and names an existing file is read from that
    file (as Featherflow's ``--params`` is); ``@file.json`` always names a file.

    Raises:
        FerroflowError: Not JSON, not an object, unreadable, or a value is refused;
            the message names the key (and the line and column for syntax errors).

    Example:
        >>> import json, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "params.json"
        >>> _ = path.write_text(json.dumps({"date": "2024-01-02"}))
        >>> parse_params(str(path)) == parse_params("@" + str(path)) == {"date": "2024-01-02"}
        True
    """
    if text is None or not text.strip():
        return {}
    source = "--params"
    if text.startswith("@") or _names_a_file(text):
        path = Path(text.removeprefix("@"))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise FerroflowError(f"cannot read --params file {path}: {reason}") from None
        source = f"--params file {path}"
    try:
        check_nesting(text, "json")
        value = json.loads(text, object_pairs_hook=_refuse_repeated_keys)
    except SyntaxProblem as exc:
        raise FerroflowError(f"invalid {source}: {exc.reason} at line {exc.line} column {exc.col}") from None
    except json.JSONDecodeError as exc:
        raise FerroflowError(
            f"invalid {source}: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            """pass a JSON object, e.g. '{"date": "2024-01-01"}', or a JSON file's path"""
        ) from None
    except _RepeatedKey as exc:
        raise FerroflowError(f'invalid {source}: the key "{exc.key}" appears twice') from None
    if not isinstance(value, dict):
        raise FerroflowError(f"invalid {source}: expected a JSON object of name to value, got {type(value).__name__}")
    check_params(value, source)
    return value


def _names_a_file(text: str) -> bool:
    """Whether ``text`` is not JSON but the path of an existing file."""
    try:
        json.loads(text)
    except ValueError:
        pass
    else:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a NUL character, a name too long
        return False


def check_params(params: Mapping[str, Any], source: str = "params") -> None:
    """Refuse values no command can receive as they were meant.

    Raises:
        FerroflowError: A key or string holds a NUL character, a number is
            ``NaN`` or infinite, or a value is not JSON data; the message names the key.
    """
    stack: list[tuple[str, Any]] = [(_key_text(key), value) for key, value in params.items()]
    for key in params:
        if not isinstance(key, str):
            raise FerroflowError(f"invalid {source}: the key {key!r} is not a string")
        if "\x00" in key:
            raise FerroflowError(f"invalid {source}: the key {key!r} holds a NUL character")
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise FerroflowError(f'invalid {source}: "{where}" holds a NUL character, which no command can receive')
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise FerroflowError(
                    f'invalid {source}: "{where}": {_json_name(value)} is not a number JSON allows; '
                    "use a number or a string"
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or "\x00" in key:
                    raise FerroflowError(f'invalid {source}: "{where}" has the key {key!r}, which is refused')
                stack.append((f"{where}.{key}", item))
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{n}]", item) for n, item in enumerate(value))
        elif value is not None and not isinstance(value, bool | int):
            raise FerroflowError(f'invalid {source}: "{where}" is a {type(value).__name__}, not JSON data')


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _RepeatedKey(key)
        result[key] = value
    return result


def _key_text(key: object) -> str:
    return key if isinstance(key, str) else repr(key)


def _json_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"

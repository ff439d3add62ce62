"""Parse JSON, YAML and TOML while remembering where every value sits.

Flow-file errors name ``file:line:col``; the parsers of the standard library
only give positions for syntax errors, so this module keeps a map from a value's
path (``("tasks", 2, "depends_on", 0)``) to its 1-based ``(line, col)``.

Example:
    >>> data, where = parse_with_positions('{"tasks": [\\n  {"id": "a"}]}', "json")
    >>> data["tasks"][0]["id"], where[("tasks", 0, "id")]
    ('a', (2, 10))
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from ..errors import SyntaxProblem

__all__ = [
    "KEY",
    "MAX_DEPTH",
    "MAX_EXPANDED_VALUES",
    "Path_",
    "Positions",
    "SyntaxProblem",
    "check_nesting",
    "parse_with_positions",
]

Path_ = tuple[str | int, ...]
Positions = Mapping[Path_, tuple[int, int]]
_PositionMap = dict[Path_, tuple[int, int]]

#: Appended to a path to hold the position of the mapping key itself (not its value).
KEY = "\x00key"

#: The deepest nesting of lists and mappings a flow file or ``--params`` may have.
MAX_DEPTH = 200

#: How many values a YAML document may expand to through its aliases, beyond one per byte of text.
MAX_EXPANDED_VALUES = 100_000


def parse_with_positions(text: str, fmt: str) -> tuple[Any, Positions]:
    """Parse ``text`` as ``json``, ``yaml`` or ``toml``.

    Returns:
        The data and the map of value paths to ``(line, col)``.

    Raises:
        SyntaxProblem: The text does not parse, nests deeper than :data:`MAX_DEPTH`
            or (YAML) expands through aliases past :data:`MAX_EXPANDED_VALUES`
            values plus one per byte; it carries line and column.
        ModuleNotFoundError: YAML without PyYAML installed.
    """
    parsers = {"json": _parse_json, "yaml": _parse_yaml, "toml": _parse_toml}
    if fmt not in parsers:
        raise ValueError(f"unknown format {fmt!r}")
    check_nesting(text, fmt)
    try:
        return parsers[fmt](text)
    except RecursionError:
        # Not reachable within MAX_DEPTH; kept so that no input ends in a traceback.
        raise SyntaxProblem(f"nested deeper than {MAX_DEPTH} levels", 1, 1) from None


_JSON_SKIPPED = r'"(?:[^"\\]|\\.)*"'
_TOML_SKIPPED = r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*'
_JSON_TOKENS = re.compile(_JSON_SKIPPED + r"|[\[\]{}]")
_TOML_TOKENS = re.compile(_TOML_SKIPPED + r"|[\[\]{}]", re.DOTALL)
_SKIPPED = {"json": re.compile(_JSON_SKIPPED), "toml": re.compile(_TOML_SKIPPED, re.DOTALL)}
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _deepest(text: str, fmt: str) -> int:
    """The deepest nesting of brackets outside strings (and TOML comments), at the speed of
    the regular expression engine: the slow scan that finds the place runs only past the limit."""
    brackets = _NOT_A_BRACKET.sub("", _SKIPPED[fmt].sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_nesting(text: str, fmt: str) -> None:
    """Refuse text whose lists and mappings nest deeper than :data:`MAX_DEPTH` levels.

    It runs before the parser, so that a deeply nested document is an error
    at its line and column, not a ``RecursionError``.

    Raises:
        SyntaxProblem: Where the nesting passes the limit.

    Example:
        >>> check_nesting("[" * 201 + "]" * 201, "json")
        Traceback (most recent call last):
        ...
        ferroflow.errors.SyntaxProblem: 1:201: nested deeper than 200 levels
    """
    if fmt == "yaml":
        _check_yaml_nesting(text)
        return
    if _deepest(text, fmt) <= MAX_DEPTH:
        return
    depth = 0
    for match in (_TOML_TOKENS if fmt == "toml" else _JSON_TOKENS).finditer(text):
        token = match.group(0)
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise SyntaxProblem(f"nested deeper than {MAX_DEPTH} levels", *_LineIndex(text).at(match.start()))
        elif token in ("]", "}"):
            depth -= 1


class _LazyPositions(Mapping[Path_, tuple[int, int]]):
    """The positions of a parsed document, found the first time one is asked for.

    A valid flow file never needs them, so loading one costs the parser alone; the
    walk that finds them runs only when there is a problem to point at.
    """

    def __init__(self, find: Callable[[], _PositionMap]) -> None:
        self._find: Callable[[], _PositionMap] | None = find
        self._map: _PositionMap = {}

    def _positions(self) -> _PositionMap:
        if self._find is not None:
            self._map, self._find = self._find(), None
        return self._map

    def __getitem__(self, path: Path_) -> tuple[int, int]:
        return self._positions()[path]

    def __iter__(self) -> Iterator[Path_]:
        return iter(self._positions())

    def __len__(self) -> int:
        return len(self._positions())


# ---------------------------------------------------------------- JSON


class _LineIndex:
    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo] + 1


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")


class _Refused(Exception):
    """Raised by the JSON decoder's hooks: the text holds what flow files refuse (a repeated
    key, ``NaN``); the walk of :func:`_json_positions` then says where."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _Refused("a repeated key")
    return found


def _no_constant(literal: str) -> Any:
    raise _Refused(f"{literal} is not valid JSON: use a number")


def _parse_json(text: str) -> tuple[Any, Positions]:
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SyntaxProblem(exc.msg, exc.lineno, exc.colno) from None
    except _Refused as exc:
        _json_positions(text)  # raises the SyntaxProblem at the place
        raise SyntaxProblem(str(exc), 1, 1) from None
    return data, _LazyPositions(lambda: _json_positions(text))


def _json_positions(text: str) -> _PositionMap:
    """The position of every value (and key) of valid JSON ``text``.

    Raises:
        SyntaxProblem: At a repeated key or a ``NaN`` / ``Infinity``.
    """
    positions: _PositionMap = {}
    # The text is valid JSON, so this walk only records offsets.
    _walk_json(text, _WS.match(text, 0).end(), (), positions, _LineIndex(text))  # type: ignore[union-attr]
    return positions


def _skip(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


def _walk_json(text: str, i: int, path: Path_, positions: _PositionMap, index: _LineIndex) -> int:
    positions[path] = index.at(i)
    ch = text[i]
    if ch == "{":
        return _walk_json_object(text, i, path, positions, index)
    if ch == "[":
        i = _skip(text, i + 1)
        if text[i] == "]":
            return i + 1
        n = 0
        while True:
            i = _walk_json(text, i, (*path, n), positions, index)
            n += 1
            i = _skip(text, i)
            if text[i] == "]":
                return i + 1
            i = _skip(text, i + 1)
    return _json_scalar_end(text, i, index)


def _walk_json_object(text: str, i: int, path: Path_, positions: _PositionMap, index: _LineIndex) -> int:
    i = _skip(text, i + 1)
    if text[i] == "}":
        return i + 1
    seen: set[str] = set()
    while True:
        key_at = index.at(i)
        key, i = scanstring(text, i + 1)
        if key in seen:
            # json.loads keeps the last value silently; a repeated key is a mistake.
            first = positions[(*path, key, KEY)][0]
            raise SyntaxProblem(f'duplicate key "{key}" (first on line {first})', *key_at)
        seen.add(key)
        positions[(*path, key, KEY)] = key_at
        i = _skip(text, i)
        i = _skip(text, i + 1)  # the colon
        i = _walk_json(text, i, (*path, key), positions, index)
        i = _skip(text, i)
        if text[i] == "}":
            return i + 1
        i = _skip(text, i + 1)  # the comma


def _json_scalar_end(text: str, i: int, index: _LineIndex) -> int:
    if text[i] == '"':
        _, end = scanstring(text, i + 1)
        return int(end)
    for literal in ("true", "false", "null"):
        if text.startswith(literal, i):
            return i + len(literal)
    for literal in ("NaN", "Infinity", "-Infinity"):
        if text.startswith(literal, i):
            # Python's json accepts these; JSON does not, and no flow field wants them.
            raise SyntaxProblem(f"{literal} is not valid JSON: use a number", *index.at(i))
    match = _NUMBER.match(text, i)
    return match.end() if match else i + 1


# ---------------------------------------------------------------- YAML


def _parse_yaml(text: str) -> tuple[Any, Positions]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_yaml_expansion(node, MAX_EXPANDED_VALUES + len(text))
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise SyntaxProblem(reason, line, col) from None
    except yaml.YAMLError as exc:
        raise SyntaxProblem(str(exc), 1, 1) from None
    positions: _PositionMap = {}
    if node is not None:
        _walk_yaml(node, (), positions)  # also where repeated keys are refused: not deferred
    return data, positions


def _check_yaml_nesting(text: str) -> None:
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise SyntaxProblem(f"nested deeper than {MAX_DEPTH} levels", *_mark(event.start_mark))
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # the parser proper reports it, with its position


def _check_yaml_expansion(root: Any, limit: int) -> None:
    """Count the values the document stands for once every alias is expanded.

    A few bytes of anchors and aliases can stand for billions of values; the
    count is memoised per node, so this costs one visit per node of the text.
    """
    import yaml

    sizes: dict[int, tuple[int, int]] = {}  # node id -> (values, depth) when expanded
    pending: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _yaml_children(node, yaml)
        if children_done:
            pending.discard(id(node))
            size = 1 + sum(sizes[id(c)][0] for c in children)
            depth = 1 + max((sizes[id(c)][1] for c in children), default=0)
            if size > limit:
                raise SyntaxProblem(
                    f"the aliases (*name) expand this value to more than {limit:,} values; "
                    "refused as a possible alias bomb",
                    *_mark(node.start_mark),
                )
            if depth > MAX_DEPTH:
                raise SyntaxProblem(
                    f"aliases (*name) nest this value deeper than {MAX_DEPTH} levels", *_mark(node.start_mark)
                )
            sizes[id(node)] = (size, depth)
            continue
        if id(node) in sizes:
            continue
        if id(node) in pending:
            raise SyntaxProblem("this alias (*name) refers to a value that contains it", *_mark(node.start_mark))
        pending.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def _yaml_children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _mark(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _walk_yaml(node: Any, path: Path_, positions: _PositionMap) -> None:
    import yaml

    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[tuple[str, str]] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if (key_node.tag, key) in seen and key != "<<":
                # PyYAML keeps the last value silently; a repeated key is a mistake.
                first = positions[(*path, key, KEY)][0]
                raise SyntaxProblem(
                    f'duplicate key "{key}" (first on line {first})',
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            seen.add((key_node.tag, key))
            positions[(*path, key, KEY)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk_yaml(value_node, (*path, key), positions)
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            _walk_yaml(item, (*path, n), positions)


# ---------------------------------------------------------------- TOML

_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")
_TOML_TABLE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")


def _parse_toml(text: str) -> tuple[Any, Positions]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_AT.search(message)
        reason = _TOML_AT.sub("", message).strip()
        if match:
            raise SyntaxProblem(reason, int(match.group(1)), int(match.group(2))) from None
        raise SyntaxProblem(reason, max(1, text.count("\n") + 1), 1) from None
    return data, _LazyPositions(lambda: _toml_positions(text))


def _toml_positions(text: str) -> _PositionMap:
    """Positions of top-level keys, ``[[array]]`` entries and their keys.

    ``tomllib`` keeps no positions; flow files use plain ``key = value`` lines
    and ``[[tasks]]`` tables, which a line scan locates exactly. Keys inside
    inline tables point at the line of their parent key.
    """
    positions: _PositionMap = {(): (1, 1)}
    counters: dict[str, int] = {}
    current: Path_ = ()
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0] if '"' not in line else line
        table = _TOML_TABLE.match(stripped)
        if table:
            names = [p.strip().strip('"') for p in table.group(2).split(".")]
            current = _table_path(names, counters, new_entry=table.group(1) == "[[")
            positions.setdefault(current, (lineno, line.index("[") + 1))
            for k in range(1, len(current)):
                positions.setdefault(current[:k], (lineno, line.index("[") + 1))
            continue
        key_match = _TOML_KEY.match(stripped)
        if key_match:
            key = key_match.group(1).strip('"')
            col = line.index("=") + 1
            value_col = len(line) - len(line[col:].lstrip()) + 1
            positions.setdefault((*current, key), (lineno, value_col))
            positions.setdefault((*current, key, KEY), (lineno, line.index(key_match.group(1)) + 1))
    return positions


def _table_path(names: list[str], counters: dict[str, int], *, new_entry: bool) -> Path_:
    """The value path of a ``[table]`` or ``[[array entry]]`` header.

    A name that is an array of tables refers to its latest entry, so
    ``[tasks.env]`` after the second ``[[tasks]]`` is ``("tasks", 1, "env")``.
    """
    path: list[str | int] = []
    for k, name in enumerate(names):
        path.append(name)
        key = ".".join(names[: k + 1])
        if new_entry and k == len(names) - 1:
            counters[key] = counters.get(key, 0) + 1
            path.append(counters[key] - 1)
        elif key in counters:
            path.append(counters[key] - 1)
    return tuple(path)

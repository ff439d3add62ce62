"""The checks a task's upstreams go through, shared by ``Workflow.add_task`` and the bulk door.

Every function here raises the very exceptions (types and messages) a single
``add_task`` raises, so adding tasks one by one or many at once reports a bad input
the same way: a duplicate name (``DuplicateTaskError``), an unknown dependency
(``UnknownDependencyError``, with a close name when there is one), a task depending on
itself or closing a loop (``CycleError`` with its path).
"""

from __future__ import annotations

import difflib
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._core import Graph
from ..errors import CycleError, DuplicateTaskError, UnknownDependencyError

if TYPE_CHECKING:
    from .tasks import Task

__all__ = [
    "as_deps",
    "dep_name",
    "duplicate_error",
    "first_batch_error",
    "replay_cycle",
    "unknown_message",
    "upstreams_of",
]


def as_deps(value: Any) -> Iterable[Any]:
    """One task's ``depends_on`` as an iterable: None is nothing, a name or a task is itself."""
    from .tasks import Task

    if value is None:
        return ()
    if isinstance(value, (str, Task)):
        return (value,)
    return value  # type: ignore[no-any-return]


def dep_name(dep: object, task_name: str) -> str:
    """The name of one entry of ``depends_on`` (a name or a task)."""
    from .tasks import Task

    if isinstance(dep, Task):
        return dep.name
    if isinstance(dep, str):
        return dep
    raise TypeError(f"task {task_name!r}: depends_on takes task names or Tasks, got {type(dep).__name__}: {dep!r}")


def duplicate_error(workflow: str, name: str) -> DuplicateTaskError:
    """The error of a second task called ``name``."""
    return DuplicateTaskError(f"workflow {workflow!r} already has a task named {name!r}; task names must be unique")


def unknown_message(workflow: str, name: str, dep: str, known: Iterable[str]) -> str:
    """The message of ``name`` depending on ``dep``, which is not among ``known``."""
    candidates = list(known)
    # A suggestion scans every name: skip it for huge workflows so the error stays instant.
    close = difflib.get_close_matches(dep, candidates, n=1) if len(candidates) <= 5000 else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"task {name!r} depends on {dep!r}, which is not a task of workflow {workflow!r}{hint}; "
        "add the dependency first"
    )


def upstreams_of(
    workflow: str,
    name: str,
    named_params: Sequence[str],
    deps: Iterable[str | Task[..., Any]],
    ids_of: Mapping[str, int],
    task_params: Container[str] | None = None,
) -> tuple[list[str], list[int], bool]:
    """Declared upstreams of task ``name`` (validated, duplicates dropped), then the
    name-injected ones (binding rule 1), with their node ids, and whether a parameter is
    named after one of them.

    ``ids_of`` maps every name the task may depend on to its node id; ``task_params`` (if
    given) holds the parameter names that may name a task.
    """
    get = ids_of.get
    items = deps if isinstance(deps, (list, tuple)) else list(deps)
    declared: list[str] = []
    ids: list[int] = []
    seen: set[str] = set()
    for dep in items:
        dn = dep if type(dep) is str else dep_name(dep, name)
        if dn == name:
            raise CycleError(f"task {name!r} depends on itself: {name} -> {name}", [name, name])
        node = get(dn)
        if node is None:
            raise UnknownDependencyError(unknown_message(workflow, name, dn, ids_of))
        if dn in seen:
            continue
        declared.append(dn)
        ids.append(node)
        seen.add(dn)
    named = False
    for pn in named_params:
        if pn in seen:
            named = True
        elif pn != name and (task_params is None or pn in task_params):
            node = get(pn)
            if node is not None:
                declared.append(pn)
                ids.append(node)
                named = True
                seen.add(pn)
    return declared, ids, named


def first_batch_error(
    workflow: str,
    existing: Container[str],
    names: Sequence[str],
    tasks: Sequence[Task[..., Any]],
    deps: Sequence[Any],
    ids_of: Mapping[str, int],
) -> None:
    """Raise the error that adding the batch task by task would raise first, if any.

    Tasks are checked in order, each one as ``add_task`` checks it (its name, then its
    upstreams), except that an upstream may be any task of the batch, later ones too.
    ``ids_of`` holds the node ids of the workflow's tasks and the batch's.
    """
    seen: set[str] = set()
    for name, t, dep in zip(names, tasks, deps, strict=True):
        if name in existing or name in seen:
            raise duplicate_error(workflow, name)
        seen.add(name)
        upstreams_of(workflow, name, t.named_params, as_deps(dep), ids_of)


def replay_cycle(
    names: Sequence[str],
    up_ids: Sequence[Sequence[int]],
    base: int,
    later: Iterable[tuple[int, int]],
) -> CycleError | None:
    """The ``CycleError`` that adding nodes ``base..`` one by one would raise first.

    ``names`` and ``up_ids`` cover every node (the workflow's, then the batch's);
    ``later`` holds the edges from a new node to an earlier one (a parameter named after
    the new task). Each edge is inserted when the later of its two ends arrives, as
    ``add_task`` inserts it, so the path is the one ``add_task`` reports.
    """
    graph = Graph()
    graph.extend_upstreams(names[:base], [list(u) for u in up_ids[:base]])
    downs: dict[int, list[int]] = {}
    for up, down in later:
        downs.setdefault(up, []).append(down)
    for down in range(base, len(names)):
        for up in up_ids[down]:
            if up > down:  # an upstream later in the batch: the edge arrives with it
                downs.setdefault(up, []).append(down)
    for node in range(base, len(names)):
        graph.add_node_after(names[node], [u for u in up_ids[node] if u < node])
        for down in sorted(downs.get(node, ())):
            try:
                graph.add_edge_ids(node, down)
            except CycleError as e:
                return e
    return None

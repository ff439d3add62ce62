"""Text drawings of a workflow: ``ascii`` (layers), ``mermaid`` and Graphviz ``dot``.

Node ids are ``n0, n1, ...`` (the node's index), so they are unique and safe whatever the
task names are; names appear only as escaped labels.

Example:
    >>> from ferroflow import Workflow, task
    >>> wf = Workflow("etl")
    >>> _ = wf.add_task(task(lambda: 1, name="extract"))
    >>> _ = wf.add_task(task(lambda extract: extract, name="load"))
    >>> print(wf.visualize("dot"))
    digraph "etl" {
      rankdir=TB;
      n0 [label="extract"];
      n1 [label="load"];
      n0 -> n1;
    }
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..results import TaskStatus

if TYPE_CHECKING:
    from .tasks import Task

__all__ = ["FORMATS", "render"]

FORMATS = ("ascii", "mermaid", "dot")

_MERMAID_CLASS = {
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.SKIPPED: "skipped",
    TaskStatus.UPSTREAM_FAILED: "blocked",
    TaskStatus.CANCELLED: "blocked",
    TaskStatus.RUNNING: "running",
}


def _mermaid_label(text: str) -> str:
    out = []
    for ch in text:
        if ch.isalnum() or ch in " _-.:/":
            out.append(ch)
        else:
            out.append(f"#{ord(ch)};")
    return "".join(out)


def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def render(
    name: str,
    tasks: Sequence[Task[..., Any]],
    deps: Mapping[str, Sequence[str]],
    index: Mapping[str, int],
    layers: Sequence[Sequence[int]],
    format: str = "ascii",
    statuses: Sequence[TaskStatus] | None = None,
) -> str:
    """Draw a workflow.

    Args:
        name: The workflow's name.
        tasks: Tasks by node id.
        deps: Task name to its upstream names.
        index: Task name to node id.
        layers: Kahn layers of node ids.
        format: ``"ascii"``, ``"mermaid"`` or ``"dot"``.
        statuses: Statuses by node id from the latest run, shown when given.

    Raises:
        ValueError: an unknown format.
    """
    if format == "ascii":
        return _ascii(name, tasks, deps, layers, statuses)
    if format == "mermaid":
        return _mermaid(tasks, deps, index, statuses)
    if format == "dot":
        return _dot(name, tasks, deps, index, statuses)
    raise ValueError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")


def _ascii(
    name: str,
    tasks: Sequence[Task[..., Any]],
    deps: Mapping[str, Sequence[str]],
    layers: Sequence[Sequence[int]],
    statuses: Sequence[TaskStatus] | None,
) -> str:
    lines = [f"{name} ({_count(len(tasks), 'task')}, {_count(len(layers), 'layer')})"]
    for depth, layer in enumerate(layers, start=1):
        last_layer = depth == len(layers)
        lines.append(f"{'└' if last_layer else '├'}── layer {depth}")
        bar = " " if last_layer else "│"
        for k, i in enumerate(layer):
            t = tasks[i]
            branch = "└──" if k == len(layer) - 1 else "├──"
            text = t.name
            if statuses is not None:
                text += f" [{statuses[i].value}]"
            ups = deps.get(t.name, ())
            if ups:
                text += " ← " + ", ".join(ups)
            lines.append(f"{bar}   {branch} {text}")
    return "\n".join(lines)


def _mermaid(
    tasks: Sequence[Task[..., Any]],
    deps: Mapping[str, Sequence[str]],
    index: Mapping[str, int],
    statuses: Sequence[TaskStatus] | None,
) -> str:
    lines = ["flowchart TD"]
    for i, t in enumerate(tasks):
        lines.append(f'    n{i}["{_mermaid_label(t.name)}"]')
    for i, t in enumerate(tasks):
        for up in deps.get(t.name, ()):
            lines.append(f"    n{index[up]} --> n{i}")
    if statuses is not None:
        lines += [
            "    classDef completed fill:#d4edda,stroke:#28a745",
            "    classDef failed fill:#f8d7da,stroke:#dc3545",
            "    classDef skipped fill:#eeeeee,stroke:#999999",
            "    classDef blocked fill:#fff3cd,stroke:#ffc107",
            "    classDef running fill:#d1ecf1,stroke:#17a2b8",
        ]
        for i, status in enumerate(statuses):
            cls = _MERMAID_CLASS.get(status)
            if cls:
                lines.append(f"    class n{i} {cls}")
    return "\n".join(lines)


_DOT_COLOR = {
    TaskStatus.COMPLETED: "palegreen",
    TaskStatus.FAILED: "lightcoral",
    TaskStatus.SKIPPED: "lightgrey",
    TaskStatus.UPSTREAM_FAILED: "khaki",
    TaskStatus.CANCELLED: "khaki",
    TaskStatus.RUNNING: "lightblue",
}


def _dot(
    name: str,
    tasks: Sequence[Task[..., Any]],
    deps: Mapping[str, Sequence[str]],
    index: Mapping[str, int],
    statuses: Sequence[TaskStatus] | None,
) -> str:
    lines = [f"digraph {_dot_string(name)} {{", "  rankdir=TB;"]
    for i, t in enumerate(tasks):
        attrs = f"label={_dot_string(t.name)}"
        if statuses is not None and statuses[i] in _DOT_COLOR:
            attrs += f', style=filled, fillcolor="{_DOT_COLOR[statuses[i]]}"'
        lines.append(f"  n{i} [{attrs}];")
    for i, t in enumerate(tasks):
        for up in deps.get(t.name, ()):
            lines.append(f"  n{index[up]} -> n{i};")
    lines.append("}")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

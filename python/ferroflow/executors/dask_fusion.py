"""Fusion: which tasks of a run share one Dask task.

Dask spends about a millisecond of scheduler time per task, more than a short task's own
work, so many short tasks cost mostly overhead. The partition below puts short tasks
together in *groups* that run on one worker with one Dask task each:

1. A task is *fusable* when it is known to be short — its mean duration in earlier
   completed runs of the workflow (from the store) is at most ``short_seconds``, or the
   user marked it (``DaskExecutor(short_tasks=...)``) — and it has no timeout, no cache
   and inputs that bind (those need the client or a thread of their own). With
   ``fuse="all"`` tasks without history are fused too. Long tasks are never fused, so a
   group never serialises independent long tasks.
2. Chains are contracted: a fusable task whose only upstream is fusable and has no other
   downstream task joins that upstream's *segment*, up to ``group_seconds`` of work.
3. Segments get a level (one more than the highest level among their upstream segments);
   the segments of one level (independent of each other) are batched into groups of about
   ``group_seconds`` of work, and into at least as many groups as the cluster has worker
   threads, so every worker gets work.

Edges between groups always go from a lower level to a higher one, so the groups form a
DAG the client drives like the tasks themselves.

Example:
    >>> partition([[], [0], [1], []], fusable=[True] * 4, seconds=[0.001] * 4, group_seconds=1.0, threads=1)
    [[0, 1, 2, 3]]
    >>> partition([[], [0], [1]], fusable=[True, False, True], seconds=[0.001] * 3, group_seconds=1.0, threads=1)
    [[0], [1], [2]]
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.plan import RunPlan

__all__ = ["ShortTasks", "fusable_nodes", "history_seconds", "partition"]

#: What ``short_tasks=`` takes: task names or glob patterns (``"parse_*"``), or a predicate on the name.
ShortTasks = Collection[str] | Callable[[str], bool] | None

#: The work assumed for a fusable task without history (marked short, or ``fuse="all"``).
DEFAULT_SECONDS = 0.001


def history_seconds(plan: RunPlan, runs: int = 5) -> dict[str, float]:
    """Mean duration per task name over the last ``runs`` runs of the workflow with records."""
    store = plan.store
    if store is None:
        return {}
    query = (
        "SELECT t.name, AVG(t.finished_at - t.started_at) FROM tasks t WHERE t.run_id IN "
        "(SELECT run_id FROM runs WHERE workflow = ? AND run_id != ? ORDER BY started_at DESC LIMIT ?) "
        "AND t.status = 'completed' AND t.started_at IS NOT NULL AND t.finished_at IS NOT NULL GROUP BY t.name"
    )
    with store.read() as conn:
        rows = conn.execute(query, (plan.workflow, plan.run_id, runs)).fetchall()
    return {str(name): float(mean) for name, mean in rows if mean is not None}


def _marked(short_tasks: ShortTasks) -> Callable[[str], bool]:
    if short_tasks is None:
        return lambda name: False
    if callable(short_tasks):
        return short_tasks
    names = set(short_tasks)
    patterns = [p for p in names if any(c in p for c in "*?[")]
    return lambda name: name in names or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def fusable_nodes(
    plan: RunPlan, mode: str, short_tasks: ShortTasks, short_seconds: float
) -> tuple[list[bool], list[float]]:
    """Per node: may it be fused, and its expected seconds of work."""
    history = history_seconds(plan) if mode != "off" else {}
    marked = _marked(short_tasks)
    fusable: list[bool] = []
    seconds: list[float] = []
    for i, t in enumerate(plan.tasks):
        known = history.get(t.name)
        est = known if known is not None else DEFAULT_SECONDS
        ok = mode != "off" and (
            (known is not None and known <= short_seconds) or marked(t.name) or (mode == "all" and known is None)
        )
        if ok and (t.timeout is not None or t.cache_ttl is not None or i in plan.resumed_ids):
            ok = False
        if ok and plan.bindings[i].error is not None:
            ok = False
        fusable.append(ok)
        seconds.append(est)
    return fusable, seconds


def partition(
    preds: Sequence[Sequence[int]],
    *,
    fusable: Sequence[bool],
    seconds: Sequence[float],
    group_seconds: float,
    threads: int,
    order: Sequence[int] | None = None,
) -> list[list[int]]:
    """The units of a run: lists of node ids in topological order (one node: not fused).

    Args:
        preds: Each node's upstream ids.
        fusable: Which nodes may share a Dask task.
        seconds: Each node's expected work.
        group_seconds: The work to aim for per group.
        threads: The cluster's worker threads (groups per level, at least, when there are enough segments).
        order: A topological order (default: ``range(n)``, when ids are already one).
    """
    n = len(preds)
    topo = range(n) if order is None else order
    succ_count = [0] * n
    for ps in preds:
        for p in ps:
            succ_count[p] += 1
    # 1. segments: chains of fusable nodes, capped by work
    seg_of = [-1] * n
    segments: list[list[int]] = []
    seg_work: list[float] = []
    for v in topo:
        ps = preds[v]
        if fusable[v] and len(ps) == 1:
            u = ps[0]
            s = seg_of[u]
            if fusable[u] and succ_count[u] == 1 and segments[s][-1] == u and seg_work[s] + seconds[v] <= group_seconds:
                seg_of[v] = s
                segments[s].append(v)
                seg_work[s] += seconds[v]
                continue
        seg_of[v] = len(segments)
        segments.append([v])
        seg_work.append(seconds[v])
    # 2. levels of segments (segments are created in topological order)
    level = [0] * len(segments)
    for s, nodes in enumerate(segments):
        up = [level[seg_of[p]] for p in preds[nodes[0]] if seg_of[p] != s]
        level[s] = max(up) + 1 if up else 0
    by_level: dict[int, list[int]] = {}
    for s in range(len(segments)):
        by_level.setdefault(level[s], []).append(s)
    # 3. batch the fusable segments of each level; others stay alone
    units: list[list[int]] = []
    for lv in sorted(by_level):
        batchable = [s for s in by_level[lv] if fusable[segments[s][0]]]
        units.extend(segments[s] for s in by_level[lv] if not fusable[segments[s][0]])
        if batchable:
            units.extend(
                _batch([segments[s] for s in batchable], [seg_work[s] for s in batchable], group_seconds, threads)
            )
    return units


def _batch(segments: list[list[int]], work: list[float], group_seconds: float, threads: int) -> list[list[int]]:
    """Independent segments in groups of about ``group_seconds``, at least ``threads`` of them."""
    total = sum(work)
    groups = max(math.ceil(total / group_seconds), min(len(segments), max(1, threads)))
    groups = min(groups, len(segments))
    share = total / groups
    out: list[list[int]] = []
    current: list[int] = []
    acc = 0.0
    for seg, w in zip(segments, work, strict=True):
        if current and acc + w > share * 1.0001 and len(out) < groups - 1:
            out.append(current)
            current, acc = [], 0.0
        current.extend(seg)
        acc += w
    if current:
        out.append(current)
    return out


def describe(units: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Counts for logs and benchmarks: units, fused groups, tasks in groups."""
    groups = [u for u in units if len(u) > 1]
    return {"units": len(units), "groups": len(groups), "fused_tasks": sum(len(u) for u in groups)}

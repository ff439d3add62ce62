"""How a task gets its inputs: the one binding rule (docs/guide/tasks.md), used by every front door
and every executor.

1. a parameter named after another task of the same workflow receives that task's result
   (and makes it an upstream: see :func:`injected_upstreams`);
2. the remaining declared upstream results fill the remaining positional parameters, in
   declaration order;
3. run parameters fill the parameters of the same name that are still free;
4. what is left keeps its default; upstream results with nowhere to go are not passed,
   except that ``*args`` takes the remaining ones positionally or, without ``*args``,
   ``**kwargs`` takes them keyed by task name;
5. a ``SKIPPED`` upstream passes ``None`` (its slot in the results holds ``None``).

The rule is applied once per task when a run is planned (:func:`plan_binding`); each call
then only gathers values by precomputed upstream ids (:meth:`Binding.gather`).

Example:
    >>> from ferroflow.engine.inputs import plan_binding
    >>> from ferroflow.engine.tasks import signature_params
    >>> def load(data, table="t", *, verbose=False): ...
    >>> b = plan_binding("load", signature_params(load), [("extract", 0)], {"verbose": True})
    >>> b.gather(["rows"])
    (['rows'], {'verbose': True})
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .tasks import Param

__all__ = ["Binding", "injected_upstreams", "plan_binding"]

_PO = inspect.Parameter.POSITIONAL_ONLY
_POK = inspect.Parameter.POSITIONAL_OR_KEYWORD
_VAR_POS = inspect.Parameter.VAR_POSITIONAL
_KW = inspect.Parameter.KEYWORD_ONLY
_VAR_KW = inspect.Parameter.VAR_KEYWORD


class _Const:
    """A fixed value in a positional slot (a run parameter or a default)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def injected_upstreams(params: Sequence[Param], own_name: str, task_names: Collection[str]) -> list[str]:
    """Rule 1: the names of other tasks that parameters of this task are named after.

    Example:
        >>> from ferroflow.engine.tasks import signature_params
        >>> injected_upstreams(signature_params(lambda users, x: 0), "combine", {"users", "combine"})
        ['users']
    """
    return [p.name for p in params if p.kind not in (_VAR_POS, _VAR_KW) and p.name != own_name and p.name in task_names]


class Binding:
    """The precomputed inputs of one task for one run.

    Attributes:
        task_name: The task.
        up_pos: Upstream ids passed positionally when the call needs nothing else (fast path),
            else ``None``.
        error: Why the task cannot be called (a required parameter has no value), else ``None``.
    """

    __slots__ = ("_kw_const", "_kw_up", "_pos", "error", "task_name", "up_pos")

    def __init__(
        self,
        task_name: str,
        pos: list[int | _Const],
        kw_up: list[tuple[str, int]],
        kw_const: dict[str, Any],
        error: str | None,
    ) -> None:
        self.task_name = task_name
        self._pos = tuple(pos)
        self._kw_up = tuple(kw_up)
        self._kw_const = kw_const
        self.error = error
        simple = not kw_up and not kw_const and all(isinstance(p, int) for p in pos)
        self.up_pos: tuple[int, ...] | None = tuple(p for p in pos if isinstance(p, int)) if simple else None

    def gather(self, results: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments, read from ``results`` (indexed by node id)."""
        args = [results[p] if type(p) is int else p.value for p in self._pos]  # type: ignore[union-attr]
        kwargs = dict(self._kw_const)
        for key, up in self._kw_up:
            kwargs[key] = results[up]
        return args, kwargs

    def __repr__(self) -> str:
        return f"Binding({self.task_name!r}, pos={self._pos!r}, kw={self._kw_up!r}, const={list(self._kw_const)!r})"


def plan_binding(
    task_name: str,
    params: Sequence[Param],
    upstreams: Sequence[tuple[str, int]],
    run_params: Mapping[str, Any],
) -> Binding:
    """Apply the binding rule to one task.

    Args:
        task_name: The task (for messages).
        params: Its function's parameters (``Task.params``).
        upstreams: ``(name, node id)`` of every upstream, declared ones first in declaration
            order, then the name-injected ones.
        run_params: The run parameters.

    Returns:
        The :class:`Binding`; if a required parameter gets no value, ``Binding.error`` says
        which (the task then fails with a ``TypeError`` naming it, without being called).
    """
    fast = _plain_binding(task_name, params, upstreams, run_params)
    if fast is not None:
        return fast
    up_id = dict(upstreams)
    bound: dict[str, int | _Const] = {}
    used: set[str] = set()
    named = [p for p in params if p.kind not in (_VAR_POS, _VAR_KW)]
    # Rule 1: parameters named after an upstream task.
    for p in named:
        if p.name in up_id:
            bound[p.name] = up_id[p.name]
            used.add(p.name)
    # Rule 2: remaining upstream results fill remaining positional parameters in order;
    # a parameter a run parameter names exactly is left for rule 3.
    remaining = [name for name, _ in upstreams if name not in used]
    for p in named:
        if not remaining:
            break
        if p.kind in (_PO, _POK) and p.name not in bound and p.name not in run_params:
            bound[p.name] = up_id[remaining.pop(0)]
    # Rule 3: run parameters fill free parameters of the same name.
    for p in named:
        if p.name not in bound and p.name in run_params:
            bound[p.name] = _Const(run_params[p.name])
    has_var_pos = any(p.kind is _VAR_POS for p in params)
    has_var_kw = any(p.kind is _VAR_KW for p in params)
    missing = [p.name for p in named if p.name not in bound and not p.has_default]
    error = None
    if missing:
        error = (
            f"task {task_name!r}: no value for parameter(s) {', '.join(map(repr, missing))}: "
            "no upstream task of that name, no upstream result left for it, no run parameter and no default"
        )
    return _assemble(task_name, params, bound, remaining if has_var_pos or has_var_kw else [], up_id, error)


def _plain_binding(
    task_name: str,
    params: Sequence[Param],
    upstreams: Sequence[tuple[str, int]],
    run_params: Mapping[str, Any],
) -> Binding | None:
    """The common case without the general machinery: required positional parameters, none
    named after an upstream or a run parameter, and enough upstreams to fill them."""
    k = len(params)
    if k > len(upstreams):
        return None
    for p in params:
        if p.kind is not _POK or p.has_default or p.name in run_params:
            return None
    if k:
        names = {p.name for p in params}
        for name, _ in upstreams:
            if name in names:
                return None
    b = Binding.__new__(Binding)
    b.task_name = task_name
    ids = tuple(up for _, up in upstreams[:k])
    b.up_pos = ids
    b._pos = ids
    b._kw_up = ()
    b._kw_const = {}
    b.error = None
    return b


def _assemble(
    task_name: str,
    params: Sequence[Param],
    bound: dict[str, int | _Const],
    leftover: list[str],
    up_id: Mapping[str, int],
    error: str | None,
) -> Binding:
    positional = [p for p in params if p.kind in (_PO, _POK)]
    has_var_pos = any(p.kind is _VAR_POS for p in params)
    pos: list[int | _Const] = []
    kw_up: list[tuple[str, int]] = []
    kw_const: dict[str, Any] = {}
    if has_var_pos and leftover:
        # Everything before *args must go positionally; free ones pass their default.
        last = len(positional)
    else:
        # Pass positionally the longest prefix that is bound; positional-only ones must be.
        last = 0
        for i, p in enumerate(positional):
            if p.name in bound:
                last = i + 1
            elif not (p.kind is _PO and any(q.name in bound for q in positional[i:] if q.kind is _PO)):
                break
    for p in positional[:last]:
        src = bound.pop(p.name, None)
        pos.append(src if src is not None else _Const(p.default))
    for name, src in bound.items():
        if isinstance(src, _Const):
            kw_const[name] = src.value
        else:
            kw_up.append((name, src))
    if has_var_pos:
        pos.extend(up_id[name] for name in leftover)
    else:
        kw_up.extend((name, up_id[name]) for name in leftover)
    return Binding(task_name, pos, kw_up, kw_const, error)

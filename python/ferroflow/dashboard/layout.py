"""The layout of a run's graph for the run page: layers, order within layers, collapsing.

Tasks are placed in columns by layer (the Rust core's ``Graph.layer_ids``: a task
sits one layer after its deepest upstream). Within each layer, tasks are ordered
by the barycenter heuristic: a few sweeps down and up, each placing a task at the
mean position of its neighbours in the previous layer, which removes most edge
crossings at a cost linear in the edges per sweep. A big graph stays usable: at
most ``max_nodes`` tasks are drawn, shared out between the layers, and the rest of
each layer is one collapsed node showing how many tasks it holds by status.

Example:
    >>> g = layout(["a", "b", "c"], {"c": ["a", "b"]})
    >>> [[n["name"] for n in layer] for layer in g["layers"]]
    [['a', 'b'], ['c']]
    >>> g["edges"]
    [['a', 'c'], ['b', 'c']]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._core import Graph

__all__ = ["MAX_EDGES", "MAX_NODES", "GraphLayout", "layout"]

MAX_NODES = 1000
MAX_EDGES = 6000
_SWEEPS = 4


def _layers(names: Sequence[str], ups: list[list[int]]) -> list[list[int]]:
    graph = Graph()
    graph.extend(list(names), [(names[u], name) for name, us in zip(names, ups, strict=True) for u in us])
    return [list(layer) for layer in graph.layer_ids()]


def _order(layers: list[list[int]], ups: list[list[int]], downs: list[list[int]]) -> None:
    """Reorder each layer in place by barycenters, sweeping down then up."""
    pos = [0.0] * len(ups)
    for layer in layers:
        for k, v in enumerate(layer):
            pos[v] = k
    for sweep in range(_SWEEPS):
        down = sweep % 2 == 0
        sequence = layers[1:] if down else layers[-2::-1]
        for layer in sequence:
            keyed = []
            for k, v in enumerate(layer):
                neighbours = ups[v] if down else downs[v]
                key = sum(pos[u] for u in neighbours) / len(neighbours) if neighbours else pos[v]
                keyed.append((key, k, v))
            keyed.sort()
            layer[:] = [v for _, _, v in keyed]
            for k, v in enumerate(layer):
                pos[v] = k


class GraphLayout:
    """Where each task of one run's graph goes; computed once, drawn with each new status."""

    def __init__(self, names: Sequence[str], upstreams: Mapping[str, Sequence[str]], max_nodes: int = MAX_NODES):
        self.names = list(names)
        index = {name: i for i, name in enumerate(self.names)}
        ups = [[index[u] for u in upstreams.get(name, ()) if u in index] for name in self.names]
        downs: list[list[int]] = [[] for _ in self.names]
        for v, us in enumerate(ups):
            for u in us:
                downs[u].append(v)
        self.layers = _layers(self.names, ups)
        _order(self.layers, ups, downs)
        self.keep = _shares([len(layer) for layer in self.layers], max_nodes)
        drawn = {v for layer, keep in zip(self.layers, self.keep, strict=True) for v in layer[:keep]}
        self.edges: list[list[str]] = []
        for v in sorted(drawn):
            self.edges.extend([self.names[u], self.names[v]] for u in ups[v] if u in drawn)
        del self.edges[MAX_EDGES:]

    def render(self, status: Mapping[str, str]) -> dict[str, Any]:
        """The drawable graph: ``{layers, edges, collapsed, total}``.

        ``layers`` is a list of columns, each a list of ``{name, status}``; ``collapsed``
        has one entry per layer that could not be drawn whole: ``{layer, count,
        by_status}``; ``edges`` joins drawn tasks only (at most :data:`MAX_EDGES`).
        """
        names = self.names
        out_layers: list[list[dict[str, str]]] = []
        collapsed: list[dict[str, Any]] = []
        for li, (layer, keep) in enumerate(zip(self.layers, self.keep, strict=True)):
            out_layers.append([{"name": names[v], "status": status.get(names[v], "pending")} for v in layer[:keep]])
            if keep < len(layer):
                counts: dict[str, int] = {}
                for v in layer[keep:]:
                    s = status.get(names[v], "pending")
                    counts[s] = counts.get(s, 0) + 1
                collapsed.append({"layer": li, "count": len(layer) - keep, "by_status": counts})
        return {"layers": out_layers, "edges": self.edges, "collapsed": collapsed, "total": len(names)}

    def hidden(self, layer: int, status: Mapping[str, str], offset: int = 0, limit: int = 200) -> dict[str, Any]:
        """The tasks of ``layer`` the drawing left out, a page at a time.

        Returns ``{layer, total, offset, tasks}``: ``total`` tasks are collapsed in
        that layer, ``tasks`` holds ``{name, status}`` of those from ``offset`` on
        (at most ``limit``), in the layer's drawing order.
        """
        rest = self.layers[layer][self.keep[layer] :]
        names = self.names
        page = [{"name": names[v], "status": status.get(names[v], "pending")} for v in rest[offset : offset + limit]]
        return {"layer": layer, "total": len(rest), "offset": offset, "tasks": page}


def layout(
    names: Sequence[str],
    upstreams: Mapping[str, Sequence[str]],
    status: Mapping[str, str] | None = None,
    max_nodes: int = MAX_NODES,
) -> dict[str, Any]:
    """Lay out and draw once: ``GraphLayout(names, upstreams, max_nodes).render(status)``."""
    return GraphLayout(names, upstreams, max_nodes).render(status or {})


def _shares(sizes: list[int], budget: int) -> list[int]:
    """How many tasks of each layer to draw: everything when it fits, else a fair share.

    Example:
        >>> _shares([2, 50, 3], 20)
        [2, 15, 3]
    """
    if sum(sizes) <= budget:
        return list(sizes)
    keep = [0] * len(sizes)
    left = budget
    open_layers = [i for i, n in enumerate(sizes) if n]
    while open_layers and left > 0:
        share = max(1, left // len(open_layers))
        still = []
        for i in open_layers:
            take = min(share, sizes[i] - keep[i], left)
            keep[i] += take
            left -= take
            if keep[i] < sizes[i]:
                still.append(i)
            if left <= 0:
                break
        open_layers = still
    return keep

"""The Rust graph core, straight from Python: bulk build, order, cycle report."""

from ferroflow._core import Graph
from ferroflow.errors import CycleError

g = Graph()
g.extend(["extract", "transform", "load"], [("extract", "transform"), ("transform", "load")])
print(g.topological_order())  # ['extract', 'transform', 'load']
try:
    g.add_edge("load", "extract")
except CycleError as err:
    print(err.cycle)  # ['extract', 'transform', 'load', 'extract']

"""Visualize: ascii, mermaid and dot output, unique escaped node ids, on all three front doors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ferroflow import DAG, Flow, Task, Workflow, registry


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


def _wf() -> Workflow:
    wf = Workflow('etl "prod"')
    wf.add_task(Task(fn=lambda: 1, name="extract"))
    wf.add_task(Task(fn=lambda x: x, name='say "hi"\nnow'), depends_on=["extract"])
    wf.add_task(Task(fn=lambda x: x, name="a[b]{c}|<d>;"), depends_on=["extract"])
    return wf


def test_ascii_lists_layers_and_dependencies() -> None:
    text = _wf().visualize()
    assert text.splitlines()[0] == 'etl "prod" (3 tasks, 2 layers)'
    assert "layer 1" in text and "layer 2" in text
    assert "extract" in text and "← extract" in text


def test_mermaid_uses_ids_and_escapes_labels() -> None:
    text = _wf().visualize("mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    n0["extract"]' in lines
    assert "    n0 --> n1" in lines and "    n0 --> n2" in lines
    label_lines = [line for line in lines if line.startswith("    n1[")]
    assert label_lines and '"hi"' not in label_lines[0] and "\n" not in label_lines[0]
    assert "[b]" not in text.split("n2[", 1)[1].split("\n", 1)[0].strip('["]')


def test_dot_quotes_and_escapes() -> None:
    text = _wf().visualize("dot")
    assert text.startswith('digraph "etl \\"prod\\"" {')
    assert 'n1 [label="say \\"hi\\"\\nnow"];' in text
    assert "n0 -> n1;" in text and text.rstrip().endswith("}")


def test_same_names_get_distinct_ids() -> None:
    wf = Workflow("w")
    for name in ["a b", "a-b", "a_b", "a.b"]:
        wf.add_task(Task(fn=lambda: 0, name=name))
    ids = [line.split("[", 1)[0].strip() for line in wf.visualize("mermaid").splitlines()[1:]]
    assert len(set(ids)) == 4


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        _wf().visualize("png")


def test_statuses_show_after_a_run() -> None:
    wf = _wf()
    wf.run(store=None)
    assert "[completed]" in wf.visualize()
    assert "class n0 completed" in wf.visualize("mermaid")
    assert "fillcolor" in wf.visualize("dot")


def test_dag_and_flow_visualize_too() -> None:
    a = Task(fn=lambda: 1, name="a")
    b = Task(fn=lambda a: a, name="b")
    a >> b
    assert "n0 --> n1" in DAG("d", tasks=[b]).visualize("mermaid")
    flow = Flow("f").add(Task(fn=lambda: 1, name="x")).add(Task(fn=lambda x: x, name="y"))
    assert "n0 -> n1;" in flow.visualize("dot")
    assert "y ← x" in flow.visualize("ascii")

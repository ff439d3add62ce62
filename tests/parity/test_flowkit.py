"""Flowkit's README examples, with ``flowkit`` renamed to ``ferroflow``.

The names a snippet leaves to the reader (``fetch_data``, ``process``, ``save_to_db``,
``requests``, ``db``, ``send_email``) are defined first, as plain local stand-ins.
Each example runs for real, with the default store in the test's own folder.
"""

from __future__ import annotations

import json
import logging
import time
import types
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ferroflow import TaskStatus, registry
from ferroflow.log import reset_logging
import itertools


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()
    reset_logging()


def fetch_data() -> list[int]:
    return [1, 2, 3]


def process(data: list[int]) -> list[int]:
    return [x * 10 for x in data]


SAVED: list[Any] = []


def save_to_db(data: Any) -> None:
    SAVED.append(data)


def test_option_1_the_dag_api() -> None:
    from ferroflow import task, DAG

    @task(retries=3)
    def extract():
        """Fetch data from source."""
        return fetch_data()

    @task()
    def transform(data):
        """Process the data."""
        return process(data)

    @task()
    def load(data):
        """Save to database."""
        save_to_db(data)
        return "Success"

    # Define pipeline using >> operator
    extract >> transform >> load

    # Execute
    dag = DAG("my_pipeline")
    results = dag.run()
    assert dict(results) == {"extract": [1, 2, 3], "transform": [10, 20, 30], "load": "Success"}
    assert results.status == "completed" and SAVED[-1] == [10, 20, 30]
    assert extract.description == "Fetch data from source."


def test_option_2_the_flow_api() -> None:
    from ferroflow import task, Flow

    @task(retries=3)
    def extract():
        """Fetch data from source."""
        return fetch_data()

    @task()
    def transform(extract):  # Parameter name matches task name
        """Process the data."""
        return process(extract)

    @task()
    def load(transform):
        """Save to database."""
        save_to_db(transform)
        return "Success"

    # Build pipeline with chainable API
    pipeline = Flow("my_pipeline", max_workers=4).add(extract).add(transform).add(load)

    # Execute
    results = pipeline.run()
    assert dict(results) == {"extract": [1, 2, 3], "transform": [10, 20, 30], "load": "Success"}


def test_retries_with_exponential_backoff() -> None:
    from ferroflow import task, DAG

    calls: list[float] = []

    @task(retries=3, delay=0.05, backoff=2.0)
    def robust_task():
        # Will retry up to 3 times with exponential backoff
        calls.append(time.monotonic())
        if len(calls) < 4:
            raise ConnectionError("flaky")
        return "ok"

    results = DAG("retrying").run()
    assert results["robust_task"] == "ok" and len(calls) == 4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # 0.05 s, then 0.1 s, then 0.2 s, each with up to 10 % jitter.
    for gap, base in zip(gaps, (0.05, 0.1, 0.2), strict=True):
        assert gap >= base * 0.9


def test_the_pipeline_operators_and_the_keras_style_branches() -> None:
    from ferroflow import task, DAG, Flow

    @task()
    def task1():
        return 1

    @task()
    def task2(x):
        return x + 1

    @task()
    def task3(x):
        return x + 2

    @task()
    def task4(x):
        return x + 3

    @task()
    def merge(a, b, c):
        return [a, b, c]

    # Branching (fan-out), then merging (fan-in)
    task1 >> [task2, task3, task4]
    [task2, task3, task4] >> merge
    dag = DAG("my_workflow", max_workers=4)
    assert dict(dag.run(executor="thread")) == {"task1": 1, "task2": 2, "task3": 3, "task4": 4, "merge": [2, 3, 4]}
    registry.clear()

    @task()
    def fetch_user():
        return {"id": 1, "name": "Alice"}

    @task()
    def fetch_orders():
        return ["order1", "order2"]

    @task()
    def fetch_recommendations():
        return ["item1", "item2"]

    @task()
    def combine(fetch_user, fetch_orders, fetch_recommendations):
        return {"user": fetch_user, "orders": fetch_orders, "recommendations": fetch_recommendations}

    pipeline = (
        Flow("user_pipeline", max_workers=5)
        .add(fetch_user)  # Start
        .branch(fetch_orders, fetch_recommendations)  # Parallel branches
        .merge(combine)  # Merge results
    )
    results = pipeline.run()
    assert results["combine"] == {
        "user": {"id": 1, "name": "Alice"},
        "orders": ["order1", "order2"],
        "recommendations": ["item1", "item2"],
    }
    assert "combine" in pipeline.visualize()


def test_conditional_execution_skips_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    from ferroflow import task, DAG

    @task()
    def check_data():
        return 1500  # Some metric

    @task(when=lambda x: x > 1000)
    def handle_large_data(value):
        return f"Processing large dataset: {value}"

    @task(when=lambda x: x <= 1000)
    def handle_small_data(value):
        return f"Processing small dataset: {value}"

    check_data >> [handle_large_data, handle_small_data]
    with caplog.at_level(logging.INFO, logger="ferroflow"):
        results = DAG("conditional").run()
    assert results["handle_large_data"] == "Processing large dataset: 1500"
    assert results.records["handle_small_data"].status is TaskStatus.SKIPPED
    assert any("handle_small_data" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


def test_the_etl_pipeline(tmp_path: Path) -> None:
    from ferroflow import task, DAG

    # The network, the database and the mail server of the example, as local stand-ins.
    requests = types.SimpleNamespace(
        get=lambda url: types.SimpleNamespace(json=lambda: [{"id": 1, "value": 2}, {"id": 2, "value": 5}])
    )
    inserted: list[Any] = []
    db = types.SimpleNamespace(bulk_insert=inserted.extend)
    sent: list[str] = []
    send_email = sent.append

    @task(retries=3)
    def extract_from_api():
        """Extract data from API."""
        response = requests.get("https://api.example.com/data")
        return response.json()

    @task()
    def transform_data(raw_data):
        """Clean and transform data."""
        return [{"id": item["id"], "value": item["value"] * 2, "timestamp": datetime.now()} for item in raw_data]

    @task()
    def load_to_database(transformed_data):
        """Load data into database."""
        db.bulk_insert(transformed_data)
        return f"Loaded {len(transformed_data)} records"

    @task()
    def send_notification(result):
        """Notify completion."""
        send_email(f"ETL completed: {result}")
        return "Notification sent"

    # Build pipeline
    extract_from_api >> transform_data >> load_to_database >> send_notification

    # Execute
    dag = DAG("etl_pipeline", max_workers=2)
    results = dag.run()
    assert results["send_notification"] == "Notification sent"
    assert [row["value"] for row in inserted] == [4, 10] and sent == ["ETL completed: Loaded 2 records"]


def test_the_approval_workflow(capsys: pytest.CaptureFixture[str]) -> None:
    from ferroflow import task, DAG

    def fetch_data_size() -> int:
        return 1200

    @task()
    def extract():
        return fetch_data_size()

    @task()
    def transform(data_size):
        return data_size * 2

    @task(when=lambda x: x > 2000)
    def require_manual_approval(size):
        """Large datasets need approval."""
        print(f"Large dataset ({size}) - manual approval required")
        return "MANUAL_APPROVAL"

    @task(when=lambda x: x <= 2000)
    def auto_approve(size):
        """Small datasets auto-approved."""
        print(f"Small dataset ({size}) - auto-approved")
        return "AUTO_APPROVED"

    @task()
    def load(transform_result, manual=None, auto=None):
        approval = manual or auto
        print(f"Loading {transform_result} with {approval}")
        return f"LOADED_{approval}"

    # Build conditional pipeline
    extract >> transform
    transform >> [require_manual_approval, auto_approve]
    [transform, require_manual_approval, auto_approve] >> load

    # Execute
    dag = DAG("approval_workflow")
    results = dag.run()
    assert results["load"] == "LOADED_MANUAL_APPROVAL"
    assert results.records["auto_approve"].status is TaskStatus.SKIPPED
    out = capsys.readouterr().out
    assert "Large dataset (2400) - manual approval required" in out and "Loading 2400 with MANUAL_APPROVAL" in out


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_parallel_processing(executor: str) -> None:
    from ferroflow import task, DAG

    @task()
    def fetch_data():
        """Fetch initial dataset."""
        return range(1000)

    @task()
    def process_batch_1(data):
        """Process first batch."""
        return sum(list(data)[:333])

    @task()
    def process_batch_2(data):
        """Process second batch."""
        return sum(list(data)[333:666])

    @task()
    def process_batch_3(data):
        """Process third batch."""
        return sum(list(data)[666:])

    @task()
    def aggregate_results(data, b1, b2, b3):
        """Combine all results."""
        total = b1 + b2 + b3
        return f"Total: {total}"

    # Parallel processing pipeline
    fetch_data >> [process_batch_1, process_batch_2, process_batch_3]
    [fetch_data, process_batch_1, process_batch_2, process_batch_3] >> aggregate_results

    # Execute with parallel workers
    dag = DAG("parallel_processing", max_workers=3)
    results = dag.run(executor=executor)
    assert results["aggregate_results"] == f"Total: {sum(range(1000))}"


def test_structured_logging_levels_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from ferroflow import configure_logging, LogLevel, task, DAG

    # Or JSON output for log aggregation
    configure_logging(level=LogLevel.DEBUG, json_output=True, stream=sys.stderr)

    @task()
    def fetch():
        return 1

    DAG("logged").run()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    events = {(line["level"], line.get("event"), line.get("task")) for line in lines}
    assert ("DEBUG", "task_started", "fetch") in events
    assert ("SUCCESS", "task_completed", "fetch") in events
    # The documented levels, SYSTEM and SUCCESS among them.
    assert {"DEBUG", "INFO", "WARNING", "ERROR", "SUCCESS", "SYSTEM"} <= {level.name for level in LogLevel}


def test_state_persistence(tmp_path: Path) -> None:
    from ferroflow import StateManager

    # In-memory caching
    state = StateManager()
    data = {"rows": 3}

    # File-based persistence
    state = StateManager(storage_path=str(tmp_path / ".flowkit" / "state.json"), default_ttl=3600)

    # Store and retrieve results
    state.set("task_result", data, ttl=3600)
    cached = state.get("task_result")
    assert cached == data
    again = StateManager(storage_path=str(tmp_path / ".flowkit" / "state.json"))
    assert again.get("task_result") == data and again.has("task_result")
    assert again.delete("task_result") and again.get_all() == {}

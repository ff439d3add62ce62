"""Reports: steps, files, batches, roll-up, context managers, atomic dumps and run reports."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from ferroflow import (
    FileReport,
    PipelineReport,
    ReportStatus,
    StepReport,
    StoreError,
    Workflow,
    bind_pipeline,
    current_pipeline,
    dump_report,
    load_report,
    pipeline_file,
    pipeline_step,
    task,
)
from ferroflow.reports.models import REPORT_VERSION
from ferroflow.results import RunResult, TaskRecord, TaskStatus
from ferroflow.store.run_report import build_run_report


def _roundtrip(report: PipelineReport) -> PipelineReport:
    again = PipelineReport.model_validate_json(report.model_dump_json())
    assert again.model_dump() == report.model_dump()
    return again


# ---------------------------------------------------------------- steps


def test_a_step_is_timed_from_begin_to_its_end() -> None:
    step = StepReport(label="parse").begin()
    assert step.status is ReportStatus.RUNNING and step.started_at is not None and step.id
    assert step.succeed("ok").status is ReportStatus.SUCCESS
    assert step.percent == 100.0 and step.notes == ["ok"]
    assert step.finished_at is not None and step.finished_at >= step.started_at
    assert step.duration_ms is not None and step.duration_ms >= 0


def test_end_infers_success_from_checks_and_errors() -> None:
    assert StepReport(label="a").start().add_check("x", True).end().status is ReportStatus.SUCCESS
    failed = StepReport(label="b").start().add_check("rows", False, "row 7 empty").end()
    assert failed.status is ReportStatus.FAILED and not failed.ok and failed.checks[0].detail == "row 7 empty"
    assert StepReport(label="c").start().error("boom").end().status is ReportStatus.FAILED
    warned = StepReport(label="d").start().warn("slow").note("n").end()
    assert warned.status is ReportStatus.SUCCESS and warned.warnings == ["slow"] and warned.notes == ["n"]
    assert warned.end() is warned and warned.status is ReportStatus.SUCCESS  # ending twice changes nothing


def test_fail_and_skip_record_their_reason() -> None:
    assert StepReport(label="a").fail("disk full").errors == ["disk full"]
    skipped = StepReport(label="b").skip("not needed")
    assert skipped.status is ReportStatus.SKIPPED and skipped.notes == ["not needed"]
    assert StepReport(id="x").label == "x"


# ---------------------------------------------------------------- files and batches


def test_a_file_with_a_failed_step_is_failed_and_so_is_the_batch() -> None:
    report = PipelineReport(batch_id="b1", kind="ingest")
    good = report.append_file(FileReport(file_id="g", path="in/good.csv")).add_completed_step("parse")
    bad = report.append_file(FileReport(file_id="b", path="in/bad.csv"))
    bad.add_completed_step("parse", note="10 rows", metadata={"rows": 10}).add_failed_step("load", reason="dup key")
    assert good.status is ReportStatus.SUCCESS and good.name == "good.csv"
    assert bad.status is ReportStatus.FAILED and bad.steps[1].errors == ["dup key"]
    assert report.status is ReportStatus.FAILED
    assert report.file("b") is bad and report.file("zzz") is None


def test_a_review_flag_rolls_up_to_the_file_and_the_batch() -> None:
    report = PipelineReport(batch_id="b1")
    f = report.append_file(FileReport(file_id="1", path="scan.pdf"))
    assert not report.review.flagged
    f.add_review_step("check amount", reason="total differs by 0.01")
    assert f.steps[0].status is ReportStatus.SUCCESS
    assert f.review.flagged and f.review.reason == "total differs by 0.01"
    assert report.review.flagged and report.review.reason == "total differs by 0.01"
    open_review = FileReport(file_id="2").add_review_step("confirm", mark_success=False)
    assert open_review.status is ReportStatus.RUNNING and open_review.review.flagged


def test_status_and_percent_roll_up() -> None:
    f = FileReport(file_id="1")
    assert f.status is ReportStatus.PENDING and f.percent == 0.0
    f = f.append_step(StepReport(label="a").succeed()).append_step(StepReport(label="b").begin().set_progress(50))
    assert f.status is ReportStatus.RUNNING and f.percent == 75.0
    assert FileReport().add_skipped_step("x", reason="r").status is ReportStatus.SKIPPED
    report = PipelineReport()
    assert report.percent == 0.0 and PipelineReport().status is ReportStatus.PENDING
    report.append_file(f)
    assert report.append_step(StepReport(label="setup").succeed()).status is ReportStatus.RUNNING
    assert report.percent == 87.5
    report.set_progress("loading", 40, "2 of 5")
    assert (report.stage, report.percent, report.message) == ("loading", 40.0, "2 of 5")
    report.error("lost connection")
    assert report.status is ReportStatus.FAILED


def test_reports_round_trip_through_json_with_their_version() -> None:
    report = PipelineReport(batch_id="b", kind="k", metadata={"source": "inbox"})
    report.append_file(FileReport(path="a.txt", size_bytes=3, mime_type="text/plain")).add_review_step("x", "y")
    report.append_step(StepReport(label="s").begin().add_check("c", False).end())
    data = json.loads(report.model_dump_json())
    assert data["report_version"] == REPORT_VERSION == 1
    assert data["status"] == "FAILED" and data["review"] == {"flagged": True, "reason": "y"}
    assert data["files"][0]["status"] == "SUCCESS" and data["steps"][0]["id"]
    again = _roundtrip(report)
    assert again.status is ReportStatus.FAILED and again.files[0].review.flagged


# ---------------------------------------------------------------- context managers


def test_pipeline_step_records_an_exception_and_continues(tmp_path: Path) -> None:
    report = PipelineReport(batch_id="b")
    with pipeline_step(report, "parse", label="Parse the input") as step:
        step.note("starting")
        raise ValueError("bad row 3")
    after = report.steps[0]
    assert (after.id, after.label, after.status) == ("parse", "Parse the input", ReportStatus.FAILED)
    assert after.errors == ["ValueError: bad row 3"] and "Traceback" in after.metadata["traceback"]
    assert after.duration_ms is not None
    assert list(tmp_path.iterdir()) == [] or all(p.name == "ferroflow-home" for p in tmp_path.iterdir())


def test_pipeline_step_reraises_when_asked() -> None:
    report = PipelineReport()
    with pytest.raises(KeyError), pipeline_step(report, "x", raise_on_exception=True):
        raise KeyError("k")
    assert report.steps[0].status is ReportStatus.FAILED


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_context_managers_never_swallow_keyboard_interrupt_or_system_exit(exc: BaseException) -> None:
    report = PipelineReport()
    with pytest.raises(type(exc)), pipeline_step(report, "s"):
        raise exc
    assert report.steps[0].status is ReportStatus.FAILED and report.steps[0].errors[0].startswith("interrupted")
    with pytest.raises(type(exc)), pipeline_file(report, file_id="f"):
        raise exc
    assert report.files[0].status is ReportStatus.FAILED


def test_a_step_that_settled_its_own_status_keeps_it() -> None:
    report = PipelineReport()
    with pipeline_step(report, "optional") as step:
        step.skip("nothing to do")
    assert report.steps[0].status is ReportStatus.SKIPPED


def test_pipeline_file_collects_nested_steps_and_saves_on_exception(tmp_path: Path) -> None:
    src = tmp_path / "invoice.pdf"
    src.write_bytes(b"%PDF-1.4 ...")
    out = tmp_path / "out" / "report.json"
    out.parent.mkdir()
    report = PipelineReport(batch_id="b", kind="inbox", output_path=out)
    with pipeline_file(report, path=src, set_stage_on_enter=True, banner_stage="processing") as f:
        with pipeline_step(None, "read"):
            pass
        with pipeline_step(None, "classify"):
            raise RuntimeError("unknown layout")
        raise OSError("cannot move file")
    assert report.stage == "processing"
    assert f.file_id == str(src) and f.name == "invoice.pdf" and f.size_bytes == len(b"%PDF-1.4 ...")
    assert f.mime_type == "application/pdf"
    assert [s.status for s in f.steps] == [ReportStatus.SUCCESS, ReportStatus.FAILED]
    assert f.status is ReportStatus.FAILED and f.errors == ["OSError: cannot move file"]
    saved = load_report(out)  # saved by the exception
    assert saved.files[0].errors == ["OSError: cannot move file"] and saved.status is ReportStatus.FAILED


def test_pipeline_file_without_output_path_writes_nothing(tmp_path: Path) -> None:
    before = sorted(tmp_path.rglob("*"))
    report = PipelineReport()
    with pipeline_file(report, file_id="x", save_on_exception=True):
        raise ValueError("v")
    with pytest.raises(ValueError, match="has no output_path"):
        report.save()
    assert sorted(tmp_path.rglob("*")) == before


def test_pipeline_file_reraises_when_asked_and_skips_saving_when_told(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    report = PipelineReport(output_path=out)
    with (
        pytest.raises(ValueError),
        pipeline_file(report, file_id="x", raise_on_exception=True, save_on_exception=False),
    ):
        raise ValueError("v")
    assert not out.exists()


def test_bind_pipeline_is_isolated_between_threads() -> None:
    report = PipelineReport(batch_id="main")
    seen: list[object] = []

    def other_thread() -> None:
        seen.append(current_pipeline())
        with pipeline_step(None, "detached") as step:
            step.note("goes nowhere")

    with bind_pipeline(report):
        th = threading.Thread(target=other_thread)
        th.start()
        th.join()
        with pipeline_step(None, "mine"):
            pass
    assert seen == [None]
    assert [s.id for s in report.steps] == ["mine"]
    assert current_pipeline() is None


def test_bind_pipeline_is_isolated_between_asyncio_tasks() -> None:
    async def job(name: str, gate: asyncio.Event, other: asyncio.Event) -> PipelineReport:
        report = PipelineReport(batch_id=name)
        with bind_pipeline(report), pipeline_file(None, file_id=f"{name}.txt"):
            other.set()
            await gate.wait()  # both tasks are inside their blocks at the same time
            with pipeline_step(None, f"{name}-step"):
                await asyncio.sleep(0)
        return report

    async def main() -> tuple[PipelineReport, PipelineReport]:
        ga, gb = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(job("a", ga, gb), job("b", gb, ga))

    ra, rb = asyncio.run(main())
    assert [f.file_id for f in ra.files] == ["a.txt"] and [s.id for s in ra.files[0].steps] == ["a-step"]
    assert [f.file_id for f in rb.files] == ["b.txt"] and [s.id for s in rb.files[0].steps] == ["b-step"]


# ---------------------------------------------------------------- files on disk


def test_dump_report_is_atomic_and_accepts_str_or_path(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    first = PipelineReport(batch_id="one")
    assert dump_report(str(target), first) == target
    assert load_report(target).batch_id == "one"
    unserializable = PipelineReport(batch_id="two", metadata={"lock": threading.Lock()})
    dump_report(target, unserializable)  # non-JSON values are written as text
    assert "unlocked" in load_report(target).metadata["lock"]
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def test_dump_report_failure_leaves_the_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    dump_report(target, PipelineReport(batch_id="old"))
    before = target.read_bytes()
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot write report"):
        dump_report(tmp_path / "a-file" / "report.json", PipelineReport())
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(StoreError, match=r"dir\.json"):
        dump_report(tmp_path / "dir.json", PipelineReport())
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "dir.json", "report.json"]


def test_dump_report_and_save_create_missing_parent_folders(tmp_path: Path) -> None:
    written = dump_report(tmp_path / "reports" / "nested" / "progress.json", PipelineReport(batch_id="b"))
    assert load_report(written).batch_id == "b"
    report = PipelineReport(batch_id="c", output_path=tmp_path / "out" / "c.json")
    assert load_report(report.save()).batch_id == "c"


def test_a_report_that_fails_validation_gives_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"batch_id": "x", "steps": [{"status": "EXPLODED"}]}))
    with pytest.raises(StoreError, match=r"bad\.json is not a valid ferroflow report: steps\.0\.status"):
        load_report(bad)
    (tmp_path / "garbage.json").write_text("{nope")
    with pytest.raises(StoreError, match="not a valid ferroflow report"):
        load_report(tmp_path / "garbage.json")
    with pytest.raises(StoreError, match="cannot read report"):
        load_report(tmp_path / "absent.json")
    assert bad.read_text().startswith('{"batch_id"')


# ---------------------------------------------------------------- run reports


def test_a_run_report_has_one_step_per_task() -> None:
    try:
        raise ValueError("bad input")
    except ValueError as e:
        err = e
    records = {
        "a": TaskRecord("a", TaskStatus.COMPLETED, attempts=1, started_at=10.0, finished_at=10.25, logs=["l1"]),
        "b": TaskRecord("b", TaskStatus.FAILED, attempts=3, started_at=10.25, finished_at=11.0, error=err),
        "c": TaskRecord("c", TaskStatus.UPSTREAM_FAILED, reason="upstream 'b' failed"),
        "d": TaskRecord("d", TaskStatus.SKIPPED),
        "e": TaskRecord("e", TaskStatus.CANCELLED),
        "f": TaskRecord("f", TaskStatus.COMPLETED, cached=True),
    }
    result = RunResult("run-9", "etl", {}, status="failed", stats={"total_tasks": 6}, records=records)
    report = _roundtrip(build_run_report(result))
    assert (report.batch_id, report.kind, report.status) == ("run-9", "workflow_run", ReportStatus.FAILED)
    # A run that did not complete: the share of its tasks that finished (a, b, d, f), not 100%.
    assert report.metadata["workflow"] == "etl" and report.percent == 66.67
    by_id = {s.id: s for s in report.steps}
    assert [s.label for s in report.steps] == list("abcdef")
    assert by_id["a"].status is ReportStatus.SUCCESS and by_id["a"].duration_ms == 250.0
    assert by_id["a"].metadata["logs"] == ["l1"] and by_id["a"].metadata["attempts"] == 1
    assert by_id["b"].status is ReportStatus.FAILED and by_id["b"].errors == ["ValueError: bad input"]
    assert by_id["b"].metadata == {**by_id["b"].metadata, "task_status": "failed", "attempts": 3}
    assert "Traceback" in by_id["b"].metadata["traceback"]
    assert by_id["c"].status is ReportStatus.SKIPPED and by_id["c"].notes == ["upstream 'b' failed"]
    assert by_id["c"].metadata["task_status"] == "upstream_failed"
    assert by_id["d"].notes and by_id["e"].metadata["task_status"] == "cancelled"
    assert by_id["f"].metadata["cached"] is True and by_id["f"].notes == ["result from the cache"]


def test_every_workflow_run_produces_a_report_stored_and_written(tmp_path: Path) -> None:
    from ferroflow import get_task_logger

    @task
    def fetch() -> int:
        get_task_logger().info("fetched %d rows", 3)
        return 3

    @task
    def broken(fetch: int) -> int:
        raise RuntimeError("no space")

    @task
    def after(broken: int) -> int:
        return broken

    wf = Workflow("reported")
    wf.add_task(fetch)
    wf.add_task(broken, depends_on=["fetch"])
    wf.add_task(after, depends_on=["broken"])
    path = tmp_path / "reports" / "run.json"
    path.parent.mkdir()
    result = wf.run(store=tmp_path / "s.db", report_path=path, raise_on_failure=False)
    assert isinstance(result.report, PipelineReport) and result.report.batch_id == result.run_id
    written = load_report(path)
    assert written.model_dump() == result.report.model_dump()
    steps = {s.id: s for s in written.steps}
    assert steps["fetch"].status is ReportStatus.SUCCESS
    assert any("fetched 3 rows" in line for line in steps["fetch"].metadata["logs"])
    assert steps["broken"].status is ReportStatus.FAILED and steps["broken"].errors == ["RuntimeError: no space"]
    assert steps["after"].status is ReportStatus.SKIPPED and steps["after"].metadata["task_status"] == "upstream_failed"
    from ferroflow.store.store import open_store

    store = open_store(tmp_path / "s.db")
    assert store is not None
    stored = store.get_report(result.run_id)
    assert stored is not None and stored.model_dump() == written.model_dump()


def test_a_run_without_a_store_still_has_a_report(tmp_path: Path) -> None:
    @task
    def only() -> int:
        return 1

    wf = Workflow("nostore")
    wf.add_task(only)
    before = sorted(tmp_path.rglob("*"))
    result = wf.run(store=None)
    assert result.report is not None and result.report.steps[0].id == "only"
    assert sorted(tmp_path.rglob("*")) == before


def test_load_report_refuses_json_that_is_not_a_report(tmp_path: Path) -> None:
    from ferroflow.errors import StoreError
    from ferroflow.reports.models import load_report

    for text, reason in [('{"x": 1}', "no batch_id"), ("[1, 2]", "no batch_id"), ("{", "not JSON")]:
        path = tmp_path / "r.json"
        path.write_text(text)
        with pytest.raises(StoreError, match=reason):
            load_report(path)
        assert path.read_text() == text


def test_an_empty_pipeline_file_block_is_finalised_as_success() -> None:
    report = PipelineReport(batch_id="b", kind="inbox")
    with pipeline_file(report, file_id="f", path="/nowhere/f.csv") as f:
        pass
    assert f.finished_at is not None
    assert (f.status, f.percent) == (ReportStatus.SUCCESS, 100.0)
    assert (report.status, report.percent) == (ReportStatus.SUCCESS, 100.0)

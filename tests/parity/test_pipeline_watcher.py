"""pipeline-watcher's README examples, with ``pipeline_watcher`` renamed to ``ferroflow``.

Each test runs a documented snippet as written (in the test's own working
folder) and checks what the document says it does. Names a snippet leaves to
the reader (``report``, ``some_calculation``, ``risky_work``) are defined first.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
from ferroflow import PipelineReport, ReportStatus, load_report


def test_the_demo_writes_the_batch_banner_and_per_file_timelines(tmp_path: Path) -> None:
    from ferroflow import PipelineReport, FileReport, StepReport, dump_report

    # Create a batch report
    report = PipelineReport(batch_id=42, kind="process")
    report.set_progress("load", 5, "Loading input files…")

    # Add a batch-level step
    report.append_step(StepReport.begin("load", label="Load inputs").succeed())

    # Add a file report with quick steps (fluent, log-like)
    fr = FileReport.begin(file_id="f1", path="inputs/data.csv", name="data.csv")
    fr.add_completed_step("Verified file exists")\
      .add_review_step("Check class balance", reason="Minor skew detected")\
      .add_failed_step("Feature extraction", reason="NaN values found")
    report.append_file(fr)

    # Persist for the UI to pick up
    dump_report("reports/progress.json", report)

    data = json.loads((tmp_path / "reports" / "progress.json").read_text())
    assert data["batch_id"] == 42
    assert (data["stage"], data["percent"], data["message"]) == ("load", 5.0, "Loading input files…")
    assert data["steps"][0]["id"] == "load" and data["steps"][0]["label"] == "Load inputs"
    assert data["steps"][0]["status"] == "SUCCESS"
    assert data["files"][0]["name"] == "data.csv" and data["files"][0]["started_at"] is not None
    assert [s["status"] for s in data["files"][0]["steps"]] == ["SUCCESS", "SUCCESS", "FAILED"]
    assert data["files"][0]["steps"][1]["review"] == {"flagged": True, "reason": "Minor skew detected"}
    assert load_report(tmp_path / "reports" / "progress.json").batch_id == 42


def test_the_fluent_convenience_methods() -> None:
    from ferroflow import FileReport

    fr = FileReport.begin(file_id="42", path="inputs/doc1.docx")
    fr.add_completed_step("Verified file exists")\
      .add_review_step("Low OCR confidence", reason="score=0.42")\
      .add_failed_step("Render PDF", reason="timeout")

    assert fr.name == "doc1.docx"
    assert [s.label for s in fr.steps] == ["Verified file exists", "Low OCR confidence", "Render PDF"]
    assert fr.status is ReportStatus.FAILED and fr.review.flagged
    assert fr.steps[2].errors == ["timeout"]


def test_notes_as_structured_comments() -> None:
    from ferroflow import StepReport

    def some_calculation() -> int:
        return 120

    st = StepReport.begin("calc_result", label="Calculate result")
    result = some_calculation()

    if result > 100:
        st.notes.append("result > 100 → taking branch A")
    else:
        st.notes.append("result ≤ 100 → taking branch B")

    st.end()  # infers SUCCESS (no failed checks or errors)

    assert st.status is ReportStatus.SUCCESS and st.duration_ms is not None
    assert st.notes == ["result > 100 → taking branch A"]

    st.note("raw_result=%s" % result)   # your helper that appends to notes
    st.warn("slow path used")           # appends to warnings
    st.error("contract violated")       # appends to errors

    assert st.notes[-1] == "raw_result=120"
    assert st.warnings == ["slow path used"] and st.errors == ["contract violated"]


def test_pipeline_step_appends_finalizes_and_times_the_step() -> None:
    from ferroflow import pipeline_step

    report = PipelineReport(batch_id=42, kind="process")

    with pipeline_step(report, "validate", label="Validate batch") as st:
        st.add_check("manifest_present", ok=True)
        st.add_check("ids_unique", ok=False, detail="3 duplicates")  # will cause FAILED
    # The step is appended, finalized, and timed automatically.

    (step,) = report.steps
    assert (step.id, step.label, step.status) == ("validate", "Validate batch", ReportStatus.FAILED)
    assert step.duration_ms is not None and step.checks[1].detail == "3 duplicates"


def test_pipeline_file_records_the_failure_and_saves_the_report(tmp_path: Path) -> None:
    report = PipelineReport(batch_id=42, kind="process")
    report.output_path = "reports/progress.json"  # type: ignore[assignment]

    def risky_work() -> None:
        raise RuntimeError("converter crashed")

    from ferroflow import pipeline_file

    with pipeline_file(
        report,
        file_id="f1",
        path="inputs/a.docx",
        name="a.docx",
        raise_on_exception=False,   # record failure and continue (default)
        save_on_exception=True      # save report immediately on errors
    ) as fr:
        fr.add_completed_step("Verified file exists")
        risky_work()  # if this raises, fr is recorded as FAILED and report is saved

    assert fr.status is ReportStatus.FAILED
    saved = load_report(tmp_path / "reports" / "progress.json")
    assert saved.files[0].file_id == "f1" and saved.files[0].status is ReportStatus.FAILED
    assert saved.files[0].errors == ["RuntimeError: converter crashed"]


def test_the_documented_context_manager_options(tmp_path: Path) -> None:
    from ferroflow import pipeline_file, pipeline_step

    report = PipelineReport(batch_id="b7", kind="process")
    with pipeline_step(
        report,
        "load",
        label="Load inputs",
        banner_stage="loading",
        banner_percent=10,
        banner_message="Loading…",
        set_stage_on_enter=True,
    ):
        assert (report.stage, report.percent, report.message) == ("loading", 10.0, "Loading…")
    with pipeline_step(report, "index", banner_stage="indexed", banner_percent=20, banner_message="Indexed"):
        assert report.stage == "loading"
    assert (report.stage, report.percent, report.message) == ("indexed", 20.0, "Indexed")

    with pipeline_file(
        report,
        file_id="f9",
        path="inputs/z.pdf",
        name="z.pdf",
        size_bytes=2048,
        mime_type="application/pdf",
        metadata={"source": "scanner"},
        set_stage_on_enter=True,
        banner_stage="processing z.pdf",
        banner_percent_on_exit=60,
        banner_message_on_exit="z.pdf done",
    ) as fr:
        assert report.stage == "processing z.pdf"
    assert (fr.size_bytes, fr.mime_type, fr.metadata) == (2048, "application/pdf", {"source": "scanner"})
    assert (report.percent, report.message) == (60.0, "z.pdf done")

    with pipeline_step(
        report,
        "export",
        raise_on_exception=False,
        save_on_exception=True,
        output_path_override=tmp_path / "out" / "failed.json",
    ):
        raise OSError("disk full")
    assert load_report(tmp_path / "out" / "failed.json").steps[-1].errors == ["OSError: disk full"]

    with pipeline_file(report, file_id="f10", output_path_override=tmp_path / "out" / "f10.json"):
        raise ValueError("unreadable")
    assert load_report(tmp_path / "out" / "f10.json").files[-1].status is ReportStatus.FAILED


def test_binding_lets_helpers_omit_the_report() -> None:
    report = PipelineReport(batch_id=42, kind="process")
    from ferroflow import bind_pipeline, pipeline_file

    with bind_pipeline(report):
        with pipeline_file(None, file_id="f2", path="inputs/b.docx") as fr:
            # Any nested helpers can discover the bound pipeline
            ...

    assert report.files == [fr] and fr.name == "b.docx"


def test_the_jinja2_template_renders_a_report() -> None:
    from ferroflow import FileReport

    report = PipelineReport(batch_id=42, kind="process")
    report.set_progress("load", 5, "Loading input files…")
    fr = FileReport.begin(file_id="f1", path="inputs/data.csv", name="data.csv")
    fr.add_completed_step("Verified file exists").add_review_step("Check class balance", reason="Minor skew detected")
    report.append_file(fr)
    template = """\
<h1>Batch {{ report.batch_id }} — {{ report.stage }}</h1>
<p>Status: {{ report.percent }}% — {{ report.message }}</p>

<ul>
{% for f in report.files %}
  <li>
    File {{ f.name or f.file_id }}: {{ f.status }}
    <ul>
      {% for s in f.steps %}
        <li>{{ s.label }} — {{ s.status }}
        {% if s.review and s.review.flagged %}
          🔎 Requires review: {{ s.review.reason }}
        {% endif %}
        </li>
      {% endfor %}
    </ul>
  </li>
{% endfor %}
</ul>
"""
    html = jinja2.Template(template).render(report=report)
    assert "Batch 42 — load" in html and "Status: 5.0% — Loading input files…" in html
    assert "File data.csv: SUCCESS" in html and "🔎 Requires review: Minor skew detected" in html


def test_persistence_by_helper_or_by_save(tmp_path: Path) -> None:
    report = PipelineReport(batch_id=42, kind="process")

    from ferroflow import dump_report

    dump_report("reports/progress.json", report)  # atomic helper
    # or, if you prefer a direct write on the object:
    report.output_path = "reports/progress.json"
    report.save()

    assert json.loads((tmp_path / "reports" / "progress.json").read_text())["batch_id"] == 42
    assert json.loads(report.model_dump_json())["batch_id"] == 42

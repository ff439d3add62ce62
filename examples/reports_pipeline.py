"""A batch of files through a few steps, reported as JSON a UI can render.

Each incoming file becomes a ``FileReport`` with one step per stage. A step that
raises is recorded as FAILED and the batch goes on with the next file; a file
that needs a human look gets a review flag, which rolls up to the batch. The
report is saved atomically after every file, so a viewer polling the JSON always
sees a complete document.

    python examples/reports_pipeline.py     # writes ./ferroflow_output/{inbox/, batch-report.json}
"""

from __future__ import annotations

import csv
from pathlib import Path

from ferroflow import PipelineReport, ReportStatus, bind_pipeline, load_report, pipeline_file, pipeline_step


def make_inbox(folder: Path) -> list[Path]:
    """Three invoices: one good, one whose total does not add up, one unreadable."""
    files = {
        "invoice-001.csv": "item,amount\nwidget,10.00\ngadget,5.50\ntotal,15.50\n",
        "invoice-002.csv": "item,amount\nwidget,10.00\ntotal,10.01\n",
        "invoice-003.csv": "item;amount\n???\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return sorted(folder.glob("*.csv"))


def process(path: Path) -> None:
    """The steps of one file; they report into the file bound by ``pipeline_file``."""
    with pipeline_step(None, "parse", label="Parse CSV") as parse:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or "amount" not in rows[0]:
            raise ValueError(f"{path.name}: no 'amount' column")
        parse.note(f"{len(rows)} rows")
        parse.metadata["rows"] = len(rows)
    if parse.status is ReportStatus.FAILED:  # recorded; go on with the next file
        return

    with pipeline_step(None, "validate", label="Check the total") as step:
        lines = [float(r["amount"]) for r in rows if r["item"] != "total"]
        total = next(float(r["amount"]) for r in rows if r["item"] == "total")
        step.add_check("has lines", bool(lines))
        difference = round(total - sum(lines), 2)
        if difference:
            step.warn(f"stated total differs from the sum of lines by {difference}")
            step.flag_review(f"total off by {difference}: confirm with the supplier")

    with pipeline_step(None, "archive", label="Archive") as step:
        step.succeed(f"archived {path.name}")


def main(output_dir: Path) -> PipelineReport:
    """Run the batch and return its report (also saved under ``output_dir``)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    inbox = output_dir / "inbox"
    inbox.mkdir(exist_ok=True)
    report = PipelineReport(batch_id="invoices-2024-06", kind="invoice_import")
    report.output_path = output_dir / "batch-report.json"

    with bind_pipeline(report):
        files = make_inbox(inbox)
        for i, path in enumerate(files, start=1):
            with pipeline_file(None, path=path, set_stage_on_enter=True, banner_stage="processing"):
                process(path)
            report.set_progress("processing", 100 * i / len(files), f"{i} of {len(files)} files")
            report.save()
    report.set_progress("done", 100, "batch finished")
    report.save()
    return report


if __name__ == "__main__":
    saved = main(Path("ferroflow_output"))
    again = load_report(saved.output_path or "")
    print(f"batch {again.batch_id}: {again.status.value}, review needed: {again.review.flagged}")
    for f in again.files:
        steps = ", ".join(f"{s.label}={s.status.value}" for s in f.steps)
        flag = f"  [review: {f.review.reason}]" if f.review.flagged else ""
        print(f"  {f.name}: {f.status.value} ({steps}){flag}")
    assert [f.status.value for f in again.files] == ["SUCCESS", "SUCCESS", "FAILED"]
    assert again.review.flagged and again.status.value == "FAILED"

"""perf report: the committed notebooks, executed headless for real against a synthetic run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from support import ROOT, make_run, perf

from perf.report.notebooks import PARAMETERS_TAG, parameterize, skip_reason

NOTEBOOKS = ROOT / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
CROSS_RUN = {"compare", "trend"}  # need two runs: skipped on a results root of one
CAPACITY = {"capacity"}  # needs capacity.json: run in tests/e2e/test_find_capacity.py
SKIPPED = CROSS_RUN | CAPACITY
ONE_RUN = [n for n in NAMES if n not in SKIPPED]


def report(root: Path, targets: Path, *extra: str) -> int:
    return perf("report", *extra, "--results-dir", str(root), "--targets", str(targets))


def test_the_reports_are_there() -> None:
    assert {"benchmarks", "hit_rates", "latency", "tokens", *CROSS_RUN} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_no_outputs_and_a_parameters_cell(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert PARAMETERS_TAG in code[0].metadata.get("tags", [])
    assert code[0].source.startswith('RUN = "latest"')
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert "manifest.json" in notebook.metadata["perf"]["requires"]


@pytest.mark.slow
def test_report_executes_every_notebook_against_the_run(reported) -> None:
    run, out = reported.run, reported.out
    assert reported.codes == (0, 0), out
    for name in ONE_RUN:
        assert f"[perf report] {name}: ok" in out
        html = (run / "report" / f"{name}.html").read_text(encoding="utf-8")
        assert run.name in html  # the notebook read this run, not the repo's latest
        assert "Traceback" not in html
    for name in SKIPPED:
        assert f"[perf report] {name}: skipped" in out
        assert not (run / "report" / f"{name}.html").exists()
    latency = (run / "report" / "latency.html").read_text(encoding="utf-8")
    assert "<svg" in latency  # figures as inline SVG
    assert "<script" not in latency and "require.js" not in latency and "MathJax" not in latency
    assert '<link rel="stylesheet" href="style.css">' in latency
    assert "<title>Latency: does each endpoint meet its percentile target?" in latency
    assert "frames.latency_slos" not in latency  # input code hidden
    hit_rates = (run / "report" / "hit_rates.html").read_text(encoding="utf-8")
    assert "correlation_cache_hit_rate" in hit_rates  # the checks table is shown
    summary = (run / "report" / "summary.md").read_text(encoding="utf-8")
    assert "PASS: every check passed" in summary  # the gate's verdict, from gate.json
    assert "| query_latency_p95_ms | < 500 | 95 | ms | pass | requests.jsonl |" in summary
    assert "- [tokens](tokens.html): ok" in summary
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    statuses = {n: "skipped" if n in SKIPPED else "ok" for n in NAMES}
    assert manifest["stages"]["report"]["notebooks"] == statuses
    assert "report/summary.md" in manifest["files"]
    pages = manifest["stages"]["report"]["pages"]
    assert [p["name"] for p in pages] == NAMES
    assert all(
        p["status"] == "ok" and p["title"] and p["html"] for p in pages if p["name"] in ONE_RUN
    )


@pytest.mark.slow
def test_every_report_page_is_light(reported) -> None:
    """No page carries a stylesheet or a script of its own: under 150 KB each."""
    report = reported.run / "report"
    for page in report.glob("*.html"):
        size = page.stat().st_size
        assert size < 150_000, f"{page.name}: {size:,} bytes"
        text = page.read_text(encoding="utf-8")
        assert "<style" not in text.split("<body>")[0], page.name  # no inlined stylesheet
        assert not re.search(r'(src|href)="(https?:)?//', text), page.name  # nothing remote
    assert (report / "style.css").stat().st_size < 5_000


@pytest.mark.slow
def test_a_failing_notebook_does_not_stop_the_others(
    tmp_path: Path, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, omit=("benchmarks.json",))
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(NOTEBOOKS / "benchmarks.ipynb", folder)  # needs benchmarks.json: skipped
    shutil.copy(NOTEBOOKS / "hit_rates.ipynb", folder)
    params = new_code_cell('RUN = "latest"', metadata={"tags": [PARAMETERS_TAG]})
    broken = new_notebook(cells=[params, new_code_cell("raise RuntimeError('boom')")])
    broken.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(broken, folder / "a_broken.ipynb")

    assert report(tmp_path, targets, "--notebooks", str(folder)) == 1
    captured = capsys.readouterr()
    assert "[perf report] a_broken: failed" in captured.out
    assert "RuntimeError: boom" in captured.err
    assert "[perf report] benchmarks: skipped" in captured.out
    assert "no benchmarks.json (run `perf bench`)" in captured.out
    assert "[perf report] hit_rates: ok" in captured.out
    assert (run / "report" / "a_broken.html").is_file()  # up to the failing cell
    summary = (run / "report" / "summary.md").read_text(encoding="utf-8")
    assert "- [a_broken](a_broken.html): failed (RuntimeError: boom)" in summary
    stage = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["stages"]["report"]
    assert (stage["status"], stage["exit_code"]) == ("failed", 1)


def test_report_bad_input_exits_2(
    tmp_path: Path, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run(tmp_path)
    assert report(tmp_path, targets, "--notebooks", str(tmp_path / "none")) == 2
    assert "no notebooks folder" in capsys.readouterr().err
    assert report(tmp_path, targets, "nosuchrun") == 2


def test_parameterize_needs_a_tagged_cell() -> None:
    notebook = new_notebook(cells=[new_code_cell('RUN = "latest"')])
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        parameterize(notebook, {"RUN": "/x"})
    notebook.cells[0].metadata["tags"] = [PARAMETERS_TAG]
    parameterize(notebook, {"RUN": "/x", "TARGETS": None})
    assert notebook.cells[0].source == "RUN = '/x'\nTARGETS = None"


def test_a_notebook_is_skipped_when_its_run_has_none_of_the_files_it_reads(tmp_path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    latency = nbformat.read(NOTEBOOKS / "latency.ipynb", as_version=4)
    assert skip_reason(latency, tmp_path) == (
        "the run has none of requests.jsonl, locust.json (run `perf load`)"
    )
    (tmp_path / "locust.json").write_text("[]")
    assert skip_reason(latency, tmp_path) is None
    capacity = nbformat.read(NOTEBOOKS / "capacity.ipynb", as_version=4)
    assert "no capacity.json (run `perf load --find-capacity`)" in skip_reason(capacity, tmp_path)

"""``perf report``: execute the notebooks headless against one run, write HTML and a summary.

Each notebook in ``notebooks/`` has a cell tagged ``parameters`` (``RUN = "latest"``,
``RESULTS_DIR = None``, ``TARGETS = None``); before execution that cell is replaced with the
run's absolute path and the targets file, so the notebook reads exactly that run. A notebook
may list the run files it needs in its metadata (``{"perf": {"requires": ["benchmarks.json"]}}``)
and is skipped, with the reason, when the run lacks one. The kernel is ``python3`` started with
the interpreter running perf (jupyter_client maps the kernelspec's ``python`` to
``sys.executable``), so notebooks see the same installed perf.

Outputs: ``<run>/report/<notebook>.html`` (also for a failed notebook, up to the failing cell)
and ``<run>/report/summary.md`` (the checks table, the notebooks and their status).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perf._internal import Say
from perf._internal.atomic import write_text_atomic
from perf.report.checks import Check
from perf.results.files import PRODUCERS, REPORT_DIR, REPORT_SUMMARY

__all__ = [
    "PARAMETERS_TAG",
    "NotebookResult",
    "execute_notebook",
    "find_notebooks",
    "parameterize",
    "write_report",
    "write_summary",
]

PARAMETERS_TAG = "parameters"


@dataclass(frozen=True, slots=True)
class NotebookResult:
    """What happened to one notebook: ``status`` is ``ok``, ``failed`` or ``skipped``."""

    name: str
    status: str
    seconds: float
    html: str | None = None  # relative to the run folder
    error: str | None = None

    def line(self) -> str:
        where = f" -> {self.html}" if self.html else ""
        why = f": {self.error}" if self.error else ""
        return f"[perf report] {self.name}: {self.status} ({self.seconds:.1f} s){where}{why}"


def find_notebooks(folder: Path) -> list[Path]:
    """The ``*.ipynb`` files of ``folder``, by name (checkpoints excluded)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no notebooks folder {folder}: pass --notebooks DIR")
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def parameterize(notebook: Any, values: dict[str, object]) -> None:
    """Replace the source of the cell tagged ``parameters`` with ``NAME = repr(value)`` lines."""
    for cell in notebook.cells:
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            cell.source = "\n".join(f"{k} = {v!r}" for k, v in values.items())
            return
    raise ValueError(f"the notebook has no cell tagged {PARAMETERS_TAG!r}; tag its RUN cell")


def _missing_inputs(notebook: Any, run: Path) -> list[str]:
    needs = notebook.metadata.get("perf", {}).get("requires", [])
    return [name for name in needs if not (run / name).is_file()]


def _cell_error(exc: Exception) -> str:
    name = getattr(exc, "ename", type(exc).__name__)
    value = getattr(exc, "evalue", str(exc))
    return f"{name}: {value}".strip().splitlines()[0][:300]


def execute_notebook(
    path: Path,
    values: dict[str, object],
    *,
    timeout_seconds: float = 300.0,
    kernel_name: str = "python3",
) -> tuple[Any, Exception | None]:
    """Run a copy of the notebook at ``path`` (cwd: its folder) with ``values`` injected;
    returns the executed notebook and the cell error, if one stopped it. The kernel talks over
    IPC sockets in a private temp folder (no TCP ports, nothing to eavesdrop on)."""
    import nbformat  # noqa: PLC0415 - the notebook machinery loads only when a report runs
    from nbclient import NotebookClient  # noqa: PLC0415 - the notebook machinery loads only when a report runs
    from nbclient.exceptions import CellExecutionError  # noqa: PLC0415 - the notebook machinery loads only when a report runs
    from traitlets.config import Config  # noqa: PLC0415 - the notebook machinery loads only when a report runs

    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    parameterize(notebook, values)
    with tempfile.TemporaryDirectory(prefix="perf-kernel-") as sockets:
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = f"{sockets}/kernel"
        client = NotebookClient(
            notebook,
            timeout=int(timeout_seconds),
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(path.parent)}},
            config=config,
        )
        try:
            client.execute()
        except CellExecutionError as exc:
            return notebook, exc
    return notebook, None


def _to_html(notebook: Any, dest: Path) -> None:
    from nbconvert import HTMLExporter  # noqa: PLC0415 - the notebook machinery loads only when a report runs

    body, _ = HTMLExporter().from_notebook_node(notebook)  # type: ignore[no-untyped-call]
    write_text_atomic(dest, body)


def _run_one(path: Path, run: Path, values: dict[str, object], out: Path) -> NotebookResult:
    import nbformat  # noqa: PLC0415 - the notebook machinery loads only when a report runs

    start = time.perf_counter()
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    missing = _missing_inputs(notebook, run)
    if missing:
        why = ", ".join(f"no {m} (run `{PRODUCERS.get(m, 'perf run')}`)" for m in missing)
        return NotebookResult(path.stem, "skipped", 0.0, error=f"the run has {why}")
    try:
        executed, error = execute_notebook(path, values)
    except Exception as exc:  # a kernel that would not start, a timeout: report, go on
        return NotebookResult(path.stem, "failed", time.perf_counter() - start, None, repr(exc))
    html = out / f"{path.stem}.html"
    _to_html(executed, html)
    status, message = ("ok", None) if error is None else ("failed", _cell_error(error))
    rel = html.relative_to(run).as_posix()
    return NotebookResult(path.stem, status, time.perf_counter() - start, rel, message)


def write_summary(
    run: Path, checks: Sequence[Check], results: Sequence[NotebookResult], dest: Path
) -> None:
    """``summary.md``: the run, the checks table and every notebook's status."""
    lines = [f"# Report for run `{run.name}`", "", "## Checks", ""]
    lines += [
        "| check | target | measured | unit | verdict | source |",
        "|---|---|---|---|---|---|",
    ]
    for c in checks:
        measured = "" if c.measured is None else f"{c.measured:,.4g}"
        cells = [c.name, c.target, measured, c.unit, c.verdict, c.source]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    missing = [c for c in checks if c.verdict == "no data"]
    if missing:
        lines += ["", "No data:", ""] + [f"- {c.message}" for c in missing]
    lines += ["", "## Notebooks", ""]
    for r in results:
        link = f"[{r.name}]({Path(r.html).name})" if r.html else r.name
        lines.append(f"- {link}: {r.status}" + (f" ({r.error})" if r.error else ""))
    write_text_atomic(dest, "\n".join(lines) + "\n")


def write_report(
    run: Path,
    notebooks: Iterable[Path],
    checks: Sequence[Check],
    *,
    targets_path: Path,
    say: Say = print,
) -> list[NotebookResult]:
    """Execute every notebook against ``run`` (one progress line each, a failure does not stop
    the others), write the HTML and ``report/summary.md``; returns each notebook's result."""
    out = run / REPORT_DIR
    out.mkdir(exist_ok=True)
    values: dict[str, object] = {
        "RUN": str(run.resolve()),
        "RESULTS_DIR": None,
        "TARGETS": str(targets_path.resolve()),
    }
    results = []
    for path in notebooks:
        say(f"[perf report] {path.stem}: running")
        result = _run_one(path, run, values, out)
        say(result.line())
        results.append(result)
    write_summary(run, checks, results, run / REPORT_SUMMARY)
    say(f"[perf report] summary: {run / REPORT_SUMMARY}")
    return results

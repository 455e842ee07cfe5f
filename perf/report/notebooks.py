"""``perf report``: execute the notebooks headless against one run, write HTML and a summary.

Each notebook in ``notebooks/`` has a cell tagged ``parameters`` (``RUN = "latest"``,
``RESULTS_DIR = None``, ``TARGETS = None``); before execution that cell is replaced with the
run's absolute path and the targets file, so the notebook reads exactly that run. A notebook
may list the run files it needs in its metadata (``{"perf": {"requires": ["benchmarks.json"]}}``)
and is skipped, with the reason, when the run lacks one (``requires_any``: when it lacks all of
those). The kernel is ``python3`` started with the interpreter running perf (jupyter_client
maps the kernelspec's ``python`` to ``sys.executable``), so notebooks see the same installed
perf.

Outputs: ``<run>/report/<notebook>.html`` (also for a failed notebook, up to the failing cell;
input code hidden, one shared ``style.css``, no scripts: ``perf.report.html``),
``<run>/report/index.html`` (the verdict from ``gate.json`` first: ``perf.report.index``) and
``<run>/report/summary.md`` (the checks table, the notebooks and their status).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perf._internal import Say
from perf._internal.atomic import write_text_atomic
from perf.report.checks import Check
from perf.report.html import notebook_body, notebook_title, page
from perf.report.index import INDEX, headline, nav_label, write_index, write_stylesheet
from perf.report.trend_frames import results_root_of, trend_runs
from perf.results.files import GATE, PRODUCERS, REPORT_DIR, REPORT_SUMMARY

__all__ = [
    "PARAMETERS_TAG",
    "NotebookResult",
    "execute_notebook",
    "find_notebooks",
    "parameterize",
    "skip_reason",
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
    title: str | None = None  # the notebook's first heading: the page's title

    def page(self) -> dict[str, Any]:
        """What the index and the manifest record of this report page."""
        return {"name": self.name, "title": self.title or self.name, "html": self.html,
                "status": self.status, "error": self.error}  # fmt: skip

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


def skip_reason(notebook: Any, run: Path) -> str | None:
    """Why ``notebook`` has nothing to show for ``run`` (a file it needs is missing, none of
    the files it can read from is there (``perf.requires_any``), or it compares runs and there
    are too few); ``None`` when it runs."""
    missing = _missing_inputs(notebook, run)
    if missing:
        why = ", ".join(f"no {m} (run `{PRODUCERS.get(m, 'perf run')}`)" for m in missing)
        return f"the run has {why}"
    either = notebook.metadata.get("perf", {}).get("requires_any", [])
    if either and not any((run / name).is_file() for name in either):
        return f"the run has none of {', '.join(either)} (run `perf load`)"
    return _too_few_runs(notebook, run)


def _too_few_runs(notebook: Any, run: Path) -> str | None:
    """Why a cross-run notebook (metadata ``perf.min_runs``: a trend, a comparison) has
    nothing to show for ``run`` yet; ``None`` when it has."""
    wanted = int(notebook.metadata.get("perf", {}).get("min_runs", 1))
    if wanted <= 1:
        return None
    root = results_root_of(run)
    found = len(trend_runs(root, until=run)) if root is not None else 0
    if found >= wanted:
        return None
    return f"it compares runs with benchmarks.json: {found} so far, it needs {wanted}"


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


def _to_html(notebook: Any, dest: Path, title: str, nav: Sequence[tuple[str, str]]) -> None:
    write_text_atomic(dest, page(title, notebook_body(notebook), nav=nav))


def _read(path: Path) -> Any:
    import nbformat  # noqa: PLC0415 - the notebook machinery loads only when a report runs

    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


def _run_one(
    path: Path, run: Path, values: dict[str, object], out: Path, nav: Sequence[tuple[str, str]]
) -> NotebookResult:
    start = time.perf_counter()
    notebook = _read(path)
    title = notebook_title(notebook, path.stem)
    if why := skip_reason(notebook, run):
        return NotebookResult(path.stem, "skipped", 0.0, error=why, title=title)
    try:
        executed, error = execute_notebook(path, values)
    except Exception as exc:  # a kernel that would not start, a timeout: report, go on
        seconds = time.perf_counter() - start
        return NotebookResult(path.stem, "failed", seconds, None, repr(exc), title)
    html = out / f"{path.stem}.html"
    _to_html(executed, html, f"{title} · run {run.name}", nav)
    status, message = ("ok", None) if error is None else ("failed", _cell_error(error))
    rel = html.relative_to(run).as_posix()
    return NotebookResult(path.stem, status, time.perf_counter() - start, rel, message, title)


def write_summary(
    run: Path, checks: Sequence[Check], results: Sequence[NotebookResult], dest: Path
) -> None:
    """``summary.md``: the gate's verdict, the run, the checks table and every notebook's
    status."""
    lines = [f"# Report for run `{run.name}`", "", headline(_gate(run))[1], "", "## Checks", ""]
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
    paths = list(notebooks)
    shown = [p for p in paths if skip_reason(_read(p), run) is None]  # pages the nav links
    nav = [("index", INDEX)] + [(nav_label(p.stem), f"{p.stem}.html") for p in shown]
    write_stylesheet(out)
    results = []
    for path in paths:
        say(f"[perf report] {path.stem}: running")
        result = _run_one(path, run, values, out, nav)
        say(result.line())
        results.append(result)
    write_summary(run, checks, results, run / REPORT_SUMMARY)
    index = write_index(run, [r.page() for r in results])
    say(f"[perf report] summary: {run / REPORT_SUMMARY}")
    say(f"[perf report] index: {index}")
    return results


def _gate(run: Path) -> dict[str, Any] | None:
    path = run / GATE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data

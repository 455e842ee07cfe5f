"""④⑤ The consumers: every documented target as a check over one run folder, the gate
(``gate.json`` and an exit code), the notebooks' DataFrames and their headless execution.
Reads run folders only, through ``perf.results``.

``import perf.report`` stays light: pandas and the notebook machinery load when a frame or a
report is built.
"""

from __future__ import annotations

from perf.report.checks import FAIL, NO_DATA, PASS, Check, run_checks
from perf.report.gate import GateResult, run_gate
from perf.report.notebooks import NotebookResult, write_report

__all__ = [
    "FAIL",
    "NO_DATA",
    "PASS",
    "Check",
    "GateResult",
    "NotebookResult",
    "run_checks",
    "run_gate",
    "write_report",
]

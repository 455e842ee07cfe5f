"""The verdicts' own experiment: an A/A study (no false alarms) and a degraded build (caught).

    .venv/bin/python scripts/verdict_study.py --runs 10 --degraded 5 --out /tmp/verdict-study

Runs ``perf load`` (the load stage of ``make run``, its default length unless ``--duration``)
``--runs`` times on this checkout, every other run with a CPU hog on one core (``stress-ng
--cpu 1`` when installed, else a Python busy loop), and ``--degraded`` times on a scratch git
worktree of HEAD with one deliberate slowdown (a 60 ms sleep in the service's
``db.entity_context`` read), interleaved A, B, A, B... Each run is gated (``perf gate
--allow-missing``: a load run has no benchmarks). Writes ``study.json`` and prints, per check,
the verdicts of every run and whether any flipped between pass and fail.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLOWDOWN = (
    "perf/service/context.py",
    '        async with self.monitor.track("db.entity_context"), self.sessions() as session:\n',
    '        async with self.monitor.track("db.entity_context"), self.sessions() as session:\n'
    "            await asyncio.sleep(0.06)  # the study's deliberate slowdown\n",
)
DEGRADED_CHECK = "db_query_p95_ms[db.entity_context]"


def _hog() -> subprocess.Popen[bytes]:
    if shutil.which("stress-ng"):
        command = ["stress-ng", "--cpu", "1", "--quiet"]
    else:
        command = [sys.executable, "-c", "while True: pass"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _degraded_tree(scratch: Path) -> Path:
    tree = scratch / "degraded"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), "HEAD"], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    path, before, after = SLOWDOWN
    source = (tree / path).read_text()
    if before not in source:
        raise SystemExit(f"cannot apply the slowdown: {path} changed; update SLOWDOWN")
    source = source.replace(before, after)
    if "import asyncio" not in source:
        source = source.replace("import itertools\n", "import asyncio\nimport itertools\n", 1)
    (tree / path).write_text(source)
    return tree


def _one_run(tree: Path, out: Path, duration: str, hog: bool) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the study runs this tree's perf
    hogging = _hog() if hog else None
    started = time.monotonic()
    try:
        load = subprocess.run(
            [sys.executable, "-m", "perf.cli", "load", "--duration", duration,
             "--results-dir", str(out), "--progress", "30"],
            cwd=tree, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        if hogging is not None:
            hogging.terminate()
            hogging.wait()
    run = Path(load.stdout.strip().splitlines()[-1])
    gate = subprocess.run(
        [sys.executable, "-m", "perf.cli", "gate", str(run), "--allow-missing",
         "--targets", str(ROOT / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    checks = json.loads((run / "gate.json").read_text())["checks"]
    return {
        "run": str(run),
        "hog": hog,
        "seconds": round(time.monotonic() - started, 1),
        "gate_exit": gate.returncode,
        "verdicts": {c["name"]: c["verdict"] for c in checks},
        "measured": {c["name"]: c["measured"] for c in checks},
        "intervals": {c["name"]: c["interval"] for c in checks},
    }


def _summary(runs: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    names = sorted({n for r in runs for n in r["verdicts"]})  # type: ignore[attr-defined]
    table = {}
    for name in names:
        verdicts = [r["verdicts"].get(name, "-") for r in runs]  # type: ignore[attr-defined]
        seen = set(verdicts)
        table[name] = {
            "verdicts": verdicts,
            "counts": dict(Counter(verdicts)),
            "flip": "pass" in seen and "fail" in seen,
        }
    return table


def main() -> int:
    # `kill` (SIGTERM) stops the study like Ctrl-C: the hog and the run in progress are ended
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="A/A runs of this checkout")
    parser.add_argument("--degraded", type=int, default=5, help="runs of the degraded build")
    parser.add_argument("--duration", default="120s", help="each load run (default 120s)")
    parser.add_argument("--out", type=Path, required=True, help="results root for the runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="verdict-study-"))
    degraded = _degraded_tree(scratch) if args.degraded else None
    same: list[dict[str, object]] = []
    slow: list[dict[str, object]] = []
    try:
        for i in range(max(args.runs, args.degraded)):
            if i < args.runs:
                same.append(_one_run(ROOT, args.out / "aa", args.duration, hog=i % 2 == 1))
                print(f"[study] A/A run {i + 1}: gate exit {same[-1]['gate_exit']}", flush=True)
            if degraded is not None and i < args.degraded:
                slow.append(_one_run(degraded, args.out / "degraded", args.duration, hog=False))
                verdict = slow[-1]["verdicts"].get(DEGRADED_CHECK)  # type: ignore[attr-defined]
                print(f"[study] degraded run {i + 1}: {DEGRADED_CHECK} {verdict}", flush=True)
    finally:
        if degraded is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(degraded)], cwd=ROOT,
                           check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(scratch, ignore_errors=True)
    result = {"aa": same, "degraded": slow, "aa_summary": _summary(same),
              "degraded_summary": _summary(slow)}  # fmt: skip
    (args.out / "study.json").write_text(json.dumps(result, indent=1))
    print("\ncheck | A/A verdicts (even-numbered runs with a CPU hog) | flips | degraded")
    for name, row in result["aa_summary"].items():
        bad = result["degraded_summary"].get(name, {}).get("counts", {})
        print(f"{name} | {row['counts']} | {'FLIP' if row['flip'] else 'none'} | {bad}")
    flips = sum(row["flip"] for row in result["aa_summary"].values())
    caught = [r["verdicts"].get(DEGRADED_CHECK) for r in slow]  # type: ignore[attr-defined]
    print(f"\nA/A: {flips} check(s) flipped between pass and fail over {len(same)} runs")
    print(f"degraded: {DEGRADED_CHECK} was {caught}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

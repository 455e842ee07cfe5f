"""The study behind `perf compare`'s thresholds: false alarms (A/A) and detection (A/B).

    .venv/bin/python scripts/compare_study.py [--aa 10] [--ab 10] [--rounds 5] [--full]

- A/A: `perf compare <commit> <commit> --quick`, `--aa` times; every other run with a CPU hog
  on one core (a Python busy loop in a subprocess). Any `slower` verdict is a false alarm.
- A/B: one scratch commit per run (a detached commit made in a throwaway worktree; no branch
  moves) slowing three hot paths by known amounts at once, sizes rotated Latin-square-wise:
  run k slows target j by SIZES[(k + j) % 3]. Targets: `MemoryCache.get` (unrolled no-op
  statements), `SQLiteCache.get_entry` (the same) and `enforce_token_budget_with_report` (a
  loop), each padded by `size x` its benchmark's per-call median from the first A/A run, at the
  per-statement cost measured here with timeit. A run detects target j when its benchmark's
  verdict is `slower`; `slower` on any benchmark that does not run a patched path is a false
  alarm. Every other A/B run has the hog too.
- `--full`: one full `perf compare` (the whole suite) for its wall time.
- `--instructions`: the same study of `perf compare --instructions` (instruction counts under
  valgrind): the targets are the matching probes, and the pads are sized in instructions (a
  pad statement's count measured under callgrind, the probe's from the first A/A run).
- `--redecide STUDY.json`: no benchmarks run; the stored rounds of a finished study decided
  again under other policies (minimum effect, interval level), to choose the default.

Every comparison is a run folder under results/runs/; the summary goes to
results/compare-study-<time>.json and a Markdown table to stdout. Run it on a quiet checkout:
the commit compared is HEAD (the working tree's uncommitted changes are not part of it).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import timeit
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from perf.bench.instructions import callgrind, dump_totals
from perf.cli.compare import decide_folder
from perf.report.compare import SLOWER, Policy

ROOT = Path(__file__).resolve().parent.parent
PERF = [sys.executable, "-m", "perf.cli"]
SIZES = (0.05, 0.10, 0.20)

# target: (file, anchor line after which the pad goes, indent, pad kind, benchmark, calls/sample)
TARGETS = {
    "MemoryCache.get": (
        "perf/cache/memory.py",
        "entry = data.get(key)",
        12,
        "lines",
        "bench_memory_get_hit[perf.MemoryCache]",
        1000,
    ),
    "SQLiteCache.get": (
        "perf/cache/sqlite.py",
        "_check_key(key)",
        8,
        "lines",
        "bench_sqlite_get_hit[perf.SQLiteCache]",
        1000,
    ),
    "enforce_token_budget": (
        "perf/tokens/budget.py",
        "budget = TokenBudget.from_mapping(token_budget, cut_order)",
        4,
        "loop",
        "bench_budget_60k[perf.enforce_token_budget]",
        1,
    ),
}
# The probe of `perf compare --instructions` measuring each target (perf.bench.probes).
PROBE_OF = {
    "MemoryCache.get": "MemoryCache.get (hit)",
    "SQLiteCache.get": "SQLiteCache.get (hit)",
    "enforce_token_budget": "enforce_token_budget (60k tokens)",
}
# Benchmarks (and probes) that run a patched path (a slowdown there is real, not a false alarm).
AFFECTED = {
    "MemoryCache.get": {
        "bench_memory_get_hit[perf.MemoryCache]",
        "bench_memory_get_hit[perf.CacheManager]",
        "MemoryCache.get (hit)",
        "@cached (memory hit)",
    },
    "SQLiteCache.get": {"bench_sqlite_get_hit[perf.SQLiteCache]", "SQLiteCache.get (hit)"},
    "enforce_token_budget": {
        "bench_budget_60k[perf.enforce_token_budget]",
        "enforce_token_budget (60k tokens)",
    },
}


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def cpu_hog(on: bool):
    """A busy loop in a subprocess: one core's worth of competing work."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.terminate()
        hog.wait()


def compare(base: str, head: str, extra: list[str], hog: bool) -> dict:
    """One `perf compare`; its compare.json plus the exit code and wall time."""
    began = time.monotonic()
    with cpu_hog(hog):
        done = subprocess.run(
            [*PERF, "compare", base, head, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    wall = time.monotonic() - began
    run = Path(done.stdout.strip().splitlines()[-1])
    result = json.loads((run / "compare.json").read_text())
    if done.returncode == 2:
        sys.stderr.write(done.stderr)
    return {
        "run": str(run),
        "exit_code": done.returncode,
        "wall_seconds": round(wall, 1),
        "hog": hog,
        "verdicts": {b["name"]: b["verdict"] for b in result["benchmarks"]},
        "ratios": {b["name"]: b["ratio"] for b in result["benchmarks"]},
        "base_medians": {b["name"]: b["base_median"] for b in result["benchmarks"]},
    }


# -- the pads ------------------------------------------------------------------------------------


def line_cost() -> float:
    """Seconds per padding statement (``_pad = key is None``) inside a function."""
    pad = "\n".join(["    _pad = key is None"] * 200)
    scope: dict = {}
    exec(f"def padded(key):\n{pad}\n    return key\ndef bare(key):\n    return key\n", scope)
    padded, bare = scope["padded"], scope["bare"]
    t_pad = min(timeit.repeat(lambda: padded(1), number=20_000, repeat=7))
    t_bare = min(timeit.repeat(lambda: bare(1), number=20_000, repeat=7))
    return (t_pad - t_bare) / 20_000 / 200


def loop_cost() -> float:
    """Seconds per iteration of ``for _pad in range(n): pass``."""
    scope: dict = {}
    exec("def spin(n):\n    for _pad in range(n):\n        pass\n", scope)
    return min(timeit.repeat(lambda: scope["spin"](100_000), number=5, repeat=5)) / 5 / 100_000


def pad_instructions(kind: str) -> float:
    """Instructions per pad unit (a statement, or a loop iteration), counted by callgrind as
    `perf compare --instructions` counts: inside `operator.call`, padded minus bare."""
    units = 1000 if kind == "lines" else 100_000
    script = (
        "import operator\n"
        f"def padded(key):\n{pad_text(kind, units, 4)}    return key\n"
        "def bare(key):\n    return key\n"
        "operator.call(padded, 1)\noperator.call(bare, 1)\n"
    )
    with tempfile.TemporaryDirectory(prefix="perf-study-") as scratch:
        out = Path(scratch) / "out"
        command = [*callgrind(out), sys.executable, "-c", script]
        subprocess.run(command, check=True, capture_output=True)
        padded, bare = dump_totals(out, 2)
    return (padded - bare) / units


def pad_text(kind: str, count: int, indent: int) -> str:
    space = " " * indent
    if kind == "lines":
        return "".join(f"{space}_pad = key is None\n" for _ in range(count))
    return f"{space}for _pad in range({count}):\n{space}    pass\n"


def patched_commit(base: str, plan: dict[str, int]) -> str:
    """A detached commit on top of ``base`` with each target padded by ``plan[target]`` units."""
    with tempfile.TemporaryDirectory(prefix="perf-study-") as scratch:
        tree = Path(scratch) / "tree"
        git("worktree", "add", "--detach", "--quiet", str(tree), base)
        try:
            for target, count in plan.items():
                file, anchor, indent, kind, _, _ = TARGETS[target]
                path = tree / file
                lines = path.read_text().splitlines(keepends=True)
                at = next(i for i, line in enumerate(lines) if line.strip() == anchor)
                lines.insert(at + 1, pad_text(kind, count, indent))
                path.write_text("".join(lines))
            summary = ", ".join(f"{t} +{n} {TARGETS[t][3]}" for t, n in plan.items())
            git(
                "-c",
                "user.name=compare study",
                "-c",
                "user.email=study@localhost",
                "commit",
                "--quiet",
                "--no-verify",
                "-am",
                f"study: slow down {summary}",
                cwd=tree,
            )
            return git("rev-parse", "HEAD", cwd=tree)
        finally:
            git("worktree", "remove", "--force", str(tree))


# -- the study -------------------------------------------------------------------------------------


def main() -> int:
    # `kill` (SIGTERM) stops the study like Ctrl-C: the hog and the run in progress are ended
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa", type=int, default=10, help="A/A comparisons (default 10)")
    parser.add_argument("--ab", type=int, default=10, help="A/B comparisons (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="processes per side (default 5)")
    parser.add_argument("--full", action="store_true", help="also time one full compare")
    parser.add_argument(
        "--instructions", action="store_true", help="study `perf compare --instructions`"
    )
    parser.add_argument("--redecide", metavar="STUDY_JSON", help="re-decide a finished study")
    parser.add_argument(
        "--seed-aa",
        nargs="*",
        metavar="RUN",
        help="count these finished A/A run folders (no hog) as the first A/A runs",
    )
    args = parser.parse_args()
    if args.redecide:
        print(redecide(json.loads(Path(args.redecide).read_text())))
        return 0
    commit = git("rev-parse", "HEAD")
    extra = ["--instructions"] if args.instructions else ["--quick", "--rounds", str(args.rounds)]
    study: dict = {
        "commit": commit,
        "rounds": args.rounds,
        "metric": "instructions" if args.instructions else "wall time",
        "extra": extra,
        "started": datetime.now(UTC).isoformat(),
        "aa": [],
        "ab": [],
        "full": None,
    }
    print(f"study of perf compare on {commit[:8]}: {args.aa} A/A, {args.ab} A/B", flush=True)

    out = ROOT / "results" / f"compare-study-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    for run in args.seed_aa or []:  # A/A comparisons already made (same commit, no hog)
        stored = json.loads((Path(run) / "compare.json").read_text())
        study["aa"].append(
            {
                "run": str(run),
                "exit_code": stored["exit_code"],
                "wall_seconds": stored["wall_seconds"],
                "hog": False,
                "verdicts": {b["name"]: b["verdict"] for b in stored["benchmarks"]},
                "ratios": {b["name"]: b["ratio"] for b in stored["benchmarks"]},
                "base_medians": {b["name"]: b["base_median"] for b in stored["benchmarks"]},
                "false_alarms": [
                    b["name"] for b in stored["benchmarks"] if b["verdict"] == "slower"
                ],
            }
        )
    if args.instructions:  # a pad unit's cost, in the metric compared
        costs = {kind: pad_instructions(kind) for kind in ("lines", "loop")}
    else:
        costs = {"lines": line_cost(), "loop": loop_cost()}
    study["pad_costs"] = costs
    # A/A and A/B alternate, so a study stopped early still has both kinds
    aa_jobs = [("aa", k) for k in range(len(study["aa"]), args.aa)]
    ab_jobs = [("ab", k) for k in range(args.ab)]
    jobs = []
    while aa_jobs or ab_jobs:
        jobs += [q.pop(0) for q in (ab_jobs, aa_jobs) if q]
    for kind, k in jobs:
        if kind == "aa":
            run_aa(study, commit, extra, k)
        else:
            if not study["aa"]:
                run_aa(study, commit, extra, 0)
            run_ab(study, commit, extra, k, costs)
        out.write_text(json.dumps(study, indent=1))

    if args.full and not args.instructions:  # --instructions always runs every probe
        study["full"] = compare(commit, commit, ["--rounds", str(args.rounds)], hog=False)
        print(f"full compare: {study['full']['wall_seconds']} s", flush=True)

    out.write_text(json.dumps(study, indent=1))
    print(summary(study))
    print(out)
    return 0


def run_aa(study: dict, commit: str, extra: list[str], k: int) -> None:
    result = compare(commit, commit, extra, hog=k % 2 == 1)
    flagged = [n for n, v in result["verdicts"].items() if v == "slower"]
    result["false_alarms"] = flagged
    study["aa"].append(result)
    print(
        f"A/A {k + 1}: exit {result['exit_code']}, hog {result['hog']}, "
        f"{result['wall_seconds']} s, false alarms {flagged}, {result['run']}",
        flush=True,
    )


def measured_as(target: str, instructions: bool) -> tuple[str, int]:
    """The benchmark (or probe) that measures ``target``, and its calls per reported figure."""
    if instructions:
        return PROBE_OF[target], 1  # probes report instructions per call
    _, _, _, _, bench, calls = TARGETS[target]
    return bench, calls


def run_ab(study: dict, commit: str, extra: list[str], k: int, costs: dict) -> None:
    instructions = study["metric"] == "instructions"
    medians = study["aa"][0]["base_medians"]
    sizes = {t: SIZES[(k + j) % len(SIZES)] for j, t in enumerate(TARGETS)}
    plan = {}
    for target, size in sizes.items():
        name, calls = measured_as(target, instructions)
        plan[target] = max(1, round(size * medians[name] / calls / costs[TARGETS[target][3]]))
    head = patched_commit(commit, plan)
    result = compare(commit, head, extra, hog=k % 2 == 1)
    affected = set().union(*AFFECTED.values())
    result["sizes"], result["pads"], result["head"] = sizes, plan, head
    names = {t: measured_as(t, instructions)[0] for t in TARGETS}
    result["detected"] = {t: result["verdicts"].get(names[t]) == "slower" for t in TARGETS}
    result["observed"] = {t: result["ratios"].get(names[t]) for t in TARGETS}
    result["false_alarms"] = [
        n for n, v in result["verdicts"].items() if v == "slower" and n not in affected
    ]
    study["ab"].append(result)
    observed = {t: round(r or 0, 3) for t, r in result["observed"].items()}
    print(
        f"A/B {k + 1}: exit {result['exit_code']}, hog {result['hog']}, "
        f"{result['wall_seconds']} s, sizes {sizes}, pads {plan}, observed {observed}, "
        f"detected {result['detected']}, false alarms {result['false_alarms']}, "
        f"{result['run']}",
        flush=True,
    )


def summary(study: dict) -> str:
    aa = study["aa"]
    lines = ["| check | result |", "|---|---|"]
    if aa:
        alarms = sum(len(r["false_alarms"]) for r in aa)
        benches = len(aa[0]["verdicts"])
        hog = sum(r["hog"] for r in aa)
        lines.append(
            f"| A/A: benchmarks falsely flagged slower | {alarms} of "
            f"{benches * len(aa)} ({len(aa)} runs x {benches}; {hog} runs with a hog) |"
        )
        lines.append(
            f"| A/A: runs exiting 0 | {sum(r['exit_code'] == 0 for r in aa)} of {len(aa)} |"
        )
        walls = sorted(r["wall_seconds"] for r in aa)
        lines.append(
            f"| wall time of `perf compare {' '.join(study.get('extra', ['--quick']))}` | "
            f"median {walls[len(walls) // 2]} s, "
            f"max {walls[-1]} s |"
        )
    ab = study["ab"]
    for size in SIZES:
        trials = [(r, t) for r in ab for t, s in r["sizes"].items() if s == size]
        if trials:
            hits = sum(r["detected"][t] for r, t in trials)
            observed = sorted(r["observed"][t] or 0 for r, t in trials)
            lines.append(
                f"| A/B: {size:.0%} slowdown detected | {hits} of {len(trials)} "
                f"(observed ratio median {observed[len(observed) // 2]:.3f}) |"
            )
    if ab:
        alarms = sum(len(r["false_alarms"]) for r in ab)
        lines.append(f"| A/B: unpatched benchmarks flagged slower | {alarms} |")
    if study["full"]:
        lines.append(f"| wall time of a full `perf compare` | {study['full']['wall_seconds']} s |")
    return "\n".join(lines)


POLICIES = ((1.05, 0.95), (1.03, 0.99), (1.05, 0.99), (1.10, 0.99))


def redecide(study: dict, policies=POLICIES) -> str:
    """False alarms and detections of the stored rounds under other policies."""
    affected = set().union(*AFFECTED.values())
    lines = [
        "| min effect | interval | A/A false alarms | A/B false alarms | "
        + " | ".join(f"{s:.0%} detected" for s in SIZES)
        + " |",
        "|---" * (4 + len(SIZES)) + "|",
    ]
    for effect, confidence in policies:
        policy = Policy(min_effect=effect, confidence=confidence)
        aa_alarms = ab_alarms = 0
        hits = {s: [0, 0] for s in SIZES}
        for r in study["aa"]:
            found, _ = decide_folder(Path(r["run"]), policy)
            aa_alarms += sum(c.verdict == SLOWER for c in found)
        for r in study["ab"]:
            found, _ = decide_folder(Path(r["run"]), policy)
            verdicts = {c.name: c.verdict for c in found}
            ab_alarms += sum(v == SLOWER and n not in affected for n, v in verdicts.items())
            for target, size in r["sizes"].items():
                hits[size][0] += verdicts.get(TARGETS[target][4]) == SLOWER
                hits[size][1] += 1
        cells = " | ".join(f"{h} of {n}" for h, n in hits.values())
        lines.append(f"| {effect} | {confidence:.0%} | {aa_alarms} | {ab_alarms} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

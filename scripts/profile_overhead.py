"""What ``perf load --profile`` costs the service: its throughput at saturation with and without
py-spy, measured in pairs of runs, interleaved.

    .venv/bin/python scripts/profile_overhead.py --pairs 6 --duration 40s --out /tmp/overhead

Each pair is two ``perf load`` runs on this checkout, one with ``--profile`` and one without, in
alternating order (off/on, on/off, ...: drift of the machine cancels across pairs). The load
saturates the service: a closed model with no think time (``--users`` users, default 20), so
throughput is what the service can serve. Throughput is counted in the window the profiler
covers, the run's second half (from the first request + duration/2 to + duration), the same
window in both runs of a pair: requests completed there per second, all endpoints.

Per pair, the ratio profiled / unprofiled; the estimate is their median, with a 95 % bootstrap
percentile interval (scipy, 10,000 resamples of the pairs). Writes ``overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap

from perf.loadgen.load_run import parse_duration

ROOT = Path(__file__).resolve().parent.parent
SATURATE = ["--workload", "think_min_s=0", "--workload", "think_max_s=0"]


def throughput(run: Path, duration: float) -> dict[str, float]:
    """Requests per second (all, and /query) sent in the run's second half."""
    rows = [json.loads(line) for line in (run / "requests.jsonl").read_text().splitlines()]
    start = min(r["timestamp"] for r in rows)
    low, high = start + duration / 2, start + duration
    window = [r for r in rows if low <= r["timestamp"] < high]
    span = duration / 2
    query = [r for r in window if r["name"] == "/query"]
    return {"rps": len(window) / span, "query_rps": len(query) / span, "requests": len(window)}


def one_run(out: Path, name: str, args: argparse.Namespace, profile: bool) -> dict[str, object]:
    run = out / name
    command = [
        sys.executable, "-m", "perf.cli", "load", "--users", str(args.users),
        "--spawn-rate", str(args.users), "--duration", args.duration, "--run-dir", str(run),
        "--progress", "10", *SATURATE,
    ]  # fmt: skip
    if profile:
        command += ["--profile", "--profile-rate", f"{args.rate:g}"]
        command += ["--profile-nonblocking"] if args.nonblocking else []
    print(f"[overhead] {name}: {' '.join(command[2:])}", flush=True)
    with (out / f"{name}.log").open("w") as log:
        code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    manifest = json.loads((run / "manifest.json").read_text())
    record = manifest["stages"]["load"].get("profile", {})
    if profile and record.get("error"):
        raise SystemExit(f"[overhead] {name}: no profile: {record['error']}")
    result = {"name": name, "profile": profile, "exit_code": code,
              **throughput(run, parse_duration(args.duration))}  # fmt: skip
    print(f"[overhead] {name}: {result['rps']:.1f} req/s in the second half", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--duration", default="40s", help="each run (default 40s)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="py-spy's Hz (default 100)")
    parser.add_argument("--nonblocking", action="store_true", help="py-spy --nonblocking")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(args.pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        runs = {p: one_run(args.out, f"pair{i + 1}-{'on' if p else 'off'}", args, p) for p in order}
        if not runs[False]["rps"]:
            raise SystemExit("[overhead] no requests in an unprofiled run's second half: longer")
        pairs.append({"off": runs[False], "on": runs[True],
                      "ratio": runs[True]["rps"] / runs[False]["rps"]})  # fmt: skip
    ratios = np.array([p["ratio"] for p in pairs])
    ci = bootstrap(
        (ratios,), np.median, n_resamples=10_000, method="percentile", confidence_level=0.95,
        random_state=np.random.default_rng(1),
    ).confidence_interval  # fmt: skip
    summary = {
        "pairs": pairs,
        "median_ratio": float(np.median(ratios)),
        "interval_95": [float(ci.low), float(ci.high)],
        "rps_off_median": statistics.median(p["off"]["rps"] for p in pairs),
        "rps_on_median": statistics.median(p["on"]["rps"] for p in pairs),
        "settings": {**vars(args), "out": str(args.out), "load": os.getloadavg()},
    }
    (args.out / "overhead.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"[overhead] throughput with py-spy at {args.rate:g} Hz"
        f"{' (nonblocking)' if args.nonblocking else ''} / without, median of "
        f"{len(pairs)} pairs: {summary['median_ratio']:.3f} "
        f"[{ci.low:.3f}, {ci.high:.3f}] (95 % bootstrap); req/s without "
        f"{summary['rps_off_median']:.1f}, with {summary['rps_on_median']:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

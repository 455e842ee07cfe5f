"""The load generator's ceiling, before and after, and the service's ``/health`` against a bare
app's at that ceiling: one run, interleaved.

    nice -n 19 .venv/bin/python scripts/generator_ceiling.py --seconds 10 --rounds 6 \\
        --out /tmp/generator-ceiling.json

Starts a bare FastAPI app (``loadtests/bare_app.py``) and the reference service (``perf.service
serve``), each one uvicorn process on a free loopback port, then runs Locust at full speed (no
wait time, ``--users`` users) on ``GET /health`` for ``--seconds`` per sample. Each round takes
one sample of every configuration, in an order rotated by one each round:

- the generator on the bare app: ``HttpUser`` (python-requests, the generator before) and
  ``FastHttpUser`` (geventhttpclient, the generator now), each with 1 and 2 Locust processes
  (``--processes``: a master and that many workers);
- ``--service-client`` on the service (default ``fast:1``), paired with the same configuration
  on the bare app in the same round for the ratio service/bare.

Reported per configuration: the median req/s and the CPU microseconds per request of Locust
(its workers included) and of the server, each with a 95 % order-statistic interval over the
rounds (``perf.report.intervals``); per-round paired ratios likewise (service/bare also of the
server's CPU per request). Requests per second is the count of requests over the time from
the first one's start to the last one's end, as each sending process counted them (the
locustfile's ``--count-dir``: Locust's master can miss its workers' last reports); CPU over the
same span, from /proc read every 0.2 s while Locust runs.

Two cores, shared: the generator and the server compete for CPU. ``--pin split`` (default) puts
the server on CPU 0 and Locust (master and workers) on CPU 1, so each side has one core and the
slower one sets the rate; the CPU seconds each side used say which one that was. ``--pin none``
leaves placement to the scheduler (2 Locust processes can then use both cores, but take them
from the server). Other processes on the machine still share both cores either way: run it
niced and compare only figures from the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perf._internal.processes import free_port, stop_process, wait_for_http
from perf.report.intervals import percentile_interval

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "loadtests" / "health_locustfile.py"
CLIENTS = {"http": "HttpHealthUser", "fast": "FastHealthUser"}
LABELS = {"http": "HttpUser", "fast": "FastHttpUser"}
DEFAULT_CONFIGS = "http:1,http:2,fast:1,fast:2"
SERVER_CPU, LOCUST_CPU = 0, 1  # --pin split
POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Config:
    client: str  # a key of CLIENTS
    processes: int

    @classmethod
    def parse(cls, text: str) -> Config:
        client, _, processes = text.strip().partition(":")
        if client not in CLIENTS or not processes.isdigit() or int(processes) < 1:
            raise argparse.ArgumentTypeError(
                f"bad configuration {text!r}: use CLIENT:PROCESSES with CLIENT one of "
                f"{', '.join(CLIENTS)} and PROCESSES >= 1, e.g. fast:2"
            )
        return cls(client, int(processes))

    @property
    def label(self) -> str:
        return f"{LABELS[self.client]} x{self.processes}"


@dataclass(frozen=True, slots=True)
class Sample:
    """One Locust run; CPU seconds are those spent between its first and last request."""

    round: int
    config: str
    target: str  # "bare" or "service"
    rps: float
    requests: int
    failures: int
    seconds: float
    locust_cpu_s: float
    server_cpu_s: float

    @property
    def locust_us_per_request(self) -> float:
        return self.locust_cpu_s / max(1, self.requests) * 1e6

    @property
    def server_us_per_request(self) -> float:
        return self.server_cpu_s / max(1, self.requests) * 1e6


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuTrace:
    """CPU seconds of a process and its children (Locust's workers), read every ``every`` s
    while it runs, so the CPU of any span of the run (not its start-up) can be read off."""

    def __init__(self, pid: int, server_pid: int) -> None:
        self.pid, self.server_pid = pid, server_pid
        self.latest: dict[int, float] = {}  # per process: a finished worker keeps its last value
        self.times: list[float] = []
        self.locust: list[float] = []
        self.server: list[float] = []

    def read(self) -> None:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        pids = [self.pid]
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            pids += [int(child) for child in children.read_text().split()]
        for pid in pids:
            self.latest[pid] = max(self.latest.get(pid, 0.0), _cpu_seconds(pid))
        self.times.append(time.time())
        self.locust.append(sum(self.latest.values()))
        self.server.append(_cpu_seconds(self.server_pid))

    def between(self, start: float, end: float) -> tuple[float, float]:
        """CPU seconds of Locust and of the server from ``start`` to ``end`` (interpolated)."""
        locust = np.interp([start, end], self.times, self.locust)
        server = np.interp([start, end], self.times, self.server)
        return float(locust[1] - locust[0]), float(server[1] - server[0])


def _pinned(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that keeps the child (and whatever it forks) on ``cpu``."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def _server(kind: str, scratch: Path, cpu: int | None) -> Iterator[tuple[int, str]]:
    """The bare app or the service on a free loopback port: ``(pid, url)`` while it runs."""
    port = free_port()
    if kind == "bare":
        command = ["-m", "uvicorn", "--app-dir", str(ROOT / "loadtests"), "bare_app:app",
                   "--log-level", "warning"]  # fmt: skip
    else:
        command = ["-m", "perf.service", "serve"]
    env = {**os.environ, "PERF_DATABASE_PATH": str(scratch / f"{kind}.sqlite"),
           "PERF_CACHE_DIR": str(scratch / f"{kind}-cache")}  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with (scratch / f"{kind}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *command, "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_pinned(cpu),  # noqa: PLW1509 - no threads in this process yet
        )  # fmt: skip
        try:
            try:
                wait_for_http(f"{url}/health", timeout_seconds=180, process=process)
            except (RuntimeError, TimeoutError) as exc:
                raise SystemExit(
                    f"the {kind} server did not start: {exc}; see {scratch / f'{kind}.log'}"
                ) from exc
            print(f"[ceiling] {kind} server ready at {url} (pid {process.pid})", flush=True)
            yield process.pid, url
        finally:
            stop_process(process)


def _locust(
    config: Config, server: tuple[int, str], args: argparse.Namespace, out: Path
) -> tuple[dict[str, float], CpuTrace]:
    """One Locust run: the counts of its sending processes summed (see the locustfile's
    ``--count-dir``) and the trace of its and the server's CPU."""
    server_pid, url = server
    counts = out / "counts"
    counts.mkdir()
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), CLIENTS[config.client],
               "--headless", "--host", url, "--users", str(args.users),
               "--spawn-rate", str(args.users * 100), "--run-time", f"{args.seconds}s",
               "--stop-timeout", "5", "--only-summary", "--count-dir", str(counts),
               "--loglevel", "ERROR", "--exit-code-on-error", "0"]  # fmt: skip
    if config.processes > 1:
        command += ["--processes", str(config.processes)]
    with (out / "locust.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_pinned(LOCUST_CPU if args.pin == "split" else None),  # noqa: PLW1509
        )  # fmt: skip
        trace = CpuTrace(process.pid, server_pid)
        while process.poll() is None:
            trace.read()
            time.sleep(POLL_SECONDS)
    parts = [json.loads(path.read_text()) for path in counts.glob("*.json")]
    if process.returncode != 0 or not parts:
        tail = (out / "locust.log").read_text(errors="replace")[-2000:]
        raise SystemExit(
            f"Locust ({config.label} on {url}) exited with code {process.returncode} and "
            f"{len(parts)} count files:\n{tail}"
        )
    total = {
        "requests": sum(p["requests"] for p in parts),
        "failures": sum(p["failures"] for p in parts),
        "first": min(p["first"] for p in parts),
        "last": max(p["last"] for p in parts),
    }
    return total, trace


def _sample(
    round_: int, config: Config, target: str, server: tuple[int, str], args: argparse.Namespace
) -> Sample:
    with tempfile.TemporaryDirectory(prefix="ceiling-locust-") as out:
        counts, trace = _locust(config, server, args, Path(out))
    # From the first request's start to the last one's end: start-up and shutdown left out.
    first, last = counts["first"], counts["last"]
    seconds = max(1e-9, last - first)
    locust_cpu, server_cpu = trace.between(first, last)
    requests = int(counts["requests"])
    sample = Sample(
        round=round_, config=config.label, target=target, rps=requests / seconds,
        requests=requests, failures=int(counts["failures"]), seconds=seconds,
        locust_cpu_s=locust_cpu, server_cpu_s=server_cpu,
    )  # fmt: skip
    print(
        f"[ceiling] round {round_ + 1}/{args.rounds} {config.label:<16} -> {target:<7}"
        f" {sample.rps:8,.0f} req/s over {seconds:4.1f}s | failures {sample.failures} | cores"
        f" used: Locust {locust_cpu / seconds:.2f}, server {server_cpu / seconds:.2f}"
        f" | load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return sample


def _interval(values: list[float]) -> dict[str, Any]:
    return percentile_interval(values, 0.5).as_dict()


def _paired(
    samples: list[Sample],
    top: tuple[str, str],
    bottom: tuple[str, str],
    measure: Callable[[Sample], float] = lambda s: s.rps,
) -> list[float]:
    """Per-round ratios ``top / bottom`` of ``measure``, each side a ``(config, target)``."""
    by = {(s.round, s.config, s.target): measure(s) for s in samples}
    rounds = sorted({s.round for s in samples})
    return [
        by[(r, *top)] / by[(r, *bottom)] for r in rounds if (r, *top) in by and (r, *bottom) in by
    ]


def summarize(
    samples: list[Sample], configs: list[Config], service: Config | None
) -> dict[str, Any]:
    """Medians per configuration (req/s, CPU per request of Locust and of the server) and
    the paired ratios of req/s; service/bare also as a ratio of the server's CPU per request."""
    rows: dict[str, Any] = {}
    runs = [(c.label, "bare") for c in configs] + ([(service.label, "service")] if service else [])
    for label, target in runs:
        mine = [s for s in samples if s.config == label and s.target == target]
        rows[f"{label} -> {target}"] = {
            "rps": _interval([s.rps for s in mine]),
            "locust_cpu_us_per_request": _interval([s.locust_us_per_request for s in mine]),
            "server_cpu_us_per_request": _interval([s.server_us_per_request for s in mine]),
            "failures": sum(s.failures for s in mine),
        }
    labels = {c.label for c in configs}
    fast, http = LABELS["fast"], LABELS["http"]
    pairs = [(f"{fast} x{n}", f"{http} x{n}") for n in sorted({c.processes for c in configs})]
    pairs += [(f"{LABELS[k]} x2", f"{LABELS[k]} x1") for k in CLIENTS]
    ratios = {}
    for top, bottom in pairs:
        if {top, bottom} <= labels:
            paired = _paired(samples, (top, "bare"), (bottom, "bare"))
            ratios[f"{top} / {bottom}"] = _interval(paired)
    if service is not None:
        ends = (service.label, "service"), (service.label, "bare")
        ratios[f"service / bare ({service.label})"] = _interval(_paired(samples, *ends))
        cost = _paired(samples, *ends, measure=lambda s: s.server_us_per_request)
        ratios["service / bare, server CPU per request"] = _interval(cost)
    return {"runs": rows, "ratios": ratios}


def _format(interval: dict[str, Any], spec: str) -> str:
    return f"{interval['estimate']:{spec}} [{interval['low']:{spec}}, {interval['high']:{spec}}]"


def print_table(summary: dict[str, Any]) -> None:
    print("\nmedian [95% CI] over rounds; CPU in microseconds per request")
    print(f"{'configuration -> server':<28}{'req/s':>24}{'Locust CPU':>24}{'server CPU':>24}")
    for name, row in summary["runs"].items():
        cells = [row["rps"], row["locust_cpu_us_per_request"], row["server_cpu_us_per_request"]]
        print(f"{name:<28}" + "".join(f"{_format(c, ',.0f'):>24}" for c in cells))
    print(f"\n{'ratio (paired by round)':<48}{'median [95% CI]':>24}")
    for name, interval in summary["ratios"].items():
        print(f"{name:<48}{_format(interval, '.2f'):>24}")


def _configs(text: str) -> list[Config]:
    configs = [Config.parse(part) for part in text.split(",") if part.strip()]
    if not configs or len(set(configs)) != len(configs):
        raise argparse.ArgumentTypeError(f"--configs {text!r}: give each configuration once")
    return configs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="one sample's length (default 10)")
    parser.add_argument("--rounds", type=int, default=6, help="samples per config (default 6)")
    parser.add_argument("--users", type=int, default=32, help="Locust users, no wait (default 32)")
    parser.add_argument(
        "--configs",
        type=_configs,
        default=_configs(DEFAULT_CONFIGS),
        help=f"CLIENT:PROCESSES,... on the bare app (default {DEFAULT_CONFIGS})",
    )
    parser.add_argument(
        "--service-client",
        type=Config.parse,
        default=Config.parse("fast:1"),
        help="the configuration that loads the service and the bare app for the ratio "
        "(default fast:1)",
    )
    parser.add_argument("--no-service", action="store_true", help="the generator's ceiling only")
    parser.add_argument(
        "--pin",
        choices=("split", "none"),
        default="split",
        help="split: server on CPU 0, Locust on CPU 1 (default); none: unpinned",
    )
    parser.add_argument("--out", type=Path, help="write the samples and the summary as JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("seconds", "rounds", "users"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.pin == "split" and not {SERVER_CPU, LOCUST_CPU} <= os.sched_getaffinity(0):
        parser.error(f"--pin split needs CPUs {SERVER_CPU} and {LOCUST_CPU}; use --pin none")
    service = None if args.no_service else args.service_client
    server_cpu = SERVER_CPU if args.pin == "split" else None
    plan = [(c, "bare") for c in args.configs]
    if service is not None:
        plan.append((service, "service"))
    if service is not None and service not in args.configs:
        plan.append((service, "bare"))
    print(
        f"[ceiling] {args.rounds} rounds x {len(plan)} samples x {args.seconds}s, {args.users} "
        f"users, pin {args.pin}: about {args.rounds * len(plan) * (args.seconds + 3) / 60:.0f} min",
        flush=True,
    )
    started = time.time()
    load_before = os.getloadavg()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="ceiling-") as scratch, contextlib.ExitStack() as stack:
        servers = {"bare": stack.enter_context(_server("bare", Path(scratch), server_cpu))}
        if service is not None:
            servers["service"] = stack.enter_context(_server("service", Path(scratch), server_cpu))
        for round_ in range(args.rounds):
            shift = round_ % len(plan)
            for config, target in plan[shift:] + plan[:shift]:
                samples.append(_sample(round_, config, target, servers[target], args))
    summary = summarize(samples, args.configs, service)
    print_table(summary)
    if args.out is not None:
        document = {
            "command": [Path(sys.executable).name, *sys.argv],
            "started": started,
            "seconds_total": round(time.time() - started, 1),
            "settings": {key: str(value) for key, value in vars(args).items()},
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
                "nice": os.nice(0),
            },
            "summary": summary,
            "samples": [
                {
                    **asdict(s),
                    "locust_cpu_us_per_request": s.locust_us_per_request,
                    "server_cpu_us_per_request": s.server_us_per_request,
                }
                for s in samples
            ],
        }
        args.out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\n[ceiling] wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``perf bench``, ``perf load`` and ``perf run``: the producing stages, into one run folder;
``perf import-locust``: a plain Locust run's own outputs into a new one.

Each prints the run folder's path as the last line of its output.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from perf._internal.processes import handling_signal
from perf.cli.paths import add_results_dir_option, perf_env, repo_root, results_root
from perf.cli.report import gate_stage, report_stage
from perf.errors import EXIT_INTERRUPTED, ConfigurationError
from perf.loadgen.capacity import Search, run_capacity
from perf.loadgen.capacity_search import CapacityOptions
from perf.loadgen.load_run import (
    DEFAULT_TRACE_RATE,
    LoadOptions,
    check_host,
    parse_duration,
    run_load,
    trace_settings,
)
from perf.loadgen.workload import parse_workload
from perf.report.capacity import judge_step
from perf.results.files import BENCHMARKS, CAPACITY_DIR, TOKEN_LOG
from perf.results.imported import import_locust_run
from perf.results.manifest import BENCH_STAGE, SERVICE_SETTINGS
from perf.results.runs import RunFolder, create_run
from perf.results.targets import SLO_FAILED_EXIT_CODE, load_targets

__all__ = ["add_commands"]


def _open_folder(args: argparse.Namespace, repo: Path) -> RunFolder:
    run_dir = Path(args.run_dir) if args.run_dir else None
    return create_run(results_root(args.results_dir, repo), repo=repo, run_dir=run_dir)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops a load run like Ctrl-C does: children stopped, manifest finalised."""
    raise KeyboardInterrupt


# -- perf bench ------------------------------------------------------------------------------


def _bench_stage(folder: RunFolder, repo: Path, pytest_args: Sequence[str]) -> int:
    # the whole suite unless the pytest arguments name their own paths
    paths = [] if any(Path(a).exists() for a in pytest_args) else ["benchmarks"]
    command = [
        sys.executable, "-m", "pytest", *paths, "--benchmark-only",
        f"--benchmark-json={folder.path / BENCHMARKS}", *pytest_args,
    ]  # fmt: skip
    folder.begin_stage(BENCH_STAGE, command=command, settings=perf_env(os.environ))
    status = None
    try:
        code = subprocess.call(command, cwd=repo)  # noqa: S603 - our own command, no shell
    except KeyboardInterrupt:
        code, status = EXIT_INTERRUPTED, "interrupted"
    folder.finish_stage(BENCH_STAGE, exit_code=code, status=status)
    return code


def _bench(args: argparse.Namespace) -> int:
    repo = repo_root()
    folder = _open_folder(args, repo)
    code = _bench_stage(folder, repo, args.pytest_args)
    print(folder.path)
    return code


# -- perf load -------------------------------------------------------------------------------


def _load_options(
    args: argparse.Namespace, defaults: Mapping[str, str] | None = None
) -> LoadOptions:
    workload: dict[str, str] = dict(defaults or {})
    if not args.host:  # our own service: the workload draws from the same synthetic home
        for key in ("dataset_seed", "dataset_scale"):
            if value := os.environ.get(f"PERF_{key.upper()}"):
                workload[key] = value
    params = parse_workload(args.workload or [], workload)
    if args.host:
        check_host(args.host.rstrip("/"))
    return LoadOptions(
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_seconds=parse_duration(args.duration),
        host=args.host,
        open_rate=args.open_rate,
        processes=args.processes,
        expect_workers=args.expect_workers,
        master_bind_host=args.master_bind_host,
        service_workers=args.service_workers,
        trace_rate=args.trace_rate,
        workload=params,
        targets=Path(args.targets) if args.targets else None,
        progress_seconds=args.progress,
        history_seconds=args.history,
        profile_rate=args.profile_rate if args.profile else None,
        profile_nonblocking=args.profile_nonblocking,
    )


def _service_overrides(run: Path, scratch: Path) -> dict[str, str]:
    """Where our own service writes: the token log into the run; data and caches to scratch
    (a cold start per run) unless the environment already chose."""
    overrides = {"PERF_TOKEN_LOG_PATH": str(run / TOKEN_LOG)}
    if not (os.environ.get("PERF_DATABASE_PATH") or os.environ.get("PERF_DATABASE_URL")):
        overrides["PERF_DATABASE_PATH"] = str(scratch / "home.sqlite")
    if not os.environ.get("PERF_CACHE_DIR"):
        overrides["PERF_CACHE_DIR"] = str(scratch / "cache")
    return overrides


def _service_settings(overrides: Mapping[str, str]) -> dict[str, Any]:
    """The service's settings as the child will see them (environment + our overrides)."""
    try:
        from perf.service.settings import ServiceSettings  # noqa: PLC0415 - pydantic: ~0.3 s

        values: dict[str, Any] = {k.removeprefix("PERF_").lower(): v for k, v in overrides.items()}
        return {SERVICE_SETTINGS: ServiceSettings(**values).recorded()}
    except Exception as exc:  # recording must not stop the run
        return {f"{SERVICE_SETTINGS}_error": f"{type(exc).__name__}: {exc}"}


def _load_stage(folder: RunFolder, repo: Path, options: LoadOptions) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="perf-load-") as scratch,
        handling_signal(signal.SIGTERM, _raise_interrupt),
    ):
        overrides: dict[str, str] = {}
        if not options.host:
            overrides = _service_overrides(folder.path, Path(scratch))
            overrides.update(trace_settings(options, folder.path))
        settings: dict[str, Any] = {"env": perf_env({**os.environ, **overrides})}
        if not options.host:
            settings.update(_service_settings(overrides))
        return run_load(
            folder,
            options,
            repo=repo,
            service_env={**os.environ, **overrides},
            settings=settings,
        )


def _load(args: argparse.Namespace) -> int:
    if args.find_capacity:
        return _capacity(args)
    if args.stub_latency is not None or args.compare_zero_latency:
        raise ConfigurationError(
            "--stub-latency and --compare-zero-latency belong to --find-capacity; for a plain "
            "load run set PERF_STUB_LATENCY_MEDIAN_MS and PERF_STUB_LATENCY_P95_MS"
        )
    repo = repo_root()
    options = _load_options(args)
    folder = _open_folder(args, repo)
    code = _load_stage(folder, repo, options)
    print(folder.path)
    return code


# -- perf load --find-capacity ---------------------------------------------------------------


def _stub_latency(text: str) -> tuple[float, float]:
    """``MEDIAN_MS[:P95_MS]``; the P95 defaults to three times the median (the stub's default
    shape, 40 and 120 ms)."""
    median, _, p95 = text.partition(":")
    try:
        values = float(median), float(p95) if p95 else 3 * float(median)
    except ValueError:
        values = (-1.0, -1.0)
    if min(values) < 0 or values[1] < values[0]:
        raise ConfigurationError(
            f"bad --stub-latency {text!r}: use MEDIAN_MS or MEDIAN_MS:P95_MS with 0 <= median "
            "<= P95, e.g. 40:120, or 0 for an instant LLM"
        )
    return values


def _stub_env(median_ms: float, p95_ms: float) -> dict[str, str]:
    return {
        "PERF_STUB_LATENCY_MEDIAN_MS": f"{median_ms:g}",
        "PERF_STUB_LATENCY_P95_MS": f"{p95_ms:g}",
    }


def _searches(
    args: argparse.Namespace, stub: tuple[float, float] | None, settings: Mapping[str, Any]
) -> list[Search]:
    if args.host:
        return [Search("host", f"the service at {args.host}", {})]
    if stub is not None:
        median, p95 = stub
        first = Search(f"stub-{median:g}ms", f"LLM stub {median:g} ms median, P95 {p95:g} ms",
                       _stub_env(median, p95))  # fmt: skip
    else:
        service = settings.get(SERVICE_SETTINGS) or {}
        shape = "its settings"
        if "stub_latency_median_ms" in service:
            shape = (f"{service['stub_latency_median_ms']:g} ms median, "
                     f"P95 {service['stub_latency_p95_ms']:g} ms")  # fmt: skip
        first = Search("default", f"LLM stub at its default latency ({shape})", {})
    searches = [first]
    if args.compare_zero_latency:
        searches.append(Search("zero-latency", "LLM stub at zero latency", _stub_env(0, 0)))
    return searches


def _capacity(args: argparse.Namespace) -> int:
    if args.open_rate is not None:
        raise ConfigurationError(
            "--find-capacity chooses the open-model rate of each step; drop --open-rate and "
            "set where the search starts with --start-rate"
        )
    if args.host and (args.stub_latency is not None or args.compare_zero_latency):
        raise ConfigurationError(
            "--stub-latency and --compare-zero-latency restart our own service with another "
            "stub latency; with --host, change your service's LLM yourself and search again"
        )
    stub = None if args.stub_latency is None else _stub_latency(args.stub_latency)
    repo = repo_root()
    # /query alone unless the workload asks for the dashboard's requests (and their targets)
    options = _load_options(args, defaults={"health_weight": "0", "stats_weight": "0"})
    capacity = CapacityOptions(
        start_rate=args.start_rate,
        factor=args.factor,
        resolution=args.resolution,
        max_steps=args.max_steps,
        step_seconds=parse_duration(args.step_duration),
        warmup_seconds=0.0 if args.warmup.strip() in {"0", "0s"} else parse_duration(args.warmup),
    )
    targets = load_targets(options.targets or repo / "pyproject.toml")
    folder = _open_folder(args, repo)
    with (
        tempfile.TemporaryDirectory(prefix="perf-capacity-") as scratch,
        handling_signal(signal.SIGTERM, _raise_interrupt),
    ):
        settings: dict[str, Any] = {"env": perf_env(os.environ)}
        if not options.host:
            settings.update(_service_settings({}))
        searches = _searches(args, stub, settings)
        if not options.host:  # each search a cold start of its own, its token log in its folder
            for search in searches:
                (Path(scratch) / search.name).mkdir()
            searches = [
                dataclasses.replace(s, env={**s.env, **_service_overrides(
                    folder.path / CAPACITY_DIR / s.name, Path(scratch) / s.name)})
                for s in searches
            ]  # fmt: skip
        code = run_capacity(
            folder, capacity, options, searches, repo=repo, service_env=dict(os.environ),
            settings=settings,
            judge=lambda step, rate, cores: judge_step(step, rate, cores, targets=targets),
        )  # fmt: skip
    print(folder.path)
    return code


def _run(args: argparse.Namespace) -> int:
    """bench, load, gate and report into one run folder; the first failing stage's code.

    The gate and the report run whatever the earlier stages' verdicts: a missed target is
    what they are for. Locust's own SLO hook judges whole-run percentiles, warm-up included;
    in ``perf run`` the gate's steady-state verdict on the same targets decides instead. An
    interrupt stops the job."""
    repo = repo_root()
    options = _load_options(args)
    targets = options.targets or repo / "pyproject.toml"
    folder = _open_folder(args, repo)
    codes = [_bench_stage(folder, repo, args.pytest_args)]
    stages: list[Callable[[], int]] = [
        lambda: _ignore_slo_hook(_load_stage(folder, repo, options)),
        lambda: gate_stage(folder, targets),
        lambda: report_stage(folder, targets, repo / "notebooks"),
    ]
    for stage in stages:
        if codes[-1] == EXIT_INTERRUPTED:
            break
        codes.append(stage())
    print(folder.path)
    return next((code for code in codes if code), 0)


def _ignore_slo_hook(code: int) -> int:
    if code == SLO_FAILED_EXIT_CODE:
        print("[perf run] Locust's whole-run SLO check missed; the gate judges the steady state")
        return 0
    return code


# -- perf import-locust ----------------------------------------------------------------------


def _import_locust(args: argparse.Namespace) -> int:
    repo = repo_root()
    folder = import_locust_run(
        results_root(args.results_dir, repo),
        repo=repo,
        csv_prefix=Path(args.csv) if args.csv else None,
        json_file=Path(args.json) if args.json else None,
        html=Path(args.html) if args.html else None,
        host=args.host,
        command=["perf", *sys.argv[1:]],
    )
    print(folder.path)
    return 0


# -- the parser ------------------------------------------------------------------------------


def _add_run_folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="write into this run folder (new, or one a previous "
                        "stage created) instead of a new results/runs/<run-id>/")  # fmt: skip
    add_results_dir_option(parser)


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=20, help="simulated users (default 20)")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started per s")
    parser.add_argument("--duration", default="120s", help="run time, e.g. 90s, 2m (default 120s)")
    parser.add_argument("--host", help="load an already running service at this URL instead")
    parser.add_argument("--open-rate", type=float, help="open model: total requests per second")
    parser.add_argument("--processes", type=int, help="Locust worker processes (distributed)")
    parser.add_argument(
        "--expect-workers", type=int, metavar="N",
        help="Locust master for N workers on other hosts (README, 'Several hosts'); needs --host",
    )  # fmt: skip
    parser.add_argument(
        "--master-bind-host", default="*", help="with --expect-workers: the address to listen on"
    )
    parser.add_argument(
        "--service-workers", type=int, default=1, help="uvicorn workers of the service (default 1)"
    )
    parser.add_argument(
        "--trace-rate", type=float, default=DEFAULT_TRACE_RATE, metavar="R",
        help="trace this share of the keys of each of the service's caches into "
        f"cache_traces.json, for the sizing report (default {DEFAULT_TRACE_RATE:g}; 0: off)",
    )  # fmt: skip
    parser.add_argument("--targets", help="TOML with the targets (default: pyproject.toml)")
    parser.add_argument(
        "--workload", action="append", metavar="KEY=VALUE",
        help="override a workload parameter, e.g. zipf_s=1.2 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--progress", type=float, default=2.0, help="progress every N s")
    parser.add_argument(
        "--history", type=float, default=5.0,
        help="read the service's figures into monitor_history.jsonl every N s (default 5)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true",
        help="sample the service with py-spy in the run's second half: a flame graph, a "
        "speedscope file and the top frames in the run folder",
    )  # fmt: skip
    parser.add_argument(
        "--profile-rate", type=float, default=100.0, metavar="HZ",
        help="py-spy's samples per second with --profile (default 100)",
    )  # fmt: skip
    parser.add_argument(
        "--profile-nonblocking", action="store_true",
        help="py-spy reads the stacks without pausing the service (less overhead, stacks may "
        "be torn)",
    )  # fmt: skip


def _add_capacity_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "capacity", "--find-capacity: the highest open-model /query rate sustained with every "
        "latency target met in steady state (capacity.json; README, 'Capacity')",
    )  # fmt: skip
    group.add_argument("--find-capacity", action="store_true",
                       help="search the rate in steps instead of one load run")  # fmt: skip
    group.add_argument("--start-rate", type=float, default=5.0,
                       help="requests/s of the first step (default 5)")  # fmt: skip
    group.add_argument("--factor", type=float, default=2.0,
                       help="the rate grows by this until a step fails (default 2)")  # fmt: skip
    group.add_argument("--resolution", type=float, default=0.1,
                       help="then bisect until high / low <= 1 + this (default 0.1)")  # fmt: skip
    group.add_argument("--max-steps", type=int, default=8, help="per search (default 8)")
    group.add_argument("--step-duration", default="30s", help="per step (default 30s)")
    group.add_argument(
        "--warmup", default="30s",
        help="per search, at the start rate, not judged (default 30s; 0: none)",
    )  # fmt: skip
    group.add_argument("--stub-latency", metavar="MEDIAN_MS[:P95_MS]",
                       help="the LLM stub's latency (default: its settings, 40:120)")  # fmt: skip
    group.add_argument(
        "--compare-zero-latency", action="store_true",
        help="search again with the stub at zero latency; report the ratio",
    )  # fmt: skip


def add_commands(subparsers: Any) -> None:
    """Add ``run``, ``bench`` and ``load`` to an argparse ``add_subparsers()`` object."""
    run = subparsers.add_parser(
        "run", help="the main job: benchmarks, a load run, the reports and the gate, one folder"
    )
    _add_run_folder_options(run)
    _add_load_options(run)
    run.set_defaults(func=_run, takes_extra=True)

    bench = subparsers.add_parser(
        "bench", help="pytest-benchmark suite into a run folder; extra args go to pytest"
    )
    _add_run_folder_options(bench)
    bench.set_defaults(func=_bench, takes_extra=True)

    load = subparsers.add_parser("load", help="Locust load run against the reference service")
    _add_run_folder_options(load)
    _add_load_options(load)
    _add_capacity_options(load)
    load.set_defaults(func=_load)

    imported = subparsers.add_parser(
        "import-locust",
        help="a plain Locust run's --csv / --json-file outputs into a new run folder",
    )
    imported.add_argument("--csv", metavar="PREFIX", help="the prefix given to locust --csv")
    imported.add_argument("--json", metavar="FILE", help="the file locust --json-file wrote")
    imported.add_argument("--html", metavar="FILE", help="the file locust --html wrote")
    imported.add_argument("--host", help="the service Locust loaded (recorded only)")
    add_results_dir_option(imported)
    imported.set_defaults(func=_import_locust)

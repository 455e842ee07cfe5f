"""``perf bench``, ``perf load`` and ``perf run``: the producing stages, into one run folder;
``perf import-locust``: a plain Locust run's own outputs into a new one.

Each prints the run folder's path as the last line of its output.
"""

from __future__ import annotations

import argparse
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
from perf.loadgen.load_run import LoadOptions, check_host, parse_duration, run_load
from perf.loadgen.workload import WorkloadParams
from perf.results.files import BENCHMARKS, TOKEN_LOG
from perf.results.imported import import_locust_run
from perf.results.manifest import BENCH_STAGE, SERVICE_SETTINGS
from perf.results.runs import RunFolder, create_run
from perf.results.targets import SLO_FAILED_EXIT_CODE

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


def _load_options(args: argparse.Namespace) -> LoadOptions:
    workload: dict[str, str] = {}
    if not args.host:  # our own service: the workload draws from the same synthetic home
        for key in ("dataset_seed", "dataset_scale"):
            if value := os.environ.get(f"PERF_{key.upper()}"):
                workload[key] = value
    for item in args.workload or []:
        key, sep, value = item.partition("=")
        known = WorkloadParams.__dataclass_fields__
        if not sep or key not in known:
            raise ConfigurationError(
                f"bad --workload {item!r}: use KEY=VALUE with KEY one of {sorted(known)}"
            )
        workload[key] = value
    try:
        params = WorkloadParams.from_mapping(workload)
    except ValueError as exc:
        raise ConfigurationError(f"bad workload parameter: {exc}") from exc
    if args.host:
        check_host(args.host.rstrip("/"))
    return LoadOptions(
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_seconds=parse_duration(args.duration),
        host=args.host,
        open_rate=args.open_rate,
        processes=args.processes,
        service_workers=args.service_workers,
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
        overrides = {} if options.host else _service_overrides(folder.path, Path(scratch))
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
    repo = repo_root()
    options = _load_options(args)
    folder = _open_folder(args, repo)
    code = _load_stage(folder, repo, options)
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
        "--service-workers", type=int, default=1, help="uvicorn workers of the service (default 1)"
    )
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

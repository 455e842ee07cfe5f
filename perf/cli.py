"""The ``perf`` command: ``perf run | bench | load | report | gate`` (+ ``serve``, ``stub-llm``,
``analyze``).

Each producing command writes into a run folder under ``results/runs/`` (or ``--run-dir``) and
prints that folder's path as the last line of its output. The CLI is the one place besides the
service that reads the environment: ``PERF_RESULTS_DIR`` and the service's ``PERF_*`` settings,
which it records in the run manifest. Bad input exits with code 2 and says what to do.
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

from perf.errors import ConfigurationError

__all__ = ["main", "repo_root", "results_root"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_SECRET_WORDS = ("KEY", "PASSWORD", "SECRET")


def repo_root() -> Path:
    """The checkout holding ``benchmarks/`` and ``loadtests/``: from the working directory up,
    else the folder above the installed ``perf`` package."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "pyproject.toml").is_file() and (folder / "loadtests").is_dir():
            return folder
    return Path(__file__).resolve().parent.parent


def results_root(results_dir: str | None, repo: Path) -> Path:
    """``--results-dir``, else ``$PERF_RESULTS_DIR``, else ``results/`` in the repo."""
    if results_dir:
        return Path(results_dir)
    return Path(os.environ.get("PERF_RESULTS_DIR") or repo / "results")


def _child_env(repo: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env.get("PYTHONPATH")) if p)
    env.update(overrides or {})
    return env


def _perf_env(env: Mapping[str, str]) -> dict[str, str]:
    """The ``PERF_*`` variables, secrets masked, for the manifest."""
    return {
        k: "***" if any(w in k for w in _SECRET_WORDS) else v
        for k, v in sorted(env.items())
        if k.startswith("PERF_")
    }


def _open_folder(args: argparse.Namespace, repo: Path) -> Any:
    from perf.report.runs import create_run  # noqa: PLC0415

    run_dir = Path(args.run_dir) if args.run_dir else None
    return create_run(results_root(args.results_dir, repo), repo=repo, run_dir=run_dir)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops a load run like Ctrl-C does: children stopped, manifest finalised."""
    raise KeyboardInterrupt


# -- perf bench ------------------------------------------------------------------------------


def _bench_stage(folder: Any, repo: Path, pytest_args: Sequence[str]) -> int:
    # the whole suite unless the pytest arguments name their own paths
    paths = [] if any(Path(a).exists() for a in pytest_args) else ["benchmarks"]
    command = [
        sys.executable, "-m", "pytest", *paths, "--benchmark-only",
        f"--benchmark-json={folder.path / 'benchmarks.json'}", *pytest_args,
    ]  # fmt: skip
    folder.begin_stage("bench", command=command, settings=_perf_env(os.environ))
    status = None
    try:
        code = subprocess.call(command, cwd=repo, env=_child_env(repo))  # noqa: S603
    except KeyboardInterrupt:
        code, status = EXIT_INTERRUPTED, "interrupted"
    folder.finish_stage("bench", exit_code=code, status=status)
    return code


def _bench(args: argparse.Namespace) -> int:
    repo = repo_root()
    folder = _open_folder(args, repo)
    code = _bench_stage(folder, repo, args.pytest_args)
    print(folder.path)
    return code


# -- perf load -------------------------------------------------------------------------------


def _load_options(args: argparse.Namespace) -> Any:
    from perf.report.load_run import LoadOptions, check_host, parse_duration  # noqa: PLC0415
    from perf.report.workload import WorkloadParams  # noqa: PLC0415

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
    )


def _service_overrides(run: Path, scratch: Path) -> dict[str, str]:
    """Where our own service writes: the token log into the run; data and caches to scratch
    (a cold start per run) unless the environment already chose."""
    overrides = {"PERF_TOKEN_LOG_PATH": str(run / "tokens.jsonl")}
    if not (os.environ.get("PERF_DATABASE_PATH") or os.environ.get("PERF_DATABASE_URL")):
        overrides["PERF_DATABASE_PATH"] = str(scratch / "home.sqlite")
    if not os.environ.get("PERF_CACHE_DIR"):
        overrides["PERF_CACHE_DIR"] = str(scratch / "cache")
    return overrides


def _service_settings(overrides: Mapping[str, str]) -> dict[str, Any]:
    """The service's settings as the child will see them (environment + our overrides)."""
    try:
        from perf.service.settings import ServiceSettings  # noqa: PLC0415

        values: dict[str, Any] = {k.removeprefix("PERF_").lower(): v for k, v in overrides.items()}
        return {"service": ServiceSettings(**values).recorded()}
    except Exception as exc:  # recording must not stop the run
        return {"service_error": f"{type(exc).__name__}: {exc}"}


def _load_stage(folder: Any, repo: Path, options: Any) -> int:
    from perf.report.load_run import run_load  # noqa: PLC0415
    from perf.report.processes import handling_signal  # noqa: PLC0415

    with (
        tempfile.TemporaryDirectory(prefix="perf-load-") as scratch,
        handling_signal(signal.SIGTERM, _raise_interrupt),
    ):
        overrides = {} if options.host else _service_overrides(folder.path, Path(scratch))
        settings: dict[str, Any] = {"env": _perf_env({**os.environ, **overrides})}
        if not options.host:
            settings.update(_service_settings(overrides))
        return run_load(
            folder,
            options,
            repo=repo,
            service_env=_child_env(repo, overrides),
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
    """bench, load, report and gate into one run folder; the first failing stage's code.

    The report and the gate run whatever the earlier stages' verdicts: a missed target is
    what they are for. An interrupt stops the job."""
    from perf.report.commands import gate_stage, report_stage  # noqa: PLC0415

    repo = repo_root()
    options = _load_options(args)
    targets = options.targets or repo / "pyproject.toml"
    folder = _open_folder(args, repo)
    codes = [_bench_stage(folder, repo, args.pytest_args)]
    stages: list[Callable[[], int]] = [
        lambda: _load_stage(folder, repo, options),
        lambda: report_stage(folder, targets, repo / "notebooks"),
        lambda: gate_stage(folder, targets),
    ]
    for stage in stages:
        if codes[-1] == EXIT_INTERRUPTED:
            break
        codes.append(stage())
    print(folder.path)
    return next((code for code in codes if code), 0)


# -- the parser ------------------------------------------------------------------------------


def _add_run_folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="write into this run folder (new, or one a previous "
                        "stage created) instead of a new results/runs/<run-id>/")  # fmt: skip
    parser.add_argument("--results-dir", help="results root (default: $PERF_RESULTS_DIR, "
                        "else results/ in the repo)")  # fmt: skip


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=20, help="simulated users (default 20)")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started per s")
    parser.add_argument("--duration", default="60s", help="run time, e.g. 60s, 2m (default 60s)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perf", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run", help="the main job: benchmarks, a load run, the reports and the gate, one folder"
    )
    _add_run_folder_options(run)
    _add_load_options(run)
    run.set_defaults(func=_run, takes_extra=True)

    bench = commands.add_parser(
        "bench", help="pytest-benchmark suite into a run folder; extra args go to pytest"
    )
    _add_run_folder_options(bench)
    bench.set_defaults(func=_bench, takes_extra=True)

    load = commands.add_parser("load", help="Locust load run against the reference service")
    _add_run_folder_options(load)
    _add_load_options(load)
    load.set_defaults(func=_load)

    try:
        from perf.service.cli import add_commands  # noqa: PLC0415
    except ImportError:  # the service extra is not installed
        pass
    else:
        add_commands(commands)
    from perf.report.commands import add_commands as add_report_commands  # noqa: PLC0415

    add_report_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = [a for a in extra if a != "--"]
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.func(args)
    except (ConfigurationError, FileExistsError, FileNotFoundError) as exc:
        print(f"perf {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"perf {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())

"""``perf load --find-capacity``: the highest open-model arrival rate the service sustains.

The service starts once per search (as in ``perf load``) and stays up: a warm-up run at the start
rate (``step-00``, not judged) fills its caches, then each step is one Locust run at a fixed
open-model rate into its own folder (``capacity/<search>/step-NN``), with its own stream of users
(the workload's ``stream``: the same home and popular devices, new questions), so no step
replays the queries of another. A judge, injected (it lives in
``perf.report.capacity``: this module never imports the report), reads the step's request log
and says ``pass`` (sustained), ``fail`` or ``inconclusive``; inconclusive counts as not
sustained. Between steps the search waits until the service has no query in flight (its
``/health`` says ``queries.in_flight``; a service that does not say is given the pause alone),
so no step starts with the backlog of the one before. Which rate comes next, and the knee:
``perf.loadgen.capacity_search``.

``capacity.json`` is rewritten after every step, so Ctrl-C or a failure keeps what was measured.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from perf._internal import Say
from perf._internal.atomic import write_json_atomic
from perf._internal.processes import (
    free_port,
    handling_signal,
    start_process,
    stop_process,
    wait_for_http,
)
from perf.errors import EXIT_INTERRUPTED
from perf.loadgen.capacity_search import CapacityOptions, knee, next_rate, ratio
from perf.loadgen.cpu import CpuSampler, find_descendant, process_table
from perf.loadgen.load_run import LoadOptions, locust_command, service_command
from perf.results.files import (
    CAPACITY,
    CAPACITY_DIR,
    LOCUST_LOG,
    REQUEST_LOG,
    SERVICE_LOG,
    capacity_step_dir,
    worker_request_log_glob,
)
from perf.results.manifest import CAPACITY_STAGE
from perf.results.requests_log import merge_request_logs, read_request_log
from perf.results.runs import RunFolder

__all__ = ["Judge", "Search", "run_capacity"]

LOCUST_EXIT_CODES = {0, 1, 3}  # finished; some requests failed; its own SLO hook missed

# (step folder, offered requests/s, CPU cores used per role over the step or None) -> the
# step's verdict ("verdict": pass / fail / inconclusive, "reason", and its measurements)
Judge = Callable[[Path, float, Mapping[str, float] | None], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Search:
    """One search: its folder name, what it is, and the service's extra environment."""

    name: str
    label: str
    env: Mapping[str, str]


# -- running it ------------------------------------------------------------------------------


class _SearchFailed(RuntimeError):
    """A step could not run (Locust crashed, the service died): the search stops there."""


@dataclass(frozen=True, slots=True)
class _Context:
    """What every search and step of one ``run_capacity`` shares."""

    folder: RunFolder
    load: LoadOptions
    repo: Path
    judge: Judge
    say: Say
    document: dict[str, Any]  # capacity.json, rewritten after every step

    def save(self) -> None:
        write_json_atomic(self.folder.path / CAPACITY, self.document)


def run_capacity(
    folder: RunFolder,
    options: CapacityOptions,
    load: LoadOptions,
    searches: Sequence[Search],
    *,
    repo: Path,
    service_env: Mapping[str, str],
    settings: Mapping[str, Any],
    judge: Judge,
    say: Say = print,
) -> int:
    """Run every search into ``folder`` (a ``RunFolder``); 0, 1 on a failure, 130 on Ctrl-C.
    A later search starts at the knee of the one before (when higher than the start rate)."""
    # as the steps ran: the open model, each step's rate in capacity.json
    workload = {
        **load.recorded(), "model": "open", "open_rate": None,
        "duration_seconds": options.step_seconds, "spawn_rate": float(load.users),
    }  # fmt: skip
    folder.begin_stage(
        CAPACITY_STAGE, command=["perf", *sys.argv[1:]],
        settings={**settings, "capacity": options.recorded()}, workload=workload,
    )  # fmt: skip
    document: dict[str, Any] = {
        "endpoint": "/query", "options": options.recorded(), "workload": workload,
        "searches": [], "ratio": None,
    }  # fmt: skip
    context = _Context(folder, load, repo, judge, say, document)
    exit_code, status = 1, "failed"  # until every search has finished
    entry: dict[str, Any] = {}
    try:
        start = options.start_rate
        for search in searches:
            entry = {"name": search.name, "label": search.label, "env": dict(search.env),
                     "status": "running", "steps": [], "knee": None}  # fmt: skip
            document["searches"].append(entry)
            own = dataclasses.replace(options, start_rate=start)
            _search(context, search, entry, own, {**service_env, **search.env})
            entry["status"] = "finished"
            start = max(options.start_rate, entry["knee"]["rate"] or 0.0)
        exit_code, status = 0, "finished"
    except KeyboardInterrupt:
        say("[perf capacity] interrupted: stopping Locust and the service")
        exit_code, status = EXIT_INTERRUPTED, "interrupted"
        entry["status"] = status
    except (RuntimeError, TimeoutError) as exc:  # _SearchFailed, or the service did not start
        say(f"[perf capacity] the search stopped: {exc}")
        exit_code, status = 1, "failed"
        entry.update(status=status, error=str(exc))
    finally:
        with handling_signal(signal.SIGINT, signal.SIG_IGN):  # let the record be written
            done = [s for s in document["searches"] if s["knee"]]
            if len(done) == 2:
                document["ratio"] = ratio(done[0]["knee"], done[1]["knee"])
            context.save()
            knees = {s["name"]: s["knee"] for s in document["searches"]}
            folder.finish_stage(CAPACITY_STAGE, exit_code=exit_code, status=status,
                                extra={"knees": knees})  # fmt: skip
    for search in document["searches"]:
        if search["knee"]:
            say(f"[perf capacity] {search['label']}: {search['knee']['message']}")
    if document["ratio"]:
        say(f"[perf capacity] {done[1]['label']} / {done[0]['label']}: "
            f"{document['ratio']['rate']:.2f}x")  # fmt: skip
    return exit_code


def _search(
    context: _Context,
    search: Search,
    entry: dict[str, Any],
    options: CapacityOptions,
    env: Mapping[str, str],
) -> None:
    """One search against one service (started here unless ``--host``)."""
    load, say = context.load, context.say
    service: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    roles: dict[str, int] = {}
    try:
        if load.host:
            url = load.host.rstrip("/")
        else:
            where = context.folder.path / CAPACITY_DIR / search.name
            where.mkdir(parents=True, exist_ok=True)
            log = (where / SERVICE_LOG).open("wb")
            port = free_port()
            service = start_process(service_command(port, load), env=env, cwd=context.repo, log=log)
            url = f"http://127.0.0.1:{port}"
            say(f"[perf capacity] starting the service (pid {service.pid}) on {url}")
            wait_for_http(f"{url}/health", timeout_seconds=load.startup_timeout_seconds,
                          process=service)  # fmt: skip
            roles["service"] = service.pid
            stub = find_descendant(process_table(), service.pid, "stub-llm")
            if stub is not None:
                roles["stub"] = stub
        say(f"[perf capacity] {search.label}: service at {url}")
        if options.warmup_seconds:
            say(f"[perf capacity] {search.name} warm-up: {options.start_rate:.3g} requests/s for "
                f"{options.warmup_seconds:g} s (not judged)")  # fmt: skip
            relative = capacity_step_dir(search.name, 0)
            code, _ = _locust(context, context.folder.path / relative, options.start_rate,
                              options.warmup_seconds, 0, url=url, env=env, roles=roles)  # fmt: skip
            entry["warmup"] = {"rate": options.start_rate, "seconds": options.warmup_seconds,
                               "folder": relative, "locust_exit_code": code}  # fmt: skip
        steps: list[dict[str, Any]] = entry["steps"]
        while (rate := next_rate([(s["offered_rate"], s["verdict"]) for s in steps],
                                 options)) is not None:  # fmt: skip
            drain = _drain(url, options) if steps else None
            step = _step(context, search, len(steps) + 1, rate,
                         options=options, url=url, env=env, roles=roles)  # fmt: skip
            step["drain_before"] = drain
            steps.append(step)
            entry["knee"] = knee(steps, options)
            context.save()
            if service is not None and service.poll() is not None:
                raise _SearchFailed(
                    f"the service exited (code {service.returncode}) during step {step['index']}"
                )
    finally:
        if service is not None:
            stop_process(service)
        if log is not None:
            log.close()


def _locust(
    context: _Context, where: Path, rate: float, seconds: float, stream: int, *, url: str,
    env: Mapping[str, str], roles: Mapping[str, int],
) -> tuple[int, CpuSampler]:  # fmt: skip
    """One Locust run at ``rate`` for ``seconds`` into ``where``, with the workload's users of
    ``stream``; returns its exit code and the CPU samples taken meanwhile."""
    where.mkdir(parents=True, exist_ok=True)
    load = dataclasses.replace(
        context.load, open_rate=rate, duration_seconds=seconds,
        spawn_rate=float(context.load.users),
        workload=dataclasses.replace(context.load.workload, stream=stream),
    )  # fmt: skip
    command = locust_command(where, url, load, context.repo)
    # an open-model user sleeps inside its task until its next arrival, and its requests in
    # flight are abandoned at the end anyway: waiting 10 s for it only lengthens the step
    command[command.index("--stop-timeout") + 1] = "1"
    with (where / LOCUST_LOG).open("wb") as out:
        locust = start_process(command, env=env, cwd=context.repo, log=out)
        try:
            with CpuSampler(lambda: {**roles, "generator": locust.pid}) as sampler:
                code = locust.wait()
        finally:
            with handling_signal(signal.SIGINT, signal.SIG_IGN):
                stop_process(locust, grace_seconds=20.0)
    _merge_worker_logs(where)
    if code not in LOCUST_EXIT_CODES:
        raise _SearchFailed(f"Locust exited with code {code}: see {where / LOCUST_LOG}")
    return code, sampler


def _step(
    context: _Context, search: Search, index: int, rate: float, *, options: CapacityOptions,
    url: str, env: Mapping[str, str], roles: Mapping[str, int],
) -> dict[str, Any]:  # fmt: skip
    """One step at ``rate`` into its step folder (users of stream ``index``), judged."""
    relative = capacity_step_dir(search.name, index)
    where = context.folder.path / relative
    context.say(f"[perf capacity] {search.name} step {index}: {rate:.3g} requests/s for "
                f"{options.step_seconds:g} s")  # fmt: skip
    code, sampler = _locust(context, where, rate, options.step_seconds, index, url=url, env=env,
                            roles=roles)  # fmt: skip
    step: dict[str, Any] = {"index": index, "offered_rate": rate, "stream": index,
                            "folder": relative, "seconds": options.step_seconds,
                            "locust_exit_code": code}  # fmt: skip
    window = _send_window(where / REQUEST_LOG)
    cpu = sampler.between(*window) if window else None
    seconds = window[1] - window[0] if window else 0.0
    step["cpu"] = {role: {"seconds": s, "cores": s / seconds} for role, s in (cpu or {}).items()}
    try:
        step.update(
            context.judge(where, rate, {r: c["cores"] for r, c in step["cpu"].items()} or None)
        )
    except (ValueError, OSError) as exc:
        step.update(verdict="inconclusive", reason=f"could not judge the step: {exc}")
    if cpu and "service" in cpu and step.get("requests"):
        step["service_cpu_ms_per_request"] = cpu["service"] * 1000 / step["requests"]
    context.say(f"[perf capacity] {search.name} step {index}: {step['verdict']} at {rate:.3g} "
                f"requests/s: {step['reason']}")  # fmt: skip
    return step


def _drain(url: str, options: CapacityOptions) -> dict[str, Any]:
    """Pause, then wait until ``/health`` reports no query in flight three times in a row (with
    several workers each reading may come from another), for at most the drain timeout."""
    started = time.monotonic()
    time.sleep(options.pause_seconds)
    quiet = 0
    in_flight: int | None = _BUSY
    while quiet < 3 and time.monotonic() - started < options.drain_timeout_seconds:
        in_flight = _queries_in_flight(url)
        if in_flight is None:  # the service does not say: the pause is all we can do
            break
        quiet = quiet + 1 if in_flight == 0 else 0
        time.sleep(0.1)
    return {"seconds": time.monotonic() - started, "in_flight": in_flight}


_BUSY = -1  # /health did not answer in time: still busy


def _queries_in_flight(url: str) -> int | None:
    """``queries.in_flight`` from ``/health``: ``_BUSY`` if it does not answer within 5 s,
    None if it answers without that figure."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5.0) as response:  # noqa: S310
            body = json.load(response)
    except (OSError, ValueError):
        return _BUSY
    try:
        return int(body["queries"]["in_flight"])
    except (KeyError, TypeError, ValueError):
        return None


def _merge_worker_logs(where: Path) -> None:
    """Under ``--processes`` each Locust worker writes its own log: merge them."""
    parts = sorted(where.glob(worker_request_log_glob()))
    if parts:
        merge_request_logs(parts, where / REQUEST_LOG)
        for part in parts:
            part.unlink()


def _send_window(log: Path) -> tuple[float, float] | None:
    """The first and last send times of a step's requests (the CPU figures' window)."""
    if not log.is_file():
        return None
    times = [r.timestamp for r in read_request_log(log)]
    return (min(times), max(times)) if len(times) > 1 else None

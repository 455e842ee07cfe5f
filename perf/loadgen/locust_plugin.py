"""The Locust plugin: users for the reference service (or any host serving the same API), the
per-request log and the SLO hook. Import it from a locustfile (``loadtests/locustfile.py``)::

    import locust  # first: it gevent-patches the standard library
    from perf.loadgen.locust_plugin import ServiceUser

    locust -f loadtests/locustfile.py --headless -u 20 -r 10 -t 60s --host http://127.0.0.1:8000

Never import this module anywhere else (the library, the tests): importing locust patches the
standard library of the whole process.

Each user does a weighted mix of ``POST /query`` (entities drawn from a seeded Zipf
distribution, some queries repeated verbatim), ``GET /health`` and ``GET /performance/stats``;
every endpoint has its own stats row. The users are ``FastHttpUser`` (geventhttpclient): a
request costs Locust a fraction of the CPU of ``HttpUser``'s (python-requests), so the generator
is not the bottleneck (README, "The generator's ceiling"). Closed model by default (a user waits
for its response, then thinks); ``--perf-open-rate RPS`` switches to an open model: requests
leave on a fixed schedule whatever the server does, and each records the time it was meant to
start.

Every request is logged (``--perf-request-log``) for exact percentiles; at exit the latency
SLOs of ``[tool.perf.targets]`` are checked and a miss makes the exit code 3. The options below
also read ``PERF_LOAD_*`` environment variables (``perf load`` sets them).
"""

# ruff: noqa: I001 - locust goes first: it gevent-patches the standard library on import
import locust
from locust import FastHttpUser, events, task

import itertools
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import gevent
from gevent.pool import Pool
from locust.runners import MasterRunner, WorkerRunner

from perf.loadgen.request_recorder import RequestRecorder, worker_log_path
from perf.loadgen.workload import QueryGenerator, WorkloadParams, catalog_from_dataset
from perf.results.targets import (
    SLO_FAILED_EXIT_CODE,
    check_latency_slos,
    find_pyproject,
    load_targets,
)

MAX_IN_FLIGHT_PER_USER = 100  # open model: beyond this a user's arrivals queue (and say so)
_USERS_PER_WORKER = 1_000_000

_state: dict[str, Any] = {"recorder": RequestRecorder(None)}
_user_numbers = itertools.count()
__all__ = ["SLO_FAILED_EXIT_CODE", "ServiceUser", "locust"]


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("perf", "perf load-test options")
    group.add_argument(
        "--perf-request-log",
        env_var="PERF_LOAD_REQUEST_LOG",
        default="",
        help="write every request to this JSONL file",
    )
    group.add_argument(
        "--perf-targets",
        env_var="PERF_LOAD_TARGETS",
        default="",
        help="TOML with [tool.perf.targets] (default: the repo's pyproject.toml)",
    )
    group.add_argument(
        "--perf-open-rate",
        env_var="PERF_LOAD_OPEN_RATE",
        type=float,
        default=0.0,
        help="open model: total arrivals per second (0: closed model)",
    )
    group.add_argument(
        "--perf-progress",
        env_var="PERF_LOAD_PROGRESS",
        type=float,
        default=0.0,
        help="print a progress line every N seconds (0: off)",
    )
    for f in fields(WorkloadParams):
        group.add_argument(
            f"--perf-{f.name.replace('_', '-')}",
            env_var=f"PERF_LOAD_{f.name.upper()}",
            default="",
            help=f"workload: {f.name} (default {f.default})",
        )


@events.init.add_listener
def _setup(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    params = WorkloadParams.from_mapping(
        {f.name: getattr(options, f"perf_{f.name}", "") for f in fields(WorkloadParams)}
    )
    _state["params"] = params
    _state["catalog"] = catalog_from_dataset(params)
    log_path = Path(options.perf_request_log) if options.perf_request_log else None
    worker = isinstance(environment.runner, WorkerRunner)
    if log_path is not None and worker:
        log_path = worker_log_path(log_path)
    if isinstance(environment.runner, MasterRunner):
        log_path = None  # the workers see the requests
    recorder = RequestRecorder(log_path, staged=worker)
    _state["recorder"] = recorder
    environment.events.request.add_listener(recorder.on_request)
    # gevent's loop caches "now" and has not run since the imports: without this, the --run-time
    # timer Locust sets next counts from then, and a loaded machine's slow start-up (the
    # dataset above) came off the run (a "3s" run sent for 0.3 s).
    gevent.get_hub().loop.update_now()


class ServiceUser(FastHttpUser):
    """One person using the assistant: asks questions, the dashboard polls health and stats."""

    # geventhttpclient takes timeouts per client, not per request (an unknown keyword argument
    # would become a query parameter), and caps concurrent connections per user: the open
    # model's in-flight pool needs as many.
    network_timeout = 60.0
    connection_timeout = 60.0
    concurrency = MAX_IN_FLIGHT_PER_USER

    def on_start(self) -> None:
        # distributed: each worker its own users (seeds, conversations); local runs index 0
        worker = max(0, getattr(self.environment.runner, "worker_index", 0))
        number = worker * _USERS_PER_WORKER + next(_user_numbers)
        self.generator = QueryGenerator(_state["params"], _state["catalog"], number)
        options = self.environment.parsed_options
        users = options.num_users or self.environment.runner.target_user_count or 1
        rate = float(getattr(options, "perf_open_rate", 0.0) or 0.0)
        self.interval = users / rate if rate > 0 else None
        self.next_arrival = time.time() + self.generator.rng.uniform(0, self.interval or 0)
        self.in_flight = Pool(MAX_IN_FLIGHT_PER_USER)

    def on_stop(self) -> None:
        # Requests still in flight are abandoned: the service may finish (and count) a few
        # that the log never sees.
        self.in_flight.kill(block=False)

    def wait_time(self) -> float:
        return 0.0 if self.interval else self.generator.think_time()

    @task
    def act(self) -> None:
        if self.interval is None:
            self._send(self.generator.next_action(), time.time())
            return
        delay = self.next_arrival - time.time()
        if delay > 0:
            gevent.sleep(delay)
        intended, self.next_arrival = self.next_arrival, self.next_arrival + self.interval
        self.in_flight.spawn(self._send, self.generator.next_action(), intended)

    def _send(self, action: str, intended_start: float) -> None:
        context: dict[str, Any] = {"intended_start": intended_start}
        if action == "query":
            text, conversation = self.generator.next_query()
            context["new_query"] = _state["recorder"].is_new_query(text)
            body = {"query": text, "conversation_id": conversation}
            self.client.post("/query", json=body, name="/query", context=context)
        elif action == "health":
            self.client.get("/health", name="/health", context=context)
        else:
            self.client.get("/performance/stats", name="/performance/stats", context=context)


def _progress(environment: Any, every: float) -> None:
    started = time.monotonic()
    run_time = getattr(environment.parsed_options, "run_time", None)
    while True:
        gevent.sleep(every)
        total = environment.stats.total
        elapsed = time.monotonic() - started
        remaining = f" remaining {max(0.0, run_time - elapsed):4.0f}s" if run_time else ""
        share = total.num_failures / total.num_requests if total.num_requests else 0.0
        users = environment.runner.user_count
        print(
            f"[perf load] elapsed {elapsed:4.0f}s{remaining} | users {users}"
            f" | {total.current_rps:6.1f} req/s | requests {total.num_requests}"
            f" | failures {total.num_failures} ({share:.1%})",
            flush=True,
        )


@events.test_start.add_listener
def _start_progress(environment: Any, **_: Any) -> None:
    every = float(getattr(environment.parsed_options, "perf_progress", 0) or 0)
    if every > 0 and not isinstance(environment.runner, WorkerRunner):
        _state["progress"] = gevent.spawn(_progress, environment, every)


@events.test_stop.add_listener
def _stop(environment: Any, **_: Any) -> None:
    _state["recorder"].flush()
    if (progress := _state.pop("progress", None)) is not None:
        progress.kill(block=False)


def _locust_percentile(environment: Any, name: str, q: float) -> float | None:
    for (entry_name, _method), entry in environment.stats.entries.items():
        if entry_name == name and entry.num_requests:
            return float(entry.get_response_time_percentile(q))
    return None


@events.quitting.add_listener
def _check_slos(environment: Any, **_: Any) -> None:
    """Apply the latency SLOs: exact percentiles in a local run, Locust's on a master."""
    recorder: RequestRecorder = _state["recorder"]
    recorder.finish()
    if isinstance(environment.runner, WorkerRunner):
        return
    option = getattr(environment.parsed_options, "perf_targets", "")
    path = Path(option) if option else find_pyproject(Path.cwd().resolve())
    if path is None:
        print("[slo] no pyproject.toml with [tool.perf.targets] found: SLOs not checked")
        return
    if isinstance(environment.runner, MasterRunner):
        source, measure = "Locust (rounded)", lambda n, q: _locust_percentile(environment, n, q)
    else:
        source, measure = "exact request log", recorder.exact_percentile
    checks = check_latency_slos(measure, load_targets(path))
    print(f"[slo] latency targets from {path} ({source} percentiles):", flush=True)
    for check in checks:
        print(f"[slo]   {check.message()}", flush=True)
    failed = [c for c in checks if c.failed]
    if failed:
        print(
            f"[slo] {len(failed)} SLO check(s) failed: exit code {SLO_FAILED_EXIT_CODE}. "
            "Look at the slow endpoint's rows in locust.html / requests.jsonl; do not "
            "loosen the target to pass.",
            flush=True,
        )
        environment.process_exit_code = SLO_FAILED_EXIT_CODE

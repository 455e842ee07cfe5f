"""Locust at full speed on ``GET /health``: what the load generator itself can push.

No think time, one endpoint, one user class per HTTP client (name the class on the command
line): ``FastHealthUser`` (geventhttpclient, the client of ``ServiceUser``) and
``HttpHealthUser`` (python-requests, Locust's default, the generator before). Used by
``scripts/generator_ceiling.py`` and ``benchmarks/bench_load.py``.

``--count-dir DIR``: each process that sends writes ``DIR/<pid>.json`` when it stops: its
request and failure counts and the times of its first request's start and last request's end.
Locust's master keeps only what its workers reported in time (it waits 0.5 s for their final
reports on quitting), so under load its totals can miss their last seconds.
"""

# ruff: noqa: I001 - locust goes first: it gevent-patches the standard library on import
import locust
from locust import FastHttpUser, HttpUser, constant, events, task

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["FastHealthUser", "HttpHealthUser", "locust"]

_counts: dict[str, float] = {"requests": 0, "failures": 0, "first": float("inf"), "last": 0.0}


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument("--count-dir", default="", help="write this process's counts here")


@events.request.add_listener
def _count(start_time: float, response_time: float, exception: Any = None, **_: Any) -> None:
    _counts["requests"] += 1
    _counts["failures"] += exception is not None
    _counts["first"] = min(_counts["first"], start_time)
    _counts["last"] = max(_counts["last"], start_time + response_time / 1000)


@events.test_stop.add_listener
def _write_counts(environment: Any, **_: Any) -> None:
    folder = environment.parsed_options.count_dir
    if folder and _counts["requests"]:
        (Path(folder) / f"{os.getpid()}.json").write_text(json.dumps(_counts))


class FastHealthUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/health", name="/health")


class HttpHealthUser(HttpUser):
    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/health", name="/health")

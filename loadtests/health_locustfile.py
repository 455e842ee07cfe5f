"""Locust at full speed on ``GET /health``: what the load generator itself can push.

No think time, one endpoint, one user class per HTTP client (name the class on the command
line): ``FastHealthUser`` (geventhttpclient, the client of ``ServiceUser``) and
``HttpHealthUser`` (python-requests, Locust's default, the generator before). Used by
``scripts/generator_ceiling.py`` and ``benchmarks/bench_load.py``.
"""

# locust goes first: it gevent-patches the standard library on import
import locust
from locust import FastHttpUser, HttpUser, constant, task

__all__ = ["FastHealthUser", "HttpHealthUser", "locust"]


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

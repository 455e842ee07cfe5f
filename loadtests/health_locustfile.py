"""Locust at full speed on ``GET /health``: what the load generator itself can push.

No think time, one endpoint; used by ``benchmarks/bench_load.py`` against the reference
service and against ``loadtests/bare_app.py`` in the same run.
"""

# locust goes first: it gevent-patches the standard library on import
import locust
from locust import HttpUser, constant, task

__all__ = ["HealthUser", "locust"]


class HealthUser(HttpUser):
    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/health", name="/health")

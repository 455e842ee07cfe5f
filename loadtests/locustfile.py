"""Locust users for the reference service (or any host serving the same API).

    locust -f loadtests/locustfile.py --headless -u 20 -r 10 -t 60s --host http://127.0.0.1:8000

Everything lives in ``perf.loadgen.locust_plugin`` (the users, the request log, the SLO hook and
the ``--perf-*`` options); a locustfile of your own can import it the same way.
"""

# ruff: noqa: I001 - locust goes first: it gevent-patches the standard library on import
import locust
from perf.loadgen.locust_plugin import SLO_FAILED_EXIT_CODE, ServiceUser

__all__ = ["SLO_FAILED_EXIT_CODE", "ServiceUser", "locust"]

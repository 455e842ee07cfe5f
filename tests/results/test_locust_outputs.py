"""Any Locust run's own outputs: a REAL Locust run (a subprocess: importing locust would
gevent-patch this process) against a server that is not ours, `python -m http.server` on a
loopback port, with failing requests (404s). Our readers must give Locust's own per-endpoint
rows, mark the percentiles Locust-rounded, and the gate and the latency report must work on
the run once imported.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, perf

from perf._internal.processes import free_port, wait_for_http
from perf.report.checks import run_checks
from perf.results.locust import (
    AGGREGATED,
    expand_histogram,
    locust_bucket,
    locust_percentile,
    read_locust_endpoints,
    read_locust_history,
    read_locust_stats,
)

LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.02)

    @task(6)
    def query(self):
        self.client.get("/query")

    @task(2)
    def health(self):
        self.client.get("/health")

    @task(1)
    def missing(self):
        self.client.get("/missing")  # 404: Locust counts a failure
"""
USERS = 3


@pytest.fixture(scope="module")
def locust_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``locust --csv out/run --json-file out/run --html out/run.html`` for 6 s against
    ``python -m http.server``; returns ``out/``."""
    base = tmp_path_factory.mktemp("locust")
    site, out = base / "site", base / "out"
    site.mkdir()
    out.mkdir()
    (site / "query").write_text('{"answer": 42}\n')
    (site / "health").write_text("ok\n")
    (base / "locustfile.py").write_text(LOCUSTFILE)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout_seconds=30, process=server)
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(base / "locustfile.py"), "--headless",
             "-u", str(USERS), "-r", str(USERS), "-t", "6s", "-H", f"http://127.0.0.1:{port}",
             "--csv", str(out / "run"), "--json-file", str(out / "run"),
             "--html", str(out / "run.html"), "--only-summary", "--loglevel", "WARNING"],
            cwd=base, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    # Locust exits 1 when requests failed: the 404s are the point
    assert done.returncode in {0, 1}, done.stdout + done.stderr
    assert (out / "run.json").is_file() and (out / "run_stats.csv").is_file(), done.stderr
    return out


def locust_html_rows(path: Path) -> dict[str, dict]:
    """Locust's own final per-endpoint figures, from the data its HTML report embeds."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"window\.templateArgs\s*=\s*(\{.*?\})\s*\n", text, re.DOTALL)
    assert match, "no templateArgs in Locust's HTML report"
    return {row["name"]: row for row in json.loads(match.group(1))["requests_statistics"]}


@pytest.mark.slow
def test_rows_from_locust_json_are_locusts_own_rows(locust_run: Path) -> None:
    ours = read_locust_endpoints(locust_run / "run.json")
    assert [e.name for e in ours] == ["/health", "/missing", "/query", AGGREGATED]
    # Locust's final figures, as its HTML report shows them
    final = locust_html_rows(locust_run / "run.html")
    assert set(final) == {e.name for e in ours}
    for endpoint in ours:
        row = final[endpoint.name]
        assert (endpoint.count, endpoint.failures) == (row["num_requests"], row["num_failures"])
        assert endpoint.median_ms == row["median_response_time"], endpoint.name
        for q in (0.95, 0.99):
            assert endpoint.percentiles[q] == row[f"response_time_percentile_{q}"], endpoint.name
        assert endpoint.average_ms == pytest.approx(row["avg_response_time"], rel=1e-3)
        assert endpoint.max_ms == pytest.approx(row["max_response_time"], abs=1.0)
        assert endpoint.rounding == "Locust-rounded"
    # the stats CSV: Locust's 1 s timer may lag the end (never lead it); a row that caught up
    # is ours exactly, every percentile column included
    for row, endpoint in zip(read_locust_stats(locust_run / "run_stats.csv"), ours, strict=True):
        assert (row.name, row.method) == (endpoint.name, endpoint.method)
        assert row.count <= endpoint.count and row.failures <= endpoint.failures
        if row.count == endpoint.count:
            assert row.failures == endpoint.failures
            assert row.median_ms == endpoint.median_ms
            assert (row.min_ms, row.max_ms) == (endpoint.min_ms, endpoint.max_ms)
            assert row.percentiles == {q: int(v) for q, v in endpoint.percentiles.items()}
        assert row.rounding == "Locust-rounded"
    by_name = {e.name: e for e in ours}
    assert by_name["/missing"].failures == by_name["/missing"].count > 0  # every 404 failed
    assert by_name["/query"].failures == 0 < by_name["/query"].count
    # every counted latency sits on Locust's rounding grid
    for endpoint in ours:
        assert all(locust_bucket(ms) == ms for ms in endpoint.histogram)


@pytest.mark.slow
def test_the_history_is_the_run_second_by_second(locust_run: Path) -> None:
    rows = read_locust_history(locust_run / "run_stats_history.csv")
    aggregated = [r for r in rows if r.name == AGGREGATED]
    assert len(aggregated) >= 2  # a row a second; a loaded machine may write fewer
    times = [r.timestamp for r in aggregated]
    assert times == sorted(times)
    assert max(r.users for r in aggregated) == USERS
    totals = [r.total_count for r in aggregated]
    assert totals == sorted(totals)  # cumulative
    final = read_locust_endpoints(locust_run / "run.json")[-1]
    assert totals[-1] <= final.count  # the 1 s timer may lag the end, never lead it


def test_locust_percentile_is_locusts_rule() -> None:
    # 10 requests of 1 .. 10 ms: Locust's P50 is the highest value with at most int(10 x 0.5)
    # requests below it, 6 ms (nearest rank would say 5 ms)
    histogram = {float(ms): 1 for ms in range(1, 11)}
    assert locust_percentile(histogram, 10, 0.5) == 6
    assert locust_percentile(histogram, 10, 0.95) == 10
    assert locust_percentile(histogram, 10, 1.0) == 10
    assert locust_percentile({}, 0, 0.5) == 0
    assert expand_histogram({20.0: 2, 3.0: 1}) == [3.0, 20.0, 20.0]
    assert [locust_bucket(x) for x in (3.4, 147, 3432, 58760)] == [3, 150, 3400, 59000]


@pytest.mark.slow
def test_an_imported_locust_run_is_gated_and_reported(
    locust_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    code = perf("import-locust", "--csv", str(locust_run / "run"), "--json",
                str(locust_run / "run"), "--html", str(locust_run / "run.html"),
                "--host", "http://example.invalid", "--results-dir", str(results))  # fmt: skip
    assert code == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    names = {p.name for p in run.iterdir()}
    assert {"locust.json", "locust_stats.csv", "locust_stats_history.csv", "locust.html",
            "locust_failures.csv", "manifest.json"} <= names  # fmt: skip
    assert (run / "locust.json").read_bytes() == (locust_run / "run.json").read_bytes()
    manifest = json.loads((run / "manifest.json").read_text())
    load = manifest["stages"]["load"]
    assert load["workload"]["source"] == "locust" and load["workload"]["users"] == USERS
    assert load["summary"]["/query"]["rounding"] == "Locust-rounded"

    # the latency checks, from locust.json: nearest rank over Locust's rounded histogram
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\nquery_latency_p95_ms = 60000\nhealth_p95_ms = 60000\n")
    checks = {c.name: c for c in run_checks(run, {"query_latency_p95_ms": 60000.0,
                                                  "health_p95_ms": 60000.0})}  # fmt: skip
    query = checks["query_latency_p95_ms"]
    endpoint = {e.name: e for e in read_locust_endpoints(run / "locust.json")}["/query"]
    latencies = expand_histogram(endpoint.histogram)
    assert query.verdict == "pass" and query.source == "locust.json"
    assert query.measured == latencies[math.ceil(0.95 * len(latencies)) - 1]
    assert "Locust-rounded" in query.message and "no warm-up cut" in query.message
    assert query.interval["n"] == endpoint.count
    assert checks["health_p95_ms"].verdict == "pass"

    # perf gate and the latency report on it
    args = ("--results-dir", str(results), "--targets", str(targets))
    assert perf("gate", run.name, *args, "--allow-missing") == 0
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "latency.ipynb", notebooks)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert perf("report", run.name, *args, "--notebooks", str(notebooks)) == 0
    assert "[perf report] latency: ok" in out.getvalue()
    html = (run / "report" / "latency.html").read_text(encoding="utf-8")
    assert "<svg" in html and "Traceback" not in html
    assert "Locust-rounded" in html and "/missing" in html and "A plain Locust run" in html
    index = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "PASS" in index and 'href="../locust.html"' in index

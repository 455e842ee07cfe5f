"""monitor_history.jsonl: the sampler against real HTTP servers on loopback, the service's
histograms, and the windows computed from the readings."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import FakeClock, history_rows, primary_names, running_app, small_settings

from perf.loadgen.history import HistorySampler
from perf.monitor.sketch import QuantileSketch
from perf.report.windows import cache_windows, operation_between, operation_windows


class _Stats(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        body = json.dumps({
            "cache_stats": {"c": {"hits": 3 * self.calls, "misses": self.calls, "hit_rate": 0.75}},
            "histograms": {}, "tokens": {"calls": self.calls}, "counters": {}, "pools": {},
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stats_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stats)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_readings_keep_only_the_cumulative_figures(stats_server: str, tmp_path: Path) -> None:
    clock = FakeClock(100.0)
    sampler = HistorySampler(stats_server, tmp_path / "h.jsonl", every_seconds=5, clock=clock)
    for _ in range(3):
        sampler.sample()
        clock.advance(5)
    lines = [json.loads(x) for x in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert [x["t"] for x in lines] == [100.0, 105.0, 110.0]
    assert lines[-1]["cache_stats"] == {"c": {"hits": 9, "misses": 3}}
    assert "pools" not in lines[-1] and "hit_rate" not in lines[-1]["cache_stats"]["c"]


def test_a_failed_reading_is_a_gap_not_a_crash(tmp_path: Path) -> None:
    sampler = HistorySampler("http://127.0.0.1:9", tmp_path / "h.jsonl", every_seconds=0.1)
    sampler.start()
    sampler.stop()
    lines = [json.loads(x) for x in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert len(lines) >= 2 and all("error" in x for x in lines)


def test_the_thread_reads_until_stopped_and_takes_a_last_reading(
    stats_server: str, tmp_path: Path
) -> None:
    sampler = HistorySampler(stats_server, tmp_path / "h.jsonl", every_seconds=60)
    sampler.start()
    sampler.stop()  # at once: the first reading and the last one
    assert sampler.readings == 2


def test_the_service_serves_each_operations_cumulative_histogram(tmp_path: Path) -> None:
    async def scenario() -> tuple[dict, dict]:
        async with running_app(small_settings(tmp_path)) as (_, client):
            plain = (await client.get("/performance/stats")).json()
            await client.post("/query", json={"query": f"is {primary_names()[0]} on?"})
            full = (await client.get("/performance/stats", params={"histograms": 1})).json()
            return plain, full

    plain, full = asyncio.run(scenario())
    assert "histograms" not in plain
    sketch = QuantileSketch.from_dict(full["histograms"]["query.total"])
    assert sketch.count == full["operations"]["query.total"]["count"] == 1


def test_windows_are_differences_of_readings() -> None:
    rows = history_rows(windows=4)
    windows = cache_windows(rows, "memory")
    assert len(windows) == 4 and all(w.lookups == 100 for w in windows)
    assert windows[0].start == rows[0]["t"] and windows[-1].end == rows[-1]["t"]
    per_window = operation_windows(rows, "db.entity_context")
    assert [s.count for _, s in per_window] == [30] * 4
    two = operation_between(rows, "db.entity_context", 1, 3)
    assert two is not None and two.count == 60
    assert operation_between(rows, "db.unknown", 0, 4) is None


def test_a_reset_between_readings_drops_that_window() -> None:
    rows = history_rows(windows=3)
    rows[2]["cache_stats"]["memory"] = {"hits": 0, "misses": 0}  # the service was reset
    windows = cache_windows(rows, "memory")
    assert [(w.start, w.end) for w in windows] == [  # 1-2 spans the reset: its counts went back
        (rows[0]["t"], rows[1]["t"]),
        (rows[2]["t"], rows[3]["t"]),
    ]

"""Figures shared by several service workers: files in a real folder, real monitors, and
`perf serve --workers 2` as real processes on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter

import httpx
import pytest
from support import perf_serve, primary_names

from perf.monitor import PerformanceMonitor
from perf.service.tokenlog import TokenLog, TokenTotals
from perf.service.workers import WorkerStatsShare, WorkerSync


class FakeWorker:
    """One worker's figures: a real monitor, a real token log, counters."""

    def __init__(self, share: WorkerStatsShare, tmp_path, calls: int) -> None:
        self.monitor = PerformanceMonitor()
        self.tokens = TokenLog(tmp_path / f"tokens-{share.pid}.jsonl")
        self.counters: Counter[str] = Counter()
        for i in range(calls):
            self.monitor.record("query.total", 0.01 * (i + 1))
            self.tokens.write({"total_tokens_after": 100 + i, "usage": {"prompt_tokens": 1}})
            self.counters["budget_cut"] += 1
        self.monitor.register_cache("memory", lambda: {"hits": 3 * calls, "misses": calls})
        self.sync = WorkerSync(share, self.monitor, self.figures, self.reset)

    def figures(self) -> dict:
        return {
            "monitor": self.monitor.snapshot(),
            "tokens": self.tokens.totals().as_dict(),
            "counters": dict(self.counters),
        }

    def reset(self) -> None:
        self.monitor.reset()
        self.tokens.reset()
        self.counters.clear()


def _two_workers(tmp_path, interval=0.01):
    # Two live pids (ours and our parent's), so both count as running workers.
    shares = [
        WorkerStatsShare(tmp_path / "shared", interval_seconds=interval, pid=pid)
        for pid in (os.getpid(), os.getppid())
    ]
    return FakeWorker(shares[0], tmp_path, calls=3), FakeWorker(shares[1], tmp_path, calls=5)


def test_figures_of_all_workers_add_up(tmp_path):
    a, b = _two_workers(tmp_path)
    b.sync.sync()  # b publishes; a merges its live figures with b's file
    merged = asyncio.run(a.sync.merged())
    assert merged["operations"]["query.total"]["count"] == 8
    assert merged["operations"]["query.total"]["max_time"] == pytest.approx(0.05, rel=0.01)
    memory = merged["cache_stats"]["memory"]
    assert (memory["hits"], memory["misses"], memory["hit_rate"]) == (24, 8, 0.75)
    assert memory["workers"] == {  # each worker's own figures, which add up to the above
        str(os.getpid()): {"hits": 9, "misses": 3, "hit_rate": 0.75},
        str(os.getppid()): {"hits": 15, "misses": 5, "hit_rate": 0.75},
    }
    assert merged["counters"] == {"budget_cut": 8}
    tokens = merged["tokens"]
    assert (tokens.calls, tokens.max_prompt_tokens, tokens.billed_prompt_tokens) == (8, 104, 8)
    assert tokens.prompt_tokens == sum(range(100, 103)) + sum(range(100, 105))
    assert sorted(w["pid"] for w in merged["workers"]) == sorted([os.getpid(), os.getppid()])
    assert not any("left_out" in w for w in merged["workers"])


def test_a_reset_reaches_every_worker_and_old_figures_stay_out(tmp_path):
    a, b = _two_workers(tmp_path)

    async def scenario():
        b.sync.start()  # b's loop follows the generation file
        try:
            not_reset = await a.sync.reset_all()
            a.monitor.record("query.total", 0.5)
            return not_reset, await a.sync.merged(settle=True)
        finally:
            await b.sync.stop()

    not_reset, merged = asyncio.run(scenario())
    assert not_reset == []
    assert b.tokens.totals() == TokenTotals() and not b.counters
    assert merged["operations"]["query.total"]["count"] == 1
    assert {w["generation"] for w in merged["workers"]} == {1}


def test_damaged_or_stale_files_are_left_out_and_named(tmp_path):
    a, b = _two_workers(tmp_path)
    b.sync.sync()
    a.sync.generation = a.sync.share.request_reset()  # b has not followed: its file is stale
    (tmp_path / "shared" / "worker-1.json").write_text("{not json")
    (tmp_path / "shared" / "worker-2.json").write_text(json.dumps({"pid": 2, "monitor": 7}))
    merged = asyncio.run(a.sync.merged(settle=True))  # b is live but stale: the wait ends
    assert merged["operations"]["query.total"]["count"] == 3  # a's own only
    assert list(merged["cache_stats"]["memory"]["workers"]) == [str(os.getpid())]
    reasons = {w.get("pid", w.get("file")): w.get("left_out", "") for w in merged["workers"]}
    assert reasons[os.getppid()] == "its figures are from before the last reset"
    assert reasons["worker-1.json"].startswith("unreadable: JSONDecodeError")
    assert reasons[2].startswith("damaged figures: KeyError")
    assert reasons[os.getpid()] == ""


def test_token_logs_of_two_processes_share_one_file_line_by_line(tmp_path):
    path = tmp_path / "tokens.jsonl"
    code = (
        "import sys; from pathlib import Path; from perf.service.tokenlog import TokenLog\n"
        "log = TokenLog(Path(sys.argv[1]))\n"
        "for i in range(2000): log.write({'w': sys.argv[2], 'pad': 'x' * 3000, 'i': i})\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", code, str(path), w]) for w in "ab"]
    assert [w.wait(60) for w in writers] == [0, 0]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert Counter(r["w"] for r in records) == {"a": 2000, "b": 2000}


@pytest.mark.slow
def test_perf_serve_with_two_workers_merges_their_figures(tmp_path):
    with perf_serve(tmp_path, "--workers", "2") as url:
        assert httpx.post(f"{url}/admin/reset-stats").json() == {
            "reset": True,
            "workers_not_reset": [],
        }
        names = primary_names(6)
        for i in range(30):  # a new connection each: the kernel spreads them over the workers
            body = {"query": f"Turn on the {names[i % len(names)]}"}
            assert httpx.post(f"{url}/query", json=body, timeout=30).status_code == 200
        stats = httpx.get(f"{url}/performance/stats?settle=1", timeout=30).json()
    assert stats["operations"]["query.total"]["count"] == 30
    assert stats["tokens"]["calls"] == 30
    assert len((tmp_path / "tokens.jsonl").read_text().splitlines()) == 30
    workers = stats["workers"]
    assert len({w["pid"] for w in workers}) == 2
    assert all(w["alive"] and w["generation"] == 1 for w in workers)
    cache = stats["cache_stats"]["entity_context"]
    assert cache["hits"] + cache["misses"] >= 30

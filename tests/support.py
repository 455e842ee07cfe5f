"""Helpers shared by the tests: a fake clock, small service settings and real servers, a
synthetic run folder in the real file formats, and the CLI run in-process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import uvicorn

from perf._internal.processes import free_port, stop_process, wait_for_http
from perf.cli import main
from perf.monitor.sketch import QuantileSketch
from perf.report.checks import Check
from perf.service.app import create_app
from perf.service.data import build_dataset
from perf.service.settings import ServiceSettings
from perf.service.stub import StubConfig, create_stub_app

# -- time -----------------------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when told: TTL and window tests never sleep."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- the service ------------------------------------------------------------------------------

TOKEN = "an-admin-token-for-tests"  # a PERF_ADMIN_TOKEN for tests
SCALE = 0.03  # 9 devices, ~90 entities: start-up in a fraction of a second
DAYS = 3
ROOT = Path(__file__).resolve().parent.parent  # the checkout


def small_settings(tmp_path, **overrides) -> ServiceSettings:
    values = {
        "database_path": tmp_path / "home.sqlite",
        "cache_dir": tmp_path / "cache",
        "token_log_path": tmp_path / "run" / "tokens.jsonl",
        "dataset_scale": SCALE,
        "dataset_days": DAYS,
        "warm_up_entities": 10,
        "warm_up_pairs": 20,
        **overrides,
    }
    return ServiceSettings(**values)


def instant_stub(**overrides):
    return create_stub_app(StubConfig(latency_median_s=0.0, seed=7, **overrides))


def primary_names(count: int = 8) -> list[str]:
    """Friendly names of devices' main entities in the small dataset."""
    data = build_dataset(42, SCALE)
    return [e["friendly_name"] for e in data.entities if not e["entity_id"].startswith("sensor.")][
        :count
    ]


@asynccontextmanager
async def running_app(settings, stub=None, *, use_transport: bool = True):
    """The app after start-up, and an httpx client talking to it in-process (as a loopback
    client to a loopback host, which the admin endpoints require without a token)."""
    stub = stub if stub is not None else instant_stub()
    transport = httpx.ASGITransport(app=stub) if use_transport else None
    app = create_app(settings, llm_transport=transport)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client,
    ):
        yield app, client


@contextmanager
def real_server(app, port: int | None = None):
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()

    def watch():
        while not server.started and thread.is_alive():
            threading.Event().wait(0.01)
        started.set()

    threading.Thread(target=watch, daemon=True).start()
    started.wait(60)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def serving(tmp_path, *, latency_s: float = 0.0, **overrides):
    """The stub and the service, each a real server; yields (service URL, stub URL, settings)."""
    stub = create_stub_app(StubConfig(latency_median_s=latency_s, latency_p95_s=latency_s))
    with real_server(stub) as stub_url:
        settings = small_settings(tmp_path, llm_base_url=stub_url + "/v1", **overrides)
        with real_server(create_app(settings)) as url:
            yield url, stub_url, settings


@contextmanager
def perf_serve(tmp_path, *args: str, **env: str):
    """``perf serve ARGS`` as a real process (its own LLM stub, small data in ``tmp_path``,
    ``env`` added to the environment); yields the service URL, stops it after."""
    env = {
        **os.environ,
        "PERF_DATABASE_PATH": str(tmp_path / "home.sqlite"),
        "PERF_CACHE_DIR": str(tmp_path / "cache"),
        "PERF_DATASET_SCALE": str(SCALE),
        "PERF_TOKEN_LOG_PATH": str(tmp_path / "tokens.jsonl"),
        "PERF_STUB_LATENCY_MEDIAN_MS": "1",
        "PERF_STUB_LATENCY_P95_MS": "3",
        **env,
    }
    port = free_port()
    command = [sys.executable, "-m", "perf.cli", "serve", "--port", str(port), *args]
    service = subprocess.Popen(command, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", timeout_seconds=120, process=service)
        yield url
    finally:
        stop_process(service)
    assert service.returncode is not None


# -- a synthetic run folder (the same file formats as a real run) -----------------------------

RUN_ID = "20260101T000000Z-abc12345"
TARGETS = {
    "query_latency_p95_ms": 500.0,
    "db_query_p95_ms": 50.0,
    "health_p95_ms": 10.0,
    "correlation_cache_hit_rate": 0.80,
    "entity_context_cache_hit_rate": 0.70,
    "memory_cache_hit_rate": 0.60,
    "tokens_per_query_mean": 5000.0,
    "tokens_per_query_max": 30000.0,
}
BUDGET = {
    "max_entity_context_tokens": 10000,
    "max_enrichment_context_tokens": 2000,
    "max_conversation_history_tokens": 1000,
    "max_total_tokens": 30000,
}
START = 1_800_000_000.0


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    """Whether ``condition()`` came true within ``timeout`` seconds (polled every ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def request_rows(query_ms: float = 100.0, health_ms: float = 2.0) -> list[dict]:
    """100 /query requests at 1..100 x query_ms/100 ms and 20 /health at 1..20 x health_ms/20,
    in a seeded random order (a steady run: no trend), one every 0.5 s; every other query is
    new."""
    rows = []
    for i in range(100):
        rows.append(("/query", "POST", (i + 1) * query_ms / 100, i % 2 == 0))
    for i in range(20):
        rows.append(("/health", "GET", (i + 1) * health_ms / 20, None))
    random.Random(5).shuffle(rows)
    return [
        {"timestamp": START + n * 0.5, "intended_start": START + n * 0.5, "name": name,
         "method": method, "latency_ms": latency, "status": 200, "ok": True, "new_query": new}
        for n, (name, method, latency, new) in enumerate(rows)
    ]  # fmt: skip


HIT_RATES = {"correlation": 0.9, "entity_context": 0.8, "memory": 0.7}
OPERATION_P95_S = {"db.entity_context": 0.020, "db.event_series": 0.005, "query.total": 0.150}


def history_rows(
    hit_rates: dict[str, float] | None = None,
    p95_s: dict[str, float] | None = None,
    windows: int = 12,
) -> list[dict]:
    """``monitor_history.jsonl`` of a steady run: a reading every 5 s from START; per window
    100 lookups per cache at its hit rate (+-2 points of seeded noise) and 30 calls per
    operation spread uniformly up to its P95 / 0.95."""
    rates = {**HIT_RATES, **(hit_rates or {})}
    ops = {**OPERATION_P95_S, **(p95_s or {})}
    rng = random.Random(11)
    counts = {name: [0, 0] for name in rates}
    sketches = {name: QuantileSketch() for name in ops}
    rows = []
    for window in range(windows + 1):
        if window:
            for name, rate in rates.items():
                hits = round(100 * min(1.0, max(0.0, rate + rng.uniform(-0.02, 0.02))))
                counts[name][0] += hits
                counts[name][1] += 100 - hits
            for name, p95 in ops.items():
                sketches[name].add_many([rng.uniform(0, p95 / 0.95) for _ in range(30)])
        rows.append({
            "t": START + 5.0 * window,
            "cache_stats": {n: {"hits": h, "misses": m} for n, (h, m) in counts.items()},
            "histograms": {n: s.to_dict() for n, s in sketches.items() if s.count},
            "tokens": {}, "counters": {},
        })  # fmt: skip
    return rows


def token_rows(totals: list[int] | None = None) -> list[dict]:
    """One `answer` call per query; ``totals`` are the prompt tokens after the budget."""
    rows = []
    for n, total in enumerate(totals or [100 * (i + 1) for i in range(10)]):
        parts = {"system_prompt": 60, "entity_context": total - 60, "enrichment_context": 0,
                 "conversation_history": 0, "user_prompt": 0}  # fmt: skip
        rows.append(
            {"ts": START + n, "request_id": f"req{n}", "purpose": "answer", "model": "gpt-4o",
             "cached": n == 0, "error": None, "tokens_before": dict(parts),
             "tokens_after": parts, "total_tokens_before": total, "total_tokens_after": total,
             "cut": [], "usage": {"prompt_tokens": total + 12, "completion_tokens": 64,
                                   "total_tokens": total + 76}}
        )  # fmt: skip
    return rows


def token_summary(rows: list[dict]) -> dict:
    totals = [r["total_tokens_after"] for r in rows]
    return {"calls": len(rows), "cached_calls": sum(r["cached"] for r in rows),
            "budget_cut_calls": 0, "mean_prompt_tokens": sum(totals) / len(totals),
            "max_prompt_tokens": max(totals)}  # fmt: skip


def cache(hits: int, misses: int) -> dict:
    return {"hits": hits, "misses": misses, "hit_rate": hits / (hits + misses) if hits else 0.0}


def operation(p95_s: float, count: int = 50) -> dict:
    return {"count": count, "errors": 0, "avg_time": p95_s / 2, "p50": p95_s / 3,
            "p95": p95_s, "p99": p95_s * 1.2, "max_time": p95_s * 1.5}  # fmt: skip


def monitor_data(tokens: list[dict]) -> dict:
    return {
        "operations": {"db.entity_context": operation(0.020), "db.event_series": operation(0.005),
                       "query.total": operation(0.150)},
        "cache_stats": {"correlation": {**cache(90, 10), "memory_hit_rate": 0.9,
                                        "disk_hit_rate": 0.0},
                        "entity_context": cache(80, 20), "memory": cache(70, 30)},
        "tokens": token_summary(tokens),
    }  # fmt: skip


def bench(name: str, median_s: float, **extra: object) -> dict:
    return {"group": "g", "name": name, "fullname": f"benchmarks/bench_x.py::{name}",
            "extra_info": dict(extra), "stats": {"min": median_s * 0.9, "median": median_s,
            "mean": median_s * 1.1, "rounds": 100, "data": [median_s] * 3}}  # fmt: skip


def benchmark_data() -> dict:
    return {"machine_info": {}, "commit_info": {}, "datetime": "2026-01-01", "version": "5",
            "benchmarks": [bench("bench_get[perf]", 1e-6, bars={"bench_get[peer]": 0.5}),
                           bench("bench_get[peer]", 4e-6),
                           bench("bench_set[perf]", 2e-6)]}  # fmt: skip


def manifest_data(run_id: str = RUN_ID) -> dict:
    return {
        "schema": 1, "run_id": run_id, "commit": "abc12345", "dirty": False,
        "started_at": "2026-01-01T00:00:00.000Z", "finished_at": None, "status": "finished",
        "stages": {"load": {"status": "finished", "exit_code": 0,
                            "workload": {"model": "closed", "think_min_s": 1.0, "think_max_s": 3.0},
                            "settings": {"service": {"token_budget": BUDGET}},
                            "summary": {"/query": {"cold_miss_share": 0.5}}}},
        "files": [],
    }  # fmt: skip


def make_run(root: Path, run_id: str = RUN_ID, omit: tuple[str, ...] = ()) -> Path:
    """A run folder ``root/runs/<run_id>`` whose every check passes; ``omit`` leaves files out."""
    run = root / "runs" / run_id
    run.mkdir(parents=True)
    tokens = token_rows()
    files = {
        "manifest.json": lambda p: write_json(p, manifest_data(run_id)),
        "requests.jsonl": lambda p: write_jsonl(p, request_rows()),
        "tokens.jsonl": lambda p: write_jsonl(p, tokens),
        "monitor.json": lambda p: write_json(p, monitor_data(tokens)),
        "monitor_history.jsonl": lambda p: write_jsonl(p, history_rows()),
        "benchmarks.json": lambda p: write_json(p, benchmark_data()),
    }
    for name, write in files.items():
        if name not in omit:
            write(run / name)
    return run


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    write_json(path, data)


# -- the CLI ----------------------------------------------------------------------------------


def perf_command(*args: str) -> list[str]:
    """``perf ARGS`` as a child process, as a user runs it (the e2e tests)."""
    return [sys.executable, "-m", "perf.cli", *args]


def latency_targets(tmp_path: Path, query_ms: float = 60_000, health_ms: float = 60_000) -> Path:
    """A targets file with only the two latency targets (by default ones no run can miss)."""
    path = tmp_path / "targets.toml"
    path.write_text(f"[targets]\nquery_latency_p95_ms = {query_ms}\nhealth_p95_ms = {health_ms}\n")
    return path


def perf(*argv: str) -> int:
    """``perf ...`` through the real CLI, in-process."""
    return main(list(argv))

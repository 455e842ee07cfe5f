"""Helpers shared by the service tests: small settings, an in-process app, real servers."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager, contextmanager

import httpx
import uvicorn

from perf.report.processes import free_port
from perf.service.app import create_app
from perf.service.data import build_dataset
from perf.service.settings import ServiceSettings
from perf.service.stub import StubConfig, create_stub_app

TOKEN = "an-admin-token-for-tests"  # a PERF_ADMIN_TOKEN for tests
SCALE = 0.03  # 9 devices, ~90 entities: start-up in a fraction of a second
DAYS = 3


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


def test_small_settings_point_every_file_into_tmp_path(tmp_path):
    settings = small_settings(tmp_path)
    assert str(tmp_path) in settings.resolved_database_url
    assert settings.token_log_path.parent == tmp_path / "run"
    assert len(primary_names()) == 8

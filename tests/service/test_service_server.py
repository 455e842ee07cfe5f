"""The service and the LLM stub as real uvicorn servers on loopback, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
from support import primary_names, real_server, small_settings

from perf.service.app import create_app
from perf.service.stub import StubConfig, create_stub_app
from perf.tokens import count_message_tokens, count_tokens


def test_service_calls_the_stub_over_real_http(tmp_path):
    stub = create_stub_app(StubConfig(latency_median_s=0.001, latency_p95_s=0.003, seed=3))
    name = primary_names(1)[0]
    with real_server(stub) as stub_url:
        settings = small_settings(tmp_path, llm_base_url=stub_url + "/v1")
        with real_server(create_app(settings)) as url, httpx.Client(base_url=url) as client:
            answer = client.post("/query", json={"query": f"Automate the {name}"})
            assert client.get("/health").json()["status"] == "ok"
            httpx.post(stub_url + "/stub/config", json={"error_rate": 1.0}).raise_for_status()
            failed = client.post("/query", json={"query": "a question nobody asked"})
            stats = client.get("/performance/stats").json()
            stub_stats = httpx.get(stub_url + "/stub/stats").json()
    assert answer.status_code == 200
    usage = answer.json()["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert failed.status_code == 503 and failed.json()["reason"] == "http_error"
    assert stub_stats == {
        "requests": 2, "errors": 1,
        "prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
    }  # fmt: skip
    assert stats["llm"]["base_url"] == stub_url + "/v1"
    assert stats["tokens"]["calls"] == 2
    lines = settings.token_log_path.read_text().splitlines()
    assert [json.loads(line)["error"] for line in lines] == [None, "http_error"]


def test_stub_usage_block_matches_tiktoken_counts(tmp_path):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    with real_server(create_stub_app(StubConfig(latency_median_s=0.0))) as url:
        reply = httpx.post(
            url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": messages}
        ).json()
        bad = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    content = reply["choices"][0]["message"]["content"]
    assert reply["usage"]["prompt_tokens"] == count_message_tokens(messages, "gpt-4o")
    assert reply["usage"]["completion_tokens"] == count_tokens(content, "gpt-4o")
    assert bad.status_code == 422


def test_cli_module_is_light_and_adds_the_three_commands():
    code = (
        "import argparse, sys\n"
        "from perf.service.cli import add_commands\n"
        "p = argparse.ArgumentParser(); add_commands(p.add_subparsers(dest='c'))\n"
        "a = p.parse_args(['serve', '--port', '9'])\n"
        "b = p.parse_args(['stub-llm', '--port', '7'])\n"
        "c = p.parse_args(['analyze', '--full'])\n"
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'tiktoken', 'uvicorn')\n"
        "         if m in sys.modules]\n"
        "print(a.port, a.host, a.llm_url, b.port, c.full, callable(a.func), heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split(" ", 6)
    assert out[:6] == ["9", "127.0.0.1", "None", "7", "True", "True"]
    assert out[6].strip() == "[]"


def test_python_m_perf_service_analyze_runs_incrementally(tmp_path):
    env = {
        "PERF_DATABASE_PATH": str(tmp_path / "home.sqlite"),
        "PERF_CACHE_DIR": str(tmp_path / "cache"),
        "PERF_DATASET_SCALE": "0.03",
        "PERF_DATASET_DAYS": "2",
    }
    env = {**os.environ, **env}
    run = [sys.executable, "-m", "perf.service", "analyze"]
    first = json.loads(subprocess.run(run, env=env, capture_output=True, check=True).stdout)
    second = json.loads(subprocess.run(run, env=env, capture_output=True, check=True).stdout)
    assert first["events_read"] > 0 and first["synergies_written"] > 0
    assert second["events_read"] == 0
    assert second["watermark_before"] == first["watermark_after"]
    assert (tmp_path / "cache" / "correlation.sqlite").exists()

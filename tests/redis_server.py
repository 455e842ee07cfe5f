"""Real Redis/Valkey servers for the tests, on loopback.

``redis_url``: the server CI starts (``scripts/start-redis.sh`` exports PERF_TEST_REDIS_URL),
else one this session starts from the ``redis-server``/``valkey-server`` binary, else a skip
that says how to get one. ``redis_server`` starts a dedicated server with its own settings
(a memory limit, a server to stop or pause) for the tests that need one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from perf._internal.processes import free_port

NO_SERVER = (
    'no Redis server: set PERF_TEST_REDIS_URL (eval "$(scripts/start-redis.sh DIR)") or '
    "install Debian's redis-server or valkey-server (.ci/run does both)"
)


def server_binary() -> str | None:
    return shutil.which("valkey-server") or shutil.which("redis-server")


def answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A throwaway server process: no persistence, files in a temp dir, loopback only."""

    def __init__(self, *args: str) -> None:
        binary = server_binary()
        if binary is None:
            pytest.skip(NO_SERVER)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="perf-test-redis-")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--loglevel", "warning", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.skip(f"{binary} did not start ({NO_SERVER})")
            time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its socket but answers nothing."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url():
    """The URL of a live server shared by the session's Redis tests."""
    url = os.environ.get("PERF_TEST_REDIS_URL")
    if url:
        host_port = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        host, _, port = host_port.partition(":")
        if not answers(int(port or 6379), host):
            pytest.skip(f"PERF_TEST_REDIS_URL={url} does not answer a PING")
        yield url
        return
    server = RedisServer("--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_server():
    """Start dedicated servers: ``redis_server("--maxmemory", "4mb")``; stopped after the test."""
    started: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        server = RedisServer(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_namespace() -> str:
    """A namespace no other test uses (the server is shared)."""
    return f"test:{uuid.uuid4().hex[:12]}:"

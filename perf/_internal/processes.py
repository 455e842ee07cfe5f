"""Child processes of a load run (the service, Locust) and the little HTTP a run needs.

Each child starts in its own session (process group), so stopping it stops its children too
(the service's LLM stub), and a Ctrl-C in the terminal reaches only ``perf load``, which then
stops everything in order. HTTP uses the standard library: the CLI stays light.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "free_port",
    "handling_signal",
    "http_json",
    "pid_alive",
    "start_process",
    "stop_process",
    "wait_for_http",
]


SignalHandler = Callable[[int, Any], Any] | int | signal.Handlers


@contextmanager
def handling_signal(signum: int, handler: SignalHandler) -> Iterator[None]:
    """Handle ``signum`` with ``handler`` for the block, then restore the previous handler.
    Only the main thread may set handlers: elsewhere the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def start_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session; output to ``log`` (or inherited when ``None``)."""
    return subprocess.Popen(  # noqa: S603 - our own commands, no shell
        list(command),
        env=dict(env),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True,
    )


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def stop_process(process: subprocess.Popen[bytes], *, grace_seconds: float = 10.0) -> int:
    """Stop ``process`` and its process group: SIGTERM, then SIGKILL after the grace period.

    Returns the exit code (negative: killed by that signal)."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    _signal_group(process, signal.SIGKILL)  # stragglers left in the group (e.g. a stub)
    _wait_group_gone(process.pid, timeout_seconds=5.0)
    return process.returncode


def _wait_group_gone(pgid: int, *, timeout_seconds: float) -> bool:
    """Wait until no process of group ``pgid`` is left (killed orphans are reaped by init)."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # pragma: no cover - the id was reused by someone else
            return True
        time.sleep(0.02)
    return False


def http_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Send one request and decode the JSON answer (``None`` for an empty body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) URLs
        url, data=data, method=method, headers=dict(headers or {})
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        payload = response.read()
    return json.loads(payload) if payload else None


def wait_for_http(
    url: str,
    *,
    timeout_seconds: float,
    process: subprocess.Popen[bytes] | None = None,
    poll_seconds: float = 0.1,
) -> None:
    """Poll ``url`` until it answers 2xx. Raises ``RuntimeError`` if ``process`` exits first
    and ``TimeoutError`` after ``timeout_seconds``."""
    deadline = time.monotonic() + timeout_seconds
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310
                if 200 <= response.status < 300:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(poll_seconds)
    raise TimeoutError(f"{url} did not answer within {timeout_seconds:g} s ({last_error})")

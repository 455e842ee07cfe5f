"""The Locust-side request log (no locust import: the recorder is plain Python)."""

from __future__ import annotations

import json
import socket

from perf.loadgen.request_recorder import RequestRecorder, worker_log_path


class Response:
    status_code = 200


def _record(recorder: RequestRecorder, count: int) -> None:
    for n in range(count):
        recorder.on_request("GET", "/health", 1.5 + n, Response(), {}, None, 100.0 + n)


def test_a_workers_log_is_named_by_host_and_pid_and_staged_until_it_finishes(tmp_path):
    final = worker_log_path(tmp_path / "requests.jsonl")
    assert final.name.startswith(f"requests.worker-{socket.gethostname()}-")
    assert final.suffix == ".jsonl"
    recorder = RequestRecorder(final, staged=True)
    writing = final.with_name(final.name + ".writing")
    assert writing.is_file()  # at once: the merge waits for a worker that has sent nothing yet
    _record(recorder, 3)
    recorder.flush()
    assert writing.is_file() and not final.exists()  # a reader knows it is not complete
    _record(recorder, 2)
    recorder.finish()
    assert final.is_file() and not writing.exists()
    rows = [json.loads(line) for line in final.read_text().splitlines()]
    assert [r["latency_ms"] for r in rows] == [1.5, 2.5, 3.5, 1.5, 2.5]


def test_a_local_log_is_written_in_place_and_no_log_writes_nothing(tmp_path):
    log = tmp_path / "requests.jsonl"
    recorder = RequestRecorder(log)
    _record(recorder, 2)
    recorder.finish()
    assert len(log.read_text().splitlines()) == 2
    silent = RequestRecorder(None, staged=True)
    _record(silent, 2)
    silent.finish()
    assert list(tmp_path.iterdir()) == [log]
    assert silent.exact_percentile("/health", 0.5) == 1.5

"""Collapsed stacks -> top frames and speedscope, on a known input: py-spy's own format, a parent
and a child process."""

from __future__ import annotations

import json

import pytest

from perf.results.profiles import (
    SPEEDSCOPE_SCHEMA,
    function_of,
    parse_collapsed,
    speedscope,
    top_frames,
)

PARENT = 'process 10:"python -m perf.service serve"'
CHILD = 'process 11:"python -m perf.service stub-llm --port 5"'
COLLAPSED = f"""\
{PARENT};<module> (app.py:1);handle (app.py:10);encode (tokens.py:5) 6
{PARENT};<module> (app.py:1);handle (app.py:12);encode (tokens.py:7) 2
{PARENT};<module> (app.py:1);handle (app.py:14) 1
{PARENT};<module> (app.py:1);fib (m.py:3);fib (m.py:4);fib (m.py:4) 1
{PARENT};{CHILD};run (stub.py:2);sleep (stub.py:9) 10
"""


def test_parse_splits_processes_from_frames() -> None:
    stacks = parse_collapsed(COLLAPSED)
    assert len(stacks) == 5
    assert stacks[0].processes == ("10 python -m perf.service serve",)
    assert stacks[0].frames == ("<module> (app.py:1)", "handle (app.py:10)", "encode (tokens.py:5)")
    assert stacks[4].processes[-1] == "11 python -m perf.service stub-llm --port 5"
    assert sum(s.count for s in stacks) == 20


def test_a_malformed_line_is_named() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_collapsed("a (x.py:1) 3\nno count here\n")


def test_function_ignores_the_line() -> None:
    assert function_of("encode (tokens.py:5)") == "encode (tokens.py)"
    assert function_of("<lambda> (a/b.py:77)") == "<lambda> (a/b.py)"
    assert function_of("weird frame") == "weird frame"


def test_top_frames_by_self_time() -> None:
    service = [s for s in parse_collapsed(COLLAPSED) if "stub-llm" not in s.processes[-1]]
    top = {f.function: f for f in top_frames(service)}
    assert [f.function for f in top_frames(service)] == [
        "encode (tokens.py)", "handle (app.py)", "fib (m.py)",  # ties: by total time
    ]  # fmt: skip
    encode = top["encode (tokens.py)"]
    assert (encode.self_samples, encode.total_samples) == (8, 8)  # lines 5 and 7 merged
    assert encode.self_share == pytest.approx(0.8)
    handle = top["handle (app.py)"]
    assert (handle.self_samples, handle.total_samples) == (1, 9)
    assert top["fib (m.py)"].total_samples == 1  # recursion counted once per stack
    assert "<module> (app.py)" not in top  # never innermost
    assert len(top_frames(service, limit=1)) == 1
    assert top_frames([]) == []


def test_speedscope_has_one_sampled_profile_per_process() -> None:
    doc = json.loads(json.dumps(speedscope(parse_collapsed(COLLAPSED), rate_hz=100, name="t")))
    assert doc["$schema"] == SPEEDSCOPE_SCHEMA
    frames = doc["shared"]["frames"]
    assert {"name": "encode", "file": "tokens.py", "line": 5} in frames
    names = [p["name"] for p in doc["profiles"]]
    assert names == [
        "10 python -m perf.service serve", "11 python -m perf.service stub-llm --port 5",
    ]  # fmt: skip
    service, stub = doc["profiles"]
    assert service["type"] == "sampled" and service["unit"] == "seconds"
    assert len(service["samples"]) == len(service["weights"]) == 4
    assert service["endValue"] == pytest.approx(0.10)  # 10 samples at 100 Hz
    assert [frames[i]["name"] for i in stub["samples"][0]] == ["run", "sleep"]  # root first
    assert all(0 <= i < len(frames) for p in doc["profiles"] for s in p["samples"] for i in s)


def test_a_command_over_several_lines_is_one_process() -> None:
    text = 'process 7:"python -c import x\nwhile True:\n    f(2)";run (<string>:3) 4\n'
    text += "f (a.py:1) 2\n"
    first, second = parse_collapsed(text)
    assert first.processes == ("7 python -c import x while True: f(2)",)
    assert (first.frames, first.count) == (("run (<string>:3)",), 4)
    assert (second.processes, second.frames, second.count) == ((), ("f (a.py:1)",), 2)

"""The hot paths whose instructions ``perf compare --instructions`` counts.

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=_operator_call \\
        --dump-after=_operator_call python -P perf/bench/probes.py [PROBE ...]

Run as a script (not imported from the package), so the ``perf`` it measures is whichever
``PYTHONPATH`` puts first: the tree of the side being measured. Only perf's public API and the
standard library are used, so any older commit can be measured the same way. Each probe, in
the order of ``PROBES``, builds its object outside the counted part, calls it ``WARMUP`` times
(Python 3.11 specialises a function's bytecode after a few calls; caches fill), then calls it
``calls`` times in a loop run by ``operator.call``: the C function ``_operator_call`` runs
nowhere else (no library calls ``operator.call``), so callgrind counts exactly that loop and
writes one dump per probe. The loop's own cost per call is the ``harness`` probe's, which is
subtracted. Arguments: the probes to count (default all). Prints ``{"calls": {probe: calls},
"skipped": {probe: error}}`` as JSON (an older tree may lack what a probe calls).
"""

from __future__ import annotations

import json
import operator
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

WARMUP = 50
HARNESS = "harness"
Probe = Callable[[Path], Callable[[], object]]


def harness(tmp: Path) -> Callable[[], object]:
    def nothing() -> None:
        return None

    return nothing


def memory_get_hit(tmp: Path) -> Callable[[], object]:
    # imported here: a probe's process loads only what it measures (valgrind runs ~50x slower)
    from perf import MemoryCache  # noqa: PLC0415 - only what it measures

    cache = MemoryCache(max_entries=2000)
    for i in range(1000):
        cache.set(f"key-{i}", {"value": i})
    return lambda: cache.get("key-500")


def sqlite_get_hit(tmp: Path) -> Callable[[], object]:
    from perf import SQLiteCache  # noqa: PLC0415 - only what it measures

    cache = SQLiteCache(str(tmp / "probe.sqlite"))
    for i in range(1000):
        cache.set(f"key-{i}", {"value": i})
    return lambda: cache.get("key-500")


def cached_hit(tmp: Path) -> Callable[[], object]:
    from perf import CacheManager, cached  # noqa: PLC0415 - only what it measures

    @cached(ttl=3600, manager=CacheManager(cache_dir=tmp / "caches"))
    def lookup(entity: str, hours: int) -> dict[str, object]:
        return {"entity": entity, "hours": hours}

    lookup("light.kitchen", 24)
    return lambda: lookup("light.kitchen", 24)


def monitor_track(tmp: Path) -> Callable[[], object]:
    from perf import PerformanceMonitor, track_performance  # noqa: PLC0415 - only what it measures

    # The monitor's work depends on the durations it records (which buckets, when a slot
    # rolls over), so the clock is a fixed pseudo-random walk: the same durations every run.
    rng = random.Random(7)  # noqa: S311 - durations, not secrets
    now = [0.0]

    def clock() -> float:
        now[0] += rng.expovariate(2000.0)  # 0.5 ms on average
        return now[0]

    @track_performance("probe", monitor=PerformanceMonitor(clock=clock))
    def noop() -> None:
        return None

    return noop


def _text(rng: random.Random, words: list[str], n_words: int) -> str:
    lines = (" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(n_words // 12))
    return "\n".join(lines)


def token_budget_60k(tmp: Path) -> Callable[[], object]:
    from perf import enforce_token_budget  # noqa: PLC0415 - only what it measures

    rng = random.Random(60_000)  # noqa: S311 - a fixed text, not a secret
    sentence = (
        "the correlation between entity service latency cache hit rate query budget tokens "
        "database pool connection async request response analysis daily anomaly metric "
        "détecté naïve façade 東京 数据 😀 🚀"
    )
    words = sentence.split(" ")
    history = [{"role": "user", "content": _text(rng, words, 100)} for _ in range(80)]
    prompt = {
        "system_prompt": "You are a careful analyst of service performance. " * 8,
        "entity_context": _text(rng, words, 19_500),
        "enrichment_context": _text(rng, words, 9_800),
        "conversation_history": history,
        "user_prompt": "Why did the p95 latency of /query rise yesterday?",
    }
    return lambda: enforce_token_budget(prompt)


# probe -> (its setup, calls counted): a few million instructions to 200 million each
PROBES: dict[str, tuple[Probe, int]] = {
    HARNESS: (harness, 10_000),
    "MemoryCache.get (hit)": (memory_get_hit, 10_000),
    "SQLiteCache.get (hit)": (sqlite_get_hit, 1_000),
    "@cached (memory hit)": (cached_hit, 5_000),
    "track_performance (sync)": (monitor_track, 10_000),
    "enforce_token_budget (60k tokens)": (token_budget_60k, 2),
}


def main(names: list[str]) -> None:
    """Count the probes ``names`` (all if none), the harness first."""
    chosen = {n: PROBES[n] for n in PROBES if n == HARNESS or not names or n in names}
    counted: dict[str, int] = {}
    skipped: dict[str, str] = {}  # an older tree may lack what a probe calls
    with tempfile.TemporaryDirectory() as tmp:
        for name, (setup, calls) in chosen.items():
            try:
                call = setup(Path(tmp))
                for _ in range(min(calls, WARMUP)):
                    call()
            except Exception as exc:
                skipped[name] = f"{type(exc).__name__}: {exc}"[:300]
                continue

            def loop(call: Callable[[], object] = call, calls: int = calls) -> None:
                for _ in range(calls):
                    call()

            operator.call(loop)  # the counted part: see the module's docstring
            counted[name] = calls
    print(json.dumps({"calls": counted, "skipped": skipped}))


if __name__ == "__main__":
    main(sys.argv[1:])

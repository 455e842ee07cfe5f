"""The cache-sizing report: the size that meets a target, "no size can" when first-time lookups
alone miss it, nothing (and a reason) for a run without traces, and the notebook over both."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from support import make_run, perf

from perf.cache import MemoryCache, miss_ratio_curve
from perf.cache.trace import write_traces, zipf_trace
from perf.report import sizing
from perf.results.cache_traces import merge_cache_traces

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "cache_sizing.ipynb"
TARGETS = {"entity_context_cache_hit_rate": 0.70, "correlation_cache_hit_rate": 0.80}


def traced(keys, size, rate):
    cache = MemoryCache(size)
    cache.start_trace(rate)
    for key in keys:
        if cache.get(key) is None:
            cache.set(key, key)
    return cache, cache.stop_trace()


def run_with_traces(root: Path) -> tuple[Path, dict[str, MemoryCache]]:
    run = make_run(root)
    # entity_context: 2,000 keys, Zipf 1.0, 20,000 lookups: 70 % reachable with some size
    entity, entity_trace = traced(zipf_trace(2_000, 1.0, 20_000, seed=1), 100, 1.0)
    # correlation: 30,000 keys, 20,000 lookups: most lookups are first-time
    pairs, pairs_trace = traced(zipf_trace(30_000, 0.6, 20_000, seed=2), 500, 0.5)
    write_traces(
        run / "cache_traces.json",
        {"entity_context": entity_trace, "correlation": pairs_trace, "off": None},
    )
    return run, {"entity_context": entity, "correlation": pairs}


def test_the_size_that_meets_the_target_and_why_none_can(tmp_path):
    run, caches = run_with_traces(tmp_path)
    by_cache = {s.cache: s for s in sizing.cache_sizing(run, TARGETS)}
    assert set(by_cache) == {"entity_context", "correlation"}

    entity = by_cache["entity_context"]
    assert entity.current_size == 100 and entity.sample_rate == 1.0
    lru, sieve = entity.curves["lru"], entity.curves["sieve"]
    now = lru.hit_rates[lru.sizes.index(100)]
    assert now == pytest.approx(caches["entity_context"].stats()["hit_rate"])  # full trace: exact
    size = entity.smallest["lru"]
    assert size is not None and lru.hit_rates[lru.sizes.index(size)] >= 0.70
    smaller = [s for s in lru.sizes if s < size]
    assert all(lru.hit_rates[lru.sizes.index(s)] < 0.70 for s in smaller)
    assert entity.smallest["sieve"] is not None and entity.smallest["sieve"] <= size
    assert "meets the target at LRU" in entity.verdict and "MB" in entity.verdict
    assert lru.optimal is not None and sieve.optimal is None  # Belády once per cache

    pairs = by_cache["correlation"]
    assert pairs.cold_miss_ratio > 0.2
    assert pairs.smallest == {"lru": None, "sieve": None}
    assert pairs.verdict.startswith(
        f"no size can: {pairs.cold_miss_ratio:.1%} of lookups are first-time"
    )


def test_frames_for_the_notebook(tmp_path):
    run, _ = run_with_traces(tmp_path)
    sizings = sizing.cache_sizing(run, TARGETS)
    table = sizing.sizing_frame(sizings).set_index("cache")
    assert table.loc["entity_context", "lru_size_for_target"] == sizings[1].smallest["lru"]
    assert table.loc["entity_context", "lru_bytes"] > 0
    assert table.loc["correlation", "verdict"].startswith("no size can")
    curves = sizing.sizing_curves_frame(sizings[1])
    assert {"lru", "sieve", "optimal (Belády)", "no size beats (first-time lookups)"} == set(
        curves.policy
    )


def test_a_run_without_traces_has_nothing_to_size(tmp_path):
    run = make_run(tmp_path)
    assert sizing.cache_sizing(run, TARGETS) == []
    assert sizing.NO_TRACES.startswith("no traces in this run (cache_traces.json")
    assert sizing.sizing_frame([]).empty


def test_size_grid_spans_the_keys_and_holds_the_current_size():
    grid = sizing.size_grid(current=700, distinct=20_000)
    assert grid[0] == 200 and grid[-1] == 20_000 and 700 in grid and grid == sorted(set(grid))
    oversized = sizing.size_grid(current=10_000, distinct=220)  # the service's caches
    assert oversized[0] == 2 and oversized[-1] == 10_000 and len(oversized) > 24
    assert all(b / a < 1.4 for a, b in itertools.pairwise(oversized[5:]))


def test_entry_overhead_is_measured_per_policy():
    assert 50 < sizing.entry_overhead_bytes("lru") < 1_000
    assert 50 < sizing.entry_overhead_bytes("sieve") < 1_000


@pytest.mark.slow
def test_the_notebook_shows_the_curves_of_a_run_with_traces(tmp_path, targets, capsys):
    run, _ = run_with_traces(tmp_path)
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / NOTEBOOK.name).write_bytes(NOTEBOOK.read_bytes())
    assert (
        perf(
            "report",
            "--notebooks",
            str(folder),
            "--results-dir",
            str(tmp_path),
            "--targets",
            str(targets),
        )
        == 0
    )
    html = (run / "report" / "cache_sizing.html").read_text(encoding="utf-8")
    assert "Traceback" not in html and "image/png" in html
    assert "no size can" in html and "meets the target at LRU" in html


def test_a_run_of_several_workers_is_sized_per_worker(tmp_path):
    """Each worker's cache sees its own lookups: the service's curve at a size per worker is
    the workers' curves weighted by their lookups, and the verdict says it is per worker."""
    one = traced(zipf_trace(2_000, 1.0, 20_000, seed=1), 100, 1.0)[1]
    two = traced(zipf_trace(500, 0.8, 5_000, seed=3), 100, 1.0)[1]
    run = make_run(tmp_path)
    parts = {}
    for name, t in (("cache-traces-1.json", one), ("cache-traces-2.json", two)):
        write_traces(tmp_path / name, {"entity_context": t})
        parts[name] = json.loads((tmp_path / name).read_text())
    (run / "cache_traces.json").write_text(json.dumps(merge_cache_traces(parts)))
    sizes = [50, 200, 1_000]
    (merged,) = sizing.cache_sizing(run, TARGETS, sizes=sizes)
    assert merged.workers == 2 and merged.lookups == 25_000 and merged.current_size == 100
    for policy in ("lru", "sieve"):
        each = [
            miss_ratio_curve(t.keys, sizes, policy, lookups=t.lookups, optimal=False)
            for t in (one, two)
        ]
        expected = [(4 * a + b) / 5 for a, b in zip(*(c.miss_ratios for c in each), strict=True)]
        assert merged.curves[policy].miss_ratios == pytest.approx(expected)
    assert merged.cold_miss_ratio == pytest.approx(
        (4 * len(set(one.keys)) / 20_000 + len(set(two.keys)) / 5_000) / 5
    )
    assert merged.curves["lru"].optimal is not None
    assert "per worker, 2 workers" in merged.verdict


def test_a_verdict_from_few_sampled_keys_says_it_is_rough(tmp_path):
    run = make_run(tmp_path)
    _, few = traced(zipf_trace(300, 1.0, 5_000, seed=4), 1_000, 0.1)  # ~30 keys sampled
    write_traces(run / "cache_traces.json", {"entity_context": few})
    (rough,) = sizing.cache_sizing(run, TARGETS)
    assert 0 < rough.sampled_keys < sizing.MIN_SAMPLED_KEYS
    assert f"(rough: only {rough.sampled_keys} sampled keys at rate 0.1;" in rough.verdict
    assert (
        "rough"
        not in sizing.cache_sizing(run_with_traces(tmp_path / "firm")[0], TARGETS)[1].verdict
    )

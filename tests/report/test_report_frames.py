"""The reports' figures without a notebook: every number the pages show comes from these
functions, on a synthetic run in the real formats; every plot draws its target."""

from __future__ import annotations

import json
import math

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from support import TARGETS, edit_json, make_run, perf, write_jsonl

from perf.report import (
    bench_frames,
    cache_frames,
    frames,
    latency_frames,
    plots,
    tables,
    token_frames,
)
from perf.report.display import fmt_duration, fmt_ms, fmt_ratio, fmt_value
from perf.report.html import compact_svg
from perf.report.index import headline, index_html, ordered_checks, write_index
from perf.results.bars import check_bars
from perf.results.readers import read_benchmarks
from perf.results.requests_log import percentile

matplotlib.use("Agg")


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path)


def legend_labels(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]


# -- latency ----------------------------------------------------------------------------------


def test_spectrum_points_climb_to_what_the_samples_resolve() -> None:
    points = latency_frames.spectrum_points(1000)
    assert points[0] == pytest.approx(0.5) and points == sorted(points)
    assert points[-1] == pytest.approx(0.999)  # 1 - 1/n: the tail n samples resolve
    assert latency_frames.spectrum_points(1) == [0.5] and latency_frames.spectrum_points(0) == []


def test_the_spectrum_has_exact_rounded_and_corrected_curves(run) -> None:
    spectrum = latency_frames.latency_spectrum(run)
    query = spectrum[spectrum["endpoint"] == "/query"]
    assert set(query["kind"]) == {"exact", "Locust-rounded", "CO-corrected"}
    exact = query[query["kind"] == "exact"]
    assert list(exact["latency_ms"]) == sorted(exact["latency_ms"])  # a spectrum only climbs
    # the exact curve at p is the nearest-rank percentile of the log: 1..100 ms
    assert exact.iloc[0]["latency_ms"] == 50.0 and exact.iloc[0]["n"] == 100
    assert (exact["one_over"] == 1 / (1 - exact["percentile"])).all()
    rounded = query[query["kind"] == "Locust-rounded"]["latency_ms"]
    assert all(v == round(v) for v in rounded)  # Locust's whole milliseconds below 100 ms


def test_co_correction_adds_back_what_a_stalled_user_did_not_send(run) -> None:
    # one /query took 10 s in a closed model with 2 s mean think time: back-filled 8, 6, 4, 2 s
    rows = [json.loads(line) for line in (run / "requests.jsonl").read_text().splitlines()]
    rows[0].update(name="/query", latency_ms=10_000.0)
    write_jsonl(run / "requests.jsonl", rows)
    table = latency_frames.endpoint_table(run).set_index(["endpoint", "kind"])
    exact, corrected = table.loc[("/query", "exact")], table.loc[("/query", "CO-corrected")]
    assert corrected["max_ms"] == exact["max_ms"] == 10_000.0
    assert corrected["p99_ms"] > exact["p99_ms"]  # four more slow samples in the tail


def test_load_over_time_gives_rates_and_exact_percentiles_per_bucket(run) -> None:
    frame = latency_frames.load_over_time(run, 10.0)
    query = frame[frame["endpoint"] == "/query"]
    rows = [json.loads(line) for line in (run / "requests.jsonl").read_text().splitlines()]
    start = min(r["timestamp"] for r in rows)
    first = [r["latency_ms"] for r in rows if r["name"] == "/query" and r["timestamp"] < start + 10]
    assert query.iloc[0]["requests_per_s"] == len(first) / 10
    assert query.iloc[0]["p95_ms"] == percentile(first, 0.95)
    assert frame["users"].isna().all()  # no locust_stats_history.csv in this run


def test_db_operations_split_into_warmup_and_steady_state(run) -> None:
    db = latency_frames.db_steady_vs_warmup(run)
    assert list(db["operation"]) == ["db.entity_context", "db.event_series"]
    assert (db["steady_low_ms"] <= db["steady_p95_ms"]).all()
    assert (db["steady_p95_ms"] <= db["steady_high_ms"]).all()
    assert db.iloc[0]["steady_p95_ms"] == pytest.approx(20.0, rel=0.05)


def test_latency_source_prefers_the_exact_log(run) -> None:
    assert latency_frames.latency_source(run) == "requests.jsonl"
    (run / "requests.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="locust --json-file"):
        latency_frames.latency_source(run)


# -- hit rates --------------------------------------------------------------------------------


def test_hit_rates_over_time_windowed_and_cumulative(run) -> None:
    frame = cache_frames.hit_rates_over_time(run)
    correlation = frame[frame["cache"] == "correlation"]
    assert len(correlation) == 12 and (correlation["lookups"] == 100).all()
    hits = correlation["hits"].cumsum() / correlation["lookups"].cumsum()
    assert list(correlation["cumulative_hit_rate"]) == pytest.approx(list(hits))
    assert correlation["window_hit_rate"].between(0.88, 0.92).all()


def test_hit_rate_summary_judges_as_the_gate_and_names_duplicates(run) -> None:
    def same_counts(reading):
        reading["cache_stats"]["copy"] = dict(reading["cache_stats"]["memory"])

    rows = [json.loads(line) for line in (run / "monitor_history.jsonl").read_text().splitlines()]
    for row in rows:
        same_counts(row)
    write_jsonl(run / "monitor_history.jsonl", rows)
    summary = cache_frames.hit_rate_summary(run, TARGETS).set_index("cache")
    assert summary.loc["correlation", "verdict"] == "pass"
    assert summary.loc["correlation", "target"] == 0.8
    assert pd.isna(summary.loc["copy", "target"]) and pd.isna(summary.loc["copy", "verdict"])
    assert summary.loc["memory", "same_as"] == "copy"  # named once, by the first in order
    assert pd.isna(summary.loc["copy", "same_as"])
    assert pd.isna(summary.loc["correlation", "same_as"])


def test_cold_miss_ceilings_at_each_caches_key_level(run) -> None:
    def add_cold_benchmark(data):
        info = {"pair_cold_miss_share": 0.25, "entity_cold_miss_share": 0.1}
        data["benchmarks"].append({"name": "bench_start[cold]", "extra_info": info,
                                   "stats": {"median": 1.0, "min": 1.0}})  # fmt: skip

    edit_json(run / "benchmarks.json", add_cold_benchmark)
    ceilings = cache_frames.cold_miss_ceilings(run).set_index("cache")
    assert ceilings.loc["correlation", "keyed_on"] == "entity pair"
    assert ceilings.loc["correlation", "ceiling"] == pytest.approx(0.75)
    assert ceilings.loc["entity_context", "ceiling"] == pytest.approx(0.9)
    assert ceilings.loc["llm_response", "keyed_on"] == "query text"
    assert ceilings.loc["llm_response", "cold_share"] == 0.5  # every other query was new
    assert ceilings.loc["llm_response", "source"] == "requests.jsonl"


# -- tokens -----------------------------------------------------------------------------------


def test_components_against_their_caps(run) -> None:
    caps = token_frames.component_caps(run).set_index("component")
    assert caps.loc["entity_context", "cap"] == 10_000
    assert pd.isna(caps.loc["system_prompt", "cap"])  # the budget does not cap it
    assert not caps["trimmed"].any()  # nothing was cut: before = after, said once
    assert caps.loc["entity_context", "max_after"] == 940


def test_token_targets_and_billed_vs_counted(run) -> None:
    summary = token_frames.token_targets(run, TARGETS).set_index("figure")
    assert summary.loc["mean per query (steady state)", "tokens"] == 550
    assert summary.loc["max per query (exact)", "verdict"] == "pass"
    billed = token_frames.billed_vs_counted(run)
    assert len(billed) == 9  # the cached call was not billed
    assert (billed["difference"] == 12).all()


# -- benchmarks -------------------------------------------------------------------------------


def test_bar_ratios_with_intervals_and_medians_per_operation(run) -> None:
    def batch(data):
        data["benchmarks"][2]["extra_info"]["calls_per_round"] = 1000
        for entry in data["benchmarks"]:
            entry["stats"]["data"] = [entry["stats"]["median"] * f for f in (0.9, 1.0, 1.1) * 10]

    edit_json(run / "benchmarks.json", batch)
    bars = bench_frames.bar_intervals(run)
    row = bars.iloc[0]
    assert row["label"] == "bench_get[perf] / bench_get[peer]"
    assert row["ratio"] == pytest.approx(0.25) and row["verdict"] == "pass"
    assert row["low"] <= row["ratio"] <= row["high"]
    spread = bench_frames.benchmark_spread(run).set_index("name")
    assert spread.loc["bench_set[perf]", "median_s"] == pytest.approx(2e-9)  # per operation
    assert spread.loc["bench_set[perf]", "ops_per_round"] == 1000
    info = bench_frames.extra_info_table(run)
    assert list(info["name"]) == []  # bars and batch sizes are not "extra" information


def test_paired_bars_show_the_gates_interval_and_verdict_and_plot(run) -> None:
    """Interleaved pairs whose per-pair ratios straddle the bar: the frame shows the gate's
    ratio, interval and ``inconclusive`` (a ratio of medians outside the medians' interval
    once made the report's error bars negative and the notebook fail)."""

    def paired(data):
        ours = [1.0, 1.0, 3.0, 3.0, 3.0, 1.0, 1.0, 3.0, 3.0, 1.0]
        peer = [4.0, 3.2, 4.0, 3.2, 4.0, 3.2, 4.0, 3.2, 4.0, 3.2]
        entry = data["benchmarks"][0]
        entry["extra_info"]["interleaved"] = {
            "ours": ours, "peers": {"bench_get[peer]": peer}, "confidence": 0.95
        }  # fmt: skip

    edit_json(run / "benchmarks.json", paired)
    row = bench_frames.bar_intervals(run).iloc[0]
    [check] = [c for c in check_bars(read_benchmarks(run)) if c.name == "bench_get[perf]"]
    assert (row["ratio"], row["low"], row["high"]) == (check.ratio, check.low, check.high)
    assert row["verdict"] == check.verdict == "inconclusive"
    assert row["low"] <= row["ratio"] <= row["high"]
    plots.bars_plot(bench_frames.bar_intervals(run))


# -- the plots carry their targets ------------------------------------------------------------


def test_every_plot_draws_its_target(run) -> None:
    slos = {"/query": (0.95, 500.0), "/health": (0.95, 10.0)}
    summary = cache_frames.hit_rate_summary(run, TARGETS)
    figures = {
        "hit rates": plots.hit_rates_plot(cache_frames.hit_rates_over_time(run), summary,
                                          cache_frames.cold_miss_ceilings(run)),
        "spectrum": plots.spectrum_plot(latency_frames.latency_spectrum(run), slos, {}),
        "load": plots.load_plot(latency_frames.load_over_time(run), slos, 5.0),
        "db": plots.db_plot(latency_frames.db_steady_vs_warmup(run), 50.0),
        "tokens": plots.tokens_per_query_plot(
            frames.tokens_per_query(run),
            token_frames.token_targets(run, TARGETS)),
        "components": plots.token_components_plot(token_frames.component_caps(run)),
        "bars": plots.bars_plot(bench_frames.bar_intervals(run)),
    }  # fmt: skip
    for name, fig in figures.items():
        labels = legend_labels(fig)
        assert any(label.startswith("target") for label in labels), (name, labels)
    assert "target > 80%" in legend_labels(figures["hit rates"])
    assert "target P95 < 500 ms" in legend_labels(figures["spectrum"])
    assert plots.db_plot(latency_frames.db_steady_vs_warmup(run).iloc[0:0], 50.0) is None
    plt.close("all")


# -- the index and the numbers ------------------------------------------------------------------


def test_the_index_puts_the_verdict_first_and_failures_before_passes(run) -> None:
    checks = [
        {"name": "a", "verdict": "pass", "target": "< 10", "unit": "ms", "measured": 5.0},
        {"name": "b", "verdict": "inconclusive", "target": "> 0.8", "unit": "ratio",
         "measured": 0.79, "interval": {"low": 0.7, "high": 0.85},
         "window": {"warmup_seconds": 12.4, "settled": True}},
        {"name": "c", "verdict": "fail", "target": "< 500", "unit": "ms", "measured": 612.0},
        {"name": "d", "verdict": "fail", "target": "< 1", "unit": "ms", "skipped": True},
    ]  # fmt: skip
    counts = {"pass": 1, "fail": 1, "inconclusive": 1, "no data": 0, "skipped": 1}
    gate = {"verdict": "fail", "exit_code": 1, "checks": checks, "counts": counts}
    assert [c["name"] for c in ordered_checks(checks)] == ["c", "b", "a", "d"]
    assert headline(gate) == ("fail", "FAIL: 1 fail, 1 inconclusive (1 of 3 passed)")
    assert headline(None)[0] == "no data"
    manifest = json.loads((run / "manifest.json").read_text())
    pages = [{"name": "latency", "title": "Latency?", "html": "report/latency.html",
              "status": "ok"}]  # fmt: skip
    page = index_html(run, manifest, gate, pages)
    body = page.split("<body>")[1]
    assert body.index("FAIL: 1 fail") < body.index("<table>")  # the verdict comes first
    assert (
        body.index("<code>c</code>") < body.index("<code>b</code>") < body.index("<code>a</code>")
    )
    assert "612 ms" in body and "[70.0%, 85.0%]" in body and "12 s cut" in body
    assert "<title>FAIL · run " in page and 'href="latency.html">Latency?</a>' in page
    assert "closed: each user waits for its response, then thinks 1 to 3 s" in page


def test_numbers_are_rounded_with_units() -> None:
    assert [fmt_ms(v) for v in (0.4213, 3.812, 151.008, 1234.5)] == [
        "0.42 ms", "3.81 ms", "151 ms", "1,234 ms"]  # fmt: skip
    assert [fmt_duration(v) for v in (8.5e-8, 2.34e-6, 0.0412, 1.5)] == [
        "85.0 ns", "2.34 µs", "41.2 ms", "1.50 s"]  # fmt: skip
    assert [fmt_ratio(v) for v in (0.0213, 0.53, 1.24, 14.2)] == ["0.021x", "0.53x", "1.2x", "14x"]
    assert fmt_value(0.9101, "ratio") == "91.0%" and fmt_value(None, "ms") == "n/a"
    assert fmt_value(math.nan, "ms") == "n/a"


def test_tables_show_units_and_colour_verdicts(run) -> None:
    html = tables.endpoints_table(latency_frames.endpoint_table(run)).to_html()
    assert '<td class="num">95.0 ms</td>' in html and "<th" in html
    summary = cache_frames.hit_rate_summary(run, TARGETS)
    html = tables.hit_rates_table(summary).to_html()
    assert '<tr class="pass">' in html and '<span class="verdict pass">pass</span>' in html
    assert "[89.2%, 90.8%]" in html


def test_each_service_workers_hit_rate_is_a_row_under_the_total(run) -> None:
    empty = tables.worker_hit_rates_table(cache_frames.worker_hit_rates(run)).to_html()
    assert "one service worker: no per-worker figures" in empty  # the synthetic run has one

    def two_workers(data: dict) -> None:
        data["cache_stats"]["correlation"]["workers"] = {
            "101": {"hits": 60, "misses": 2, "hit_rate": 60 / 62},
            "102": {"hits": 30, "misses": 8, "hit_rate": 30 / 38},
        }
        data["cache_stats"]["memory"]["workers"] = {"101": {"hits": 70, "misses": 30}}

    edit_json(run / "monitor.json", two_workers)
    frame = cache_frames.worker_hit_rates(run)
    assert frame[["cache", "worker", "hits", "misses", "lookups"]].values.tolist() == [
        ["correlation", "all", 90, 10, 100],
        ["correlation", "101", 60, 2, 62],
        ["correlation", "102", 30, 8, 38],
    ]  # a cache seen by one worker only has no per-worker rows
    assert frame["hit_rate"].tolist() == pytest.approx([0.9, 60 / 62, 30 / 38])
    html = tables.worker_hit_rates_table(frame).to_html()
    assert '<td class="num">78.9%</td>' in html and "<td>102</td>" in html


def test_a_later_gate_rewrites_the_index(tmp_path, targets) -> None:
    """`perf gate` after `perf report` (e.g. with --baseline): the index shows the new verdict,
    never the earlier one."""
    run = make_run(tmp_path)
    args = ("--results-dir", str(tmp_path), "--targets", str(targets))
    assert perf("gate", *args) == 0
    index = write_index(run, [])
    assert "PASS: every check passed" in index.read_text(encoding="utf-8")
    strict = tmp_path / "strict.toml"
    strict.write_text("[targets]\nquery_latency_p95_ms = 10\n", encoding="utf-8")
    assert perf("gate", "--results-dir", str(tmp_path), "--targets", str(strict)) == 1
    page = index.read_text(encoding="utf-8")
    assert '<h1 class="headline fail">FAIL: 1 fail' in page
    assert (run / "report" / "style.css").is_file()


def test_svg_is_compacted_without_changing_what_it_draws() -> None:
    svg = (
        "<svg>\n <metadata>\n  <rdf:RDF>creator https://matplotlib.org/</rdf:RDF>\n </metadata>\n"
        ' <g>\n  <path d="M 256.448819 944.667656 \nL 256.448819 7.2 \n"/>\n'
        "  <text style=\"font-size: 10px; font-family: 'DejaVu Sans', 'Bitstream Vera Sans', "
        'sans-serif; text-anchor: middle" x="1.25">20.0 ns</text>\n'
        '  <text x="3.14159">0.045</text>\n </g>\n</svg>'
    )
    small = compact_svg(svg)
    assert "metadata" not in small and "matplotlib.org" not in small
    assert 'd="M 256.4 944.6 L 256.4 7.2 "' in small  # 0.1 pt: no visible change
    assert "font-family: 'DejaVu Sans', sans-serif; text-anchor" in small
    assert 'x="1.25">20.0 ns</text>' in small  # two decimals and the text itself kept
    assert "><" in small and "\n" not in small
    assert '<text x="3.1">0.045</text>' in small  # a label's digits are never cut


def test_the_index_links_the_profile_and_shows_its_top_frames(tmp_path) -> None:
    run = make_run(tmp_path)
    top = [{"function": "pearson (perf/service/correlate.py)", "self_samples": 52,
            "total_samples": 60, "self_share": 0.1034, "total_share": 0.1193}]  # fmt: skip
    record = {"rate_hz": 100, "start_offset_seconds": 60.0, "seconds": 60.0, "samples": 503,
              "top_frames": top}  # fmt: skip
    edit_json(run / "manifest.json", lambda m: m["stages"]["load"].update(profile=record))
    (run / "profile.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (run / "profile.speedscope.json").write_text("{}")
    page = index_html(run, json.loads((run / "manifest.json").read_text()), None, [])
    assert 'href="../profile.svg"' in page and 'href="../profile.speedscope.json"' in page
    assert "https://www.speedscope.app" in page and 'href="https://' not in page  # offline
    assert "<code>pearson (perf/service/correlate.py)</code>" in page and "10.3%" in page
    assert "py-spy at 100 Hz for 60 s from 60 s into the run" in page

    edit_json(run / "manifest.json", lambda m: m["stages"]["load"].update(
        profile={"error": "py-spy could not attach <pid 7>"}))  # fmt: skip
    page = index_html(run, json.loads((run / "manifest.json").read_text()), None, [])
    assert "No profile: py-spy could not attach &lt;pid 7&gt;" in page
    assert "<h2>Profile" in page and "../profile.svg" not in page.split("Raw files")[0]

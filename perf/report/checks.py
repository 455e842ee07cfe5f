"""Every documented target as a check over one run folder (standard library only).

``run_checks(run, targets)`` returns one ``Check`` per measurable thing:

- ``query_latency_p95_ms`` / ``health_p95_ms``: exact nearest-rank P95 of ``/query`` and
  ``/health`` from ``requests.jsonl`` (the numbers the load test's SLO checks use).
- ``db_query_p95_ms[<op>]``: each ``db.*`` operation of ``monitor.json`` on its own, the
  monitor's whole-run P95 (not the last-minute window), against ``db_query_p95_ms``.
- ``<cache>_cache_hit_rate``: ``monitor.json`` ``cache_stats[<cache>].hit_rate`` (the target
  key names the cache: ``correlation``, ``entity_context``, ``memory``), with the share of
  first-time queries (cold misses) beside it when the manifest has it.
- ``tokens_per_query_mean`` / ``tokens_per_query_max``: prompt tokens after the budget per
  query from ``tokens.jsonl``; ``tokens_log_matches_monitor`` cross-checks ``monitor.json``.
- ``token_budget_enforced``: every record carries the budget's report and no record exceeds
  the budget the service ran with (the manifest's ``token_budget``).
- ``bar[<benchmark> / <peer>]``: every speed bar declared in ``benchmarks.json``.

A check whose input is missing has verdict ``no data`` and says which command writes it; a
target key no check knows is reported as ``no data`` too, so a new target cannot go unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from perf.errors import MissingRunFileError
from perf.results import manifest
from perf.results.bars import check_bars
from perf.results.files import BENCHMARKS, MONITOR, REQUEST_LOG, TOKEN_LOG
from perf.results.readers import (
    cache_counts,
    per_query_tokens,
    read_benchmarks,
    read_manifest,
    read_monitor,
    read_requests,
    read_token_log,
)
from perf.results.requests_log import summarize_requests, summary_percentile
from perf.results.targets import check_latency_slos

__all__ = ["FAIL", "NO_DATA", "PASS", "Check", "run_checks"]

PASS, FAIL, NO_DATA = "pass", "fail", "no data"
HIT_RATE_SUFFIX = "_cache_hit_rate"


@dataclass(frozen=True, slots=True)
class Check:
    """One target checked against one run. ``target`` reads ``<op> <value>``, e.g. ``< 500``."""

    name: str
    target: str
    measured: float | None
    unit: str
    verdict: str  # PASS, FAIL or NO_DATA
    source: str  # the run file the measurement comes from
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _no_data(name: str, target: str, unit: str, source: str, why: str) -> Check:
    return Check(name, target, None, unit, NO_DATA, source, f"NO DATA {name}: {why}")


def _compare(
    name: str,
    op: str,
    limit: float,
    measured: float,
    *,
    unit: str,
    source: str,
    what: str,
    details: dict[str, Any] | None = None,
    note: str = "",
) -> Check:
    passed = measured < limit if op == "<" else measured > limit
    word = "ok" if passed else "FAIL"
    shown = f"{measured:.1%}" if unit == "ratio" else f"{measured:,.1f} {unit}"
    target_shown = f"{limit:.0%}" if unit == "ratio" else f"{limit:,g} {unit}"
    message = f"{word} {name}: {what} was {shown}, target {op} {target_shown}"
    message += f"; {note}" if note else ""
    verdict = PASS if passed else FAIL
    return Check(name, f"{op} {limit:g}", measured, unit, verdict, source, message, details or {})


def _latency_checks(run: Path, targets: Mapping[str, float]) -> list[Check]:
    keys = [k for k in ("query_latency_p95_ms", "health_p95_ms") if k in targets]
    if not keys:
        return []
    try:
        summaries = summarize_requests(read_requests(run))
    except MissingRunFileError as exc:
        return [_no_data(k, f"< {targets[k]:g}", "ms", exc.name, str(exc)) for k in keys]
    checks = []
    for slo in check_latency_slos(lambda n, q: summary_percentile(summaries, n, q), targets):
        target = f"< {slo.target_ms:g}"
        if slo.measured_ms is None:
            why = f"{REQUEST_LOG} has no {slo.endpoint} requests"
            checks.append(_no_data(slo.target_key, target, "ms", REQUEST_LOG, why))
            continue
        s = summaries[slo.endpoint]
        details = {"endpoint": s.name, "count": s.count, "co_p95_ms": s.co_p95_ms}
        what = f"P{round(slo.quantile * 100)} of {s.name} ({s.count} requests)"
        checks.append(
            _compare(slo.target_key, "<", slo.target_ms, slo.measured_ms, unit="ms",
                     source=REQUEST_LOG, what=what, details=details)
        )  # fmt: skip
    return checks


def _db_checks(monitor: Mapping[str, Any], limit: float) -> list[Check]:
    operations = monitor.get("operations", {})
    names = sorted(n for n in operations if n.startswith("db."))
    if not names:
        why = f"{MONITOR} has no db.* operations (the service recorded no database reads)"
        return [_no_data("db_query_p95_ms", f"< {limit:g}", "ms", MONITOR, why)]
    checks = []
    for name in names:
        stats = operations[name]
        key = f"db_query_p95_ms[{name}]"
        what = f"P95 of {name} ({stats.get('count', 0)} calls, monitor sketch)"
        measured = float(stats["p95"]) * 1000
        check = _compare(key, "<", limit, measured, unit="ms", source=MONITOR, what=what)
        checks.append(replace(check, details={"operation": name, "count": stats.get("count")}))
    return checks


def _cold_miss_share(run: Path) -> float | None:
    try:
        return manifest.cold_miss_share(read_manifest(run))
    except MissingRunFileError:
        return None


def _hit_rate_check(
    key: str, limit: float, monitor: Mapping[str, Any], cold: float | None
) -> Check:
    cache = key.removesuffix(HIT_RATE_SUFFIX)
    stats = monitor.get("cache_stats", {}).get(cache)
    target = f"> {limit:g}"
    if stats is None:
        known = sorted(monitor.get("cache_stats", {}))
        why = f"{MONITOR} has no cache {cache!r} in cache_stats (known: {known})"
        return _no_data(key, target, "ratio", MONITOR, why)
    hits, misses, rate = cache_counts(stats)
    if rate is None:
        return _no_data(key, target, "ratio", MONITOR, f"cache {cache!r} saw no lookups")
    details = {"cache": cache, "hits": hits, "misses": misses, "cold_miss_share": cold}
    what = f"hit rate of {cache!r} ({hits:,} of {hits + misses:,} lookups)"
    note = "" if cold is None else f"{cold:.0%} of queries were first-time (cold misses)"
    return _compare(
        key, ">", limit, rate, unit="ratio", source=MONITOR,
        what=what, details=details, note=note,
    )  # fmt: skip


def _monitor_checks(run: Path, targets: Mapping[str, float]) -> list[Check]:
    keys = [k for k in targets if k == "db_query_p95_ms" or k.endswith(HIT_RATE_SUFFIX)]
    if not keys:
        return []
    try:
        monitor = read_monitor(run)
    except MissingRunFileError as exc:
        unit = {"db_query_p95_ms": "ms"}
        return [
            _no_data(k, f"{'<' if k in unit else '>'} {targets[k]:g}", unit.get(k, "ratio"),
                     exc.name, str(exc))
            for k in keys
        ]  # fmt: skip
    cold = _cold_miss_share(run)
    checks = []
    for key in keys:
        if key == "db_query_p95_ms":
            checks.extend(_db_checks(monitor, targets[key]))
        else:
            checks.append(_hit_rate_check(key, targets[key], monitor, cold))
    return checks


def _budget(run: Path) -> dict[str, Any] | None:
    try:
        return manifest.token_budget(read_manifest(run))
    except MissingRunFileError:
        return None


def _capped_part(limit_key: str) -> str | None:
    """The prompt component a budget key caps: ``max_entity_context_tokens`` ->
    ``entity_context`` (perf.tokens' naming rule); ``None`` for the total."""
    if limit_key == "max_total_tokens":
        return None
    return limit_key.removeprefix("max_").removesuffix("_tokens")


def _budget_violations(record: Mapping[str, Any], budget: Mapping[str, Any]) -> list[str]:
    after = record.get("tokens_after")
    total = record.get("total_tokens_after")
    if not isinstance(after, dict) or total is None:
        return ["no budget report (tokens_after / total_tokens_after missing)"]
    found = []
    if "max_total_tokens" in budget and total > budget["max_total_tokens"]:
        found.append(f"total {total} > max_total_tokens {budget['max_total_tokens']}")
    for limit_key, limit in budget.items():
        part = _capped_part(limit_key)
        if part is not None and after.get(part, 0) > limit:
            found.append(f"{part} {after[part]} > {limit_key} {limit}")
    return found


def _budget_check(run: Path, records: list[dict[str, Any]], targets: Mapping[str, float]) -> Check:
    name = "token_budget_enforced"
    budget = _budget(run)
    origin = "manifest token_budget"
    if budget is None:  # e.g. a --host run: the service's settings were not recorded
        budget = {"max_total_tokens": targets.get("tokens_per_query_max", float("inf"))}
        origin = "tokens_per_query_max (the manifest has no token_budget)"
    bad = {}
    for number, record in enumerate(records, 1):
        if problems := _budget_violations(record, budget):
            bad[f"{TOKEN_LOG}:{number}"] = problems
    details = {
        "calls": len(records),
        "cut_calls": sum(bool(r.get("cut")) for r in records),
        "budget": budget,
        "budget_from": origin,
        "violations": dict(list(bad.items())[:10]),
    }
    verdict = FAIL if bad else PASS
    word = "FAIL" if bad else "ok"
    message = (
        f"{word} {name}: {len(bad)} of {len(records)} LLM calls broke or lacked the budget "
        f"({details['cut_calls']} were cut to fit; budget from {origin})"
    )
    return Check(name, "0 violations", len(bad), "calls", verdict, TOKEN_LOG, message, details)


def _cross_check(records: list[dict[str, Any]], monitor: Mapping[str, Any]) -> Check:
    name = "tokens_log_matches_monitor"
    summary = monitor.get("tokens")
    if not summary:
        return _no_data(name, "equal", "calls", MONITOR, f"{MONITOR} has no tokens")
    totals = [int(r.get("total_tokens_after") or 0) for r in records]
    log: dict[str, float] = {"calls": len(totals), "max": max(totals, default=0)}
    log["mean"] = sum(totals) / len(totals) if totals else 0.0
    mon: dict[str, float] = {
        "calls": int(summary.get("calls", 0)),
        "max": int(summary.get("max_prompt_tokens", 0)),
        "mean": float(summary.get("mean_prompt_tokens", 0.0)),
    }
    same = log["calls"] == mon["calls"] and log["max"] == mon["max"]
    same = same and abs(log["mean"] - mon["mean"]) < 0.5
    word = "ok" if same else "FAIL"
    message = (
        f"{word} {name}: {TOKEN_LOG} has {log['calls']} calls (mean {log['mean']:.1f}, max "
        f"{log['max']}), {MONITOR} {mon['calls']} (mean {mon['mean']:.1f}, max {mon['max']})"
    )
    details = {"tokens_jsonl": log, "monitor_json": mon}
    verdict = PASS if same else FAIL
    diff = abs(log["calls"] - mon["calls"])
    return Check(name, "equal", diff, "calls", verdict, TOKEN_LOG, message, details)


def _token_checks(run: Path, targets: Mapping[str, float]) -> list[Check]:
    keys = [k for k in ("tokens_per_query_mean", "tokens_per_query_max") if k in targets]
    try:
        records = read_token_log(run)
        source, why = TOKEN_LOG, f"{TOKEN_LOG} is empty: the run made no LLM calls"
    except MissingRunFileError as exc:
        records, source, why = [], exc.name, str(exc)
    if not records:
        missing = [_no_data(k, f"< {targets[k]:g}", "tokens", source, why) for k in keys]
        return [*missing, _no_data("token_budget_enforced", "0 violations", "calls", source, why)]
    per_query = list(per_query_tokens(records).values())
    measured = {
        "tokens_per_query_mean": (sum(per_query) / len(per_query), "mean"),
        "tokens_per_query_max": (float(max(per_query)), "max"),
    }
    checks = []
    for key in keys:
        value, word = measured[key]
        what = f"{word} prompt tokens after the budget over {len(per_query)} queries"
        checks.append(
            _compare(key, "<", targets[key], value, unit="tokens", source=TOKEN_LOG, what=what)
        )
    checks.append(_budget_check(run, records, targets))
    try:
        checks.append(_cross_check(records, read_monitor(run)))
    except MissingRunFileError as exc:
        checks.append(_no_data("tokens_log_matches_monitor", "equal", "calls", exc.name, str(exc)))
    return checks


def _bar_checks(run: Path) -> list[Check]:
    try:
        bars = check_bars(read_benchmarks(run))
    except MissingRunFileError as exc:
        return [_no_data("bars", "<= bar", "x", exc.name, str(exc))]
    if not bars:
        why = f"{BENCHMARKS} declares no speed bars (was the suite run with -k?)"
        return [_no_data("bars", "<= bar", "x", BENCHMARKS, why)]
    checks = []
    for bar in bars:
        name = f"bar[{bar.name} / {bar.peer}]"
        target = f"<= {bar.max_ratio:g}"
        if bar.ratio is None:
            why = f"the peer {bar.peer} did not run in this {BENCHMARKS}"
            checks.append(_no_data(name, target, "x", BENCHMARKS, why))
            continue
        word, verdict = ("ok", PASS) if bar.passed else ("FAIL", FAIL)
        message = f"{word} {name}: median ratio {bar.ratio:.3f}x, bar <= {bar.max_ratio:g}x"
        checks.append(Check(name, target, bar.ratio, "x", verdict, BENCHMARKS, message))
    return checks


KNOWN_TARGETS = frozenset(
    {"query_latency_p95_ms", "health_p95_ms", "db_query_p95_ms", "tokens_per_query_mean",
     "tokens_per_query_max"}
)  # fmt: skip

CheckGroup = Callable[[Path, Mapping[str, float]], list[Check]]


def run_checks(run: str | Path, targets: Mapping[str, float]) -> list[Check]:
    """Every target of ``targets`` (``load_targets``) and every speed bar, checked on ``run``."""
    folder = Path(run)
    checks: list[Check] = []
    groups: list[CheckGroup] = [_latency_checks, _monitor_checks, _token_checks]
    for group in groups:
        checks.extend(group(folder, targets))
    checks.extend(_bar_checks(folder))
    for key in sorted(targets):
        if key not in KNOWN_TARGETS and not key.endswith(HIT_RATE_SUFFIX):
            why = f"no check knows target {key!r}: add one to perf/report/checks.py"
            checks.append(_no_data(key, f"{targets[key]:g}", "", "pyproject.toml", why))
    return checks

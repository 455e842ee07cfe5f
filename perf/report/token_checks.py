"""The token checks: the mean per query in steady state, and the exact ones that hold for every
query, warm-up included (the budget is always on): the maximum per query, every LLM call within
its budget, and the token log agreeing with the service's own count."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from perf.errors import MissingRunFileError
from perf.report.intervals import mean_interval
from perf.report.steady import mser_truncation
from perf.report.verdicts import FAIL, PASS, Check, Steady, exact_check, no_data, steady_check
from perf.results import manifest
from perf.results.files import MONITOR, TOKEN_LOG
from perf.results.readers import (
    per_query_tokens,
    query_id,
    read_manifest,
    read_monitor,
    read_token_log,
)

__all__ = ["token_checks", "tokens_steady"]


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
        return no_data(name, "equal", "calls", MONITOR, f"{MONITOR} has no tokens")
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


def tokens_steady(records: Sequence[Mapping[str, Any]]) -> Steady:
    """MSER-5 on prompt tokens per query in the order the queries started, the t interval of
    the mean of what follows the cut."""
    started: dict[str, float] = {}
    totals: dict[str, int] = defaultdict(int)
    for number, record in enumerate(records, 1):
        query = query_id(record, number)
        started.setdefault(query, float(record.get("ts") or number))
        totals[query] += int(record.get("total_tokens_after") or 0)
    order = sorted(totals, key=lambda q: started[q])
    values = [float(totals[q]) for q in order]
    cut = mser_truncation(values)
    steady = mean_interval(values[cut.cut :])
    warmup = sum(values[: cut.cut]) / cut.cut if cut.cut else None
    times = [started[q] for q in order]
    return Steady(
        steady, sum(values) / len(values), warmup, cut,
        warmup_seconds=times[cut.cut] - times[0], steady_seconds=times[-1] - times[cut.cut],
        series="prompt tokens per query", samples="queries",
    )  # fmt: skip


def token_checks(run: Path, targets: Mapping[str, float]) -> list[Check]:
    """``tokens_per_query_mean`` (steady state), ``tokens_per_query_max`` and the budget
    (exact, every query), and the token log against the monitor."""
    keys = [k for k in ("tokens_per_query_mean", "tokens_per_query_max") if k in targets]
    try:
        records = read_token_log(run)
        source, why = TOKEN_LOG, f"{TOKEN_LOG} is empty: the run made no LLM calls"
    except MissingRunFileError as exc:
        records, source, why = [], exc.name, str(exc)
    if not records:
        missing = [no_data(k, f"< {targets[k]:g}", "tokens", source, why) for k in keys]
        return [*missing, no_data("token_budget_enforced", "0 violations", "calls", source, why)]
    per_query = per_query_tokens(records)
    checks = []
    if "tokens_per_query_mean" in targets:
        checks.append(
            steady_check("tokens_per_query_mean", "<", targets["tokens_per_query_mean"],
                         tokens_steady(records), unit="tokens", source=TOKEN_LOG,
                         what="mean prompt tokens per query after the budget")
        )  # fmt: skip
    if "tokens_per_query_max" in targets:
        checks.append(
            exact_check("tokens_per_query_max", "<", targets["tokens_per_query_max"],
                        float(max(per_query.values())), unit="tokens", source=TOKEN_LOG,
                        what=f"max prompt tokens of {len(per_query):,} queries")
        )  # fmt: skip
    checks.append(_budget_check(run, records, targets))
    try:
        checks.append(_cross_check(records, read_monitor(run)))
    except MissingRunFileError as exc:
        checks.append(no_data("tokens_log_matches_monitor", "equal", "calls", exc.name, str(exc)))
    return checks

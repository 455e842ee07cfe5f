"""The token report's figures: per prompt component before and after the budget against its cap,
per query the mean and the maximum against the targets, and the API's billed prompt tokens
against the budget's own count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perf.errors import MissingRunFileError
from perf.report.intervals import decide
from perf.report.token_checks import tokens_steady
from perf.results import manifest
from perf.results.readers import RunPath, per_query_tokens, read_manifest, read_token_log

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = ["billed_vs_counted", "component_caps", "token_targets"]


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - ~0.5 s

    return pandas


def _budget(run: RunPath) -> dict[str, Any]:
    try:
        return manifest.token_budget(read_manifest(run)) or {}
    except MissingRunFileError:
        return {}


def component_caps(run: RunPath) -> DataFrame:
    """Per prompt component: mean and max tokens per call before and after the budget, its cap
    (``max_<component>_tokens`` of the budget the service ran with; ``None``: uncapped), the
    calls cut, and whether the budget changed anything at all (``trimmed``)."""
    pd = _pandas()
    records = read_token_log(run)
    budget = _budget(run)
    parts = sorted({p for r in records for p in (r.get("tokens_before") or {})})
    rows = []
    for part in parts:
        before = [int((r.get("tokens_before") or {}).get(part, 0)) for r in records]
        after = [int((r.get("tokens_after") or {}).get(part, 0)) for r in records]
        cap = budget.get(f"max_{part}_tokens")
        rows.append(
            {"component": part, "mean_before": sum(before) / len(before),
             "mean_after": sum(after) / len(after), "max_before": max(before),
             "max_after": max(after), "cap": None if cap is None else float(cap),
             "calls_cut": sum(b > a for b, a in zip(before, after, strict=True)),
             "trimmed": before != after}
        )  # fmt: skip
    columns = ["component", "mean_before", "mean_after", "max_before", "max_after", "cap",
               "calls_cut", "trimmed"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def token_targets(run: RunPath, targets: Mapping[str, float]) -> DataFrame:
    """Prompt tokens per query: the steady-state mean (95 % interval) against
    ``tokens_per_query_mean`` and the exact maximum against ``tokens_per_query_max``, with
    the verdicts the gate gives; plus the budget's total cap."""
    pd = _pandas()
    records = read_token_log(run)
    per_query = per_query_tokens(records)
    rows = []
    if per_query:
        steady = tokens_steady(records)
        iv = steady.interval
        mean_target = targets.get("tokens_per_query_mean")
        rows.append(
            {"figure": "mean per query (steady state)", "tokens": iv.estimate, "low": iv.low,
             "high": iv.high, "target": mean_target, "queries": iv.n,
             "verdict": None if mean_target is None else decide(iv, "<", mean_target)}
        )  # fmt: skip
        top = float(max(per_query.values()))
        max_target = targets.get("tokens_per_query_max")
        rows.append(
            {"figure": "max per query (exact)", "tokens": top, "low": None, "high": None,
             "target": max_target, "queries": len(per_query),
             "verdict": None if max_target is None else ("pass" if top < max_target else "fail")}
        )  # fmt: skip
    columns = ["figure", "tokens", "low", "high", "target", "queries", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def billed_vs_counted(run: RunPath) -> DataFrame:
    """Per LLM call answered by the API (not from cache): the prompt tokens the budget counted
    (``total_tokens_after``) and those the API billed (``usage.prompt_tokens``), and the
    difference (the chat format's few tokens per message)."""
    pd = _pandas()
    rows = []
    for number, record in enumerate(read_token_log(run), 1):
        billed = (record.get("usage") or {}).get("prompt_tokens")
        counted = record.get("total_tokens_after")
        if billed is None or counted is None or record.get("cached"):
            continue
        rows.append({"call": number, "counted": int(counted), "billed": int(billed),
                     "difference": int(billed) - int(counted)})  # fmt: skip
    return pd.DataFrame(rows, columns=["call", "counted", "billed", "difference"])

"""Correlation of two entities' activity: Pearson's r of their hourly event counts.

This is the expensive computation the correlation cache exists for: on a miss the query path
reads both entities' event series from the database and bins them here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = ["hourly_counts", "pearson", "series_correlation"]


def hourly_counts(timestamps: Iterable[int]) -> dict[int, int]:
    """Events per hour (hour = ts // 3600) of one entity; hours without events are absent."""
    counts: dict[int, int] = {}
    for ts in timestamps:
        hour = ts // 3600
        counts[hour] = counts.get(hour, 0) + 1
    return counts


def pearson(a: Mapping[int, int], b: Mapping[int, int], hours: range) -> float:
    """Pearson's r of two sparse hourly series over ``hours`` (0.0 if either is constant).

    Hours without events count as zeros; only the hours with events are visited.
    """
    n = len(hours)
    if n < 2:
        return 0.0
    sum_a = sum_aa = sum_ab = 0
    for hour, value in a.items():
        if hour in hours:
            sum_a += value
            sum_aa += value * value
            sum_ab += value * b.get(hour, 0)
    sum_b = sum_bb = 0
    for hour, value in b.items():
        if hour in hours:
            sum_b += value
            sum_bb += value * value
    cov = sum_ab - sum_a * sum_b / n
    var_a = sum_aa - sum_a * sum_a / n
    var_b = sum_bb - sum_b * sum_b / n
    if var_a <= 0 or var_b <= 0:
        return 0.0
    return max(-1.0, min(1.0, cov / math.sqrt(var_a * var_b)))


def series_correlation(
    series: Mapping[str, Mapping[int, int]], entity_a: str, entity_b: str, hours: range
) -> float:
    """r of two entities' binned series (an entity without events correlates 0.0)."""
    return round(pearson(series.get(entity_a, {}), series.get(entity_b, {}), hours), 6)

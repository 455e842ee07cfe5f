"""A mergeable quantile sketch with a bounded relative error (DDSketch-style log buckets).

A positive value ``v`` lands in bucket ``ceil(log(v) / log(gamma))`` with
``gamma = (1 + a) / (1 - a)`` for relative accuracy ``a``; the bucket's representative
``2 * gamma**k / (gamma + 1)`` is within ``a`` (relative) of every value in that bucket, so every
quantile is answered within ``a`` of a true sample value at that rank. The default ``a`` is
0.5 %, which keeps the error on any quantile well inside 1 % even after interpolation between
neighbouring samples. Memory depends on the range of values, not on how many were added: one
bucket per 1 % step of value, i.e. about 3,500 buckets from 1 ns to 11 days at the default.
Values at or below ``min_positive`` (zero durations from coarse clocks) share one zero bucket.

Sketches merge exactly (bucket counts add), so two processes' sketches combine into the one
a single process would have built. ``to_dict`` / ``from_dict`` give a JSON-ready form.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from perf.errors import ConfigurationError

__all__ = ["DEFAULT_RELATIVE_ACCURACY", "QuantileSketch"]

DEFAULT_RELATIVE_ACCURACY = 0.005
_MIN_POSITIVE = 1e-12  # seconds; anything at or below counts as zero


class QuantileSketch:
    """Counts, sum, min, max and log-bucketed values; answers quantiles within ``a`` relative."""

    __slots__ = (
        "_bins",
        "_gamma",
        "_multiplier",
        "count",
        "max",
        "min",
        "relative_accuracy",
        "total",
        "zero_count",
    )

    def __init__(self, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            raise ConfigurationError(
                f"relative_accuracy must be between 0 and 1 (exclusive), got {relative_accuracy!r};"
                " use e.g. 0.005 for 0.5 %"
            )
        self.relative_accuracy = relative_accuracy
        self._gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._multiplier = 1.0 / math.log(self._gamma)
        self._bins: dict[int, int] = {}
        self.count = 0
        self.zero_count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        """Add one value (convenience; the monitor batches through :meth:`add_many`)."""
        self.add_many((value,))

    def add_many(self, values: Sequence[float]) -> None:
        """Add a batch of finite values; values at or below 1e-12 count as zero."""
        if not values:
            return
        self.count += len(values)
        self.total += math.fsum(values)
        lo, hi = min(values), max(values)
        self.min = lo if lo < self.min else self.min
        self.max = hi if hi > self.max else self.max
        log, ceil, multiplier = math.log, math.ceil, self._multiplier
        if lo > _MIN_POSITIVE:
            keys = Counter([ceil(log(v) * multiplier) for v in values])
        else:
            positive = [v for v in values if v > _MIN_POSITIVE]
            self.zero_count += len(values) - len(positive)
            keys = Counter([ceil(log(v) * multiplier) for v in positive])
        bins = self._bins
        for key, n in keys.items():
            bins[key] = bins.get(key, 0) + n

    def merge(self, other: QuantileSketch) -> None:
        """Add every value of ``other`` (same relative accuracy) into this sketch."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ConfigurationError(
                f"cannot merge sketches with relative accuracy {other.relative_accuracy} and "
                f"{self.relative_accuracy}; build both monitors with the same relative_accuracy"
            )
        if not other.count:
            return
        self.count += other.count
        self.zero_count += other.zero_count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        bins = self._bins
        for key, n in other._bins.items():
            bins[key] = bins.get(key, 0) + n

    def copy(self) -> QuantileSketch:
        clone = QuantileSketch(self.relative_accuracy)
        clone.merge(self)
        return clone

    @property
    def bucket_count(self) -> int:
        """How many buckets are in use (the memory bound, independent of ``count``)."""
        return len(self._bins) + (1 if self.zero_count else 0)

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` in [0, 1], or None when the sketch is empty."""
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Several quantiles in one pass over the buckets.

        Like numpy's default (linear) method: the rank ``q * (count - 1)`` falls between two
        samples and the answer interpolates between their bucket values, so it stays within the
        relative accuracy of what numpy would answer on the raw samples.
        """
        wanted = list(qs)
        if any(not 0.0 <= q <= 1.0 for q in wanted):
            raise ConfigurationError(f"quantiles must be within [0, 1], got {wanted!r}")
        if not self.count:
            return [None] * len(wanted)
        ranks = [q * (self.count - 1) for q in wanted]
        needed = sorted({math.floor(r) for r in ranks} | {math.ceil(r) for r in ranks})
        at = dict(zip(needed, self._values_at(needed), strict=True))
        results: list[float | None] = []
        for rank in ranks:
            low, high = math.floor(rank), math.ceil(rank)
            results.append(at[low] + (at[high] - at[low]) * (rank - low))
        return results

    def _values_at(self, indices: list[int]) -> Iterator[float]:
        """The value of the ``i``-th smallest sample for each ascending ``i`` (within ``a``)."""
        last = self.count - 1
        keys = iter(sorted(self._bins))
        seen = self.zero_count
        value = 0.0
        for index in indices:
            if index <= 0:
                yield self.min  # the extremes are known exactly
            elif index >= last:
                yield self.max
            else:
                while seen <= index:
                    key = next(keys)
                    seen += self._bins[key]
                    value = 2.0 * self._gamma**key / (self._gamma + 1.0)
                yield min(max(value, self.min), self.max)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; :meth:`from_dict` reads it back."""
        keys = sorted(self._bins)
        return {
            "relative_accuracy": self.relative_accuracy,
            "count": self.count,
            "zero_count": self.zero_count,
            "total": self.total,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "keys": keys,
            "counts": [self._bins[k] for k in keys],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantileSketch:
        try:
            sketch = cls(float(data["relative_accuracy"]))
            keys, counts = data["keys"], data["counts"]
            if len(keys) != len(counts):
                raise ValueError("keys and counts differ in length")
            sketch._bins = {int(k): int(n) for k, n in zip(keys, counts, strict=True)}
            sketch.count = int(data["count"])
            sketch.zero_count = int(data["zero_count"])
            sketch.total = float(data["total"])
            if sketch.count:
                sketch.min = float(data["min"])
                sketch.max = float(data["max"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"not a sketch snapshot ({exc}); pass a dict made by QuantileSketch.to_dict"
            ) from exc
        if sketch.count != sketch.zero_count + sum(sketch._bins.values()):
            raise ConfigurationError(
                "sketch snapshot counts do not add up; pass an unmodified QuantileSketch.to_dict"
            )
        return sketch

"""Did HEAD make a benchmark slower than BASE? The statistics of ``perf compare``, pure functions.

Input: for each side, one list of raw samples per benchmark *process* (pytest-benchmark's
``data``: every round's time, in seconds). Both sides were measured in one job, interleaved,
each process fresh. Per benchmark:

- **Warm-up rule**: the first ``warmup_samples`` samples of every process are dropped (the
  first call pays for imports, allocation and cold caches), as long as at least 2 remain.
- **Effect**: ``ratio`` = HEAD / BASE per *process*, the unit that varies on a shared machine
  (a noisy neighbour, memory layout, hash seeds): the processes of the two sides ran in pairs,
  next to each other (ABBA), so the ratio is the median over pairs of
  ``median(head_i) / median(base_i)`` and drift shared by a pair cancels; one disturbed pair
  moves it little. (Unpaired, e.g. after a failed process: the ratio of the sides' medians of
  per-process medians.)
- **Interval**: a 99 % two-level (hierarchical) bootstrap of that ratio: resample the pairs with
  replacement, and within each drawn process its median (drawn as the order statistic of rank
  ``Binomial(n - 1, 1/2)``, the large-sample law of a bootstrap median's rank, so a benchmark
  with 100,000 samples costs no more than one with 10). Percentile interval at ``confidence``.
- **Test**: Mann-Whitney U (two-sided) on the pooled raw samples, its p-values adjusted across
  the whole suite by Holm's step-down method (family-wise error rate, stricter than
  Benjamini-Hochberg's false-discovery rate: a CI gate should not cry wolf).
- **Verdict**: ``slower`` when the adjusted p < ``alpha``, the ratio >= ``min_effect`` *and* the
  interval's low end > 1; ``faster`` mirrors it; ``unchanged`` when the interval lies within
  ``[1 / min_effect, min_effect]`` (an effect of the minimum size is ruled out); otherwise
  ``inconclusive``. ``new`` / ``removed`` when only one side has the benchmark.

Instruction counts (``perf compare --instructions``): per probe, one figure per side and hash
seed (instructions per call: deterministic for a given seed, whose dict layouts move it by up
to ~1 %). ``ratio`` = the median over seeds of HEAD / BASE with the same seed; its interval
runs from the lowest to the highest of those ratios (no test: the figures do not vary with
the machine); the verdict is the same rule with ``INSTRUCTIONS_MIN_EFFECT`` (1 %: README).

All three conditions guard different failures: the rank test alone flags any difference
between processes (with thousands of samples every p is tiny), the minimum effect keeps
differences too small to matter out, and the process-level interval keeps out a ratio that one
or two disturbed processes produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MIN_EFFECT",
    "FASTER",
    "INCONCLUSIVE",
    "INSTRUCTIONS_MIN_EFFECT",
    "NEW",
    "REMOVED",
    "SLOWER",
    "UNCHANGED",
    "Comparison",
    "Policy",
    "compare_counts",
    "compare_samples",
    "compare_suite",
    "exit_code",
    "format_comparisons",
    "holm",
    "ratio_interval",
    "trimmed",
    "verdict",
]

SLOWER, FASTER, UNCHANGED, INCONCLUSIVE = "slower", "faster", "unchanged", "inconclusive"
NEW, REMOVED = "new", "removed"

DEFAULT_MIN_EFFECT = 1.05
INSTRUCTIONS_MIN_EFFECT = 1.01
DEFAULT_ALPHA = 0.05

Samples = Sequence[float]
Processes = Sequence[Samples]  # one list of raw samples per benchmark process


@dataclass(frozen=True, slots=True)
class Policy:
    """The decision's parameters (README, "perf compare": chosen by the study)."""

    min_effect: float = DEFAULT_MIN_EFFECT  # the smallest slowdown worth failing CI for
    alpha: float = DEFAULT_ALPHA  # family-wise, over the whole suite (Holm)
    confidence: float = 0.99  # of the ratio's interval (0.95 came near false alarms: README)
    resamples: int = 4000  # bootstrap replicates
    warmup_samples: int = 1  # dropped from the start of every process
    seed: int = 20261124  # the bootstrap's seed: the same samples give the same verdict

    def __post_init__(self) -> None:
        if self.min_effect < 1:
            raise ValueError(f"min_effect must be >= 1 (a ratio), got {self.min_effect}")
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1:
            raise ValueError("alpha and confidence must be within (0, 1)")
        if self.resamples < 100 or self.warmup_samples < 0:
            raise ValueError("resamples must be >= 100 and warmup_samples >= 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One benchmark, BASE against HEAD."""

    name: str
    verdict: str
    ratio: float | None = None  # HEAD / BASE, medians of per-process medians
    low: float | None = None  # the ratio's interval
    high: float | None = None
    p_value: float | None = None  # Mann-Whitney U, two-sided, raw
    p_adjusted: float | None = None  # Holm, over the suite
    base_median: float | None = None  # in ``unit``
    head_median: float | None = None
    base_processes: int = 0
    head_processes: int = 0
    base_samples: int = 0
    head_samples: int = 0
    notes: list[str] = field(default_factory=list)
    unit: str = "seconds"  # or "instructions" (per call)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def trimmed(processes: Processes, warmup: int) -> list[np.ndarray]:
    """Each process's samples without its first ``warmup`` (kept whole if fewer than
    ``warmup + 2``); empty processes are dropped."""
    out = []
    for samples in processes:
        values = np.asarray(samples, dtype=float)
        if len(values) >= warmup + 2:
            values = values[warmup:]
        if len(values):
            out.append(values)
    return out


def _median_of_medians(processes: Sequence[np.ndarray]) -> float:
    return float(np.median([np.median(p) for p in processes]))


def _medians_drawn(
    processes: Sequence[np.ndarray], drawn: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each drawn process index, one bootstrap replicate of that process's median: the
    order statistic of rank ``Binomial(n - 1, 1/2)``."""
    ordered = [np.sort(p) for p in processes]
    sizes = np.array([len(p) for p in ordered])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ranks = rng.binomial(sizes[drawn] - 1, 0.5)
    values: np.ndarray = np.concatenate(ordered)[offsets[drawn] + ranks]
    return values


def ratio_interval(
    base: Sequence[np.ndarray], head: Sequence[np.ndarray], policy: Policy
) -> tuple[float, float, float]:
    """``(ratio, low, high)``: HEAD / BASE with its two-level bootstrap percentile interval.

    Paired (the same number of processes per side, process ``i`` of each side run next to each
    other): the median over pairs of ``median(head_i) / median(base_i)``, pairs resampled
    together, so drift shared by the two processes of a pair cancels. Unpaired: the ratio of
    the medians of per-process medians, each side's processes resampled on their own."""
    rng = np.random.default_rng(policy.seed)
    shape = (policy.resamples, len(head))
    if len(base) == len(head):
        ratio = float(
            np.median([np.median(h) / np.median(b) for b, h in zip(base, head, strict=True)])
        )
        drawn = rng.integers(0, len(head), size=shape)
        pairs = _medians_drawn(head, drawn, rng) / _medians_drawn(base, drawn, rng)
        ratios = np.median(pairs, axis=1)
    else:
        ratio = _median_of_medians(head) / _median_of_medians(base)
        heads = _medians_drawn(head, rng.integers(0, len(head), size=shape), rng)
        bases = _medians_drawn(
            base, rng.integers(0, len(base), size=(policy.resamples, len(base))), rng
        )
        ratios = np.median(heads, axis=1) / np.median(bases, axis=1)
    tail = (1 - policy.confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return ratio, float(low), float(high)


def _mann_whitney(base: Sequence[np.ndarray], head: Sequence[np.ndarray]) -> float:
    from scipy.stats import mannwhitneyu  # noqa: PLC0415 - scipy loads only to compare

    x, y = np.concatenate(head), np.concatenate(base)
    if len(x) < 2 or len(y) < 2:
        return 1.0
    if np.ptp(np.concatenate([x, y])) == 0:
        return 1.0  # every sample equal: no evidence either way
    p = float(mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").pvalue)
    return 1.0 if math.isnan(p) else p


def compare_samples(
    name: str, base: Processes, head: Processes, policy: Policy = Policy()
) -> Comparison:
    """One benchmark's effect, interval and raw p-value; ``verdict`` is provisional (inconclusive)
    until ``compare_suite`` adjusts the p-values across the suite."""
    b, h = trimmed(base, policy.warmup_samples), trimmed(head, policy.warmup_samples)
    if not b or not h:
        return Comparison(name, REMOVED if b else NEW, base_processes=len(b),
                          head_processes=len(h))  # fmt: skip
    ratio, low, high = ratio_interval(b, h, policy)
    notes = []
    if min(len(b), len(h)) < 3:
        notes.append("fewer than 3 processes on a side: the interval is rough")
    return Comparison(
        name,
        INCONCLUSIVE,
        ratio=ratio,
        low=low,
        high=high,
        p_value=_mann_whitney(b, h),
        base_median=_median_of_medians(b),
        head_median=_median_of_medians(h),
        base_processes=len(b),
        head_processes=len(h),
        base_samples=sum(len(p) for p in b),
        head_samples=sum(len(p) for p in h),
        notes=notes,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): controls the chance of even
    one false alarm across the family, under any dependence between the tests."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def verdict(ratio: float, low: float, high: float, p_adjusted: float, policy: Policy) -> str:
    """slower / faster / unchanged / inconclusive (see the module's docstring)."""
    significant = p_adjusted < policy.alpha
    if significant and ratio >= policy.min_effect and low > 1:
        return SLOWER
    if significant and ratio <= 1 / policy.min_effect and high < 1:
        return FASTER
    if low >= 1 / policy.min_effect and high <= policy.min_effect:
        return UNCHANGED
    return INCONCLUSIVE


def compare_suite(
    base: Mapping[str, Processes], head: Mapping[str, Processes], policy: Policy = Policy()
) -> list[Comparison]:
    """Every benchmark of either side, sorted by name, with its final verdict."""
    names = sorted(base.keys() | head.keys())
    found = [compare_samples(n, base.get(n, []), head.get(n, []), policy) for n in names]
    tested = [c for c in found if c.p_value is not None]
    p_values = [1.0 if c.p_value is None else c.p_value for c in tested]  # 0.0 is a p-value
    adjusted = dict(zip((c.name for c in tested), holm(p_values), strict=True))
    result = []
    for c in found:
        if c.name not in adjusted or c.ratio is None or c.low is None or c.high is None:
            result.append(c)
            continue
        p_adj = adjusted[c.name]
        final = verdict(c.ratio, c.low, c.high, p_adj, policy)
        result.append(_replace(c, verdict=final, p_adjusted=p_adj))
    return result


def compare_counts(
    base: Mapping[str, Mapping[int, float]],
    head: Mapping[str, Mapping[int, float]],
    policy: Policy = Policy(min_effect=INSTRUCTIONS_MIN_EFFECT),
) -> list[Comparison]:
    """Instructions per call of each probe, ``{probe: {hash seed: figure}}`` per side, BASE
    against HEAD: a ratio per seed (the same seed, the same dict layouts, on both sides)."""
    result = []
    for name in sorted(base.keys() | head.keys()):
        b, h = base.get(name, {}), head.get(name, {})
        seeds = sorted(b.keys() & h.keys())
        if not seeds:
            result.append(Comparison(name, NEW if h else REMOVED, unit="instructions"))
            continue
        if min(b[s] for s in seeds) <= 0:
            note = "BASE's count is not above the harness's: nothing to compare"
            result.append(Comparison(name, INCONCLUSIVE, notes=[note], unit="instructions"))
            continue
        ratios = [h[s] / b[s] for s in seeds]
        ratio, low, high = float(np.median(ratios)), min(ratios), max(ratios)
        found = Comparison(
            name, verdict(ratio, low, high, 0.0, policy), ratio=ratio, low=low, high=high,
            base_median=float(np.median([b[s] for s in seeds])),
            head_median=float(np.median([h[s] for s in seeds])),
            base_samples=len(seeds), head_samples=len(seeds), unit="instructions",
        )  # fmt: skip
        result.append(found)
    return result


def _replace(c: Comparison, **changes: Any) -> Comparison:
    return Comparison(**{**asdict(c), **changes})


def exit_code(comparisons: Iterable[Comparison]) -> int:
    """1 when any benchmark is significantly slower, else 0."""
    return int(any(c.verdict == SLOWER for c in comparisons))


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "instructions":
        return f"{value:,.0f} instructions"
    for name, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:,.3g} {name}"
    return f"{value / 1e-9:,.3g} ns"


def format_comparisons(comparisons: Iterable[Comparison]) -> str:
    """One line per benchmark: verdict, ratio [interval], medians, adjusted p."""
    lines = []
    for c in comparisons:
        if c.ratio is None:
            lines.append(f"{c.verdict:<12} {c.name}")
            continue
        p = "-" if c.p_adjusted is None else f"{c.p_adjusted:.2g}"
        lines.append(
            f"{c.verdict:<12} {c.name}: {c.ratio:.3f}x [{c.low:.3f}, {c.high:.3f}] "
            f"({_figure(c.base_median, c.unit)} -> {_figure(c.head_median, c.unit)}, p_holm {p})"
        )
    return "\n".join(lines)

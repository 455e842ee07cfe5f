"""Miss-ratio curves: what miss ratio a key trace would see at each cache size, per policy.

``miss_ratio_curve(keys, sizes, policy="lru")`` answers "what size meets the target?" and
"would a bigger cache help at all?". Beside the policy's curve it gives two bounds no policy
can beat:

- the **cold-miss floor**: first accesses over all accesses. A key's first lookup misses at
  any size; when the target needs a miss ratio under this floor, no size can meet it.
- **Belády's optimal** (MIN with bypass: on a miss, of the resident keys and the new one, the
  one used again farthest in the future is not kept), the fewest misses any policy could have,
  admission policies included.

LRU comes from stack distances in one pass (Mattson et al. 1970, with a Fenwick tree: the
distance of an access is the number of distinct keys since the key's previous access; it hits
at every size larger than that), every other policy from a simulation per size through the
same ``EvictionPolicy`` classes the memory tier runs. A trace sampled by key hash at rate R
(``KeyTrace``, SHARDS: Waldspurger et al., FAST 2015) stands for the whole stream: a sampled
stack distance d stands for d / R, and other policies are simulated at R times the size
("miniature simulation", Waldspurger et al., ATC 2017). With ``lookups`` (the stream's length)
the ratios divide by the expected sample size R x lookups instead of the actual one
(SHARDS-adj). TTLs are not modelled: an entry that expires first misses in the cache, not in
the curve.

Validated against libCacheSim (LRU, SIEVE, S3-FIFO, W-TinyLFU, Belády) in
``tests/cache/test_mrc.py``. Standard library only.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from perf.cache.policy import EvictionPolicy, LRUPolicy
from perf.cache.s3fifo import S3FIFOPolicy
from perf.cache.sieve import SievePolicy
from perf.cache.tinylfu import WTinyLFUPolicy
from perf.errors import ConfigurationError

__all__ = [
    "POLICIES",
    "MissRatioCurve",
    "lru_stack_distances",
    "miss_ratio_curve",
    "optimal_misses",
    "simulate_misses",
]

PolicyFactory = Callable[[], EvictionPolicy]

POLICIES: dict[str, PolicyFactory] = {
    "lru": LRUPolicy,
    "s3fifo": S3FIFOPolicy,
    "sieve": SievePolicy,
    "wtinylfu": WTinyLFUPolicy,
}


@dataclass(frozen=True, slots=True)
class MissRatioCurve:
    """A policy's miss ratio at each size, with the bounds no policy can beat."""

    policy: str
    sizes: tuple[int, ...]
    miss_ratios: tuple[float, ...]
    cold_miss_ratio: float  # first accesses / accesses: the floor at every size
    optimal: tuple[float, ...] | None  # Belády's miss ratio at each size (None: not computed)
    accesses: int  # in the trace as given (the sample, when sampled)
    distinct: int  # distinct keys in it
    sample_rate: float = 1.0

    @property
    def hit_rates(self) -> tuple[float, ...]:
        return tuple(1.0 - m for m in self.miss_ratios)

    @property
    def max_hit_rate(self) -> float:
        """What an unbounded cache would reach: every access but the first of each key."""
        return 1.0 - self.cold_miss_ratio

    def smallest_size(self, hit_rate: float) -> int | None:
        """The smallest of ``sizes`` whose hit rate is at least ``hit_rate``, or None."""
        for size, miss in zip(self.sizes, self.miss_ratios, strict=True):
            if 1.0 - miss >= hit_rate:
                return size
        return None


def miss_ratio_curve(
    keys: Iterable[Hashable],
    sizes: Iterable[int],
    policy: str | PolicyFactory = "lru",
    *,
    sample_rate: float = 1.0,
    lookups: int | None = None,
    optimal: bool = True,
) -> MissRatioCurve:
    """The miss ratio of ``keys`` (lookups in order) at each of ``sizes`` (entries) under
    ``policy`` (a name of ``POLICIES`` or an ``EvictionPolicy`` factory), with the cold-miss
    floor and, if ``optimal``, Belády's bound.

    ``keys`` sampled by key hash at ``sample_rate`` (a ``KeyTrace``) give the curve of the
    whole stream; ``lookups`` is the whole stream's length, if known (SHARDS-adj).
    """
    trace = list(keys)
    wanted = sorted(set(sizes))
    if not wanted or wanted[0] < 1:
        raise ConfigurationError(f"sizes must be positive entry counts, got {wanted or 'none'}")
    if not 0.0 < sample_rate <= 1.0:
        raise ConfigurationError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    name, factory = _policy(policy)
    total = len(trace) if lookups is None else lookups * sample_rate
    total = max(total, 1.0)

    def ratio(misses: float) -> float:
        return min(1.0, misses / total)

    scaled = [size * sample_rate for size in wanted]
    if name == "lru":
        misses = _lru_misses(trace, scaled)
    else:
        misses = [simulate_misses(trace, max(1, round(s)), factory) for s in scaled]
    distinct = len(set(trace))
    bound = None
    if optimal:
        bound = tuple(ratio(optimal_misses(trace, max(1, round(s)))) for s in scaled)
    return MissRatioCurve(
        name, tuple(wanted), tuple(ratio(m) for m in misses), ratio(distinct), bound,
        len(trace), distinct, sample_rate,
    )  # fmt: skip


def _policy(policy: str | PolicyFactory) -> tuple[str, PolicyFactory]:
    if isinstance(policy, str):
        factory = POLICIES.get(policy.lower())
        if factory is None:
            raise ConfigurationError(
                f"unknown policy {policy!r}; known: {', '.join(sorted(POLICIES))} "
                "(or pass an EvictionPolicy factory)"
            )
        return policy.lower(), factory
    return getattr(policy, "__name__", repr(policy)), policy


def lru_stack_distances(keys: Sequence[Hashable]) -> list[int]:
    """Per access, the number of distinct other keys since the previous access of the same
    key (-1 for a first access). LRU of size C hits exactly the accesses with distance < C."""
    n = len(keys)
    tree = [0] * (n + 1)  # Fenwick tree over positions: 1 where a key was last accessed
    last: dict[Hashable, int] = {}
    distances = []
    for t, key in enumerate(keys):
        p = last.get(key)
        if p is None:
            distances.append(-1)
        else:
            # marks in (p, t): prefix(t) - prefix(p + 1), positions 1-based in the tree
            count, i = 0, t
            while i > 0:
                count += tree[i]
                i &= i - 1
            i = p + 1
            while i > 0:
                count -= tree[i]
                i &= i - 1
            distances.append(count)
            i = p + 1
            while i <= n:
                tree[i] -= 1
                i += i & -i
        last[key] = t
        i = t + 1
        while i <= n:
            tree[i] += 1
            i += i & -i
    return distances


def _lru_misses(trace: Sequence[Hashable], sizes: Sequence[float]) -> list[int]:
    distances = sorted(d for d in lru_stack_distances(trace) if d >= 0)
    # misses at size s: first accesses + reuses with distance >= s
    reuses = len(distances)
    first = len(trace) - reuses
    out = []
    for size in sizes:
        lo, hi = 0, reuses  # how many distances are < size
        while lo < hi:
            mid = (lo + hi) // 2
            if distances[mid] < size:
                lo = mid + 1
            else:
                hi = mid
        out.append(first + reuses - lo)
    return out


def simulate_misses(keys: Iterable[Hashable], size: int, policy: PolicyFactory) -> int:
    """Misses of a cache of ``size`` entries under ``policy`` on ``keys`` (every miss is
    inserted, as in the memory tier)."""
    state = policy()
    on_hit, on_insert, on_remove, victim = (
        state.on_hit, state.on_insert, state.on_remove, state.victim,
    )  # fmt: skip
    present: set[Hashable] = set()
    misses = 0
    for key in keys:
        if key in present:
            on_hit(key)
            continue
        misses += 1
        if len(present) >= size:
            out = victim()
            present.remove(out)
            on_remove(out)
        present.add(key)
        on_insert(key)
    return misses


def optimal_misses(keys: Sequence[Hashable], size: int) -> int:
    """Belády's MIN with bypass: the fewest misses any cache of ``size`` entries could have."""
    n = len(keys)
    following = [0] * n
    seen: dict[Hashable, int] = {}
    for t in range(n - 1, -1, -1):
        following[t] = seen.get(keys[t], n + t)  # never again: farther than any real access
        seen[keys[t]] = t
    resident: dict[Hashable, int] = {}  # key -> its next access
    heap: list[tuple[int, int, Hashable]] = []  # (-next access, tiebreak, key), lazily stale
    misses = 0
    for t, key in enumerate(keys):
        upcoming = following[t]
        if key in resident:
            resident[key] = upcoming
            heapq.heappush(heap, (-upcoming, t, key))
            continue
        misses += 1
        if len(resident) >= size:
            while True:
                neg, _, far_key = heap[0]
                if resident.get(far_key) == -neg:
                    break
                heapq.heappop(heap)  # stale
            if -neg <= upcoming:
                continue  # the new key is needed last: do not keep it
            heapq.heappop(heap)
            del resident[far_key]
        resident[key] = upcoming
        heapq.heappush(heap, (-upcoming, t, key))
    return misses

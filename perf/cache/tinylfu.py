"""W-TinyLFU (Einziger, Friedman & Manes 2017; Caffeine's policy): an admission duel by frequency.

New keys enter a small LRU window (1 % of the capacity). When the cache is full, the window's
oldest key (the candidate) duels the main region's next victim (the oldest key of its
probation segment): the one seen less often recently is evicted. The main region is a
segmented LRU (20 % probation, 80 % protected; a hit in probation promotes). Frequencies are
counted per key (a hit or an insert), capped at 15 and halved every 10x capacity counts, as
Caffeine's 4-bit count-min sketch does, but exact. The capacity is learnt at the first
eviction. Admission fits the existing protocol: ``victim()`` runs the duel, since the new key
always enters the window after it.

One of the three candidates measured for the memory tier (README, "Eviction policies"): the
best hit rate of the three by a little, but each hit updates a counter and an LRU order in
Python, so its hit path is the slowest. ``miss_ratio_curve(policy="wtinylfu")`` simulates it.

For simulation and single-threaded caches: its ``on_hit`` updates several structures, which
the memory tier's lock-free hit path would race against an eviction. SIEVE's does not.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["WTinyLFUPolicy"]


class WTinyLFUPolicy:
    """W-TinyLFU for ``MemoryCache(policy=WTinyLFUPolicy)``."""

    def __init__(self, window_ratio: float = 0.01, protected_ratio: float = 0.8) -> None:
        self._window_ratio, self._protected_ratio = window_ratio, protected_ratio
        self._window: OrderedDict[Hashable, None] = OrderedDict()
        self._probation: OrderedDict[Hashable, None] = OrderedDict()
        self._protected: OrderedDict[Hashable, None] = OrderedDict()
        self._freq: dict[Hashable, int] = {}
        self._counted = 0
        self._capacity = 0
        self.on_hit: Callable[[Hashable], object] = self._on_hit
        self._window_target = self._protected_target = 0

    def _count(self, key: Hashable) -> None:
        freq = self._freq
        freq[key] = min(freq.get(key, 0) + 1, 15)
        self._counted += 1
        if self._capacity and self._counted >= 10 * self._capacity:  # age: halve every count
            self._counted //= 2
            self._freq = {k: c // 2 for k, c in freq.items() if c > 1}

    def _on_hit(self, key: Hashable) -> None:
        self._count(key)
        if key in self._window:
            self._window.move_to_end(key)
        elif key in self._protected:
            self._protected.move_to_end(key)
        else:
            del self._probation[key]  # KeyError for a key just evicted
            self._protected[key] = None
            if self._capacity and len(self._protected) > self._protected_target:
                demoted, _ = self._protected.popitem(last=False)
                self._probation[demoted] = None

    def on_insert(self, key: Hashable) -> None:
        self._count(key)
        self._window[key] = None

    def on_remove(self, key: Hashable) -> None:
        for segment in (self._window, self._probation, self._protected):
            if key in segment:
                del segment[key]
                return
        raise KeyError(key)

    def victim(self) -> Hashable:
        if not self._capacity:
            self._learn_capacity()
        main_victim = next(iter(self._probation or self._protected), None)
        if len(self._window) < self._window_target and main_victim is not None:
            return main_victim  # the window lost keys (deleted or expired): main gives one
        candidate = next(iter(self._window))
        if main_victim is None:
            return candidate
        if self._freq.get(candidate, 0) > self._freq.get(main_victim, 0):
            del self._window[candidate]
            self._probation[candidate] = None  # admitted; main_victim goes
            return main_victim
        return candidate

    def clear(self) -> None:
        for segment in (self._window, self._probation, self._protected):
            segment.clear()
        self._freq.clear()
        self._counted = 0

    def _learn_capacity(self) -> None:
        """At the first eviction the cache is full: size the regions, and move all but the
        newest keys of the window (where every key went until now) to probation."""
        self._capacity = len(self._window) + len(self._probation) + len(self._protected)
        self._window_target = max(1, round(self._capacity * self._window_ratio))
        main = self._capacity - self._window_target
        self._protected_target = max(1, round(main * self._protected_ratio))
        while len(self._window) > self._window_target:
            key, _ = self._window.popitem(last=False)
            self._probation[key] = None

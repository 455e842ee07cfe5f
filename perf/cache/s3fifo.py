"""S3-FIFO (Yang et al., SOSP 2023): a small FIFO, a main FIFO with a 2-bit clock, a ghost FIFO.

New keys enter the small queue (10 % of the capacity); one hit there (two accesses in all)
moves a key to the main queue when it reaches the head, otherwise it leaves and its key is
remembered in the ghost queue, from which a returning key goes straight to main. Main is a
CLOCK with a counter of up to 3. It follows libCacheSim's ``S3FIFO`` (move-to-main threshold
2, ghost 90 % of the capacity), except that the capacity is learnt at the first eviction.

One of the three candidates measured for the memory tier (README, "Eviction policies"): its
hit rate is SIEVE's within a point on Zipf traces, but a hit must count (a Python-level
``on_hit``), which makes its hit path slower than LRU's. ``miss_ratio_curve(policy="s3fifo")``
simulates it.

For simulation and single-threaded caches: its ``on_hit`` updates several structures, which
the memory tier's lock-free hit path would race against an eviction. SIEVE's does not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable

__all__ = ["S3FIFOPolicy"]

_SMALL, _MAIN = 0, 1


class S3FIFOPolicy:
    """S3-FIFO for ``MemoryCache(policy=S3FIFOPolicy)``.

    Queues hold ``(key, serial)``; a removed key's entry is skipped when it reaches the head
    (``_where`` says which queue and serial are current), so ``on_remove`` is O(1).
    """

    def __init__(self, small_ratio: float = 0.1, ghost_ratio: float = 0.9) -> None:
        self._small_ratio, self._ghost_ratio = small_ratio, ghost_ratio
        self._queues: tuple[deque[tuple[Hashable, int]], ...] = (deque(), deque())
        self._sizes = [0, 0]
        self._where: dict[Hashable, tuple[int, int]] = {}
        self._freq: dict[Hashable, int] = {}
        self._ghost: dict[Hashable, None] = {}
        self._serial = 0
        self._capacity = 0
        self.on_hit: Callable[[Hashable], object] = self._on_hit

    def _on_hit(self, key: Hashable) -> None:
        freq = self._freq
        freq[key] = freq[key] + 1  # capped at use; KeyError for a key just evicted

    def on_insert(self, key: Hashable) -> None:
        if key in self._ghost:  # evicted from small not long ago: it is back, so keep it
            del self._ghost[key]
            self._push(_MAIN, key)
        else:
            self._push(_SMALL, key)

    def on_remove(self, key: Hashable) -> None:
        queue, _ = self._where.pop(key)
        self._sizes[queue] -= 1
        del self._freq[key]

    def victim(self) -> Hashable:
        if not self._capacity:
            self._capacity = len(self._where)
        small_target = max(1, int(self._capacity * self._small_ratio))
        main_target = self._capacity - small_target
        while True:
            if self._sizes[_MAIN] > main_target or not self._sizes[_SMALL]:
                key = self._head(_MAIN)
                freq = self._freq[key]
                if not freq:
                    return key
                self._pop_head(_MAIN)
                self._push(_MAIN, key, min(freq, 3) - 1)
            else:
                key = self._head(_SMALL)
                if self._freq[key] < 2:
                    self._ghost[key] = None
                    if len(self._ghost) > self._capacity * self._ghost_ratio:
                        del self._ghost[next(iter(self._ghost))]
                    return key
                self._pop_head(_SMALL)
                self._push(_MAIN, key)

    def clear(self) -> None:
        for queue in self._queues:
            queue.clear()
        self._sizes = [0, 0]
        self._where.clear()
        self._freq.clear()
        self._ghost.clear()

    def _push(self, queue: int, key: Hashable, freq: int = 0) -> None:
        if key in self._where:  # moving between queues
            self._sizes[self._where[key][0]] -= 1
        self._serial += 1
        self._where[key] = (queue, self._serial)
        self._freq[key] = freq
        self._queues[queue].append((key, self._serial))
        self._sizes[queue] += 1

    def _head(self, queue: int) -> Hashable:
        """The oldest live key of ``queue`` (stale entries dropped on the way)."""
        entries = self._queues[queue]
        while True:
            key, serial = entries[0]
            if self._where.get(key) == (queue, serial):
                return key
            entries.popleft()

    def _pop_head(self, queue: int) -> None:
        self._queues[queue].popleft()

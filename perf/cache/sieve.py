"""SIEVE (Zhang et al., NSDI 2024): a FIFO queue, one "visited" bit per key and a hand.

A hit only sets the key's bit (``set.add``, one C call: cheaper than LRU's
``OrderedDict.move_to_end``). To evict, the hand walks from the oldest key towards the newest,
clearing set bits, and evicts the first key whose bit is clear; it stays where it stopped and
wraps to the oldest key at the newest end. Keys that were hit stay in place (LRU and CLOCK move
them to the front), so new keys that are never hit again leave quickly while popular ones stay.
Measured here (``miss_ratio_curve``, ``benchmarks/bench_policy.py``, README "Eviction
policies"): on Zipf traces it reaches LRU's hit rate with well under 0.7x the entries.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

__all__ = ["SievePolicy"]


class _Hole:
    """Marks the queue slot of a removed key (``None`` is a valid key)."""

    __slots__ = ()


_HOLE = _Hole()


class SievePolicy:
    """SIEVE eviction for ``MemoryCache(policy=SievePolicy)``; knows nothing of the capacity.

    The queue is a list in insertion order (index 0 the oldest) with holes where keys were
    removed, and a dict from key to slot; holes are squeezed out when they are half the list,
    so every operation is amortised O(1). Thread-safety as ``LRUPolicy``: every call but
    ``on_hit`` runs under the cache's lock; ``on_hit`` (``set.add``) runs lock-free on the hit
    path, so a hit racing the key's eviction may leave a stale bit, which is dropped when the
    key comes back (``on_insert``) or by the periodic sweep below.
    """

    __slots__ = ("_hand", "_holes", "_queue", "_since_sweep", "_slot", "_visited", "on_hit")

    def __init__(self) -> None:
        self._queue: list[Hashable] = []
        self._slot: dict[Hashable, int] = {}
        self._visited: set[Hashable] = set()
        self._hand = 0
        self._holes = 0
        self._since_sweep = 0
        self.on_hit: Callable[[Hashable], object] = self._visited.add

    def on_insert(self, key: Hashable) -> None:
        self._visited.discard(key)  # a stale bit from a hit that raced an eviction
        self._slot[key] = len(self._queue)
        self._queue.append(key)

    def on_remove(self, key: Hashable) -> None:
        self._queue[self._slot.pop(key)] = _HOLE
        self._visited.discard(key)
        self._holes += 1
        if self._holes > 64 and self._holes * 2 > len(self._queue):
            self._squeeze()

    def victim(self) -> Hashable:
        queue, visited = self._queue, self._visited
        hand = self._hand
        while True:
            if hand >= len(queue):
                hand = 0
            key = queue[hand]
            if key is _HOLE:
                hand += 1
            elif key in visited:
                visited.discard(key)
                hand += 1
            else:
                self._hand = hand
                self._since_sweep += 1
                if self._since_sweep > len(self._slot):
                    self._sweep()
                return key

    def clear(self) -> None:
        self._queue.clear()
        self._slot.clear()
        self._visited.clear()
        self._hand = self._holes = self._since_sweep = 0

    def _squeeze(self) -> None:
        """Drop the holes; the hand keeps pointing at the same live key."""
        live_before_hand = sum(1 for key in self._queue[: self._hand] if key is not _HOLE)
        self._queue = [key for key in self._queue if key is not _HOLE]
        self._slot = {key: index for index, key in enumerate(self._queue)}
        self._hand = live_before_hand
        self._holes = 0

    def _sweep(self) -> None:
        """Forget bits of keys no longer present (left by hits that raced an eviction).

        ``list(set)`` copies in one C call, so a concurrent ``add`` cannot break the loop.
        """
        self._since_sweep = 0
        for key in list(self._visited):
            if key not in self._slot:
                self._visited.discard(key)

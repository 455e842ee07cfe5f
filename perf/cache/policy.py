"""Eviction policies for the memory tier.

A policy only orders keys; the cache owns the values. ``on_hit`` runs on every hit, so a
policy should make it a C-level bound method where it can (LRU: ``OrderedDict.move_to_end``).
LRU is the default, as in the spec. The protocol is shaped so that a SIEVE / S3-FIFO /
W-TinyLFU policy (the same hit rate as LRU in about a third less memory, in published
simulations) can be added without touching the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = ["EvictionPolicy", "LRUPolicy"]


class EvictionPolicy(Protocol):
    """What the memory tier asks of a policy. All calls happen under the cache's lock."""

    on_hit: Callable[[Hashable], object]
    """Record a hit on a key that is present."""

    def on_insert(self, key: Hashable) -> None:
        """Record a new key (never one already present)."""

    def on_remove(self, key: Hashable) -> None:
        """Forget a key that is present (deleted, expired or invalidated)."""

    def victim(self) -> Hashable:
        """The key to evict next; only called while at least one key is present."""

    def clear(self) -> None:
        """Forget every key."""


class LRUPolicy:
    """Least recently used: evict the key whose last hit or insert is oldest."""

    __slots__ = ("_order", "on_hit")

    def __init__(self) -> None:
        self._order: OrderedDict[Hashable, None] = OrderedDict()
        self.on_hit: Callable[[Hashable], object] = self._order.move_to_end

    def on_insert(self, key: Hashable) -> None:
        self._order[key] = None

    def on_remove(self, key: Hashable) -> None:
        del self._order[key]

    def victim(self) -> Hashable:
        # Hits move keys without the cache's lock, so a hit between iter() and next() makes
        # the OrderedDict raise "mutated during iteration": look again, the order is valid.
        while True:
            try:
                return next(iter(self._order))
            except RuntimeError:
                continue

    def clear(self) -> None:
        self._order.clear()

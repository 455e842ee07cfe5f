"""Cross-process invalidation: a memory tier that follows the writes of other processes.

A ``RedisCache`` made with ``notify=True`` publishes, in the same round trip as each write or
delete, which keys changed (keys, a prefix, a suffix, or everything). ``Coherence`` subscribes
to that channel in a thread and drops those keys from one process's memory tier, so another
process's ``invalidate`` or overwrite reaches this memory tier within the time a pub/sub
message takes (measured: README, "Redis"), not at the end of the entry's TTL.

Two rules keep it correct when messages and lookups interleave, or messages are lost:

- **Generations.** Every message bumps a counter and records it against the keys it names
  (a prefix, suffix or clear message against all keys). A value read from Redis (or just
  written) goes into memory only if no message about its key arrived since the read began,
  checked and stored under the same lock the messages are applied under; otherwise it stays
  out (a later lookup reads Redis again). A message can therefore never be overtaken by an
  older value, and other keys' messages do not keep a key out of memory. The record of
  recent keys is bounded (``RECENT_KEYS``); past it, the oldest give way to one
  conservative floor.
- **No subscription, no memory tier.** Pub/sub does not replay what a subscriber missed. While
  the subscription is not live (not yet connected, the server gone, or silent past
  ``liveness`` seconds though pinged), the memory tier is emptied and nothing is stored in
  it; it is emptied again when the subscription comes back. The hit path is untouched: an
  empty memory tier simply has no hits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from perf.cache.memory import MemoryCache
from perf.cache.redis_plans import parse_invalidation
from perf.cache.redis_tier import RedisCache

__all__ = ["RECENT_KEYS", "Coherence"]

RECENT_KEYS = 10_000  # keys whose last invalidation is remembered one by one

log = logging.getLogger(__name__)


class Coherence:
    """Keeps ``memory`` coherent with the writes other processes make through ``tier``."""

    def __init__(
        self,
        tier: RedisCache,
        memory: MemoryCache,
        *,
        ping_every: float = 1.0,
        liveness: float = 3.0,
        reconnect_after: float = 0.5,
    ) -> None:
        self.tier, self.memory = tier, memory
        self.ping_every, self.liveness, self.reconnect_after = ping_every, liveness, reconnect_after
        self.generation = 0
        self._broad = 0  # generation of the last message about many keys, or of a reconnect
        self._recent: OrderedDict[Hashable, int] = OrderedDict()  # key -> its last message
        self.live = False
        self.lock = threading.Lock()
        self.messages = self.dropped = self.connects = self.disconnects = 0
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"perf-coherence {tier.namespace}", daemon=True
        )
        self._thread.start()
        # The first writes should already be covered: wait (briefly) for the subscription.
        self._connected.wait(max(1.0, 4 * tier.timeout))

    # -- what the two-tier cache calls -------------------------------------------------------

    def store(self, key: Hashable, entry: Any, ttl: float, since: int) -> bool:
        """Put ``entry`` in memory unless a message about ``key`` arrived since ``since``."""
        with self.lock:
            if self.live and self._broad <= since and self._recent.get(key, 0) <= since:
                self.memory.set(key, entry, ttl)
                return True
            self.memory.delete(key)
            return False

    def stats(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "messages": self.messages,
            "dropped_keys": self.dropped,
            "connects": self.connects,
            "disconnects": self.disconnects,
        }

    def close(self) -> None:
        self._stop.set()
        self._thread.join(self.liveness + 2 * self.tier.timeout + 1)

    # -- the subscriber thread ---------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._subscribe_and_listen()
            except Exception as exc:  # any failure: memory off, reconnect after a pause
                log.debug("perf cache coherence %s: %s", self.tier.channel, exc)
            self._set_live(False)
            self._stop.wait(self.reconnect_after)

    def _subscribe_and_listen(self) -> None:
        client = self.tier.new_client(socket_timeout=self.liveness)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.tier.channel)
            heard = last_ping = time.monotonic()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=min(0.05, self.ping_every))
                now = time.monotonic()
                if message is not None:
                    heard = now
                    self._handle(message)
                if now - last_ping >= self.ping_every:
                    pubsub.ping()
                    last_ping = now
                if now - heard > self.liveness:
                    raise TimeoutError(f"no reply from the server for {self.liveness} s")
        finally:
            pubsub.close()
            client.close()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            self._set_live(True)
        elif kind == "message":
            self._apply(message.get("data"))

    def _apply(self, data: object) -> None:
        parsed = parse_invalidation(data)
        if parsed is None:
            return
        origin, op, args = parsed
        if origin == self.tier.origin:
            return  # this process's own write: its memory tier is already right
        drop = _DROPS[op]
        with self.lock:
            self.generation += 1
            self.messages += 1
            if op == "k":
                recent = self._recent
                for key in args:
                    recent[key] = self.generation
                    recent.move_to_end(key)
                while len(recent) > RECENT_KEYS:  # forget the oldest: a floor for every key
                    self._broad = max(self._broad, recent.popitem(last=False)[1])
            else:
                self._broad = self.generation
            self.dropped += drop(self.memory, args)

    def _set_live(self, live: bool) -> None:
        with self.lock:
            if live == self.live:
                return
            # Either way, what memory holds may have missed messages: start empty.
            self.generation += 1
            self._broad = self.generation
            self.memory.clear()
            self.live = live
            if live:
                self.connects += 1
                self._connected.set()
            else:
                self.disconnects += 1
        if live:
            log.debug("perf cache coherence %s: subscribed", self.tier.channel)
        elif not self._stop.is_set():
            log.warning(
                "perf cache coherence %s: subscription lost; the memory tier is off until "
                "it is back",
                self.tier.channel,
            )


def _drop_keys(memory: MemoryCache, keys: list[str]) -> int:
    return sum(memory.delete(key) for key in keys)


def _drop_prefix(memory: MemoryCache, prefixes: list[str]) -> int:
    return sum(memory.invalidate_prefix(prefix) for prefix in prefixes)


def _drop_suffix(memory: MemoryCache, suffixes: list[str]) -> int:
    ends = tuple(suffixes)
    return memory.invalidate_if(lambda key: isinstance(key, str) and key.endswith(ends))


def _drop_all(memory: MemoryCache, _args: list[str]) -> int:
    size = len(memory)
    memory.clear()
    return size


_DROPS: dict[str, Callable[[MemoryCache, list[str]], int]] = {
    "k": _drop_keys,
    "p": _drop_prefix,
    "s": _drop_suffix,
    "c": _drop_all,
}

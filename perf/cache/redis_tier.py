"""The Redis/Valkey tier: a cache shared by processes and hosts, with a per-entry TTL.

Needs the ``redis`` package (``pip install 'perf[redis]'``), imported when the first cache is
made: ``import perf.cache`` stays standard library only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from perf.cache._validate import DEFAULT_TTL, check_size, check_ttl
from perf.cache.memory import MISSING
from perf.cache.redis_plans import (
    Batch,
    Plan,
    delete_plan,
    encode_envelope,
    entry_from,
    glob_escape,
    invalidation_message,
    scan_delete_plan,
    set_notify_plan,
    set_plan,
)
from perf.cache.serializers import JSONSerializer, Serializer
from perf.cache.stats import CacheStats
from perf.errors import ConfigurationError, SerializationError

__all__ = ["RedisCache", "import_redis"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def import_redis() -> Any:
    """The redis-py package, or a ConfigurationError that says how to install it."""
    try:
        import redis  # noqa: PLC0415 - optional extra, imported on first use
        import redis.asyncio  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "the Redis tier needs the redis package: pip install 'perf[redis]' (or redis>=5)"
        ) from None
    return redis


class RedisCache:
    """A cache in a Redis or Valkey server, for every process that uses the same URL.

    ``get``/``set``/``delete``/``invalidate_prefix``/``clear`` block; ``aget``/``aset``/...
    are their asyncio forms: both run the same plans (``perf.cache.redis_plans``). Keys are
    str, stored under ``namespace``; values go through ``serializer`` (JSON unless you opt
    into ``PickleSerializer``). Each entry carries its write time and expiry by ``clock``
    (misses once expired, as in the other tiers), and the server gets the TTL too, so the
    server's eviction (``maxmemory`` with an ``allkeys-*`` or ``volatile-*`` policy) bounds
    the size: ``stats()["server"]`` shows its limit, policy and evictions.

    Connections come from a pool of ``max_connections`` per process (and per event loop for
    the asyncio forms); a full pool waits at most ``timeout``. Faults never raise from the
    hot path: a server that is down, refuses, or does not answer within ``timeout`` seconds
    makes a lookup a miss and a write a dropped write (``errors``, ``dropped``), and opens a
    circuit: for ``retry_after`` seconds the server is not tried at all (``skipped``;
    ``stats()["mode"]`` is ``unavailable``), then one call tries it again. An error reply
    (e.g. out of memory under ``noeviction``) or a full pool is counted the same way, without
    opening the circuit. With ``notify``, every delete and every write that changes a value
    also publishes an invalidation on ``channel`` in the same round trip, for the memory tiers
    of other processes (TwoTierCache); a write of the value already stored publishes nothing
    (``unchanged`` counts those).
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "perf:",
        default_ttl: float = DEFAULT_TTL,
        serializer: Serializer | None = None,
        timeout: float = 0.25,
        retry_after: float = 2.0,
        max_connections: int = 16,
        max_value_bytes: int = 1024 * 1024,
        notify: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                f"redis_url must be a redis://, rediss:// or unix:// URL, got {url!r}; "
                "e.g. redis://127.0.0.1:6379/0"
            )
        if not isinstance(namespace, str) or not namespace:
            raise ConfigurationError(f"namespace must be a non-empty str, got {namespace!r}")
        self.url = url
        self.namespace = namespace
        self.default_ttl = check_ttl(default_ttl, "default_ttl")
        self.timeout = check_ttl(timeout, "timeout")
        self.retry_after = check_ttl(retry_after, "retry_after")
        self.max_connections = check_size(max_connections, "max_connections")
        self.max_value_bytes = check_size(max_value_bytes, "max_value_bytes")
        self.channel = f"perf-invalidate:{namespace}"
        self.origin = uuid.uuid4().hex  # tells this cache's own messages from the others'
        self.notify = notify
        self._serializer = serializer or JSONSerializer()
        self._clock = clock
        self._stats = CacheStats()
        self._dropped = self._skipped = self._unchanged = 0
        self._down_until = -float("inf")  # the circuit: closed while this is in the past
        self._failing = False
        self._lock = threading.Lock()
        self._redis = import_redis()
        self._faults: tuple[type[BaseException], ...] = (self._redis.RedisError, OSError)
        self._down_faults: tuple[type[BaseException], ...] = (
            self._redis.ConnectionError,
            self._redis.TimeoutError,
            OSError,
        )
        self._client = self._redis.Redis(connection_pool=self._pool(self._redis))
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def _pool(self, module: Any, **extra: Any) -> Any:
        """A blocking pool (waits at most ``timeout`` for a free connection), no retries."""
        return module.BlockingConnectionPool.from_url(
            self.url,
            max_connections=self.max_connections,
            timeout=self.timeout,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=self._redis.retry.Retry(self._redis.backoff.NoBackoff(), 0),
            **extra,
        )

    def new_client(self, **extra: Any) -> Any:
        """A blocking client of its own (not from the pool), e.g. for a subscriber."""
        return self._redis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeout,
            retry=self._redis.retry.Retry(self._redis.backoff.NoBackoff(), 0),
            **extra,
        )

    # -- the plans, shared by the sync and async forms --------------------------------------

    def _key(self, key: str) -> str:
        if not isinstance(key, str):
            raise SerializationError(
                f"Redis cache keys are str, got {type(key).__name__} {key!r}; build a string key"
            )
        return self.namespace + key

    def _publish(self, op: str, args: Iterable[str]) -> tuple[bytes, bytes] | None:
        if not self.notify:
            return None
        return self.channel.encode(), invalidation_message(self.origin, op, args)

    def _get_plan(self, key: str, max_age: float | None) -> Plan[tuple[Any, float, float]]:
        (raw,) = yield [("GET", key)]
        payload, created_at, expires_at, outcome = entry_from(raw, self._clock(), max_age)
        if outcome == "hit":
            try:
                value = self._serializer.loads(payload)
            except Exception as exc:  # a bad entry is a miss, whatever the serializer raised
                self._note_fault(f"decode of {key!r}", exc, down=False)
            else:
                self._stats.hits += 1
                return value, created_at, expires_at
        elif outcome == "expired":
            self._stats.expirations += 1
        elif outcome == "bad":
            self._note_fault(f"read of {key!r}", ValueError("not a perf cache entry"), down=False)
        self._stats.misses += 1
        return MISSING, 0.0, 0.0

    def _set_items(
        self, pairs: Iterable[tuple[str, Any]], ttl: float | None
    ) -> tuple[list[tuple[str, bytes, float]], list[str]]:
        """Validate and encode before any I/O: a bad TTL, key or value raises here."""
        ttl = self.default_ttl if ttl is None else check_ttl(ttl)
        now = self._clock()
        items, keys = [], []
        for key, value in pairs:
            redis_key = self._key(key)
            data = self._serializer.dumps(value)
            if len(data) > self.max_value_bytes:
                raise SerializationError(
                    f"a value of {len(data)} bytes is over max_value_bytes="
                    f"{self.max_value_bytes}; raise it or store less"
                )
            items.append((redis_key, encode_envelope(data, now, now + ttl), ttl))
            keys.append(key)
        return items, keys

    def _stored_plan(self, items: list[tuple[str, bytes, float]], keys: list[str]) -> Plan[bool]:
        if self.notify:
            changed = yield from set_notify_plan(items, keys, self.channel.encode(), self.origin)
            self._unchanged += len(items) - changed
        else:
            yield from set_plan(items)
        self._stats.sets += len(items)
        return True

    def _prefix_plan(self, prefix: str) -> Plan[int]:
        pattern = glob_escape(self.namespace + prefix) + "*"
        return scan_delete_plan(pattern, None, self._publish("p", [prefix]))

    def _suffix_plan(self, suffix: str) -> Plan[int]:
        pattern = glob_escape(self.namespace) + "*" + glob_escape(suffix)
        return scan_delete_plan(pattern, None, self._publish("s", [suffix]))

    # -- blocking API ----------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` when absent, expired, unreadable or down."""
        value = self._run(self._get_plan(self._key(key), None), _MISS, "read")[0]
        return default if value is MISSING else value

    def get_entry(self, key: str, max_age: float | None = None) -> tuple[Any, float, float]:
        """``(value, created_at, expires_at)``, or ``(MISSING, 0, 0)`` on a miss."""
        return self._run(self._get_plan(self._key(key), max_age), _MISS, "read")

    def set(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` for ``ttl`` seconds; False if the write was dropped."""
        items, keys = self._set_items([(key, value)], ttl)
        return self._run(self._stored_plan(items, keys), False, "write", len(items))

    def set_many(
        self, items: Mapping[str, Any] | Iterable[tuple[str, Any]], ttl: float | None = None
    ) -> bool:
        """Store many values in one round trip; False if the write was dropped."""
        pairs = items.items() if isinstance(items, Mapping) else items
        encoded, keys = self._set_items(pairs, ttl)
        return self._run(self._stored_plan(encoded, keys), False, "write", len(encoded))

    def delete(self, key: str) -> bool:
        """Drop ``key``; True if it was present."""
        plan = delete_plan([self._key(key)], self._publish("k", [key]))
        return self._run(plan, 0, "delete") > 0

    def invalidate_prefix(self, prefix: str) -> int:
        """Drop every key that starts with ``prefix`` (a SCAN); returns how many."""
        return self._run(self._prefix_plan(prefix), 0, "delete")

    def invalidate_suffix(self, suffix: str) -> int:
        """Drop every key that ends with ``suffix`` (a SCAN); returns how many."""
        return self._run(self._suffix_plan(suffix), 0, "delete")

    def clear(self) -> None:
        """Drop every entry of this namespace (never the rest of the server's keys)."""
        pattern = glob_escape(self.namespace) + "*"
        self._run(scan_delete_plan(pattern, None, self._publish("c", [])), 0, "delete")

    def __len__(self) -> int:
        """Keys in this namespace (a SCAN; 0 while the server is unavailable)."""
        pattern = glob_escape(self.namespace) + "*"
        return self._run(_count_plan(pattern), 0, "read-size")

    # -- asyncio API: the same plans ---------------------------------------------------------

    async def aget(self, key: str, default: Any = None) -> Any:
        value = (await self._arun(self._get_plan(self._key(key), None), _MISS, "read"))[0]
        return default if value is MISSING else value

    async def aget_entry(self, key: str, max_age: float | None = None) -> tuple[Any, float, float]:
        return await self._arun(self._get_plan(self._key(key), max_age), _MISS, "read")

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> bool:
        items, keys = self._set_items([(key, value)], ttl)
        return await self._arun(self._stored_plan(items, keys), False, "write", len(items))

    async def adelete(self, key: str) -> bool:
        plan = delete_plan([self._key(key)], self._publish("k", [key]))
        return await self._arun(plan, 0, "delete") > 0

    async def ainvalidate_prefix(self, prefix: str) -> int:
        return await self._arun(self._prefix_plan(prefix), 0, "delete")

    async def aclear(self) -> None:
        pattern = glob_escape(self.namespace) + "*"
        await self._arun(scan_delete_plan(pattern, None, self._publish("c", [])), 0, "delete")

    # -- the two drivers ---------------------------------------------------------------------

    def _run(self, plan: Plan[T], fallback: T, what: str, count: int = 1) -> T:
        if self._down_until > self._clock():
            return self._skip(fallback, what, count)
        try:
            batch = next(plan)
            while True:
                batch = plan.send(_execute(self._client, batch))
        except StopIteration as done:
            self._recovered()
            return done.value  # type: ignore[no-any-return]
        except self._faults as exc:
            return self._fault(fallback, what, count, exc)

    async def _arun(self, plan: Plan[T], fallback: T, what: str, count: int = 1) -> T:
        if self._down_until > self._clock():
            return self._skip(fallback, what, count)
        try:
            client = self._async_client()
            batch = next(plan)
            while True:
                batch = plan.send(await _aexecute(client, batch))
        except StopIteration as done:
            self._recovered()
            return done.value  # type: ignore[no-any-return]
        except self._faults as exc:
            return self._fault(fallback, what, count, exc)

    def _async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._redis.asyncio.Redis(connection_pool=self._pool(self._redis.asyncio))
            self._async_clients[loop] = client
        return client

    # -- faults and the circuit --------------------------------------------------------------

    def _skip(self, fallback: T, what: str, count: int) -> T:
        self._skipped += 1
        self._count_failure(what, count)
        return fallback

    def _fault(self, fallback: T, what: str, count: int, exc: BaseException) -> T:
        self._count_failure(what, count)
        # A pool with no free connection within ``timeout`` is this process being busy,
        # not the server being down: counted, but the circuit stays closed.
        busy = "No connection available" in str(exc)
        self._note_fault(what, exc, down=isinstance(exc, self._down_faults) and not busy)
        return fallback

    def _count_failure(self, what: str, count: int) -> None:
        if what == "read":
            self._stats.misses += 1
        elif what == "write":
            self._dropped += count

    def _note_fault(self, what: str, exc: BaseException, *, down: bool) -> None:
        # Every fault is counted; the first of a run of them is logged as a warning, the
        # rest at debug level, so a server that is down cannot flood the service's log.
        self._stats.errors += 1
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        if down:
            self._down_until = self._clock() + self.retry_after
            log.log(level, "perf cache %s: %s failed (%s); not trying again for %.1f s",
                    self._safe_url(), what, exc, self.retry_after)  # fmt: skip
        else:
            log.log(level, "perf cache %s: %s failed (%s)", self._safe_url(), what, exc)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("perf cache %s: the server answers again", self._safe_url())

    def _safe_url(self) -> str:
        head, at, tail = self.url.rpartition("@")
        return f"{head.split('://')[0]}://***@{tail}" if at else self.url

    # -- introspection -----------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``read_write``, or ``unavailable`` while the circuit is open."""
        return "unavailable" if self._down_until > self._clock() else "read_write"

    def server_info(self) -> dict[str, Any] | None:
        """The server's memory limit, eviction policy, evictions and key count, or None."""
        if self._down_until > self._clock():
            return None
        try:
            info = self._client.info("memory") | self._client.info("stats")
            keys = self._client.dbsize()
        except self._faults as exc:
            self._note_fault("INFO", exc, down=isinstance(exc, self._down_faults))
            return None
        return {
            "keys": int(keys),
            "used_memory": int(info.get("used_memory", 0)),
            "maxmemory": int(info.get("maxmemory", 0)),
            "maxmemory_policy": str(info.get("maxmemory_policy", "")),
            "evicted_keys": int(info.get("evicted_keys", 0)),
        }

    def stats(self, *, server: bool = False) -> dict[str, Any]:
        """Hits, misses, hit_rate, sets, expirations, errors, dropped (writes not stored),
        skipped (calls while the circuit was open), mode, with ``notify`` unchanged (writes
        of the value already stored, not announced); with ``server``, the server's figures
        (``server_info``), which cost a round trip."""
        extra: dict[str, Any] = {"dropped": self._dropped, "skipped": self._skipped}
        if self.notify:
            extra["unchanged"] = self._unchanged
        if server:
            extra["server"] = self.server_info()
        return self._stats.as_dict(**extra, mode=self.mode, backend="redis")

    def reset_stats(self) -> None:
        self._stats.reset()
        self._dropped = self._skipped = self._unchanged = 0

    def close(self) -> None:
        """Close the blocking pool's connections (``aclose`` for the asyncio ones)."""
        self._client.close()
        self._client.connection_pool.disconnect()

    async def aclose(self) -> None:
        """Close this event loop's connections, and the blocking ones."""
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
            await client.connection_pool.disconnect()
        self.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_MISS: tuple[Any, float, float] = (MISSING, 0.0, 0.0)


def _execute(client: Any, batch: Batch) -> list[Any]:
    if len(batch) == 1:
        return [client.execute_command(*batch[0])]
    pipe = client.pipeline(transaction=False)
    for command in batch:
        pipe.execute_command(*command)
    return list(pipe.execute())


async def _aexecute(client: Any, batch: Batch) -> list[Any]:
    if len(batch) == 1:
        return [await client.execute_command(*batch[0])]
    pipe = client.pipeline(transaction=False)
    for command in batch:
        pipe.execute_command(*command)
    return list(await pipe.execute())


def _count_plan(pattern: str) -> Plan[int]:
    cursor: Any = 0
    total = 0
    while True:
        (reply,) = yield [("SCAN", cursor, "MATCH", pattern, "COUNT", 500)]
        cursor, keys = reply
        total += len(keys)
        if int(cursor) == 0:
            return total

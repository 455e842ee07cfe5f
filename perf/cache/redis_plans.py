"""The Redis tier's operations, free of I/O: what to send, and what the replies mean.

Each operation is a *plan*, a generator that yields a batch of commands (one round trip: a
single command or a non-transactional pipeline) and receives their replies. ``RedisCache``
runs the same plan with the blocking client (``get``) or the asyncio one (``aget``), so the
sync and async paths share every line that decides anything; only the two short drivers in
``redis_tier`` differ, in ``await``.

A value is stored as a small envelope: a magic tag, its write time and its expiry (both by
the cache's clock, so an injected clock decides expiry as in the other tiers), then the
serializer's bytes. The server gets the TTL too (``PX``), so expired entries do not pile up
and the server's eviction bounds the size.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

from perf.cache.memory import MISSING

__all__ = [
    "MAGIC",
    "Batch",
    "Plan",
    "decode_envelope",
    "delete_plan",
    "encode_envelope",
    "glob_escape",
    "invalidation_message",
    "parse_invalidation",
    "scan_delete_plan",
    "set_notify_plan",
    "set_plan",
]

T = TypeVar("T")
Command = tuple[Any, ...]
Batch = list[Command]
Plan = Generator[Batch, list[Any], T]

MAGIC = b"pc1"  # perf cache, envelope version 1
_HEADER = struct.Struct("<dd")  # created_at, expires_at (inf: never)
_PREFIX_LEN = len(MAGIC) + _HEADER.size
SCAN_COUNT = 500  # keys per SCAN step (a hint to the server) and per UNLINK


def encode_envelope(payload: bytes, created_at: float, expires_at: float) -> bytes:
    return MAGIC + _HEADER.pack(created_at, expires_at) + payload


def decode_envelope(raw: object) -> tuple[bytes, float, float]:
    """``(payload, created_at, expires_at)``; ValueError for anything this cache did not write."""
    if not isinstance(raw, bytes) or len(raw) < _PREFIX_LEN or not raw.startswith(MAGIC):
        raise ValueError(f"not a perf cache entry ({type(raw).__name__})")
    created_at, expires_at = _HEADER.unpack_from(raw, len(MAGIC))
    return raw[_PREFIX_LEN:], created_at, expires_at


def px(ttl: float) -> list[Any]:
    """The SET options for a TTL: PX in whole milliseconds (at least 1), none for infinity."""
    return [] if math.isinf(ttl) else ["PX", max(1, math.ceil(ttl * 1000))]


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


# -- cross-process invalidation messages -------------------------------------------------------


def invalidation_message(origin: str, op: str, args: Iterable[str]) -> bytes:
    """``op``: ``k`` (these keys), ``p`` (keys with this prefix), ``s`` (suffix), ``c`` (all)."""
    return json.dumps({"o": origin, "op": op, "a": list(args)}, separators=(",", ":")).encode()


def parse_invalidation(data: object) -> tuple[str, str, list[str]] | None:
    """``(origin, op, args)`` of a message, or None when it is not one of ours."""
    try:
        message = json.loads(data if isinstance(data, bytes | str) else b"")
        origin, op, args = message["o"], message["op"], message["a"]
    except (ValueError, TypeError, KeyError):
        return None
    if (
        not isinstance(origin, str)
        or op not in ("k", "p", "s", "c")
        or not isinstance(args, list)
        or not all(isinstance(a, str) for a in args)
    ):
        return None
    return origin, op, args


# -- plans -----------------------------------------------------------------------------------


def set_plan(items: list[tuple[str, bytes, float]]) -> Plan[list[Any]]:
    """SET each ``(redis key, envelope, ttl)``: one round trip."""
    return (yield [("SET", key, envelope, *px(ttl)) for key, envelope, ttl in items])


# A write that announces itself stores each entry and publishes one message naming the keys
# whose value changed (absent before, or other bytes past the envelope's times), or none at
# all. Run on the server, so the comparison, the write and the message are one atomic step: a
# change is always announced, and rewriting the same value (as several workers computing the
# same result do) leaves the other processes' memory copies alone, which are still right.
SET_NOTIFY_SCRIPT = f"""
local changed = {{}}
for i, key in ipairs(KEYS) do
  local at = 3 * i
  local envelope, ms = ARGV[at], tonumber(ARGV[at + 1])
  local old = redis.call('GET', key)
  if ms > 0 then
    redis.call('SET', key, envelope, 'PX', ms)
  else
    redis.call('SET', key, envelope)
  end
  if not old or string.sub(old, {_PREFIX_LEN + 1}) ~= string.sub(envelope, {_PREFIX_LEN + 1}) then
    changed[#changed + 1] = ARGV[at + 2]
  end
end
if #changed > 0 then
  redis.call('PUBLISH', ARGV[1], cjson.encode({{o = ARGV[2], op = 'k', a = changed}}))
end
return #changed
"""


def set_notify_plan(
    items: list[tuple[str, bytes, float]], keys: list[str], channel: bytes, origin: str
) -> Plan[int]:
    """SET each ``(redis key, envelope, ttl)`` and PUBLISH the cache ``keys`` (same order)
    whose value changed, in one script: how many changed."""
    args: list[Any] = [channel, origin]
    for (_, envelope, ttl), key in zip(items, keys, strict=True):
        args += [envelope, 0 if math.isinf(ttl) else px(ttl)[1], key]  # 0: no expiry
    redis_keys = [redis_key for redis_key, _, _ in items]
    (changed,) = yield [("EVAL", SET_NOTIFY_SCRIPT, len(redis_keys), *redis_keys, *args)]
    return int(changed)


def delete_plan(keys: list[str], publish: tuple[bytes, bytes] | None) -> Plan[int]:
    """UNLINK ``keys`` (and PUBLISH): how many existed."""
    batch: Batch = [("UNLINK", *keys)]
    if publish is not None:
        batch.append(("PUBLISH", *publish))
    replies = yield batch
    return int(replies[0])


def scan_delete_plan(pattern: str, keep: Any, publish: tuple[bytes, bytes] | None) -> Plan[int]:
    """UNLINK every key matching ``pattern`` for which ``keep(key)`` is false; how many went.

    SCAN walks the keyspace in steps (never KEYS, which blocks the server); ``keep`` is a
    final check in Python for what a glob cannot say exactly.
    """
    cursor: Any = 0
    dropped = 0
    while True:
        (reply,) = yield [("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)]
        cursor, found = _scan_reply(reply)
        doomed = [k for k in found if keep is None or not keep(k)]
        for start in range(0, len(doomed), SCAN_COUNT):
            (count,) = yield [("UNLINK", *doomed[start : start + SCAN_COUNT])]
            dropped += int(count)
        if int(cursor) == 0:
            break
    if publish is not None:
        yield [("PUBLISH", *publish)]
    return dropped


def _scan_reply(reply: Any) -> tuple[Any, list[bytes]]:
    cursor, keys = reply  # redis-py turns SCAN's reply into (cursor, [keys])
    return cursor, list(keys)


def entry_from(raw: object, now: float, max_age: float | None) -> tuple[Any, float, float, str]:
    """Classify a GET reply: ``(payload, created, expires, outcome)`` where outcome is
    ``hit``, ``miss``, ``expired`` or ``bad`` (payload is MISSING unless ``hit``)."""
    if raw is None:
        return MISSING, 0.0, 0.0, "miss"
    try:
        payload, created_at, expires_at = decode_envelope(raw)
    except ValueError:
        return MISSING, 0.0, 0.0, "bad"
    if expires_at <= now:
        return MISSING, 0.0, 0.0, "expired"
    if max_age is not None and created_at + max_age <= now:
        return MISSING, 0.0, 0.0, "miss"
    return payload, created_at, expires_at, "hit"

"""Cache keys built from a function's arguments."""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["KWARGS_MARK", "call_key", "split_call_key", "string_key"]


class _KwargsMark:
    """Separates positional from keyword arguments in a call key; equal only to itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "KWARGS_MARK"


KWARGS_MARK = _KwargsMark()
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def call_key(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable:
    """The in-process key of a call: the positional args, plus the sorted keyword args.

    ``f(1)`` and ``f(x=1)`` are different keys (as with functools.lru_cache). Hashing happens
    at lookup, so an unhashable argument raises TypeError there.
    """
    if kwargs:
        return (args, KWARGS_MARK, tuple(sorted(kwargs.items())))
    return args


def split_call_key(key: Hashable) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``(args, kwargs)`` a call key was built from."""
    assert isinstance(key, tuple)
    if len(key) == 3 and key[1] is KWARGS_MARK:
        return key[0], dict(key[2])
    return key, {}


def string_key(namespace: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """A key that is the same in every process: the arguments as canonical JSON."""
    try:
        encoded = _CANONICAL_JSON.encode([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot build a cache key for {namespace} from its arguments ({exc}); a "
            "file-backed cache needs JSON-encodable arguments (str, numbers, lists, dicts): "
            "pass such values, or give @cached a key= function"
        ) from None
    return f"{namespace}:{encoded}"

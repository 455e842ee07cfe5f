"""Cache keys built from a function's arguments."""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["string_key", "tuple_key"]


def tuple_key(namespace: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable:
    """A fast in-process key: the namespace, the positional args, the sorted keyword args.

    ``f(1)`` and ``f(x=1)`` are different keys (as with functools.lru_cache). Hashing happens
    at lookup; an unhashable argument raises TypeError there.
    """
    if kwargs:
        return (namespace, args, tuple(sorted(kwargs.items())))
    return (namespace, args)


def string_key(namespace: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """A key that is the same in every process: the arguments as canonical JSON."""
    try:
        encoded = json.dumps([args, kwargs], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot build a cache key for {namespace} from its arguments ({exc}); a "
            "file-backed cache needs JSON-encodable arguments (str, numbers, lists, dicts): "
            "pass such values, or give @cached a key= function"
        ) from None
    return f"{namespace}:{encoded}"

"""Value serializers for the SQLite tier.

JSON is the default: opening a cache file must never execute code. Pickle round-trips any
Python object but runs code from the file when loading, so it is opt-in, for files that only
trusted processes write.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol

from perf.errors import SerializationError

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer"]


class Serializer(Protocol):
    """Turns values into bytes and back."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class JSONSerializer:
    """JSON: None, bool, numbers, str, lists and str-keyed dicts (tuples come back as lists)."""

    # One encoder for every call: json.dumps with options builds a new one each time.
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def dumps(self, value: Any) -> bytes:
        try:
            return self._encoder.encode(value).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"cannot store a value of type {type(value).__name__} as JSON ({exc}); convert "
                "it to dicts, lists, str and numbers first, or pass "
                "serializer=PickleSerializer() if only trusted processes write this cache file"
            ) from None

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class PickleSerializer:
    """Pickle: any picklable object. Loading runs code from the file: trusted files only."""

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise SerializationError(
                f"cannot pickle a value of type {type(value).__name__}: {exc}"
            ) from None

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - opt-in, documented as trusted-files-only

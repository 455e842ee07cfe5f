"""Argument checks shared by the cache tiers; each failure says what was wrong and what to do."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from perf.errors import ConfigurationError, UnknownOptionError

DEFAULT_TTL = 3600.0


def check_ttl(ttl: object, name: str = "ttl") -> float:
    """A TTL is a positive number of seconds (``math.inf`` for never)."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ConfigurationError(
            f"{name} must be a number of seconds, got {type(ttl).__name__} {ttl!r}; "
            "pass e.g. 3600, or math.inf for entries that never expire"
        )
    if math.isnan(ttl) or ttl <= 0:
        raise ConfigurationError(
            f"{name} must be > 0 seconds, got {ttl!r}; use delete() to drop an entry instead"
        )
    return float(ttl)


def check_size(value: object, name: str) -> int:
    """A size bound is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_db_path(path: object) -> Path:
    """A cache file path whose directory exists."""
    if not isinstance(path, str | Path) or not str(path):
        raise ConfigurationError(f"cache_db_path must be a file path, got {path!r}")
    resolved = Path(path)
    if str(path) == ":memory:":
        raise ConfigurationError(
            "cache_db_path=':memory:' would not persist; use MemoryCache for a process-local "
            "cache, or give a file path"
        )
    if not resolved.parent.is_dir():
        raise ConfigurationError(
            f"cache_db_path {str(resolved)!r}: directory {str(resolved.parent)!r} does not "
            "exist; create it first or choose another path"
        )
    if resolved.is_dir():
        raise ConfigurationError(f"cache_db_path {str(resolved)!r} is a directory, not a file")
    return resolved


# Likely slips, and the option meant: the guide's `ttl=` is the entry TTL on set/get calls.
_MEANT = {
    "ttl": "default_ttl= (or ttl_seconds= on get and set)",
    "ttl_seconds": "default_ttl= (or ttl_seconds= on get and set)",
    "max_bytes": "max_disk_bytes=",
    "db_path": "cache_db_path=",
    "path": "cache_db_path=",
}


def check_options(owner: str, given: Mapping[str, object], known: Iterable[str]) -> None:
    """Refuse keyword arguments ``owner`` does not take, naming each and the known ones."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        hints = [f"{name}=: did you mean {_MEANT[name]}?" for name in unknown if name in _MEANT]
        raise UnknownOptionError(
            f"{owner} got unknown keyword argument(s) {', '.join(map(repr, unknown))}"
            + (f" ({' '.join(hints)})" if hints else "")
            + f"; it takes: {', '.join(known)}"
        )

"""The one error hierarchy of perf.

Every error names what was wrong and what to do about it. Each class also derives from the
built-in exception a caller would naturally catch (ValueError, TypeError, TimeoutError), so
code that does not know perf still handles it sensibly.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "CacheCorruptError",
    "CacheError",
    "ConfigurationError",
    "EncodingDataError",
    "MissingRunFileError",
    "PerfError",
    "PoolExhaustedError",
    "SerializationError",
    "TokenBudgetError",
    "UnknownModelError",
    "UnknownOptionError",
    "UnknownRelationshipError",
]

# The exit codes every command shares: bad input (say what was wrong and what to do), Ctrl-C.
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class PerfError(Exception):
    """Base class of every error raised by perf."""


class ConfigurationError(PerfError, ValueError):
    """A bad argument or setting: a negative TTL, a zero size bound, a missing directory."""


class CacheError(PerfError):
    """A cache could not do what was asked."""


class CacheCorruptError(CacheError):
    """The file at a cache path is not a perf cache, or is damaged beyond repair."""


class EncodingDataError(PerfError, ValueError):
    """A shipped token-encoding file is missing, damaged, or fails its hash check."""


class SerializationError(CacheError, TypeError):
    """A value (or a cache key argument) cannot be serialized with the chosen serializer."""


class TokenBudgetError(PerfError, ValueError):
    """A prompt cannot be made to fit its token budget (e.g. the parts that are never cut)."""


class UnknownModelError(PerfError, ValueError):
    """A model name that maps to no known encoding."""


class UnknownOptionError(PerfError, TypeError):
    """A keyword argument the function or class does not take (a typo, or another's option)."""


class UnknownRelationshipError(PerfError, ValueError):
    """A relationship name that the model does not have."""


class PoolExhaustedError(PerfError, TimeoutError):
    """No database connection became free within the pool timeout."""


class MissingRunFileError(PerfError, FileNotFoundError):
    """A run folder lacks a file a report or check needs; says which command writes it."""

    def __init__(self, run: object, name: str, command: str) -> None:
        self.run = run
        self.name = name
        super().__init__(f"run folder {run} has no {name}: run `{command}` first")

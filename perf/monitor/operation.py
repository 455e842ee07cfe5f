"""One operation's figures: a whole-run sketch plus a ring of short time slots (the recent window).

The record path is the hot path, so it takes no lock: it appends the duration to a pending list
(``list.append`` is atomic) and compares the timestamp with the current slot's end. Every
``FLUSH_AT`` samples, at a slot change, and before every read, the pending durations are folded
into the current slot's sketch in one batch under a short lock. Folding removes exactly the
samples it read (``del pending[:n]``), so an append racing with a fold is never lost.

Slots are ``slot_seconds`` long, on the monitor's clock. A slot that falls out of the recent
window is merged into the retired sketch, so the whole-run figures are retired + live slots and
each sample is bucketed once. Memory: at most ``window_slots + 1`` live sketches per operation,
plus a pending list of at most ``FLUSH_AT`` floats, plus the two sums of the closed slots below.

Reads merge only the current slot: the closed slots' sums (whole run, recent window) are kept
until a slot closes, the window moves or another worker's figures are merged. Merging every
slot on every read made ``/performance/stats`` a 38 ms stall of the event loop with 20
operations, which every request arriving meanwhile waited out (README, "Verdicts").
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from perf.monitor.sketch import QuantileSketch

__all__ = ["FLUSH_AT", "QUANTILES", "OperationRecorder", "Summary", "parse_recorder_dict"]

FLUSH_AT = 1024
QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
)


class Summary:
    """A sketch plus an error count: the figures of one slot, or of a whole run."""

    __slots__ = ("errors", "sketch")

    def __init__(self, relative_accuracy: float) -> None:
        self.sketch = QuantileSketch(relative_accuracy)
        self.errors = 0

    def merge(self, other: Summary) -> None:
        self.sketch.merge(other.sketch)
        self.errors += other.errors

    def copy(self) -> Summary:
        clone = Summary(self.sketch.relative_accuracy)
        clone.sketch = self.sketch.copy()
        clone.errors = self.errors
        return clone

    def stats(self) -> dict[str, Any]:
        """count, errors, total/min/max/avg and the quantiles, in seconds (None when empty)."""
        s = self.sketch
        stats: dict[str, Any] = {
            "count": s.count,
            "errors": self.errors,
            "total_time": s.total,
            "min_time": s.min if s.count else None,
            "max_time": s.max if s.count else None,
            "avg_time": s.total / s.count if s.count else None,
        }
        values = s.quantiles(q for _, q in QUANTILES)
        stats.update((name, value) for (name, _), value in zip(QUANTILES, values, strict=True))
        return stats

    def to_dict(self) -> dict[str, Any]:
        return {"errors": self.errors, "sketch": self.sketch.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        sketch = QuantileSketch.from_dict(data["sketch"])
        summary = cls(sketch.relative_accuracy)
        summary.sketch = sketch
        summary.errors = int(data["errors"])
        return summary


class OperationRecorder:
    """Durations of one named operation; ``add`` is safe from any thread without a lock."""

    __slots__ = (
        "_closed",
        "_closed_key",
        "_current",
        "_current_index",
        "_lock",
        "_pending",
        "_relative_accuracy",
        "_retired",
        "_slot_end",
        "_slot_seconds",
        "_slots",
        "_version",
        "_window_slots",
        "name",
    )

    def __init__(
        self, name: str, relative_accuracy: float, slot_seconds: float, window_slots: int
    ) -> None:
        self.name = name
        self._relative_accuracy = relative_accuracy
        self._slot_seconds = slot_seconds
        self._window_slots = window_slots
        self._lock = threading.Lock()
        self._pending: list[float] = []
        self._retired = Summary(relative_accuracy)
        self._slots: dict[int, Summary] = {}
        self._current = Summary(relative_accuracy)
        self._current_index: int | None = None  # no slot yet
        self._slot_end = -math.inf  # the first add opens a slot
        self._version = 0  # changes whenever a slot other than the current one may change
        self._closed_key: tuple[int, int] | None = None
        self._closed = (Summary(relative_accuracy), Summary(relative_accuracy))

    # -- the hot path -------------------------------------------------------------------------

    def add(self, seconds: float, now: float) -> None:
        """Record one duration that ended at ``now`` (monitor clock)."""
        if now >= self._slot_end:
            self._open_slot(now)
        pending = self._pending
        pending.append(seconds)
        if len(pending) >= FLUSH_AT:
            self.flush()

    def add_error(self, seconds: float, now: float) -> None:
        """Record one failed call: its duration counts, and so does the error."""
        self.add(seconds, now)
        with self._lock:
            self._current.errors += 1

    # -- folding and slots --------------------------------------------------------------------

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        pending = self._pending
        n = len(pending)
        if n:
            batch = pending[:n]
            del pending[:n]  # first: a batch the sketch rejects must not wedge every later add
            self._current.sketch.add_many(batch)

    def _open_slot(self, now: float) -> None:
        with self._lock:
            if now < self._slot_end:  # another thread opened it meanwhile
                return
            self._flush_locked()
            self._point_at(now)

    def _point_at(self, now: float) -> None:
        """Make the slot holding ``now`` current and retire slots older than the window."""
        index = math.floor(now / self._slot_seconds)
        self._current = self._slots.setdefault(index, Summary(self._relative_accuracy))
        self._current_index = index
        self._slot_end = (index + 1) * self._slot_seconds
        self._retire_before(index - self._window_slots + 1)
        self._version += 1

    def _retire_before(self, oldest_live: int) -> None:
        for index in [i for i in self._slots if i < oldest_live]:
            self._retired.merge(self._slots.pop(index))

    # -- reads --------------------------------------------------------------------------------

    def summaries(self, now: float) -> tuple[Summary, Summary]:
        """(whole run, recent window ending at ``now``) as fresh copies."""
        with self._lock:
            self._flush_locked()
            oldest_live = math.floor(now / self._slot_seconds) - self._window_slots + 1
            whole, recent = (s.copy() for s in self._closed_sums(oldest_live))
            if self._current_index is not None:
                whole.merge(self._current)
                if self._current_index >= oldest_live:
                    recent.merge(self._current)
        return whole, recent

    def _closed_sums(self, oldest_live: int) -> tuple[Summary, Summary]:
        """Retired + every slot but the current one, and those of them in the window; kept
        until a slot changes or the window moves."""
        key = (self._version, oldest_live)
        if key != self._closed_key:
            whole = Summary(self._relative_accuracy)
            whole.merge(self._retired)
            recent = Summary(self._relative_accuracy)
            for index, slot in self._slots.items():
                if index != self._current_index:
                    whole.merge(slot)
                    if index >= oldest_live:
                        recent.merge(slot)
            self._closed, self._closed_key = (whole, recent), key
        return self._closed

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._retired = Summary(self._relative_accuracy)
            self._slots.clear()
            self._current = Summary(self._relative_accuracy)
            self._current_index = None
            self._slot_end = -math.inf
            self._version += 1

    # -- snapshots ----------------------------------------------------------------------------

    def to_dict(self, wall_offset: float) -> dict[str, Any]:
        """JSON-ready state; slot starts are wall-clock seconds (``clock + wall_offset``)."""
        with self._lock:
            self._flush_locked()
            return {
                "retired": self._retired.to_dict(),
                "slots": [
                    {"start": index * self._slot_seconds + wall_offset, **slot.to_dict()}
                    for index, slot in sorted(self._slots.items())
                ],
            }

    def merge_parsed(
        self, retired: Summary, incoming: list[tuple[int, Summary]], now: float
    ) -> None:
        """Fold what :func:`parse_recorder_dict` read into this recorder."""
        with self._lock:
            self._flush_locked()
            self._retired.merge(retired)
            for index, summary in incoming:
                if index in self._slots:
                    self._slots[index].merge(summary)
                else:
                    self._slots[index] = summary
            self._point_at(now)  # and a new version: merged slots may be closed ones


def parse_recorder_dict(
    data: Mapping[str, Any], wall_offset: float, slot_seconds: float
) -> tuple[Summary, list[tuple[int, Summary]]]:
    """Read a recorder's ``to_dict``: (retired, [(slot index on this clock's grid, slot)]).

    Raises KeyError, TypeError or ValueError on a damaged snapshot; merges nothing.
    """
    retired = Summary.from_dict(data["retired"])
    slots: Iterable[Mapping[str, Any]] = data["slots"]
    incoming = [
        (
            math.floor((float(s["start"]) - wall_offset) / slot_seconds + 0.5),
            Summary.from_dict(s),
        )
        for s in slots
    ]
    return retired, incoming

"""A load run's ``cache_traces.json``, merged from the trace files of its service's workers.

Each service worker has its own memory caches and writes its own traces when it stops
(``perf.service.tracing``, ``cache-traces-<pid>.json``). A worker's cache sees only that
worker's lookups, so with several workers the run keeps **one trace per worker per cache**
(``per_worker``) and the sizing report computes each worker's curve at a size *per worker*
and weighs them by their lookups: the model of N caches of that size side by side, which is
what the service runs. Interleaving the workers' key streams in time order would model one
cache shared by every worker instead (the SQLite or Redis tier's situation, not the memory
tier's), and cannot be done from these files anyway: each worker numbers its keys itself,
and ``str`` hashes, hence the sampled keys, differ between processes.

One worker's file is taken as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from perf._internal.atomic import write_text_atomic

__all__ = ["MODEL", "collect_cache_traces", "merge_cache_traces"]

MODEL = "per_worker"  # the value of cache_traces.json's "model"


def merge_cache_traces(parts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One ``cache_traces.json`` document from the workers' files (file name -> its JSON):
    per cache, one worker's trace as it is, or several under ``per_worker`` with their
    summed ``lookups``, ``sampled`` and ``dropped``."""
    if not parts:
        raise ValueError("no worker trace files to merge")
    workers = sorted(parts)
    by_cache: dict[str, list[dict[str, Any]]] = {}
    for worker in workers:
        caches = parts[worker].get("caches")
        if not isinstance(caches, Mapping):
            raise ValueError(f"{worker} has no 'caches' object: not a cache trace file")
        for cache, trace in caches.items():
            by_cache.setdefault(cache, []).append({"worker": worker, **trace})
    return {
        "model": MODEL,
        "workers": workers,
        "caches": {
            cache: traces[0] if len(traces) == 1 else _merged(cache, traces)
            for cache, traces in sorted(by_cache.items())
        },
    }


def _merged(cache: str, traces: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    rates = sorted({float(t["rate"]) for t in traces})
    if len(rates) != 1:
        raise ValueError(f"the workers traced {cache!r} at different rates {rates}")
    lookups = [t.get("lookups") for t in traces]
    return {
        "rate": rates[0],
        "lookups": None if None in lookups else sum(int(n) for n in lookups if n is not None),
        "max_entries": traces[0].get("max_entries"),  # each worker's
        "sampled": sum(int(t["sampled"]) for t in traces),
        "dropped": sum(int(t.get("dropped", 0)) for t in traces),
        "per_worker": list(traces),
    }


def collect_cache_traces(parts_dir: Path, out: Path) -> list[str]:
    """Merge the ``*.json`` files in ``parts_dir`` into ``out`` (atomically), then delete
    them (and the folder, if empty); returns the files merged. ``FileNotFoundError`` when
    there are none, ``ValueError`` when one is unreadable (the files are then left in place)."""
    files = sorted(parts_dir.glob("*.json")) if parts_dir.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no trace files in {parts_dir}")
    parts: dict[str, Any] = {}
    for path in files:
        try:
            parts[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable trace file: {exc}") from exc
    write_text_atomic(out, json.dumps(merge_cache_traces(parts), separators=(",", ":")))
    for path in files:
        path.unlink()
    if not any(parts_dir.iterdir()):  # a worker killed mid-write leaves its temp file
        parts_dir.rmdir()
    return [path.name for path in files]

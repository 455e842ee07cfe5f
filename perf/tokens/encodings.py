"""Offline tiktoken encodings: rank files shipped as package data, hash-checked, loaded once.

tiktoken downloads its BPE rank files on first use, which fails on hosts without internet.
perf ships the official ``o200k_base`` and ``cl100k_base`` rank files (gzip-compressed) in
``perf/tokens/data/`` and builds the encodings with the *installed* tiktoken's own
constructors from ``tiktoken_ext.openai_public`` (so the pattern and special tokens are exactly
tiktoken's), run with a loader that reads the packaged file instead of the URL. The
uncompressed file's sha256 must equal both the hash tiktoken passes and the one pinned here.
The network is never touched; a machine that can reach it gets the same encoding either way.
"""

from __future__ import annotations

import base64
import gzip
import threading
import types
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import tiktoken
import tiktoken.load
import tiktoken.model
from tiktoken_ext import openai_public

from perf.errors import ConfigurationError, EncodingDataError, UnknownModelError

__all__ = [
    "SUPPORTED_ENCODINGS",
    "EncodingDataError",
    "build_encoding",
    "encoding_for_model",
    "encoding_name_for_model",
    "get_encoding",
    "known_models",
    "load_rank_file",
    "preload_encodings",
]


# File name in tiktoken's URL -> (packaged gzip file, sha256 of the uncompressed contents).
_SHIPPED_RANK_FILES: dict[str, tuple[str, str]] = {
    "o200k_base.tiktoken": (
        "o200k_base.tiktoken.gz",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base.tiktoken": (
        "cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

# Encodings buildable from the shipped files (o200k_harmony = o200k_base + special tokens).
SUPPORTED_ENCODINGS: tuple[str, ...] = ("cl100k_base", "o200k_base", "o200k_harmony")

_cache: dict[str, tiktoken.Encoding] = {}
_cache_lock = threading.Lock()


def _packaged_data_dir() -> Path:
    return Path(str(resources.files("perf.tokens") / "data"))


def load_rank_file(path: Path, expected_sha256: str) -> dict[bytes, int]:
    """Read a (gzip-compressed) ``.tiktoken`` rank file, check its hash, parse its lines.

    Parses the same ``base64-token rank`` lines as ``tiktoken.load.load_tiktoken_bpe`` and uses
    tiktoken's own ``check_hash`` on the uncompressed bytes.
    """
    try:
        raw = path.read_bytes()
        contents = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise EncodingDataError(
            f"cannot read the token rank file {path}: {exc}; reinstall perf to restore it"
        ) from exc
    if not tiktoken.load.check_hash(contents, expected_sha256):
        raise EncodingDataError(
            f"the token rank file {path} does not match its sha256 (expected "
            f"{expected_sha256}); it is damaged or was replaced: reinstall perf"
        )
    ranks: dict[bytes, int] = {}
    for line in contents.splitlines():
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as exc:
            raise EncodingDataError(f"bad line {line[:80]!r} in the rank file {path}") from exc
    return ranks


def _offline_loader(data_dir: Path) -> Callable[..., dict[bytes, int]]:
    """A stand-in for ``load_tiktoken_bpe`` that serves tiktoken's URLs from ``data_dir``."""

    def load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        file_name = url.rsplit("/", 1)[-1]
        shipped = _SHIPPED_RANK_FILES.get(file_name)
        if shipped is None:
            raise EncodingDataError(
                f"perf ships no rank file for {file_name!r} and never downloads one; "
                f"use one of {', '.join(SUPPORTED_ENCODINGS)}"
            )
        packaged_name, pinned_hash = shipped
        if expected_hash is not None and expected_hash != pinned_hash:
            raise EncodingDataError(
                f"the installed tiktoken expects {file_name} with sha256 {expected_hash}, but "
                f"perf ships {pinned_hash}; use a tiktoken release that matches perf's data"
            )
        return load_rank_file(data_dir / packaged_name, pinned_hash)

    return load


def _refuse_download(*args: object, **kwargs: object) -> dict[bytes, int]:
    raise EncodingDataError("this encoding needs a download, and perf never downloads")


def _offline_constructors(data_dir: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    """tiktoken's own encoding constructors, re-bound to globals that hold the offline loader.

    The constructors are copied (same code, new globals dict), not patched: the installed
    ``tiktoken_ext.openai_public`` module and any other user of tiktoken are left untouched.
    """
    namespace: dict[str, Any] = dict(vars(openai_public))
    namespace["load_tiktoken_bpe"] = _offline_loader(data_dir)
    namespace["data_gym_to_mergeable_bpe_ranks"] = _refuse_download
    constructors: dict[str, Callable[[], dict[str, Any]]] = {}
    for name, original in openai_public.ENCODING_CONSTRUCTORS.items():
        code = original.__code__
        if code.co_freevars or not ({"load_tiktoken_bpe", "o200k_base"} & set(code.co_names)):
            continue  # not a shape we can run offline safely
        constructors[name] = types.FunctionType(code, namespace, name)
        namespace[name] = constructors[name]
    return constructors


def build_encoding(name: str, data_dir: Path | None = None) -> tiktoken.Encoding:
    """Build the encoding ``name`` from rank files in ``data_dir`` (default: packaged), uncached.

    Takes about 0.6 s for o200k_base; use :func:`get_encoding` for the per-process copy.
    """
    if name not in SUPPORTED_ENCODINGS:
        raise _unsupported_encoding_error(name)
    constructor = _offline_constructors(data_dir or _packaged_data_dir()).get(name)
    if constructor is None:
        raise EncodingDataError(
            f"the installed tiktoken builds {name!r} in a way perf cannot run offline; "
            "use a tiktoken release that matches perf"
        )
    return tiktoken.Encoding(**constructor())


def _unsupported_encoding_error(name: str) -> ConfigurationError:
    return ConfigurationError(
        f"unknown or unshipped encoding {name!r}; perf works offline with "
        f"{', '.join(SUPPORTED_ENCODINGS)}"
    )


def get_encoding(name: str) -> tiktoken.Encoding:
    """The process-wide encoding ``name``, built from package data on first use."""
    encoding = _cache.get(name)
    if encoding is not None:
        return encoding
    with _cache_lock:  # one build per process even when threads race for it
        encoding = _cache.get(name)
        if encoding is None:
            encoding = build_encoding(name)
            _cache[name] = encoding
    return encoding


def known_models() -> list[str]:
    """Model names (and ``prefix*`` patterns) whose encoding perf can build offline."""
    exact = [m for m, e in tiktoken.model.MODEL_TO_ENCODING.items() if e in SUPPORTED_ENCODINGS]
    prefixes = [
        f"{p}*"
        for p, e in tiktoken.model.MODEL_PREFIX_TO_ENCODING.items()
        if e in SUPPORTED_ENCODINGS
    ]
    return sorted(exact) + sorted(prefixes)


def encoding_name_for_model(model: str, fallback_encoding: str | None = None) -> str:
    """The encoding name for ``model``, mapped exactly as tiktoken maps it.

    An unknown model (or one whose encoding perf does not ship) raises UnknownModelError
    naming the known models, unless ``fallback_encoding`` is given.
    """
    if not isinstance(model, str):
        raise ConfigurationError(
            f"model must be a model name such as 'gpt-4o', got {model!r}; "
            f"known models: {', '.join(known_models())}"
        )
    try:
        name = tiktoken.model.encoding_name_for_model(model)
    except KeyError:
        name = None
    if name in SUPPORTED_ENCODINGS:
        return name
    if fallback_encoding is not None:
        if fallback_encoding not in SUPPORTED_ENCODINGS:
            raise _unsupported_encoding_error(fallback_encoding)
        return fallback_encoding
    reason = "is unknown" if name is None else f"uses {name}, which perf does not ship"
    raise UnknownModelError(
        f"model {model!r} {reason}; known models: {', '.join(known_models())}. "
        f"Pass fallback_encoding= (one of {', '.join(SUPPORTED_ENCODINGS)}) to count anyway"
    )


def encoding_for_model(model: str, fallback_encoding: str | None = None) -> tiktoken.Encoding:
    """The process-wide encoding for ``model`` (see :func:`encoding_name_for_model`)."""
    return get_encoding(encoding_name_for_model(model, fallback_encoding))


def preload_encodings(*names: str) -> None:
    """Build encodings now (default: o200k_base and cl100k_base), e.g. at service start-up."""
    for name in names or ("o200k_base", "cl100k_base"):
        get_encoding(name)

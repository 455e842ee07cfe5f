"""Every public constructor and function refuses keyword arguments it does not take, and
names them: a typo such as ``ttl=`` must never be accepted silently."""

from __future__ import annotations

import inspect

import pytest

import perf
from perf import CacheManager, CorrelationCache, MemoryCache

CALLABLES = sorted(
    name
    for name in perf.__all__
    if callable(getattr(perf, name))
    and not (isinstance(getattr(perf, name), type) and issubclass(getattr(perf, name), Exception))
)


def test_the_list_covers_the_public_api():
    assert {"CorrelationCache", "create_shared_db_engine", "enforce_token_budget"} <= set(CALLABLES)
    assert not [name for name in CALLABLES if name.endswith("Error")]


@pytest.mark.parametrize("name", CALLABLES)
def test_unknown_keyword_is_a_type_error_naming_it(name):
    target = getattr(perf, name)
    functions = (
        [getattr(target, f) for f in vars(target) if not f.startswith("_")]
        if name == "QueryOptimizer"  # a namespace of static functions
        else [target]
    )
    for function in functions:
        args = ("sqlite+aiosqlite:///:memory:",) if name == "create_shared_db_engine" else ()
        with pytest.raises(TypeError, match="bogus_option"):
            function(*args, bogus_option=5)


@pytest.mark.parametrize(
    "make",
    [
        lambda path: CorrelationCache(cache_db_path=path, bogus_option=5),
        lambda path: CorrelationCache(bogus_option=5),  # memory only: was ignored silently
    ],
)
def test_cache_options_are_checked_with_or_without_a_file(tmp_path, make):
    with pytest.raises(perf.UnknownOptionError, match=r"'bogus_option'.*it takes: .*default_ttl"):
        make(tmp_path / "c.sqlite")


def test_a_ttl_typo_says_what_was_meant(tmp_path):
    with pytest.raises(TypeError, match=r"'ttl'.*did you mean default_ttl="):
        CorrelationCache(cache_db_path=tmp_path / "c.sqlite", ttl=60)
    assert not (tmp_path / "c.sqlite").exists()  # refused before any file was made


@pytest.mark.parametrize(
    ("call", "bad"),
    [
        (lambda: CorrelationCache().set("a", "b", 1, ttl=60), "ttl"),
        (lambda: CorrelationCache().get("a", "b", ttl=60), "ttl"),
        (lambda: CacheManager().get_from_cache("k", cache="memory"), "cache"),
        (lambda: CacheManager().set_in_cache("k", 1, ttl_seconds=5), "ttl_seconds"),
        (lambda: MemoryCache().set("k", 1, ttl_seconds=5), "ttl_seconds"),
    ],
)
def test_the_guides_methods_refuse_misspelt_keywords(call, bad):
    with pytest.raises(TypeError, match=f"'{bad}'"):
        call()


def test_no_public_callable_swallows_keywords_unchecked():
    # **kwargs only where they are checked (CorrelationCache) or forwarded to a library that
    # checks them (create_shared_db_engine -> SQLAlchemy); the test above calls both.
    open_ended = [
        name
        for name in CALLABLES
        if name != "QueryOptimizer"
        and any(
            p.kind is p.VAR_KEYWORD
            for p in inspect.signature(getattr(perf, name)).parameters.values()
        )
    ]
    assert open_ended == ["CorrelationCache", "create_shared_db_engine"]

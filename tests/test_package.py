"""The package as a whole: a light import, a flat API that resolves."""

from __future__ import annotations

import subprocess
import sys

import perf


def test_import_perf_stays_light():
    code = (
        "import sys, perf, perf.cache, perf.monitor; "
        "heavy = [m for m in ('sqlalchemy', 'tiktoken', 'fastapi', 'numpy', 'pandas', "
        "'prometheus_client', 'locust') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    assert len(set(perf.__all__)) == len(perf.__all__)  # ruff (RUF022) keeps it sorted
    for name in perf.__all__:
        assert getattr(perf, name) is not None, name


def test_unknown_name_is_an_attribute_error():
    try:
        perf.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")

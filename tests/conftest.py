"""Fixtures shared by the tests."""

from __future__ import annotations

import pytest


class FakeClock:
    """A clock that moves only when told: TTL tests never sleep."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()

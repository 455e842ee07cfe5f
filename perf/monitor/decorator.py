"""``@track_performance("name")``: time every call of a sync or async function.

Whether the function is a coroutine function is decided once, at decoration time; both wrappers
share the recorder bound then. A call that raises counts as an error of that operation (its
duration is recorded too) and the exception propagates untouched.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from perf.monitor.monitor import PerformanceMonitor, get_performance_monitor

__all__ = ["track_performance"]

P = ParamSpec("P")
R = TypeVar("R")


def track_performance(
    name: str, monitor: PerformanceMonitor | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call's duration under ``name`` in ``monitor`` (default: the process-wide one)."""
    target = monitor if monitor is not None else get_performance_monitor()
    recorder = target.operation(name)  # validates the name now, not on the first call
    clock = target.clock
    add, add_error = recorder.add, recorder.add_error

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(func):
            async_func = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = clock()
                try:
                    result = await async_func(*args, **kwargs)
                except BaseException:
                    end = clock()
                    add_error(end - start, end)
                    raise
                end = clock()
                add(end - start, end)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = clock()
            try:
                result = func(*args, **kwargs)
            except BaseException:
                end = clock()
                add_error(end - start, end)
                raise
            end = clock()
            add(end - start, end)
            return result

        return wrapper

    return decorate

"""Count the SQL statements an engine runs: the N+1 guard for tests.

    with count_statements(engine) as counter:
        await eager_load_relationships(session, select(Parent), ["children"])
    counter.assert_at_most(2)  # one for the parents, one selectin for all children

Counts every statement on the engine while the block runs, from any task, so keep other work
on that engine quiet in the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["StatementCounter", "count_statements"]


@dataclass(slots=True)
class StatementCounter:
    """The statements seen so far (SQL text), and how many."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def assert_at_most(self, limit: int) -> None:
        """Raise ``AssertionError`` listing the statements if more than ``limit`` ran."""
        if self.count > limit:
            listing = "\n".join(f"  {i + 1}. {sql}" for i, sql in enumerate(self.statements))
            raise AssertionError(
                f"Expected at most {limit} SQL statements, {self.count} ran (an N+1 query "
                f"pattern? eager-load the relationships):\n{listing}"
            )


@contextmanager
def count_statements(engine: AsyncEngine | Engine) -> Iterator[StatementCounter]:
    """Record each statement ``engine`` executes inside the ``with`` block."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    counter = StatementCounter()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counter.statements.append(" ".join(statement.split()))

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield counter
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)

"""``QueryOptimizer``: the spec's namespace for the query helpers of :mod:`perf.db`.

users = await QueryOptimizer.batch_fetch(
    session, lambda ids: select(User).where(User.id.in_(ids)), user_ids
)
query = await QueryOptimizer.eager_load_relationships(
    session, select(Parent), ["children", "children.grandchildren"]
)  # the query with loader options, as in the guide; then run it yourself, or in one call:
parents = await QueryOptimizer.fetch_with_relationships(session, select(Parent), ["children"])
"""

from __future__ import annotations

from perf.db.batch import batch_fetch
from perf.db.bulk import bulk_insert, bulk_upsert
from perf.db.eager import (
    eager_load_options,
    eager_load_relationships,
    fetch_with_relationships,
)

__all__ = ["QueryOptimizer"]


class QueryOptimizer:
    """Static helpers: batch fetching, eager loading and bulk writes (see each function)."""

    batch_fetch = staticmethod(batch_fetch)
    eager_load_relationships = staticmethod(eager_load_relationships)
    eager_load_options = staticmethod(eager_load_options)
    fetch_with_relationships = staticmethod(fetch_with_relationships)
    bulk_insert = staticmethod(bulk_insert)
    bulk_upsert = staticmethod(bulk_upsert)

"""Eager loading by relationship name: ``["children", "children.grandchildren", "owner"]``.

Each dotted path walks the models' relationships. Collections (one-to-many, many-to-many) get
``selectinload``: one extra ``SELECT ... WHERE parent_id IN (...)`` per level, no row
multiplication. Single references (many-to-one, one-to-one) get ``joinedload``: a
``LEFT OUTER JOIN`` in the same statement, no extra round trip.

A relationship cannot be named ``metadata`` on a declarative model: SQLAlchemy reserves that
attribute for the model's ``MetaData``. Give the relationship another attribute name (say
``metadata_items`` or ``meta``) and pass that name here; the table and column names in the
database are free to keep the word ``metadata``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, joinedload, raiseload, selectinload
from sqlalchemy.orm.interfaces import ORMOption

from perf.errors import ConfigurationError, UnknownRelationshipError

__all__ = [
    "eager_load_options",
    "eager_load_relationships",
    "fetch_with_relationships",
    "root_model",
]


def root_model(query: Select[Any]) -> type[Any]:
    """The ORM class a ``select(Model)`` query starts from."""
    descriptions = query.column_descriptions
    entity = descriptions[0].get("entity") if descriptions else None
    if entity is None:
        raise ConfigurationError(
            "Cannot eager-load relationships on a query that selects no ORM model; "
            "write it as select(Model)..., not select(table) or select(columns)."
        )
    return inspect(entity).mapper.class_  # type: ignore[no-any-return]


def eager_load_options(
    model: type[Any], relationships: Iterable[str], *, strict: bool = False
) -> list[ORMOption]:
    """Loader options for ``relationships`` of ``model`` (dotted paths for nesting).

    With ``strict=True`` every other relationship of ``model`` is set to ``raiseload``, so a
    forgotten one fails loudly ("... is not available due to lazy='raise'") instead of
    issuing one query per row.
    """
    if isinstance(relationships, str):
        raise ConfigurationError(
            f"relationships must be a list of names, got the string {relationships!r}; "
            f"write [{relationships!r}]"
        )
    options: list[ORMOption] = [_path_option(model, path) for path in relationships]
    if strict:
        options.append(raiseload("*"))
    return options


async def eager_load_relationships(
    db: AsyncSession,
    query: Select[Any],
    relationships: Iterable[str],
    *,
    strict: bool = False,
) -> Select[Any]:
    """The guide's form: ``query`` with loader options for ``relationships``; run it yourself.

    query = await QueryOptimizer.eager_load_relationships(db, select(Parent), ["children"])
    parents = (await db.execute(query)).scalars().all()

    Nothing is executed (``db`` is taken for the guide's signature, and the call is a
    coroutine as the guide awaits it); names are checked now. To run the query and get the
    model instances in one call, use :func:`fetch_with_relationships`.
    """
    return query.options(*eager_load_options(root_model(query), relationships, strict=strict))


async def fetch_with_relationships(
    db: AsyncSession,
    query: Select[Any],
    relationships: Iterable[str],
    *,
    strict: bool = False,
) -> list[Any]:
    """Run ``query`` with ``relationships`` eager-loaded; the model instances, in query order."""
    options = eager_load_options(root_model(query), relationships, strict=strict)
    result = await db.execute(query.options(*options))
    return list(result.scalars().all())


def _path_option(model: type[Any], path: str) -> ORMOption:
    if not isinstance(path, str):
        raise ConfigurationError(
            f"each relationship must be a name such as 'children' or 'children.toys', got {path!r}"
        )
    loader: Any = None
    current = model
    for name in path.split("."):
        mapper: Mapper[Any] = inspect(current)
        relationship = mapper.relationships.get(name)
        if relationship is None:
            raise UnknownRelationshipError(_unknown_message(mapper, name, path))
        attribute = getattr(current, name)
        strategy = "selectinload" if relationship.uselist else "joinedload"
        if loader is None:
            loader = selectinload(attribute) if relationship.uselist else joinedload(attribute)
        else:
            loader = getattr(loader, strategy)(attribute)
        current = relationship.mapper.class_
    return loader  # type: ignore[no-any-return]


def _unknown_message(mapper: Mapper[Any], name: str, path: str) -> str:
    model = mapper.class_.__name__
    known = ", ".join(sorted(mapper.relationships.keys())) or "(none)"
    message = f"{model} has no relationship {name!r} (in {path!r}); its relationships: {known}."
    if name in mapper.columns:
        message += f" {name!r} is a column, which is loaded with the row already."
    if name == "metadata":
        message += (
            " 'metadata' is reserved on declarative models: name the relationship "
            "differently (e.g. 'metadata_items') and pass that name."
        )
    return message

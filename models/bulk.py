"""Inserting many rows in one statement: the trainer stores a batch of finished examples
with one INSERT per table, however many examples the batch holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import Base, table_of


async def insert_rows(
    db: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, object]]
) -> None:
    """Insert `rows` (column values, one mapping a row), if there are any."""
    if rows:
        await db.execute(insert(table_of(model)), list(rows))


async def insert_returning_ids(
    db: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, object]]
) -> list[int]:
    """Insert `rows` and give their ids in the same order."""
    if not rows:
        return []
    table = table_of(model)
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list((await db.execute(statement, list(rows))).scalars())

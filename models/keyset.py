"""Keyset (seek) pagination behind every connection, with opaque cursors.

A list is ordered by one sort key plus the primary key. A cursor encodes the list it came
from, the ordering, the key value and the id of a row; the next page is the rows that sort
after it, found with an index seek rather than OFFSET. The seek predicate is written
OR-expanded (`k < x OR (k = x AND id < y)`) because MariaDB uses no index for row-value
comparisons. A NULL key sorts below every value, as it does in ORDER BY on SQLite and MySQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, ColumnElement, Row, Select, Subquery, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models import limits
from models.base import Record, UTCDateTime
from models.errors import BadUserInput

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Longer than any cursor this API gives, which hold a list's name, an ordering's, a key and
# an id.
MAX_CURSOR_CHARS = 512

T = TypeVar("T")


@dataclass(frozen=True)
class PageArgs:
    """Validated `first/after/last/before` arguments of a connection field."""

    size: int
    forward: bool
    after: str | None = None
    before: str | None = None

    @classmethod
    def parse(
        cls,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> PageArgs:
        if first is not None and last is not None:
            raise BadUserInput(
                "Pass either `first` (forward) or `last` (backward), not both.", field="first"
            )
        for name, value in (("first", first), ("last", last)):
            if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
                raise BadUserInput(
                    f"`{name}` must be between 0 and {MAX_PAGE_SIZE}; got {value}.", field=name
                )
        if last is not None:
            return cls(size=last, forward=False, after=after, before=before)
        return cls(
            size=DEFAULT_PAGE_SIZE if first is None else first,
            forward=True,
            after=after,
            before=before,
        )


@dataclass(frozen=True)
class Ordering:
    """A named order of one list: its sort key, direction and id column, and the range of
    the key's values (a number's), which a cursor's key must lie in."""

    list_name: str
    name: str
    key: InstrumentedAttribute[Any]
    id: InstrumentedAttribute[Any]
    descending: bool
    nullable: bool = False
    key_range: tuple[float, float] = (-limits.INT_MAX, limits.INT_MAX)

    @property
    def columns(self) -> tuple[Column[Any], Column[Any]]:
        """The key's and the id's columns of the table: the ORM's attributes in a statement
        make SQLAlchemy treat it as an ORM statement, which costs more to run even when it
        reads plain rows."""
        key, row_id = (attribute.property.columns[0] for attribute in (self.key, self.id))
        return key, row_id

    def order_by(self, reverse: bool = False) -> list[ColumnElement[Any]]:
        descending = self.descending != reverse
        return [column.desc() if descending else column.asc() for column in self.columns]

    def cursor(self, key: Any, row_id: int) -> str:
        value = key.isoformat() if isinstance(key, datetime) else key
        raw = json.dumps([self.list_name, self.name, value, row_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode(self, cursor: str, field: str) -> tuple[Any, int]:
        try:
            if len(cursor) > MAX_CURSOR_CHARS:
                raise ValueError("too long for a cursor")
            padded = cursor + "=" * (-len(cursor) % 4)
            raw = base64.urlsafe_b64decode(padded)
            list_name, name, value, row_id = limits.parse_json(raw, field, max_depth=1)
        except (ValueError, TypeError, binascii.Error, BadUserInput) as error:
            raise BadUserInput(
                f"`{field}` is not a cursor of this API; pass an edge's `cursor` as it was given.",
                field=field,
            ) from error
        if list_name != self.list_name or name != self.name:
            raise BadUserInput(
                f"`{field}` is a cursor of another list or ordering ({list_name} {name}); "
                f"this is {self.list_name} ordered by {self.name}.",
                field=field,
            )
        try:
            limits.whole(row_id, field, low=1, high=limits.ID_MAX)
            key = self._decode_key(value)
        except (ValueError, TypeError, BadUserInput) as error:
            raise BadUserInput(f"`{field}` is a damaged cursor.", field=field) from error
        return key, row_id

    def _decode_key(self, value: Any) -> Any:
        if value is None:
            if not self.nullable:
                raise ValueError("null key")
            return None
        column_type = self.key.type
        python_type = datetime if isinstance(column_type, UTCDateTime) else column_type.python_type
        if python_type is datetime and isinstance(value, str):
            return limits.parse_instant(value, "cursor")
        if python_type is str and isinstance(value, str):
            return value
        number: int | float
        if python_type is int and isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (
            python_type is float and isinstance(value, int | float) and not isinstance(value, bool)
        ):
            number = float(value)
        else:
            raise ValueError(f"unexpected key {value!r}")
        low, high = self.key_range
        if not (math.isfinite(number) and low <= number <= high):
            raise ValueError(f"key {value!r} out of range")
        return number

    def seek(
        self, key: Any, row_id: int, *, beyond: bool, inclusive: bool = False
    ) -> ColumnElement[bool]:
        """Rows after (`beyond`) or before the cursor position in this ordering, and with
        `inclusive` the cursor's own row too."""
        greater = beyond != self.descending
        compare = _greater if greater else _less
        return compare(*self.columns, key, row_id, inclusive)


def _greater(k: Any, i: Any, key: Any, row_id: int, inclusive: bool) -> ColumnElement[bool]:
    id_beyond = i >= row_id if inclusive else i > row_id
    if key is None:
        return or_(k.is_not(None), and_(k.is_(None), id_beyond))
    return or_(k > key, and_(k == key, id_beyond))


def _less(k: Any, i: Any, key: Any, row_id: int, inclusive: bool) -> ColumnElement[bool]:
    id_beyond = i <= row_id if inclusive else i < row_id
    if key is None:
        return and_(k.is_(None), id_beyond)
    return or_(k < key, k.is_(None), and_(k == key, id_beyond))


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    cursors: Sequence[str]
    has_next_page: bool
    has_previous_page: bool

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


async def paginate(
    db: AsyncSession, query: Select[T], ordering: Ordering, args: PageArgs
) -> Page[T]:
    """One page of `query` (already filtered) in `ordering`, per the Cursor Connections spec,
    as objects of the ordering's entity."""
    entity = ordering.id.class_

    async def rows_of(ids: Subquery, order: list[ColumnElement[Any]]) -> list[Any]:
        joined = select(entity).join(ids, ordering.id == ids.c[ordering.id.key]).order_by(*order)
        return list((await db.scalars(joined)).all())

    return await _page(db, query, ordering, args, rows_of)


async def paginate_rows(
    db: AsyncSession,
    query: Select[Any],
    ordering: Ordering,
    args: PageArgs,
    columns: Sequence[ColumnElement[Any]],
) -> Page[Record]:
    """As `paginate`, each row of `columns` only (of the ordering's table) rather than an
    object: what a read that shows a few columns needs, with none of an object's cost."""
    row_id = ordering.columns[1]

    async def rows_of(ids: Subquery, order: list[ColumnElement[Any]]) -> list[Any]:
        joined = select(*columns).join(ids, row_id == ids.c[row_id.key]).order_by(*order)
        return list((await db.execute(joined)).all())

    return await _page(db, query, ordering, args, rows_of)


async def _page(
    db: AsyncSession,
    query: Select[Any],
    ordering: Ordering,
    args: PageArgs,
    rows_of: Callable[[Subquery, list[ColumnElement[Any]]], Awaitable[list[Any]]],
) -> Page[Any]:
    after = ordering.decode(args.after, "after") if args.after is not None else None
    before = ordering.decode(args.before, "before") if args.before is not None else None
    bounded = query
    if after is not None:
        bounded = bounded.where(ordering.seek(*after, beyond=True))
    if before is not None:
        bounded = bounded.where(ordering.seek(*before, beyond=False))

    # A deferred join: the page's ids come from the index alone, then their rows by primary
    # key. Asked for whole rows at once, MariaDB may walk the user's rows in order and read
    # each one until the seek predicate matches, hundreds of milliseconds deep in a history.
    order = ordering.order_by(reverse=not args.forward)
    page_ids = bounded.with_only_columns(ordering.columns[1]).order_by(*order)
    ids = page_ids.limit(args.size + 1).subquery()
    rows = await rows_of(ids, order)
    more = len(rows) > args.size
    rows = rows[: args.size]
    if not args.forward:
        rows.reverse()

    # The other direction is known only from the cursor that bounds it: a row at or beyond
    # it exists exactly when its opposite seek finds one.
    if args.forward:
        has_next, has_previous = more, await _exists_not(db, query, ordering, after, beyond=True)
    else:
        has_next, has_previous = await _exists_not(db, query, ordering, before, beyond=False), more
    key = ordering.key.key
    # A row's `index` or `count` is a tuple's method: its columns are read by name.
    keys = [row._mapping[key] if isinstance(row, Row) else getattr(row, key) for row in rows]
    cursors = [ordering.cursor(value, row.id) for value, row in zip(keys, rows, strict=True)]
    return Page(rows, cursors, has_next, has_previous)


async def _exists_not(
    db: AsyncSession,
    query: Select[Any],
    ordering: Ordering,
    position: tuple[Any, int] | None,
    *,
    beyond: bool,
) -> bool:
    if position is None:
        return False
    # At the cursor or on its other side (the cursor's own row counts, and the predicate
    # stays one the index can seek on).
    key, row_id = position
    outside = ordering.seek(key, row_id, beyond=not beyond, inclusive=True)
    probe = query.where(outside).with_only_columns(ordering.columns[1]).limit(1)
    return bool(await db.scalar(select(probe.exists())))


async def count(db: AsyncSession, query: Select[Any]) -> int:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int(await db.scalar(counted) or 0)

"""Rows nested in another row, read with it as one JSON array: a list of a few small rows
for each of a page's rows (a session's figures per model, an example's votes).

Read as rows of their own, such a list is one more statement, one more round trip to the
database, and every column of every row parsed in Python by the MySQL driver; as a column
of the row holding them, it is one JSON text that orjson parses in C. MariaDB orders the
array as asked (`JSON_ARRAYAGG(... ORDER BY ...)`, in the column's collation, as an
`ORDER BY` of the rows would). MySQL's JSON_ARRAYAGG takes no ORDER BY, and SQLite's
json_group_array none before 3.44: their arrays are sorted after reading (`in_order`),
SQLite's in its binary collation, which is Python's order of strings, MySQL's with text
compared regardless of case, as its default collations do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import JSON, ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

T = TypeVar("T")


class JsonArray(ColumnElement[Any]):
    """The JSON array of `element` over a group's rows, ordered by `order_by` where the
    database can: a list of dicts when read, None for no rows."""

    inherit_cache = True
    type = JSON()
    _traverse_internals = [
        ("element", InternalTraversal.dp_clauseelement),
        ("order_by", InternalTraversal.dp_clauseelement_tuple),
    ]

    def __init__(self, element: ColumnElement[Any], *order_by: ColumnElement[Any]) -> None:
        self.element = element
        self.order_by = order_by


def json_object(**columns: ColumnElement[Any]) -> ColumnElement[Any]:
    """A JSON object of `columns`, each under its keyword."""
    pairs: list[Any] = []
    for name, column in columns.items():
        pairs += [name, column]
    return func.json_object(*pairs)


def in_order(
    db: AsyncSession, items: list[T], key: Callable[[T, Callable[[str], str]], Any]
) -> list[T]:
    """`items`, a JSON array read from `db`, in the order its JsonArray asked for: `key`
    gives an item's sort key, comparing text with the function it is given."""
    dialect = db.get_bind().dialect
    if dialect.name == "sqlite":
        items.sort(key=lambda item: key(item, str))
    elif not getattr(dialect, "is_mariadb", False):
        items.sort(key=lambda item: key(item, str.casefold))
    return items


@compiles(JsonArray)
def _aggregated(element: JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    if not getattr(compiler.dialect, "is_mariadb", False):
        return f"JSON_ARRAYAGG({compiler.process(element.element, **kw)})"
    order = ", ".join(compiler.process(column, **kw) for column in element.order_by)
    return f"JSON_ARRAYAGG({compiler.process(element.element, **kw)} ORDER BY {order})"


@compiles(JsonArray, "sqlite")
def _unordered(element: JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.element, **kw)})"

"""Rows nested in another row, read with it as one JSON array: a list of a few small rows
for each of a page's rows (a session's figures per model, an example's votes).

Read as rows of their own, such a list is one more statement, one more round trip to the
database, and every column of every row parsed in Python by the MySQL driver; as a column
of the row holding them, it is one JSON text that orjson parses in C. MySQL/MariaDB order
the array as asked (`JSON_ARRAYAGG(... ORDER BY ...)`, in the column's collation, as an
`ORDER BY` of the rows would); SQLite before 3.44 cannot, so its arrays are sorted after
reading, in its binary collation, which is Python's order of strings.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal


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


@compiles(JsonArray)
def _ordered(element: JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    order = ", ".join(compiler.process(column, **kw) for column in element.order_by)
    return f"JSON_ARRAYAGG({compiler.process(element.element, **kw)} ORDER BY {order})"


@compiles(JsonArray, "sqlite")
def _unordered(element: JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.element, **kw)})"

"""The limits every value a client gives is held to, for GraphQL, REST and /auto-train alike.

A value is checked once, where it comes in, against what both databases, Python and the
GraphQL types can hold, so that nothing is stored that its owner's reads cannot show:

- whole numbers fit a GraphQL `Int` (32 bits, as the INTEGER columns of MySQL/MariaDB);
  counts and times are not negative, ids fit a BIGINT;
- qualities are finite and between 0 and 10 (GraphQL's `Float` has no NaN or infinity);
- instants, their offsets applied, lie within MySQL/MariaDB's DATETIME years (1000 to
  9999), which Python can also hold;
- JSON is read with a bound on its size and its depth before anything recursive sees it,
  and text is valid Unicode (no lone surrogates, which no database can store).

Each check raises BadUserInput naming the field, and returns the value as it is kept.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, NoReturn

import orjson

from models.errors import BadRequest, BadUserInput

INT_MAX = 2**31 - 1
ID_MAX = 2**63 - 1
MAX_QUALITY = 10.0
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

# A `*Json` field is stored in a TEXT column, 65,535 bytes on MySQL/MariaDB.
JSON_FIELD_MAX_BYTES = 64 * 1024 - 1
MAX_JSON_DEPTH = 32
# A request body: room for a recorded session with both JSON fields at their largest.
BODY_MAX_BYTES = 1024 * 1024
# A session id, a model or a user name: a VARCHAR(100).
NAME_MAX_CHARS = 100
# Names in one list (genres, teachers): more than any catalog has, and a bounded row.
LIST_MAX_ITEMS = 100


def whole(value: object, field: str, *, low: int = 0, high: int = INT_MAX) -> int:
    """A whole number between `low` and `high`: by default a count, as GraphQL's Int holds it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadUserInput(f"`{field}` must be a whole number; got {value!r}.", field=field)
    if not low <= value <= high:
        raise BadUserInput(
            f"`{field}` must be between {low:,} and {high:,}; got {value:,}.", field=field
        )
    return value


def quality(value: object, field: str) -> float:
    """A quality: a finite number from 0 to 10."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadUserInput(f"`{field}` must be a number; got {value!r}.", field=field)
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= MAX_QUALITY):
        raise BadUserInput(
            f"`{field}` must be between 0 and {MAX_QUALITY:g}; got {value!r}.", field=field
        )
    return number


def instant(value: datetime, field: str) -> datetime:
    """`value` in UTC (read as UTC when it has no offset), within the years both databases
    hold: 9999-12-31T23:59:59-14:00 is a moment of the year 10000, which none does."""
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise BadUserInput(
            f"`{field}` must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} in UTC; "
            f"got {value.isoformat()}.",
            field=field,
        )
    return moment


def parse_instant(text: str, field: str) -> datetime:
    """An ISO 8601 instant given as text, checked as `instant` does."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadUserInput(
            f"`{field}` must be an ISO 8601 date and time, like 2024-01-20T10:30:00Z; "
            f"got {text[:40]!r}.",
            field=field,
        ) from None
    return instant(value, field)


def is_unicode(text: str) -> bool:
    """Whether `text` can be stored: no lone surrogate (which JSON's "\\ud800" escapes give)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def name(value: str, field: str, *, max_chars: int = NAME_MAX_CHARS) -> str:
    """A name or id: valid Unicode, not blank, at most `max_chars` characters."""
    if not is_unicode(value):
        raise BadUserInput(f"`{field}` is not valid Unicode text.", field=field)
    if not 1 <= len(value.strip()) <= max_chars:
        raise BadUserInput(f"`{field}` must be 1 to {max_chars} characters.", field=field)
    return value


def parse_id(text: str) -> int | None:
    """A numeric id as text (in a path or a global id); None when it names nothing storable.

    Only ASCII digits count: `"²".isdigit()` is true, and `int("²")` fails.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if 1 <= number <= ID_MAX else None


def depth_of(value: Any) -> int:
    """How deeply `value`'s lists and objects nest, without recursing (0 for a scalar)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(
    data: str | bytes,
    field: str | None = None,
    *,
    max_bytes: int = JSON_FIELD_MAX_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """JSON text read strictly: valid UTF-8 with no lone surrogates, no NaN or infinity, at
    most `max_bytes` long and `max_depth` deep.

    A field's JSON that cannot be read is a BadUserInput naming the field; a request body
    (no field) is a BadRequest.
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        _refuse(field, f"is {size:,} bytes; at most {max_bytes:,} are accepted")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        _refuse(field, f"is not valid JSON: {error}")
    if depth_of(value) > max_depth:
        _refuse(field, f"nests deeper than {max_depth} levels")
    return value


def _refuse(field: str | None, problem: str) -> NoReturn:
    if field is None:
        raise BadRequest(f"The request body {problem}.")
    raise BadUserInput(f"`{field}` {problem}.", field=field)

"""The API's DateTime, held to the instants both databases can store.

Strawberry's own DateTime takes any ISO 8601 text Python reads, 9999-12-31T23:59:59-14:00
included, which is a moment of the year 10000: no database stores it and Python cannot even
convert it to UTC. This one refuses such an instant as invalid input, as GraphQL refuses an
Int of 33 bits, wherever a DateTime is given: in variables or written in the document.
"""

from __future__ import annotations

from datetime import datetime

from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from models import limits
from models.errors import BadUserInput


def _parse(value: object) -> datetime:
    parsed = DateTimeDefinition.parse_value(value) if DateTimeDefinition.parse_value else value
    assert isinstance(parsed, datetime)
    try:
        limits.instant(parsed, "DateTime")
    except BadUserInput:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". It must lie between '
            f"{limits.EARLIEST:%Y-%m-%d} and {limits.LATEST:%Y-%m-%d} in UTC."
        ) from None
    return parsed


DATETIME = ScalarDefinition(
    name=DateTimeDefinition.name,
    description=DateTimeDefinition.description,
    specified_by_url=None,
    serialize=DateTimeDefinition.serialize,
    parse_value=_parse,
    parse_literal=None,
    origin=datetime,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: DATETIME}

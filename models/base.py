"""The declarative base and the column types every table shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, Numeric, Row, Table
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

Record = Row[*tuple[Any, ...]]
"""A row of a table's columns read without the ORM, each by its column's name: what reads
that show many rows use, for an object costs several times the row it is made from."""

# SQLite only auto-increments an INTEGER PRIMARY KEY, so BIGINT ids are INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# The original table's DECIMAL(3,1); read back as float.
Quality = Numeric(3, 1, asdecimal=False)

# US dollars to the nano-dollar: one call to a cheap model costs a few micro-dollars. A
# DECIMAL, so that sums of costs are exact on MySQL/MariaDB.
Usd = Numeric(20, 9, asdecimal=False)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant, stored without an offset and read back timezone-aware.

    DATETIME(6) on MySQL/MariaDB: microseconds keep keyset order stable, and unlike TIMESTAMP
    it neither converts through the connection's time zone nor ends in 2038.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A client's instant in UTC; one given without an offset is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The model's table, for Core statements: a bulk INSERT through it skips the ORM's
    per-row bookkeeping, which writers of many rows at a time do not need."""
    table = model.__table__
    assert isinstance(table, Table)
    return table

"""The full-text index over memory entries, which the table models do not describe.

Migration 0002 builds it: on SQLite an external-content FTS5 table that triggers keep in step
with `memory_entries`, on MySQL/MariaDB an InnoDB FULLTEXT index on its text. Autogenerate
would read either as drift from the models, so migrations and their tests hide both from it
with `include_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Integer, column, table

MEMORY_FTS = "memory_entries_fts"
MEMORY_FULLTEXT_INDEX = "ix_memory_entries_text"

# The FTS5 table and the shadow tables SQLite keeps its index in.
_FTS_TABLES = frozenset(
    MEMORY_FTS + suffix for suffix in ("", "_config", "_data", "_docsize", "_idx")
)

# FTS5's hidden column named after its table stands for the whole row in MATCH and bm25().
memory_fts = table(MEMORY_FTS, column("rowid", Integer), column(MEMORY_FTS))


# Alembic types the parents' keys as the literal names it passes.
def include_name(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Alembic's `include_name` hook: everything but the full-text index's own objects."""
    if type_ == "table":
        return name not in _FTS_TABLES
    if type_ == "index":
        return name != MEMORY_FULLTEXT_INDEX
    return True

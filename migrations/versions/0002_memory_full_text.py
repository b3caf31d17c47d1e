"""memory full-text search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:12:40.117305

SQLite gets an external-content FTS5 table over memory_entries.text, kept in step by triggers;
MySQL/MariaDB get an InnoDB FULLTEXT index. On SQLite, a later batch (copy-and-move) alteration
of memory_entries drops these triggers with the old table, so it must create them again.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UPGRADE = (
    """
    CREATE VIRTUAL TABLE memory_entries_fts USING fts5(
        text,
        content='memory_entries',
        content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER memory_entries_fts_insert AFTER INSERT ON memory_entries BEGIN
        INSERT INTO memory_entries_fts (rowid, text) VALUES (new.id, new.text);
    END
    """,
    """
    CREATE TRIGGER memory_entries_fts_delete AFTER DELETE ON memory_entries BEGIN
        INSERT INTO memory_entries_fts (memory_entries_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END
    """,
    """
    CREATE TRIGGER memory_entries_fts_update AFTER UPDATE ON memory_entries BEGIN
        INSERT INTO memory_entries_fts (memory_entries_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO memory_entries_fts (rowid, text) VALUES (new.id, new.text);
    END
    """,
    "INSERT INTO memory_entries_fts (memory_entries_fts) VALUES ('rebuild')",
)

_SQLITE_DOWNGRADE = (
    "DROP TRIGGER memory_entries_fts_update",
    "DROP TRIGGER memory_entries_fts_delete",
    "DROP TRIGGER memory_entries_fts_insert",
    "DROP TABLE memory_entries_fts",
)


def _is_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if _is_mysql():
        op.create_index(
            "ix_memory_entries_text", "memory_entries", ["text"], mysql_prefix="FULLTEXT"
        )
    else:
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if _is_mysql():
        op.drop_index("ix_memory_entries_text", table_name="memory_entries")
    else:
        for statement in _SQLITE_DOWNGRADE:
            op.execute(statement)

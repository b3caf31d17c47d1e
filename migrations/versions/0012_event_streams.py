"""a row per session's event log for its writer to fence on

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 04:10:00

The event log's writer used to fence on the session's row, and its events referred to it:
both wait, on MariaDB, for the lock the recorder holds on that row through each of its
transactions, and at full pace that wait was most of an event's way to its subscribers.
Each session now has an `event_streams` row naming who may append to its log (its lease
owner); the log's events refer to it instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_streams",
        sa.Column("history_id", _ID, nullable=False),
        sa.Column("writer", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["history_id"],
            ["training_history.id"],
            name=op.f("fk_event_streams_history_id_training_history"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("history_id", name=op.f("pk_event_streams")),
    )
    op.execute(
        "INSERT INTO event_streams (history_id, writer) "
        "SELECT id, lease_owner FROM training_history"
    )
    _refer_events(("training_history", "id"), ("event_streams", "history_id"))


def downgrade() -> None:
    _refer_events(("event_streams", "history_id"), ("training_history", "id"))
    op.drop_table("event_streams")


def _refer_events(before: tuple[str, str], after: tuple[str, str]) -> None:
    """Make the events' `history_id` refer to `after` (a table and its column), not `before`."""
    with op.batch_alter_table("training_events") as batch:
        batch.drop_constraint(
            op.f(f"fk_training_events_history_id_{before[0]}"), type_="foreignkey"
        )
        batch.create_foreign_key(
            op.f(f"fk_training_events_history_id_{after[0]}"),
            after[0],
            ["history_id"],
            [after[1]],
            ondelete="CASCADE",
        )

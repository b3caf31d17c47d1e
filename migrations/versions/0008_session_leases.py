"""session leases

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:00:00

Sessions run on workers that hold a lease on each: the worker that owns it, until when,
how often it was taken over, and whether cancelTraining asked it to stop. They replace the
runner id and heartbeat of 0003. A session left RUNNING by a server of an earlier version
has no lease, so a worker takes it over; one left QUEUED is queued again by the workers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTERs, not a batch: SQLite (3.35 or later) drops columns by itself, and a batch would
# copy the table and drop the old one, which deletes every row that refers to it (examples,
# events, model rows) through their ON DELETE CASCADE.


def upgrade() -> None:
    op.drop_index("idx_status_heartbeat", table_name="training_history")
    op.drop_column("training_history", "heartbeat_at")
    op.drop_column("training_history", "runner_id")
    op.add_column("training_history", sa.Column("lease_owner", sa.String(length=64)))
    op.add_column("training_history", sa.Column("lease_until", models.base.UTCDateTime()))
    op.add_column(
        "training_history",
        sa.Column("takeovers", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "training_history",
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("idx_status_lease", "training_history", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_index("idx_status_lease", table_name="training_history")
    op.drop_column("training_history", "cancel_requested")
    op.drop_column("training_history", "takeovers")
    op.drop_column("training_history", "lease_until")
    op.drop_column("training_history", "lease_owner")
    op.add_column("training_history", sa.Column("runner_id", sa.String(length=64)))
    op.add_column("training_history", sa.Column("heartbeat_at", models.base.UTCDateTime()))
    op.create_index("idx_status_heartbeat", "training_history", ["status", "heartbeat_at"])

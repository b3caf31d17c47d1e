"""session runners and heartbeats

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:10:00

Which server process runs or queues a session, and when it last said so, so that sessions of
a process that died are found and marked INTERRUPTED.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_history") as batch_op:
        batch_op.add_column(sa.Column("runner_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", models.base.UTCDateTime(), nullable=True))
        batch_op.create_index("idx_status_heartbeat", ["status", "heartbeat_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_history") as batch_op:
        batch_op.drop_index("idx_status_heartbeat")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("runner_id")

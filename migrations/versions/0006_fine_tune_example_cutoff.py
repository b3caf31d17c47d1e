"""the last example a fine-tuning job's datasets hold

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 06:05:00

A job's datasets hold the user's collected examples up to the batch that triggered it. Kept
as that batch's last example id, the cutoff lets the next job start from this one's files
and encode only the examples after it. Earlier jobs have none and are exported whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import BigId

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.add_column(sa.Column("last_example_id", BigId, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.drop_column("last_example_id")

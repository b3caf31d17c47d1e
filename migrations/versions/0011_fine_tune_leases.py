"""which worker prepares or follows a fine-tune job, and until when

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 00:45:00

A fine-tune job is prepared and followed by one worker at a time, under a lease it renews,
as a session is run: a job whose worker died is taken up by another once its lease has run
out. Jobs from before have no lease, and are taken up by the first worker that looks.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")

"""whether a teacher's stored output was cut

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:00:00

A teacher's answer is kept up to CHORUS_MAX_OUTPUT_CHARS characters; `truncated` says that
the stored text is the beginning of a longer answer. Outputs stored before were kept whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("teacher_outputs") as batch:
        batch.add_column(
            sa.Column("truncated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("teacher_outputs") as batch:
        batch.drop_column("truncated")

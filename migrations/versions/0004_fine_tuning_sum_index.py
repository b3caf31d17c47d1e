"""an index to sum a user's collected examples

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 04:45:00

The recorder sums a user's examples collected toward fine-tuning on every batch it
writes; (user_id, fine_tuning_examples) answers that from the index alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("idx_user_fine_tuning", "training_history", ["user_id", "fine_tuning_examples"])


def downgrade() -> None:
    op.drop_index("idx_user_fine_tuning", table_name="training_history")

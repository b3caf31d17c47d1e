"""each user's totals over their sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 06:10:00

`trainingStats`, `modelLeaderboard` and the recorder's count toward fine-tuning summed all
of a user's sessions on every call; they read `user_training_totals` and
`user_model_totals` instead, filled here from the sessions already stored and kept in step
by every writer since. The index 0004 added for the recorder's sum has no reader left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "user_training_totals",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("examples_generated", sa.Integer(), nullable=False),
        sa.Column("stories_saved", sa.Integer(), nullable=False),
        sa.Column("quality_sum", sa.Numeric(precision=14, scale=1), nullable=False),
        sa.Column("scored_sessions", sa.Integer(), nullable=False),
        sa.Column("training_time_seconds", sa.Integer(), nullable=False),
        sa.Column("fine_tuning_sessions", sa.Integer(), nullable=False),
        sa.Column("fine_tuning_examples", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_training_totals_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_training_totals")),
    )
    op.create_table(
        "user_model_totals",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("total_quality", sa.Double(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_model_totals_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "model", name=op.f("pk_user_model_totals")),
    )
    fill_totals(op.execute, on_mysql=op.get_bind().dialect.name != "sqlite")
    op.drop_index("idx_user_fine_tuning", table_name="training_history")


def fill_totals(execute: Callable[[str], object], *, on_mysql: bool) -> None:
    """Fill both tables from the sessions stored; bench/history.py fills its generated
    database with this too."""
    # On MySQL/MariaDB, left to itself, the optimizer reads the sessions in user order
    # through an index and looks each row up: random reads once the tables outgrow the
    # buffer pool. Read in table order instead, each is one sequential pass.
    whole_table = " USE INDEX ()" if on_mysql else ""
    stats_first = "STRAIGHT_JOIN" if on_mysql else "JOIN"
    execute(
        "INSERT INTO user_training_totals (user_id, sessions, examples_generated,"
        " stories_saved, quality_sum, scored_sessions, training_time_seconds,"
        " fine_tuning_sessions, fine_tuning_examples) "
        "SELECT user_id, COUNT(*), SUM(num_examples_successful), SUM(stories_saved_count),"
        " COALESCE(SUM(average_quality), 0), COUNT(average_quality),"
        " COALESCE(SUM(total_time_seconds), 0),"
        " SUM(CASE WHEN fine_tuning_triggered THEN 1 ELSE 0 END), SUM(fine_tuning_examples) "
        f"FROM training_history{whole_table} GROUP BY user_id"
    )
    execute(
        "INSERT INTO user_model_totals (user_id, model, wins, total_quality, sessions) "
        "SELECT h.user_id, s.model, SUM(s.wins), SUM(s.total_quality), COUNT(*) "
        f"FROM session_model_stats s {stats_first} training_history h ON h.id = s.history_id "
        "GROUP BY h.user_id, s.model"
    )


def downgrade() -> None:
    op.create_index("idx_user_fine_tuning", "training_history", ["user_id", "fine_tuning_examples"])
    op.drop_table("user_model_totals")
    op.drop_table("user_training_totals")

"""tokens and cost of sessions, examples, outputs and models; budgets and end reasons

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 09:00:00

Each teacher output keeps what its judging call used and what both its calls cost; examples,
sessions and each model's row of a session keep the sums, and each user's totals the sums
over the sessions whose tokens and cost are known. A session keeps its budget and why it
ended. Rows stored before have NULL sums: what they used is not known. Users' totals start
at zero, since none of their sessions is counted yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Usd = sa.Numeric(precision=20, scale=9)

_SUMS = ("prompt_tokens", "completion_tokens", "cost_usd")
_TOTALS = (
    ("prompt_tokens", sa.BigInteger()),
    ("completion_tokens", sa.BigInteger()),
    ("cost_usd", Usd),
    ("costed_sessions", sa.Integer()),
)


def _sums(integer: sa.types.TypeEngine[int]) -> list[sa.Column[object]]:
    return [
        sa.Column("prompt_tokens", integer, nullable=True),
        sa.Column("completion_tokens", integer, nullable=True),
        sa.Column("cost_usd", Usd, nullable=True),
    ]


# Plain ALTER TABLEs, with no batch mode: on SQLite a batch rebuilds the table, and dropping
# `training_history` to rebuild it would cascade to every row that refers to it.


def upgrade() -> None:
    for column in [
        *_sums(sa.BigInteger()),
        sa.Column("max_cost_usd", Usd, nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
    ]:
        op.add_column("training_history", column)
    for column in _sums(sa.BigInteger()):
        op.add_column("session_model_stats", column)
    for column in _sums(sa.Integer()):
        op.add_column("training_examples", column)
    for column in [
        sa.Column("judge_prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("judge_completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", Usd, nullable=True),
    ]:
        op.add_column("teacher_outputs", column)
    for name, kind in _TOTALS:
        # Zero for the rows there are, and for writers that fill the totals from the
        # sessions' other sums (migration 0005's fill_totals).
        op.add_column(
            "user_training_totals", sa.Column(name, kind, nullable=False, server_default="0")
        )


def downgrade() -> None:
    for name, _ in _TOTALS:
        op.drop_column("user_training_totals", name)
    for name in ("judge_prompt_tokens", "judge_completion_tokens", "cost_usd"):
        op.drop_column("teacher_outputs", name)
    for table in ("training_examples", "session_model_stats"):
        for name in _SUMS:
            op.drop_column(table, name)
    for name in (*_SUMS, "max_cost_usd", "end_reason"):
        op.drop_column("training_history", name)

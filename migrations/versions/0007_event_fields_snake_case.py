"""event fields stored under their snake_case names

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00

The event log stored each event's payload under the GraphQL field names (`latencyMs`,
`textQuality`, `jobId`); it now stores the fields of the trainer's event dataclasses, under
their own names (`latency_ms`, `text_quality`, `job_id`). The values are unchanged. Rows
are read and rewritten in batches of the primary key, so a long log is never held in memory
at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000

_events = sa.table(
    "training_events",
    sa.column("id", sa.BigInteger()),
    sa.column("payload", sa.JSON()),
)


def snake_case(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def camel_case(key: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), key)


def rename_keys(bind: sa.Connection, rename: Callable[[str], str], batch: int = BATCH) -> None:
    """Rename the keys of every stored payload, `batch` rows at a time."""
    rewrite = (
        sa.update(_events)
        .where(_events.c.id == sa.bindparam("row_id"))
        .values(payload=sa.bindparam("renamed", type_=sa.JSON()))
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(_events.c.id, _events.c.payload)
            .where(_events.c.id > last)
            .order_by(_events.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        changed = []
        for row_id, payload in rows:
            renamed = {rename(key): value for key, value in payload.items()}
            if list(renamed) != list(payload):
                changed.append({"row_id": row_id, "renamed": renamed})
        if changed:
            bind.execute(rewrite, changed)
        last = rows[-1][0]


def upgrade() -> None:
    rename_keys(op.get_bind(), snake_case)


def downgrade() -> None:
    rename_keys(op.get_bind(), camel_case)

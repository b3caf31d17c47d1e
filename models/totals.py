"""Keeping each user's totals in step with their sessions.

`user_training_totals` and `user_model_totals` are sums over `training_history` and
`session_model_stats`. Every write to a session's summed columns or to its model rows goes
through here, in the writer's transaction, and adds the difference it makes to the totals
(`x = x + delta`), so that concurrent sessions of one user add up instead of overwriting
each other.

Locks are taken in one order by every writer, so that MySQL/MariaDB writers queue instead of
deadlocking: the user's row (the recorder's `FOR UPDATE`, the shared lock `set_status` takes
for a final status, or the one that inserting a row referencing it takes), the session's
row, the user's totals, the user's model totals (by model name).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import asdict, astuple, dataclass, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    Selectable,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import table_of
from models.engine import on_sqlite
from models.errors import BadUserInput, LeaseLost
from models.limits import INT_MAX
from models.tables import SessionModelStats, TrainingHistory, UserModelTotals, UserTrainingTotals


@dataclass(frozen=True)
class ModelScore:
    """A model's wins and the summed quality of its winning examples in one session, and
    what its calls used (None: not known)."""

    wins: int
    total_quality: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class _SessionSums:
    """What one session adds to its user's totals: the columns of `user_training_totals`."""

    sessions: int = 0
    examples_generated: int = 0
    stories_saved: int = 0
    quality_sum: float = 0.0
    scored_sessions: int = 0
    training_time_seconds: int = 0
    fine_tuning_sessions: int = 0
    fine_tuning_examples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    costed_sessions: int = 0

    def __sub__(self, other: _SessionSums) -> _SessionSums:
        return _SessionSums(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


_SUMMED_COLUMNS = (
    "num_examples_successful",
    "stories_saved_count",
    "average_quality",
    "total_time_seconds",
    "fine_tuning_triggered",
    "fine_tuning_examples",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)


def _summed_columns(history: TrainingHistory) -> dict[str, Any]:
    return {name: getattr(history, name) for name in _SUMMED_COLUMNS}


def _session_sums(columns: Mapping[str, Any]) -> _SessionSums:
    quality = columns["average_quality"]
    cost = columns["cost_usd"]
    return _SessionSums(
        sessions=1,
        examples_generated=columns["num_examples_successful"] or 0,
        stories_saved=columns["stories_saved_count"] or 0,
        quality_sum=quality or 0.0,
        scored_sessions=int(quality is not None),
        training_time_seconds=columns["total_time_seconds"] or 0,
        fine_tuning_sessions=int(bool(columns["fine_tuning_triggered"])),
        fine_tuning_examples=columns["fine_tuning_examples"] or 0,
        prompt_tokens=columns["prompt_tokens"] or 0,
        completion_tokens=columns["completion_tokens"] or 0,
        cost_usd=cost or 0.0,
        costed_sessions=int(cost is not None),
    )


async def add_session(
    db: AsyncSession, history: TrainingHistory, scores: Mapping[str, ModelScore]
) -> None:
    """Store a new session's model rows, and count the session and them in its user's
    totals; `history` is flushed already."""
    await _write_model_rows(db, history.id, scores)
    await db.execute(
        _upsert(on_sqlite(db), UserTrainingTotals, ("user_id",), _add),
        {"user_id": history.user_id, **asdict(_session_sums(_summed_columns(history)))},
    )
    await _count_model_rows(db, history, sorted(scores))


async def check_totals(db: AsyncSession, user_id: int) -> None:
    """Raise BadUserInput when a write in this transaction took one of the user's counts past
    what their columns and GraphQL's Int hold (on SQLite, which stores it; MySQL/MariaDB
    refuse the write itself): a total that cannot be read back would break every read of
    the user's statistics. The caller rolls back."""
    totals = UserTrainingTotals
    counts = [getattr(totals, f.name) for f in fields(_SessionSums) if f.name != "quality_sum"]
    highest = await db.scalar(
        select(func.max(UserModelTotals.wins)).where(UserModelTotals.user_id == user_id)
    )
    row = (await db.execute(select(*counts).where(totals.user_id == user_id))).one_or_none()
    if max([highest or 0, *(row or ())]) > INT_MAX:
        raise BadUserInput(too_large())


def too_large() -> str:
    return (
        f"Recording this session would take one of your totals past {INT_MAX:,}, the most "
        "the API can count."
    )


async def locked_session(db: AsyncSession, history_id: int) -> TrainingHistory:
    """The session as stored now, its row locked until commit: what a change is measured
    from, with no other writer changing it in between."""
    history = await db.get(
        TrainingHistory, history_id, with_for_update=True, populate_existing=True
    )
    assert history is not None, f"session {history_id} is not stored"
    return history


async def update_session(
    db: AsyncSession,
    before: TrainingHistory,
    values: Mapping[str, Any],
    *,
    owner: str | None = None,
) -> None:
    """Write `values` to the session `before` (from `locked_session`), and add what they
    change to its user's totals. With `owner`, only while that worker holds the session's
    lease: else LeaseLost, and the caller's transaction is rolled back."""
    # Taken first: the update brings `before` up to date too.
    old = _summed_columns(before)
    statement = update(TrainingHistory).where(TrainingHistory.id == before.id)
    if owner is not None:
        # The fence, in the statement that writes the row anyway: on SQLite the transaction
        # holds the write lock by now, on MariaDB the row's lock, so no claim comes between.
        statement = statement.where(TrainingHistory.lease_owner == owner)
    written = await db.execute(statement.values(values))
    if owner is not None and written.rowcount != 1:  # type: ignore[attr-defined]
        history_id = before.id  # the rollback expires `before`
        await db.rollback()
        raise LeaseLost(f"session {history_id} is no longer {owner}'s")
    delta = _session_sums({**old, **values}) - _session_sums(old)
    changed = {name: value for name, value in asdict(delta).items() if value}
    if changed:
        # An UPDATE, the row being there since the session was added: an insert would also
        # lock the user's row, which the recorder may hold while it waits for this session's.
        totals = UserTrainingTotals
        await db.execute(
            update(totals)
            .where(totals.user_id == before.user_id)
            .values({name: getattr(totals, name) + value for name, value in changed.items()})
            .execution_options(synchronize_session=False)
        )


async def update_scores(
    db: AsyncSession, history: TrainingHistory, scores: Mapping[str, ModelScore]
) -> None:
    """Set the session's rows of the models in `scores`, adding the rows it lacks, and
    change its user's model totals to match: the rows as they were are taken out of them
    and the rows as they are now put in."""
    if not scores:
        return
    models = sorted(scores)
    await _uncount_model_rows(db, history, models)
    await _write_model_rows(db, history.id, scores)
    await _count_model_rows(db, history, models)


async def _write_model_rows(
    db: AsyncSession, history_id: int, scores: Mapping[str, ModelScore]
) -> None:
    if scores:
        await db.execute(
            _upsert(on_sqlite(db), SessionModelStats, ("history_id", "model"), _replace),
            [
                {
                    "history_id": history_id,
                    "model": model,
                    "wins": score.wins,
                    "total_quality": score.total_quality,
                    "prompt_tokens": score.prompt_tokens,
                    "completion_tokens": score.completion_tokens,
                    "cost_usd": score.cost_usd,
                }
                for model, score in sorted(scores.items())
            ],
        )


# A session's rows of some models, as a user's model totals count them.
_MODEL_ROWS = select(
    bindparam("user_id", type_=Integer).label("user_id"),
    SessionModelStats.model,
    SessionModelStats.wins,
    SessionModelStats.total_quality,
    literal(1).label("sessions"),
).where(
    SessionModelStats.history_id == bindparam("history_id"),
    SessionModelStats.model.in_(bindparam("models", expanding=True)),
)


async def _count_model_rows(db: AsyncSession, history: TrainingHistory, models: list[str]) -> None:
    # Read back as stored, so the totals add what SUM() over the rows adds: on MySQL/MariaDB
    # a FLOAT column's own value, not the double it was written from.
    if models:
        await db.execute(
            _upsert(on_sqlite(db), UserModelTotals, ("user_id", "model"), _add, _MODEL_ROWS),
            {"user_id": history.user_id, "history_id": history.id, "models": models},
        )


async def _uncount_model_rows(
    db: AsyncSession, history: TrainingHistory, models: list[str]
) -> None:
    totals, stats = UserModelTotals, SessionModelStats
    await db.execute(
        update(totals)
        .where(
            totals.user_id == history.user_id,
            totals.model == stats.model,
            stats.history_id == history.id,
            stats.model.in_(models),
        )
        .values(
            wins=totals.wins - stats.wins,
            total_quality=totals.total_quality - stats.total_quality,
            sessions=totals.sessions - 1,
        )
        # Totals are never loaded as objects by the writers: nothing to bring up to date,
        # and finding out would cost a SELECT of the rows first (the "fetch" strategy).
        .execution_options(synchronize_session=False)
    )


_Table = type[UserTrainingTotals] | type[UserModelTotals] | type[SessionModelStats]
_Merge = Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[Any]]


def _add(total: ColumnElement[Any], added: ColumnElement[Any]) -> ColumnElement[Any]:
    return total + added


def _replace(theirs: ColumnElement[Any], new: ColumnElement[Any]) -> ColumnElement[Any]:
    return new


# Built once for each backend and kept: building an upsert's `inserted` (or `excluded`)
# columns takes about 0.2 ms, and the recorder runs two of them for every batch.
@functools.cache
def _upsert(
    sqlite_upsert: bool,
    table: _Table,
    key: tuple[str, ...],
    merge: _Merge,
    rows: Selectable | None = None,
) -> Insert:
    """An INSERT into `table` (of `rows`, or of the values it is executed with) that, where
    a row of the same key is there already, sets its other columns to `merge(theirs, new)`;
    SQLite's form, or MySQL/MariaDB's."""
    # Into the Core table: a kept insert of the ORM class fails when it is executed again
    # (in SQLAlchemy's ORM bulk-insert path), and the ORM adds nothing to these rows.
    core = table_of(table)
    names = [column.name for column in core.c]
    merged = [column for column in core.c if column.name not in key]
    if sqlite_upsert:
        upsert = sqlite.insert(core)
        if rows is not None:
            upsert = upsert.from_select(names, rows)
        return upsert.on_conflict_do_update(
            index_elements=key,
            set_={c.name: merge(c, upsert.excluded[c.name]) for c in merged},
        )
    on_mysql = mysql.insert(core)
    if rows is not None:
        on_mysql = on_mysql.from_select(names, rows)
    return on_mysql.on_duplicate_key_update(
        {c.name: merge(c, on_mysql.inserted[c.name]) for c in merged}
    )

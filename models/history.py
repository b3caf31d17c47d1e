"""Reading training sessions: keyset pages, single sessions, statistics, leaderboard, trend."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import limits
from models.base import Record
from models.enums import Genre, HistoryOrder, SessionStatus
from models.json_rows import JsonArray, in_order, json_object
from models.keyset import Ordering, Page, PageArgs, count, paginate_rows
from models.tables import (
    SessionGenreCount,
    SessionModelStats,
    TrainingHistory,
    UserModelTotals,
    UserTrainingTotals,
)

FINE_TUNING_THRESHOLD = 50
FINE_TUNING_MIN_QUALITY = 7.0

_LIST = "TrainingSession"
HISTORY_ORDERINGS: dict[HistoryOrder, Ordering] = {
    HistoryOrder.STARTED_AT_DESC: Ordering(
        _LIST, "STARTED_AT_DESC", TrainingHistory.started_at, TrainingHistory.id, descending=True
    ),
    HistoryOrder.STARTED_AT_ASC: Ordering(
        _LIST, "STARTED_AT_ASC", TrainingHistory.started_at, TrainingHistory.id, descending=False
    ),
    HistoryOrder.AVERAGE_QUALITY_DESC: Ordering(
        _LIST,
        "AVERAGE_QUALITY_DESC",
        TrainingHistory.average_quality,
        TrainingHistory.id,
        descending=True,
        nullable=True,
        key_range=(0.0, limits.MAX_QUALITY),
    ),
}


@dataclass(frozen=True)
class HistoryFilter:
    started_after: datetime | None = None
    started_before: datetime | None = None
    genre: Genre | None = None
    min_average_quality: float | None = None
    status: SessionStatus | None = None
    fine_tuning_triggered: bool | None = None

    def __post_init__(self) -> None:
        if self.started_after is not None:
            limits.instant(self.started_after, "startedAfter")
        if self.started_before is not None:
            limits.instant(self.started_before, "startedBefore")
        if self.min_average_quality is not None:
            limits.quality(self.min_average_quality, "minAverageQuality")


_SESSIONS = TrainingHistory.__table__
_GENRE_COUNTS = SessionGenreCount.__table__
_MODEL_STATS = SessionModelStats.__table__

SessionRow = Record
"""A session's columns that a read asked for, by name; as `TrainingHistory` has them."""


def _history_filter(user_id: int, where: HistoryFilter | None) -> list[ColumnElement[bool]]:
    """The conditions of a user's sessions that `where` keeps, on the table's own columns
    (the ORM's attributes would make any statement using them an ORM one)."""
    sessions = _SESSIONS.c
    conditions = [sessions.user_id == user_id]
    if where is None:
        return conditions
    if where.started_after is not None:
        conditions.append(sessions.started_at >= where.started_after)
    if where.started_before is not None:
        conditions.append(sessions.started_at < where.started_before)
    if where.genre is not None:
        # A genre counts when the session trained on it, or selected it and has yet to.
        trained = exists().where(
            _GENRE_COUNTS.c.history_id == sessions.id, _GENRE_COUNTS.c.genre == where.genre
        )
        selected = sessions.genres_selected.contains(f'"{where.genre.name}"')
        conditions.append(or_(trained, selected))
    if where.min_average_quality is not None:
        conditions.append(sessions.average_quality >= where.min_average_quality)
    if where.status is not None:
        conditions.append(sessions.status == where.status)
    if where.fine_tuning_triggered is not None:
        conditions.append(sessions.fine_tuning_triggered == where.fine_tuning_triggered)
    return conditions


def history_query(user_id: int, where: HistoryFilter | None = None) -> Select[TrainingHistory]:
    return select(TrainingHistory).where(*_history_filter(user_id, where))


SESSION_COLUMNS = frozenset(_SESSIONS.c.keys())
# What a read of sessions needs whatever it shows: their keys and their owner.
_KEYS = frozenset({"id", "session_id", "user_id"})


def _columns(
    columns: Collection[str] | None, model_stats: bool, *also: str
) -> list[ColumnElement[Any]]:
    """A session's columns in `columns` and its keys (all of them when None), and with
    `model_stats` its figures per model (`model_stats_in`): the driver parses every column
    it is sent, and a session has 39."""
    names = SESSION_COLUMNS if columns is None else SESSION_COLUMNS & {*columns, *_KEYS, *also}
    chosen: list[ColumnElement[Any]] = [_SESSIONS.c[name] for name in sorted(names)]
    return [*chosen, _MODEL_STATS_COLUMN] if model_stats else chosen


async def history_page(
    db: AsyncSession,
    user_id: int,
    where: HistoryFilter | None,
    order: HistoryOrder,
    args: PageArgs,
    columns: Collection[str] | None = None,
    *,
    model_stats: bool = False,
) -> Page[SessionRow]:
    """A page of a user's sessions; with `columns`, only those are read of them, and with
    `model_stats` their figures per model (`model_stats_in`)."""
    ordering = HISTORY_ORDERINGS[order]
    query = select(_SESSIONS.c.id).where(*_history_filter(user_id, where))
    chosen = _columns(columns, model_stats, ordering.key.key)
    return await paginate_rows(db, query, ordering, args, chosen)


async def count_history(db: AsyncSession, user_id: int, where: HistoryFilter | None) -> int:
    return await count(db, history_query(user_id, where))


async def all_history(db: AsyncSession, user_id: int) -> Sequence[TrainingHistory]:
    """Every session of a user, newest first (the original `GET .../user/{id}`)."""
    query = history_query(user_id).order_by(
        TrainingHistory.started_at.desc(), TrainingHistory.id.desc()
    )
    return (await db.scalars(query)).all()


async def history_by_page_number(
    db: AsyncSession, user_id: int, page: int, size: int
) -> tuple[Sequence[TrainingHistory], int]:
    """A numbered page, newest first, and the total: the original REST API's paging."""
    query = history_query(user_id)
    rows = await db.scalars(
        query.order_by(TrainingHistory.started_at.desc(), TrainingHistory.id.desc())
        .offset(page * size)
        .limit(size)
    )
    return rows.all(), await count(db, query)


async def session_by_id(db: AsyncSession, session_id: str) -> TrainingHistory | None:
    return await db.scalar(select(TrainingHistory).where(TrainingHistory.session_id == session_id))


async def session_row(
    db: AsyncSession,
    session_id: str,
    columns: Collection[str] | None = None,
    *,
    model_stats: bool = False,
) -> SessionRow | None:
    """The session's `columns` (all when None) and keys, and with `model_stats` its figures
    per model (`model_stats_in`)."""
    shown = None if columns is None else frozenset(columns)
    query = _session_row_query(shown, model_stats)
    row: SessionRow | None = (await db.execute(query, {"session_id": session_id})).first()
    return row


@lru_cache(maxsize=64)
def _session_row_query(columns: frozenset[str] | None, model_stats: bool) -> Select[Any]:
    """The statement of `session_row`, made once for each shape a query asks for: making it
    is a good part of what running it costs SQLAlchemy."""
    chosen = _columns(columns, model_stats)
    return select(*chosen).where(_SESSIONS.c.session_id == bindparam("session_id"))


async def sessions_by_ids(db: AsyncSession, ids: Sequence[int]) -> Sequence[TrainingHistory]:
    return (await db.scalars(select(TrainingHistory).where(TrainingHistory.id.in_(ids)))).all()


def _recent(query: Select[Any], limit: int) -> Select[Any]:
    sessions = _SESSIONS.c
    return (
        query.where(sessions.completed_at.is_not(None))
        .order_by(sessions.completed_at.desc(), sessions.id.desc())
        .limit(limit)
    )


async def recent_sessions(db: AsyncSession, user_id: int, limit: int) -> Sequence[TrainingHistory]:
    """The last finished sessions by completion time."""
    return (await db.scalars(_recent(history_query(user_id), limit))).all()


async def recent_session_rows(
    db: AsyncSession,
    user_id: int,
    limit: int,
    columns: Collection[str] | None = None,
    *,
    model_stats: bool = False,
) -> Sequence[SessionRow]:
    """As `recent_sessions`, each session's `columns` (all when None) and keys only, and with
    `model_stats` its figures per model (`model_stats_in`)."""
    query = select(*_columns(columns, model_stats)).where(*_history_filter(user_id, None))
    rows: Sequence[SessionRow] = (await db.execute(_recent(query, limit))).all()
    return rows


@dataclass(frozen=True)
class TrainingStats:
    total_sessions: int
    total_examples_generated: int
    total_stories_saved: int
    average_quality: float | None
    total_training_time_seconds: int
    fine_tuning_sessions_count: int
    fine_tuning_examples: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Over the sessions whose cost is known; None when none's is.
    cost_usd: float | None = None
    sessions_with_known_cost: int = 0

    @property
    def until_next_fine_tuning(self) -> int:
        return FINE_TUNING_THRESHOLD - self.fine_tuning_examples % FINE_TUNING_THRESHOLD


async def training_stats(db: AsyncSession, user_id: int) -> TrainingStats:
    totals = UserTrainingTotals
    # Divided in SQL, as AVG() divided: in DECIMAL on MySQL/MariaDB, so the same digits.
    average = case(
        (totals.scored_sessions > 0, totals.quality_sum / totals.scored_sessions), else_=None
    )
    row = (
        await db.execute(
            select(
                totals.sessions,
                totals.examples_generated,
                totals.stories_saved,
                average,
                totals.training_time_seconds,
                totals.fine_tuning_sessions,
                totals.fine_tuning_examples,
                totals.prompt_tokens,
                totals.completion_tokens,
                totals.cost_usd,
                totals.costed_sessions,
            ).where(totals.user_id == user_id)
        )
    ).one_or_none()
    if row is None:  # a user with no sessions yet
        return TrainingStats(0, 0, 0, None, 0, 0, 0)
    return TrainingStats(
        total_sessions=row[0],
        total_examples_generated=row[1],
        total_stories_saved=row[2],
        average_quality=None if row[3] is None else round(float(row[3]), 2),
        total_training_time_seconds=row[4],
        fine_tuning_sessions_count=row[5],
        fine_tuning_examples=row[6],
        prompt_tokens=row[7],
        completion_tokens=row[8],
        cost_usd=round(float(row[9]), 9) if row[10] else None,
        sessions_with_known_cost=row[10],
    )


async def fine_tuning_examples_collected(db: AsyncSession, user_id: int) -> int:
    total = await db.scalar(
        select(UserTrainingTotals.fine_tuning_examples).where(UserTrainingTotals.user_id == user_id)
    )
    return total or 0


@dataclass(frozen=True)
class LeaderboardEntry:
    model: str
    wins: int
    average_quality: float
    sessions: int


def mean_quality(total_quality: float, count: int) -> float:
    """The mean of `count` final qualities summing to `total_quality`, to two decimals; 0.0
    for none. Qualities are kept to two decimals, so the sum is rounded to them first: the
    float error of adding them up in one order or another must not tip a mean at .xx5."""
    return round(round(total_quality, 2) / count, 2) if count else 0.0


async def model_leaderboard(db: AsyncSession, user_id: int) -> list[LeaderboardEntry]:
    """Every model that took part in the user's sessions, most wins first."""
    totals = UserModelTotals
    rows = await db.execute(
        select(totals.model, totals.wins, totals.total_quality, totals.sessions)
        .where(totals.user_id == user_id)
        .order_by(totals.wins.desc(), totals.model)
    )
    return [
        LeaderboardEntry(
            model=model,
            wins=wins,
            average_quality=mean_quality(total_quality, wins),
            sessions=sessions,
        )
        for model, wins, total_quality, sessions in rows
    ]


@dataclass(frozen=True)
class QualityPoint:
    day: datetime
    sessions: int
    average_quality: float | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Over the day's sessions whose cost is known; None when none's is.
    cost_usd: float | None = None


async def quality_trend(
    db: AsyncSession, user_id: int, days: int, now: datetime | None = None
) -> list[QualityPoint]:
    """One point per UTC day of the last `days` days, oldest first; empty days included."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    first_day = today - timedelta(days=days - 1)
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    day = func.date(TrainingHistory.started_at)
    rows = await db.execute(
        select(
            day,
            func.count(),
            func.avg(TrainingHistory.average_quality),
            func.coalesce(func.sum(TrainingHistory.prompt_tokens), 0),
            func.coalesce(func.sum(TrainingHistory.completion_tokens), 0),
            func.sum(TrainingHistory.cost_usd),
        )
        .where(TrainingHistory.user_id == user_id, TrainingHistory.started_at >= start)
        .group_by(day)
    )
    by_day: dict[date, QualityPoint] = {}
    for raw_day, sessions, average, prompt_tokens, completion_tokens, cost in rows:
        key = raw_day if isinstance(raw_day, date) else date.fromisoformat(str(raw_day))
        by_day[key] = QualityPoint(
            day=datetime(key.year, key.month, key.day, tzinfo=UTC),
            sessions=int(sessions),
            average_quality=None if average is None else round(float(average), 2),
            prompt_tokens=int(prompt_tokens),
            completion_tokens=int(completion_tokens),
            cost_usd=None if cost is None else round(float(cost), 9),
        )
    points = []
    for offset in range(days):
        current = first_day + timedelta(days=offset)
        empty = QualityPoint(
            day=datetime(current.year, current.month, current.day, tzinfo=UTC),
            sessions=0,
            average_quality=None,
        )
        points.append(by_day.get(current, empty))
    return points


@dataclass(frozen=True, slots=True)
class ModelStats:
    """One model's figures in one session (a `SessionModelStats` row)."""

    model: str
    wins: int
    total_quality: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None


# The label of the column of a session's row that holds its ModelStats as JSON.
MODEL_STATS = "model_stats"


def _model_stats_column() -> ColumnElement[Any]:
    """A session's figures per model, most wins first, as one JSON array: a column of the
    session's row rather than a statement of their own (models.json_rows). Made once."""
    stats = _MODEL_STATS.c
    each = json_object(
        model=stats.model,
        wins=stats.wins,
        total_quality=stats.total_quality,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        cost_usd=stats.cost_usd,
    )
    in_order = JsonArray(each, stats.wins.desc(), stats.model)
    of_session = select(in_order).where(stats.history_id == _SESSIONS.c.id)
    return of_session.scalar_subquery().label(MODEL_STATS)


_MODEL_STATS_COLUMN = _model_stats_column()


def model_stats_in(db: AsyncSession, rows: Iterable[SessionRow]) -> dict[int, list[ModelStats]]:
    """Each session's ModelStats, most wins first, from its row read with them (`history_page`
    and the like with `model_stats=True`)."""
    read: dict[int, list[ModelStats]] = {}
    for row in rows:
        stats = [
            ModelStats(
                model=item["model"],
                wins=item["wins"],
                total_quality=float(item["total_quality"]),
                prompt_tokens=item["prompt_tokens"],
                completion_tokens=item["completion_tokens"],
                cost_usd=None if item["cost_usd"] is None else float(item["cost_usd"]),
            )
            for item in getattr(row, MODEL_STATS) or ()
        ]
        read[row.id] = in_order(db, stats, lambda each, text: (-each.wins, text(each.model)))
    return read


async def model_stats_for(
    db: AsyncSession, history_ids: Sequence[int]
) -> dict[int, list[ModelStats]]:
    """Each session's figures per model, most wins first."""
    sessions = _SESSIONS.c
    query = select(sessions.id, _MODEL_STATS_COLUMN).where(sessions.id.in_(history_ids))
    return model_stats_in(db, await db.execute(query))


async def genre_counts_for(db: AsyncSession, history_ids: Sequence[int]) -> dict[int, list[Record]]:
    """Each session's examples per genre (`SessionGenreCount`'s columns), most first."""
    counts = _GENRE_COUNTS.c
    rows = await db.execute(
        select(*counts)
        .where(counts.history_id.in_(history_ids))
        .order_by(counts.count.desc(), counts.genre)
    )
    return _grouped(rows, "history_id")


def _grouped(rows: Iterable[Record], key: str) -> dict[int, list[Record]]:
    grouped: dict[int, list[Record]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, key), []).append(row)
    return grouped

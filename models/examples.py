"""A session's examples with their outputs and votes: stored a batch at a time, read
batched across sessions."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models import limits
from models.bulk import insert_returning_ids, insert_rows
from models.enums import ExampleStatus, Genre
from models.history import FINE_TUNING_MIN_QUALITY
from models.keyset import Ordering, Page, PageArgs, paginate
from models.tables import TeacherOutput, TrainingExample, TrainingHistory, Vote

EXAMPLE_ORDERING = Ordering(
    "TrainingExample",
    "INDEX_ASC",
    TrainingExample.index,
    TrainingExample.id,
    descending=False,
    key_range=(0, limits.INT_MAX),
)


async def add_examples(db: AsyncSession, rows: Sequence[Mapping[str, object]]) -> list[int]:
    """Store examples (column values, one mapping each) in one statement; their ids, in
    the order given."""
    return await insert_returning_ids(db, TrainingExample, rows)


async def add_outputs(db: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Store teachers' outputs, of any number of examples, in one statement."""
    await insert_rows(db, TeacherOutput, rows)


async def add_votes(db: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Store votes, of any number of examples, in one statement."""
    await insert_rows(db, Vote, rows)


ExampleResult = Row[Genre, ExampleStatus, str | None, float | None, int | None]


async def example_results(db: AsyncSession, history_id: int) -> Sequence[ExampleResult]:
    """How each stored example of the session ended, in example order: its genre, status,
    winner, final quality and saved story's id."""
    rows = await db.execute(
        select(
            TrainingExample.genre,
            TrainingExample.status,
            TrainingExample.winner,
            TrainingExample.final_quality,
            TrainingExample.saved_story_id,
        )
        .where(TrainingExample.history_id == history_id)
        .order_by(TrainingExample.index)
    )
    return rows.all()


@dataclass(frozen=True)
class ModelUsage:
    """What one model's calls in a session used, over its stored outputs; the cost is None
    when any of them is not known."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None


async def model_usage(db: AsyncSession, history_id: int) -> list[ModelUsage]:
    """Each model's sums over the session's stored outputs: where a resumed session's
    tallies start from."""
    outputs = TeacherOutput
    rows = await db.execute(
        select(
            outputs.model,
            func.sum(
                func.coalesce(outputs.prompt_tokens, 0)
                + func.coalesce(outputs.judge_prompt_tokens, 0)
            ),
            func.sum(
                func.coalesce(outputs.completion_tokens, 0)
                + func.coalesce(outputs.judge_completion_tokens, 0)
            ),
            func.sum(outputs.cost_usd),
            func.count() - func.count(outputs.cost_usd),
        )
        .join(TrainingExample, TrainingExample.id == outputs.example_id)
        .where(TrainingExample.history_id == history_id)
        .group_by(outputs.model)
        .order_by(outputs.model)
    )
    return [
        ModelUsage(
            model,
            int(prompt_tokens or 0),
            int(completion_tokens or 0),
            None if unknown or cost is None else round(float(cost), 9),
        )
        for model, prompt_tokens, completion_tokens, cost, unknown in rows
    ]


async def recorded_indexes(db: AsyncSession, history_id: int) -> set[int]:
    """The indexes of the session's stored examples."""
    rows = await db.scalars(
        select(TrainingExample.index).where(TrainingExample.history_id == history_id)
    )
    return set(rows)


@dataclass(frozen=True)
class ExamplePage:
    page: Page[TrainingExample]
    total_count: int


async def first_example_pages(
    db: AsyncSession, history_ids: Sequence[int], size: int
) -> dict[int, ExamplePage]:
    """The first `size` examples of each session, and each session's total, in one query."""
    ranked = (
        select(
            TrainingExample,
            func.row_number()
            .over(partition_by=TrainingExample.history_id, order_by=TrainingExample.index)
            .label("position"),
            func.count().over(partition_by=TrainingExample.history_id).label("total"),
        )
        .where(TrainingExample.history_id.in_(history_ids))
        .subquery()
    )
    example = aliased(TrainingExample, ranked)
    rows = await db.execute(
        select(example, ranked.c.total)
        .where(ranked.c.position <= size + 1)
        .order_by(ranked.c.history_id, ranked.c.index)
    )
    grouped: dict[int, list[TrainingExample]] = {history_id: [] for history_id in history_ids}
    totals: dict[int, int] = dict.fromkeys(history_ids, 0)
    for row, total in rows:
        grouped[row.history_id].append(row)
        totals[row.history_id] = int(total)
    pages = {}
    for history_id, examples in grouped.items():
        shown = examples[:size]
        cursors = [EXAMPLE_ORDERING.cursor(e.index, e.id) for e in shown]
        page = Page(shown, cursors, has_next_page=len(examples) > size, has_previous_page=False)
        pages[history_id] = ExamplePage(page, totals[history_id])
    return pages


async def example_page(db: AsyncSession, history_id: int, args: PageArgs) -> ExamplePage:
    query = select(TrainingExample).where(TrainingExample.history_id == history_id)
    page = await paginate(db, query, EXAMPLE_ORDERING, args)
    total = await db.scalar(
        select(func.count())
        .select_from(TrainingExample)
        .where(TrainingExample.history_id == history_id)
    )
    return ExamplePage(page, int(total or 0))


async def outputs_for(
    db: AsyncSession, example_ids: Sequence[int]
) -> dict[int, list[TeacherOutput]]:
    rows = await db.scalars(
        select(TeacherOutput)
        .where(TeacherOutput.example_id.in_(example_ids))
        .order_by(TeacherOutput.example_id, TeacherOutput.model)
    )
    grouped: dict[int, list[TeacherOutput]] = {}
    for row in rows:
        grouped.setdefault(row.example_id, []).append(row)
    return grouped


OUTPUT_COLUMNS = frozenset(TeacherOutput.__table__.c.keys())


async def output_columns_for(
    db: AsyncSession, example_ids: Sequence[int], columns: Collection[str]
) -> dict[int, list[Row[Any]]]:
    """The outputs of examples as `outputs_for` orders them, each a row of `columns` (and
    its example's id) only: a story's text is the widest column of all, and the driver
    parses every column it is sent."""
    table = TeacherOutput.__table__
    chosen = sorted(OUTPUT_COLUMNS & {*columns, "example_id"})
    rows = await db.execute(
        select(*(table.c[name] for name in chosen))
        .where(TeacherOutput.example_id.in_(example_ids))
        .order_by(TeacherOutput.example_id, TeacherOutput.model)
    )
    grouped: dict[int, list[Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(row.example_id, []).append(row)
    return grouped


async def votes_for(db: AsyncSession, example_ids: Sequence[int]) -> dict[int, list[Vote]]:
    rows = await db.scalars(
        select(Vote).where(Vote.example_id.in_(example_ids)).order_by(Vote.example_id, Vote.id)
    )
    grouped: dict[int, list[Vote]] = {}
    for row in rows:
        grouped.setdefault(row.example_id, []).append(row)
    return grouped


def collected_by(user_id: int) -> list[ColumnElement[bool]]:
    """The user's stored examples that count toward fine-tuning (to join with the history)."""
    return [
        TrainingHistory.id == TrainingExample.history_id,
        TrainingHistory.user_id == user_id,
        TrainingExample.final_quality >= FINE_TUNING_MIN_QUALITY,
        TrainingExample.text.is_not(None),
    ]


async def count_collected(db: AsyncSession, user_id: int) -> int:
    """How many of the user's collected examples a fine-tuning dataset made now would hold."""
    total = await db.scalar(
        select(func.count()).select_from(TrainingExample).where(*collected_by(user_id))
    )
    return int(total or 0)

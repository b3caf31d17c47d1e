"""A session's examples with their outputs and votes: stored a batch at a time, read
batched across sessions."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import limits
from models.base import Record
from models.bulk import insert_returning_ids, insert_rows
from models.enums import ExampleStatus, Genre
from models.history import FINE_TUNING_MIN_QUALITY
from models.json_rows import JsonArray, in_order, json_object
from models.keyset import Ordering, Page, PageArgs, paginate_rows
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


_EXAMPLES = TrainingExample.__table__
_OUTPUTS = TeacherOutput.__table__
_VOTES = Vote.__table__

EXAMPLE_COLUMNS = frozenset(_EXAMPLES.c.keys())
OUTPUT_COLUMNS = frozenset(_OUTPUTS.c.keys())
# What a read of examples needs whatever it shows: their keys, and their order's.
_EXAMPLE_KEYS = frozenset({"id", "history_id", "index"})


def _example_columns(columns: Collection[str] | None) -> list[str]:
    """The names of an example's columns in `columns` and its keys (all when None): a
    story's text is among the widest, and the driver parses every column it is sent."""
    names = EXAMPLE_COLUMNS if columns is None else EXAMPLE_COLUMNS & {*columns, *_EXAMPLE_KEYS}
    return sorted(names)


@dataclass(frozen=True)
class ExamplePage:
    # Each example a row of the columns read (as `TrainingExample` names them).
    page: Page[Record]
    total_count: int


# The labels of the columns of an example's row that hold its votes and its outputs as JSON.
VOTES = "votes"
OUTPUTS = "outputs"
# What no JSON array of outputs holds: a story's text. An array is one value, and
# MySQL/MariaDB cut one longer than `group_concat_max_len` (1 MB by default).
_WIDE_OUTPUT_COLUMNS = frozenset({"text"})


def outputs_fit_in_row(columns: Collection[str] | None) -> bool:
    """Whether outputs of `columns` (None: all) can be read with their example's row."""
    return columns is not None and not (_WIDE_OUTPUT_COLUMNS & {*columns})


def _votes_column(example_id: ColumnElement[int]) -> ColumnElement[Any]:
    """An example's votes in the order they were cast, as one JSON array (models.json_rows)."""
    votes = _VOTES.c
    each = json_object(id=votes.id, voter=votes.voter, candidate=votes.candidate)
    of_example = select(JsonArray(each, votes.id)).where(votes.example_id == example_id)
    return of_example.scalar_subquery().label(VOTES)


def _outputs_column(example_id: ColumnElement[int], columns: Collection[str]) -> ColumnElement[Any]:
    """An example's outputs of `columns`, by model, as one JSON array (models.json_rows)."""
    outputs = _OUTPUTS.c
    chosen = sorted(OUTPUT_COLUMNS & {*columns, "model"})
    each = json_object(**{name: outputs[name] for name in chosen})
    of_example = select(JsonArray(each, outputs.model)).where(outputs.example_id == example_id)
    return of_example.scalar_subquery().label(OUTPUTS)


@lru_cache(maxsize=64)
def _first_pages_query(
    names: tuple[str, ...], votes: bool, outputs: tuple[str, ...] | None
) -> Select[Any]:
    """The statement of `first_example_pages`, made once for each shape a query asks for:
    making it is a good part of what running it costs SQLAlchemy."""
    examples = _EXAMPLES.c
    ranked = (
        select(
            *(examples[name] for name in names),
            func.row_number()
            .over(partition_by=examples.history_id, order_by=examples.index)
            .label("position"),
            func.count().over(partition_by=examples.history_id).label("total"),
        )
        .where(examples.history_id.in_(bindparam("history_ids", expanding=True)))
        .subquery()
    )
    nested = []
    if votes:
        nested.append(_votes_column(ranked.c.id))
    if outputs is not None:
        nested.append(_outputs_column(ranked.c.id, outputs))
    return (
        select(*(ranked.c[name] for name in names), ranked.c.total, *nested)
        .where(ranked.c.position <= bindparam("limit"))
        .order_by(ranked.c.history_id, ranked.c.index)
    )


async def first_example_pages(
    db: AsyncSession,
    history_ids: Sequence[int],
    size: int,
    columns: Collection[str] | None = None,
    *,
    votes: bool = False,
    outputs: Collection[str] | None = None,
) -> dict[int, ExamplePage]:
    """The first `size` examples of each session, each its `columns` (all when None) and
    keys only, and each session's total, in one query; with `votes`, each example's votes
    (`votes_in`), with `outputs` (that `outputs_fit_in_row`) its outputs of those columns
    (`outputs_in`), read with it."""
    names = tuple(_example_columns(columns))
    query = _first_pages_query(names, votes, None if outputs is None else tuple(sorted(outputs)))
    rows = await db.execute(query, {"history_ids": list(history_ids), "limit": size + 1})
    grouped: dict[int, list[Record]] = {history_id: [] for history_id in history_ids}
    totals: dict[int, int] = dict.fromkeys(history_ids, 0)
    for row in rows:
        grouped[row.history_id].append(row)
        totals[row.history_id] = int(row.total)
    pages = {}
    for history_id, found in grouped.items():
        shown = found[:size]
        cursors = [EXAMPLE_ORDERING.cursor(e._mapping["index"], e.id) for e in shown]
        page = Page(shown, cursors, has_next_page=len(found) > size, has_previous_page=False)
        pages[history_id] = ExamplePage(page, totals[history_id])
    return pages


async def example_page(db: AsyncSession, history_id: int, args: PageArgs) -> ExamplePage:
    """A page of a session's examples, each a row of all its columns."""
    examples = _EXAMPLES.c
    query = select(examples.id).where(examples.history_id == history_id)
    columns = [examples[name] for name in _example_columns(None)]
    page = await paginate_rows(db, query, EXAMPLE_ORDERING, args, columns)
    total = await db.scalar(
        select(func.count()).select_from(_EXAMPLES).where(examples.history_id == history_id)
    )
    return ExamplePage(page, int(total or 0))


def votes_in(db: AsyncSession, pages: Iterable[ExamplePage]) -> dict[int, list[Mapping[str, Any]]]:
    """Each example's votes (`voter`, `candidate`) in the order they were cast, from its
    row read with them (`first_example_pages(..., votes=True)`)."""
    return _nested_in(db, pages, VOTES, lambda vote, _text: vote["id"])


def outputs_in(
    db: AsyncSession, pages: Iterable[ExamplePage]
) -> dict[int, list[Mapping[str, Any]]]:
    """Each example's outputs by model, each the columns asked for, from its row read with
    them (`first_example_pages(..., outputs=...)`)."""
    return _nested_in(db, pages, OUTPUTS, lambda output, text: text(output["model"]))


def _nested_in(
    db: AsyncSession,
    pages: Iterable[ExamplePage],
    label: str,
    key: Callable[[Mapping[str, Any], Callable[[str], str]], Any],
) -> dict[int, list[Mapping[str, Any]]]:
    read: dict[int, list[Mapping[str, Any]]] = {}
    for page in pages:
        for row in page.page.items:
            read[row.id] = in_order(db, getattr(row, label) or [], key)
    return read


async def outputs_for(
    db: AsyncSession, example_ids: Sequence[int], columns: Collection[str] | None = None
) -> dict[int, list[Mapping[str, Any]]]:
    """The teachers' outputs of examples, by model, each the values of `columns` (all when
    None) and its example's id only: a story's text is the widest column of all."""
    outputs = _OUTPUTS.c
    chosen = OUTPUT_COLUMNS if columns is None else OUTPUT_COLUMNS & {*columns}
    rows = await db.execute(
        select(*(outputs[name] for name in sorted({*chosen, "example_id"})))
        .where(outputs.example_id.in_(example_ids))
        .order_by(outputs.example_id, outputs.model)
    )
    return _by_example(rows)


async def votes_for(
    db: AsyncSession, example_ids: Sequence[int]
) -> dict[int, list[Mapping[str, Any]]]:
    """The votes of examples in the order they were cast: their voter and candidate."""
    votes = _VOTES.c
    rows = await db.execute(
        select(votes.example_id, votes.voter, votes.candidate)
        .where(votes.example_id.in_(example_ids))
        .order_by(votes.example_id, votes.id)
    )
    return _by_example(rows)


def _by_example(rows: Iterable[Record]) -> dict[int, list[Mapping[str, Any]]]:
    grouped: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row.example_id, []).append(cast(Mapping[str, Any], row._mapping))
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

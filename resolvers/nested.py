"""The lists nested in sessions and their examples, read with the query that reads the
sessions, when the client's selection asks for them.

A page of sessions whose `modelPerformance` is selected, or a session with its first page of
examples, their outputs and votes: each list is one statement, run in the same database
session as the page's own, one after the other. Left to the DataLoaders instead, each list
is a round through the event loop for every object that holds it, and a database session
of its own for every batch. What the selection does not name, or names in a way that cannot
be read ahead (a page of examples after a cursor, a page size that is not valid), is read
by the DataLoaders when it is resolved, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from models import examples, history
from models.errors import BadUserInput
from models.keyset import PageArgs
from models.tables import SessionGenreCount, SessionModelStats, TeacherOutput, Vote
from resolvers.context import Info


@dataclass(frozen=True)
class Wanted:
    """The columns and nested lists a selection of sessions asks for."""

    # The sessions' columns its fields show (besides their keys); None: all of them.
    columns: frozenset[str] | None = None
    model_performance: bool = False
    genre_distribution: bool = False
    # The size of the first page of examples, when that is the one page selected.
    examples: int | None = None
    # The outputs' columns selected; None: no outputs.
    outputs: frozenset[str] | None = None
    votes: bool = False


@dataclass
class Nested:
    """Nested lists read ahead, by the id of the session or example holding them; None for
    a list not read ahead."""

    # The columns read of the sessions (the others are never shown); None: all of them.
    columns: frozenset[str] | None = None
    model_performance: dict[int, list[SessionModelStats]] | None = None
    genre_distribution: dict[int, list[SessionGenreCount]] | None = None
    examples_size: int | None = None
    examples: dict[int, examples.ExamplePage] = field(default_factory=dict)
    # Whole rows, or the selected columns' only.
    outputs: dict[int, list[TeacherOutput]] | dict[int, list[Row[Any]]] | None = None
    votes: dict[int, list[Vote]] | None = None


NOTHING = Nested()

# A session's fields that are not a column of the same name: the lists nested in it (read
# by its id), its global id (from its session id), and one column stored under another name.
_NOT_COLUMNS = frozenset({"__typename", "id", "modelPerformance", "genreDistribution", "examples"})
_COLUMN_OF = {"teachers": "teachers_json"}


def _fields(selections: Sequence[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, through its fragments."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def _under(selections: Sequence[Selection], path: Sequence[str]) -> Sequence[Selection]:
    """The selections found by following the field names of `path` from `selections`."""
    for name in path:
        selections = [
            child
            for selected in _fields(selections)
            if selected.name == name
            for child in selected.selections
        ]
    return selections


def wanted(info: Info, path: Sequence[str] = ()) -> Wanted:
    """What the current field's selection asks for under each session it reaches by `path`
    (`("edges", "node")` for a connection of sessions)."""
    sessions = list(_fields(_under(info.selected_fields[0].selections, path)))
    names = {selected.name for selected in sessions}
    pages = [selected for selected in sessions if selected.name == "examples"]
    sizes: set[int | None] = set()
    for page in pages:
        if page.arguments.get("after") is not None:
            sizes.add(None)
            continue
        first = page.arguments.get("first")
        try:
            # An argument written in the document comes as its text, a variable as its value.
            sizes.add(PageArgs.parse(first=None if first is None else int(first)).size)
        except (BadUserInput, ValueError):
            sizes.add(None)
    size = next(iter(sizes)) if len(sizes) == 1 else None
    in_pages = [child for page in pages for child in page.selections]
    nodes = list(_fields(_under(in_pages, ("edges", "node"))))
    names_in_nodes = {selected.name for selected in nodes}
    outputs = None
    if size is not None and "outputs" in names_in_nodes:
        selected = {
            _snake(field.name)
            for field in _fields(_under(nodes, ("outputs",)))
            if field.name != "__typename"
        }
        # A field that is not a column of its own (none is, today) needs the whole row.
        outputs = frozenset(selected if selected <= examples.OUTPUT_COLUMNS else ())
    return Wanted(
        columns=_columns(names),
        model_performance="modelPerformance" in names,
        genre_distribution="genreDistribution" in names,
        examples=size,
        outputs=outputs,
        votes=size is not None and "votes" in names_in_nodes,
    )


def _columns(names: set[str]) -> frozenset[str] | None:
    """The columns the session fields `names` show; None (all) should one not be known."""
    columns = set()
    for name in names - _NOT_COLUMNS:
        column = _COLUMN_OF.get(name) or _snake(name)
        if column not in history.SESSION_COLUMNS:
            return None
        columns.add(column)
    return frozenset(columns)


def _snake(name: str) -> str:
    """A field's Python name from its GraphQL name (`latencyMs`: `latency_ms`)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


async def read_nested(db: AsyncSession, wants: Wanted, history_ids: Sequence[int]) -> Nested:
    """The lists `wants` asks for, of the sessions `history_ids`, read in `db`."""
    nested = Nested(columns=wants.columns)
    if not history_ids:
        return nested
    if wants.model_performance:
        nested.model_performance = await history.model_stats_for(db, history_ids)
    if wants.genre_distribution:
        nested.genre_distribution = await history.genre_counts_for(db, history_ids)
    if wants.examples is not None:
        nested.examples_size = wants.examples
        nested.examples = await examples.first_example_pages(db, history_ids, wants.examples)
        example_ids = [row.id for page in nested.examples.values() for row in page.page.items]
        if wants.outputs is not None:
            if not example_ids:
                nested.outputs = {}
            elif wants.outputs:
                nested.outputs = await examples.output_columns_for(db, example_ids, wants.outputs)
            else:
                nested.outputs = await examples.outputs_for(db, example_ids)
        if wants.votes:
            nested.votes = await examples.votes_for(db, example_ids) if example_ids else {}
    return nested

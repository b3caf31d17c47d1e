"""The lists nested in sessions and their examples, read with the query that reads the
sessions, when the client's selection asks for them.

A page of sessions whose `modelPerformance` is selected, or a session with its first page of
examples, their outputs and votes, in the same database session as the page's own: a
session's figures per model come as a column of its row, an example's votes and outputs
(without their stories' text) as columns of the example's (models.json_rows); any other
list is one statement for the whole page. Left to the DataLoaders instead, each list
is a round through the event loop for every object that holds it, and a database session
of its own for every batch. What the selection does not name, or names in a way that cannot
be read ahead (a page of examples after a cursor, a page size that is not valid), is read
by the DataLoaders when it is resolved, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from models import examples, history
from models.base import Record
from models.errors import BadUserInput
from models.keyset import PageArgs
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
    # The examples' columns selected (besides their keys); None: all of them.
    example_columns: frozenset[str] | None = None
    outputs: bool = False
    # The outputs' columns selected; None: all of them.
    output_columns: frozenset[str] | None = None
    votes: bool = False


@dataclass
class Nested:
    """Nested lists read ahead, by the id of the session or example holding them, each a
    row of the columns the query shows; None for a list not read ahead."""

    model_performance: dict[int, list[history.ModelStats]] | None = None
    genre_distribution: dict[int, list[Record]] | None = None
    examples_size: int | None = None
    examples: dict[int, examples.ExamplePage] = field(default_factory=dict)
    outputs: dict[int, list[Mapping[str, Any]]] | None = None
    votes: dict[int, list[Mapping[str, Any]]] | None = None


NOTHING = Nested()

# The fields of a session, an example and an output that are not a column of the same
# name: the lists nested in them (read by their id), a session's global id (from its
# session id), and one column stored under another name.
_NOT_SESSION_COLUMNS = frozenset(
    {"__typename", "id", "modelPerformance", "genreDistribution", "examples"}
)
_NOT_EXAMPLE_COLUMNS = frozenset({"__typename", "outputs", "votes"})
_NOT_OUTPUT_COLUMNS = frozenset({"__typename"})
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
    outputs = {selected.name for selected in _fields(_under(nodes, ("outputs",)))}
    return Wanted(
        columns=_columns(names, _NOT_SESSION_COLUMNS, history.SESSION_COLUMNS),
        model_performance="modelPerformance" in names,
        genre_distribution="genreDistribution" in names,
        examples=size,
        example_columns=_columns(names_in_nodes, _NOT_EXAMPLE_COLUMNS, examples.EXAMPLE_COLUMNS),
        outputs=size is not None and "outputs" in names_in_nodes,
        output_columns=_columns(outputs, _NOT_OUTPUT_COLUMNS, examples.OUTPUT_COLUMNS),
        votes=size is not None and "votes" in names_in_nodes,
    )


def _columns(
    names: set[str], not_columns: frozenset[str], known: frozenset[str]
) -> frozenset[str] | None:
    """The columns the fields `names` show, besides those in `not_columns`; None (all)
    should one not be a known column."""
    columns = set()
    for name in names - not_columns:
        column = _COLUMN_OF.get(name) or _snake(name)
        if column not in known:
            return None
        columns.add(column)
    return frozenset(columns)


def _snake(name: str) -> str:
    """A field's Python name from its GraphQL name (`latencyMs`: `latency_ms`)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


async def read_nested(
    db: AsyncSession, wants: Wanted, sessions: Sequence[history.SessionRow]
) -> Nested:
    """The lists `wants` asks for, of `sessions`, read in `db`; their figures per model were
    read with them (`model_stats=wants.model_performance`)."""
    nested = Nested()
    if not sessions:
        return nested
    history_ids = [row.id for row in sessions]
    if wants.model_performance:
        nested.model_performance = history.model_stats_in(db, sessions)
    if wants.genre_distribution:
        nested.genre_distribution = await history.genre_counts_for(db, history_ids)
    if wants.examples is not None:
        # Votes, and outputs without their stories' text, come with their examples' rows.
        inline = wants.outputs and examples.outputs_fit_in_row(wants.output_columns)
        nested.examples_size = wants.examples
        nested.examples = await examples.first_example_pages(
            db,
            history_ids,
            wants.examples,
            wants.example_columns,
            votes=wants.votes,
            outputs=wants.output_columns if inline else None,
        )
        pages = nested.examples.values()
        if wants.votes:
            nested.votes = examples.votes_in(db, pages)
        if inline:
            nested.outputs = examples.outputs_in(db, pages)
        elif wants.outputs:
            example_ids = [row.id for page in pages for row in page.page.items]
            nested.outputs = (
                await examples.outputs_for(db, example_ids, wants.output_columns)
                if example_ids
                else {}
            )
    return nested

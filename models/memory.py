"""A user's memory store: entries added a batch at a time, searched by relevance with the
database's own full-text index.

SQLite ranks with FTS5's bm25(), MySQL/MariaDB with InnoDB's natural-language relevance; both
give a score where higher is better, comparable only within one search.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import ColumnElement, Float, Select, func, select
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncSession

from models.bulk import insert_rows
from models.engine import on_sqlite
from models.errors import BadUserInput
from models.fulltext import MEMORY_FTS, memory_fts
from models.tables import MemoryEntry, TrainingExample, TrainingHistory

MAX_SEARCH_LIMIT = 50
# The words of a search that count: a query of a whole story's words would ask FTS5 for an
# expression deeper than it parses.
MAX_SEARCH_TERMS = 100

# Runs of word characters. Everything else in the user's text, FTS5's quotes, parentheses,
# `*`, `^`, `+` and `:` among them, only separates words, so no query syntax survives.
_WORD = re.compile(r"\w+")


async def add_memories(db: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Store memory entries (column values, one mapping each) in one statement."""
    await insert_rows(db, MemoryEntry, rows)


def _search_terms(text: str) -> list[str]:
    """The distinct words of a search (its first MAX_SEARCH_TERMS), or BadUserInput when
    there is none."""
    terms = list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:MAX_SEARCH_TERMS]
    if not terms:
        raise BadUserInput(
            "`text` has no word to search for; give at least one word.", field="text"
        )
    return terms


def _fts5_search(terms: list[str]) -> Select[MemoryEntry, float]:
    # Each term is a quoted string, never a bareword: FTS5 then reads no operator (AND, OR,
    # NOT, NEAR) or column filter in it. OR ranks entries matching some of the words too.
    expression = " OR ".join(f'"{term}"' for term in terms)
    fts = memory_fts.c[MEMORY_FTS]
    # bm25() is lower for better matches.
    score = (-func.bm25(fts, type_=Float)).label("score")
    return (
        select(MemoryEntry, score)
        .join(memory_fts, memory_fts.c.rowid == MemoryEntry.id)
        .where(fts.op("MATCH")(expression))
        .order_by(score.desc())
    )


def _innodb_search(terms: list[str]) -> Select[MemoryEntry, float]:
    relevance: ColumnElement[float] = mysql.match(
        MemoryEntry.text.expression, against=" ".join(terms)
    ).in_natural_language_mode()
    score = relevance.label("score")
    return select(MemoryEntry, score).where(relevance).order_by(score.desc())


async def search_memory(
    db: AsyncSession, user_id: int, text: str, limit: int
) -> list[tuple[MemoryEntry, float]]:
    """The user's entries most relevant to `text` with their scores: best first, newer first
    among equals."""
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise BadUserInput(
            f"`limit` must be between 1 and {MAX_SEARCH_LIMIT}; got {limit}.", field="limit"
        )
    terms = _search_terms(text)
    search = _fts5_search if on_sqlite(db) else _innodb_search
    query = (
        search(terms)
        .where(MemoryEntry.user_id == user_id)
        .order_by(MemoryEntry.created_at.desc(), MemoryEntry.id.desc())
        .limit(limit)
    )
    rows = await db.execute(query)
    return [(entry, float(score)) for entry, score in rows]


async def session_ids(db: AsyncSession, example_ids: Collection[int]) -> dict[int, str]:
    """The session each of these training examples belongs to, by example id."""
    if not example_ids:
        return {}
    query = (
        select(TrainingExample.id, TrainingHistory.session_id)
        .join(TrainingHistory, TrainingHistory.id == TrainingExample.history_id)
        .where(TrainingExample.id.in_(example_ids))
    )
    rows = await db.execute(query)
    return dict(rows.all())

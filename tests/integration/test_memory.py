"""Searching the memory store by the database's full-text ranking, on every backend.

InnoDB ignores words shorter than three letters and its stopwords and has no stemming, so the
texts here use longer words, and only SQLite is asked to stem.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models import memory
from models.engine import create_engine, session_factory
from models.enums import Genre
from models.tables import MemoryEntry, TrainingExample
from schema.node import global_id
from server import migrate
from tests.support import Account, error_codes, graphql, graphql_data, make_account
from tests.support.databases import BACKENDS, drop_database, fresh_database_url
from tests.support.factories import T0, add_session

SEARCH = """
query($text: String!, $limit: Int!) {
  memorySearch(text: $text, limit: $limit) { id genre text quality createdAt sessionId score }
}
"""

# Entries that match none of the searches below: they keep every searched word in a minority
# of rows, where InnoDB's relevance is highest.
FILLER = (
    "A quiet garden waits for morning rain",
    "Seven sailors argued over a broken compass",
    "The baker's daughter painted every window blue",
    "Snow covered the empty railway station",
)


async def remember(
    engine: AsyncEngine, user_id: int, *texts: str, example_id: int | None = None
) -> list[int]:
    """Memory entries of `user_id`, each a minute newer than the one before; their ids."""
    async with session_factory(engine)() as db:
        entries = [
            MemoryEntry(
                user_id=user_id,
                example_id=example_id,
                genre=Genre.FANTASY,
                text=text,
                quality=8.5,
                created_at=T0 + timedelta(minutes=minute),
            )
            for minute, text in enumerate(texts)
        ]
        db.add_all(entries)
        await db.commit()
        return [entry.id for entry in entries]


async def search(
    client: httpx.AsyncClient, account: Account, text: str, limit: int = 10
) -> list[dict[str, Any]]:
    data = await graphql_data(client, SEARCH, {"text": text, "limit": limit}, account=account)
    entries: list[dict[str, Any]] = data["memorySearch"]
    return entries


def texts(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["text"] for entry in entries]


async def check_index(engine: AsyncEngine) -> None:
    """On SQLite, fail unless the FTS5 index holds exactly the entries' texts.

    A search cannot tell: it joins the entries, which hides what the index keeps of deleted
    rows until a new row takes the same rowid. FTS5's integrity check with rank 1 compares the
    index with its content table.
    """
    if engine.dialect.name == "sqlite":
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO memory_entries_fts (memory_entries_fts, rank) "
                    "VALUES ('integrity-check', 1)"
                )
            )


async def test_the_entry_with_every_word_ranks_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    await remember(
        engine,
        alice.id,
        "A dragon circled the frozen mountain",
        "The dragon slept beneath the lighthouse",
        "The lighthouse keeper trimmed the lamp",
        *FILLER,
    )
    found = await search(client, alice, "dragon lighthouse")
    assert texts(found)[0] == "The dragon slept beneath the lighthouse"
    assert sorted(texts(found)[1:]) == [
        "A dragon circled the frozen mountain",
        "The lighthouse keeper trimmed the lamp",
    ]
    scores = [entry["score"] for entry in found]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1] > 0


async def test_an_entry_reads_back_with_its_session(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    session = await add_session(engine, alice.id, examples=1)
    async with session_factory(engine)() as db:
        example_id = await db.scalar(
            select(TrainingExample.id).where(TrainingExample.history_id == session.id)
        )
    [linked] = await remember(engine, alice.id, "A comet over the harbour", example_id=example_id)
    [unlinked, *_] = await remember(engine, alice.id, "A comet in the desert", *FILLER)
    found = await search(client, alice, "comet")
    assert all(entry.pop("score") > 0 for entry in found)
    assert sorted(found, key=lambda entry: entry["text"]) == [
        {
            "id": global_id("MemoryEntry", unlinked),
            "genre": "FANTASY",
            "text": "A comet in the desert",
            "quality": 8.5,
            "createdAt": T0.isoformat(),
            "sessionId": None,
        },
        {
            "id": global_id("MemoryEntry", linked),
            "genre": "FANTASY",
            "text": "A comet over the harbour",
            "quality": 8.5,
            "createdAt": T0.isoformat(),
            "sessionId": session.session_id,
        },
    ]


async def test_another_users_entries_never_appear(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    await remember(engine, alice.id, "Alice's griffin guarded the orchard", *FILLER)
    await remember(engine, bob.id, "Bob's griffin guarded the vineyard griffin griffin")
    assert texts(await search(client, alice, "griffin")) == ["Alice's griffin guarded the orchard"]
    assert texts(await search(client, bob, "griffin orchard")) == [
        "Bob's griffin guarded the vineyard griffin griffin"
    ]


async def test_limit_keeps_the_best_and_equals_go_newest_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    phoenixes = await remember(engine, alice.id, *["The phoenix rose from ashes"] * 4)
    await remember(engine, alice.id, *FILLER)
    found = await search(client, alice, "phoenix", limit=3)
    assert [entry["id"] for entry in found] == [
        global_id("MemoryEntry", entry_id) for entry_id in reversed(phoenixes[1:])
    ]
    assert len({entry["score"] for entry in found}) == 1


@pytest.mark.parametrize("limit", [0, 51])
async def test_a_limit_out_of_range_is_bad_input(
    client: httpx.AsyncClient, engine: AsyncEngine, limit: int
) -> None:
    alice = await make_account(engine, "alice")
    body = await graphql(client, SEARCH, {"text": "phoenix", "limit": limit}, account=alice)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "limit"


async def test_search_ignores_case_and_sqlite_stems_words(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    await remember(engine, alice.id, "Wandering Wizards met at the crossroads", *FILLER)
    assert texts(await search(client, alice, "WIZARDS")) == [
        "Wandering Wizards met at the crossroads"
    ]
    if engine.dialect.name == "sqlite":
        assert texts(await search(client, alice, "wizard wander")) == [
            "Wandering Wizards met at the crossroads"
        ]


@pytest.mark.parametrize(
    "text",
    [
        '"dragon',
        'dragon" OR "zebra',
        "dragon*",
        "dragon AND OR NOT zebra",
        "NEAR(dragon zebra)",
        "NEAR(dragon",
        "text: dragon",
        "text:dragon -zebra",
        "dragon)) ((",
        "^dragon + {text}: zebra",
        "dragon 🐉🔥",
    ],
)
async def test_query_syntax_in_the_text_is_only_words(
    client: httpx.AsyncClient, engine: AsyncEngine, text: str
) -> None:
    alice = await make_account(engine, "alice")
    await remember(engine, alice.id, "A dragon drank from the river", *FILLER)
    assert texts(await search(client, alice, text)) == ["A dragon drank from the river"]


@pytest.mark.parametrize("text", ["AND OR NOT", "NEAR(", "text:", "text: * NOT"])
async def test_operator_words_alone_match_only_themselves(
    client: httpx.AsyncClient, engine: AsyncEngine, text: str
) -> None:
    alice = await make_account(engine, "alice")
    await remember(engine, alice.id, "A dragon drank from the river", *FILLER)
    assert await search(client, alice, text) == []


@pytest.mark.parametrize("text", ["", "   ", '"', "*", "(", '" * ( ) : ^', "🐉"])
async def test_a_search_without_words_is_bad_input(
    client: httpx.AsyncClient, engine: AsyncEngine, text: str
) -> None:
    alice = await make_account(engine, "alice")
    body = await graphql(client, SEARCH, {"text": text, "limit": 10}, account=alice)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "text"
    assert "`text`" in body["errors"][0]["message"]


async def test_searching_needs_a_token(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    body = await graphql(client, SEARCH, {"text": "dragon", "limit": 10})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_the_index_follows_inserts_updates_and_deletes(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    [entry_id, *_] = await remember(engine, alice.id, "A kraken rose from the harbour", *FILLER)
    await check_index(engine)
    async with session_factory(engine)() as db:
        await db.execute(
            update(MemoryEntry)
            .where(MemoryEntry.id == entry_id)
            .values(text="A leviathan rose from the harbour")
        )
        await db.commit()
    await check_index(engine)
    assert await search(client, alice, "kraken") == []
    assert texts(await search(client, alice, "leviathan")) == ["A leviathan rose from the harbour"]

    async with session_factory(engine)() as db:
        await db.execute(delete(MemoryEntry).where(MemoryEntry.id == entry_id))
        await db.commit()
    await check_index(engine)
    assert await search(client, alice, "leviathan harbour") == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_migration_indexes_entries_already_stored(backend: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend, tmp_path)
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine, "0001")
        alice = await make_account(engine, "alice")
        await remember(engine, alice.id, "A unicorn crossed the glacier", *FILLER)
        await migrate.upgrade(engine)
        async with session_factory(engine)() as db:
            found = await memory.search_memory(db, alice.id, "glacier", 10)
        assert [entry.text for entry, _ in found] == ["A unicorn crossed the glacier"]
    finally:
        await engine.dispose()
        drop_database(url)

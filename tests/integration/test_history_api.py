"""The read side of the GraphQL API against real data, on every backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from models.enums import Genre, SessionStatus
from models.tables import TrainingHistory
from server.app import create_app
from server.settings import Settings
from tests.support import error_codes, graphql, graphql_data, make_account
from tests.support.factories import T0, add_session

HISTORY = """
query($first: Int, $after: String, $last: Int, $before: String,
      $filter: TrainingHistoryFilter, $orderBy: HistoryOrder, $userId: Int) {
  trainingHistory(first: $first, after: $after, last: $last, before: $before,
                  filter: $filter, orderBy: $orderBy, userId: $userId) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { sessionId averageQuality startedAt status } }
  }
}
"""


async def test_a_new_user_reads_an_empty_history(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    data = await graphql_data(client, HISTORY, account=alice)
    assert data["trainingHistory"] == {
        "totalCount": 0,
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }


async def test_no_token_or_a_bad_one_is_unauthenticated(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await make_account(engine, "alice")
    body = await graphql(client, "{ viewer { name } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { name } }"},
        headers={"Authorization": "Bearer chorus_not-a-real-token"},
    )
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_introspection_needs_no_token(client: httpx.AsyncClient) -> None:
    body = await graphql(client, "{ __schema { queryType { name } } }")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_graphiql_is_served_to_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_viewer(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await make_account(engine, "root", admin=True)
    data = await graphql_data(client, "{ viewer { userId name isAdmin id } }", account=admin)
    assert data["viewer"]["userId"] == admin.id
    assert data["viewer"]["name"] == "root"
    assert data["viewer"]["isAdmin"] is True
    node = await graphql_data(
        client,
        "query($id: ID!) { node(id: $id) { id ... on User { name } } }",
        {"id": data["viewer"]["id"]},
        account=admin,
    )
    assert node["node"] == {"id": data["viewer"]["id"], "name": "root"}


async def test_pages_forward_and_backward(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    stored = [
        await add_session(engine, alice.id, started_at=T0 + timedelta(minutes=i % 7))
        for i in range(23)
    ]
    expected = [
        s.session_id for s in sorted(stored, key=lambda s: (s.started_at, s.id), reverse=True)
    ]

    seen, after, pages = [], None, []
    while True:
        page = (await graphql_data(client, HISTORY, {"first": 10, "after": after}, account=alice))[
            "trainingHistory"
        ]
        pages.append(page)
        seen += [edge["node"]["sessionId"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    assert all(p["totalCount"] == 23 for p in pages)

    backward: list[str] = []
    before = None
    while True:
        page = (await graphql_data(client, HISTORY, {"last": 10, "before": before}, account=alice))[
            "trainingHistory"
        ]
        backward = [edge["node"]["sessionId"] for edge in page["edges"]] + backward
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backward == expected


async def test_orders_by_quality_with_unscored_sessions_last(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    for quality in (7.5, None, 9.1, 7.5, None, 8.0):
        await add_session(engine, alice.id, average_quality=quality)
    qualities, after = [], None
    while True:
        page = (
            await graphql_data(
                client,
                HISTORY,
                {"first": 2, "after": after, "orderBy": "AVERAGE_QUALITY_DESC"},
                account=alice,
            )
        )["trainingHistory"]
        qualities += [edge["node"]["averageQuality"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert qualities == [9.1, 8.0, 7.5, 7.5, None, None]


async def test_filters(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    await add_session(engine, alice.id, genres=[Genre.HORROR], average_quality=6.0)
    await add_session(engine, alice.id, started_at=T0 + timedelta(days=2), average_quality=9.0)
    await add_session(engine, alice.id, status=SessionStatus.CANCELLED, fine_tuning_triggered=True)

    async def count(where: dict[str, Any]) -> int:
        data = await graphql_data(client, HISTORY, {"filter": where}, account=alice)
        return int(data["trainingHistory"]["totalCount"])

    assert await count({"genre": "HORROR"}) == 1
    assert await count({"genre": "FANTASY"}) == 2
    assert await count({"minAverageQuality": 8.0}) == 2
    assert await count({"status": "CANCELLED"}) == 1
    assert await count({"fineTuningTriggered": True}) == 1
    assert await count({"startedAfter": (T0 + timedelta(days=1)).isoformat()}) == 1
    assert await count({"startedBefore": (T0 + timedelta(days=1)).isoformat()}) == 2
    # An instant without an offset is read as UTC.
    assert await count({"startedAfter": "2026-01-21T00:00:00"}) == 1


async def test_bad_page_arguments_name_the_problem(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    await add_session(engine, alice.id)
    stories = await graphql_data(client, "{ stories { pageInfo { endCursor } } }", account=alice)
    assert stories["stories"]["pageInfo"]["endCursor"] is None
    story_cursor = "WyJTdG9yeSIsIkNSRUFURURfQVRfREVTQyIsIjIwMjYtMDEtMjBUMTA6MzA6MDArMDA6MDAiLDFd"
    quality_page = await graphql_data(
        client, HISTORY, {"first": 1, "orderBy": "AVERAGE_QUALITY_DESC"}, account=alice
    )
    quality_cursor = quality_page["trainingHistory"]["pageInfo"]["endCursor"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"last": 500}, "last"),
        ({"first": 5, "last": 5}, "first"),
        ({"after": "not a cursor"}, "after"),
        ({"after": "bm90IGpzb24"}, "after"),
        ({"before": story_cursor, "last": 2}, "before"),
        ({"after": quality_cursor}, "after"),
    ]
    for variables, field in cases:
        body = await graphql(client, HISTORY, variables, account=alice)
        assert error_codes(body) == ["BAD_USER_INPUT"], variables
        assert body["errors"][0]["extensions"]["field"] == field
        assert field in body["errors"][0]["message"]


async def test_users_see_only_their_own_sessions(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    admin = await make_account(engine, "root", admin=True)
    secret = await add_session(engine, alice.id)

    query = "query($id: String!) { trainingSession(sessionId: $id) { sessionId userId } }"
    variables = {"id": secret.session_id}
    assert (await graphql_data(client, query, variables, account=bob))["trainingSession"] is None
    assert (await graphql_data(client, query, variables, account=alice))["trainingSession"] == {
        "sessionId": secret.session_id,
        "userId": alice.id,
    }
    assert (await graphql_data(client, query, variables, account=admin))["trainingSession"][
        "userId"
    ] == alice.id
    missing = await graphql_data(client, query, {"id": "nope"}, account=alice)
    assert missing["trainingSession"] is None

    for field in (
        "trainingHistory(userId: $u) { totalCount }",
        "trainingStats(userId: $u) { totalSessions }",
        "recentTrainingSessions(userId: $u) { sessionId }",
        "modelLeaderboard(userId: $u) { model }",
        "qualityTrend(userId: $u) { day }",
    ):
        body = await graphql(client, f"query($u: Int) {{ {field} }}", {"u": alice.id}, account=bob)
        assert error_codes(body) == ["FORBIDDEN"], field
        data = await graphql_data(
            client, f"query($u: Int) {{ {field} }}", {"u": alice.id}, account=admin
        )
        assert data

    bobs = await graphql_data(client, HISTORY, account=bob)
    assert bobs["trainingHistory"]["totalCount"] == 0
    admins = await graphql_data(client, HISTORY, {"userId": alice.id}, account=admin)
    assert admins["trainingHistory"]["totalCount"] == 1


async def test_statistics_are_computed_over_all_sessions(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    await add_session(
        engine, alice.id, average_quality=8.0, fine_tuning_examples=30, stories_saved=2
    )
    await add_session(
        engine,
        alice.id,
        average_quality=9.0,
        fine_tuning_examples=27,
        fine_tuning_triggered=True,
        total_time_seconds=100,
        started_at=T0 + timedelta(days=1),
    )
    await add_session(engine, alice.id, average_quality=None, started_at=T0 + timedelta(days=1))
    query = """{
      trainingStats { totalSessions totalExamplesGenerated totalStoriesSaved averageQuality
        totalTrainingTimeSeconds fineTuningSessionsCount fineTuningExamples untilNextFineTuning }
      modelLeaderboard { model wins averageQuality sessions }
    }"""
    data = await graphql_data(client, query, account=alice)
    assert data["trainingStats"] == {
        "totalSessions": 3,
        "totalExamplesGenerated": 12,
        "totalStoriesSaved": 2,
        "averageQuality": 8.5,
        "totalTrainingTimeSeconds": 220,
        "fineTuningSessionsCount": 1,
        "fineTuningExamples": 57,
        "untilNextFineTuning": 43,
    }
    assert data["modelLeaderboard"] == [
        {"model": "alpha", "wins": 9, "averageQuality": 8.5, "sessions": 3},
        {"model": "beta", "wins": 3, "averageQuality": 7.5, "sessions": 3},
        {"model": "gamma", "wins": 0, "averageQuality": 0.0, "sessions": 3},
    ]


async def test_quality_trend_has_a_point_per_day(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    today = (await graphql_data(client, "{ qualityTrend(days: 1) { day } }", account=alice))[
        "qualityTrend"
    ][0]["day"]
    from datetime import datetime

    midnight = datetime.fromisoformat(today)
    await add_session(
        engine, alice.id, started_at=midnight + timedelta(hours=1), average_quality=8.0
    )
    await add_session(
        engine, alice.id, started_at=midnight + timedelta(hours=2), average_quality=9.0
    )
    await add_session(
        engine, alice.id, started_at=midnight - timedelta(days=2), average_quality=6.0
    )
    await add_session(engine, alice.id, started_at=midnight - timedelta(days=40))
    points = (
        await graphql_data(
            client, "{ qualityTrend(days: 3) { day sessions averageQuality } }", account=alice
        )
    )["qualityTrend"]
    assert [(p["sessions"], p["averageQuality"]) for p in points] == [(1, 6.0), (0, None), (2, 8.5)]
    assert points[-1]["day"] == today
    body = await graphql(client, "{ qualityTrend(days: 0) { day } }", account=alice)
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_recent_sessions_by_completion_time(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    early_long = await add_session(engine, alice.id, total_time_seconds=10_000)
    late_short = await add_session(
        engine, alice.id, started_at=T0 + timedelta(minutes=5), total_time_seconds=10
    )
    await add_session(engine, alice.id, status=SessionStatus.RUNNING)
    from sqlalchemy import update

    from models.engine import session_factory

    async with session_factory(engine)() as db:
        await db.execute(
            update(TrainingHistory)
            .where(TrainingHistory.status == SessionStatus.RUNNING)
            .values(completed_at=None)
        )
        await db.commit()
    data = await graphql_data(
        client, "{ recentTrainingSessions(limit: 5) { sessionId } }", account=alice
    )
    assert [s["sessionId"] for s in data["recentTrainingSessions"]] == [
        early_long.session_id,
        late_short.session_id,
    ]
    body = await graphql(
        client, "{ recentTrainingSessions(limit: 0) { sessionId } }", account=alice
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]


NESTED = """
query {
  trainingHistory(first: 100) {
    edges { node {
      sessionId
      modelPerformance { model wins averageQuality totalQuality }
      genreDistribution { genre count }
      examples(first: 3) {
        totalCount
        pageInfo { hasNextPage }
        edges { node { index winner votes { voter candidate } outputs { model text } } }
      }
    } }
  }
}
"""


async def test_a_page_of_sessions_costs_a_constant_number_of_queries(
    app: Starlette, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    app_engine = app.state.services.engine.sync_engine

    async def run() -> dict[str, object]:
        statements.clear()
        event.listen(app_engine, "before_cursor_execute", record)
        try:
            return await graphql_data(client, NESTED, account=alice)
        finally:
            event.remove(app_engine, "before_cursor_execute", record)

    await add_session(engine, alice.id, examples=4)
    await graphql_data(client, "{ viewer { name } }", account=alice)  # records the token's use
    small = await run()
    small_count = len(statements)
    for _ in range(11):
        await add_session(engine, alice.id, examples=4)
    large = await run()
    assert len(statements) == small_count
    edges = large["trainingHistory"]["edges"]  # type: ignore[index]
    assert len(edges) == 12
    first = edges[0]["node"]
    assert first["modelPerformance"][0] == {
        "model": "alpha",
        "wins": 3,
        "averageQuality": 8.5,
        "totalQuality": 25.5,
    }
    assert first["examples"]["totalCount"] == 4
    assert first["examples"]["pageInfo"]["hasNextPage"] is True
    assert len(first["examples"]["edges"]) == 3
    assert first["examples"]["edges"][0]["node"]["votes"] == [
        {"voter": "beta", "candidate": "alpha"},
        {"voter": "gamma", "candidate": "alpha"},
    ]
    assert small


# Without the stories' text, outputs are read with their examples' rows; with it, apart.
SESSION_FIELDS_WITHOUT_TEXT = """
  id sessionId userId status teachers genresSelected startedAt completedAt averageQuality
  numExamplesSuccessful votingStrategy costUsd endReason error
  modelPerformance { model wins averageQuality totalQuality promptTokens costUsd }
  genreDistribution { ...Counted }
  examples(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      index winner text
      ... on TrainingExample { votes { voter candidate } }
      outputs { model latencyMs textQuality error truncated }
    } }
  }
"""
SESSION_FIELDS = (
    SESSION_FIELDS_WITHOUT_TEXT
    + """
  wholeOutputs: examples(first: $first) { edges { node { outputs {
    __typename model text latencyMs promptTokens completionTokens textQuality error
    judgePromptTokens judgeCompletionTokens costUsd truncated } } } }
"""
)
# Pages of examples the page of sessions cannot read ahead: other sizes, after a cursor.
OTHER_PAGES = """
  otherSize: examples(first: 1) { edges { node { index outputs { text } } } }
  later: examples(first: 2, after: $after) { edges { node { index votes { voter } } } }
"""
READ_AHEAD = """
query($id: String!, $first: Int AFTER) {
  trainingSession(sessionId: $id) { FIELDS }
  trainingHistory(first: 5) { edges { node { FIELDS } } }
  recentTrainingSessions(limit: 5) { FIELDS }
}
fragment Counted on GenreCount { genre count }
"""
# `node` reads every nested list through the DataLoaders, one list at a time.
LOADED = """
query($nodeId: ID!, $first: Int AFTER) {
  node(id: $nodeId) { ... on TrainingSession { FIELDS } }
}
fragment Counted on GenreCount { genre count }
"""


@pytest.mark.parametrize(
    ("first", "other_pages", "texts"),
    [(None, False, True), (3, False, True), (0, False, True), (3, True, True), (3, False, False)],
)
async def test_lists_read_with_their_page_are_those_read_one_by_one(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    first: int | None,
    other_pages: bool,
    texts: bool,
) -> None:
    shown = SESSION_FIELDS if texts else SESSION_FIELDS_WITHOUT_TEXT
    fields = shown + (OTHER_PAGES if other_pages else "")
    after = ", $after: String" if other_pages else ""
    alice = await make_account(engine, "alice")
    await add_session(engine, alice.id, started_at=T0 - timedelta(days=1))
    session = await add_session(engine, alice.id, examples=4, genres=(Genre.FANTASY, Genre.HORROR))
    cursor = (
        await graphql_data(
            client,
            "query($id: String!) { trainingSession(sessionId: $id) { examples(first: 1) "
            "{ pageInfo { endCursor } } } }",
            {"id": session.session_id},
            account=alice,
        )
    )["trainingSession"]["examples"]["pageInfo"]["endCursor"]
    variables: dict[str, object] = {"id": session.session_id, "first": first}
    if other_pages:
        variables["after"] = cursor
    document = READ_AHEAD.replace("FIELDS", fields).replace("AFTER", after)
    ahead = await graphql_data(client, document, variables, account=alice)
    node_id = (
        await graphql_data(
            client,
            "query($id: String!) { trainingSession(sessionId: $id) { id } }",
            {"id": session.session_id},
            account=alice,
        )
    )["trainingSession"]["id"]
    loaded = (
        await graphql_data(
            client,
            LOADED.replace("FIELDS", fields).replace("AFTER", after),
            {**variables, "nodeId": node_id},
            account=alice,
        )
    )["node"]
    assert ahead["trainingSession"] == loaded
    assert ahead["trainingHistory"]["edges"][0]["node"] == loaded
    assert ahead["recentTrainingSessions"][0] == loaded
    outputs = [edge["node"]["outputs"] for edge in loaded["examples"]["edges"]]
    assert (outputs and all(len(each) > 1 for each in outputs)) or first == 0
    if texts and first != 0:
        whole = loaded["wholeOutputs"]["edges"][0]["node"]["outputs"][0]
        assert whole["text"]
        assert whole["__typename"] == "TeacherOutput"


async def test_a_bad_page_size_of_examples_is_named_with_the_session_read(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    session = await add_session(engine, alice.id, examples=2)
    body = await graphql(
        client,
        "query($id: String!) { trainingSession(sessionId: $id) { sessionId "
        "examples(first: -1) { totalCount } } }",
        {"id": session.session_id},
        account=alice,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["path"] == ["trainingSession", "examples"]
    assert (
        body["data"] == {"trainingSession": None}
        or body["data"]["trainingSession"]["sessionId"] == session.session_id
    )


async def test_examples_page_on_with_their_cursor(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    session = await add_session(engine, alice.id, examples=5)
    query = """query($id: String!, $after: String) { trainingSession(sessionId: $id) {
      examples(first: 2, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { index } }
      }
    } }"""
    indexes, after = [], None
    while True:
        examples = (
            await graphql_data(
                client, query, {"id": session.session_id, "after": after}, account=alice
            )
        )["trainingSession"]["examples"]
        indexes += [edge["node"]["index"] for edge in examples["edges"]]
        if not examples["pageInfo"]["hasNextPage"]:
            break
        after = examples["pageInfo"]["endCursor"]
    assert indexes == [0, 1, 2, 3, 4]


DEEP = (
    "{ trainingHistory { edges { node { examples { edges { node { outputs { model } } } } } } } }"
)


async def test_query_limits(
    engine: AsyncEngine, settings: Settings, client: httpx.AsyncClient
) -> None:
    alice = await make_account(engine, "alice")
    assert "errors" not in await graphql(client, DEEP, account=alice)

    aliases = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(31)) + " }"
    body = await graphql(client, aliases, account=alice)
    assert "aliases" in body["errors"][0]["message"].lower()

    tokens = "{ viewer { " + " ".join(["name"] * 2000) + " } }"
    body = await graphql(client, tokens, account=alice)
    assert "token" in body["errors"][0]["message"].lower()

    shallow = create_app(settings.model_copy(update={"query_depth_limit": 4}))
    async with shallow.router.lifespan_context(shallow):
        transport = httpx.ASGITransport(app=shallow)
        async with httpx.AsyncClient(transport=transport, base_url="http://chorus.test") as http:
            body = await graphql(http, DEEP, account=alice)
    assert "depth" in body["errors"][0]["message"].lower()


async def test_a_repeated_document_is_validated_once(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    # Validation is most of a small query's cost; the limiters' rules must not defeat the
    # cache by being new objects on every request.
    from strawberry.extensions.validation_cache import _get_validate_cache

    alice = await make_account(engine, "alice")
    document = "query RepeatedOnce { viewer { name } trainingHistory(first: 2) { totalCount } }"
    cache: Any = _get_validate_cache(256)  # a functools.lru_cache wrapper
    before = cache.cache_info()
    for _ in range(3):
        assert "errors" not in await graphql(client, document, account=alice)
    after = cache.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)


async def test_an_unexpected_error_is_masked_with_a_request_id(
    client: httpx.AsyncClient, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await make_account(engine, "alice")
    session = await add_session(engine, alice.id)
    from sqlalchemy import update

    from models.engine import session_factory

    async with session_factory(engine)() as db:
        await db.execute(
            update(TrainingHistory)
            .where(TrainingHistory.id == session.id)
            .values(teachers_json="{broken")
        )
        await db.commit()
    response = await client.post(
        "/graphql",
        json={"query": "{ trainingHistory { edges { node { teachers } } } }"},
        headers={**alice.headers, "X-Request-Id": "req-123"},
    )
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error (request id req-123)."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-123"}
    assert "broken" not in response.text
    # The log has what the client does not: the traceback, under the same request id.
    logged = [
        r for r in caplog.records if r.name == "chorus.graphql" and "req-123" in r.getMessage()
    ]
    assert logged
    assert logged[0].exc_info is not None
    assert "JSONDecodeError" in caplog.text
    async with session_factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(TrainingHistory)) == 1

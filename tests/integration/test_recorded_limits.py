"""Property: a recorded session at the edges of every limit, or just past one, is stored or
refused with a 4xx, never a 5xx; what is stored, however extreme, its owner can still read,
on SQLite and on MariaDB alike (whose INT, DATETIME and TEXT columns are the narrower)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from models import limits
from models.base import Base
from models.engine import create_engine
from server.app import create_app
from server.settings import Settings
from tests.integration.checks import assert_nothing_internal, assert_owner_reads_work, row_counts
from tests.support import make_account

OFFSETS = [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))]
counts = st.one_of(st.integers(0, 3), st.integers(0, limits.INT_MAX), st.just(limits.INT_MAX))
qualities = st.one_of(st.sampled_from([0.0, 10.0]), st.floats(0, 10, allow_nan=False))
instants = st.datetimes(
    min_value=datetime(1000, 1, 2),
    max_value=datetime(9999, 12, 25),
    timezones=st.sampled_from(OFFSETS),
)
# The first and the last instants both databases hold, one written with an offset.
EDGES = {"startedAt": "1000-01-01T13:59:59+14:00", "completedAt": "9999-12-31T23:59:59.999999Z"}
# Just past a limit, one field at a time.
beyond: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"numExamplesRequested": limits.INT_MAX + 1},
        {"totalTimeSeconds": -1},
        {"averageQuality": 10.05},
        {"startedAt": "9999-12-31T23:59:59-00:01"},
        {"completedAt": "1000-01-01T00:00:00+00:01"},
        {"sessionId": "s" * 101},
        {"modelPerformanceJson": json.dumps({"m": {"count": limits.INT_MAX + 1}})},
        # Two spellings of one genre, adding up past 32 bits.
        {"genreDistributionJson": json.dumps({"sci-fi": limits.INT_MAX, "Sci-fi": 1})},
        {"modelPerformanceJson": "[" * 33 + "]" * 33},
    ]
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    requested = draw(st.integers(1, limits.INT_MAX))
    successful = draw(st.integers(0, requested))
    low, average, high = sorted(draw(st.lists(qualities, min_size=3, max_size=3)))
    started = draw(instants)
    completed = started + draw(st.timedeltas(timedelta(0), timedelta(days=3)))
    models = draw(
        st.dictionaries(
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=100).filter(str.strip),
            st.fixed_dictionaries({"count": counts, "avg_quality": qualities}),
            max_size=3,
        )
    )
    body: dict[str, Any] = {
        "sessionId": uuid.uuid4().hex,
        "numExamplesRequested": requested,
        "numExamplesSuccessful": successful,
        "numExamplesFailed": requested - successful,
        "storiesSavedCount": draw(st.integers(0, successful)),
        "minQuality": low,
        "averageQuality": average,
        "maxQuality": high,
        "totalTimeSeconds": draw(counts),
        "trainingExamplesBefore": draw(counts),
        "trainingExamplesAfter": draw(st.one_of(st.none(), counts)),
        "startedAt": started.isoformat(),
        "completedAt": completed.isoformat(),
        "modelPerformanceJson": json.dumps(models),
        "genreDistributionJson": json.dumps({"fantasy": draw(counts), "horror": draw(counts)}),
        "genresSelected": draw(st.lists(st.sampled_from(["fantasy", "sci-fi", "horror"]))),
    }
    if draw(st.booleans()):
        body.update(EDGES)
    if draw(st.booleans()):
        body.update(draw(beyond))
    return body


async def record_all(database_url: str, base: Settings, bodies: list[dict[str, Any]]) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(delete(table))
        owner = await make_account(engine, "owner")
        app = create_app(base)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            base_url = "http://chorus.test"
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
                for body in bodies:
                    before = await row_counts(engine)
                    response = await http.post(
                        "/api/training-history", json=body, headers=owner.headers
                    )
                    assert response.status_code in (201, 400), (body, response.text)
                    assert_nothing_internal(response.text)
                    if response.status_code == 400:
                        assert await row_counts(engine) == before, body
                    await assert_owner_reads_work(http, owner)
    finally:
        await engine.dispose()


@settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    # Each example starts a server: a failure is reported as found, not shrunk.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(bodies=st.lists(records(), min_size=12, max_size=12))
def test_records_at_the_limits_are_stored_or_refused_and_stay_readable(
    database_url: str, tmp_path: Path, bodies: list[dict[str, Any]]
) -> None:
    base = Settings(
        database_url=database_url,
        offline_latency_ms=0,
        data_dir=tmp_path / "data",
        dashboard_dir=tmp_path / "no-dashboard",
        _env_file=None,
    )
    asyncio.run(record_all(database_url, base, bodies))


async def test_totals_that_would_pass_32_bits_are_refused(
    client: httpx.AsyncClient, engine: Any
) -> None:
    owner = await make_account(engine, "owner")
    body = {
        "numExamplesRequested": 1,
        "numExamplesSuccessful": 1,
        "numExamplesFailed": 0,
        "totalTimeSeconds": limits.INT_MAX,
        "modelPerformanceJson": json.dumps({"m": {"count": limits.INT_MAX, "avg_quality": 9}}),
        "startedAt": "2024-01-20T10:30:00Z",
        "completedAt": "2024-01-20T10:31:00Z",
    }
    first = await client.post(
        "/api/training-history", json={**body, "sessionId": "one"}, headers=owner.headers
    )
    assert first.status_code == 201, first.text
    before = await row_counts(engine)
    second = await client.post(
        "/api/training-history",
        json={**body, "sessionId": "two", "modelPerformanceJson": "{}"},
        headers=owner.headers,
    )
    assert second.status_code == 400
    assert "2,147,483,647" in second.json()["message"]
    third = await client.post(
        "/api/training-history",
        json={**body, "sessionId": "three", "totalTimeSeconds": 0},
        headers=owner.headers,
    )
    assert third.status_code == 400
    assert "2,147,483,647" in third.json()["message"]
    assert await row_counts(engine) == before
    reads = await assert_owner_reads_work(client, owner)
    assert reads["trainingStats"]["totalTrainingTimeSeconds"] == limits.INT_MAX
    assert reads["modelLeaderboard"][0]["wins"] == limits.INT_MAX

"""The last line: an exception no route answered still reaches the client as JSON, with the
request id under which the log has its traceback."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.tables import TrainingHistory
from tests.integration.checks import assert_nothing_internal
from tests.support import make_account
from tests.support.factories import add_session


async def test_an_unexpected_rest_failure_is_a_json_500_with_a_request_id(
    client: httpx.AsyncClient, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await make_account(engine, "alice")
    session = await add_session(engine, alice.id)
    async with session_factory(engine)() as db:
        await db.execute(
            update(TrainingHistory)
            .where(TrainingHistory.id == session.id)
            .values(teachers_json="{broken")
        )
        await db.commit()
    response = await client.get(
        f"/api/training-history/user/{alice.id}",
        headers={**alice.headers, "X-Request-Id": "req-456"},
    )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-456"
    assert response.json() == {
        "error": "INTERNAL_SERVER_ERROR",
        "message": "Internal server error (request id req-456).",
        "requestId": "req-456",
    }
    assert_nothing_internal(response.text)
    logged = [r for r in caplog.records if r.name == "chorus.http" and "req-456" in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    # A request id that could not be logged safely is replaced.
    odd = await client.get("/healthz", headers={"X-Request-Id": "a b\tc" + "x" * 100})
    assert odd.headers["x-request-id"] != "a b\tc" + "x" * 100

"""The live API fuzzed: schemathesis generates requests from the GraphQL schema and from
the REST routes' OpenAPI description (`/api/openapi.json`), valid ones and invalid ones,
against a real server on each database. None may get a 5xx, an INTERNAL_SERVER_ERROR or a
word of driver text, and the owner's reads must still work afterwards.

The seed is fixed (hypothesis' derandomize) and the examples bounded, so a run takes the
same couple of minutes and finds the same things each time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import Account, make_account
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

# An operation of either kind of schema.
Operation = APIOperation[Any, Any, Any, Any]

# Per operation and mode.
EXAMPLES = 25
# What a client must never read: tracebacks, and the words of drivers and pools.
LEAKS = ("Traceback", "sqlalche.me", "sqlalchemy", "pymysql", "aiomysql", "sqlite3", "QueuePool")
OWNER_READS = """
{
  trainingStats { totalSessions totalExamplesGenerated averageQuality totalTrainingTimeSeconds }
  modelLeaderboard { model wins averageQuality sessions }
  trainingHistory(first: 100) {
    totalCount
    edges { node { sessionId numExamplesRequested totalTimeSeconds averageQuality seed
                   modelPerformance { wins averageQuality totalQuality }
                   genreDistribution { genre count } } }
  }
}
"""


@pytest.fixture
async def live(engine: AsyncEngine, database_url: str) -> AsyncIterator[tuple[LiveServer, Account]]:
    """A server and an admin (who may name any user) whose token the requests carry.
    Sessions that startTraining starts run slowly, one at a time, and few may wait."""
    owner = await make_account(engine, "fuzzer", admin=True)
    server = LiveServer(
        database_url,
        offline_latency_ms=50,
        max_concurrent_examples=1,
        max_running_sessions_per_user=1,
        max_queued_sessions_per_user=3,
    )
    await asyncio.to_thread(server.start)
    try:
        yield server, owner
    finally:
        await asyncio.to_thread(server.stop)


def fuzz(
    schema: schemathesis.BaseSchema,
    base_url: str,
    owner: Account,
    modes: Callable[[str], tuple[GenerationMode, ...]],
) -> list[str]:
    """Every operation of `schema`, in each of its `modes`: what went wrong, if anything."""
    found: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        for mode in modes(operation.label):
            try:
                fuzz_operation(operation, mode, base_url, owner)
            except AssertionError as error:
                found.append(str(error))
    return found


def fuzz_operation(
    operation: Operation, mode: GenerationMode, base_url: str, owner: Account
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case[Operation]) -> None:
        response = case.call(base_url=base_url, headers=owner.headers, timeout=60)
        media_type = (response.headers.get("content-type") or [""])[0]
        problems = [
            problem
            for problem, present in (
                (f"HTTP {response.status_code}", response.status_code >= 500),
                ("INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR" in response.text),
                (f"a {media_type} answer", not media_type.startswith("application/")),
                *((f"{leak!r} in the answer", leak in response.text) for leak in LEAKS),
            )
            if present
        ]
        assert not problems, (
            f"{operation.label} ({mode}): {', '.join(problems)} for\n"
            f"{case.as_curl_command(headers=owner.headers)}\n{response.text[:500]}"
        )

    call()


def assert_owner_reads_work(server: LiveServer, owner: Account) -> None:
    response = httpx.post(
        f"{server.url}/graphql", json={"query": OWNER_READS}, headers=owner.headers, timeout=60
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    listed = httpx.get(
        f"{server.url}/api/training-history/user/{owner.id}", headers=owner.headers, timeout=60
    )
    assert listed.status_code == 200, listed.text


async def test_no_graphql_request_makes_the_server_fail(
    live: tuple[LiveServer, Account],
) -> None:
    server, owner = live
    schema = schemathesis.graphql.from_url(f"{server.url}/graphql", headers=owner.headers)
    found = await asyncio.to_thread(
        fuzz, schema, server.url, owner, lambda _: tuple(GenerationMode)
    )
    assert found == []
    await asyncio.to_thread(assert_owner_reads_work, server, owner)


def rest_modes(label: str) -> tuple[GenerationMode, ...]:
    # A valid /auto-train body runs a whole session before it answers: only invalid ones.
    if label == "POST /auto-train":
        return (GenerationMode.NEGATIVE,)
    return tuple(GenerationMode)


async def test_no_rest_request_makes_the_server_fail(live: tuple[LiveServer, Account]) -> None:
    server, owner = live
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    found = await asyncio.to_thread(fuzz, schema, server.url, owner, rest_modes)
    assert found == []
    await asyncio.to_thread(assert_owner_reads_work, server, owner)

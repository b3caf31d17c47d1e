"""Hostile input, as an attacker sent it: each gets a 4xx or a GraphQL error with a code
other than INTERNAL_SERVER_ERROR, writes nothing, shows nothing internal, and leaves the
owner's reads working. On SQLite and MariaDB, whose limits differ (MariaDB refuses what
SQLite stores: an INT past 32 bits, infinity, a TEXT past 64 KB)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.checks import assert_nothing_internal, assert_owner_reads_work, row_counts
from tests.support import Account, make_account
from tests.support.factories import add_session

DEEP = 100_000
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Attempt:
    """One hostile request and the answer it must get."""

    name: str
    method: str
    path: str
    body: bytes | None
    status: int
    code: str


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def record(**overrides: Any) -> dict[str, Any]:
    """A valid POST /api/training-history body, with `overrides`."""
    body: dict[str, Any] = {
        "sessionId": "hostile-1",
        "numExamplesRequested": 2,
        "numExamplesSuccessful": 2,
        "numExamplesFailed": 0,
        "startedAt": "2024-01-20T10:30:00Z",
        "completedAt": "2024-01-20T10:31:00Z",
    }
    body.update(overrides)
    return body


def performance(entry: str) -> str:
    return '{"m": ' + entry + "}"


HISTORY = "/api/training-history"
BEYOND_BIGINT = "99999999999999999999999"


def rest_attempts() -> list[Attempt]:
    def post(name: str, body: bytes, status: int = 400, code: str = "BAD_USER_INPUT") -> Attempt:
        return Attempt(name, "POST", HISTORY, body, status, code)

    return [
        post("numExamplesRequested of 2^40", encoded(record(numExamplesRequested=2**40))),
        post(
            "a model's count of 2^31",
            encoded(record(modelPerformanceJson=performance('{"count": 2147483648}'))),
        ),
        post(
            "total_quality 1e400",
            encoded(
                record(modelPerformanceJson=performance('{"count": 1, "total_quality": 1e400}'))
            ),
        ),
        post(
            "total_quality -1000",
            encoded(
                record(modelPerformanceJson=performance('{"count": 1, "total_quality": -1000}'))
            ),
        ),
        post(
            "total_quality NaN",
            encoded(record(modelPerformanceJson=performance('{"count": 1, "total_quality": NaN}'))),
        ),
        post("totalTimeSeconds of 2^40", encoded(record(totalTimeSeconds=2**40))),
        post(
            "modelPerformanceJson over 64 KB",
            encoded(
                record(
                    modelPerformanceJson=json.dumps(
                        {f"model-{i}": {"count": 0} for i in range(5000)}
                    )
                )
            ),
        ),
        post(
            "modelPerformanceJson 40 deep",
            encoded(record(modelPerformanceJson=nested(40).decode())),
        ),
        post("a body 100,000 deep", nested(DEEP), code="BAD_REQUEST"),
        post("storiesSavedCount of 2^63", encoded(record(storiesSavedCount=2**63))),
        post("userId of 2^63", encoded(record(userId=2**63)), status=404, code="NOT_FOUND"),
        post(
            "completedAt in the year 10000 once its offset is applied",
            encoded(record(completedAt="9999-12-31T23:59:59-14:00")),
        ),
        post(
            "startedAt in the year 0 once its offset is applied",
            encoded(record(startedAt="0001-01-01T00:00:00+14:00")),
        ),
        post("averageQuality NaN", encoded(record(averageQuality="NaN"))),
        post("sessionId \\ud800", b'{"sessionId": "\\ud800"}', code="BAD_REQUEST"),
        post("invalid UTF-8", b'{"sessionId": "\xff"}', code="BAD_REQUEST"),
        post("a body that is not JSON", b"{", code="BAD_REQUEST"),
        post("a body that is not an object", b"null", code="BAD_REQUEST"),
        post(
            "genresSelected of 10,000 names",
            encoded(record(genresSelected=["fantasy"] * 10_000)),
        ),
        Attempt(
            "an admin's user id beyond BIGINT",
            "GET",
            f"{HISTORY}/user/{BEYOND_BIGINT}",
            None,
            404,
            "NOT_FOUND",
        ),
        Attempt(
            "an admin's stats beyond BIGINT",
            "GET",
            f"{HISTORY}/user/{BEYOND_BIGINT}/stats",
            None,
            404,
            "NOT_FOUND",
        ),
        Attempt(
            "a dataset of a job beyond BIGINT",
            "GET",
            f"/api/fine-tune-jobs/{BEYOND_BIGINT}/dataset.jsonl",
            None,
            404,
            "NOT_FOUND",
        ),
        Attempt(
            "a page of 2^63",
            "GET",
            f"{HISTORY}/user/1/paginated?page={2**63}",
            None,
            400,
            "BAD_USER_INPUT",
        ),
        Attempt("a wrong method", "DELETE", HISTORY, None, 405, "METHOD_NOT_ALLOWED"),
        Attempt("an unknown path", "GET", "/api/nothing-here", None, 404, "NOT_FOUND"),
        Attempt(
            "/auto-train 100,000 deep", "POST", "/auto-train", nested(DEEP), 400, "BAD_REQUEST"
        ),
        Attempt(
            "/auto-train for a user beyond 64 bits",
            "POST",
            "/auto-train",
            encoded({"user_id": 2**80, "num_examples": 1}),
            400,
            "BAD_USER_INPUT",
        ),
        Attempt(
            "/auto-train for a user beyond BIGINT",
            "POST",
            "/auto-train",
            encoded({"user_id": 2**63, "num_examples": 1}),
            404,
            "NOT_FOUND",
        ),
        Attempt(
            "/auto-train with a seed of 2^40",
            "POST",
            "/auto-train",
            encoded({"num_examples": 1, "seed": 2**40}),
            400,
            "BAD_USER_INPUT",
        ),
    ]


@pytest.fixture
async def owner(engine: AsyncEngine) -> Account:
    """An admin (who may name any user) with a session whose reads must keep working."""
    account = await make_account(engine, "root", admin=True)
    await add_session(engine, account.id, examples=2)
    return account


async def test_hostile_rest_requests_get_a_4xx_and_write_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, owner: Account
) -> None:
    before = await row_counts(engine)
    for attempt in rest_attempts():
        response = await client.request(
            attempt.method,
            attempt.path,
            content=attempt.body,
            headers={**owner.headers, **JSON_HEADERS},
        )
        assert (response.status_code, response.headers["content-type"]) == (
            attempt.status,
            "application/json",
        ), (attempt.name, response.text)
        assert response.json()["error"] == attempt.code, (attempt.name, response.text)
        assert_nothing_internal(response.text)
        assert await row_counts(engine) == before, attempt.name
    await assert_owner_reads_work(client, owner)


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return encoded({"query": query, "variables": variables or {}})


RECORD = """
mutation ($input: TrainingSessionInput!) { recordTrainingSession(input: $input) { sessionId } }
"""


def recorded(**overrides: Any) -> bytes:
    given: dict[str, Any] = {
        "sessionId": "hostile-2",
        "numExamplesRequested": 2,
        "numExamplesSuccessful": 2,
        "numExamplesFailed": 0,
        "startedAt": "2024-01-20T10:30:00Z",
        "completedAt": "2024-01-20T10:31:00Z",
    }
    given.update(overrides)
    return graphql_body(RECORD, {"input": given})


def cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def global_id(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


HISTORY_AFTER = "query ($after: String) { trainingHistory(after: $after) { totalCount } }"
BY_QUALITY_AFTER = """
query ($after: String) {
  trainingHistory(orderBy: AVERAGE_QUALITY_DESC, after: $after) { totalCount }
}
"""
NODE = "query ($id: ID!) { node(id: $id) { id } }"


def graphql_attempts(session_id: str) -> list[Attempt]:
    def attempt(name: str, body: bytes, status: int = 200, code: str = "BAD_USER_INPUT") -> Attempt:
        return Attempt(name, "POST", "/graphql", body, status, code)

    examples_after = (
        'query ($after: String) { trainingSession(sessionId: "' + session_id + '") '
        "{ examples(after: $after) { totalCount } } }"
    )
    return [
        attempt('a body of "x"', b'"x"', 400, "BAD_REQUEST"),
        attempt("a body of null", b"null", 400, "BAD_REQUEST"),
        attempt(
            "invalid UTF-8 in a variable",
            b'{"query": "{ viewer { name } }", "variables": {"a": "\xff"}}',
            400,
            "BAD_REQUEST",
        ),
        attempt(
            "variables 100,000 deep",
            b'{"query": "{ viewer { name } }", "variables": {"a": ' + nested(DEEP) + b"}}",
            400,
            "BAD_REQUEST",
        ),
        attempt(
            "a sessionId of \\ud800",
            b'{"query": "query ($s: String!) { trainingSession(sessionId: $s) { id } }", '
            b'"variables": {"s": "\\ud800"}}',
            400,
            "BAD_REQUEST",
        ),
        attempt(
            "a sessionId of \\ud800 written in the document",
            graphql_body('{ trainingSession(sessionId: "\\ud800") { id } }'),
            code="GRAPHQL_PARSE_FAILED",
        ),
        attempt(
            "a subscription sent by HTTP",
            graphql_body('subscription { trainingProgress(sessionId: "x") { seq } }'),
            400,
            "BAD_REQUEST",
        ),
        attempt("a count of 1e20", recorded(numExamplesRequested=1e20)),
        attempt("a quality of NaN", recorded(averageQuality="NaN")),
        attempt(
            "a model's count of 2^31",
            recorded(modelPerformanceJson=performance('{"count": 2147483648, "avg_quality": 5}')),
        ),
        attempt(
            "a model's count of 1e20",
            recorded(modelPerformanceJson=performance('{"count": 1e20}')),
        ),
        attempt(
            "total_quality NaN",
            recorded(modelPerformanceJson=performance('{"count": 1, "total_quality": NaN}')),
        ),
        attempt("JSON 100,000 deep", recorded(modelPerformanceJson=nested(DEEP).decode())),
        attempt("JSON 40 deep", recorded(genreDistributionJson=nested(40).decode())),
        attempt("totalTimeSeconds of 2^40", recorded(totalTimeSeconds=2**40)),
        attempt("a date of the year 10000", recorded(completedAt="9999-12-31T23:59:59-14:00")),
        attempt("a date of the year 0", recorded(startedAt="0001-01-01T00:00:00+14:00")),
        attempt(
            "a date of the year 10000 written in the document",
            graphql_body(
                '{ trainingHistory(filter: {startedAfter: "9999-12-31T23:59:59-14:00"}) '
                "{ totalCount } }"
            ),
            code="GRAPHQL_VALIDATION_FAILED",
        ),
        attempt(
            "a filter of the year 10000",
            graphql_body(
                "query ($f: TrainingHistoryFilter) { trainingHistory(filter: $f) { totalCount } }",
                {"f": {"startedAfter": "9999-12-31T23:59:59-14:00"}},
            ),
        ),
        attempt(
            "a minimum quality of 1e300",
            graphql_body(
                "query ($f: TrainingHistoryFilter) { trainingHistory(filter: $f) { totalCount } }",
                {"f": {"minAverageQuality": 1e300}},
            ),
        ),
        attempt(
            "a cursor whose row id is 10^30",
            graphql_body(
                HISTORY_AFTER,
                {
                    "after": cursor(
                        "TrainingSession", "STARTED_AT_DESC", "2024-01-01T00:00:00+00:00", 10**30
                    )
                },
            ),
        ),
        attempt(
            "a cursor of the year 10000",
            graphql_body(
                HISTORY_AFTER,
                {
                    "after": cursor(
                        "TrainingSession", "STARTED_AT_DESC", "9999-12-31T23:59:59-14:00", 1
                    )
                },
            ),
        ),
        attempt(
            "a cursor of the year 0",
            graphql_body(
                HISTORY_AFTER,
                {
                    "after": cursor(
                        "TrainingSession", "STARTED_AT_DESC", "0001-01-01T00:00:00+14:00", 1
                    )
                },
            ),
        ),
        attempt(
            "a cursor 100,000 deep",
            graphql_body(HISTORY_AFTER, {"after": base64.urlsafe_b64encode(nested(DEEP)).decode()}),
        ),
        attempt("an empty cursor", graphql_body(HISTORY_AFTER, {"after": ""})),
        *(
            attempt(
                f"a quality cursor of {key}",
                graphql_body(
                    BY_QUALITY_AFTER,
                    {"after": cursor("TrainingSession", "AVERAGE_QUALITY_DESC", key, 1)},
                ),
            )
            for key in (float("nan"), float("inf"), 1e47, -1)
        ),
        attempt(
            "an examples cursor of index 1.5",
            graphql_body(examples_after, {"after": cursor("TrainingExample", "INDEX_ASC", 1.5, 1)}),
        ),
        attempt("a node id of User:²", graphql_body(NODE, {"id": global_id("User:²")})),
        attempt(
            "a node id of thirty nines", graphql_body(NODE, {"id": global_id("User:" + "9" * 30)})
        ),
        attempt("a node id that is no id", graphql_body(NODE, {"id": "%%%"})),
        attempt(
            "a userId beyond GraphQL's Int",
            graphql_body(
                "query ($u: Int) { trainingStats(userId: $u) { totalSessions } }", {"u": 2**40}
            ),
        ),
        attempt(
            "a seed beyond GraphQL's Int",
            graphql_body(
                "mutation ($s: Int) { startTraining(input: {numExamples: 1, seed: $s}) { id } }",
                {"s": 2**40},
            ),
        ),
        attempt(
            "a document that is no GraphQL",
            graphql_body("{ viewer { "),
            code="GRAPHQL_PARSE_FAILED",
        ),
        attempt(
            "a field that does not exist",
            graphql_body("{ nothing }"),
            code="GRAPHQL_VALIDATION_FAILED",
        ),
    ]


async def test_hostile_graphql_requests_get_a_code_and_write_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, owner: Account
) -> None:
    reads = await assert_owner_reads_work(client, owner)
    session_id = reads["trainingHistory"]["edges"][0]["node"]["sessionId"]
    before = await row_counts(engine)
    for attempt in graphql_attempts(session_id):
        response = await client.post(
            "/graphql", content=attempt.body, headers={**owner.headers, **JSON_HEADERS}
        )
        assert (response.status_code, response.headers["content-type"]) == (
            attempt.status,
            "application/json",
        ), (attempt.name, response.text)
        codes = [error.get("extensions", {}).get("code") for error in response.json()["errors"]]
        assert codes, (attempt.name, response.text)
        assert set(codes) == {attempt.code}, (attempt.name, response.text)
        assert_nothing_internal(response.text)
        assert await row_counts(engine) == before, attempt.name
    await assert_owner_reads_work(client, owner)


async def test_what_an_operation_selects_decides_whether_it_needs_a_token(
    client: httpx.AsyncClient, owner: Account
) -> None:
    for document in (
        "{ ...__F } fragment __F on Query { teachers { name model provider } }",
        "{ ... on Query { teachers { name } } }",
        "{ __typename ...F } fragment F on Query { estimateTrainingTime(numExamples: 5) }",
        "{ ...__schema } fragment __schema on Query { genres { label } }",
    ):
        response = await client.post("/graphql", json={"query": document})
        body = response.json()
        assert body["data"] is None, document
        assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]
    for introspection in (
        "{ __schema { queryType { name } } }",
        '{ __typename ...T } fragment T on Query { __type(name: "User") { name } }',
    ):
        body = (await client.post("/graphql", json={"query": introspection})).json()
        assert "errors" not in body, body
    allowed = await client.post(
        "/graphql",
        json={"query": "{ ...__F } fragment __F on Query { teachers { name } }"},
        headers=owner.headers,
    )
    assert allowed.json()["data"]["teachers"]

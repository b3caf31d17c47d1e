"""The original training-history REST API: paths, JSON shapes, auth and scoping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from server.rest import TrainingHistoryBody
from tests.integration.test_recording import original_fields
from tests.support import make_account
from tests.support.factories import T0, add_session

# The request body exactly as the original documentation shows it.
ORIGINAL_EXAMPLE = """{
  "userId": 1,
  "sessionId": "abc123...",
  "numExamplesRequested": 10,
  "numExamplesSuccessful": 9,
  "numExamplesFailed": 1,
  "genresSelected": "[\\"fantasy\\", \\"sci-fi\\"]",
  "storedInMemory": false,
  "savedToDatabase": true,
  "storiesSavedCount": 3,
  "averageQuality": 8.5,
  "minQuality": 7.2,
  "maxQuality": 9.8,
  "bestPerformingModel": "gemini-2.0",
  "modelPerformanceJson": "{...}",
  "genreDistributionJson": "{...}",
  "totalTimeSeconds": 180,
  "trainingExamplesBefore": 40,
  "trainingExamplesAfter": 49,
  "finetuningTriggered": false,
  "startedAt": "2024-01-20T10:30:00",
  "completedAt": "2024-01-20T10:33:00"
}"""


async def test_the_documented_example_is_recorded(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    body = ORIGINAL_EXAMPLE.replace('"userId": 1', f'"userId": {alice.id}')
    response = await client.post(
        "/api/training-history",
        content=body,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    saved = response.json()
    assert saved["userId"] == alice.id
    assert saved["sessionId"] == "abc123..."
    assert saved["genresSelected"] == '["FANTASY", "SCIENCE_FICTION"]'
    assert saved["modelPerformanceJson"] == "{...}"
    assert saved["finetuningTriggered"] is False
    assert saved["startedAt"] == "2024-01-20T10:30:00+00:00"
    assert saved["completedAt"] == "2024-01-20T10:33:00+00:00"
    assert isinstance(saved["id"], int)

    one = await client.get("/api/training-history/session/abc123...", headers=alice.headers)
    assert one.status_code == 200
    assert one.json() == saved

    stats = (
        await client.get(f"/api/training-history/user/{alice.id}/stats", headers=alice.headers)
    ).json()
    assert stats == {
        "totalSessions": 1,
        "totalExamplesGenerated": 9,
        "totalStoriesSaved": 3,
        "averageQuality": 8.5,
        "totalTrainingTimeSeconds": 180,
        "fineTuningSessionsCount": 0,
        "fineTuningExamples": 9,
        "untilNextFineTuning": 41,
        "promptTokens": 0,
        "completionTokens": 0,
        "costUsd": None,
        "sessionsWithKnownCost": 0,
    }


async def test_lists_pages_and_recent(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    stored = [
        await add_session(
            engine,
            alice.id,
            started_at=T0 + timedelta(minutes=i),
            total_time_seconds=1000 - i * 100,
        )
        for i in range(5)
    ]
    newest_first = [s.session_id for s in reversed(stored)]

    everything = await client.get(f"/api/training-history/user/{alice.id}", headers=alice.headers)
    assert [s["sessionId"] for s in everything.json()] == newest_first

    page = (
        await client.get(
            f"/api/training-history/user/{alice.id}/paginated?page=1&size=2",
            headers=alice.headers,
        )
    ).json()
    assert [s["sessionId"] for s in page["content"]] == newest_first[2:4]
    assert (page["totalElements"], page["totalPages"], page["number"], page["size"]) == (
        5,
        3,
        1,
        2,
    )

    by_completion = sorted(stored, key=lambda s: s.completed_at, reverse=True)  # type: ignore[arg-type, return-value]
    recent = await client.get(
        f"/api/training-history/user/{alice.id}/recent?limit=3", headers=alice.headers
    )
    assert [s["sessionId"] for s in recent.json()] == [s.session_id for s in by_completion[:3]]


async def test_auth_and_scoping(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    admin = await make_account(engine, "root", admin=True)
    secret = await add_session(engine, alice.id)
    paths = [
        f"/api/training-history/user/{alice.id}",
        f"/api/training-history/user/{alice.id}/paginated",
        f"/api/training-history/user/{alice.id}/stats",
        f"/api/training-history/user/{alice.id}/recent",
    ]
    for path in paths:
        anonymous = await client.get(path)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "UNAUTHENTICATED"
        assert anonymous.headers["www-authenticate"] == "Bearer"
        bad = await client.get(path, headers={"Authorization": "Bearer chorus_nope"})
        assert bad.status_code == 401
        forbidden = await client.get(path, headers=bob.headers)
        assert forbidden.status_code == 403
        # A path cannot leave the id out: the answer says which id is the caller's.
        assert forbidden.json()["message"].endswith(f"your own user id is {bob.id}.")
        assert (await client.get(path, headers=admin.headers)).status_code == 200
    session_path = f"/api/training-history/session/{secret.session_id}"
    assert (await client.get(session_path, headers=bob.headers)).status_code == 404
    assert (await client.get(session_path, headers=admin.headers)).status_code == 200


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.post("/api/training-history", json=body, headers=headers)


def payload(user_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "userId": user_id,
        "sessionId": "s-1",
        "numExamplesRequested": 2,
        "numExamplesSuccessful": 2,
        "numExamplesFailed": 0,
        "startedAt": "2024-01-20T10:30:00",
        "completedAt": "2024-01-20T10:31:00",
    }
    body.update(overrides)
    return body


async def test_bad_posts_are_clear_and_write_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    cases: list[tuple[Any, int, str]] = [
        (payload(alice.id, numExamplesFailed=1), 400, "numExamplesSuccessful"),
        (payload(alice.id, genresSelected='["space opera"]'), 400, "genresSelected"),
        (payload(alice.id, startedAt="yesterday"), 400, "startedAt"),
        (payload(alice.id, surprise=True), 400, "surprise"),
        ({k: v for k, v in payload(alice.id).items() if k != "sessionId"}, 400, "sessionId"),
        (payload(bob.id), 403, ""),
        ([1, 2], 400, ""),
    ]
    for body, status, field in cases:
        response = await post(client, alice.headers, body)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["field"] == field
            assert field in response.json()["message"]
    listed = await client.get(f"/api/training-history/user/{alice.id}", headers=alice.headers)
    assert listed.json() == []
    not_json = await client.post(
        "/api/training-history",
        content=b"{",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400

    assert (await post(client, alice.headers, payload(alice.id))).status_code == 201
    duplicate = await post(client, alice.headers, payload(alice.id))
    assert duplicate.status_code == 409
    assert "s-1" in duplicate.json()["message"]


# An answer's fields, in the original's order (its one spelling `finetuningTriggered`
# included), then the fields Chorus adds.
ANSWER_FIELDS = [
    "id",
    "userId",
    "sessionId",
    "numExamplesRequested",
    "numExamplesSuccessful",
    "numExamplesFailed",
    "genresSelected",
    "storedInMemory",
    "savedToDatabase",
    "storiesSavedCount",
    "averageQuality",
    "minQuality",
    "maxQuality",
    "bestPerformingModel",
    "modelPerformanceJson",
    "genreDistributionJson",
    "totalTimeSeconds",
    "trainingExamplesBefore",
    "trainingExamplesAfter",
    "finetuningTriggered",
    "startedAt",
    "completedAt",
    "createdAt",
    "status",
    "votingStrategy",
    "teachers",
    "updatedAt",
    "promptTokens",
    "completionTokens",
    "costUsd",
    "maxCostUsd",
    "endReason",
]


def test_the_body_gives_every_field_a_recorded_session_reads() -> None:
    assert set(TrainingHistoryBody.model_fields) - {"user_id"} == original_fields()


async def test_answers_keep_the_original_field_order_and_values(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    body = payload(
        alice.id,
        genresSelected=["fantasy", "sci-fi"],
        storedInMemory=True,
        averageQuality=8.5,
        minQuality=7.0,
        maxQuality=9.0,
        bestPerformingModel="m-1",
        modelPerformanceJson='{"m-1": {"count": 2, "avg_quality": 8.5}}',
        genreDistributionJson='{"fantasy": 1, "sci-fi": 1}',
        totalTimeSeconds=60,
        trainingExamplesAfter=2,
        fineTuningTriggered=True,
    )
    saved = await post(client, alice.headers, body)
    assert saved.status_code == 201, saved.text
    answer = saved.json()
    assert list(answer) == ANSWER_FIELDS
    created, updated = answer.pop("createdAt"), answer.pop("updatedAt")
    assert created.endswith("+00:00")
    assert updated.endswith("+00:00")
    assert answer == {
        "id": answer["id"],
        "userId": alice.id,
        "sessionId": "s-1",
        "numExamplesRequested": 2,
        "numExamplesSuccessful": 2,
        "numExamplesFailed": 0,
        "genresSelected": '["FANTASY", "SCIENCE_FICTION"]',
        "storedInMemory": True,
        "savedToDatabase": False,
        "storiesSavedCount": 0,
        "averageQuality": 8.5,
        "minQuality": 7.0,
        "maxQuality": 9.0,
        "bestPerformingModel": "m-1",
        "modelPerformanceJson": '{"m-1": {"count": 2, "avg_quality": 8.5}}',
        "genreDistributionJson": '{"fantasy": 1, "sci-fi": 1}',
        "totalTimeSeconds": 60,
        "trainingExamplesBefore": 0,
        "trainingExamplesAfter": 2,
        "finetuningTriggered": True,
        "startedAt": "2024-01-20T10:30:00+00:00",
        "completedAt": "2024-01-20T10:31:00+00:00",
        "status": "COMPLETED",
        "votingStrategy": "JURY",
        "teachers": ["m-1"],
        "promptTokens": None,
        "completionTokens": None,
        "costUsd": None,
        "maxCostUsd": None,
        "endReason": None,
    }
    listed = await client.get(f"/api/training-history/user/{alice.id}", headers=alice.headers)
    assert [list(session) for session in listed.json()] == [ANSWER_FIELDS]
    stats = await client.get(f"/api/training-history/user/{alice.id}/stats", headers=alice.headers)
    assert list(stats.json()) == [
        "totalSessions",
        "totalExamplesGenerated",
        "totalStoriesSaved",
        "averageQuality",
        "totalTrainingTimeSeconds",
        "fineTuningSessionsCount",
        "fineTuningExamples",
        "untilNextFineTuning",
        "promptTokens",
        "completionTokens",
        "costUsd",
        "sessionsWithKnownCost",
    ]


async def test_query_parameters_are_checked(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    base = f"/api/training-history/user/{alice.id}"
    for path, name in (
        (f"{base}/paginated?size=0", "size"),
        (f"{base}/paginated?size=101", "size"),
        (f"{base}/paginated?page=-1", "page"),
        (f"{base}/paginated?page=x", "page"),
        (f"{base}/recent?limit=0", "limit"),
    ):
        response = await client.get(path, headers=alice.headers)
        assert response.status_code == 400
        assert response.json()["field"] == name


async def test_cors_follows_settings(engine: AsyncEngine, settings: Any) -> None:
    from server.app import create_app

    app = create_app(settings.model_copy(update={"cors_origins": ["http://dash.example"]}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chorus.test") as http:
            allowed = await http.options(
                "/api/training-history/user/1",
                headers={
                    "Origin": "http://dash.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert allowed.headers["access-control-allow-origin"] == "http://dash.example"
            other = await http.get("/healthz", headers={"Origin": "http://evil.example"})
            assert "access-control-allow-origin" not in other.headers


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).text == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}

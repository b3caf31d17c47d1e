"""Subscription events executed once per operation and variables (schema/execution.py), seen
from real websocket clients of a real server: subscribers that asked the same get the same
result, executed once; the others get their own; errors stay each subscriber's own.

Executions are counted by wrapping resolvers in the server's graphql-core schema; the
wrapped resolvers still run.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import strawberry
from graphql import GraphQLObjectType, GraphQLSchema
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from websockets import ClientConnection, connect
from websockets.typing import Subprotocol

from server.app import create_app
from server.graphql_app import ChorusGraphQL
from server.settings import Settings
from tests.support import make_account
from tests.support.live import InProcessServer, graphql_async, open_socket, send_subscribe
from tests.support.metrics import Scrape
from trainer.live import channel_of

START = "mutation($n: Int!) { startTraining(input: {numExamples: $n, seed: 5}) { sessionId } }"
CANCEL = "mutation($id: String!) { cancelTraining(sessionId: $id) { status } }"
WATCH = """subscription($id: String!, $after: Int, $withAt: Boolean!) {
  trainingProgress(sessionId: $id, afterSeq: $after) {
    __typename seq at @include(if: $withAt)
    ... on VoteCast { candidate }
    ... on SessionFinished { status session { sessionId status } }
  }
}"""
VOTERS = """subscription($id: String!) {
  trainingProgress(sessionId: $id) { seq ... on VoteCast { voter } }
}"""
ETA = """subscription($id: String!) {
  trainingProgress(sessionId: $id) { seq ... on SessionProgress { completed etaSeconds } }
}"""
PROGRESS = """subscription($id: String!) {
  trainingProgress(sessionId: $id) { seq ... on SessionProgress { completed } }
}"""
BATCHES = """subscription($id: String!, $withAt: Boolean!) {
  trainingProgressBatches(sessionId: $id, maxDelayMs: 20, maxEvents: 4) {
    firstSeq lastSeq
    events {
      __typename seq at @include(if: $withAt)
      ... on SessionFinished { status session { sessionId status } }
    }
  }
}"""
LEGACY_WS = Subprotocol("graphql-ws")


def graphql_schema(app: Starlette) -> GraphQLSchema:
    route = next(route for route in app.routes if isinstance(route, WebSocketRoute))
    schema = cast(ChorusGraphQL, route.endpoint).schema
    assert isinstance(schema, strawberry.Schema)
    return schema._schema


def count_resolver(
    app: Starlette, type_name: str, field: str, *, fails: bool = False
) -> Counter[int]:
    """How many times the field was resolved, by the seq of the event it was resolved on; with
    `fails`, the resolver raises an unexpected error after it has run."""
    parent = graphql_schema(app).get_type(type_name)
    assert isinstance(parent, GraphQLObjectType)
    definition = parent.fields[field]
    resolve = cast(Callable[..., Any], definition.resolve)
    calls: Counter[int] = Counter()

    def counted(source: Any, info: Any, **args: Any) -> Any:
        calls[source.seq] += 1
        result = resolve(source, info, **args)
        if fails:
            raise RuntimeError("the estimate exploded")
        return result

    definition.resolve = counted
    return calls


async def subscribe(
    url: str,
    token: str,
    query: str,
    variables: Mapping[str, Any],
    *,
    request_id: str = "",
    legacy: bool = False,
) -> ClientConnection:
    headers = {"x-request-id": request_id} if request_id else None
    if not legacy:
        ws = await open_socket(url, token, headers=headers, max_queue=1024)
        await send_subscribe(ws, "1", query, **variables)
        return ws
    ws = await connect(url, subprotocols=[LEGACY_WS], additional_headers=headers)
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await ws.send(json.dumps(init))
    start = {"type": "start", "id": "1", "payload": {"query": query, "variables": variables}}
    await ws.send(json.dumps(start))
    return ws


async def messages(ws: ClientConnection) -> list[str]:
    """Every result's message as it was sent, in order, until the stream completes (either
    protocol)."""
    received: list[str] = []
    while True:
        text = await asyncio.wait_for(ws.recv(), 30)
        assert isinstance(text, str)
        message = json.loads(text)
        if message["type"] == "complete":
            await ws.close()
            return received
        if message["type"] in ("next", "data"):
            received.append(text)
        else:
            assert message["type"] in ("connection_ack", "ka", "ping"), message


async def payloads(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every result's payload, in order, until the stream completes (either protocol)."""
    return [json.loads(text)["payload"] for text in await messages(ws)]


def events_of(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [payload["data"]["trainingProgress"] for payload in received]


async def watch_queued_session(
    settings: Settings,
    engine: AsyncEngine,
    subscriptions: list[tuple[str, dict[str, Any], dict[str, Any]]],
    instrument: Callable[[Starlette], None],
    read: Callable[[ClientConnection], Awaitable[list[Any]]] = payloads,
) -> list[list[Any]]:
    """Every subscription's payloads for one session of two examples. The session waits
    behind another of the same user until every subscription is in, so that each gets every
    event live, as the same object as the others."""
    alice = await make_account(engine, "alice")
    app = create_app(settings.model_copy(update={"max_running_sessions_per_user": 1}))
    instrument(app)
    async with InProcessServer(app) as server:
        blocker = (await graphql_async(server, START, {"n": 200}, token=alice.token))["data"]
        watched = (await graphql_async(server, START, {"n": 2}, token=alice.token))["data"]
        session_id = watched["startTraining"]["sessionId"]
        sockets = [
            await subscribe(
                server.ws_url, alice.token, query, {"id": session_id, **variables}, **kw
            )
            for query, variables, kw in subscriptions
        ]
        hub = app.state.services.hub
        for _ in range(500):
            channel = hub._channels.get(channel_of(session_id))
            if channel is not None and len(channel.feeds) == len(sockets):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the subscriptions did not all start")
        blocker_id = blocker["startTraining"]["sessionId"]
        await graphql_async(server, CANCEL, {"id": blocker_id}, token=alice.token)
        return list(await asyncio.gather(*(read(ws) for ws in sockets)))


async def test_subscribers_asking_the_same_share_one_execution_per_event(
    engine: AsyncEngine, settings: Settings, broadcast_url: str
) -> None:
    counts: dict[str, Counter[int]] = {}

    def instrument(app: Starlette) -> None:
        counts["events"] = count_resolver(app, "Subscription", "trainingProgress")
        counts["sessions"] = count_resolver(app, "SessionFinished", "session")

    with_at = {"withAt": True}
    same, resumed, legacy, without_at, voters = await watch_queued_session(
        settings.model_copy(update={"broadcast_url": broadcast_url, "offline_latency_ms": 5}),
        engine,
        [
            (WATCH, with_at, {}),
            # afterSeq is read by the subscription's resolver only: these share too.
            (WATCH, {**with_at, "after": 0}, {}),
            (WATCH, with_at, {"legacy": True}),
            (WATCH, {"withAt": False}, {}),
            (VOTERS, {}, {}),
        ],
        instrument,
    )
    assert resumed == same
    assert legacy == same
    events = events_of(same)
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all("errors" not in payload for payload in same + without_at + voters)
    assert all("at" in event for event in events)
    assert {"status": "COMPLETED", "sessionId": events[-1]["session"]["sessionId"]} == (
        events[-1]["session"]
    )
    # A variable the selection uses is part of the question.
    assert events_of(without_at) == [
        {key: value for key, value in event.items() if key != "at"} for event in events
    ]
    # Another selection gets its own fields.
    votes = [event for event in events_of(voters) if "voter" in event]
    assert votes
    assert all(set(vote) == {"seq", "voter"} for vote in votes)
    assert [event["seq"] for event in events_of(voters)] == seqs
    # Each event executed once per question: WATCH with and without `at`, and VOTERS.
    assert counts["events"] == dict.fromkeys(seqs, 3)
    assert counts["sessions"] == {seqs[-1]: 2}


async def test_an_error_is_masked_for_each_subscriber_and_kept_from_other_documents(
    engine: AsyncEngine, settings: Settings
) -> None:
    counts: dict[str, Counter[int]] = {}

    def instrument(app: Starlette) -> None:
        counts["events"] = count_resolver(app, "Subscription", "trainingProgress")
        counts["eta"] = count_resolver(app, "SessionProgress", "etaSeconds", fails=True)

    first, second, unaffected = await watch_queued_session(
        settings.model_copy(update={"offline_latency_ms": 5}),
        engine,
        [
            (ETA, {}, {"request_id": "watcher-1"}),
            (ETA, {}, {"request_id": "watcher-2"}),
            (PROGRESS, {}, {"request_id": "watcher-3"}),
        ],
        instrument,
    )
    progress_seqs = [event["seq"] for event in events_of(first) if "completed" in event]
    assert progress_seqs
    for received, request_id in ((first, "watcher-1"), (second, "watcher-2")):
        failed = [payload for payload in received if "errors" in payload]
        assert [payload["data"]["trainingProgress"]["seq"] for payload in failed] == progress_seqs
        for payload in failed:
            assert payload["data"]["trainingProgress"]["etaSeconds"] is None
            (error,) = payload["errors"]
            assert error["message"] == f"Internal server error (request id {request_id})."
            assert error["extensions"] == {
                "code": "INTERNAL_SERVER_ERROR",
                "requestId": request_id,
            }
        assert "exploded" not in json.dumps(received)
    assert all("errors" not in payload for payload in unaffected)
    assert [event["seq"] for event in events_of(unaffected) if "completed" in event] == (
        progress_seqs
    )
    # A result with errors is not shared: each ETA subscriber executed those events itself;
    # the other events were executed once for ETA and once for PROGRESS.
    assert counts["eta"] == dict.fromkeys(progress_seqs, 2)
    seqs = [event["seq"] for event in events_of(unaffected)]
    assert counts["events"] == {seq: 3 if seq in progress_seqs else 2 for seq in seqs}


async def test_subscribers_asking_the_same_batches_are_sent_the_same_bytes(
    engine: AsyncEngine, settings: Settings, broadcast_url: str
) -> None:
    """Each batch is executed once per document and variables, and the same bytes go to
    every socket that asked for it; another question gets batches of its own."""
    counts: dict[str, Counter[int]] = {}

    def instrument(app: Starlette) -> None:
        counts["sessions"] = count_resolver(app, "SessionFinished", "session")

    before = Scrape.parse(generate_latest().decode())
    watchers = 5
    *same, without_at = await watch_queued_session(
        settings.model_copy(update={"broadcast_url": broadcast_url, "offline_latency_ms": 5}),
        engine,
        [*[(BATCHES, {"withAt": True}, {})] * watchers, (BATCHES, {"withAt": False}, {})],
        instrument,
        read=messages,
    )
    after = Scrape.parse(generate_latest().decode())
    assert all(received == same[0] for received in same)
    batches = [json.loads(text)["payload"]["data"]["trainingProgressBatches"] for text in same[0]]
    events = [event for batch in batches for event in batch["events"]]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert all(len(batch["events"]) <= 4 for batch in batches)
    assert all(
        [event["seq"] for event in batch["events"]]
        == list(range(batch["firstSeq"], batch["lastSeq"] + 1))
        for batch in batches
    )
    assert events[-1]["status"] == events[-1]["session"]["status"] == "COMPLETED"
    others = [json.loads(text)["payload"]["data"]["trainingProgressBatches"] for text in without_at]
    assert [[e["seq"] for e in batch["events"]] for batch in others] == [
        [e["seq"] for e in batch["events"]] for batch in batches
    ]
    assert all("at" not in event for batch in others for event in batch["events"])
    # One execution per batch for each of the two questions; every other watcher of the
    # first was handed that execution's result.
    name = "chorus_subscription_results_total"
    assert after.since(before, name, how="executed") == 2 * len(batches)
    assert after.since(before, name, how="shared") == (watchers - 1) * len(batches)
    assert counts["sessions"] == {events[-1]["seq"]: 2}

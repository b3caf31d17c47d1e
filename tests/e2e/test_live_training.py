"""Live training against a real server on a free port, with real websocket clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.tables import TrainingExample, TrainingHistory
from tests.support import Account, make_account
from tests.support.databases import REDIS_URL, redis_reachable, require_redis, unavailable
from tests.support.live import (
    LiveServer,
    free_port,
    graphql_http,
    open_socket,
    progress_batches,
    progress_events,
    send_subscribe,
)
from tests.support.records import assert_record_agrees

START = """
mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status numExamplesRequested }
}
"""
CANCEL = "mutation($id: String!) { cancelTraining(sessionId: $id) { sessionId status } }"
RESUME = "mutation($id: String!) { resumeTraining(sessionId: $id) { sessionId status } }"
SESSION = """query($id: String!) { trainingSession(sessionId: $id) {
  status numExamplesSuccessful numExamplesFailed numExamplesRequested } }"""


@pytest.fixture
def live(engine: AsyncEngine, database_url: str, broadcast_url: str) -> Iterator[LiveServer]:
    server = LiveServer(
        database_url,
        broadcast_url,
        offline_latency_ms=40,
        max_concurrent_examples=2,
        max_running_sessions_per_user=1,
    )
    with server:
        yield server


def start(server: LiveServer, account: Account, **fields: Any) -> dict[str, Any]:
    body = graphql_http(server, START, {"input": fields}, token=account.token)
    assert "errors" not in body, body
    session: dict[str, Any] = body["data"]["startTraining"]
    return session


async def collect(
    server: LiveServer, account: Account, session_id: str, after: int | None = None, **kw: Any
) -> list[dict[str, Any]]:
    return [
        event async for event in progress_events(server, account.token, session_id, after, **kw)
    ]


def assert_complete_stream(events: list[dict[str, Any]], first_seq: int = 1) -> None:
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(first_seq, first_seq + len(events))), seqs
    assert events[-1]["__typename"] == "SessionFinished"
    assert sum(event["__typename"] == "SessionFinished" for event in events) == 1


async def test_every_subscriber_gets_every_event_exactly_once(
    live: LiveServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    # Recorded and queued, answered at once: a worker claims it as soon as it can.
    first = start(live, alice, numExamples=16, seed=5)
    assert first["status"] in ("QUEUED", "RUNNING")
    # alice may run one session at a time here: the second waits, QUEUED.
    second = start(live, alice, numExamples=4, seed=6)
    assert second["status"] == "QUEUED"

    before_start = asyncio.create_task(collect(live, alice, second["sessionId"]))
    from_the_start = asyncio.create_task(collect(live, alice, first["sessionId"]))

    # Joining mid-session: wait until the session has made progress.
    mid: list[dict[str, Any]] = []
    async for event in progress_events(live, alice.token, first["sessionId"]):
        mid.append(event)
        if event["__typename"] == "SessionProgress" and event["completed"] >= 2:
            break
    # ...then reconnecting with the last seq seen, as a dropped client does.
    rest = await collect(live, alice, first["sessionId"], after=mid[-1]["seq"])
    assert_complete_stream(mid + rest)

    whole = await from_the_start
    assert_complete_stream(whole)
    assert mid + rest == whole
    finished = whole[-1]
    assert finished["status"] == "COMPLETED"
    assert finished["session"]["status"] == "COMPLETED"
    progress = [e for e in whole if e["__typename"] == "SessionProgress"]
    assert progress[-1]["completed"] + progress[-1]["failed"] == 16
    assert any(e["__typename"] == "VoteCast" for e in whole)
    assert sum(e["__typename"] == "ExampleScored" for e in whole) == progress[-1]["completed"]

    queued = await before_start
    assert_complete_stream(queued)
    assert queued[0]["__typename"] == "SessionStarted"

    after_finish = await collect(live, alice, first["sessionId"])
    assert after_finish == whole
    tail = await collect(live, alice, first["sessionId"], after=len(whole) - 5)
    assert tail == whole[-5:]
    nothing_left = await collect(live, alice, first["sessionId"], after=len(whole))
    assert nothing_left == []


async def collect_batches(
    server: LiveServer, account: Account, session_id: str, after: int | None = None, **kw: Any
) -> list[dict[str, Any]]:
    return [
        batch async for batch in progress_batches(server, account.token, session_id, after, **kw)
    ]


def events_of(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of `batches`, each batch checked to hold what its seqs say, in order."""
    events: list[dict[str, Any]] = []
    for batch in batches:
        seqs = [event["seq"] for event in batch["events"]]
        assert seqs == list(range(batch["firstSeq"], batch["lastSeq"] + 1)), batch
        events.extend(batch["events"])
    return events


def progressed(batch: dict[str, Any], completed: int) -> bool:
    return any(
        event["__typename"] == "SessionProgress" and event["completed"] >= completed
        for event in batch["events"]
    )


async def test_batches_carry_every_event_exactly_once(
    live: LiveServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    session_id = start(live, alice, numExamples=12, seed=5)["sessionId"]
    from_the_start = asyncio.create_task(collect_batches(live, alice, session_id, max_delay_ms=50))
    # Live, joining mid-session, three events at most a batch, sent as they come...
    mid: list[dict[str, Any]] = []
    async for batch in progress_batches(
        live, alice.token, session_id, max_delay_ms=0, max_events=3
    ):
        mid.append(batch)
        if progressed(batch, 2):
            break
    assert all(len(batch["events"]) <= 3 for batch in mid)
    # ...then reconnecting after the last batch seen, with the defaults.
    rest = await collect_batches(live, alice, session_id, after=mid[-1]["lastSeq"])
    events = events_of(mid + rest)
    assert_complete_stream(events)
    assert events_of(await from_the_start) == events
    assert events[-1]["status"] == "COMPLETED"
    assert events[-1]["session"]["status"] == "COMPLETED"
    # The same events, field for field, as trainingProgress gives them one by one; and over
    # the legacy protocol too.
    assert await collect(live, alice, session_id) == events
    assert events_of(await collect_batches(live, alice, session_id, legacy=True)) == events

    # Replayed from the log: maxEvents to a batch.
    replayed = await collect_batches(live, alice, session_id, max_events=7)
    assert events_of(replayed) == events
    assert [len(batch["events"]) for batch in replayed[:-1]] == [7] * (len(replayed) - 1)
    tail = await collect_batches(live, alice, session_id, after=len(events) - 5)
    assert events_of(tail) == events[-5:]
    assert await collect_batches(live, alice, session_id, after=len(events)) == []


async def test_bad_batch_arguments_are_bad_user_input(
    live: LiveServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    session_id = start(live, alice, numExamples=2, seed=1)["sessionId"]
    for arguments, field in (
        ({"max_delay_ms": -1}, "maxDelayMs"),
        ({"max_delay_ms": 5001}, "maxDelayMs"),
        ({"max_events": 0}, "maxEvents"),
        ({"max_events": 1001}, "maxEvents"),
        ({"after": -1}, "afterSeq"),
    ):
        with pytest.raises(TransportQueryError) as refused:
            await collect_batches(live, alice, session_id, **arguments)
        assert refused.value.errors is not None
        (error,) = refused.value.errors
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["field"] == field
    with pytest.raises(TransportQueryError, match="No training session"):
        await collect_batches(live, bob, session_id)
    # The bounds themselves are fine.
    whole = await collect_batches(live, alice, session_id, max_delay_ms=5000, max_events=1000)
    assert_complete_stream(events_of(whole))
    assert events_of(await collect_batches(live, alice, session_id, max_events=1)) == (
        events_of(whole)
    )


WATCH_BATCHES = Path(__file__).resolve().parents[1] / "support" / "watch_batches.mjs"


async def node_batches(node: str, server: LiveServer, account: Account, *args: object) -> Any:
    """The batches the JavaScript graphql-ws client printed, or its errors."""
    process = await asyncio.create_subprocess_exec(
        node,
        str(WATCH_BATCHES),
        server.ws_url,
        account.token,
        *(str(arg) for arg in args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    printed = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    if process.returncode != 0:
        sys.stderr.write(err.decode())
        return printed[-1]
    return printed


async def test_the_javascript_client_follows_batches(
    live: LiveServer, engine: AsyncEngine, node: str
) -> None:
    alice = await make_account(engine, "alice")
    session_id = start(live, alice, numExamples=4, seed=3)["sessionId"]
    live_batches = await node_batches(node, live, alice, session_id, "", 20, 10)
    events = events_of(live_batches)
    assert_complete_stream(events)
    assert all(len(batch["events"]) <= 10 for batch in live_batches)
    expected = [(e["seq"], e["__typename"]) for e in await collect(live, alice, session_id)]
    assert [(e["seq"], e["__typename"]) for e in events] == expected
    replayed = await node_batches(node, live, alice, session_id, 3, 0, 4)
    assert events_of(replayed) == events[3:]
    # Cut at multiples of maxEvents: the first batch holds what was left of its four.
    assert [batch["lastSeq"] for batch in replayed[:-1]] == [4 * n for n in range(1, len(replayed))]
    refused = await node_batches(node, live, alice, session_id, "", 9999)
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "maxDelayMs"}


async def test_the_legacy_protocol_streams_too(live: LiveServer, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    session = start(live, alice, numExamples=3, seed=1)
    events = await collect(live, alice, session["sessionId"], legacy=True)
    assert_complete_stream(events)
    assert events == await collect(live, alice, session["sessionId"])


async def test_a_bad_token_closes_with_4403(live: LiveServer, engine: AsyncEngine) -> None:
    await make_account(engine, "alice")
    for token in ("chorus_wrong", None):
        async with await open_socket(live.ws_url) as ws:
            payload = {"authorization": f"Bearer {token}"} if token else {}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403


async def test_the_upgrade_header_authenticates_too(live: LiveServer, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    async with await open_socket(
        live.ws_url, headers={"Authorization": f"Bearer {alice.token}"}
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"


async def test_users_are_isolated(live: LiveServer, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    session = start(live, alice, numExamples=2, seed=1)
    from gql.transport.exceptions import TransportQueryError

    with pytest.raises(TransportQueryError, match="No training session"):
        await collect(live, bob, session["sessionId"])
    body = graphql_http(live, CANCEL, {"id": session["sessionId"]}, token=bob.token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    history = graphql_http(live, "{ trainingHistory { totalCount } }", token=bob.token)
    assert history["data"]["trainingHistory"]["totalCount"] == 0
    await collect(live, alice, session["sessionId"])  # alice's own stream works


async def test_cancel_keeps_finished_examples(live: LiveServer, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    session = start(live, alice, numExamples=300, seed=2)
    seen: list[dict[str, Any]] = []
    cancelled: dict[str, Any] | None = None
    async for event in progress_events(live, alice.token, session["sessionId"]):
        seen.append(event)
        progressed = event["__typename"] == "SessionProgress" and event["completed"] >= 3
        if progressed and cancelled is None:
            cancelled = graphql_http(live, CANCEL, {"id": session["sessionId"]}, token=alice.token)
            assert cancelled["data"]["cancelTraining"]["status"] == "CANCELLED", cancelled
    assert_complete_stream(seen)
    assert seen[-1]["status"] == "CANCELLED"
    again = graphql_http(live, CANCEL, {"id": session["sessionId"]}, token=alice.token)
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "already ended" in again["errors"][0]["message"]
    async with session_factory(engine)() as db:
        stored = await db.scalar(
            select(TrainingHistory).where(TrainingHistory.session_id == session["sessionId"])
        )
        assert stored is not None
        kept = await db.scalar(select(func.count()).where(TrainingExample.history_id == stored.id))
    assert 3 <= (kept or 0) < 300
    await assert_record_agrees(engine, stored.id)


async def test_bad_start_input_names_the_field_and_writes_nothing(
    live: LiveServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    for fields, field in (
        ({"numExamples": 0}, "numExamples"),
        ({"numExamples": 1001}, "numExamples"),
        ({"numExamples": 2, "teachers": ["nobody"]}, "teachers"),
        ({"numExamples": 2, "teachers": []}, "teachers"),
        ({"numExamples": 2, "seed": -1}, "seed"),
    ):
        body = graphql_http(live, START, {"input": fields}, token=alice.token)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert body["errors"][0]["extensions"]["field"] == field
    unknown_genre = graphql_http(
        live, START, {"input": {"numExamples": 2, "genres": ["SPACE_OPERA"]}}, token=alice.token
    )
    assert "SPACE_OPERA" in unknown_genre["errors"][0]["message"]
    async with session_factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(TrainingHistory)) == 0


@pytest.mark.parametrize("broadcast_url", ["memory://"], indirect=False)
async def test_a_killed_servers_session_is_taken_over_when_a_server_starts_again(
    engine: AsyncEngine, database_url: str, broadcast_url: str
) -> None:
    alice = await make_account(engine, "alice")
    settings = {"offline_latency_ms": 60, "max_concurrent_examples": 2, "session_lease_s": 1}
    first = LiveServer(database_url, broadcast_url, **settings).start()
    try:
        session = start(first, alice, numExamples=40, seed=9)
        before: list[dict[str, Any]] = []
        async for event in progress_events(first, alice.token, session["sessionId"]):
            before.append(event)
            if event["__typename"] == "SessionProgress" and event["completed"] >= 3:
                break
    finally:
        first.kill()

    with LiveServer(database_url, broadcast_url, **settings) as second:
        # Its lease has run out: the new server's worker goes on with it by itself.
        events = await collect(second, alice, session["sessionId"])
        assert_complete_stream(events)
        assert events[: len(before)] == before
        assert events_of(await collect_batches(second, alice, session["sessionId"])) == events
        resumed = [e for e in events if e["__typename"] == "SessionResumed"]
        assert len(resumed) == 1
        assert events[-1]["status"] == "COMPLETED"
        final = graphql_http(second, SESSION, {"id": session["sessionId"]}, token=alice.token)
        record = final["data"]["trainingSession"]
        assert record["status"] == "COMPLETED"
        assert record["numExamplesSuccessful"] + record["numExamplesFailed"] == 40
        async with session_factory(engine)() as db:
            stored = await db.scalar(
                select(TrainingHistory).where(TrainingHistory.session_id == session["sessionId"])
            )
        assert stored is not None
        assert stored.takeovers == 1
        await assert_record_agrees(engine, stored.id)
        again = graphql_http(second, RESUME, {"id": session["sessionId"]}, token=alice.token)
        assert again["errors"][0]["extensions"]["code"] == "CONFLICT"


@pytest.mark.redis
async def test_two_processes_share_live_events_over_redis(
    engine: AsyncEngine, database_url: str
) -> None:
    require_redis()
    alice = await make_account(engine, "alice")
    settings = {"offline_latency_ms": 40, "max_concurrent_examples": 2}
    with (
        LiveServer(database_url, REDIS_URL, **settings) as one,
        LiveServer(database_url, REDIS_URL, **settings) as two,
    ):
        session = start(one, alice, numExamples=8, seed=4)
        events = await collect(two, alice, session["sessionId"])
        assert_complete_stream(events)
        assert events == await collect(one, alice, session["sessionId"])

        # A session running in one process is cancelled through the other.
        long = start(one, alice, numExamples=300, seed=4)
        async for event in progress_events(two, alice.token, long["sessionId"]):
            if event["__typename"] == "SessionProgress":
                break
        cancelled = graphql_http(two, CANCEL, {"id": long["sessionId"]}, token=alice.token)
        assert cancelled["data"]["cancelTraining"]["status"] == "CANCELLED"


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own, so that it can be killed mid-session."""
    port = free_port()
    try:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        unavailable("redis-server is not installed")
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if redis_reachable(url):
            break
        time.sleep(0.05)
    yield url, process
    process.kill()
    process.wait()


@pytest.mark.redis
async def test_training_goes_on_when_the_broadcast_fails(
    engine: AsyncEngine, database_url: str, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, redis_process = private_redis
    alice = await make_account(engine, "alice")
    with LiveServer(database_url, url, offline_latency_ms=60, max_concurrent_examples=2) as server:
        session = start(server, alice, numExamples=12, seed=8)
        seen: list[dict[str, Any]] = []
        async for event in progress_events(server, alice.token, session["sessionId"]):
            seen.append(event)
            if event["__typename"] == "SessionProgress" and redis_process.poll() is None:
                redis_process.kill()
                redis_process.wait()
        assert_complete_stream(seen)
        assert seen[-1]["status"] == "COMPLETED"
        log = server.log()
    assert "live events now reach subscribers through the event log" in log or (
        "publishing events of session" in log
    )


async def test_server_pings_a_quiet_connection(engine: AsyncEngine, database_url: str) -> None:
    alice = await make_account(engine, "alice")
    with LiveServer(database_url, ws_ping_interval_s=0.3) as server:
        async with await open_socket(server.ws_url, alice.token) as ws:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert message == {"type": "ping"}
            await ws.send(json.dumps({"type": "pong"}))


async def test_subscriptions_per_connection_are_limited(
    engine: AsyncEngine, database_url: str
) -> None:
    alice = await make_account(engine, "alice")
    with LiveServer(database_url, ws_max_subscriptions=2, offline_latency_ms=200) as server:
        session = start(server, alice, numExamples=50, seed=1)
        async with await open_socket(server.ws_url, alice.token) as ws:
            query = "subscription($id: String!) { trainingProgress(sessionId: $id) { seq } }"
            for n in range(3):
                await send_subscribe(ws, str(n), query, id=session["sessionId"])
            refusal = await asyncio.wait_for(first_error(ws), 10)
            assert refusal["id"] == "2"
            assert refusal["payload"][0]["message"] == "Subscription limit reached"
        graphql_http(server, CANCEL, {"id": session["sessionId"]}, token=alice.token)


async def first_error(ws: websockets.ClientConnection) -> dict[str, Any]:
    """The first `error` message, past the events of the subscriptions that were accepted."""
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message["type"] == "error":
            return message

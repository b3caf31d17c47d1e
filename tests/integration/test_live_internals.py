"""Live delivery seen from inside the server: bounded memory for slow subscribers, nothing
left behind by a client that goes away, and the event log's retention."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets import ClientConnection

from models.base import utcnow
from models.engine import session_factory
from models.tables import EventRow, TrainingExample, TrainingHistory
from resolvers import progress
from server.app import create_app
from server.retention import prune_once
from server.settings import Settings
from tests.support import make_account
from tests.support.live import (
    BATCHES,
    InProcessServer,
    graphql_async,
    open_socket,
    send_subscribe,
)
from tests.support.workers import every_session_ended, session_ended

START = "mutation($n: Int!) { startTraining(input: {numExamples: $n, seed: 3}) { sessionId } }"
SUBSCRIBE = "subscription($id: String!) { trainingProgress(sessionId: $id) { __typename seq } }"


async def open_subscription(url: str, token: str, session_id: str) -> ClientConnection:
    # max_queue=1: the client stops reading the socket when one message waits unread, so a
    # test that does not read makes a slow subscriber the server has to cope with. Such a
    # client cannot finish the closing handshake either: it drops the connection after
    # close_timeout, one second here rather than websockets' ten.
    ws = await open_socket(url, token, max_queue=1, close_timeout=1)
    await send_subscribe(ws, "1", SUBSCRIBE, id=session_id)
    return ws


async def read_to_the_end(ws: ClientConnection) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "complete":
            return events
        if message["type"] == "next":
            events.append(message["payload"]["data"]["trainingProgress"])


async def test_a_slow_subscriber_catches_up_from_the_log(
    engine: AsyncEngine, settings: Settings, broadcast_url: str
) -> None:
    alice = await make_account(engine, "alice")
    app = create_app(
        settings.model_copy(
            update={
                "broadcast_url": broadcast_url,
                "subscriber_buffer": 10,
                "offline_latency_ms": 5,
                "max_concurrent_examples": 4,
            }
        )
    )
    async with InProcessServer(app) as server:
        hub = app.state.services.hub
        session = (await graphql_async(server, START, {"n": 60}, token=alice.token))["data"][
            "startTraining"
        ]
        ws = await open_subscription(server.ws_url, alice.token, session["sessionId"])
        # Not reading while the session emits thousands of events: the server's feed for
        # this subscriber must stay bounded and overflow, not grow.
        deepest = 0
        # Sampling the feeds' depth while the session runs.
        samples = 0
        while samples % 20 or not await session_ended(engine, session["sessionId"]):
            for channel in hub._channels.values():
                for feed in channel.feeds:
                    deepest = max(deepest, feed.depth)
            samples += 1
            await asyncio.sleep(0.005)
        events = await read_to_the_end(ws)
        await ws.close()
    assert deepest <= 10
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) > 1000
    assert events[-1]["__typename"] == "SessionFinished"


async def test_idle_subscribers_of_a_session_share_their_look_at_the_log(
    engine: AsyncEngine, settings: Settings, broadcast_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribers that hear nothing for a while make sure from the log that they missed
    nothing; the watchers of one session in one process read it once between them, not once
    each, and still get every event to the end."""
    monkeypatch.setattr(progress, "IDLE_CHECK_S", 0.2)
    alice = await make_account(engine, "alice")
    app = create_app(
        settings.model_copy(update={"broadcast_url": broadcast_url, "offline_latency_ms": 2500})
    )
    log_reads = 0

    def count(_: Any, __: Any, statement: str, *___: Any) -> None:
        nonlocal log_reads
        log_reads += "FROM training_events" in statement

    async with InProcessServer(app) as server:
        session = (await graphql_async(server, START, {"n": 1}, token=alice.token))["data"][
            "startTraining"
        ]
        watchers = [
            await open_subscription(server.ws_url, alice.token, session["sessionId"])
            for _ in range(8)
        ]
        # The session's first events, then the teachers' 2.5 s (at least 1.75 s) of quiet.
        await asyncio.sleep(0.4)
        sqlalchemy_event.listen(
            app.state.services.engine.sync_engine, "before_cursor_execute", count
        )
        await asyncio.sleep(1.0)
        sqlalchemy_event.remove(
            app.state.services.engine.sync_engine, "before_cursor_execute", count
        )
        received = [await read_to_the_end(ws) for ws in watchers]
        for ws in watchers:
            await ws.close()
    # Five idle rounds of 0.2 s: one reading each, where each watcher used to read twice.
    assert 1 <= log_reads <= 8
    for events in received:
        assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
        assert events[-1]["__typename"] == "SessionFinished"


async def test_a_client_that_leaves_mid_stream_leaves_nothing_behind(
    engine: AsyncEngine, settings: Settings, broadcast_url: str
) -> None:
    alice = await make_account(engine, "alice")
    app = create_app(
        settings.model_copy(update={"broadcast_url": broadcast_url, "offline_latency_ms": 50})
    )
    async with InProcessServer(app) as server:
        hub = app.state.services.hub
        baseline = {task.get_name() for task in asyncio.all_tasks()}
        session = (await graphql_async(server, START, {"n": 400}, token=alice.token))["data"][
            "startTraining"
        ]
        ws = await open_subscription(server.ws_url, alice.token, session["sessionId"])
        for _ in range(5):
            await ws.recv()
        assert hub._channels
        await ws.close()
        for _ in range(200):
            if not hub._channels:
                break
            await asyncio.sleep(0.02)
        assert hub._channels == {}
        await graphql_async(
            server,
            "mutation($id: String!) { cancelTraining(sessionId: $id) { status } }",
            {"id": session["sessionId"]},
            token=alice.token,
        )
        await asyncio.sleep(0.2)
        left = {
            task.get_name()
            for task in asyncio.all_tasks()
            if task.get_name() not in baseline and not task.done()
        }
        # Only the connections uvicorn is still closing may remain; no subscription, pump or
        # session task does.
        assert not any("pump" in name or "session" in name for name in left), left
        assert not app.state.services.worker.running


async def test_old_events_are_pruned_and_records_stay(
    engine: AsyncEngine, settings: Settings
) -> None:
    alice = await make_account(engine, "alice")
    app = create_app(settings)
    async with InProcessServer(app) as server:
        old = (await graphql_async(server, START, {"n": 2}, token=alice.token))["data"][
            "startTraining"
        ]
        new = (await graphql_async(server, START, {"n": 2}, token=alice.token))["data"][
            "startTraining"
        ]
        await every_session_ended(engine)
    sessions = session_factory(engine)
    async with sessions() as db:
        await db.execute(
            update(TrainingHistory)
            .where(TrainingHistory.session_id == old["sessionId"])
            .values(completed_at=utcnow() - timedelta(days=31))
        )
        await db.commit()
    removed = await prune_once(sessions, retention_days=30)
    assert removed > 0
    async with sessions() as db:
        by_session = dict(
            (
                await db.execute(
                    select(TrainingHistory.session_id, func.count(EventRow.id))
                    .outerjoin(EventRow, EventRow.history_id == TrainingHistory.id)
                    .group_by(TrainingHistory.session_id)
                )
            ).all()
        )
        examples = await db.scalar(select(func.count()).select_from(TrainingExample))
    assert by_session[old["sessionId"]] == 0
    assert by_session[new["sessionId"]] > 0
    assert examples == 4


async def test_subscribers_catching_up_share_the_reads_of_the_log_and_their_batches(
    engine: AsyncEngine, settings: Settings, broadcast_url: str
) -> None:
    """A crowd joining an ended session late reads each full stretch of its log once between
    them, whatever seq each resumes from, and each still gets every event after its own
    exactly once, in batches cut at multiples of maxEvents."""
    alice = await make_account(engine, "alice")
    app = create_app(settings.model_copy(update={"broadcast_url": broadcast_url}))
    first_stretch_reads = 0
    history_id = -1

    def count(_: Any, __: Any, statement: str, parameters: Any, *___: Any) -> None:
        nonlocal first_stretch_reads
        if "FROM training_events" in statement and "seq >" in statement:
            values = list(parameters.values() if isinstance(parameters, dict) else parameters)
            values.remove(history_id)
            first_stretch_reads += values[0] == 0

    async with InProcessServer(app) as server:
        session_id = (await graphql_async(server, START, {"n": 40}, token=alice.token))["data"][
            "startTraining"
        ]["sessionId"]
        await every_session_ended(engine)
        async with session_factory(engine)() as db:
            history_id = (
                await db.execute(
                    select(TrainingHistory.id).where(TrainingHistory.session_id == session_id)
                )
            ).scalar_one()
        sqlalchemy_event.listen(
            app.state.services.engine.sync_engine, "before_cursor_execute", count
        )

        async def catch_up(after: int) -> list[tuple[int, int]]:
            ws = await open_socket(server.ws_url, alice.token)
            await send_subscribe(ws, "1", BATCHES, id=session_id, after=after, delay=100, max=100)
            batches: list[tuple[int, int]] = []
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if message["type"] == "complete":
                    await ws.close()
                    return batches
                batch = message["payload"]["data"]["trainingProgressBatches"]
                seqs = [event["seq"] for event in batch["events"]]
                assert seqs == list(range(batch["firstSeq"], batch["lastSeq"] + 1))
                batches.append((batch["firstSeq"], batch["lastSeq"]))

        starts = [0, 37, 0, 99, 12, 0, 37, 50, 0, 1]
        received = await asyncio.gather(*(catch_up(after) for after in starts))
        sqlalchemy_event.remove(
            app.state.services.engine.sync_engine, "before_cursor_execute", count
        )
    async with session_factory(engine)() as db:
        logged = await db.scalar(
            select(func.max(EventRow.seq)).where(EventRow.history_id == history_id)
        )
    assert logged is not None
    assert logged > 600
    assert first_stretch_reads == 1
    for after, batches in zip(starts, received, strict=True):
        assert batches[0][0] == after + 1
        assert batches[-1][1] == logged
        # Consecutive, none longer than maxEvents, and cut at its multiples after the first.
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(batches))
        assert all(last - first < 100 for first, last in batches)
        assert all(first % 100 == 1 for first, _ in batches[1:])

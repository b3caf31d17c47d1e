"""Sessions on workers, with real processes: two API processes and two `chorus worker`
processes on MariaDB and Redis, workers killed and stopped mid-session, a database that dies
and comes back, and a crowd of readers beside a session.

Throughout, the lease invariant is watched: every session is QUEUED, RUNNING under a live
lease, or finished.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import create_engine, session_factory
from models.tables import TrainingExample, TrainingHistory
from server import migrate
from tests.e2e.test_live_training import assert_complete_stream
from tests.support import Account, make_account
from tests.support.databases import REDIS_URL, require_redis
from tests.support.live import (
    LiveServer,
    graphql_async,
    open_socket,
    process_family,
    progress_events,
    send_subscribe,
)
from tests.support.workers import (
    LeaseInvariant,
    LiveWorker,
    PrivateMariaDB,
    every_session_ended,
    on_redis,
    owner_pid,
    said,
)
from trainer.worker import HANDED_BACK, TAKEN_OVER

# On the shared MariaDB only: several processes on one database is MariaDB's deployment.
on_mariadb = pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)

START = """mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status } }"""
CANCEL = "mutation($id: String!) { cancelTraining(sessionId: $id) { status } }"
SESSION = """query($id: String!) { trainingSession(sessionId: $id) {
  status error numExamplesSuccessful numExamplesFailed } }"""
# What a driver, SQLAlchemy or a pool says; a client must never read it.
DRIVER_WORDS = (
    "pymysql",
    "aiomysql",
    "sqlalchemy",
    "OperationalError",
    "QueuePool",
    "Can't connect",
    "Lost connection",
    "(2003",
    "(2013",
    "Traceback",
)
LEASE_S = 3
# A session is taken over within a scan and a sweep of its lease running out.
TAKEOVER_S = LEASE_S


@dataclass
class Fleet:
    apis: list[LiveServer]
    workers: list[LiveWorker]

    def worker_with_pid(self, pid: int | None) -> LiveWorker:
        return next(worker for worker in self.workers if worker.pid == pid)


@contextmanager
def fleet(
    database_url: str, *, apis: int = 2, workers: int = 2, **settings: Any
) -> Iterator[Fleet]:
    """API processes and workers sharing a queue of their own on Redis, started together."""
    require_redis()
    shared = on_redis(**settings)
    running = Fleet(
        [LiveServer(database_url, REDIS_URL, **shared) for _ in range(apis)],
        [LiveWorker(database_url, REDIS_URL, **shared) for _ in range(workers)],
    )
    processes: list[LiveServer] = [*running.apis, *running.workers]
    try:
        with ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(lambda process: process.start(), processes))
        yield running
    finally:
        for process in processes:
            process.stop()


async def start(server: LiveServer, account: Account, **fields: Any) -> str:
    body = await graphql_async(server, START, {"input": fields}, token=account.token)
    assert "errors" not in body, body
    session_id: str = body["data"]["startTraining"]["sessionId"]
    return session_id


async def indexes_recorded(engine: AsyncEngine, session_id: str) -> list[int]:
    async with session_factory(engine)() as db:
        return sorted(
            await db.scalars(
                select(TrainingExample.index)
                .join(TrainingHistory, TrainingHistory.id == TrainingExample.history_id)
                .where(TrainingHistory.session_id == session_id)
            )
        )


def progressed(event: dict[str, Any], completed: int) -> bool:
    return bool(event["__typename"] == "SessionProgress" and event["completed"] >= completed)


@on_mariadb
async def test_a_killed_workers_session_is_taken_over(
    engine: AsyncEngine, database_url: str
) -> None:
    alice = await make_account(engine, "alice")
    settings = {"offline_latency_ms": 40, "max_concurrent_examples": 4, "session_lease_s": LEASE_S}
    with fleet(database_url, **settings) as running:
        async with LeaseInvariant(database_url, grace_s=TAKEOVER_S) as invariant:
            session_id = await start(running.apis[0], alice, numExamples=200, seed=11)
            events: list[dict[str, Any]] = []
            killed: LiveWorker | None = None
            # Connected to the other API process throughout.
            async for event in progress_events(running.apis[1], alice.token, session_id):
                events.append(event)
                if killed is None and progressed(event, 40):
                    killed = running.worker_with_pid(await owner_pid(engine, session_id))
                    killed.kill()
        survivor = next(worker for worker in running.workers if worker is not killed)
        survivor_log = survivor.log()

    assert_complete_stream(events)
    assert events[-1]["status"] == "COMPLETED"
    resumed = [event for event in events if event["__typename"] == "SessionResumed"]
    assert len(resumed) == 1
    assert resumed[0]["reason"] == TAKEN_OVER
    assert resumed[0]["takeovers"] == 1
    assert 40 <= resumed[0]["completed"] < 200
    assert await indexes_recorded(engine, session_id) == list(range(200))
    assert "taking it over" in survivor_log
    assert invariant.readings > 10
    assert invariant.violations == []


@on_mariadb
async def test_a_stopped_worker_hands_its_session_back(
    engine: AsyncEngine, database_url: str
) -> None:
    alice = await make_account(engine, "alice")
    settings = {"offline_latency_ms": 40, "max_concurrent_examples": 4, "session_lease_s": LEASE_S}
    with fleet(database_url, **settings) as running:
        async with LeaseInvariant(database_url, grace_s=TAKEOVER_S) as invariant:
            session_id = await start(running.apis[0], alice, numExamples=150, seed=12)
            events: list[dict[str, Any]] = []
            stopped: LiveWorker | None = None
            stopped_at = resumed_after = 0.0
            async for event in progress_events(running.apis[1], alice.token, session_id):
                events.append(event)
                if stopped is None and progressed(event, 30):
                    stopped = running.worker_with_pid(await owner_pid(engine, session_id))
                    stopped.terminate()
                    stopped_at = time.monotonic()
                if event["__typename"] == "SessionResumed":
                    resumed_after = time.monotonic() - stopped_at
        assert stopped is not None
        assert stopped.process is not None
        assert stopped.process.wait(timeout=30) == 0
        stopped_log = stopped.log()

    assert_complete_stream(events)
    assert events[-1]["status"] == "COMPLETED"
    resumed = [event for event in events if event["__typename"] == "SessionResumed"]
    assert [event["reason"] for event in resumed] == [HANDED_BACK]
    assert resumed[0]["takeovers"] == 0
    # The other worker goes on at once: no lease has to run out.
    assert 0 < resumed_after < 2.5, resumed_after
    assert "handed back" in stopped_log
    assert await indexes_recorded(engine, session_id) == list(range(150))
    assert invariant.violations == []


@on_mariadb
async def test_limits_hold_across_workers_and_any_api_process_cancels(
    engine: AsyncEngine, database_url: str
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    settings = {
        "offline_latency_ms": 40,
        "max_concurrent_examples": 2,
        "max_running_sessions_per_user": 2,
        "session_lease_s": LEASE_S,
    }
    with fleet(database_url, **settings) as running:
        async with LeaseInvariant(database_url, grace_s=TAKEOVER_S) as invariant:
            alices = [
                await start(running.apis[number % 2], alice, numExamples=10, seed=number)
                for number in range(5)
            ]
            bobs = await start(running.apis[1], bob, numExamples=10, seed=9)
            await every_session_ended(engine)

            # A session running on a worker, cancelled through the other API process.
            long = await start(running.apis[0], alice, numExamples=300, seed=13)
            async for event in progress_events(running.apis[0], alice.token, long):
                if progressed(event, 3):
                    break
            asked = time.monotonic()
            body = await graphql_async(running.apis[1], CANCEL, {"id": long}, token=alice.token)
            answered_after = time.monotonic() - asked
            stream = [event async for event in progress_events(running.apis[1], alice.token, long)]

    statuses = {}
    async with session_factory(engine)() as db:
        for session_id in [*alices, bobs]:
            stored = await db.scalar(
                select(TrainingHistory).where(TrainingHistory.session_id == session_id)
            )
            assert stored is not None
            statuses[session_id] = stored.status.name
    assert set(statuses.values()) == {"COMPLETED"}
    # Never more than two of alice's at once, over eight slots; started in the order asked.
    assert invariant.running_at_once[alice.id] == 2
    started = [invariant.first_running[session_id] for session_id in alices]
    assert started == sorted(started)
    assert invariant.violations == []

    assert body["data"]["cancelTraining"]["status"] == "CANCELLED", body
    assert answered_after < 2.0, answered_after
    assert_complete_stream(stream)
    assert stream[-1]["status"] == "CANCELLED"


async def _watch_through_outages(
    server: LiveServer, account: Account, session_id: str, errors: list[str]
) -> AsyncIterator[dict[str, Any]]:
    """A client that subscribes again after the last seq it saw when its stream fails."""
    last: int | None = None
    while True:
        try:
            async for event in progress_events(server, account.token, session_id, last):
                last = event["seq"]
                yield event
            return
        except (TransportQueryError, OSError, Exception) as error:
            errors.append(str(error))
            await asyncio.sleep(1)


@pytest.mark.parametrize(
    ("lease_s", "taken_over"),
    [(15, True), (40, False)],
    ids=["default-lease-runs-out", "lease-outlasts-it"],
)
async def test_a_database_outage_is_waited_out(
    tmp_path: Path, lease_s: int, taken_over: bool
) -> None:
    """The database is killed 3 s into the session and started again 12 s later. With the
    default lease of 15 s the worker's lease runs out meanwhile: it stops, and the session is
    taken over once the database is back. With a longer lease the worker waits it out."""
    require_redis()
    database = PrivateMariaDB(tmp_path)
    database.start()
    try:
        database.create_database()
        engine = create_engine(database.url)
        await migrate.upgrade(engine)
        alice = await make_account(engine, "alice")
        settings = {
            # 25 rounds of a write and a vote: 10 s (7 s at the least, with the latency's
            # jitter), so that the outage comes mid-session. At 100 ms the session could end
            # (3.5 s at the least) about when the kill came, and once the worker had nothing
            # left to write it had nothing to retry: its log said no "retrying", once in CI.
            "offline_latency_ms": 200,
            "max_concurrent_examples": 4,
            "session_lease_s": lease_s,
        }
        with fleet(database.url, apis=1, workers=1, **settings) as running:
            api = running.apis[0]
            async with LeaseInvariant(database.url, grace_s=5) as invariant:
                session_id = await start(api, alice, numExamples=100, seed=14)
                started = time.monotonic()
                errors: list[str] = []
                events: list[dict[str, Any]] = []
                restarted = False
                async for event in _watch_through_outages(api, alice, session_id, errors):
                    events.append(event)
                    if not restarted and time.monotonic() - started >= 3:
                        database.kill()
                        await asyncio.sleep(12)
                        database.start()
                        restarted = True
            final = await graphql_async(api, SESSION, {"id": session_id}, token=alice.token)
            worker_log = running.workers[0].log()
        recorded = await indexes_recorded(engine, session_id)
        await engine.dispose()
    finally:
        database.kill()

    assert restarted
    assert_complete_stream(events)
    assert events[-1]["status"] == "COMPLETED"
    assert recorded == list(range(100))
    session = final["data"]["trainingSession"]
    assert (session["status"], session["error"]) == ("COMPLETED", None)
    seen = json.dumps(events) + json.dumps(final)
    assert not [word for word in DRIVER_WORDS if word in seen]
    assert "retrying" in worker_log
    resumed = [event["reason"] for event in events if event["__typename"] == "SessionResumed"]
    assert resumed == ([TAKEN_OVER] if taken_over else [])
    assert invariant.violations == []
    # While its database is down the API tells a subscriber so in words of its own.
    leaked = [error for error in errors if any(word in error for word in DRIVER_WORDS)]
    assert leaked == [], leaked[:1]


SUBSCRIBE = "subscription($id: String!) { trainingProgress(sessionId: $id) { __typename seq } }"
READ = """{ trainingHistory(first: 20) { totalCount edges { node { sessionId status } } }
  trainingStats { totalSessions averageQuality } }"""


async def _subscriber(url: str, token: str, session_id: str) -> tuple[list[int], list[Any]]:
    """Seqs received and error messages, to the end of the stream."""
    seqs: list[int] = []
    problems: list[Any] = []
    # No keepalive pings of its own: a subscriber that has not yet read its queue stops
    # reading the socket, its pong waiting behind the events, and would hang up on a server
    # that answered. Browsers and graphql-ws clients send none either.
    async with await open_socket(url, token, max_queue=64, ping_interval=None) as ws:
        await send_subscribe(ws, "1", SUBSCRIBE, id=session_id)
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if message["type"] == "next":
                payload = message["payload"]
                if "errors" in payload:
                    problems.append(payload["errors"])
                else:
                    seqs.append(payload["data"]["trainingProgress"]["seq"])
            elif message["type"] == "error":
                problems.append(message["payload"])
                return seqs, problems
            elif message["type"] == "complete":
                return seqs, problems


async def test_readers_do_not_disturb_training(engine: AsyncEngine, database_url: str) -> None:
    """A 120-example session with 200 subscribers and 200 history and statistics queries at
    once, on the default settings: the session runs on the embedded worker's own pool."""
    alice = await make_account(engine, "alice")
    with LiveServer(database_url, offline_latency_ms=300) as server:
        async with LeaseInvariant(database_url, grace_s=15) as invariant:
            session_id = await start(server, alice, numExamples=120, seed=15)
            subscribers = [
                asyncio.create_task(_subscriber(server.ws_url, alice.token, session_id))
                for _ in range(200)
            ]
            async for event in progress_events(server, alice.token, session_id):
                if progressed(event, 5):
                    break
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:

                async def read() -> httpx.Response:
                    return await http.post(
                        f"{server.url}/graphql", json={"query": READ}, headers=alice.headers
                    )

                answers = await asyncio.gather(*(read() for _ in range(200)))
            streams = await asyncio.gather(*subscribers)
        final = await graphql_async(server, SESSION, {"id": session_id}, token=alice.token)

    # The session is the worker's: readers cannot take its connections.
    assert final["data"]["trainingSession"]["status"] == "COMPLETED"
    assert await indexes_recorded(engine, session_id) == list(range(120))
    assert invariant.violations == []
    for seqs, _ in streams:
        assert seqs == list(range(1, len(seqs) + 1))
    failed = [a.text for a in answers if a.status_code != 200 or "errors" in a.json()]
    failed += [json.dumps(problems) for _, problems in streams if problems]
    assert failed == [], failed[:3]


@on_mariadb
async def test_serve_runs_several_api_processes(engine: AsyncEngine, database_url: str) -> None:
    require_redis()
    alice = await make_account(engine, "alice")
    # Both read the same settings; only the API processes lower their priority.
    settings = on_redis(api_nice=5)
    server = LiveServer(database_url, REDIS_URL, **settings)
    server.arguments = ["--workers", "2"]
    started_at = os.getpriority(os.PRIO_PROCESS, 0)
    with server, LiveWorker(database_url, REDIS_URL, **settings) as worker:
        # Ready as soon as one answers; each says so in the log.
        assert said(server, "Chorus ready", times=2)
        assert server.log().count(f"at CPU priority nice {min(started_at + 5, 19)}") == 2
        api_processes = process_family(server.pid)
        assert len(api_processes) >= 3  # uvicorn's manager and its two processes
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in api_processes} == {
            min(started_at + 5, 19)
        }
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == started_at
        session_id = await start(server, alice, numExamples=3, seed=1)
        events = [event async for event in progress_events(server, alice.token, session_id)]
    assert_complete_stream(events)
    assert events[-1]["status"] == "COMPLETED"


def test_a_worker_needs_the_queue_on_redis(tmp_path: Path) -> None:
    stopped = subprocess.run(
        [sys.executable, "-m", "server.cli", "worker"],
        env={**os.environ, "CHORUS_QUEUE_URL": "memory://"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stopped.returncode == 1
    assert "CHORUS_QUEUE_URL=redis://" in stopped.stderr

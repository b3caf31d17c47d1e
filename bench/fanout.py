"""Fan-out: a thousand websocket subscribers on one live session of offline teachers whose
latency and concurrency make it emit about 200 events a second; then the same across two
server processes sharing the Redis broadcast, the session on one of them.

So that every subscriber is there from the session's first event, the watched session is
queued behind another session of the same user (one running session per user), which is
cancelled once every subscription is in. That first session, running unwatched meanwhile,
also shows the rate these settings emit at when nobody watches. Rates come from the event
log's `at` stamps.
"""

from __future__ import annotations

import asyncio
import json
from array import array
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bench import subscribers
from bench.databases import fresh_mariadb, migrated
from bench.procs import WORK, cpu_seconds, memory_mb, python_child, settle
from bench.profile import sampled
from bench.report import Bar, Section, percentile
from models.engine import create_engine
from models.tables import EventRow, TrainingHistory
from tests.support import Account, make_account
from tests.support.databases import REDIS_URL
from tests.support.live import LiveServer, graphql_async

START = """mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status } }"""
CANCEL = "mutation($id: String!) { cancelTraining(sessionId: $id) { status } }"
CLIENT_PROCESSES = 2


@dataclass(frozen=True)
class Sizes:
    subscribers: int
    examples: int
    latency_ms: int
    concurrency: int
    unwatched_s: float
    drain_s: float


FULL = Sizes(
    subscribers=1000, examples=12, latency_ms=400, concurrency=6, unwatched_s=3, drain_s=300
)
SMOKE = Sizes(subscribers=20, examples=3, latency_ms=100, concurrency=2, unwatched_s=1, drain_s=30)


@dataclass(frozen=True)
class Outcome:
    subscribers: int
    events: int
    unwatched_rate: float
    watched_rate: float
    received: int
    lost: int
    ended_early: dict[str, int]
    undelivered: int
    error: str
    latencies: list[float]
    deliveries_per_s: float
    rss_per_subscriber_kib: float
    cpu_us_per_delivery: float


async def _start(server: LiveServer, account: Account, examples: int) -> str:
    body = await graphql_async(
        server, START, {"input": {"numExamples": examples, "seed": 7}}, token=account.token
    )
    assert "errors" not in body, body
    session_id: str = body["data"]["startTraining"]["sessionId"]
    return session_id


async def _logged(url: str, session_id: str) -> tuple[int, float]:
    """How many events the session's log holds, and the rate they were emitted at."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            count, first, last = (
                await connection.execute(
                    select(func.count(), func.min(EventRow.at), func.max(EventRow.at))
                    .join(TrainingHistory, TrainingHistory.id == EventRow.history_id)
                    .where(TrainingHistory.session_id == session_id)
                )
            ).one()
    finally:
        await engine.dispose()
    span = (last - first).total_seconds() if count > 1 else 0.0
    return int(count), (count - 1) / span if span else 0.0


async def watch(
    sizes: Sizes, url: str, servers: list[LiveServer], account: Account, *, profile: bool
) -> Outcome:
    """Subscribers split evenly over `servers`; the sessions run on the first."""
    home = servers[0]
    pids = [server.process.pid for server in servers if server.process is not None]
    blocker = await _start(home, account, 1000)
    watched = await _start(home, account, sizes.examples)
    cpu_unwatched = cpu_seconds(pids[0])
    await asyncio.sleep(sizes.unwatched_s)
    unwatched_cores = (cpu_seconds(pids[0]) - cpu_unwatched) / sizes.unwatched_s
    _, unwatched_rate = await _logged(url, blocker)
    rss_before = sum(memory_mb(pid)[0] for pid in pids)
    deadline = 120 + sizes.drain_s
    clients = []
    name = f"fanout-{len(servers)}"
    with ExitStack() as stack:
        for index in range(CLIENT_PROCESSES):
            server = servers[index % len(servers)]
            count = sizes.subscribers // CLIENT_PROCESSES + (index == 0) * (
                sizes.subscribers % CLIENT_PROCESSES
            )
            output = WORK / f"{name}-{index}.latencies"
            args = [server.ws_url, account.token, watched, str(count), str(deadline), str(output)]
            process, _ = stack.enter_context(
                python_child(subscribers.__name__, args, timeout_s=120)
            )
            clients.append((process, output))
        # Every subscription is in once the servers are back to the unwatched session's work.
        for pid in pids:
            busy = unwatched_cores + 0.05 if pid == pids[0] else 0.03
            await asyncio.to_thread(settle, pid, quiet_s=0.5, busy_below=busy)
        rss_subscribed = sum(memory_mb(pid)[0] for pid in pids)
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        with sampled(pids[0], name, enabled=profile):
            await graphql_async(home, CANCEL, {"id": blocker}, token=account.token)
            summaries: list[dict[str, Any]] = []
            for process, _ in clients:
                out, _ = await asyncio.to_thread(process.communicate, timeout=deadline + 30)
                summaries.append(json.loads(out.strip().splitlines()[-1]))
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    latencies: list[float] = []
    for _, output in clients:
        values = array("d")
        values.frombytes(output.read_bytes())
        latencies.extend(values)
    events, watched_rate = await _logged(url, watched)
    received = sum(s["received"] for s in summaries)
    delivering = max(s["last_received"] for s in summaries) - min(
        s["first_received"] for s in summaries if s["first_received"]
    )
    ended_early: dict[str, int] = {}
    for summary in summaries:
        for how, count in summary["ended"].items():
            if how not in ("finished", "open"):
                ended_early[how] = ended_early.get(how, 0) + count
    # A stream that ended before its SessionFinished never gets the rest: lost, as gaps are.
    missed = sum(events - seq for s in summaries for seq in s["last_seqs_ended_early"])
    return Outcome(
        subscribers=sizes.subscribers,
        events=events,
        unwatched_rate=unwatched_rate,
        watched_rate=watched_rate,
        received=received,
        lost=sum(s["gaps"] + s["duplicates"] for s in summaries) + missed,
        ended_early=ended_early,
        undelivered=sum(events - seq for s in summaries for seq in s["last_seqs_open"]),
        error=next((s["error"] for s in summaries if s["error"]), ""),
        latencies=latencies,
        deliveries_per_s=received / delivering if delivering > 0 else 0.0,
        rss_per_subscriber_kib=(rss_subscribed - rss_before) * 1024 / sizes.subscribers,
        cpu_us_per_delivery=cpu * 1e6 / max(received, 1),
    )


async def measure(sizes: Sizes, broadcast: str, processes: int, *, profile: bool) -> Outcome:
    url = await migrated(fresh_mariadb("chorus_bench_fanout"))
    engine = create_engine(url)
    try:
        account = await make_account(engine, "bench")
    finally:
        await engine.dispose()
    settings = {
        "offline_latency_ms": sizes.latency_ms,
        "max_concurrent_examples": sizes.concurrency,
        "max_running_sessions_per_user": 1,
        "log_level": "WARNING",
    }
    with ExitStack() as stack:
        servers = [
            stack.enter_context(LiveServer(url, broadcast, **settings)) for _ in range(processes)
        ]
        return await watch(sizes, url, servers, account, profile=profile)


async def run(smoke: bool, *, profile: bool = False) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("fanout", "3. Fan-out to websocket subscribers (MariaDB)")
    for label, broadcast, processes in (
        ("1 process", "memory://", 1),
        ("2 processes, Redis", REDIS_URL, 2),
    ):
        outcome = await measure(sizes, broadcast, processes, profile=profile)
        _add_figures(section, label, outcome)
        if outcome.ended_early:
            section.notes.append(
                f"{label}: subscriptions that ended before their SessionFinished: "
                + ", ".join(f"{count} {how}" for how, count in outcome.ended_early.items())
                + f"; the first said: `{outcome.error}`"
            )
    section.notes.append(
        f"{sizes.subscribers} subscribers: graphql-transport-ws connections from "
        f"{CLIENT_PROCESSES} client processes (asyncio, `websockets`), each subscribed to "
        "`trainingProgress { __typename seq at }` of one session of "
        f"{sizes.examples} examples, seven offline teachers at {sizes.latency_ms} ms (+-30%), "
        f"{sizes.concurrency} in flight, JURY. With two processes the session runs on the "
        "first and the subscribers are split evenly over both. The unwatched rate is that of "
        "an identical session running with no subscriber; the watched rate is the watched "
        "session's own, both from the `at` stamps in the event log. Delivery latency is the "
        "receipt time less the event's `at` (stamped when the trainer emits it, before the "
        "event-log write and the publish), on one clock. Lost counts gaps and duplicates in "
        "each subscriber's seq, and the events a subscription never got because its stream "
        "ended (an error, a close) before its SessionFinished; undelivered, those still due "
        f"to a subscription open {sizes.drain_s:g} s on. RSS per subscriber is the servers' "
        "resident set with every subscription open and idle, less before, over the "
        "subscribers. Deliveries/s is the events all subscribers received over the time from "
        "the first receipt to the last; CPU per delivery, the servers' CPU time over that "
        "run over the events delivered."
    )
    return section


def _add_figures(section: Section, label: str, outcome: Outcome) -> None:
    section.add(f"{label}: events/s emitted, unwatched", outcome.unwatched_rate, "/s")
    section.add(f"{label}: events/s emitted, watched", outcome.watched_rate, "/s")
    section.add(f"{label}: delivery p50", percentile(outcome.latencies, 0.5) * 1000, "ms")
    section.add(f"{label}: delivery p99", percentile(outcome.latencies, 0.99) * 1000, "ms")
    section.add(f"{label}: events lost", outcome.lost, "", Bar(0))
    section.add(f"{label}: subscriptions ended early", sum(outcome.ended_early.values()))
    section.add(f"{label}: events undelivered at the deadline", outcome.undelivered)
    section.add(f"{label}: deliveries/s, all subscribers", outcome.deliveries_per_s, "/s")
    section.add(f"{label}: server CPU per delivery", outcome.cpu_us_per_delivery, "us")
    section.add(f"{label}: server RSS per subscriber", outcome.rss_per_subscriber_kib, "KiB")

"""Fan-out: websocket subscribers on the API processes, the session they watch on a `chorus
worker`, its live events carried to them by the Redis broadcast, as at scale.

- `fanout`: a thousand subscribers to `trainingProgress` (one event a message) on a session of
  offline teachers set to emit about 200 events a second, with one API process and with two.
  Beside them, in the same run, the `websockets` library broadcasting frames of the same size
  to as many connections from one process (`bench/raw_frames.py`): what a delivery costs at
  the socket, with nothing above it.
- `batches`: a thousand subscribers to `trainingProgressBatches(maxDelayMs: 100)` on a session
  at full pace (50 examples in flight), well over a thousand events a second.

The session's pace watched is set against its pace unwatched, side by side: identical
sessions run with no subscriber on the same processes just before and just after it. Pace is
events per second, from the `at` stamps of the event log. So that every subscriber is there
from the watched session's first event, the watched session is started while no worker runs,
and waits QUEUED until every subscription is in; then a worker is started, and takes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import time
from array import array
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from bench import raw_frames, subscribers
from bench.databases import scratch_database
from bench.fleet import Fleet, on_workers
from bench.procs import WORK, cpu_seconds, machine_cpu, memory_mb, python_child, settle
from bench.profile import sampled
from bench.report import Bar, Section, percentile
from models.engine import create_engine
from models.tables import EventRow, TrainingHistory
from tests.support import Account, make_account
from tests.support.live import LiveServer, free_port, graphql_async

START = """mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status } }"""
CLIENT_PROCESSES = 2
PER_EVENT = "trainingProgress"
BATCHES = "trainingProgressBatches"


@dataclass(frozen=True)
class Sizes:
    subscribers: int
    examples: int
    latency_ms: int
    concurrency: int
    drain_s: float
    # API processes, and how far they lower their CPU priority (CHORUS_API_NICE).
    fleets: tuple[tuple[int, int], ...]


# What the README suggests for API processes that share a host with workers.
YIELDING_NICE = 5
PER_EVENT_FULL = Sizes(
    subscribers=1000,
    examples=36,
    latency_ms=400,
    concurrency=6,
    drain_s=300,
    fleets=((1, 0), (2, 0), (2, YIELDING_NICE)),
)
PER_EVENT_SMOKE = dataclasses.replace(
    PER_EVENT_FULL, subscribers=20, examples=3, latency_ms=100, concurrency=2, drain_s=30
)
BATCHES_FULL = Sizes(
    subscribers=1000,
    examples=1000,
    # Short enough that the worker's CPU, not the teachers, sets the pace.
    latency_ms=100,
    concurrency=50,
    drain_s=300,
    fleets=((1, 0),),
)
BATCHES_SMOKE = Sizes(
    subscribers=20, examples=10, latency_ms=50, concurrency=5, drain_s=30, fleets=((1, 0),)
)


def fleet_label(processes: int, nice: int) -> str:
    label = f"{processes} API process{'es' if processes > 1 else ''}"
    return f"{label} at nice {nice}" if nice else label


async def start_session(server: LiveServer, account: Account, examples: int) -> str:
    body = await graphql_async(
        server, START, {"input": {"numExamples": examples, "seed": 7}}, token=account.token
    )
    if "errors" in body:
        raise RuntimeError(f"startTraining failed: {body}")
    session_id: str = body["data"]["startTraining"]["sessionId"]
    return session_id


async def ended(url: str, session_id: str, within_s: float) -> str:
    """The session's final status, read from the database once it has one."""
    engine = create_engine(url)
    deadline = time.monotonic() + within_s
    try:
        while True:
            async with engine.connect() as connection:
                status = await connection.scalar(
                    select(TrainingHistory.status).where(TrainingHistory.session_id == session_id)
                )
            if status is not None and status.is_final:
                return str(status.name)
            if time.monotonic() > deadline:
                raise RuntimeError(f"session {session_id} did not end within {within_s:g} s")
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def logged(url: str, session_id: str) -> tuple[int, float]:
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


async def paced_alone(server: LiveServer, url: str, account: Account, examples: int) -> float:
    """The events per second of a session of `examples` that nobody watches."""
    session_id = await start_session(server, account, examples)
    status = await ended(url, session_id, within_s=600)
    if status != "COMPLETED":
        raise RuntimeError(f"the unwatched session ended {status}")
    return (await logged(url, session_id))[1]


@dataclass
class Received:
    """What every client process saw, put together."""

    summaries: list[dict[str, Any]]
    latencies: list[float]

    def total(self, key: str) -> int:
        return sum(int(summary[key]) for summary in self.summaries)

    @property
    def first_event_waits(self) -> list[float]:
        return [wait for summary in self.summaries for wait in summary["first_event_waits"]]

    @property
    def span_s(self) -> float:
        """From the first receipt to the last, over all clients."""
        firsts = [s["first_received"] for s in self.summaries if s["first_received"]]
        return max(s["last_received"] for s in self.summaries) - min(firsts) if firsts else 0.0

    @property
    def ended_early(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for summary in self.summaries:
            for how, count in summary["ended"].items():
                if how not in ("finished", "open"):
                    counts[how] = counts.get(how, 0) + count
        return counts

    @property
    def error(self) -> str:
        return next((s["error"] for s in self.summaries if s["error"]), "")

    def lost(self, events: int) -> int:
        """Gaps and duplicates, and the events a subscription never got because its stream
        ended (an error, a close) before its SessionFinished."""
        missed = sum(
            events - int(seq) for s in self.summaries for seq in s["last_seqs_ended_early"]
        )
        return self.total("gaps") + self.total("duplicates") + missed

    def undelivered(self, events: int) -> int:
        return sum(events - seq for s in self.summaries for seq in s["last_seqs_open"])


@contextmanager
def clients(
    ws_urls: list[str], token: str, session_id: str, count: int, deadline_s: float, operation: str
) -> Iterator[list[tuple[Any, Any]]]:
    """`bench.subscribers` processes, `count` subscriptions split over them and over
    `ws_urls`, each ready (every subscription sent) when the block starts."""
    with ExitStack() as stack:
        started = []
        for index in range(CLIENT_PROCESSES):
            share = count // CLIENT_PROCESSES + (index == 0) * (count % CLIENT_PROCESSES)
            output = WORK / f"{operation}-{index}.latencies"
            args = [
                ws_urls[index % len(ws_urls)],
                token,
                session_id,
                str(share),
                str(deadline_s),
                str(output),
                operation,
            ]
            process, _ = stack.enter_context(
                python_child(subscribers.__name__, args, timeout_s=120)
            )
            started.append((process, output))
        yield started


async def collected(started: list[tuple[Any, Any]], deadline_s: float) -> Received:
    summaries: list[dict[str, Any]] = []
    for process, _ in started:
        out, _ = await asyncio.to_thread(process.communicate, timeout=deadline_s + 30)
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    latencies: list[float] = []
    for _, output in started:
        values = array("d")
        values.frombytes(output.read_bytes())
        latencies.extend(values)
    return Received(summaries, latencies)


@dataclass
class Outcome:
    events: int
    unwatched_rates: list[float]
    watched_rate: float
    received: Received
    api_cpu_s: float
    rss_per_subscriber_kib: float
    # The shares of the machine's CPU time its host took while the sessions ran.
    stolen_unwatched: float
    stolen_watched: float
    notes: list[str] = field(default_factory=list)

    @property
    def unwatched_rate(self) -> float:
        return statistics.mean(self.unwatched_rates)

    @property
    def pace(self) -> float:
        return self.watched_rate / self.unwatched_rate if self.unwatched_rate else 0.0

    @property
    def cpu_us_per_delivery(self) -> float:
        return self.api_cpu_s * 1e6 / max(self.received.total("received"), 1)

    @property
    def cpu_us_per_message(self) -> float:
        return self.api_cpu_s * 1e6 / max(self.received.total("messages"), 1)

    @property
    def mean_message_bytes(self) -> int:
        return round(self.received.total("message_bytes") / max(self.received.total("messages"), 1))


@dataclass(frozen=True)
class RawOutcome:
    received: Received
    cpu_s: float

    @property
    def cpu_us_per_frame(self) -> float:
        return self.cpu_s * 1e6 / max(self.received.total("received"), 1)


async def watched(
    sizes: Sizes, fleet: Fleet, account: Account, operation: str, *, profile: bool
) -> Outcome:
    """An unwatched session, the watched one, and another unwatched one, on `fleet`."""
    home = fleet.apis[0]
    machine_before = machine_cpu()
    before = await paced_alone(home, fleet.url, account, sizes.examples)
    unwatched_machine = machine_cpu().since(machine_before)
    fleet.stop_workers()
    session_id = await start_session(home, account, sizes.examples)
    pids = fleet.api_pids
    rss_before = sum(memory_mb(api)[0] for api in pids)
    deadline = 120 + sizes.drain_s
    ws_urls = [api.ws_url for api in fleet.apis]
    count = sizes.subscribers
    with clients(ws_urls, account.token, session_id, count, deadline, operation) as started:
        # Every subscription is in once the API processes are idle again.
        for api in pids:
            await asyncio.to_thread(settle, api, quiet_s=0.5, busy_below=0.05)
        rss_subscribed = sum(memory_mb(api)[0] for api in pids)
        # The session starts as soon as the worker is ready.
        await asyncio.to_thread(fleet.start_worker)
        cpu_before = sum(cpu_seconds(api) for api in pids)
        machine_before = machine_cpu()
        with sampled(pids[0], f"{operation}-{len(pids)}", enabled=profile):
            received = await collected(started, deadline)
        watched_machine = machine_cpu().since(machine_before)
        cpu = sum(cpu_seconds(api) for api in pids) - cpu_before
    status = await ended(fleet.url, session_id, within_s=60)
    events, rate = await logged(fleet.url, session_id)
    machine_before = machine_cpu()
    after = await paced_alone(home, fleet.url, account, sizes.examples)
    unwatched_machine += machine_cpu().since(machine_before)
    outcome = Outcome(
        events=events,
        unwatched_rates=[before, after],
        watched_rate=rate,
        received=received,
        api_cpu_s=cpu,
        rss_per_subscriber_kib=(rss_subscribed - rss_before) * 1024 / sizes.subscribers,
        stolen_unwatched=unwatched_machine.stolen_share,
        stolen_watched=watched_machine.stolen_share,
    )
    if status != "COMPLETED":
        outcome.notes.append(f"the watched session ended {status}")
    if received.ended_early:
        outcome.notes.append(
            "subscriptions that ended before their SessionFinished: "
            + ", ".join(f"{count} {how}" for how, count in received.ended_early.items())
            + f"; the first said: `{received.error}`"
        )
    return outcome


async def raw_broadcast(sizes: Sizes, events: int, rate: float, frame_bytes: int) -> RawOutcome:
    """The same number of frames of the same size at the same rate to as many connections,
    broadcast by the `websockets` library from a process doing nothing else."""
    port = free_port()
    args = [str(port), str(sizes.subscribers), str(events), f"{rate:.3f}", str(frame_bytes)]
    deadline = 120 + sizes.drain_s
    with python_child(raw_frames.__name__, args) as (server, _):
        url = f"ws://127.0.0.1:{port}/"
        with clients([url], "raw", "raw", sizes.subscribers, deadline, PER_EVENT) as started:
            cpu_before = await asyncio.to_thread(settle, server.pid, quiet_s=0.5, busy_below=0.05)
            server.send_signal(raw_frames.GO)
            received = await collected(started, deadline)
            cpu = cpu_seconds(server.pid) - cpu_before
    return RawOutcome(received, cpu)


async def measure(
    sizes: Sizes, api_processes: int, operation: str, *, profile: bool, api_nice: int = 0
) -> Outcome:
    settings: dict[str, Any] = {
        "api_nice": api_nice,
        "offline_latency_ms": sizes.latency_ms,
        "max_concurrent_examples": sizes.concurrency,
        "max_running_sessions_per_user": 1,
    }
    async with scratch_database("mariadb", "chorus_bench_fanout") as url:
        engine = create_engine(url)
        try:
            account = await make_account(engine, "bench")
        finally:
            await engine.dispose()
        with on_workers(url, api_processes=api_processes, **settings) as fleet:
            return await watched(sizes, fleet, account, operation, profile=profile)


async def run(smoke: bool, *, profile: bool = False) -> Section:
    sizes = PER_EVENT_SMOKE if smoke else PER_EVENT_FULL
    section = Section(
        "fanout", "3. Fan-out, one event a message: subscribers on the API, the session on a worker"
    )
    outcomes = {}
    for processes, nice in sizes.fleets:
        label = fleet_label(processes, nice)
        outcomes[label] = await measure(sizes, processes, PER_EVENT, profile=profile, api_nice=nice)
    # The floor, in the same run, for the first configuration's frames.
    first = next(iter(outcomes.values()))
    raw = await raw_broadcast(sizes, first.events, first.unwatched_rate, first.mean_message_bytes)
    for label, outcome in outcomes.items():
        _per_event_figures(section, label, outcome, raw)
        section.notes += [f"{label}: {note}." for note in outcome.notes]
    section.add("raw websockets broadcast, 1 process: CPU per frame", raw.cpu_us_per_frame, "us")
    section.add(
        "raw websockets broadcast: delivery p99",
        percentile(raw.received.latencies, 0.99) * 1000,
        "ms",
    )
    section.add("raw websockets broadcast: frames lost", raw.received.lost(first.events))
    section.add("frame size (Chorus's mean, and the raw frames')", first.mean_message_bytes, "B")
    section.notes.append(
        f"{sizes.subscribers} subscribers: graphql-transport-ws connections from "
        f"{CLIENT_PROCESSES} client processes (asyncio, `websockets`; " + CLIENT_METHOD + "), "
        "each subscribed to "
        "`trainingProgress { __typename seq at }` of one session of "
        f"{sizes.examples} examples, seven offline teachers at {sizes.latency_ms} ms (+-30%), "
        f"{sizes.concurrency} in flight, JURY, on MariaDB. The session runs on a `chorus "
        "worker`; its events reach the API processes over the Redis broadcast; with two API "
        "processes the subscribers are split evenly over both. " + PACE_METHOD + " Delivery "
        "latency is the receipt time less the event's `at` (stamped when the trainer emits it, "
        "before the event-log write and the publish), on one clock. Lost counts gaps and "
        "duplicates in each subscriber's seq, and the events a subscription never got because "
        "its stream ended (an error, a close) before its SessionFinished; undelivered, those "
        f"still due to a subscription open {sizes.drain_s:g} s on. RSS per subscriber is the "
        "API processes' resident set with every subscription open and idle, less before, over "
        "the subscribers. Deliveries/s is the events all subscribers received over the time "
        "from the first receipt to the last; server CPU per delivery, the API processes' CPU "
        "time (from /proc, so not the worker's nor the clients') from the moment the worker, "
        "started once every subscription was in, is ready to the last receipt, over the events "
        "delivered. The raw frame "
        "cost is the same thing for `bench/raw_frames.py`: one uvloop process whose only work "
        "is `websockets.broadcast` of as many frames, of the mean size Chorus's messages had, "
        "at the unwatched session's rate, to as many connections from the same client "
        "processes; the ratio is Chorus's CPU per delivery over it."
    )
    if any(nice for _, nice in sizes.fleets):
        section.notes.append(
            f"At nice {YIELDING_NICE}: the same, with every process sharing the setting "
            f"CHORUS_API_NICE={YIELDING_NICE}, which only `chorus serve` acts on: the API "
            "processes run below the normal CPU priority, and the worker, MariaDB, Redis and "
            "the client processes at it, as the README suggests for a host where API "
            "processes and workers share the cores."
        )
    return section


CLIENT_METHOD = (
    "a client process reads each distinct message once for all its subscriptions, which are "
    "sent the same bytes, and works out the latencies once the run is over, so that the "
    "clients leave the machine's cores to the session and the API"
)
PACE_METHOD = (
    "Pace watched / unwatched is the watched session's events per second over the mean of "
    "two identical sessions run with no subscriber on the same processes, one just before "
    "and one just after it; each rate is from the `at` stamps of the session's event log. "
    "The watched session is started while no worker runs, so it waits QUEUED until every "
    "subscription is in; then a worker is started and takes it. Stolen CPU is the share of "
    "all cores' time, over the unwatched sessions and over the watched one's delivery, in "
    "which this virtual machine's host ran something else on a core it had work for "
    "(/proc/stat's steal): it slows a session without showing in any process's CPU time."
)


def _per_event_figures(section: Section, label: str, outcome: Outcome, raw: RawOutcome) -> None:
    received = outcome.received
    _pace_figures(section, label, outcome)
    section.add(f"{label}: delivery p50", percentile(received.latencies, 0.5) * 1000, "ms")
    section.add(
        f"{label}: delivery p99", percentile(received.latencies, 0.99) * 1000, "ms", Bar(1000)
    )
    _loss_figures(section, label, outcome)
    span = received.span_s
    section.add(
        f"{label}: deliveries/s, all subscribers",
        received.total("received") / span if span > 0 else 0.0,
        "/s",
    )
    section.add(f"{label}: server CPU per delivery", outcome.cpu_us_per_delivery, "us")
    section.add(
        f"{label}: server CPU per delivery / raw frame",
        outcome.cpu_us_per_delivery / raw.cpu_us_per_frame if raw.cpu_us_per_frame else None,
        "x",
        Bar(2),
    )
    section.add(f"{label}: server RSS per subscriber", outcome.rss_per_subscriber_kib, "KiB")


def _pace_figures(section: Section, label: str, outcome: Outcome, floor: float = 0) -> None:
    section.add(
        f"{label}: events/s emitted, unwatched",
        outcome.unwatched_rate,
        "/s",
        Bar(floor, at_least=True) if floor else None,
    )
    section.add(f"{label}: events/s emitted, watched", outcome.watched_rate, "/s")
    section.add(f"{label}: pace watched / unwatched", outcome.pace, "x", Bar(0.95, at_least=True))
    section.add(
        f"{label}: machine CPU stolen by the host, unwatched", outcome.stolen_unwatched * 100, "%"
    )
    section.add(
        f"{label}: machine CPU stolen by the host, watched", outcome.stolen_watched * 100, "%"
    )


def _loss_figures(section: Section, label: str, outcome: Outcome) -> None:
    received = outcome.received
    section.add(f"{label}: events lost", received.lost(outcome.events), "", Bar(0))
    section.add(f"{label}: subscriptions ended early", sum(received.ended_early.values()))
    section.add(
        f"{label}: events undelivered at the deadline", received.undelivered(outcome.events)
    )


async def run_batches(smoke: bool, *, profile: bool = False) -> Section:
    sizes = BATCHES_SMOKE if smoke else BATCHES_FULL
    section = Section(
        "batches",
        "5. Fan-out in batches at full pace: subscribers on the API, the session on a worker",
    )
    for processes, nice in sizes.fleets:
        label = fleet_label(processes, nice)
        outcome = await measure(sizes, processes, BATCHES, profile=profile, api_nice=nice)
        received = outcome.received
        _pace_figures(section, label, outcome, floor=1000)
        p50 = percentile(received.latencies, 0.5) * 1000
        section.add(f"{label}: event-to-client p50", p50, "ms")
        section.add(
            f"{label}: event-to-client p99",
            percentile(received.latencies, 0.99) * 1000,
            "ms",
            Bar(250),
        )
        _loss_figures(section, label, outcome)
        section.add(
            f"{label}: events per batch",
            received.total("received") / max(received.total("messages"), 1),
        )
        section.add(f"{label}: batch size, mean", outcome.mean_message_bytes, "B")
        section.add(f"{label}: server CPU per batch delivered", outcome.cpu_us_per_message, "us")
        section.add(f"{label}: server CPU per event delivered", outcome.cpu_us_per_delivery, "us")
        section.notes += [f"{label}: {note}." for note in outcome.notes]
    section.notes.append(
        f"{sizes.subscribers} subscribers from {CLIENT_PROCESSES} client processes ("
        + CLIENT_METHOD
        + "), each subscribed to `trainingProgressBatches(sessionId, maxDelayMs: 100) "
        "{ firstSeq lastSeq events { __typename seq at } }` of one session of "
        f"{sizes.examples} examples, seven offline teachers at {sizes.latency_ms} ms (+-30%), "
        f"{sizes.concurrency} in flight, JURY, on MariaDB; the session on a `chorus worker`, "
        "its events reaching the API process over the Redis broadcast. " + PACE_METHOD + " An "
        "event's latency is the receipt time of the batch that carried it less the event's "
        "`at`. Lost and undelivered count events as in the per-event benchmark. Server CPU is "
        "the API process's, from /proc, from the moment the worker is ready to the last "
        "receipt, over the batches and over the events delivered."
    )
    return section

"""Readers under load: a session running on a `chorus worker` while a crowd reads through the
API process, 200 websocket subscribers to the session and 200 clients asking for the first
page of history and the statistics over and over; against the same session run with nobody
reading, just before and just after, on the same processes.

    python -m bench.readers URL TOKEN CLIENTS

is the crowd's query side in a process of its own: CLIENTS concurrent clients, each POSTing
the history page and the statistics and then again, until SIGTERM; it prints `READY`, then,
when stopped, one JSON line: each request's seconds and the failed ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field

import httpx

from bench import subscribers
from bench.databases import scratch_database
from bench.fanout import (
    PER_EVENT,
    clients,
    collected,
    ended,
    logged,
    paced_alone,
    start_session,
)
from bench.fleet import on_workers
from bench.procs import WORK, cpu_seconds, machine_cpu, python_child
from bench.profile import sampled
from bench.report import Bar, Section, percentile
from models.engine import create_engine
from tests.support import make_account
from tests.support.factories import add_session

READ = """{ trainingHistory(first: 20) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      sessionId startedAt status numExamplesSuccessful averageQuality bestPerformingModel
      modelPerformance { model wins averageQuality } } } }
  trainingStats { totalSessions totalExamplesGenerated totalStoriesSaved averageQuality
    totalTrainingTimeSeconds fineTuningSessionsCount untilNextFineTuning } }"""
STORED_SESSIONS = 40


@dataclass(frozen=True)
class Sizes:
    examples: int
    subscribers: int
    readers: int
    latency_ms: int


FULL = Sizes(examples=120, subscribers=200, readers=200, latency_ms=300)
SMOKE = Sizes(examples=6, subscribers=5, readers=5, latency_ms=50)


@dataclass
class Reads:
    seconds: list[float] = field(default_factory=list)
    failed: int = 0
    error: str = ""


async def read(url: str, token: str, count: int) -> Reads:
    """`count` clients reading until SIGTERM."""
    reads = Reads()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=120) as http:

        async def client() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    response = await http.post(f"{url}/graphql", json={"query": READ})
                    problem = "" if response.status_code == 200 else response.text
                    problem = problem or json.dumps(response.json().get("errors") or "")
                    problem = "" if problem == '""' else problem
                except httpx.HTTPError as error:
                    problem = repr(error)
                reads.seconds.append(time.perf_counter() - started)
                if problem:
                    reads.failed += 1
                    reads.error = reads.error or problem[:500]

        print("READY", flush=True)
        await asyncio.gather(*(client() for _ in range(count)))
    return reads


async def begun(url: str, session_id: str) -> None:
    """Until the session's log holds its first events."""
    while True:
        if (await logged(url, session_id))[0] > 1:
            return
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Outcome:
    alone_rates: list[float]
    loaded_rate: float
    status: str
    reads: Reads
    reading_s: float
    first_event_waits: list[float]
    subscribers_ended_early: int
    subscriber_error: str
    lost: int
    api_cpu_s: float
    worker_cpu_s: float
    events: int
    # The shares of the machine's CPU time its host took while the sessions ran.
    stolen_alone: float
    stolen_reading: float


async def measure(sizes: Sizes, *, profile: bool) -> Outcome:
    async with scratch_database("mariadb", "chorus_bench_readers") as url:
        engine = create_engine(url)
        try:
            account = await make_account(engine, "bench")
            for _ in range(STORED_SESSIONS):
                await add_session(engine, account.id)
        finally:
            await engine.dispose()
        with on_workers(url, offline_latency_ms=sizes.latency_ms) as fleet:
            api, worker = fleet.apis[0], fleet.worker
            assert worker is not None
            machine_before = machine_cpu()
            before = await paced_alone(api, url, account, sizes.examples)
            alone_machine = machine_cpu().since(machine_before)
            deadline = 600.0
            named = WORK / f"readers-session-{os.getpid()}"
            named.unlink(missing_ok=True)
            with python_child(__name__, [api.url, account.token, str(sizes.readers)]) as (
                readers,
                _,
            ):
                # The reading, from the first query to the session's end.
                api_cpu, worker_cpu = cpu_seconds(api.pid), cpu_seconds(worker.pid)
                machine_before = machine_cpu()
                reading = time.perf_counter()
                with (
                    # Connected before the session starts; they subscribe once it has begun.
                    clients(
                        [api.ws_url],
                        account.token,
                        f"@{named}",
                        sizes.subscribers,
                        deadline,
                        PER_EVENT,
                    ) as started,
                    sampled(api.pid, "readers", enabled=profile),
                ):
                    session_id = await start_session(api, account, sizes.examples)
                    await begun(url, session_id)
                    named.write_text(session_id)
                    for process, _ in started:
                        process.send_signal(subscribers.GO)
                    status = await ended(url, session_id, within_s=deadline)
                    readers.send_signal(signal.SIGTERM)
                    reading = time.perf_counter() - reading
                    reading_machine = machine_cpu().since(machine_before)
                    api_cpu = cpu_seconds(api.pid) - api_cpu
                    worker_cpu = cpu_seconds(worker.pid) - worker_cpu
                    out, _ = await asyncio.to_thread(readers.communicate, timeout=120)
                    received = await collected(started, deadline)
            reads = Reads(**json.loads(out.strip().splitlines()[-1]))
            events, rate = await logged(url, session_id)
            machine_before = machine_cpu()
            after = await paced_alone(api, url, account, sizes.examples)
            alone_machine += machine_cpu().since(machine_before)
    return Outcome(
        alone_rates=[before, after],
        loaded_rate=rate,
        status=status,
        reads=reads,
        reading_s=reading,
        first_event_waits=received.first_event_waits,
        subscribers_ended_early=sum(received.ended_early.values()),
        subscriber_error=received.error,
        lost=received.lost(events),
        api_cpu_s=api_cpu,
        worker_cpu_s=worker_cpu,
        events=events,
        stolen_alone=alone_machine.stolen_share,
        stolen_reading=reading_machine.stolen_share,
    )


async def run(smoke: bool, *, profile: bool = False) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("readers", "6. Readers under load: a session on a worker, a crowd reading")
    outcome = await measure(sizes, profile=profile)
    alone = sum(outcome.alone_rates) / len(outcome.alone_rates)
    reads = outcome.reads
    section.add("session alone: events/s", alone, "/s")
    section.add("session with the readers: events/s", outcome.loaded_rate, "/s")
    section.add(
        "pace with the readers / alone",
        outcome.loaded_rate / alone if alone else 0.0,
        "x",
        Bar(0.9, at_least=True),
    )
    section.add("machine CPU stolen by the host, alone", outcome.stolen_alone * 100, "%")
    section.add(
        "machine CPU stolen by the host, with the readers", outcome.stolen_reading * 100, "%"
    )
    section.add("queries answered", len(reads.seconds))
    section.add("queries/s", len(reads.seconds) / outcome.reading_s, "/s")
    section.add("query p50", percentile(reads.seconds, 0.5) * 1000, "ms")
    section.add("query p99", percentile(reads.seconds, 0.99) * 1000, "ms")
    waits = outcome.first_event_waits or [float("nan")]
    section.add("first event p50", percentile(waits, 0.5) * 1000, "ms")
    section.add("first event p99", percentile(waits, 0.99) * 1000, "ms")
    errors = reads.failed + outcome.subscribers_ended_early + (outcome.status != "COMPLETED")
    section.add("errors: queries, subscriptions, the session", errors, "", Bar(0))
    section.add("events lost", outcome.lost, "", Bar(0))
    section.add("API process CPU, share of a core", outcome.api_cpu_s / outcome.reading_s, "")
    section.add("worker CPU per event", outcome.worker_cpu_s * 1e6 / outcome.events, "us")
    if outcome.status != "COMPLETED":
        section.notes.append(f"The session with the readers ended {outcome.status}.")
    if reads.error:
        section.notes.append(f"{reads.failed} queries failed; the first said: `{reads.error}`")
    if outcome.subscriber_error:
        section.notes.append(
            f"{outcome.subscribers_ended_early} subscriptions ended before their "
            f"SessionFinished; the first said: `{outcome.subscriber_error}`"
        )
    section.notes.append(
        f"One `chorus serve` and one `chorus worker` on MariaDB and Redis (queue and "
        "broadcast), default settings but for the offline teachers' latency "
        f"({sizes.latency_ms} ms, +-30%). A user with {STORED_SESSIONS} stored sessions runs a "
        f"session of {sizes.examples} examples (seven offline teachers, JURY). Before it "
        f"starts, a client process begins {sizes.readers} concurrent clients, each POSTing "
        "`trainingHistory(first: 20)` (the history benchmark's page) with `trainingStats` in "
        "one document, and again as soon as it is answered, until the session has ended; and "
        f"{sizes.subscribers} websocket connections open from two more client processes, "
        "which subscribe to the session's `trainingProgress` once its log holds its first "
        "events, and read to its SessionFinished. A query's time is from its POST to its "
        "whole answer; a subscriber's first event, from its subscribe to its first event "
        "(the log's replay: it joins a session under way). Errors are failed queries "
        "(an HTTP status other than 200 or a GraphQL error), subscriptions that ended before "
        "their SessionFinished, and the session not ending COMPLETED. Pace is events per "
        "second from the `at` stamps of the session's event log, against the mean of two "
        "identical sessions with no reader, one just before and one just after, on the same "
        "processes. The CPU figures are the processes' own, from /proc, over the reading. "
        "Stolen CPU is the share of all cores' time, over the sessions alone and over the "
        "reading, in which this virtual machine's host ran something else on a core it had "
        "work for (/proc/stat's steal)."
    )
    return section


if __name__ == "__main__":
    target, bearer, count = sys.argv[1:]
    result = asyncio.run(read(target, bearer, int(count)))
    print(json.dumps(asdict(result)), flush=True)

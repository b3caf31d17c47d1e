"""Trainer overhead: a session of N examples, C in flight, seven teachers over real HTTP
against the fake provider (in its own process) answering after L, JURY voting.

The ideal is ceil(N / C) waves of two rounds of calls, each as slow as L. The session runs as
it does at scale: `chorus serve` with its queue on Redis takes startTraining, and a `chorus
worker` process runs the session. The worker's CPU time from startTraining until it is idle
again, per example, is everything a session costs besides waiting: HTTP calls, validity,
scoring, voting, persistence, events and the fine-tuning exports the session triggers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench import fake_provider, fleet, session_alone, teacher_calls
from bench.databases import scratch_database
from bench.fleet import Fleet
from bench.procs import ROOT, WORK, cpu_seconds, machine_cpu, memory_mb, python_child, settle
from bench.profile import sampled
from bench.report import Bar, Section, median
from models.engine import create_engine
from models.enums import SessionStatus
from models.tables import TrainingHistory
from tests.support import Account, make_account
from tests.support.live import LiveServer, graphql_async
from tests.support.workers import LiveWorker

TEACHERS = (
    ("gemini", "bench-gemini-pro"),
    ("gemini", "bench-gemini-flash"),
    ("openai", "bench-llama-70b"),
    ("openai", "bench-llama-8b"),
    ("openai", "bench-qwen-7b"),
    ("anthropic", "bench-claude"),
    ("ollama", "bench-llama3.2"),
)
KEY_ENV = "BENCH_PROVIDER_KEY"
BASE_PATHS = {"openai": "/v1", "gemini": "", "ollama": "", "anthropic": ""}
CHEAP_S = 30.0
START = """mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status } }"""


@dataclass(frozen=True)
class Sizes:
    latency_s: float
    examples: int
    concurrency: int
    repeats: int
    serial_examples: int
    # A hosted model takes seconds to write a story; at this latency the same session asks
    # the worker for latency_s / slow_latency_s of the pace.
    slow_latency_s: float
    # With no session, how long the API process's and the worker's CPU are read for:
    # long enough for /proc's 10 ms ticks to resolve a fraction of a ms per s.
    quiet_s: float


FULL = Sizes(
    latency_s=0.2,
    examples=1000,
    concurrency=50,
    repeats=3,
    serial_examples=20,
    slow_latency_s=1.0,
    quiet_s=20.0,
)
SMOKE = Sizes(
    latency_s=0.05,
    examples=20,
    concurrency=10,
    repeats=1,
    serial_examples=3,
    slow_latency_s=0.1,
    quiet_s=1.0,
)


@dataclass(frozen=True)
class Run:
    examples: int
    succeeded: int
    wall_s: float
    # Until a worker had claimed the session.
    claimed_s: float
    # The worker's, which runs the session.
    cpu_s: float
    peak_rss_mb: float
    api_cpu_s: float
    # The share of the machine's CPU time the host took while the session ran.
    stolen_share: float

    @property
    def cpu_ms_per_example(self) -> float:
        return self.cpu_s * 1000 / self.examples

    @property
    def api_cpu_ms_per_example(self) -> float:
        return self.api_cpu_s * 1000 / self.examples


def ideal_s(examples: int, concurrency: int, latency_s: float) -> float:
    return math.ceil(examples / concurrency) * 2 * latency_s


def teachers_file(provider_url: str, concurrency: int) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"teachers-{concurrency}.toml"
    path.write_text(
        "".join(
            f'[[teachers]]\nname = "{model}"\nprovider = "{provider}"\nmodel = "{model}"\n'
            f'base_url = "{provider_url}{BASE_PATHS[provider]}"\napi_key_env = "{KEY_ENV}"\n'
            f"max_concurrency = {concurrency}\n\n"
            for provider, model in TEACHERS
        )
    )
    return path


@contextmanager
def on_workers(
    database_url: str, provider_url: str, concurrency: int, workers: int = 1, **worker_settings: Any
) -> Iterator[Fleet]:
    """`chorus serve` and `workers` `chorus worker` processes, as in production, with the
    fake provider's teachers and C examples in flight."""
    with fleet.on_workers(
        database_url,
        workers=workers,
        worker_settings=worker_settings,
        env={KEY_ENV: "bench"},
        teachers_file=teachers_file(provider_url, concurrency),
        max_concurrent_examples=concurrency,
    ) as started:
        yield started


@dataclass(frozen=True)
class Ended:
    """Sessions started together, once every one has ended."""

    wall_s: float
    succeeded: list[int]
    # From the first startTraining until each session was first seen RUNNING (or ended).
    claimed_s: list[float]


async def sessions(
    api: LiveServer,
    database_url: str,
    accounts: Sequence[Account],
    n: int,
    workers: Sequence[LiveWorker],
) -> Ended:
    """One session of `n` examples per account, all started at once: the wall time from
    the first startTraining until every one has ended. Their status is read from the
    database, every 20 ms, not asked of the server. The client is made before the clock
    starts: its own setup is not the server's time."""
    async with httpx.AsyncClient(timeout=60) as http:
        started = time.perf_counter()
        bodies = await asyncio.gather(
            *(
                graphql_async(
                    api,
                    START,
                    {"input": {"numExamples": n, "seed": n}},
                    token=account.token,
                    http=http,
                )
                for account in accounts
            )
        )
    if any("errors" in body for body in bodies):
        raise RuntimeError(f"startTraining failed: {bodies}")
    ids = [body["data"]["startTraining"]["sessionId"] for body in bodies]
    claimed: dict[str, float] = {}
    engine = create_engine(database_url)
    try:
        while True:
            async with engine.connect() as connection:
                rows = (
                    await connection.execute(
                        select(
                            TrainingHistory.session_id,
                            TrainingHistory.status,
                            TrainingHistory.num_examples_successful,
                        ).where(TrainingHistory.session_id.in_(ids))
                    )
                ).all()
            now = time.perf_counter() - started
            for row in rows:
                if row.status is not SessionStatus.QUEUED:
                    claimed.setdefault(row.session_id, now)
            if all(row.status.is_final for row in rows):
                break
            await asyncio.sleep(0.02)
    finally:
        await engine.dispose()
    wall = time.perf_counter() - started
    ended = {row.session_id: row.status.name for row in rows}
    if any(status != SessionStatus.COMPLETED.name for status in ended.values()):
        logs = "\n".join(worker.log()[-2000:] for worker in workers)
        raise RuntimeError(f"sessions ended {ended}; the workers' logs end:\n{logs}")
    return Ended(
        wall,
        [row.num_examples_successful for row in rows],
        [claimed[session_id] for session_id in ids],
    )


async def run_session(
    api: LiveServer, worker: LiveWorker, database_url: str, account: Account, n: int
) -> Run:
    """One session of `n` examples, timed from startTraining until it has ended; CPU until
    the worker and the API process are idle again."""
    cpu_before, api_before = cpu_seconds(worker.pid), cpu_seconds(api.pid)
    machine_before = machine_cpu()
    ended = await sessions(api, database_url, [account], n, [worker])
    machine = machine_cpu().since(machine_before)
    cpu = await asyncio.to_thread(settle, worker.pid) - cpu_before
    api_cpu = await asyncio.to_thread(settle, api.pid) - api_before
    return Run(
        n,
        ended.succeeded[0],
        ended.wall_s,
        ended.claimed_s[0],
        cpu,
        memory_mb(worker.pid)[1],
        api_cpu,
        machine.stolen_share,
    )


async def cpu_while_idle(pids: Sequence[int], quiet_s: float) -> list[float]:
    """Each process's CPU seconds per second over `quiet_s` in which nothing is asked of it."""
    before = [cpu_seconds(pid) for pid in pids]
    await asyncio.sleep(quiet_s)
    return [(cpu_seconds(pid) - used) / quiet_s for pid, used in zip(pids, before, strict=True)]


@dataclass(frozen=True)
class Measured:
    runs: list[Run]
    # CPU seconds per second with no session, after the runs, or None when not read.
    api_idle: float | None = None
    worker_idle: float | None = None


async def measure(
    backend: str,
    provider_url: str,
    concurrency: int,
    examples: int,
    repeats: int,
    *,
    profile: bool = False,
    quiet_s: float = 0.0,
) -> Measured:
    """Up to `repeats` sessions on one fresh API process and worker, after a warm-up session
    of one wave; one only when a session is too slow to repeat cheaply. Then, given
    `quiet_s`, both processes' CPU with no session."""
    async with scratch_database(backend, f"chorus_bench_trainer_{backend}") as url:
        engine = create_engine(url)
        try:
            account = await make_account(engine, "bench")
        finally:
            await engine.dispose()
        with on_workers(url, provider_url, concurrency) as started:
            api, [worker] = started.api, started.workers
            await run_session(api, worker, url, account, min(concurrency, 10))
            name = f"trainer-{backend}-c{concurrency}"
            with sampled(worker.pid, name, enabled=profile):
                runs = [await run_session(api, worker, url, account, examples)]
                while len(runs) < repeats and runs[-1].wall_s < CHEAP_S:
                    runs.append(await run_session(api, worker, url, account, examples))
            if not quiet_s:
                return Measured(runs)
            api_idle, worker_idle = await cpu_while_idle([api.pid, worker.pid], quiet_s)
            return Measured(runs, api_idle, worker_idle)


@dataclass(frozen=True)
class CallsAlone:
    """The same teacher calls made by `bench.teacher_calls`, without the rest of Chorus."""

    cpu_ms_per_example: float
    wall_s: float


async def child_figures(module: str, *args: object) -> dict[str, Any]:
    """Run `python -m module args...` here with the provider key set; its JSON line."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *map(str, args),
        cwd=ROOT,
        env={**os.environ, KEY_ENV: "bench"},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{module} failed with exit code {child.returncode}")
    figures: dict[str, Any] = json.loads(out)
    return figures


async def calls_alone(provider_url: str, sizes: Sizes) -> CallsAlone:
    """Medians of `sizes.repeats` runs of the calls a session of `sizes.examples` makes."""
    path = teachers_file(provider_url, sizes.concurrency)
    runs = []
    for _ in range(sizes.repeats):
        figures = await child_figures(
            teacher_calls.__name__, path, sizes.examples, sizes.concurrency
        )
        if figures["failed_calls"]:
            raise RuntimeError(f"bench.teacher_calls: {figures['failed_calls']} calls failed")
        runs.append(figures)
    return CallsAlone(
        cpu_ms_per_example=median([r["cpu_s"] for r in runs]) * 1000 / sizes.examples,
        wall_s=median([r["wall_s"] for r in runs]),
    )


@dataclass(frozen=True)
class SessionAlone:
    """Sessions run by `bench.session_alone`: all of Chorus's work but the teacher calls."""

    cpu_ms_per_example: float
    wall_s: float


async def session_without_calls(backend: str, provider_url: str, sizes: Sizes) -> SessionAlone:
    async with scratch_database(backend, f"chorus_bench_alone_{backend}") as url:
        figures = await child_figures(
            session_alone.__name__,
            teachers_file(provider_url, sizes.concurrency),
            url,
            sizes.examples,
            sizes.concurrency,
            sizes.latency_s,
            sizes.repeats,
        )
    return SessionAlone(
        cpu_ms_per_example=median(figures["cpu_s"]) * 1000 / sizes.examples,
        wall_s=median(figures["wall_s"]),
    )


async def run(smoke: bool, *, profile: bool = False) -> Section:
    sizes = SMOKE if smoke else FULL
    section = Section("trainer", "1. Trainer overhead (sessions on a worker)")
    repeated: dict[str, int] = {}
    with python_child(fake_provider.__name__, [str(sizes.latency_s)]) as (_, url):
        for backend in ("sqlite", "mariadb"):
            # Measured next to the sessions they are subtracted from: this machine's speed
            # drifts by several percent over minutes.
            alone = await calls_alone(url, sizes)
            _add_calls_alone(section, backend, sizes, alone)
            measured = await measure(
                backend,
                url,
                sizes.concurrency,
                sizes.examples,
                sizes.repeats,
                profile=profile,
                quiet_s=sizes.quiet_s,
            )
            [serial] = (await measure(backend, url, 1, sizes.serial_examples, 1)).runs
            without_calls = await session_without_calls(backend, url, sizes)
            _add_figures(section, backend, sizes, measured, serial, alone, without_calls)
            repeated[backend] = len(measured.runs)
    slow = dataclasses.replace(sizes, latency_s=sizes.slow_latency_s)
    with python_child(fake_provider.__name__, [str(slow.latency_s)]) as (_, url):
        for backend in ("sqlite", "mariadb"):
            [run] = (await measure(backend, url, slow.concurrency, slow.examples, 1)).runs
            _add_slow_figures(section, backend, slow, run)
    section.notes.append(
        f"N = {sizes.examples} examples, C = {sizes.concurrency} in flight, L = "
        f"{sizes.latency_s * 1000:g} ms, {len(TEACHERS)} teachers (Gemini, OpenAI-compatible, "
        "Anthropic and Ollama protocols) over HTTP to the fake provider in its own process, "
        "JURY voting; medians of "
        + ", ".join(
            f"{count} session{'s' * (count != 1)} on {backend}"
            for backend, count in repeated.items()
        )
        + f" (repeated while one takes under {CHEAP_S:g} s), after a warm-up session. The "
        "sessions run as they do at scale: `chorus serve` with CHORUS_QUEUE_URL and "
        "CHORUS_BROADCAST_URL on Redis (a queue of the run's own) records startTraining and "
        "queues it, and one `chorus worker` process runs the session, publishing its events "
        "on Redis; a fresh pair of processes and a fresh database for each set of sessions. "
        "Worker CPU is the worker's user + system time from startTraining until it is idle "
        "again, divided by N; peak RSS is its high-water mark. The time until a worker runs "
        "the session is from startTraining until the session is first read RUNNING (read "
        "every 20 ms), part of the wall time. API process CPU per example is "
        "the same reading of `chorus serve` over the same span (nobody watches the session). "
        "Stolen CPU is the share of all cores' time, while the sessions ran, in which this "
        "virtual machine's host ran something else on a core this machine had work for "
        "(/proc/stat's steal): it slows the sessions without showing in any process's CPU time. "
        "CPU while idle is each process's CPU time over "
        f"{sizes.quiet_s:g} s with no session, after the sessions, in ms per second. Worker "
        "cores at the ideal pace is the worker's CPU per example times the examples an ideal "
        "session finishes per second: the cores it would use at that pace. Most of that work "
        "is its event loop's, one thread, so above about 0.9 the loop cannot keep up and "
        "every example waits in its queue. At L = "
        f"{sizes.slow_latency_s * 1000:g} ms (one session per database, the fake provider "
        "restarted at that latency), nearer how long a hosted model takes to write a story, "
        f"the same session asks {sizes.latency_s / sizes.slow_latency_s:.2g} of that pace. "
        "The C = 1 "
        f"run, how the original system trained, has N = {sizes.serial_examples}. Ideal = "
        "ceil(N / C) x 2 x L. "
        "The teacher calls alone are the very calls of such a session (every teacher writes, "
        "then every teacher judges the others' stories), made through Chorus's teachers by "
        "`bench/teacher_calls.py` in a process of its own on uvloop, as the worker runs, with "
        "nothing else, just before each database's sessions: CPU besides the teacher calls is "
        "the worker's CPU per example less theirs, the work the bar is about (validity, "
        "scoring, voting, persistence, events, fine-tuning exports). The in-process teachers "
        "measure that work directly: `bench/session_alone.py` runs the same sessions, on a "
        "fresh database of the same kind, through Chorus's session runner, event log, recorder "
        "and fine-tuner in a process of its own on uvloop, its teachers answering in that "
        "process after L with the fake provider's stories and verdicts, so no HTTP is made (nor"
        " is anything published: there is no broadcast)."
    )
    return section


def _add_calls_alone(section: Section, backend: str, sizes: Sizes, alone: CallsAlone) -> None:
    c = sizes.concurrency
    ideal = ideal_s(sizes.examples, c, sizes.latency_s)
    section.add(
        f"{backend}: teacher calls alone: CPU per example, C={c}", alone.cpu_ms_per_example, "ms"
    )
    section.add(
        f"{backend}: teacher calls alone: wall / ideal ({ideal:g} s), C={c}",
        alone.wall_s / ideal,
        "x",
    )


def _add_figures(
    section: Section,
    backend: str,
    sizes: Sizes,
    measured: Measured,
    serial: Run,
    alone: CallsAlone,
    without_calls: SessionAlone,
) -> None:
    runs = measured.runs
    wall = median([r.wall_s for r in runs])
    cpu = median([r.cpu_ms_per_example for r in runs])
    ideal = ideal_s(sizes.examples, sizes.concurrency, sizes.latency_s)
    serial_ideal = ideal_s(serial.examples, 1, sizes.latency_s)
    c = sizes.concurrency
    section.add(f"{backend}: wall time, C={c}", wall, "s")
    section.add(f"{backend}: wall / ideal ({ideal:g} s), C={c}", wall / ideal, "x", Bar(1.10))
    section.add(
        f"{backend}: machine CPU stolen by the host, C={c}",
        median([r.stolen_share for r in runs]) * 100,
        "%",
    )
    section.add(
        f"{backend}: startTraining until a worker runs it, C={c}",
        median([r.claimed_s for r in runs]) * 1000,
        "ms",
    )
    section.add(f"{backend}: worker CPU per example, C={c}", cpu, "ms")
    section.add(
        f"{backend}: worker CPU per example besides teacher calls, C={c}",
        cpu - alone.cpu_ms_per_example,
        "ms",
        Bar(3.0),
    )
    section.add(
        f"{backend}: CPU per example, in-process teachers (no HTTP), C={c}",
        without_calls.cpu_ms_per_example,
        "ms",
    )
    section.add(
        f"{backend}: wall / ideal, in-process teachers (no HTTP), C={c}",
        without_calls.wall_s / ideal,
        "x",
    )
    section.add(
        f"{backend}: worker cores at the ideal pace, C={c}",
        cpu * sizes.examples / 1000 / ideal,
        "cores",
    )
    section.add(f"{backend}: worker peak RSS, C={c}", max(r.peak_rss_mb for r in runs), "MiB")
    section.add(
        f"{backend}: API process CPU per example, C={c}",
        median([r.api_cpu_ms_per_example for r in runs]),
        "ms",
    )
    if measured.api_idle is not None and measured.worker_idle is not None:
        section.add(f"{backend}: API process CPU while idle", measured.api_idle * 1000, "ms/s")
        section.add(f"{backend}: worker CPU while idle", measured.worker_idle * 1000, "ms/s")
    section.add(
        f"{backend}: examples succeeded, C={c}",
        min(r.succeeded / r.examples for r in runs) * 100,
        "%",
    )
    section.add(f"{backend}: wall per example, C=1", serial.wall_s / serial.examples, "s")
    section.add(
        f"{backend}: wall / ideal ({serial_ideal:g} s), C=1", serial.wall_s / serial_ideal, "x"
    )
    section.add(f"{backend}: worker CPU per example, C=1", serial.cpu_ms_per_example, "ms")
    section.add(
        f"{backend}: throughput C={c} / C=1",
        (sizes.examples / wall) / (serial.examples / serial.wall_s),
        "x",
    )


def _add_slow_figures(section: Section, backend: str, sizes: Sizes, run: Run) -> None:
    c, latency_ms = sizes.concurrency, sizes.latency_s * 1000
    ideal = ideal_s(sizes.examples, c, sizes.latency_s)
    section.add(
        f"{backend}: wall / ideal ({ideal:g} s), L={latency_ms:g} ms, C={c}",
        run.wall_s / ideal,
        "x",
        Bar(1.10),
    )
    section.add(
        f"{backend}: worker CPU per example, L={latency_ms:g} ms, C={c}",
        run.cpu_ms_per_example,
        "ms",
    )
    section.add(
        f"{backend}: machine CPU stolen by the host, L={latency_ms:g} ms, C={c}",
        run.stolen_share * 100,
        "%",
    )

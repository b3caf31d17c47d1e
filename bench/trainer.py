"""Trainer overhead: a session of N examples, C in flight, seven teachers over real HTTP
against the fake provider (in its own process) answering after L, JURY voting.

The ideal is ceil(N / C) waves of two rounds of calls, each as slow as L. The server is
`chorus serve`; its CPU time from startTraining until it is idle again, per example, is
everything the server does besides waiting: HTTP calls, validity, scoring, voting,
persistence, events and the fine-tuning exports the session triggers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import fake_provider, session_alone, teacher_calls
from bench.databases import fresh_database, migrated
from bench.procs import ROOT, WORK, cpu_seconds, memory_mb, python_child, settle
from bench.profile import sampled
from bench.report import Bar, Section, median
from models.engine import create_engine
from models.enums import SessionStatus
from models.tables import TrainingHistory
from tests.support import Account, make_account
from tests.support.live import LiveServer, graphql_async

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
    # the server for latency_s / slow_latency_s of the pace.
    slow_latency_s: float


FULL = Sizes(
    latency_s=0.2,
    examples=1000,
    concurrency=50,
    repeats=3,
    serial_examples=20,
    slow_latency_s=1.0,
)
SMOKE = Sizes(
    latency_s=0.05,
    examples=20,
    concurrency=10,
    repeats=1,
    serial_examples=3,
    slow_latency_s=0.1,
)


@dataclass(frozen=True)
class Run:
    examples: int
    succeeded: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float

    @property
    def cpu_ms_per_example(self) -> float:
        return self.cpu_s * 1000 / self.examples


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


async def run_session(server: LiveServer, database_url: str, account: Account, n: int) -> Run:
    """One session of `n` examples, timed from startTraining until it has ended and the
    server is idle; its status is read from the database, not asked of the server."""
    assert server.process is not None
    pid = server.process.pid
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    body = await graphql_async(
        server, START, {"input": {"numExamples": n, "seed": n}}, token=account.token
    )
    session_id = body["data"]["startTraining"]["sessionId"]
    engine = create_engine(database_url)
    try:
        while True:
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        select(
                            TrainingHistory.status, TrainingHistory.num_examples_successful
                        ).where(TrainingHistory.session_id == session_id)
                    )
                ).one()
            if row.status.is_final:
                break
            await asyncio.sleep(0.02)
    finally:
        await engine.dispose()
    wall = time.perf_counter() - started
    if row.status is not SessionStatus.COMPLETED:
        raise RuntimeError(f"session {session_id} ended {row.status.name}:\n{server.log()[-3000:]}")
    cpu = await asyncio.to_thread(settle, pid) - cpu_before
    return Run(n, row.num_examples_successful, wall, cpu, memory_mb(pid)[1])


async def measure(
    backend: str,
    provider_url: str,
    concurrency: int,
    examples: int,
    repeats: int,
    *,
    profile: bool = False,
) -> list[Run]:
    """Up to `repeats` sessions on one fresh server, after a warm-up session of one wave;
    one only when a session is too slow to repeat cheaply."""
    url = await migrated(fresh_database(backend, f"chorus_bench_trainer_{backend}"))
    engine = create_engine(url)
    try:
        account = await make_account(engine, "bench")
    finally:
        await engine.dispose()
    server = LiveServer(
        url,
        teachers_file=teachers_file(provider_url, concurrency),
        max_concurrent_examples=concurrency,
        log_level="WARNING",
    )
    server.env[KEY_ENV] = "bench"
    with server:
        await run_session(server, url, account, min(concurrency, 10))
        assert server.process is not None
        name = f"trainer-{backend}-c{concurrency}"
        with sampled(server.process.pid, name, enabled=profile):
            runs = [await run_session(server, url, account, examples)]
            while len(runs) < repeats and runs[-1].wall_s < CHEAP_S:
                runs.append(await run_session(server, url, account, examples))
        return runs


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
    url = await migrated(fresh_database(backend, f"chorus_bench_alone_{backend}"))
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
    section = Section("trainer", "1. Trainer overhead")
    models = [model for _, model in TEACHERS]
    repeated: dict[str, int] = {}
    with python_child(fake_provider.__name__, [str(sizes.latency_s), *models]) as (_, url):
        for backend in ("sqlite", "mariadb"):
            # Measured next to the sessions they are subtracted from: this machine's speed
            # drifts by several percent over minutes.
            alone = await calls_alone(url, sizes)
            _add_calls_alone(section, backend, sizes, alone)
            runs = await measure(
                backend, url, sizes.concurrency, sizes.examples, sizes.repeats, profile=profile
            )
            serial = (await measure(backend, url, 1, sizes.serial_examples, 1))[0]
            without_calls = await session_without_calls(backend, url, sizes)
            _add_figures(section, backend, sizes, runs, serial, alone, without_calls)
            repeated[backend] = len(runs)
    slow = dataclasses.replace(sizes, latency_s=sizes.slow_latency_s)
    with python_child(fake_provider.__name__, [str(slow.latency_s), *models]) as (_, url):
        for backend in ("sqlite", "mariadb"):
            [run] = await measure(backend, url, slow.concurrency, slow.examples, 1)
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
        + f" (repeated while one takes under {CHEAP_S:g} s), after a warm-up session. Server "
        "cores at the ideal pace is the server's CPU per example times the examples an ideal "
        "session finishes per second: the cores the server would use at that pace. Most of "
        "that work is its event loop's, one thread, so above about 0.9 the loop cannot keep "
        "up and every example waits in its queue. At L = "
        f"{sizes.slow_latency_s * 1000:g} ms (one session per database, the fake provider "
        "restarted at that latency), nearer how long a hosted model takes to write a story, "
        f"the same session asks {sizes.latency_s / sizes.slow_latency_s:.2g} of that pace. "
        "The C = 1 "
        f"run, how the original system trained, has N = {sizes.serial_examples}. Ideal = "
        "ceil(N / C) x 2 x L. CPU is the `chorus serve` process's user + system time from "
        "startTraining until it is idle again, divided by N; peak RSS is its high-water mark. "
        "The teacher calls alone are the very calls of such a session (every teacher writes, "
        "then every teacher judges the others' stories), made through Chorus's teachers by "
        "`bench/teacher_calls.py` in a process of its own on uvloop, as the server runs, with "
        "nothing else, just before each database's sessions: CPU besides the teacher calls is "
        "the server's CPU per example less theirs, the work the bar is about (validity, "
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
    runs: list[Run],
    serial: Run,
    alone: CallsAlone,
    without_calls: SessionAlone,
) -> None:
    wall = median([r.wall_s for r in runs])
    cpu = median([r.cpu_ms_per_example for r in runs])
    ideal = ideal_s(sizes.examples, sizes.concurrency, sizes.latency_s)
    serial_ideal = ideal_s(serial.examples, 1, sizes.latency_s)
    c = sizes.concurrency
    section.add(f"{backend}: wall time, C={c}", wall, "s")
    section.add(f"{backend}: wall / ideal ({ideal:g} s), C={c}", wall / ideal, "x", Bar(1.10))
    section.add(f"{backend}: server CPU per example, C={c}", cpu, "ms")
    section.add(
        f"{backend}: server CPU per example besides teacher calls, C={c}",
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
        f"{backend}: server cores at the ideal pace, C={c}",
        cpu * sizes.examples / 1000 / ideal,
        "cores",
    )
    section.add(f"{backend}: server peak RSS, C={c}", max(r.peak_rss_mb for r in runs), "MiB")
    section.add(
        f"{backend}: examples succeeded, C={c}",
        min(r.succeeded / r.examples for r in runs) * 100,
        "%",
    )
    section.add(f"{backend}: wall per example, C=1", serial.wall_s / serial.examples, "s")
    section.add(
        f"{backend}: wall / ideal ({serial_ideal:g} s), C=1", serial.wall_s / serial_ideal, "x"
    )
    section.add(f"{backend}: server CPU per example, C=1", serial.cpu_ms_per_example, "ms")
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
        f"{backend}: server CPU per example, L={latency_ms:g} ms, C={c}",
        run.cpu_ms_per_example,
        "ms",
    )

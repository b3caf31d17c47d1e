"""Serving the Prometheus metrics that trainer/metrics.py defines.

`GET /metrics` answers admins (401 without a token, 403 for anyone else, in the REST error
shape). With `CHORUS_METRICS_PORT` set, a plain listener on that port serves `/metrics` with
no token, for a scraper inside the cluster: bind it (`CHORUS_METRICS_HOST`) to an address
only that network reaches.

A scrape reads the sessions that wait or run from the database (`chorus_sessions`), and any
reading trainer/metrics.py was given (the queue's depth), then the metrics of the process,
or, in multiprocess mode, of every process that shares its directory.

Multiprocess mode is prometheus-client's: each process writes its values to files in
`PROMETHEUS_MULTIPROC_DIR`, which a scrape adds up. That variable must be set before
prometheus-client is imported, so the `chorus` command sets it up (`prepare_multiprocess`)
before it starts the processes that serve: for several processes of one command it makes a
directory when none is given; given one, processes started apart (several `chorus serve`,
workers) share it. With several processes and one `CHORUS_METRICS_PORT`, the first process to
bind it serves everyone's metrics, and the others try again now and then in case it stops.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.sessions import sessions_by_status
from server.settings import Settings
from trainer.metrics import OPEN_STATUSES, Reading, scrape_readings

logger = logging.getLogger("chorus.metrics")

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
PATH = "/metrics"
# How often a process that found the metrics port taken tries it again.
REBIND_INTERVAL_S = 15.0


def multiprocess_dir() -> Path | None:
    """The directory of multiprocess mode; None in single-process mode."""
    value = os.environ.get(MULTIPROCESS_DIR)
    return Path(value) if value else None


def prepare_multiprocess(processes: int) -> Path | None:
    """Set up multiprocess mode for `processes` processes about to be started by this command,
    before any of them imports prometheus-client: a directory of its own for them when
    there are several and none is given, a given one emptied of dead processes' files."""
    directory = multiprocess_dir()
    if directory is None and processes > 1:
        directory = Path(tempfile.mkdtemp(prefix="chorus-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ[MULTIPROCESS_DIR] = str(directory)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        forget_dead_processes(directory, starting=True)
    return directory


def forget_dead_processes(directory: Path, *, starting: bool = False) -> None:
    """Drop dead processes from the directory.

    Their gauges go at each scrape; their counters and histograms stay while any process
    that shares the directory lives, since they are part of the totals it reports (removing
    them would make the totals fall). A process `starting` when no other lives starts the
    totals afresh, as a restart of a single process would.
    """
    by_pid: dict[int, list[Path]] = {}
    for path in directory.glob("*.db"):
        suffix = path.stem.rpartition("_")[2]
        if suffix.isdigit():
            by_pid.setdefault(int(suffix), []).append(path)
    dead = {pid for pid in by_pid if not _alive(pid)}
    others_live = any(pid != os.getpid() for pid in by_pid.keys() - dead)
    for pid in dead:
        if starting and not others_live:
            for path in by_pid[pid]:
                path.unlink(missing_ok=True)
        else:
            mark_process_dead(pid, str(directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class _Scrape(Collector):
    """What one scrape reports: the process's metrics, or every process's in multiprocess
    mode, and the readings taken for it."""

    def __init__(self, readings: list[tuple[Reading, Mapping[tuple[str, ...], float]]]) -> None:
        self._readings = readings

    def collect(self) -> Iterator[Metric]:
        directory = multiprocess_dir()
        if directory is None:
            yield from REGISTRY.collect()
        else:
            forget_dead_processes(directory)
            yield from MultiProcessCollector(None, str(directory)).collect()
        for reading, values in self._readings:
            family = GaugeMetricFamily(
                reading.name, reading.documentation, labels=list(reading.labels)
            )
            for labels, value in values.items():
                family.add_metric(list(labels), value)
            yield family


def _sessions(db: async_sessionmaker[AsyncSession]) -> Reading:
    async def read() -> Mapping[tuple[str, ...], float]:
        async with db() as transaction:
            counts = await sessions_by_status(transaction, OPEN_STATUSES)
        return {(status.name,): float(count) for status, count in counts.items()}

    return Reading(
        "chorus_sessions",
        "Sessions waiting or running, and interrupted ones (they may be resumed), read from "
        "the database at each scrape: the same in every process, to be aggregated with max.",
        ("status",),
        read,
    )


async def exposition(db: async_sessionmaker[AsyncSession], accept: str) -> tuple[bytes, str]:
    """The metrics in the format `accept` asks for, and its content type.

    A reading that fails (the database is down) is left out and logged: the rest of the
    metrics matter most then."""
    readings = []
    for reading in [_sessions(db), *scrape_readings()]:
        try:
            readings.append((reading, await reading.read()))
        except Exception:
            logger.warning("metrics: %s could not be read", reading.name, exc_info=True)
    encode, content_type = choose_encoder(accept)
    # Reading the files of many processes takes a while; the event loop goes on meanwhile.
    body = await asyncio.to_thread(encode, _Scrape(readings))
    return body, content_type


def metrics_port_problem(settings: Settings) -> str | None:
    """Why the metrics port cannot be listened on, checked before serving; None when it can
    (or is not asked for, or is shared by several processes, one of which takes it)."""
    if settings.metrics_port is None or multiprocess_dir() is not None:
        return None
    host = settings.metrics_host or settings.host
    try:
        with socket.create_server((host, settings.metrics_port)):
            return None
    except OSError as error:
        return f"CHORUS_METRICS_PORT: cannot listen on {host}:{settings.metrics_port}: {error}"


@contextlib.asynccontextmanager
async def metrics_listener(
    settings: Settings, db: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    """Serve `/metrics` on `CHORUS_METRICS_PORT`, when it is set, while inside."""
    if settings.metrics_port is None:
        yield
        return
    host, port = settings.metrics_host or settings.host, settings.metrics_port

    async def scrape(request: web.Request) -> web.Response:
        body, content_type = await exposition(db, request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get(PATH, scrape)
    # A scrape still being answered at shutdown gets a few seconds, not aiohttp's minute.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    retrying: asyncio.Task[None] | None = None
    try:
        if not await _listen(runner, host, port):
            retrying = asyncio.create_task(_listen_when_free(runner, host, port))
        yield
    finally:
        if retrying is not None:
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying
        await runner.cleanup()


async def _listen(runner: web.AppRunner, host: str, port: int) -> bool:
    """Whether this process now serves the port; False when, in multiprocess mode, another
    process holds it."""
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await site.stop()
        if error.errno != errno.EADDRINUSE or multiprocess_dir() is None:
            raise
        return False
    logger.info("Metrics on http://%s:%d%s", host, port, PATH)
    return True


async def _listen_when_free(runner: web.AppRunner, host: str, port: int) -> None:
    logger.info(
        "CHORUS_METRICS_PORT %d is taken, by another process of this group serving the same "
        "metrics or by something else; trying again every %g s",
        port,
        REBIND_INTERVAL_S,
    )
    while True:
        await asyncio.sleep(REBIND_INTERVAL_S)
        if await _listen(runner, host, port):
            return

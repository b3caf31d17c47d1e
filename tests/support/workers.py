"""Helpers for tests of sessions on workers: waiting for sessions to end, `chorus worker`
processes, a MariaDB server of a test's own, and the lease invariant watched throughout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.base import utcnow
from models.engine import create_engine, session_factory
from models.enums import SessionStatus
from models.tables import TrainingHistory
from tests.support.databases import REDIS_URL
from tests.support.live import LiveServer, free_port

UNFINISHED = (SessionStatus.QUEUED, SessionStatus.RUNNING)


async def every_session_ended(engine: AsyncEngine, within_s: float = 60) -> None:
    """Until no session is QUEUED or RUNNING."""
    deadline = time.monotonic() + within_s
    while True:
        async with session_factory(engine)() as db:
            left = await db.scalar(
                select(func.count()).where(TrainingHistory.status.in_(UNFINISHED))
            )
        if not left:
            return
        assert time.monotonic() < deadline, f"{left} sessions did not end"
        await asyncio.sleep(0.1)


async def session_ended(engine: AsyncEngine, session_id: str) -> bool:
    async with session_factory(engine)() as db:
        status = await db.scalar(
            select(TrainingHistory.status).where(TrainingHistory.session_id == session_id)
        )
    return status is not None and status.is_final


class LiveWorker(LiveServer):
    """`chorus worker` as a subprocess, ready once it says so in its log."""

    def __init__(
        self,
        database_url: str,
        broadcast_url: str = "memory://",
        *,
        no_takeover: bool = False,
        **settings: Any,
    ) -> None:
        super().__init__(database_url, broadcast_url, **settings)
        self.arguments = ["--no-takeover"] if no_takeover else []

    def start(self, timeout: float = 30) -> LiveWorker:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker", *self.arguments],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while " ready: " not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def __enter__(self) -> LiveWorker:
        return self.start()


def on_redis(**settings: Any) -> dict[str, Any]:
    """Settings for API processes and workers sharing a queue on Redis: a queue of the test's
    own, so that runs at once do not share jobs."""
    return {
        "queue_url": REDIS_URL,
        "queue_name": f"chorus-test-{uuid.uuid4().hex[:12]}",
        **settings,
    }


async def owner_pid(engine: AsyncEngine, session_id: str) -> int | None:
    """The process id of the worker holding the session's lease (it names its process)."""
    async with session_factory(engine)() as db:
        owner = await db.scalar(
            select(TrainingHistory.lease_owner).where(TrainingHistory.session_id == session_id)
        )
    return None if owner is None else int(owner.split("-")[-2])


class LeaseInvariant:
    """Watches every session, a few times a second, for the invariant of leases: QUEUED,
    RUNNING under a lease that has an owner and is live, or finished.

    A lease whose worker was killed stays live until it runs out: nobody can know sooner.
    What must never happen is a session RUNNING for longer than that: so a lease counts as
    live until `grace_s` past its end (the time a takeover takes: a scan, a sweep, a claim).
    Readings the database cannot give (it is down) are skipped.
    """

    def __init__(self, url: str, grace_s: float) -> None:
        self._engine = create_engine(url, pool_size=1)
        self._grace = timedelta(seconds=grace_s)
        self.violations: list[str] = []
        self.readings = 0
        self.running_at_once: dict[int, int] = {}
        self.first_running: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseInvariant:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._engine.dispose()

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self._read()
            await asyncio.sleep(0.2)

    async def _read(self) -> None:
        async with session_factory(self._engine)() as db:
            rows = (
                await db.execute(
                    select(
                        TrainingHistory.session_id,
                        TrainingHistory.user_id,
                        TrainingHistory.status,
                        TrainingHistory.lease_owner,
                        TrainingHistory.lease_until,
                    )
                )
            ).all()
        now = utcnow()
        running: dict[int, int] = {}
        for session_id, user_id, status, owner, until in rows:
            if status is not SessionStatus.RUNNING:
                continue
            running[user_id] = running.get(user_id, 0) + 1
            self.first_running.setdefault(session_id, time.monotonic())
            if owner is None or until is None or until + self._grace < now:
                self.violations.append(f"{session_id} RUNNING, lease {owner} until {until}")
        for user_id, count in running.items():
            self.running_at_once[user_id] = max(self.running_at_once.get(user_id, 0), count)
        self.readings += 1


class PrivateMariaDB:
    """A MariaDB server of the test's own, on a free port with its own data directory, so
    that it can be killed and started again; the shared server is never touched."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        installed = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={directory / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *self._as_root(),
            ],
            capture_output=True,
            check=False,
        )
        if installed.returncode != 0:
            raise RuntimeError(installed.stdout.decode() + installed.stderr.decode())

    @staticmethod
    def _as_root() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/chorus?charset=utf8mb4"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={self.directory / 'data'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.directory / 'mariadb.sock'}",
                f"--log-error={self.directory / 'error.log'}",
                f"--pid-file={self.directory / 'mariadb.pid'}",
                "--skip-grant-tables",
                "--innodb-buffer-pool-size=64M",
                *self._as_root(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root").close()
                return
            except pymysql.err.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the private MariaDB did not start") from None
                time.sleep(0.1)

    def create_database(self) -> None:
        with pymysql.connect(host="127.0.0.1", port=self.port, user="root") as connection:
            connection.cursor().execute(
                "CREATE DATABASE chorus CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )

    def kill(self) -> None:
        """SIGKILL: the database is gone mid-write, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def said(process: LiveServer, text: str, *, times: int = 1, within_s: float = 30) -> bool:
    """Whether the process's log says `text`, `times` times, within `within_s`."""
    deadline = time.monotonic() + within_s
    while process.log().count(text) < times:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True

"""Chorus as it runs at scale, for the benchmarks: `chorus serve` processes and `chorus
worker` processes sharing a queue of their own on Redis and the Redis broadcast."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.databases import REDIS_URL
from tests.support.live import LiveServer
from tests.support.workers import LiveWorker, on_redis

# Several Pythons importing at once on two busy cores can take a while.
START_TIMEOUT_S = 120


@dataclass
class Fleet:
    """The API processes and the workers; a worker can be stopped and another started, so
    that sessions wait QUEUED meanwhile."""

    apis: list[LiveServer]
    workers: list[LiveWorker]
    worker_settings: dict[str, Any]
    url: str
    env: dict[str, str]

    @property
    def api(self) -> LiveServer:
        return self.apis[0]

    @property
    def worker(self) -> LiveWorker | None:
        return self.workers[0] if self.workers else None

    @property
    def api_pids(self) -> list[int]:
        return [api.pid for api in self.apis]

    def new_worker(self) -> LiveWorker:
        # A worker says it is ready at INFO; it logs a line or two per session, no more.
        worker = LiveWorker(self.url, REDIS_URL, log_level="INFO", **self.worker_settings)
        worker.env.update(self.env)
        return worker

    def start_worker(self) -> LiveWorker:
        worker = self.new_worker().start(timeout=START_TIMEOUT_S)
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        while self.workers:
            self.workers.pop().stop()


@contextmanager
def on_workers(
    url: str,
    *,
    api_processes: int = 1,
    workers: int = 1,
    worker_settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    **settings: Any,
) -> Iterator[Fleet]:
    """`api_processes` `chorus serve` and `workers` `chorus worker` processes, started
    together; `settings` are everyone's, `worker_settings` the workers' only."""
    shared = on_redis(**settings)
    apis = [LiveServer(url, REDIS_URL, log_level="WARNING", **shared) for _ in range(api_processes)]
    fleet = Fleet(apis, [], {**shared, **(worker_settings or {})}, url, env or {})
    # The workers are the fleet's before they start, so that those started are stopped
    # however the start of the others ends.
    fleet.workers.extend(fleet.new_worker() for _ in range(workers))
    for api in apis:
        api.env.update(fleet.env)
    try:
        with ThreadPoolExecutor(len(apis) + workers) as threads:
            list(
                threads.map(
                    lambda process: process.start(timeout=START_TIMEOUT_S),
                    [*apis, *fleet.workers],
                )
            )
        yield fleet
    finally:
        fleet.stop_workers()
        for api in apis:
            api.stop()

"""Every Prometheus metric Chorus exports, defined once, and the small functions that move them.

It sits in the lowest layer that the trainer, the resolvers, the schema and the server all
import; server/metrics.py serves them. Names are `chorus_*` with their unit; labels take few
values (teacher names, outcomes, statuses, route templates), never a session's or a user's id.

The teacher call path and the event path are hot (bench/README.md): an update there is one
in-process increment on a child whose labels were bound once, never a label lookup per call.

With several processes (prometheus-client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`)
each process writes its values to files that a scrape adds up; a gauge says how: `livesum`
adds the living processes' values, `liveall` shows each living process's own (`pid` label).

Two metrics belong to processes that run queued sessions, and are moved from there:
`set_worker_sessions(n)` on each change of the sessions a worker runs, and
`watch_queue_depth(read)` once, with a coroutine function that tells how many sessions wait
in the queue; a scrape awaits it (`scrape_readings`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from models.enums import ExampleStatus, SessionStatus

# A `_created` series beside each counter and histogram would double what a scrape carries,
# for a start time that `process_start_time_seconds` gives already.
disable_created_metrics()

# In multiprocess mode each metric opens its file as it is defined, here: a directory that is
# not there yet would make every `chorus` command fail at its imports.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# The statuses a session waits or runs in, or may be resumed from: few sessions, counted from
# the database at each scrape. The ended ones grow without bound, so an end is counted as it
# happens instead (`chorus_sessions_ended_total`).
OPEN_STATUSES = (SessionStatus.QUEUED, SessionStatus.RUNNING, SessionStatus.INTERRUPTED)
CALLS = ("write", "judge")
TEACHER_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
ADMISSION_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DELIVERY_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

SESSIONS_ENDED = Counter(
    "chorus_sessions_ended",
    "Sessions that ended, by the status they ended in; counted by the process that ended them.",
    ["status"],
)
EXAMPLES = Counter(
    "chorus_examples",
    "Examples recorded: SUCCEEDED (scored) or FAILED (no valid output).",
    ["status"],
)
TEACHER_CALL_SECONDS = Histogram(
    "chorus_teacher_call_duration_seconds",
    "A call to a teacher (writing a story or judging), from asking to its answer or final "
    "error: pacing waits and retries included. `outcome` is `ok` or the error's kind.",
    ["teacher", "call", "outcome"],
    buckets=TEACHER_LATENCY_BUCKETS,
)
TEACHER_RETRIES = Counter(
    "chorus_teacher_retries",
    "Teacher calls tried again, by the kind of error that made them try again.",
    ["teacher", "cause"],
)
TEACHER_TOKENS = Counter(
    "chorus_teacher_tokens",
    "Tokens the providers reported for recorded outputs (story and judging), by kind.",
    ["teacher", "kind"],
)
TEACHER_COST_USD = Counter(
    "chorus_teacher_cost_usd",
    "What recorded outputs cost in US dollars, where the cost is known.",
    ["teacher"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "chorus_websocket_connections",
    "Open websocket connections to /graphql.",
    multiprocess_mode="livesum",
)
WEBSOCKET_SUBSCRIPTIONS = Gauge(
    "chorus_websocket_subscriptions",
    "trainingProgress and trainingProgressBatches subscriptions being served.",
    multiprocess_mode="livesum",
)
DELIVERY_LAG_SECONDS = Histogram(
    "chorus_live_event_delivery_lag_seconds",
    "From a live event's `at` to its delivery to a subscriber, of the first event of what a "
    "subscriber was handed at once; events a subscriber reads from the log (replay, catching "
    "up) are not counted.",
    buckets=DELIVERY_LAG_BUCKETS,
)
SUBSCRIPTION_RESULTS = Counter(
    "chorus_subscription_results",
    "Results of subscription events (an event or a batch) handed to subscribers: `executed` "
    "for them, or `shared`, executed for another subscriber that asked the same of the same "
    "event object.",
    ["how"],
)
DB_POOL_CHECKED_OUT = Gauge(
    "chorus_db_pool_checked_out_connections",
    "Database connections in use; the pool lends up to three times its size, then waits.",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "chorus_db_pool_size_connections",
    "Database connections the pool keeps (CHORUS_DB_POOL_SIZE).",
    multiprocess_mode="livesum",
)
HTTP_REQUESTS = Counter(
    "chorus_http_requests",
    "HTTP requests answered, by method, route template and status; websockets not counted.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "chorus_http_request_duration_seconds",
    "From an HTTP request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
)
ADMISSION_ACTIVE = Gauge(
    "chorus_admission_active_requests",
    "Requests an API process runs now (GraphQL operations and REST reads over HTTP, reads of "
    "a subscription's replay or log): at most CHORUS_MAX_ACTIVE_REQUESTS a process.",
    multiprocess_mode="livesum",
)
ADMISSION_WAITING = Gauge(
    "chorus_admission_waiting_requests",
    "Requests waiting for their turn to run, holding no connection.",
    multiprocess_mode="livesum",
)
ADMISSION_WAIT_SECONDS = Histogram(
    "chorus_admission_wait_seconds",
    "How long a request waited for its turn (0 when it ran at once), whether it then ran, "
    "left with its client or was told to try again.",
    buckets=ADMISSION_WAIT_BUCKETS,
)
ADMISSION_LEFT = Counter(
    "chorus_admission_left",
    "Requests that left the queue without running: `timeout` (told to try again after "
    "CHORUS_REQUEST_QUEUE_TIMEOUT_S), `gone` (their client went away).",
    ["reason"],
)
WORKER_SESSIONS = Gauge(
    "chorus_worker_sessions",
    "Sessions a worker process runs now (one series per process in multiprocess mode).",
    multiprocess_mode="liveall",
)

_ENDED = {status: SESSIONS_ENDED.labels(status.name) for status in SessionStatus if status.is_final}
_SUCCEEDED = EXAMPLES.labels(ExampleStatus.SUCCEEDED.name)
_FAILED = EXAMPLES.labels(ExampleStatus.FAILED.name)


class TeacherMetrics:
    """One teacher's children of the teacher metrics, bound once for its lifetime."""

    def __init__(self, teacher: str) -> None:
        self.teacher = teacher
        self._calls: dict[tuple[str, str], Histogram] = {
            (call, "ok"): TEACHER_CALL_SECONDS.labels(teacher, call, "ok") for call in CALLS
        }
        self._retries: dict[str, Counter] = {}
        self._prompt_tokens = TEACHER_TOKENS.labels(teacher, "prompt")
        self._completion_tokens = TEACHER_TOKENS.labels(teacher, "completion")
        self._cost_usd = TEACHER_COST_USD.labels(teacher)

    def call_ended(self, call: str, outcome: str, seconds: float) -> None:
        """A `write` or `judge` call ended `ok` or with an error of kind `outcome`."""
        child = self._calls.get((call, outcome))
        if child is None:
            child = self._calls[call, outcome] = TEACHER_CALL_SECONDS.labels(
                self.teacher, call, outcome
            )
        child.observe(seconds)

    def retried(self, cause: str) -> None:
        child = self._retries.get(cause)
        if child is None:
            child = self._retries[cause] = TEACHER_RETRIES.labels(self.teacher, cause)
        child.inc()

    def spent(self, prompt_tokens: int, completion_tokens: int, cost_usd: float | None) -> None:
        if prompt_tokens:
            self._prompt_tokens.inc(prompt_tokens)
        if completion_tokens:
            self._completion_tokens.inc(completion_tokens)
        if cost_usd:
            self._cost_usd.inc(cost_usd)


_teachers: dict[str, TeacherMetrics] = {}


def teacher_metrics(teacher: str) -> TeacherMetrics:
    """The metrics of the teacher named `teacher`: the same object for every caller."""
    metrics = _teachers.get(teacher)
    if metrics is None:
        metrics = _teachers[teacher] = TeacherMetrics(teacher)
    return metrics


def examples_recorded(succeeded: int, failed: int) -> None:
    """Examples recorded, once their transaction is committed; their outputs' tokens and
    cost go to each teacher's `spent`."""
    if succeeded:
        _SUCCEEDED.inc(succeeded)
    if failed:
        _FAILED.inc(failed)


def session_ended(status: SessionStatus) -> None:
    _ENDED[status].inc()


ADMISSION_LEFT_TIMEOUT = ADMISSION_LEFT.labels("timeout")
ADMISSION_LEFT_GONE = ADMISSION_LEFT.labels("gone")


class Tally:
    """A counter moved `every` at a time: a shared subscription result is counted once per
    delivery, and Prometheus's locked increment cost as much as the delivery's own work. What
    is pending goes in at the latest when a subscription ends (`flush`)."""

    def __init__(self, counter: Counter, every: int = 256) -> None:
        self._counter = counter
        self._every = every
        self._pending = 0

    def inc(self) -> None:
        self._pending += 1
        if self._pending >= self._every:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._counter.inc(self._pending)
            self._pending = 0


RESULT_EXECUTED = SUBSCRIPTION_RESULTS.labels("executed")
RESULT_SHARED = Tally(SUBSCRIPTION_RESULTS.labels("shared"))


def event_delivered(at: datetime) -> None:
    """A live event that happened `at` was handed to a subscriber."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    DELIVERY_LAG_SECONDS.observe(max(0.0, time.time() - at.timestamp()))


def watch_pool(engine: AsyncEngine) -> None:
    """Keep the pool gauges at `engine`'s pool as connections are lent and returned.

    Moved as it happens rather than read at scrape time, so that in multiprocess mode every
    process's pool is in the files a scrape adds up. An in-memory SQLite database has no pool.
    """
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool):
        return
    DB_POOL_SIZE.set(pool.size())
    DB_POOL_CHECKED_OUT.set(pool.checkedout())

    def lent(*_: object) -> None:
        DB_POOL_CHECKED_OUT.set(pool.checkedout())

    def returned(*_: object) -> None:
        # The pool hears of a returned connection before it takes it back.
        DB_POOL_CHECKED_OUT.set(pool.checkedout() - 1)

    event.listen(pool, "checkout", lent)
    event.listen(pool, "checkin", returned)


def set_worker_sessions(count: int) -> None:
    """The sessions this worker process runs now."""
    WORKER_SESSIONS.set(count)


@dataclass(frozen=True)
class Reading:
    """A gauge a scrape reads from elsewhere (the database, the queue), awaiting `read`,
    which answers a value per tuple of label values (`()` without labels)."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    read: Callable[[], Awaitable[Mapping[tuple[str, ...], float]]]


_readings: dict[str, Reading] = {}


def watch_queue_depth(read: Callable[[], Awaitable[int]] | None) -> None:
    """`chorus_session_queue_depth` is what `read()` answers at each scrape; None stops it."""

    async def depth() -> Mapping[tuple[str, ...], float]:
        assert read is not None
        return {(): float(await read())}

    name = "chorus_session_queue_depth"
    if read is None:
        _readings.pop(name, None)
        return
    _readings[name] = Reading(name, "Sessions waiting in the queue for a worker.", (), depth)


def scrape_readings() -> list[Reading]:
    """The gauges, besides those in the registry, that a scrape reads."""
    return list(_readings.values())

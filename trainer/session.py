"""Running a session: examples in flight with bounded concurrency, each recorded as it
finishes, events emitted in order, cancellation handled on purpose.

On a worker the runner writes under the session's lease: every write is fenced by it, a
database outage is waited out (finished examples wait in memory, bounded) while the lease
holds, and once it is lost the runner stops at once and writes nothing more; the worker that
takes the session over runs the examples that were not recorded."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.enums import EndReason, SessionStatus
from models.errors import LeaseLost, is_outage
from models.examples import recorded_indexes
from models.sessions import stored_session
from models.tables import TrainingHistory
from trainer import log_context
from trainer.budget import Budget, session_budget
from trainer.catalog import Sample, Sampler
from trainer.events import (
    Emitter,
    FineTuningTriggered,
    SessionFinished,
    SessionProgress,
    SessionResumed,
    SessionStarted,
)
from trainer.example import MAX_OUTPUT_CHARS, ExampleOutcome, run_example
from trainer.leases import Lease
from trainer.plan import SessionPlan
from trainer.recorder import plan_of, record_examples, set_status, tally_of
from trainer.tally import SessionTally
from trainer.teachers.base import Teacher

logger = logging.getLogger("chorus.trainer")

# What a session's `error` says; the details (a driver's words, a traceback) go to the log.
STORE_REFUSED = "The database refused to store this session's examples; the worker's log says why."
INTERNAL_ERROR = "An internal error stopped this session; the worker's log has the details."
NOTHING_VALID = "no example produced a valid output"
# Without a lease, writes are retried this many times through an outage.
MAX_UNLEASED_ATTEMPTS = 8
MAX_RETRY_WAIT_S = 2.0


class FineTuneQueue(Protocol):
    def submit(self, job_id: int) -> None: ...


@dataclass(frozen=True)
class RunnerOptions:
    max_concurrent_examples: int = 8
    fine_tune_backend: str = "export"
    max_output_chars: int = MAX_OUTPUT_CHARS


async def _to_its_end(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to its end even when this task is cancelled meanwhile, and only then let the
    cancellation go on. `asyncio.shield` alone gives the cancellation back at once and leaves
    the work running unawaited: a session's last examples were then written after its worker
    had closed the event log and handed the session back, and it ended FAILED."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


class SessionRunner:
    """Runs one stored session to its end. `cancel()` stops it: examples in flight are
    dropped, finished ones are kept, and the session ends CANCELLED. Cancelling the task
    that runs it stops it too, keeping finished examples and leaving the session RUNNING for
    the worker to hand back (or ending it as `stop_status` says). `lose()` (the lease is
    gone) stops it without writing anything more: `run()` raises LeaseLost."""

    _history: TrainingHistory
    _plan: SessionPlan

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        history_id: int,
        teachers: Mapping[str, Teacher],
        emitter: Emitter,
        *,
        options: RunnerOptions = RunnerOptions(),
        fine_tuner: FineTuneQueue | None = None,
        lease: Lease | None = None,
        resumed: str | None = None,
    ) -> None:
        self._db = db
        self._lease = lease
        self._owner = None
        if lease is not None:
            self._owner = lease.owner
            lease.holder = self
        # Why the session goes on after another worker ran it; None for a (re)start.
        self._resumed = resumed
        self._lost = False
        # How a session stopped from outside ends; None: it stays RUNNING, to be handed back.
        self.stop_status: SessionStatus | None = None
        self._history_id = history_id
        self._teachers = teachers
        self._emitter = emitter
        self._options = options
        self._fine_tuner = fine_tuner
        self._cancel_requested = False
        self._work: asyncio.Task[None] | None = None
        self._example_seconds: list[float] = []
        self._tally = SessionTally()
        self._remaining = 0
        self._final_status = SessionStatus.RUNNING
        self._budget: Budget | None = None
        # Finished examples wait here to be written together: one transaction for all that
        # finished while the previous one was being written (group commit). A worker goes on
        # to its next example at once, so a write is never on an example's path, unless
        # `max_concurrent_examples` finished examples already wait for the writer.
        self._to_record: list[ExampleOutcome] = []
        self._unwritten = asyncio.Semaphore(options.max_concurrent_examples)
        self._record_wake = asyncio.Event()
        self._recorder: asyncio.Task[None] | None = None
        self._recorder_closing = False
        self._record_failure: Exception | None = None

    @property
    def waiting_to_be_written(self) -> list[int]:
        """The indexes of finished examples that wait for the recorder to take them up."""
        return [outcome.index for outcome in self._to_record]

    def cancel(self) -> None:
        self._cancel_requested = True
        if self._work is not None:
            self._work.cancel()

    def lose(self) -> None:
        """The lease is gone: stop at once, and write nothing more."""
        self._lost = True
        self._record_wake.set()
        if self._work is not None:
            self._work.cancel()

    async def run(self) -> SessionStatus:
        """Run the remaining examples and finish the session; returns its final status."""
        async with self._db() as db:
            history = await stored_session(db, self._history_id)
            plan = plan_of(history)
            done = await recorded_indexes(db, history.id)
            self._tally = await tally_of(db, history.id)
        self._history = history
        self._plan = plan
        log_context.bind_session(history.session_id, history.user_id)
        self._budget = session_budget(
            plan.max_cost_usd,
            [self._teachers[name] for name in plan.teachers],
            plan.voting,
            self._tally,
        )
        if self._resumed is None:
            await self._emitter.emit(
                SessionStarted(
                    num_examples=plan.num_examples,
                    teachers=plan.teachers,
                    voting_strategy=plan.voting,
                )
            )
        else:
            await self._emitter.emit(
                SessionResumed(
                    takeovers=history.takeovers,
                    completed=len(done),
                    total=plan.num_examples,
                    reason=self._resumed,
                )
            )
        samples = Sampler(plan.genres, plan.seed).sample_many(plan.num_examples)
        todo = [index for index in range(plan.num_examples) if index not in done]
        self._remaining = len(todo)
        logger.info(
            "session %s started: %d of %d examples to run, %s voting by %s",
            history.session_id,
            len(todo),
            plan.num_examples,
            plan.voting.name,
            ", ".join(plan.teachers),
        )
        self._recorder = asyncio.create_task(self._record_finished())
        self._work = asyncio.create_task(self._run_examples(todo, samples))
        if self._lost or self._cancel_requested:
            self._work.cancel()  # asked before there was work to stop
        status, error = SessionStatus.COMPLETED, None
        try:
            await self._work
            end_reason: EndReason | None = (
                EndReason.BUDGET_REACHED
                if self._budget is not None and self._budget.reached
                else EndReason.ALL_EXAMPLES_RUN
            )
        except asyncio.CancelledError:
            if self._lost:
                await _to_its_end(self._stop_recorder())
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                raise LeaseLost(f"session {history.session_id} was lost") from None
            if not self._cancel_requested:
                # Stopped from outside: what finished is kept, and the worker hands the
                # session back (or it ends as `stop_status` says).
                await _to_its_end(self._drain_then_finish(self.stop_status, None))
                raise
            status, end_reason = SessionStatus.CANCELLED, None
        except Exception:  # a bug must end the session visibly, not leave it RUNNING
            logger.exception("session %s failed", history.session_id)
            status, error, end_reason = SessionStatus.FAILED, INTERNAL_ERROR, None
        await _to_its_end(self._drain_then_finish(status, error, end_reason))
        if self._lost:
            raise LeaseLost(f"session {history.session_id} was lost")
        return self._final_status

    async def _stop_recorder(self) -> None:
        if self._recorder is not None:
            self._recorder_closing = True
            self._record_wake.set()
            await self._recorder

    async def _drain_then_finish(
        self,
        status: SessionStatus | None,
        error: str | None,
        end_reason: EndReason | None = None,
    ) -> None:
        """Let finished examples that are still being written land, then close the session
        (unless `status` is None: it stays as it is)."""
        await self._stop_recorder()
        if self._lost:
            return
        if self._record_failure is not None:
            status, error, end_reason = SessionStatus.FAILED, STORE_REFUSED, None
        if status is SessionStatus.COMPLETED and self._tally.successful == 0:
            status, error = SessionStatus.FAILED, NOTHING_VALID
        if status is None:
            return
        self._final_status = status
        await self._finish(status, error, end_reason)

    async def _run_examples(self, todo: list[int], samples: list[Sample]) -> None:
        pending = iter(todo)
        workers = min(self._options.max_concurrent_examples, len(todo))

        async def worker() -> None:
            for index in pending:
                if self._record_failure is not None:
                    raise self._record_failure
                if self._budget is not None and not await self._budget.admit():
                    return
                started = time.monotonic()
                outcome = await run_example(
                    index,
                    samples[index],
                    [self._teachers[name] for name in self._plan.teachers],
                    self._plan.voting,
                    self._plan.seed,
                    self._emitter,
                    max_output_chars=self._options.max_output_chars,
                )
                if self._budget is not None:
                    await self._budget.finished(outcome.spend.cost_usd)
                self._example_seconds.append(time.monotonic() - started)
                # Once an example is finished it is kept whole, even when the session is
                # cancelled while it waits to be written: the recorder owns it now, before
                # the worker waits for room.
                self._to_record.append(outcome)
                self._record_wake.set()
                await self._unwritten.acquire()

        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())

    async def _record_finished(self) -> None:
        while True:
            await self._record_wake.wait()
            self._record_wake.clear()
            while self._to_record and not self._lost:
                batch, self._to_record = self._to_record, []
                try:
                    await self._record_patiently(sorted(batch, key=lambda o: o.index))
                except Exception as error:
                    logger.exception("recording %d examples failed", len(batch))
                    self._record_failure = error
                finally:
                    for _ in batch:
                        self._unwritten.release()
            if self._recorder_closing or self._lost:
                return

    async def _record_patiently(self, outcomes: list[ExampleOutcome]) -> None:
        """Record the batch, waiting out a database outage while the lease holds."""
        attempt = 0
        while not self._lost:
            try:
                if attempt and await self._stored_already(outcomes):
                    return
                await self._record(outcomes)
                return
            except LeaseLost:
                self._lose("its examples were refused: another worker owns the session")
                return
            except Exception as error:
                attempt += 1
                if not is_outage(error):
                    raise
                if self._lease is not None and not self._lease.held():
                    self._lose("the database was out of reach for longer than its lease")
                    return
                if self._lease is None and attempt >= MAX_UNLEASED_ATTEMPTS:
                    raise
                logger.warning(
                    "recording %d examples of session %s failed (attempt %d), retrying: %s",
                    len(outcomes),
                    self._history.session_id,
                    attempt,
                    error,
                )
                await asyncio.sleep(min(0.1 * 2**attempt, MAX_RETRY_WAIT_S))

    def _lose(self, why: str) -> None:
        if self._lease is not None:
            self._lease.lose(why)  # its worker's callback stops this runner
        self.lose()

    async def _stored_already(self, outcomes: list[ExampleOutcome]) -> bool:
        """Whether a batch whose commit failed on the way back was stored all the same: then
        it counts as recorded (its events are not sent), and the tally is read back."""
        async with self._db() as db:
            if outcomes[0].index not in await recorded_indexes(db, self._history_id):
                return False
            self._tally = await tally_of(db, self._history_id)
        logger.warning(
            "examples %s of session %s were stored before the connection dropped",
            [outcome.index for outcome in outcomes],
            self._history.session_id,
        )
        self._remaining -= len(outcomes)
        return True

    async def _record(self, outcomes: list[ExampleOutcome]) -> None:
        before = self._tally
        async with self._db() as db:
            batch = await record_examples(
                db,
                self._history,
                self._plan,
                before,
                outcomes,
                fine_tune_backend=self._options.fine_tune_backend,
                owner=self._owner,
            )
        self._tally = batch.tally
        # Each SessionProgress counts the examples up to its own.
        completed, failed, spend = before.successful, before.failed, before.spend
        for recorded in batch.examples:
            outcome = recorded.outcome
            spend += outcome.spend
            self._remaining -= 1
            if outcome.succeeded:
                completed += 1
                await self._emitter.emit(
                    outcome.scored(
                        saved_to_database=recorded.story_id is not None,
                        stored_in_memory=recorded.stored_in_memory,
                    )
                )
            else:
                failed += 1
                await self._emitter.emit(outcome.failed())
            if recorded.fine_tune_job_id is not None:
                await self._emitter.emit(
                    FineTuningTriggered(
                        examples_collected=recorded.examples_collected,
                        job_id=recorded.fine_tune_job_id,
                    )
                )
                if self._fine_tuner is not None:
                    self._fine_tuner.submit(recorded.fine_tune_job_id)
            await self._emitter.emit(
                SessionProgress(
                    completed=completed,
                    failed=failed,
                    total=self._plan.num_examples,
                    eta_seconds=self._eta(),
                    prompt_tokens=spend.prompt_tokens,
                    completion_tokens=spend.completion_tokens,
                    cost_usd=spend.cost_usd,
                )
            )

    def _eta(self) -> float | None:
        if not self._example_seconds:
            return None
        if self._remaining <= 0:
            return 0.0
        recent = self._example_seconds[-50:]
        per_example = sum(recent) / len(recent)
        in_parallel = min(self._options.max_concurrent_examples, self._remaining)
        return round(per_example * self._remaining / in_parallel, 1)

    async def _finish(
        self, status: SessionStatus, error: str | None, end_reason: EndReason | None
    ) -> None:
        if self._lease is not None:
            self._lease.finishing = True
        attempt = 0
        while True:
            try:
                async with self._db() as db:
                    await set_status(
                        db,
                        self._history_id,
                        status,
                        error=error,
                        end_reason=end_reason,
                        owner=self._owner,
                    )
                break
            except LeaseLost:
                self._lose("its final status was refused: another worker owns the session")
                return
            except Exception as failure:
                attempt += 1
                if not is_outage(failure):
                    raise
                if self._lease is not None and not self._lease.held():
                    self._lose("the database was out of reach for longer than its lease")
                    return
                if self._lease is None and attempt >= MAX_UNLEASED_ATTEMPTS:
                    raise
                logger.warning("ending session %d failed, retrying: %s", self._history_id, failure)
                await asyncio.sleep(min(0.1 * 2**attempt, MAX_RETRY_WAIT_S))
        logger.info(
            "session %s ended %s: %d examples scored, %d failed%s",
            self._history.session_id,
            status.name,
            self._tally.successful,
            self._tally.failed,
            f"; {error}" if error else "",
        )
        await self._emitter.emit(SessionFinished(status=status, end_reason=end_reason))

    @property
    def tally(self) -> SessionTally:
        return self._tally

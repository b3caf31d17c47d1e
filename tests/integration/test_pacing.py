"""Teachers' calls paced to their limits against the fake provider, which enforces a
requests-per-minute limit with 429s: paced in memory, and through Redis, where several
processes share one budget per teacher."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.enums import SessionStatus, VotingStrategy
from tests.support import make_account
from tests.support.databases import REDIS_URL, require_redis
from tests.support.fake_provider import FakeProvider, run_fake_provider
from trainer.events import CollectingSink
from trainer.plan import make_plan
from trainer.session import RunnerOptions
from trainer.teachers.base import GenerationRequest, Teacher, TeacherConfig
from trainer.teachers.ensemble import build_ensemble
from trainer.teachers.pacing import MemoryPacing, Pacing
from trainer.teachers.redis_pacing import open_pacing
from trainer.teachers.retry import RetryPolicy
from trainer.training import train

# The provider allows 300 requests a minute, quantized to one-second windows: at most 5 in
# any second. Teachers are told 240, a little under it, as a user would set them.
PROVIDER_RPM = 300
TEACHER_RPM = 240
# A 429 is retried as soon as the fake's hint says a request may go, so that an unpaced
# run ends but counts its 429s.
QUICK_RETRY = RetryPolicy(max_attempts=30, base_wait_s=0.01, max_wait_s=1.0, max_total_s=30)
REQUEST = GenerationRequest(system="Write a story.", prompt="A lighthouse keeper's last night.")


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with run_fake_provider() as fake:
        yield fake


@pytest.fixture
async def pacing(broadcast_url: str) -> AsyncIterator[Pacing]:
    pacing = open_pacing(broadcast_url)
    yield pacing
    await pacing.aclose()


def limited_teachers(
    fake: FakeProvider, count: int, *, requests_per_minute: int | None
) -> list[TeacherConfig]:
    """Teachers of models the fake limits; named afresh, since Redis outlives a test."""
    configs = []
    for number in range(count):
        model = f"model-{number}-{uuid.uuid4().hex[:8]}"
        fake.rate_limits.limit(model, requests_per_minute=PROVIDER_RPM, window_s=1.0)
        configs.append(
            TeacherConfig(
                f"teacher-{model}",
                "openai",
                model,
                fake.base_url("openai"),
                "KEY",
                requests_per_minute=requests_per_minute,
            )
        )
    return configs


async def write_at_once(teachers: Sequence[Teacher], calls: int) -> None:
    async with asyncio.TaskGroup() as group:
        for teacher in teachers:
            for _ in range(calls):
                group.create_task(teacher.generate(REQUEST))


async def close(teachers: Sequence[Teacher]) -> None:
    for teacher in teachers:
        await teacher.aclose()


async def test_the_fake_answers_429_past_its_limit(fake: FakeProvider) -> None:
    [config] = limited_teachers(fake, 1, requests_per_minute=None)
    teachers = build_ensemble([config], env={"KEY": "k"}, retry=QUICK_RETRY)
    try:
        await write_at_once(teachers, 20)
    finally:
        await close(teachers)
    # Twenty at once where five a second are allowed.
    assert len(fake.requests_for(config.model)) > 20
    assert fake.rate_limits.rejected(config.model) > 0


async def test_paced_calls_get_no_429(fake: FakeProvider, pacing: Pacing) -> None:
    [config] = limited_teachers(fake, 1, requests_per_minute=TEACHER_RPM)
    teachers = build_ensemble([config], env={"KEY": "k"}, retry=QUICK_RETRY, pacing=pacing)
    try:
        await write_at_once(teachers, 8)
    finally:
        await close(teachers)
    assert len(fake.requests_for(config.model)) == 8
    assert fake.rate_limits.rejected(config.model) == 0


@pytest.mark.redis
async def test_processes_pacing_through_redis_share_one_budget(fake: FakeProvider) -> None:
    require_redis()
    broadcast_url = REDIS_URL
    [config] = limited_teachers(fake, 1, requests_per_minute=TEACHER_RPM)
    # Two workers, each with its own pacing and its own teacher of the same name.
    workers = [open_pacing(broadcast_url) for _ in range(2)]
    teachers = [
        teacher
        for pacing in workers
        for teacher in build_ensemble([config], env={"KEY": "k"}, retry=QUICK_RETRY, pacing=pacing)
    ]
    try:
        await write_at_once(teachers, 5)
    finally:
        await close(teachers)
        for pacing in workers:
            await pacing.aclose()
    assert len(fake.requests_for(config.model)) == 10
    assert fake.rate_limits.rejected(config.model) == 0


async def test_a_session_paced_to_its_teachers_limits_gets_no_429(
    engine: AsyncEngine, fake: FakeProvider, pacing: Pacing
) -> None:
    alice = await make_account(engine, "alice")
    configs = limited_teachers(fake, 3, requests_per_minute=TEACHER_RPM)
    built = build_ensemble(configs, env={"KEY": "k"}, retry=QUICK_RETRY, pacing=pacing)
    plan = make_plan(built, num_examples=4, voting=VotingStrategy.JURY, seed=1)
    try:
        history = await train(
            session_factory(engine),
            alice.id,
            plan,
            {teacher.name: teacher for teacher in built},
            lambda _: CollectingSink(),
            options=RunnerOptions(4),
        )
    finally:
        await close(built)
    assert history.status is SessionStatus.COMPLETED
    assert history.num_examples_successful == 4
    for config in configs:
        # Each teacher wrote four stories and judged four times.
        assert len(fake.requests_for(config.model)) == 8
        assert fake.rate_limits.rejected(config.model) == 0


def test_pacing_is_chosen_by_url() -> None:
    assert isinstance(open_pacing("memory://"), MemoryPacing)
    with pytest.raises(ValueError, match="memory:// or redis://"):
        open_pacing("kafka://broker")

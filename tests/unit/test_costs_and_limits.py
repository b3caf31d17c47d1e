"""A teacher's prices and limits in the teachers file, what its calls cost, how its calls
are paced in this process, and a session's budget."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace
from pathlib import Path

import pytest

from models.enums import VotingStrategy
from models.errors import BadUserInput
from trainer.budget import Budget
from trainer.estimate import estimate
from trainer.plan import SessionPlan, make_plan
from trainer.spend import Spend, call_spend
from trainer.teachers.base import Teacher, TeacherConfig
from trainer.teachers.ensemble import build_ensemble, load_teacher_configs
from trainer.teachers.offline import offline_ensemble
from trainer.teachers.pacing import MemoryPacing, call_tokens, pieces, window

TEACHER = '[[teachers]]\nname = "t"\nprovider = "openai"\nmodel = "m"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teachers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_prices_and_limits_are_read(tmp_path: Path) -> None:
    text = TEACHER + (
        "input_price_per_mtok = 0.5\noutput_price_per_mtok = 2\n"
        "requests_per_minute = 30\ntokens_per_minute = 6000\n"
    )
    [config] = load_teacher_configs(write(tmp_path, text), {})
    assert config.input_price_per_mtok == 0.5
    assert config.output_price_per_mtok == 2.0
    assert config.requests_per_minute == 30
    assert config.tokens_per_minute == 6000


def test_without_them_a_teacher_has_no_price_and_no_limits(tmp_path: Path) -> None:
    [config] = load_teacher_configs(write(tmp_path, TEACHER), {})
    assert not config.priced
    assert config.requests_per_minute is None
    assert config.tokens_per_minute is None


@pytest.mark.parametrize(
    ("line", "message", "field"),
    [
        (
            "input_price_per_mtok = -1\noutput_price_per_mtok = 1\n",
            "teacher 1 (t): input_price_per_mtok: must be a price in USD per million tokens, "
            "at least 0, got -1",
            "input_price_per_mtok",
        ),
        (
            'output_price_per_mtok = "1.5"\ninput_price_per_mtok = 1\n',
            "teacher 1 (t): output_price_per_mtok: must be a number, got '1.5'",
            "output_price_per_mtok",
        ),
        (
            "input_price_per_mtok = 1\n",
            "teacher 1 (t): output_price_per_mtok: required with input_price_per_mtok",
            "output_price_per_mtok",
        ),
        (
            "requests_per_minute = 0\n",
            "teacher 1 (t): requests_per_minute: must be at least 1, got 0",
            "requests_per_minute",
        ),
        (
            "requests_per_minute = 2.5\n",
            "teacher 1 (t): requests_per_minute: must be an integer, got 2.5",
            "requests_per_minute",
        ),
        (
            "tokens_per_minute = -5\n",
            "teacher 1 (t): tokens_per_minute: must be at least 1, got -5",
            "tokens_per_minute",
        ),
    ],
)
def test_bad_prices_and_limits_name_the_teacher_and_the_field(
    tmp_path: Path, line: str, message: str, field: str
) -> None:
    path = write(tmp_path, TEACHER + line)
    with pytest.raises(BadUserInput) as caught:
        load_teacher_configs(path, {})
    assert caught.value.message.startswith(f"{path}: ")
    assert message in caught.value.message
    assert caught.value.field == field


def test_what_a_call_costs() -> None:
    priced = TeacherConfig("t", "openai", "m", input_price_per_mtok=0.5, output_price_per_mtok=2.0)
    assert priced.cost_usd(1000, 500) == pytest.approx(0.0015)
    assert priced.cost_usd(None, 500) is None
    assert TeacherConfig("t", "openai", "m").cost_usd(1000, 500) is None
    assert TeacherConfig("t", "offline", "m").cost_usd(1000, 500) == 0.0


def test_a_call_with_no_answer_costs_nothing_when_the_teacher_has_a_price() -> None:
    priced = TeacherConfig("t", "openai", "m", input_price_per_mtok=1, output_price_per_mtok=1)
    assert call_spend(priced, None, None, answered=False) == Spend(0, 0, 0.0)
    unpriced = TeacherConfig("t", "openai", "m")
    assert call_spend(unpriced, None, None, answered=False).cost_usd is None


def test_a_sum_with_an_unknown_cost_is_unknown() -> None:
    assert Spend(1, 2, 0.5) + Spend(3, 4, 0.25) == Spend(4, 6, 0.75)
    assert Spend(1, 2, 0.5) + Spend(3, 4, None) == Spend(4, 6, None)


@pytest.mark.parametrize(
    ("per_minute", "expected"),
    [(600, (10, 1)), (60, (1, 1)), (30, (1, 2)), (45, (3, 4)), (7, (7, 60)), (6000, (100, 1))],
)
def test_a_limit_is_counted_in_the_shortest_whole_window(
    per_minute: int, expected: tuple[int, int]
) -> None:
    assert window(per_minute) == expected


def test_a_call_takes_its_tokens_a_window_at_a_time() -> None:
    assert list(pieces(250, 100)) == [100, 100, 50]
    assert list(pieces(0, 100)) == []


def test_a_call_counts_its_prompt_and_the_most_it_may_answer() -> None:
    assert call_tokens("x" * 40, "y" * 400, 600) == 10 + 8 + 100 + 8 + 600


def test_teachers_without_limits_are_not_paced() -> None:
    assert MemoryPacing().pace(TeacherConfig("t", "openai", "m")) is None


async def test_requests_are_spaced_evenly() -> None:
    pace = MemoryPacing().pace(TeacherConfig("t", "openai", "m", requests_per_minute=1200))
    assert pace is not None
    started = time.monotonic()
    sent = []
    for _ in range(6):
        await pace.wait(0)
        sent.append(time.monotonic() - started)
    # 1200 a minute is one every 50 ms: the first at once.
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert sent[0] < 0.03
    assert min(gaps) >= 0.04


async def test_tokens_flow_at_the_limit() -> None:
    # 120,000 a minute is 2,000 a second; once a second's worth is taken, 3,500 more take
    # 1.75 s to flow.
    config = TeacherConfig("t", "openai", "m", tokens_per_minute=120_000)
    pace = MemoryPacing().pace(config)
    assert pace is not None
    await pace.wait(2000)
    started = time.monotonic()
    await asyncio.gather(*(pace.wait(700) for _ in range(5)))
    assert 1.7 <= time.monotonic() - started < 2.5


async def test_each_teacher_has_one_pace() -> None:
    pacing = MemoryPacing()
    config = TeacherConfig("t", "openai", "m", requests_per_minute=30)
    assert pacing.pace(config) is pacing.pace(config)


async def test_an_example_starts_while_its_projected_cost_fits() -> None:
    budget = Budget(1.0, estimate_usd=0.3)
    assert [await budget.admit() for _ in range(3)] == [True, True, True]
    # A fourth would bring the projection to 1.2: it waits for those in flight, which cost
    # less than the estimate.
    fourth = asyncio.create_task(budget.admit())
    await asyncio.sleep(0)
    assert not fourth.done()
    await budget.finished(0.1)
    assert await fourth
    assert not budget.reached


async def test_once_an_example_cannot_fit_the_session_takes_no_more() -> None:
    budget = Budget(1.0, estimate_usd=0.4, spent_usd=0.5, finished=1)
    # Projected at 0.5 an example, the spent 0.5 leaves room for one.
    assert await budget.admit()
    waiting = asyncio.create_task(budget.admit())
    await budget.finished(0.45)
    assert not await waiting
    assert budget.reached
    assert not await budget.admit()


async def test_examples_are_decided_in_the_order_they_ask() -> None:
    budget = Budget(1.0, estimate_usd=0.6)
    assert await budget.admit()
    asked = [asyncio.create_task(budget.admit()) for _ in range(3)]
    await asyncio.sleep(0)
    await budget.finished(0.2)
    assert [await task for task in asked] == [True, True, True]
    assert budget.per_example == pytest.approx(0.2)


def offline_plan(max_cost_usd: float) -> SessionPlan:
    teachers = build_ensemble(offline_ensemble(), env={})
    return make_plan(teachers, num_examples=5, max_cost_usd=max_cost_usd)


def http_teachers(price_per_mtok: float | None = None) -> list[Teacher]:
    config = TeacherConfig(
        "t",
        "openai",
        "m",
        "http://127.0.0.1:9",
        "KEY",
        input_price_per_mtok=price_per_mtok,
        output_price_per_mtok=price_per_mtok,
    )
    return build_ensemble([config], env={"KEY": "k"})


def test_offline_teachers_cost_nothing_so_any_budget_covers_them() -> None:
    assert offline_plan(0.01).max_cost_usd == 0.01


@pytest.mark.parametrize("budget", [0.0, -1.0])
def test_a_budget_is_more_than_nothing(budget: float) -> None:
    with pytest.raises(BadUserInput, match="must be more than 0") as caught:
        offline_plan(budget)
    assert caught.value.field == "maxCostUsd"


def test_a_budget_needs_every_teachers_price() -> None:
    with pytest.raises(BadUserInput, match="needs every teacher's price, and t has none"):
        make_plan(http_teachers(), num_examples=1, max_cost_usd=10)


def test_a_budget_must_cover_one_example() -> None:
    teachers = http_teachers(price_per_mtok=1000)
    with pytest.raises(BadUserInput, match=r"does not cover one example, which may cost"):
        make_plan(teachers, num_examples=1, max_cost_usd=0.01)
    assert make_plan(teachers, num_examples=1, max_cost_usd=5).max_cost_usd == 5


def test_the_time_estimate_accounts_for_the_rate_limits() -> None:
    def teachers(rpm: int | None) -> list[Teacher]:
        configs = [
            TeacherConfig(name, "openai", "m", "http://127.0.0.1:9", requests_per_minute=rpm)
            for name in ("a", "b")
        ]
        return build_ensemble(configs, env={})

    def seconds(ensemble: list[Teacher]) -> float:
        return estimate(
            ensemble,
            VotingStrategy.JURY,
            20,
            latency_ms=lambda _: 1000.0,
            max_concurrent_examples=8,
        ).seconds

    # Unlimited: three waves of eight examples, each two rounds of a second.
    assert seconds(teachers(None)) == 6.0
    # 30 requests a minute: each example's story and vote take 4 s of a teacher's limit.
    assert seconds(teachers(30)) == 80.0


def test_the_estimate_of_tokens_and_cost_is_per_example_times_examples() -> None:
    config = TeacherConfig(
        "a", "openai", "m", "http://127.0.0.1:9", input_price_per_mtok=1, output_price_per_mtok=2
    )
    ensemble = build_ensemble([config, replace(config, name="b")], env={})
    one = estimate(
        ensemble, VotingStrategy.JURY, 1, latency_ms=lambda _: 1.0, max_concurrent_examples=1
    )
    ten = estimate(
        ensemble, VotingStrategy.JURY, 10, latency_ms=lambda _: 1.0, max_concurrent_examples=1
    )
    assert ten.prompt_tokens == 10 * one.prompt_tokens
    # Each writes at most max_tokens and reads the other's story at its longest.
    assert one.completion_tokens == 2 * (600 + 16)
    assert one.cost_usd is not None
    assert ten.cost_usd == pytest.approx(10 * one.cost_usd)
    unpriced = build_ensemble([replace(config, input_price_per_mtok=None)], env={})
    assert (
        estimate(
            unpriced, VotingStrategy.QUALITY, 1, latency_ms=lambda _: 1.0, max_concurrent_examples=1
        ).cost_usd
        is None
    )

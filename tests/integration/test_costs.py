"""What sessions cost, against the fake provider (which reports each call's tokens): kept per
output, example, model, session and user, and read over GraphQL; and a session's budget,
which it stops at."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models import history
from models.engine import session_factory
from models.enums import EndReason, SessionStatus, VotingStrategy
from models.tables import SessionModelStats, TeacherOutput, TrainingExample, TrainingHistory
from tests.support import Account, graphql, graphql_data, make_account
from tests.support.fake_provider import FakeProvider, run_fake_provider
from trainer.estimate import estimate
from trainer.events import (
    CollectingSink,
    ExampleStarted,
    SessionFinished,
    SessionProgress,
    VoteCast,
)
from trainer.plan import make_plan
from trainer.session import RunnerOptions
from trainer.teachers.base import Teacher, TeacherConfig
from trainer.teachers.ensemble import build_ensemble
from trainer.training import train

PRICE_IN, PRICE_OUT = 400.0, 600.0  # USD per million tokens: large, so costs are readable


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with run_fake_provider() as fake:
        yield fake


def teacher(fake: FakeProvider, name: str, *, priced: bool = True) -> TeacherConfig:
    return TeacherConfig(
        name,
        "openai",
        f"{name}-model",
        fake.base_url("openai"),
        "KEY",
        input_price_per_mtok=PRICE_IN if priced else None,
        output_price_per_mtok=PRICE_OUT if priced else None,
    )


async def run(
    engine: AsyncEngine,
    account: Account,
    configs: Sequence[TeacherConfig],
    *,
    examples: int,
    concurrency: int = 4,
    max_cost_usd: float | None = None,
) -> tuple[TrainingHistory, CollectingSink, list[Teacher]]:
    built = build_ensemble(configs, env={"KEY": "k"})
    plan = make_plan(
        built,
        num_examples=examples,
        voting=VotingStrategy.JURY,
        seed=5,
        max_cost_usd=max_cost_usd,
    )
    sink = CollectingSink()
    try:
        finished = await train(
            session_factory(engine),
            account.id,
            plan,
            {teacher.name: teacher for teacher in built},
            lambda _: sink,
            options=RunnerOptions(concurrency),
        )
    finally:
        for built_teacher in built:
            await built_teacher.aclose()
    return finished, sink, built


def output_cost(output: TeacherOutput) -> float:
    prompt = (output.prompt_tokens or 0) + (output.judge_prompt_tokens or 0)
    completion = (output.completion_tokens or 0) + (output.judge_completion_tokens or 0)
    return (prompt * PRICE_IN + completion * PRICE_OUT) / 1_000_000


async def stored(
    engine: AsyncEngine, history_id: int
) -> tuple[TrainingHistory, list[TrainingExample], list[TeacherOutput], list[SessionModelStats]]:
    async with session_factory(engine)() as db:
        session = await db.get(TrainingHistory, history_id)
        assert session is not None
        examples = (
            await db.scalars(
                select(TrainingExample)
                .where(TrainingExample.history_id == history_id)
                .order_by(TrainingExample.index)
            )
        ).all()
        outputs = (
            await db.scalars(
                select(TeacherOutput)
                .join(TrainingExample, TrainingExample.id == TeacherOutput.example_id)
                .where(TrainingExample.history_id == history_id)
            )
        ).all()
        models = (
            await db.scalars(
                select(SessionModelStats).where(SessionModelStats.history_id == history_id)
            )
        ).all()
    return session, list(examples), list(outputs), list(models)


async def test_tokens_and_cost_add_up_from_outputs_to_the_user(
    engine: AsyncEngine, client: httpx.AsyncClient, fake: FakeProvider
) -> None:
    alice = await make_account(engine, "alice")
    configs = [teacher(fake, name) for name in ("ada", "bo", "cy")]
    finished, sink, built = await run(engine, alice, configs, examples=4)
    assert finished.status is SessionStatus.COMPLETED
    session, examples, outputs, models = await stored(engine, finished.id)

    # Each output's cost is its story's and its judging's tokens at the teacher's prices.
    assert len(outputs) == 12
    for output in outputs:
        assert output.prompt_tokens
        assert output.completion_tokens
        assert output.judge_prompt_tokens
        assert output.judge_completion_tokens
        assert output.cost_usd == pytest.approx(output_cost(output), abs=1e-9)
    # Examples, models and the session sum them.
    for example in examples:
        mine = [o for o in outputs if o.example_id == example.id]
        assert example.cost_usd == pytest.approx(sum(output_cost(o) for o in mine), abs=1e-9)
        assert example.prompt_tokens == sum(
            (o.prompt_tokens or 0) + (o.judge_prompt_tokens or 0) for o in mine
        )
    for model in models:
        mine = [o for o in outputs if o.model == model.model]
        assert model.cost_usd == pytest.approx(sum(output_cost(o) for o in mine), abs=1e-9)
        assert model.completion_tokens == sum(
            (o.completion_tokens or 0) + (o.judge_completion_tokens or 0) for o in mine
        )
    total = sum(output_cost(o) for o in outputs)
    assert session.cost_usd == pytest.approx(total, abs=1e-8)
    assert session.prompt_tokens == sum(e.prompt_tokens or 0 for e in examples)
    assert session.end_reason is EndReason.ALL_EXAMPLES_RUN
    # The live stream says so as it goes, and the last progress is the session's.
    progress = [e.event for e in sink.events if isinstance(e.event, SessionProgress)]
    assert progress[-1].cost_usd == pytest.approx(total, abs=1e-8)
    assert progress[-1].prompt_tokens == session.prompt_tokens
    assert [p.cost_usd or 0 for p in progress] == sorted(p.cost_usd or 0 for p in progress)

    # The estimate before a session is what it uses at most.
    at_most = estimate(
        built, VotingStrategy.JURY, 4, latency_ms=lambda _: 1.0, max_concurrent_examples=4
    )
    assert at_most.cost_usd is not None
    assert at_most.cost_usd >= total
    assert at_most.prompt_tokens >= (session.prompt_tokens or 0)

    async with session_factory(engine)() as db:
        stats = await history.training_stats(db, alice.id)
    assert stats.cost_usd == pytest.approx(total, abs=1e-8)
    assert stats.prompt_tokens == session.prompt_tokens
    assert stats.completion_tokens == session.completion_tokens
    assert stats.sessions_with_known_cost == 1

    data = await graphql_data(
        client,
        """query ($id: String!) {
          trainingSession(sessionId: $id) {
            promptTokens completionTokens costUsd endReason maxCostUsd
            modelPerformance { model promptTokens completionTokens costUsd }
            examples(first: 1) { edges { node {
              costUsd promptTokens outputs { model costUsd judgePromptTokens }
            } } }
          }
          trainingStats { promptTokens completionTokens costUsd sessionsWithKnownCost }
        }""",
        {"id": finished.session_id},
        account=alice,
    )
    read = data["trainingSession"]
    assert read["costUsd"] == pytest.approx(total, abs=1e-8)
    assert read["promptTokens"] == session.prompt_tokens
    assert read["endReason"] == "ALL_EXAMPLES_RUN"
    assert read["maxCostUsd"] is None
    assert sum(m["costUsd"] for m in read["modelPerformance"]) == pytest.approx(total, abs=1e-8)
    first = read["examples"]["edges"][0]["node"]
    assert first["costUsd"] == pytest.approx(examples[0].cost_usd, abs=1e-9)
    assert all(output["judgePromptTokens"] for output in first["outputs"])
    assert data["trainingStats"]["sessionsWithKnownCost"] == 1
    assert data["trainingStats"]["costUsd"] == pytest.approx(total, abs=1e-8)


async def test_a_teacher_without_a_price_leaves_the_cost_unknown(
    engine: AsyncEngine, client: httpx.AsyncClient, fake: FakeProvider
) -> None:
    alice = await make_account(engine, "alice")
    priced, _, _ = await run(engine, alice, [teacher(fake, "ada")], examples=1)
    configs = [teacher(fake, "ada"), teacher(fake, "free", priced=False)]
    unpriced, _, _ = await run(engine, alice, configs, examples=2)
    session, _, _, models = await stored(engine, unpriced.id)
    assert session.cost_usd is None
    assert session.prompt_tokens
    costs = {model.model: model.cost_usd for model in models}
    assert costs["ada"] is not None
    assert costs["free"] is None

    data = await graphql_data(
        client,
        """query ($id: String!) {
          trainingSession(sessionId: $id) { costUsd modelPerformance { model costUsd } }
          trainingStats { totalSessions costUsd sessionsWithKnownCost promptTokens }
          qualityTrend(days: 1) { sessions costUsd promptTokens }
        }""",
        {"id": unpriced.session_id},
        account=alice,
    )
    assert data["trainingSession"]["costUsd"] is None
    by_model = {m["model"]: m["costUsd"] for m in data["trainingSession"]["modelPerformance"]}
    assert by_model["free"] is None
    assert by_model["ada"] == pytest.approx(costs["ada"])
    # The totals: the priced session's cost; everyone's tokens.
    stats = data["trainingStats"]
    assert stats["totalSessions"] == 2
    assert stats["sessionsWithKnownCost"] == 1
    assert stats["costUsd"] == pytest.approx(priced.cost_usd)
    assert stats["promptTokens"] == (priced.prompt_tokens or 0) + (session.prompt_tokens or 0)
    [today] = data["qualityTrend"]
    assert today["sessions"] == 2
    assert today["costUsd"] == pytest.approx(priced.cost_usd)
    assert today["promptTokens"] == stats["promptTokens"]


def admitted_in_turn(costs: list[float], estimate_usd: float, max_cost: float) -> bool:
    """Whether each example, run one at a time, was projected within `max_cost` when it
    started: the spent so far plus one more at the average so far (the estimate before the
    first)."""
    spent = 0.0
    for done, cost in enumerate(costs):
        per_example = spent / done if done else estimate_usd
        if spent + per_example > max_cost + 1e-9:
            return False
        spent += cost
    return True


async def test_a_session_stops_before_an_example_would_pass_its_budget(
    engine: AsyncEngine, client: httpx.AsyncClient, fake: FakeProvider
) -> None:
    alice = await make_account(engine, "alice")
    configs = [teacher(fake, name) for name in ("ada", "bo", "cy")]
    built = build_ensemble(configs, env={"KEY": "k"})
    one_example = estimate(
        built, VotingStrategy.JURY, 1, latency_ms=lambda _: 1.0, max_concurrent_examples=1
    ).cost_usd
    assert one_example is not None
    max_cost = one_example * 1.5
    finished, sink, _ = await run(
        engine, alice, configs, examples=30, concurrency=1, max_cost_usd=max_cost
    )
    session, examples, _, _ = await stored(engine, finished.id)
    assert session.status is SessionStatus.COMPLETED
    assert session.end_reason is EndReason.BUDGET_REACHED
    assert session.max_cost_usd == pytest.approx(max_cost)
    costs = [example.cost_usd or 0.0 for example in examples]
    assert 1 < len(costs) < 30
    assert [example.index for example in examples] == list(range(len(costs)))
    assert admitted_in_turn(costs, one_example, max_cost)
    # The next example, at the average so far, would have passed the budget.
    assert sum(costs) * (len(costs) + 1) / len(costs) > max_cost
    assert session.cost_usd == pytest.approx(sum(costs), abs=1e-8)
    assert sink.events[-1].event == SessionFinished(
        status=SessionStatus.COMPLETED, end_reason=EndReason.BUDGET_REACHED
    )

    data = await graphql_data(
        client,
        "query ($id: String!) { trainingSession(sessionId: $id) { status endReason maxCostUsd } }",
        {"id": finished.session_id},
        account=alice,
    )
    assert data["trainingSession"] == {
        "status": "COMPLETED",
        "endReason": "BUDGET_REACHED",
        "maxCostUsd": pytest.approx(max_cost),
    }
    answer = await client.get(
        f"/api/training-history/session/{finished.session_id}", headers=alice.headers
    )
    assert answer.json()["endReason"] == "BUDGET_REACHED"


async def test_examples_in_flight_count_against_the_budget(
    engine: AsyncEngine, fake: FakeProvider
) -> None:
    alice = await make_account(engine, "alice")
    configs = [teacher(fake, name) for name in ("ada", "bo")]
    built = build_ensemble(configs, env={"KEY": "k"})
    one_example = estimate(
        built, VotingStrategy.JURY, 1, latency_ms=lambda _: 1.0, max_concurrent_examples=1
    ).cost_usd
    assert one_example is not None
    # Eight at a time, but the estimate lets only two start before the first has finished.
    finished, sink, _ = await run(
        engine, alice, configs, examples=40, concurrency=8, max_cost_usd=one_example * 2.5
    )
    assert finished.end_reason is EndReason.BUDGET_REACHED
    assert finished.cost_usd is not None
    assert finished.cost_usd < one_example * 2.5 + one_example
    first_vote = next(n for n, e in enumerate(sink.events) if isinstance(e.event, VoteCast))
    started = [e for e in sink.events[:first_vote] if isinstance(e.event, ExampleStarted)]
    assert len(started) == 2


async def test_start_training_refuses_a_budget_it_cannot_keep(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    body: dict[str, Any] = await graphql(
        client,
        "mutation { startTraining(input: {numExamples: 2, maxCostUsd: 0}) { sessionId } }",
        account=alice,
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "maxCostUsd"

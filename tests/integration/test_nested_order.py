"""Lists read with the row that holds them, as JSON arrays (models.json_rows), come in the
order their own statement would give: figures per model by most wins then model, outputs
by model, votes as cast, on every backend."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models import examples, history
from models.engine import session_factory
from models.tables import SessionModelStats, TeacherOutput, TrainingExample, Vote
from tests.support import make_account
from tests.support.factories import add_session

# Stored out of their order: ties on wins, models after the ones they sort before.
STATS = [("omega", 2), ("kappa", 1), ("iota", 2), ("lambda", 5)]
MODELS = ["zeta", "eta", "theta", "epsilon"]
# More than nine votes, so that ids of one and two digits are compared.
VOTERS = [f"voter-{number}" for number in range(12)]


async def test_nested_lists_come_in_their_statements_order(engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    session = await add_session(engine, alice.id, examples=1)
    async with session_factory(engine)() as db:
        example_id = (
            await db.scalars(
                select(TrainingExample.id).where(TrainingExample.history_id == session.id)
            )
        ).one()
        db.add_all(
            SessionModelStats(history_id=session.id, model=model, wins=wins, total_quality=1.0)
            for model, wins in STATS
        )
        db.add_all(TeacherOutput(example_id=example_id, model=model) for model in MODELS)
        for voter in VOTERS:  # one at a time, so that their ids follow this order
            db.add(Vote(example_id=example_id, voter=voter, candidate="alpha"))
            await db.flush()
        await db.commit()

    async with session_factory(engine)() as db:
        stored = await db.scalars(
            select(SessionModelStats).where(SessionModelStats.history_id == session.id)
        )
        expected = sorted(stored, key=lambda each: (-each.wins, each.model))
        stats = (await history.model_stats_for(db, [session.id]))[session.id]
        pages = await examples.first_example_pages(
            db, [session.id], 5, ["index"], votes=True, outputs=["model", "latency_ms"]
        )
        votes = examples.votes_in(db, pages.values())[example_id]
        outputs = examples.outputs_in(db, pages.values())[example_id]

    # The factory's own models are alpha, beta and gamma, with figures and outputs.
    assert len(expected) == 7
    assert [(each.model, each.wins) for each in stats] == [
        (each.model, each.wins) for each in expected
    ]
    assert [output["model"] for output in outputs] == sorted(["alpha", "beta", "gamma", *MODELS])
    assert [vote["voter"] for vote in votes] == ["beta", "gamma", *VOTERS]

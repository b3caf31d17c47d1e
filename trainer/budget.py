"""A session's spending limit (`maxCostUsd`): no example starts whose projected cost would
pass it.

An example's projected cost is what the session's examples have cost on average so far,
or, before the first has finished, the estimate of what one costs at most
(trainer/estimate.py). Examples in flight count at that cost until they finish. Once an
example may not start, the session takes no more: it ends with the budget reached.

A teacher without a price would leave the cost unknown, so a budget needs every teacher's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from models.enums import VotingStrategy
from models.errors import BadUserInput
from trainer.estimate import example_spend
from trainer.tally import SessionTally
from trainer.teachers.base import Teacher


def example_cost_at_most(
    teachers: Sequence[Teacher], voting: VotingStrategy, max_cost_usd: float
) -> float:
    """What one example costs at most, checked against a budget of `max_cost_usd`.

    Raises BadUserInput when a teacher has no price (the cost could not be known) or when
    the budget does not cover one example.
    """
    if not max_cost_usd > 0:
        raise BadUserInput(
            f"`maxCostUsd` must be more than 0; got {max_cost_usd:g}.", field="maxCostUsd"
        )
    unpriced = [teacher.name for teacher in teachers if not teacher.config.priced]
    if unpriced:
        raise BadUserInput(
            f"`maxCostUsd` needs every teacher's price, and {', '.join(unpriced)} "
            "has none: set input_price_per_mtok and output_price_per_mtok in the teachers "
            "file, or leave those teachers out.",
            field="maxCostUsd",
        )
    cost = example_spend(teachers, voting).cost_usd or 0.0
    if cost > max_cost_usd:
        raise BadUserInput(
            f"`maxCostUsd` of ${max_cost_usd:g} does not cover one example, which may cost "
            f"up to ${cost:.6f} with these teachers.",
            field="maxCostUsd",
        )
    return cost


class Budget:
    """Decides, as each example is about to start, whether the session can afford it.

    An example that does not fit while others are in flight waits for them: they may cost
    less than projected (the first examples are projected at the estimate, which is what an
    example costs at most). One that does not fit with none in flight ends the session's
    taking. Examples are decided in the order they ask, so the examples run are the first.
    """

    def __init__(
        self, max_cost_usd: float, estimate_usd: float, *, spent_usd: float = 0.0, finished: int = 0
    ) -> None:
        self._max = max_cost_usd
        self._estimate = estimate_usd
        self._spent = spent_usd
        self._finished = finished
        self._in_flight = 0
        self._changed = asyncio.Condition()
        self._asked = 0
        self._decided = 0
        self.reached = False

    @property
    def per_example(self) -> float:
        """An example's projected cost."""
        return self._spent / self._finished if self._finished else self._estimate

    def _fits(self) -> bool:
        return self._spent + (self._in_flight + 1) * self.per_example <= self._max

    async def admit(self) -> bool:
        """Whether the next example may start; once it may, it counts as in flight."""
        async with self._changed:
            turn = self._asked
            self._asked += 1
            await self._changed.wait_for(
                lambda: (
                    turn == self._decided and (self.reached or self._fits() or self._in_flight == 0)
                )
            )
            self._decided += 1
            admitted = not self.reached and self._fits()
            if admitted:
                self._in_flight += 1
            else:
                self.reached = True
            self._changed.notify_all()
            return admitted

    async def finished(self, cost_usd: float | None) -> None:
        """An example in flight finished having cost `cost_usd` (None: not known, so
        counted at the estimate)."""
        async with self._changed:
            self._in_flight -= 1
            self._finished += 1
            self._spent += self._estimate if cost_usd is None else cost_usd
            self._changed.notify_all()


def session_budget(
    max_cost_usd: float | None,
    teachers: Sequence[Teacher],
    voting: VotingStrategy,
    tally: SessionTally,
) -> Budget | None:
    """The budget of a session with `max_cost_usd`, having run the examples of `tally`."""
    if max_cost_usd is None:
        return None
    estimate = example_spend(teachers, voting).cost_usd or 0.0
    spent = tally.spend.cost_usd
    return Budget(
        max_cost_usd,
        estimate,
        spent_usd=estimate * tally.finished if spent is None else spent,
        finished=tally.finished,
    )

"""What a session's calls used: tokens and dollars, summed over each teacher's output, each
example, each model and the whole session.

Tokens are those the providers reported. A cost is None when it is not known (a teacher
without a price, or an answer whose tokens its provider did not report), and a sum with an
unknown part is unknown: None means unknown, never zero. A call that got no answer counts
as costing nothing, since providers bill answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainer.teachers.base import TeacherConfig

# Costs are kept to the nano-dollar, as the database stores them (DECIMAL(20, 9)).
COST_DECIMALS = 9


@dataclass(frozen=True)
class Spend:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0

    def __add__(self, other: Spend) -> Spend:
        cost = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else round(self.cost_usd + other.cost_usd, COST_DECIMALS)
        )
        return Spend(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            cost,
        )


def call_spend(
    config: TeacherConfig,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    *,
    answered: bool,
) -> Spend:
    """What one call to the teacher of `config` used, by the counts its provider reported."""
    if not answered:
        return Spend(cost_usd=0.0 if config.priced else None)
    cost = config.cost_usd(prompt_tokens, completion_tokens)
    return Spend(
        prompt_tokens or 0,
        completion_tokens or 0,
        None if cost is None else round(cost, COST_DECIMALS),
    )

"""What a session would take before it starts: its time, its tokens and its cost.

Each teacher writes every example's story and, with a JURY vote, judges the others'. A call
is counted as its pacing counts it (trainer/teachers/pacing.py): its estimated prompt plus
the most it may answer, `max_tokens`, and a judge reads every other teacher's story at
its most. So the tokens and the cost are what a session uses at most, when its prompts are
the catalog's longest, not a forecast of what it will use; a budget checked against them
is not passed.

The time is the longer of two: examples run `max_concurrent_examples` at a time, each as
slow as its slowest teacher, twice over for a JURY vote; and no teacher's calls go faster
than its limits let them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.enums import VotingStrategy
from trainer.catalog import GENRE_LABELS, PROMPTS, STYLES
from trainer.example import SYSTEM
from trainer.spend import COST_DECIMALS, Spend
from trainer.teachers.base import Candidate, JudgeRequest, Teacher, TeacherConfig
from trainer.teachers.http import JUDGE_SYSTEM, HttpTeacher, judging_prompt
from trainer.teachers.pacing import estimated_tokens

# Without observations yet: a typical hosted model's time for a story of a few hundred words.
ASSUMED_LATENCY_MS = 3000.0

_LONGEST_SYSTEM = max(
    (SYSTEM.format(genre=label.lower()) for label in GENRE_LABELS.values()), key=len
)
_LONGEST_PROMPT = max((prompt for prompts in PROMPTS.values() for prompt in prompts), key=len)
_WRITING_PROMPT_TOKENS = estimated_tokens(_LONGEST_SYSTEM) + estimated_tokens(
    f"{_LONGEST_PROMPT}\nStyle: {max(STYLES, key=len)}."
)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    # At most, for every example together; the cost None when a teacher has no price.
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None

    @property
    def spend(self) -> Spend:
        return Spend(self.prompt_tokens, self.completion_tokens, self.cost_usd)


@dataclass(frozen=True)
class _Call:
    prompt_tokens: int
    completion_tokens: int


def _calls(teacher: Teacher, others: Sequence[Teacher], voting: VotingStrategy) -> list[_Call]:
    """The calls `teacher` makes for one example, at their largest."""
    calls = [_Call(_WRITING_PROMPT_TOKENS, teacher.config.max_tokens)]
    if voting is VotingStrategy.JURY and others:
        # The judging prompt around the stories, and each story at its longest.
        frame = judging_prompt(
            JudgeRequest(
                _LONGEST_PROMPT,
                tuple(Candidate(chr(ord("A") + i), "") for i in range(len(others))),
            )
        )
        stories = sum(other.config.max_tokens for other in others)
        answer = teacher.judge_max_tokens if isinstance(teacher, HttpTeacher) else 1
        calls.append(
            _Call(estimated_tokens(JUDGE_SYSTEM) + estimated_tokens(frame) + stories, answer)
        )
    return calls


def example_spend(teachers: Sequence[Teacher], voting: VotingStrategy) -> Spend:
    """What one example uses at most."""
    total = Spend()
    for teacher in teachers:
        others = [other for other in teachers if other is not teacher]
        for call in _calls(teacher, others, voting):
            cost = teacher.config.cost_usd(call.prompt_tokens, call.completion_tokens)
            total = total + Spend(call.prompt_tokens, call.completion_tokens, cost)
    return total


def _paced_seconds(config: TeacherConfig, calls: Sequence[_Call]) -> float:
    """The least time the teacher's limits allow one example's calls."""
    seconds = 0.0
    if config.requests_per_minute is not None:
        seconds = len(calls) * 60 / config.requests_per_minute
    if config.tokens_per_minute is not None:
        tokens = sum(call.prompt_tokens + call.completion_tokens for call in calls)
        seconds = max(seconds, tokens * 60 / config.tokens_per_minute)
    return seconds


def estimate(
    teachers: Sequence[Teacher],
    voting: VotingStrategy,
    num_examples: int,
    *,
    latency_ms: Callable[[Teacher], float],
    max_concurrent_examples: int,
) -> Estimate:
    """What a session of `num_examples` with these teachers takes; `latency_ms` is each
    teacher's expected time for a call."""
    rounds = 2 if voting is VotingStrategy.JURY else 1
    per_example_s = max(latency_ms(teacher) for teacher in teachers) * rounds / 1000
    waves = math.ceil(num_examples / max_concurrent_examples)
    paced_s = max(
        _paced_seconds(
            teacher.config,
            _calls(teacher, [other for other in teachers if other is not teacher], voting),
        )
        for teacher in teachers
    )
    spend = example_spend(teachers, voting)
    cost = spend.cost_usd
    return Estimate(
        seconds=round(max(waves * per_example_s, num_examples * paced_s), 1),
        prompt_tokens=spend.prompt_tokens * num_examples,
        completion_tokens=spend.completion_tokens * num_examples,
        cost_usd=None if cost is None else round(cost * num_examples, COST_DECIMALS),
    )

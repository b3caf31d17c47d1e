"""One example: every teacher writes the story, invalid outputs are set aside, the ensemble
votes, and the winner is scored. Nothing here touches the database."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from models.enums import VotingStrategy
from trainer.catalog import GENRE_LABELS, Sample
from trainer.events import (
    Emitter,
    ExampleFailed,
    ExampleScored,
    ExampleStarted,
    TeacherResponded,
    VoteCast,
)
from trainer.quality import final_quality, text_quality
from trainer.spend import Spend, call_spend
from trainer.teachers.base import GenerationRequest, Teacher, TeacherConfig, TeacherError, Verdict
from trainer.validity import invalid_reason
from trainer.voting import ScoredOutput, VoteResult, vote

# A story is a few hundred words; an answer far longer is a teacher gone wrong, and is kept
# (and judged) only up to here.
MAX_OUTPUT_CHARS = 32_000

SYSTEM = (
    "You are a skilled fiction writer. Write one complete, original story in the {genre} genre, "
    "of about 120 to 250 words. Answer with the story only: no title, no preamble, no "
    "commentary."
)


def writing_request(sample: Sample, seed: int) -> GenerationRequest:
    prompt = sample.prompt if not sample.style else f"{sample.prompt}\nStyle: {sample.style}."
    return GenerationRequest(
        system=SYSTEM.format(genre=GENRE_LABELS[sample.genre].lower()), prompt=prompt, seed=seed
    )


@dataclass(frozen=True)
class OutputRecord:
    """What one teacher gave for one example; `error` says why it did not take part, and
    `truncated` that `text` is the first `max_output_chars` of a longer answer.

    Its tokens are its story's and, with a JURY vote, its judging's; `cost_usd` is what both
    calls cost (None when not known, see trainer/spend.py)."""

    teacher: str
    text: str | None
    latency_ms: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    text_quality: float | None = None
    error: str | None = None
    judge_prompt_tokens: int | None = None
    judge_completion_tokens: int | None = None
    cost_usd: float | None = None
    truncated: bool = False

    @property
    def spend(self) -> Spend:
        return Spend(
            (self.prompt_tokens or 0) + (self.judge_prompt_tokens or 0),
            (self.completion_tokens or 0) + (self.judge_completion_tokens or 0),
            self.cost_usd,
        )

    def with_verdict(self, verdict: Verdict, config: TeacherConfig) -> OutputRecord:
        """This output with what its teacher's judging call used added."""
        # A judge that failed, or abstained with no tokens reported, is counted as unanswered.
        answered = any(
            value is not None
            for value in (verdict.label, verdict.prompt_tokens, verdict.completion_tokens)
        )
        judging = call_spend(
            config, verdict.prompt_tokens, verdict.completion_tokens, answered=answered
        )
        return replace(
            self,
            judge_prompt_tokens=verdict.prompt_tokens,
            judge_completion_tokens=verdict.completion_tokens,
            cost_usd=(Spend(cost_usd=self.cost_usd) + judging).cost_usd,
        )


@dataclass(frozen=True)
class ExampleOutcome:
    index: int
    sample: Sample
    outputs: tuple[OutputRecord, ...]
    result: VoteResult | None
    text: str | None = None
    text_quality: float | None = None
    final_quality: float | None = None
    best_parameters: dict[str, Any] | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.result is not None

    @property
    def winner(self) -> str | None:
        return self.result.winner if self.result else None

    @property
    def confidence(self) -> float | None:
        return self.result.confidence if self.result else None

    def scored(self, *, saved_to_database: bool, stored_in_memory: bool) -> ExampleScored:
        """The event of this example's success, once it is recorded."""
        if (
            self.result is None
            or self.text is None
            or self.text_quality is None
            or self.final_quality is None
        ):
            raise ValueError(f"example {self.index} has no winner: {self.error}")
        return ExampleScored(
            index=self.index,
            winner=self.result.winner,
            text_quality=self.text_quality,
            confidence=self.result.confidence,
            final_quality=self.final_quality,
            saved_to_database=saved_to_database,
            stored_in_memory=stored_in_memory,
            text=self.text,
        )

    def failed(self) -> ExampleFailed:
        """The event of this example's failure, once it is recorded."""
        if self.error is None:
            raise ValueError(f"example {self.index} did not fail")
        return ExampleFailed(index=self.index, error=self.error)

    @property
    def spend(self) -> Spend:
        """What every call of this example used."""
        return sum((output.spend for output in self.outputs), Spend())

    def weakest_valid_output(self) -> OutputRecord | None:
        """The lowest-scored valid output other than the winner: a preference pair's loser."""
        losers = [
            output
            for output in self.outputs
            if output.error is None and output.teacher != self.winner
        ]
        return min(losers, key=lambda o: (o.text_quality or 0.0, o.teacher), default=None)


def example_seed(session_seed: int, index: int) -> int:
    return random.Random(f"{session_seed}:{index}").randrange(2**31)


async def _write(teacher: Teacher, request: GenerationRequest, max_chars: int) -> OutputRecord:
    started = time.perf_counter()
    try:
        generation = await teacher.generate(request)
    except TeacherError as error:
        elapsed = round((time.perf_counter() - started) * 1000)
        unanswered = call_spend(teacher.config, None, None, answered=False)
        return OutputRecord(
            teacher.name, None, elapsed, error=error.reason, cost_usd=unanswered.cost_usd
        )
    # Cut before anything reads it: validity, scoring, the vote and storage see the same text.
    text = generation.text[:max_chars]
    reason = invalid_reason(text)
    spend = call_spend(
        teacher.config, generation.prompt_tokens, generation.completion_tokens, answered=True
    )
    return OutputRecord(
        teacher=teacher.name,
        text=text,
        latency_ms=generation.latency_ms,
        prompt_tokens=generation.prompt_tokens,
        completion_tokens=generation.completion_tokens,
        text_quality=None if reason else text_quality(text),
        error=f"invalid: {reason}" if reason else None,
        cost_usd=spend.cost_usd,
        truncated=len(generation.text) > max_chars,
    )


async def run_example(
    index: int,
    sample: Sample,
    teachers: Sequence[Teacher],
    voting: VotingStrategy,
    session_seed: int,
    emitter: Emitter,
    *,
    max_output_chars: int = MAX_OUTPUT_CHARS,
) -> ExampleOutcome:
    """Write, check, vote and score one example, emitting its events as they happen; each
    teacher's answer is kept up to `max_output_chars`."""
    seed = example_seed(session_seed, index)
    await emitter.emit(
        ExampleStarted(index=index, genre=sample.genre, prompt=sample.prompt, style=sample.style)
    )
    request = writing_request(sample, seed)
    outputs: list[OutputRecord] = []
    writes = [_write(teacher, request, max_output_chars) for teacher in teachers]
    for finished in asyncio.as_completed(writes):
        output = await finished
        outputs.append(output)
        await emitter.emit(
            TeacherResponded(
                index=index,
                model=output.teacher,
                ok=output.error is None,
                latency_ms=output.latency_ms,
                text_quality=output.text_quality,
                error=output.error,
            )
        )
    outputs.sort(key=lambda output: output.teacher)
    valid = [
        ScoredOutput(o.teacher, o.text, o.text_quality)
        for o in outputs
        if o.error is None and o.text is not None and o.text_quality is not None
    ]
    if not valid:
        reasons = "; ".join(f"{o.teacher}: {o.error}" for o in outputs) or "no teachers"
        return ExampleOutcome(
            index, sample, tuple(outputs), None, error=f"no valid output ({reasons})"
        )

    judges: Mapping[str, Teacher] = {teacher.name: teacher for teacher in teachers}
    result = await vote(valid, voting, prompt=sample.prompt, rng=random.Random(seed), judges=judges)
    for cast in result.votes:
        await emitter.emit(VoteCast(index=index, voter=cast.voter, candidate=cast.candidate))
    judged = tuple(
        output.with_verdict(result.verdicts[output.teacher], judges[output.teacher].config)
        if output.teacher in result.verdicts
        else output
        for output in outputs
    )
    winner = next(output for output in valid if output.teacher == result.winner)
    config = judges[result.winner].config
    return ExampleOutcome(
        index=index,
        sample=sample,
        outputs=judged,
        result=result,
        text=winner.text,
        text_quality=winner.text_quality,
        final_quality=final_quality(winner.text_quality, result.confidence),
        best_parameters={
            "winning_model": result.winner,
            "ensemble_confidence": result.confidence,
            "model_scores": result.model_scores,
            "generation_params": {
                "model": config.model,
                "temperature": config.temperature,
                "top_p": config.top_p,
                "max_tokens": config.max_tokens,
            },
        },
    )

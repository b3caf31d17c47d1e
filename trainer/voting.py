"""The ensemble's vote over the valid outputs of one example.

JURY       every teacher with a valid output judges the others' outputs, anonymised and
           shuffled per judge so that neither position nor self-preference sways it
CONSENSUS  each output votes for the other output most similar to it; no calls
QUALITY    the highest text quality wins; no calls, no votes

Ties go to the higher text quality, then to the lexicographically lower teacher name.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

from rapidfuzz import fuzz, utils

from models.enums import VotingStrategy
from trainer.teachers.base import Candidate, JudgeRequest, Teacher, TeacherError, Verdict


@dataclass(frozen=True)
class ScoredOutput:
    """A valid output of one teacher and its text quality."""

    teacher: str
    text: str
    text_quality: float


@dataclass(frozen=True)
class Vote:
    voter: str
    candidate: str


@dataclass(frozen=True)
class VoteResult:
    """The winner, the votes cast, the winner's confidence (0-1) and every teacher's score;
    with JURY, each judge's verdict too, for what its call used."""

    winner: str
    votes: tuple[Vote, ...]
    confidence: float
    model_scores: dict[str, float]
    verdicts: dict[str, Verdict] = field(default_factory=dict)


async def vote(
    outputs: Sequence[ScoredOutput],
    strategy: VotingStrategy = VotingStrategy.JURY,
    *,
    prompt: str,
    rng: random.Random,
    judges: Mapping[str, Teacher] | None = None,
) -> VoteResult:
    """Pick the winner among `outputs`; JURY needs a judge for every output's teacher.

    `rng` shuffles what each judge sees and seeds the judges, so a seeded session votes
    the same way twice when its judges are deterministic.
    """
    if not outputs:
        raise ValueError("no valid outputs to vote on")
    names = [output.teacher for output in outputs]
    if len(set(names)) != len(names):
        raise ValueError(f"each teacher may have one output, got {names}")
    if strategy is VotingStrategy.QUALITY:
        return _quality_result(outputs)
    if strategy is VotingStrategy.CONSENSUS:
        return _tally(outputs, _consensus_ballots(outputs))
    judges = judges or {}
    missing = [name for name in names if name not in judges]
    if missing:
        raise ValueError(f"JURY needs a judge for every output; missing: {missing}")
    hearings = await _jury_verdicts(outputs, judges, prompt, rng)
    return replace(_tally(outputs, _ballots(hearings)), verdicts=_by_voter(hearings))


def _ranking_key(output: ScoredOutput) -> tuple[float, str]:
    """Orders outputs best first among equals: higher text quality, then lower name."""
    return (-output.text_quality, output.teacher)


def _quality_result(outputs: Sequence[ScoredOutput]) -> VoteResult:
    winner = min(outputs, key=_ranking_key)
    beaten = sum(1 for output in outputs if output.text_quality < winner.text_quality)
    return VoteResult(
        winner=winner.teacher,
        votes=(),
        confidence=beaten / (len(outputs) - 1) if len(outputs) > 1 else 0.0,
        model_scores={output.teacher: output.text_quality / 10 for output in outputs},
    )


def _tally(outputs: Sequence[ScoredOutput], ballots: Sequence[Vote]) -> VoteResult:
    received = Counter(ballot.candidate for ballot in ballots)
    winner = min(outputs, key=lambda output: (-received[output.teacher], *_ranking_key(output)))
    possible = len(outputs) - 1
    return VoteResult(
        winner=winner.teacher,
        votes=tuple(ballots),
        confidence=received[winner.teacher] / possible if possible else 0.0,
        model_scores={
            output.teacher: received[output.teacher] / possible if possible else 0.0
            for output in outputs
        },
    )


def _consensus_ballots(outputs: Sequence[ScoredOutput]) -> list[Vote]:
    # token_sort_ratio compares the texts as bags of words, so the order of sentences
    # matters little, yet a length mismatch still costs; token_set_ratio would score a
    # short output whose words all appear in a long one as a perfect match, and let it
    # collect every vote.
    similarity: dict[frozenset[str], float] = {
        frozenset((a.teacher, b.teacher)): fuzz.token_sort_ratio(
            a.text, b.text, processor=utils.default_process
        )
        for a, b in combinations(outputs, 2)
    }
    ballots = []
    for voter in outputs:
        others = [output for output in outputs if output is not voter]
        if not others:
            continue
        choice = min(
            others,
            key=lambda other: (
                -similarity[frozenset((voter.teacher, other.teacher))],
                *_ranking_key(other),
            ),
        )
        ballots.append(Vote(voter=voter.teacher, candidate=choice.teacher))
    return ballots


def _label(index: int) -> str:
    """A, B, ... Z, AA, AB, ...: spreadsheet column names."""
    label = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        label = chr(ord("A") + remainder) + label
    return label


_Hearing = tuple[str, Verdict, Mapping[str, str]]


async def _jury_verdicts(
    outputs: Sequence[ScoredOutput],
    judges: Mapping[str, Teacher],
    prompt: str,
    rng: random.Random,
) -> list[_Hearing]:
    """Each judge's verdict, with the teachers its labels stood for."""
    # Every random draw happens here, in order, before any judge runs, so the shuffles do
    # not depend on which judge answers first.
    hearings = []
    for voter in outputs:
        others = [output for output in outputs if output is not voter]
        rng.shuffle(others)
        teacher_by_label = {_label(i): other.teacher for i, other in enumerate(others)}
        request = JudgeRequest(
            prompt=prompt,
            candidates=tuple(
                Candidate(label=_label(i), text=other.text) for i, other in enumerate(others)
            ),
            seed=rng.getrandbits(31),
        )
        hearings.append((voter.teacher, request, teacher_by_label))
    async with asyncio.TaskGroup() as group:
        tasks = [
            (voter, group.create_task(_verdict(judges[voter], request)), teacher_by_label)
            for voter, request, teacher_by_label in hearings
            if request.candidates
        ]
    return [(voter, task.result(), teacher_by_label) for voter, task, teacher_by_label in tasks]


async def _verdict(judge: Teacher, request: JudgeRequest) -> Verdict:
    try:
        return await judge.judge(request)
    except TeacherError:
        return Verdict(None)


def _ballots(hearings: Sequence[_Hearing]) -> list[Vote]:
    """The votes of the judges that named a candidate; the others abstained or failed."""
    ballots = []
    for voter, verdict, teacher_by_label in hearings:
        label = verdict.label
        candidate = teacher_by_label.get(label.strip().upper()) if label else None
        if candidate:
            ballots.append(Vote(voter=voter, candidate=candidate))
    return ballots


def _by_voter(hearings: Sequence[_Hearing]) -> dict[str, Verdict]:
    return {voter: verdict for voter, verdict, _ in hearings}

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence

import pytest

from models.enums import VotingStrategy
from trainer.quality import text_quality
from trainer.teachers.base import (
    Generation,
    GenerationRequest,
    JudgeRequest,
    Teacher,
    TeacherConfig,
    Timeout,
    Verdict,
)
from trainer.validity import invalid_reason
from trainer.voting import ScoredOutput, Vote, vote

Judging = Callable[[JudgeRequest], str | None]


class ScriptedJudge:
    """A stand-in for an LLM judge: answers with `verdict` and keeps what it was shown."""

    def __init__(self, name: str, verdict: Judging) -> None:
        self.config = TeacherConfig(name=name, provider="offline", model=f"scripted/{name}")
        self.verdict = verdict
        self.requests: list[JudgeRequest] = []

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def available(self) -> bool:
        return True

    @property
    def offline(self) -> bool:
        return True

    async def generate(self, request: GenerationRequest) -> Generation:
        raise AssertionError("the vote never asks for a story")

    async def judge(self, request: JudgeRequest) -> Verdict:
        self.requests.append(request)
        return Verdict(self.verdict(request))

    async def aclose(self) -> None:
        return None


def prefers(*texts: str) -> Judging:
    """Votes for the first of `texts` it is shown."""

    def verdict(request: JudgeRequest) -> str | None:
        shown = {candidate.text: candidate.label for candidate in request.candidates}
        return next((shown[text] for text in texts if text in shown), None)

    return verdict


def answers(label: str | None) -> Judging:
    return lambda request: label


def times_out(request: JudgeRequest) -> str | None:
    raise Timeout("judge timed out")


def outputs(*specs: tuple[str, float]) -> list[ScoredOutput]:
    """Outputs named after their teacher, whose text is "story by <teacher>"."""
    return [ScoredOutput(name, f"story by {name}", quality) for name, quality in specs]


def judges(**verdicts: Judging) -> dict[str, ScriptedJudge]:
    return {name: ScriptedJudge(name, verdict) for name, verdict in verdicts.items()}


async def jury(
    scored: Sequence[ScoredOutput], panel: Mapping[str, Teacher], seed: int = 0
) -> tuple[str, tuple[Vote, ...], float, dict[str, float]]:
    result = await vote(
        scored, VotingStrategy.JURY, prompt="the prompt", rng=random.Random(seed), judges=panel
    )
    return result.winner, result.votes, result.confidence, result.model_scores


async def test_jury_majority_wins() -> None:
    panel = judges(
        alpha=prefers("story by gamma"),
        beta=prefers("story by gamma"),
        gamma=prefers("story by alpha"),
    )
    winner, votes, confidence, scores = await jury(
        outputs(("alpha", 8.0), ("beta", 9.0), ("gamma", 7.0)), panel
    )
    assert winner == "gamma"
    assert votes == (
        Vote(voter="alpha", candidate="gamma"),
        Vote(voter="beta", candidate="gamma"),
        Vote(voter="gamma", candidate="alpha"),
    )
    assert confidence == 1.0
    assert scores == {"alpha": 0.5, "beta": 0.0, "gamma": 1.0}


async def test_each_judge_sees_the_others_anonymised_and_shuffled() -> None:
    names = ["alpha", "beta", "gamma", "delta", "epsilon"]
    scored = outputs(*((name, 8.0) for name in names))
    first_shown: dict[str, set[str]] = {name: set() for name in names}
    for seed in range(20):
        panel = judges(**{name: answers("A") for name in names})
        await jury(scored, panel, seed=seed)
        for name, judge in panel.items():
            (request,) = judge.requests
            assert request.prompt == "the prompt"
            labels = [candidate.label for candidate in request.candidates]
            assert labels == ["A", "B", "C", "D"]
            assert not set(labels) & set(names)
            texts = {candidate.text for candidate in request.candidates}
            assert texts == {f"story by {other}" for other in names if other != name}
            first_shown[name].add(request.candidates[0].text)
    # Over 20 shuffles every judge saw more than one story in first position.
    assert all(len(seen) > 1 for seen in first_shown.values())


async def test_labels_map_back_to_teachers_whatever_the_shuffle() -> None:
    scored = outputs(("alpha", 8.0), ("beta", 8.0), ("gamma", 8.0))
    for seed in range(10):
        panel = judges(
            alpha=prefers("story by beta"),
            beta=prefers("story by alpha"),
            gamma=prefers("story by beta"),
        )
        winner, votes, _, _ = await jury(scored, panel, seed=seed)
        assert winner == "beta"
        assert Vote("gamma", "beta") in votes


async def test_lower_case_and_padded_labels_count() -> None:
    panel = judges(alpha=answers(" a "), beta=answers("A"))
    winner, votes, _, _ = await jury(outputs(("alpha", 7.0), ("beta", 8.0)), panel)
    assert votes == (Vote("alpha", "beta"), Vote("beta", "alpha"))
    assert winner == "beta"


@pytest.mark.parametrize(
    "failing", [answers(None), answers("Z"), answers("beta"), answers(""), times_out]
)
async def test_a_judge_that_abstains_fails_or_answers_garbage_casts_no_vote(
    failing: Judging,
) -> None:
    panel = judges(
        alpha=failing,
        beta=prefers("story by gamma"),
        gamma=prefers("story by beta"),
    )
    winner, votes, confidence, scores = await jury(
        outputs(("alpha", 9.0), ("beta", 8.0), ("gamma", 7.0)), panel
    )
    assert votes == (Vote("beta", "gamma"), Vote("gamma", "beta"))
    # One vote each: the tie goes to the higher text quality.
    assert winner == "beta"
    assert confidence == 0.5
    assert scores == {"alpha": 0.0, "beta": 0.5, "gamma": 0.5}


async def test_everyone_abstaining_leaves_the_best_text_quality() -> None:
    panel = judges(alpha=answers(None), beta=times_out)
    winner, votes, confidence, _ = await jury(outputs(("alpha", 7.5), ("beta", 8.5)), panel)
    assert (winner, votes, confidence) == ("beta", (), 0.0)


async def test_a_vote_tie_goes_to_text_quality_then_to_the_lower_name() -> None:
    panel = judges(alpha=answers("A"), beta=answers("A"))
    assert (await jury(outputs(("beta", 9.0), ("alpha", 8.0)), panel))[0] == "beta"
    panel = judges(alpha=answers("A"), beta=answers("A"))
    assert (await jury(outputs(("beta", 8.0), ("alpha", 8.0)), panel))[0] == "alpha"


async def test_a_single_output_wins_without_a_hearing() -> None:
    panel = judges(alpha=answers("A"))
    winner, votes, confidence, scores = await jury(outputs(("alpha", 8.0)), panel)
    assert (winner, votes, confidence, scores) == ("alpha", (), 0.0, {"alpha": 0.0})
    assert panel["alpha"].requests == []


async def test_judges_run_concurrently() -> None:
    arrived = 0
    everyone_here = asyncio.Event()

    class WaitsForTheOthers(ScriptedJudge):
        async def judge(self, request: JudgeRequest) -> Verdict:
            nonlocal arrived
            arrived += 1
            if arrived == 3:
                everyone_here.set()
            await everyone_here.wait()
            return Verdict("A")

    panel = {name: WaitsForTheOthers(name, answers("A")) for name in ("a", "b", "c")}
    async with asyncio.timeout(2):
        await jury(outputs(("a", 8.0), ("b", 8.0), ("c", 8.0)), panel)


async def test_cancelling_the_vote_cancels_the_judges() -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    class Hangs(ScriptedJudge):
        async def judge(self, request: JudgeRequest) -> Verdict:
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            return Verdict(None)

    panel = {name: Hangs(name, answers(None)) for name in ("a", "b")}
    task = asyncio.create_task(jury(outputs(("a", 8.0), ("b", 8.0)), panel))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


async def test_a_judge_bug_is_not_swallowed() -> None:
    def broken(request: JudgeRequest) -> str | None:
        raise RuntimeError("bug")

    panel = judges(alpha=broken, beta=answers("A"))
    with pytest.raises(ExceptionGroup) as caught:
        await jury(outputs(("alpha", 8.0), ("beta", 8.0)), panel)
    assert caught.group_contains(RuntimeError)


async def test_the_same_seed_gives_judges_the_same_hearing() -> None:
    scored = outputs(("alpha", 8.0), ("beta", 8.0), ("gamma", 8.0), ("delta", 8.0))
    hearings = []
    for _ in range(2):
        panel = judges(**{o.teacher: answers("A") for o in scored})
        await jury(scored, panel, seed=11)
        hearings.append([judge.requests for judge in panel.values()])
    assert hearings[0] == hearings[1]


async def test_jury_needs_a_judge_for_every_output() -> None:
    with pytest.raises(ValueError, match="beta"):
        await jury(outputs(("alpha", 8.0), ("beta", 8.0)), judges(alpha=answers("A")))


@pytest.mark.parametrize("strategy", list(VotingStrategy))
async def test_nothing_to_vote_on_is_a_caller_error(strategy: VotingStrategy) -> None:
    with pytest.raises(ValueError, match="no valid outputs"):
        await vote([], strategy, prompt="p", rng=random.Random(0), judges={})


async def test_one_output_per_teacher() -> None:
    with pytest.raises(ValueError, match="one output"):
        await vote(
            outputs(("alpha", 8.0), ("alpha", 9.0)),
            VotingStrategy.QUALITY,
            prompt="p",
            rng=random.Random(0),
        )


async def consensus(scored: Sequence[ScoredOutput]) -> tuple[str, tuple[Vote, ...], float]:
    result = await vote(scored, VotingStrategy.CONSENSUS, prompt="p", rng=random.Random(0))
    return result.winner, result.votes, result.confidence


async def test_consensus_votes_for_the_most_similar_output() -> None:
    scored = [
        ScoredOutput("fox", "the quick brown fox jumps over the lazy dog", 7.0),
        ScoredOutput("fox-too", "the quick brown fox leaps over the lazy dog", 7.0),
        ScoredOutput("cat", "a cat leaps over the moon", 9.0),
    ]
    winner, votes, confidence = await consensus(scored)
    assert votes == (Vote("fox", "fox-too"), Vote("fox-too", "fox"), Vote("cat", "fox-too"))
    assert (winner, confidence) == ("fox-too", 1.0)


async def test_consensus_ignores_sentence_order() -> None:
    scored = [
        ScoredOutput("a", "The storm broke at noon. The ferry sank. Nobody was lost.", 8.0),
        ScoredOutput("b", "Nobody was lost. The ferry sank. The storm broke at noon.", 8.0),
        ScoredOutput("c", "The storm broke at noon and the ferry sank with everyone.", 8.0),
    ]
    _, votes, _ = await consensus(scored)
    assert Vote("a", "b") in votes
    assert Vote("b", "a") in votes


async def test_consensus_tie_goes_to_text_quality_then_name() -> None:
    scored = [
        ScoredOutput("voter", "alpha beta gamma", 8.0),
        ScoredOutput("plain", "alpha beta delta", 8.0),
        ScoredOutput("better", "alpha beta delta", 9.0),
    ]
    _, votes, _ = await consensus(scored)
    assert Vote("voter", "better") in votes
    scored[2] = ScoredOutput("also", "alpha beta delta", 8.0)
    _, votes, _ = await consensus(scored)
    assert Vote("voter", "also") in votes


async def test_consensus_with_one_output() -> None:
    assert await consensus(outputs(("solo", 8.0))) == ("solo", (), 0.0)


async def test_consensus_and_quality_make_no_calls() -> None:
    panel = judges(alpha=answers("A"), beta=answers("A"))
    for strategy in (VotingStrategy.CONSENSUS, VotingStrategy.QUALITY):
        await vote(
            outputs(("alpha", 8.0), ("beta", 9.0)),
            strategy,
            prompt="p",
            rng=random.Random(0),
            judges=panel,
        )
    assert all(judge.requests == [] for judge in panel.values())


async def quality(scored: Sequence[ScoredOutput]) -> tuple[str, tuple[Vote, ...], float]:
    result = await vote(scored, VotingStrategy.QUALITY, prompt="p", rng=random.Random(0))
    return result.winner, result.votes, result.confidence


async def test_quality_picks_the_highest_text_quality() -> None:
    scored = outputs(("alpha", 8.0), ("beta", 9.3), ("gamma", 7.0), ("delta", 8.5))
    result = await vote(scored, VotingStrategy.QUALITY, prompt="p", rng=random.Random(0))
    assert (result.winner, result.votes, result.confidence) == ("beta", (), 1.0)
    assert result.model_scores == pytest.approx(
        {"alpha": 0.8, "beta": 0.93, "gamma": 0.7, "delta": 0.85}
    )


async def test_quality_confidence_is_the_share_strictly_beaten() -> None:
    scored = outputs(("beta", 9.3), ("alpha", 9.3), ("gamma", 8.0), ("delta", 7.0))
    winner, _, confidence = await quality(scored)
    assert winner == "alpha"
    assert confidence == pytest.approx(2 / 3)


async def test_quality_all_equal_and_single() -> None:
    assert await quality(outputs(("b", 8.0), ("a", 8.0))) == ("a", (), 0.0)
    assert await quality(outputs(("solo", 8.0))) == ("solo", (), 0.0)


FINE = (
    "The ferryman waited at the black river long after the last lantern had gone out. "
    '"You are late," he told the girl who came down the steps, and she laughed, because '
    "she had crossed three kingdoms to be exactly this late. He took her coin, looked at "
    "it for a long moment, and gave it back."
)
PLAIN = (
    "A ferryman took a girl across the river of the dead and gave her back her coin "
    "because she had come so far to be late."
)
PLANTED = {
    "fine": FINE,
    "plain": PLAIN,
    "empty": "",
    "looping": "\n".join(["The river. The river. The river runs on and on."] * 8),
    "refusal": "I\u2019m sorry, but I can\u2019t write a story about the river of the dead. " * 3,
}
BAD = ("empty", "looping", "refusal")


@pytest.mark.parametrize("strategy", list(VotingStrategy))
async def test_invalid_outputs_are_filtered_before_the_vote_and_never_win(
    strategy: VotingStrategy,
) -> None:
    reasons = {name: invalid_reason(text) for name, text in PLANTED.items()}
    assert [name for name, reason in reasons.items() if reason] == list(BAD)
    assert text_quality(FINE) > text_quality(PLAIN)
    valid = [
        ScoredOutput(name, text, text_quality(text))
        for name, text in PLANTED.items()
        if reasons[name] is None
    ]
    # Every judge would pick a bad output if it were shown one.
    panel = judges(
        **{name: prefers(PLANTED["refusal"], PLANTED["looping"], FINE) for name in PLANTED}
    )
    result = await vote(valid, strategy, prompt="p", rng=random.Random(0), judges=panel)
    assert result.winner == "fine"
    assert set(result.model_scores) == {"fine", "plain"}
    assert all(panel[name].requests == [] for name in BAD)
    shown = {
        candidate.text
        for judge in panel.values()
        for request in judge.requests
        for candidate in request.candidates
    }
    assert shown <= {FINE, PLAIN}

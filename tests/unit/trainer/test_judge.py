"""Judging: the instruction sent, the label read back, and abstaining."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.fake_provider import TGI_MODEL, FakeProvider, error, reply, server_error
from trainer.teachers.anthropic import AnthropicTeacher
from trainer.teachers.base import Candidate, JudgeRequest, TeacherConfig
from trainer.teachers.gemini import GeminiTeacher
from trainer.teachers.http import JUDGE_MAX_TOKENS, HttpTeacher, judging_prompt, parse_label
from trainer.teachers.ollama import OllamaTeacher
from trainer.teachers.openai import OpenAITeacher
from trainer.teachers.retry import RetryPolicy
from trainer.teachers.tgi import TgiTeacher

LABELS = ("A", "B", "C")
REQUEST = JudgeRequest(
    prompt="A lighthouse keeper finds a door in the sea.",
    candidates=(
        Candidate("A", "The keeper opened the door."),
        Candidate("B", "The keeper opened the door, and the sea sang back to her all night."),
        Candidate("C", "Nothing happened."),
    ),
    seed=3,
)
TEACHER_TYPES: dict[str, type[HttpTeacher]] = {
    "openai": OpenAITeacher,
    "gemini": GeminiTeacher,
    "ollama": OllamaTeacher,
    "tgi": TgiTeacher,
    "anthropic": AnthropicTeacher,
}
# Where each protocol puts its sampling parameters, and its name for the token limit.
SAMPLING = {
    "openai": (None, "max_tokens"),
    "gemini": ("generationConfig", "maxOutputTokens"),
    "ollama": ("options", "num_predict"),
    "tgi": ("parameters", "max_new_tokens"),
    "anthropic": (None, "max_tokens"),
}
RETRY = RetryPolicy(max_attempts=2, base_wait_s=0.001, max_wait_s=0.01, max_total_s=1.0)


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("B", "B"),
        ("B.", "B"),
        ("**B**", "B"),
        ("(B)", "B"),
        ("Story B", "B"),
        ("story B is the best", "B"),
        ("Story **C**", "C"),
        ("The best story is Story C.", "C"),
        ("A clear winner: Story C", "C"),
        ("Answer: B\n\nIt has the most vivid imagery.", "B"),
        ("b", "B"),
        (" c. ", "C"),
        ("Story D", None),
        ("I cannot choose.", None),
        ("a story about the sea", None),
        ("", None),
    ],
)
def test_parse_label(answer: str, label: str | None) -> None:
    assert parse_label(answer, LABELS) == label


def test_parse_label_with_multi_letter_labels() -> None:
    assert parse_label("Story AB wins", ["A", "AB"]) == "AB"
    assert parse_label("A", ["A", "AB"]) == "A"


def test_parse_label_without_candidates() -> None:
    assert parse_label("A", []) is None


def test_judging_prompt_lists_the_stories_in_order() -> None:
    assert judging_prompt(REQUEST) == (
        "Prompt: A lighthouse keeper finds a door in the sea.\n\n"
        "Story A:\nThe keeper opened the door.\n\n"
        "Story B:\nThe keeper opened the door, and the sea sang back to her all night.\n\n"
        "Story C:\nNothing happened.\n\n"
        "Which story answers the prompt best? Answer with the letter of the best story only."
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _reset_fake(fake: FakeProvider) -> None:
    fake.reset()


@pytest.fixture(params=list(TEACHER_TYPES))
async def judge(request: pytest.FixtureRequest, fake: FakeProvider) -> AsyncIterator[HttpTeacher]:
    provider: str = request.param
    config = TeacherConfig(
        name=f"{provider}-judge",
        provider=provider,
        model=TGI_MODEL if provider == "tgi" else "judge-model",
        base_url=fake.base_url(provider),
        api_key_env=None if provider == "ollama" else "JUDGE_KEY",
        temperature=1.2,
        timeout_s=2.0,
    )
    teacher = TEACHER_TYPES[provider](config, env={"JUDGE_KEY": "k"}, retry=RETRY)
    yield teacher
    await teacher.aclose()


def model_of(judge: HttpTeacher) -> str:
    return judge.config.model


async def test_judge_votes_through_the_provider(fake: FakeProvider, judge: HttpTeacher) -> None:
    # The fake votes for the longest story.
    assert (await judge.judge(REQUEST)).label == "B"
    [sent] = fake.requests
    assert judging_prompt(REQUEST) in sent.prompt


async def test_judge_uses_low_temperature_and_few_tokens(
    fake: FakeProvider, judge: HttpTeacher
) -> None:
    await judge.judge(REQUEST)
    block, max_tokens = SAMPLING[judge.config.provider]
    body = fake.requests[0].json
    sampling = body[block] if block else body
    assert sampling["temperature"] == (0.01 if judge.config.provider == "tgi" else 0.0)
    # Gemini's thinking counts against its output limit, so its judges get room to think.
    expected = 1024 if judge.config.provider == "gemini" else JUDGE_MAX_TOKENS
    assert sampling[max_tokens] == expected
    assert sampling.get("seed", REQUEST.seed) == REQUEST.seed


@pytest.mark.parametrize("answer", ["**C**", "Story C.", "C"])
async def test_judge_reads_the_answer_variants(
    fake: FakeProvider, judge: HttpTeacher, answer: str
) -> None:
    fake.faults.plan(model_of(judge), reply(answer))
    assert (await judge.judge(REQUEST)).label == "C"


async def test_judge_abstains_on_an_unreadable_answer(
    fake: FakeProvider, judge: HttpTeacher
) -> None:
    fake.faults.plan(model_of(judge), reply("They are all lovely."))
    assert (await judge.judge(REQUEST)).label is None


async def test_judge_abstains_when_refused(fake: FakeProvider, judge: HttpTeacher) -> None:
    fake.faults.plan(model_of(judge), error(400, "bad request"))
    assert (await judge.judge(REQUEST)).label is None
    assert len(fake.requests) == 1


async def test_judge_retries_then_abstains(fake: FakeProvider, judge: HttpTeacher) -> None:
    fake.faults.plan(model_of(judge), server_error(503), server_error(503))
    assert (await judge.judge(REQUEST)).label is None
    assert len(fake.requests) == 2


async def test_judge_retries_then_votes(fake: FakeProvider, judge: HttpTeacher) -> None:
    fake.faults.plan(model_of(judge), server_error(500))
    assert (await judge.judge(REQUEST)).label == "B"


async def test_an_unavailable_judge_abstains_without_calling(fake: FakeProvider) -> None:
    config = TeacherConfig(
        name="no-key",
        provider="openai",
        model="m",
        base_url=fake.base_url("openai"),
        api_key_env="UNSET_KEY",
    )
    teacher = OpenAITeacher(config, env={}, retry=RETRY)
    assert (await teacher.judge(REQUEST)).label is None
    assert fake.requests == []
    await teacher.aclose()

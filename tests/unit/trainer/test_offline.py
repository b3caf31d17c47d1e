from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections import Counter
from typing import Any

import pytest

from models.enums import Genre
from trainer.catalog import PROMPTS, STYLES, Sample, Sampler
from trainer.quality import text_quality, words
from trainer.teachers.base import (
    Candidate,
    GenerationRequest,
    JudgeRequest,
    Teacher,
    TeacherConfig,
)
from trainer.teachers.offline import OfflineTeacher, offline_ensemble
from trainer.teachers.offline_lexicon import LEXICONS
from trainer.validity import invalid_reason

WEAK_TEACHER = "offline-apprentice"


@pytest.fixture
def teachers() -> list[OfflineTeacher]:
    return [OfflineTeacher(config) for config in offline_ensemble()]


def request_for(sample: Sample, seed: int | None = 0) -> GenerationRequest:
    return GenerationRequest(
        system=f"You are a storyteller. Write a {sample.genre.name} story {sample.style}.",
        prompt=sample.prompt,
        seed=seed,
    )


SAMPLES = Sampler(seed=2024).sample_many(50)
PLAIN = Sample(Genre.WESTERN, PROMPTS[Genre.WESTERN][0], "")


async def stories(teacher: OfflineTeacher, samples: list[Sample]) -> list[str]:
    return [
        (await teacher.generate(request_for(sample, seed=i))).text
        for i, sample in enumerate(samples)
    ]


def test_seven_distinct_offline_teachers() -> None:
    configs = offline_ensemble()
    assert len(configs) == 7
    assert len({config.name for config in configs}) == 7
    assert len({config.model for config in configs}) == 7
    assert {config.provider for config in configs} == {"offline"}
    assert all(config.name.startswith("offline-") for config in configs)
    assert all(config.model.startswith("offline/") for config in configs)


def test_an_offline_teacher_is_a_teacher(teachers: list[OfflineTeacher]) -> None:
    for teacher, config in zip(teachers, offline_ensemble(), strict=True):
        assert isinstance(teacher, Teacher)
        assert teacher.name == config.name
        assert teacher.available
        assert teacher.offline


def test_unknown_model_is_rejected() -> None:
    with pytest.raises(ValueError, match="offline/bard-1"):
        OfflineTeacher(TeacherConfig(name="x", provider="offline", model="offline/nope"))


async def test_equal_inputs_give_equal_text(teachers: list[OfflineTeacher]) -> None:
    request = request_for(SAMPLES[0], seed=7)
    for teacher in teachers:
        again = OfflineTeacher(teacher.config)
        assert (await teacher.generate(request)).text == (await again.generate(request)).text


async def test_seed_prompt_and_style_change_the_text(teachers: list[OfflineTeacher]) -> None:
    bard = teachers[0]
    sample = SAMPLES[0]
    other_prompt = next(p for p in PROMPTS[sample.genre] if p != sample.prompt)
    other_style = next(style for style in STYLES if style != sample.style)
    requests = [
        request_for(sample, seed=1),
        request_for(sample, seed=2),
        request_for(Sample(sample.genre, other_prompt, sample.style), seed=1),
        request_for(Sample(sample.genre, sample.prompt, other_style), seed=1),
    ]
    texts = {(await bard.generate(request)).text for request in requests}
    assert len(texts) == len(requests)


async def test_teachers_write_different_stories(teachers: list[OfflineTeacher]) -> None:
    for i, sample in enumerate(SAMPLES[:10]):
        texts = {(await t.generate(request_for(sample, seed=i))).text for t in teachers}
        assert len(texts) == 7


async def test_stories_follow_the_prompt_and_genre(teachers: list[OfflineTeacher]) -> None:
    lexicon = LEXICONS[Genre.WESTERN]
    genre_words = {*lexicon.places, *lexicon.objects, *(name for name, _ in lexicon.characters)}
    premise = PLAIN.prompt[1:].rstrip(".")
    for teacher in teachers:
        text = (await teacher.generate(request_for(PLAIN, seed=3))).text
        if invalid_reason(text):
            continue
        assert premise in text, teacher.name
        if teacher.name != "offline-minimalist":
            assert any(word in text for word in genre_words), teacher.name


@pytest.mark.parametrize(
    ("style", "sign"),
    [
        ("told in the second person", r"\byou\b"),
        ("in the form of letters", "^Dear "),
        ("as a series of diary entries", r"^Monday\."),
        ("as a fable with a moral at the end", "moral of the story"),
        ("as a captain's log", "^Captain's log"),
        ("told backwards, from the ending to the beginning", "backwards"),
        ("as a bedtime story", "^Once upon a time"),
    ],
)
async def test_stories_use_the_style_device(
    teachers: list[OfflineTeacher], style: str, sign: str
) -> None:
    sample = Sample(Genre.FANTASY, PROMPTS[Genre.FANTASY][3], style)
    for teacher in teachers:
        text = (await teacher.generate(request_for(sample, seed=5))).text
        if invalid_reason(text) is None:
            assert re.search(sign, text, re.IGNORECASE), teacher.name


async def test_genre_and_style_are_read_from_anywhere_in_the_request() -> None:
    bard = OfflineTeacher(offline_ensemble()[0])
    request = GenerationRequest(
        system="Genre: Western. Style: told in the second person.",
        prompt="A stranger rides into town on the day of the eclipse.",
    )
    text = (await bard.generate(request)).text
    assert "a stranger rides into town on the day of the eclipse" in text
    assert re.search(r"\byou\b", text)
    lexicon = LEXICONS[Genre.WESTERN]
    assert any(place in text for place in lexicon.places)


async def test_quality_and_length_differ_across_teachers(teachers: list[OfflineTeacher]) -> None:
    lengths: list[int] = []
    mean_quality = {}
    for teacher in teachers:
        texts = await stories(teacher, SAMPLES)
        lengths += map(len, texts)
        mean_quality[teacher.name] = statistics.mean(map(text_quality, texts))
    assert len(set(mean_quality.values())) == 7
    assert max(mean_quality.values()) - min(mean_quality.values()) > 0.5
    assert min(lengths) < 200
    assert any(200 <= length <= 800 for length in lengths)
    assert max(lengths) > 1200


async def test_dialogue_is_a_habit_of_some_teachers_only(teachers: list[OfflineTeacher]) -> None:
    plain = [Sample(s.genre, s.prompt, "") for s in SAMPLES[:20]]
    with_dialogue = Counter[str]()
    for teacher in teachers:
        with_dialogue[teacher.name] = sum('"' in text for text in await stories(teacher, plain))
    assert with_dialogue["offline-dramatist"] == 20
    assert with_dialogue["offline-chronicler"] == 0


async def test_the_weak_teacher_is_sometimes_invalid_the_rest_never(
    teachers: list[OfflineTeacher],
) -> None:
    for teacher in teachers:
        texts = await stories(teacher, SAMPLES + Sampler(seed=1).sample_many(50))
        invalid = [text for text in texts if invalid_reason(text)]
        if teacher.name == WEAK_TEACHER:
            assert 2 <= len(invalid) <= 25
        else:
            assert invalid == [], teacher.name


async def test_a_judge_never_picks_its_own_story(teachers: list[OfflineTeacher]) -> None:
    for i, sample in enumerate(SAMPLES[:10]):
        request = request_for(sample, seed=i)
        texts = [(await teacher.generate(request)).text for teacher in teachers]
        candidates = tuple(
            Candidate(label=chr(ord("A") + n), text=text) for n, text in enumerate(texts)
        )
        for own, teacher in zip(texts, teachers, strict=True):
            label = (await teacher.judge(JudgeRequest(sample.prompt, candidates, seed=i))).label
            chosen = next(c.text for c in candidates if c.label == label)
            assert chosen != own, teacher.name


async def test_a_judge_shown_only_its_own_story_abstains(teachers: list[OfflineTeacher]) -> None:
    bard = teachers[0]
    own = (await bard.generate(request_for(SAMPLES[0]))).text
    assert (await bard.judge(JudgeRequest(SAMPLES[0].prompt, (Candidate("A", own),)))).label is None


async def test_judges_have_different_tastes(teachers: list[OfflineTeacher]) -> None:
    disagreements = 0
    for i, sample in enumerate(SAMPLES[:10]):
        texts = [(await t.generate(request_for(sample, seed=100 + i))).text for t in teachers]
        candidates = tuple(Candidate(chr(ord("A") + n), text) for n, text in enumerate(texts))
        request = JudgeRequest("an unrelated prompt", candidates, seed=1)
        picks = {(await judge.judge(request)).label for judge in teachers}
        disagreements += len(picks) > 1
    assert disagreements >= 8


async def test_judge_ties_go_to_the_lower_label(teachers: list[OfflineTeacher]) -> None:
    story = (await teachers[1].generate(request_for(SAMPLES[3]))).text
    request = JudgeRequest("p", (Candidate("B", story), Candidate("A", story)))
    assert (await teachers[0].judge(request)).label == "A"


async def test_no_latency_means_no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_sleep(delay: float) -> None:
        raise AssertionError(f"slept {delay}s")

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    generation = await OfflineTeacher(offline_ensemble()[0]).generate(request_for(SAMPLES[0]))
    assert generation.latency_ms < 50


async def _call_lengths(monkeypatch: pytest.MonkeyPatch, calls: int) -> list[float]:
    """How long each of `calls` generations at 100 ms lasts to the end of its sleep: the
    writing and the sleep together, the sleep itself not waited out."""
    lasted: list[float] = []
    called_at = 0.0
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float) -> None:
        lasted.append(time.perf_counter() - called_at + delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    teacher = OfflineTeacher(offline_ensemble()[2], simulated_latency_ms=100)
    for i in range(calls):
        called_at = time.perf_counter()
        await teacher.generate(request_for(SAMPLES[i], seed=i))
    return lasted


async def test_simulated_latency_has_jitter_within_thirty_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lasted = await _call_lengths(monkeypatch, 20)
    assert all(0.07 <= call <= 0.131 for call in lasted), lasted
    assert len({round(call, 3) for call in lasted}) > 10


async def test_the_story_is_written_within_the_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    write = OfflineTeacher._write

    def slow_write(self: OfflineTeacher, *args: Any) -> str:
        time.sleep(0.03)
        return write(self, *args)

    monkeypatch.setattr(OfflineTeacher, "_write", slow_write)
    lasted = await _call_lengths(monkeypatch, 10)
    assert all(0.07 <= call <= 0.131 for call in lasted), lasted


async def test_latency_is_measured() -> None:
    teacher = OfflineTeacher(offline_ensemble()[0], simulated_latency_ms=30)
    generation = await teacher.generate(request_for(SAMPLES[0]))
    assert 20 <= generation.latency_ms < 500


async def test_generation_reports_approximate_tokens(teachers: list[OfflineTeacher]) -> None:
    request = request_for(SAMPLES[0])
    generation = await teachers[0].generate(request)
    assert generation.completion_tokens == round(len(words(generation.text)) * 1.3)
    assert generation.prompt_tokens == round(len(words(f"{request.system} {request.prompt}")) * 1.3)
    assert generation.finish_reason == "stop"


async def test_aclose_does_nothing(teachers: list[OfflineTeacher]) -> None:
    for teacher in teachers:
        await teacher.aclose()
    assert (await teachers[0].generate(request_for(SAMPLES[0]))).text

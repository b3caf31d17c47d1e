from __future__ import annotations

import time

import pytest

from trainer.example import MAX_OUTPUT_CHARS
from trainer.quality import (
    MAX_TEXT_QUALITY,
    QualityFeatures,
    count_sentences,
    final_quality,
    folded_words,
    is_descriptive,
    quality_features,
    score_features,
    text_quality,
    words,
)
from trainer.validity import invalid_reason


def features(
    characters: int = 100,
    sentences: int = 1,
    descriptive: float = 0.0,
    dialogue: bool = False,
) -> QualityFeatures:
    return QualityFeatures(
        characters=characters,
        words=characters // 5,
        sentences=sentences,
        descriptive_per_100_words=descriptive,
        has_dialogue=dialogue,
    )


@pytest.mark.parametrize(
    ("characters", "score"),
    [(0, 7.0), (199, 7.0), (200, 8.0), (500, 8.0), (800, 8.0), (801, 7.0), (5000, 7.0)],
)
def test_length_bonus_for_200_to_800_characters(characters: int, score: float) -> None:
    assert score_features(features(characters=characters)) == score
    assert text_quality("x" * characters) == score


def test_surrounding_whitespace_does_not_count_toward_length() -> None:
    assert text_quality("\n  " + "x" * 199 + "  \n") == 7.0
    assert quality_features("  " + "x" * 200 + "\n").characters == 200


@pytest.mark.parametrize(("sentences", "score"), [(0, 7.0), (2, 7.0), (3, 7.5), (12, 7.5)])
def test_structure_bonus_for_three_sentences(sentences: int, score: float) -> None:
    assert score_features(features(sentences=sentences)) == score


def test_structure_bonus_from_text() -> None:
    assert text_quality("One. Two.") == 7.0
    assert text_quality("One. Two. Three") == 7.5


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("No ending punctuation", 1),
        ("One. Two! Three?", 3),
        ("Wait... what?! Really.", 3),
        ("It was 3.5 miles away.", 1),
        ('"Run." She ran.', 2),
        ("...", 0),
    ],
)
def test_count_sentences(text: str, count: int) -> None:
    assert count_sentences(text) == count


@pytest.mark.parametrize(("density", "score"), [(0.0, 7.0), (1.99, 7.0), (2.0, 7.5), (9.0, 7.5)])
def test_descriptive_bonus_at_two_per_hundred_words(density: float, score: float) -> None:
    assert score_features(features(descriptive=density)) == score


def test_descriptive_density_from_text() -> None:
    plain = ["stone"] * 98
    assert quality_features(" ".join([*plain, "dark", "ancient"])).descriptive_per_100_words == 2.0
    assert quality_features(" ".join([*plain, "stone", "dark"])).descriptive_per_100_words == 1.0
    with_bonus = text_quality(" ".join(["stone"] * 48 + ["dark"]))
    without = text_quality(" ".join(["stone"] * 49 + ["road"]))
    assert with_bonus - without == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("word", "descriptive"),
    [
        ("dark", True),
        ("Ancient", True),
        ("slowly", True),
        ("Quietly", True),
        ("early", True),
        ("holy", False),
        ("only", False),
        ("family", False),
        ("reply", False),
        ("table", False),
    ],
)
def test_descriptive_words(word: str, descriptive: bool) -> None:
    assert is_descriptive(word) is descriptive


@pytest.mark.parametrize(
    ("text", "dialogue"),
    [
        ('She said "hello" and left.', True),
        ("She said “hello” and left.", True),
        ('“Mixed," he said.', True),
        ('Two "" marks.', False),
        ('An unclosed "quote at the end.', False),
        ("It's only an apostrophe, isn't it?", False),
        ("'Single quotes' are not dialogue here.", False),
    ],
)
def test_dialogue_needs_double_quotes_around_text(text: str, dialogue: bool) -> None:
    assert quality_features(text).has_dialogue is dialogue
    assert text_quality(text) == (7.3 if dialogue else 7.0)


def test_every_bonus_together_reaches_the_maximum() -> None:
    story = (
        "The old lighthouse stood alone on the rocks. "
        '"Keep the lamp burning," her mother had said, quietly and gravely. '
        "So every night Eleanor climbed the narrow stair and trimmed the wick, "
        "and every morning the grey sea was still there, patient and enormous."
    )
    assert 200 <= len(story) <= 800
    assert text_quality(story) == MAX_TEXT_QUALITY == pytest.approx(9.3)


def test_the_final_quality_is_rounded_to_two_decimals() -> None:
    assert final_quality(8.3, 2 / 3) == pytest.approx(0.7 * 8.3 + 2.0, abs=0.005)
    assert final_quality(8.3, 2 / 3) == round(0.7 * 8.3 + 2.0, 2) == 7.81
    # 0.7 * 8.3 + 1.5 is 7.3100000000000005 in floating point.
    assert 0.7 * 8.3 + 1.5 != 7.31
    assert final_quality(8.3, 0.5) == 7.31


@pytest.mark.parametrize(
    ("quality", "confidence", "final"),
    [(7.0, 0.0, 4.9), (9.3, 1.0, 9.51), (8.0, 0.5, 7.1), (8.5, 0.25, 6.7)],
)
def test_final_quality_blends_text_quality_and_confidence(
    quality: float, confidence: float, final: float
) -> None:
    assert final_quality(quality, confidence) == pytest.approx(final)


# Answers of the longest length kept (trainer.example.MAX_OUTPUT_CHARS) that used to take the
# worker's event loop for seconds: every session on the worker waited, and its leases with it.
HOSTILE = {
    "a quote never closed": "“" + "word " * 6_399 + "word",
    "a straight quote never closed": '"' + "word " * 6_399 + "word",
    "a run of exclamation marks": "!" * 31_999 + "x",
    "a run of full stops": "a" + "." * 31_998 + "x",
}


def _scoring_s(text: str) -> float:
    """The CPU seconds of judging `text` (validity, then quality), the best of three."""
    best = float("inf")
    for _ in range(3):
        for cached in (words, folded_words, quality_features):
            cached.cache_clear()
        started = time.process_time()
        invalid_reason(text)
        text_quality(text)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("answer", HOSTILE.values(), ids=HOSTILE.keys())
def test_no_answer_costs_much_more_to_score_than_a_story_as_long(answer: str) -> None:
    assert len(answer) == MAX_OUTPUT_CHARS
    story = ("Mara said, “The lanterns are lit.” The harbour was quiet. " * 600)[:MAX_OUTPUT_CHARS]
    # Side by side, so the machine's speed cancels out: each took 1,000 to 4,000 times as
    # long as the story, in time growing with the square of its length.
    assert _scoring_s(answer) < 20 * _scoring_s(story)
    assert quality_features(answer).has_dialogue is False

from __future__ import annotations

import pytest

from trainer.validity import invalid_reason

STORY = (
    "The lighthouse keeper climbed the spiral stair at dusk, as she had for thirty years. "
    "Tonight the lamp would not catch. Below, the fog pressed against the glass like a "
    'patient animal, and somewhere out on the black water a bell was ringing. "Not yet," '
    "she whispered, striking another match. The flame took, and the beam swung out over the "
    "sea, and the bell fell silent."
)

# No word appears twice, so no word pair repeats.
RAMBLING_SENTENCE = (
    "morning light crossed river quietly while seven herons waited beside broken fences "
    "near abandoned mills under heavy clouds before anyone woke inside copper kettles "
    "whistled somewhere distant as farmers loaded wagons with pumpkins apples barley "
    "onions turnips carrots"
)
DISTINCT_WORDS = RAMBLING_SENTENCE.split()


def test_a_fine_story_passes() -> None:
    assert invalid_reason(STORY) is None


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t\n"])
def test_empty(text: str | None) -> None:
    assert invalid_reason(text) == "empty"


def test_nineteen_words_are_too_short_and_twenty_are_enough() -> None:
    assert invalid_reason(" ".join(DISTINCT_WORDS[:19])) == "too short: 19 words (minimum 20)"
    assert invalid_reason(" ".join(DISTINCT_WORDS[:20])) is None


def test_one_word() -> None:
    assert invalid_reason("Fin.") == "too short: 1 word (minimum 20)"


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("I can't help with that request.", "I can't help"),
        ("I cannot write a story that glorifies violence.", "I cannot write"),
        ("I am unable to create this content.", "I am unable to create"),
        ("I'm unable to help with this one.", "I'm unable to help"),
        ("I\u2019m sorry, but I can\u2019t write that story.", "I\u2019m sorry, but"),
        ("As an AI language model, I do not write fiction.", "As an AI"),
        ("i apologise, but this prompt breaks the rules.", "i apologise, but"),
        ("I must decline this request.", "I must decline"),
        ("I cannot in good conscience write this.", "I cannot in good conscience write"),
    ],
)
def test_refusals_at_the_start(text: str, phrase: str) -> None:
    padded = f"  {text} " + " ".join(DISTINCT_WORDS)
    assert invalid_reason(padded) == f'refusal: begins with "{phrase}"'
    assert invalid_reason(text) == f'refusal: begins with "{phrase}"'


def test_a_refusal_near_the_start_counts() -> None:
    text = "Thank you for the prompt. As an AI, I would rather not. " + " ".join(DISTINCT_WORDS)
    assert invalid_reason(text) == 'refusal: opens with "As an AI"'


def test_a_refusal_phrase_deep_in_a_story_does_not_count() -> None:
    text = f'{STORY} "I cannot help you," said the ghost, "as an AI would."'
    assert invalid_reason(text) is None


@pytest.mark.parametrize(
    "opening",
    [
        "I cannot remember the winter the river froze, but my brother can.",
        "I am unable to sleep since the lighthouse went dark,",
        "I won't forget the night the circus came to town.",
    ],
)
def test_first_person_openings_are_not_refusals(opening: str) -> None:
    assert invalid_reason(f"{opening} {' '.join(DISTINCT_WORDS)}") is None


def _distinct_lines(count: int) -> list[str]:
    """Lines of five words each, no word used twice."""
    return [" ".join(DISTINCT_WORDS[5 * i : 5 * i + 5]) + "." for i in range(count)]


def _lines(distinct: int, duplicates: int) -> str:
    """`distinct` different lines, then the first one repeated `duplicates` more times."""
    unique = _distinct_lines(distinct)
    return "\n".join(unique + [unique[0]] * duplicates)


def test_duplicate_lines_up_to_thirty_percent_pass() -> None:
    assert invalid_reason(_lines(distinct=7, duplicates=3)) is None


def test_duplicate_lines_over_thirty_percent_fail() -> None:
    assert invalid_reason(_lines(distinct=6, duplicates=4)) == (
        "repetitive: 40% duplicate lines (limit 30%)"
    )


def test_blank_lines_are_not_duplicates() -> None:
    text = "\n\n\n".join(_distinct_lines(5))
    assert invalid_reason(text + "\n\n\n\n") is None


def test_fewer_than_three_lines_skip_the_duplicate_rule() -> None:
    line = " ".join(DISTINCT_WORDS[:15])
    assert invalid_reason(f"{line}\n{line}") is None


def _with_repeated_pair(filler_chars: int) -> str:
    """ "ab cd" twice (8 characters) among 16 distinct fillers of `filler_chars` in total."""
    fillers = [f"w{chr(ord('a') + i)}" for i in range(16)]
    if filler_chars == 31:
        fillers[-1] = "x"
    assert sum(map(len, fillers)) == filler_chars
    return " ".join(["ab", "cd", *fillers[:8], "ab", "cd", *fillers[8:]])


def test_top_bigram_covering_twenty_percent_passes() -> None:
    assert invalid_reason(_with_repeated_pair(filler_chars=32)) is None


def test_top_bigram_covering_more_than_twenty_percent_fails() -> None:
    assert invalid_reason(_with_repeated_pair(filler_chars=31)) == (
        'repetitive: "ab cd" covers 21% of the text (limit 20%)'
    )


def test_a_looping_output_is_repetitive() -> None:
    looping = "and then the dragon said and then the dragon said " * 6
    reason = invalid_reason(looping)
    assert reason is not None
    assert reason.startswith("repetitive:")

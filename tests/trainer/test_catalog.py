from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz

from models.enums import Genre
from models.errors import BadUserInput
from trainer.catalog import GENRE_LABELS, PROMPTS, STYLES, Sample, Sampler, parse_genre

ALL_PROMPTS = [prompt for prompts in PROMPTS.values() for prompt in prompts]


def test_every_genre_has_a_label_and_ten_distinct_prompts() -> None:
    assert set(GENRE_LABELS) == set(Genre) == set(PROMPTS)
    for genre, prompts in PROMPTS.items():
        assert len(prompts) == 10, genre
        assert len(set(prompts)) == 10, genre


def test_no_prompt_appears_twice_or_nearly_twice() -> None:
    assert len(ALL_PROMPTS) == 250
    assert len(set(ALL_PROMPTS)) == 250
    too_close = [(a, b) for a, b in combinations(ALL_PROMPTS, 2) if fuzz.token_set_ratio(a, b) > 75]
    assert too_close == []


@pytest.mark.parametrize("prompt", ALL_PROMPTS)
def test_prompts_are_finished_sentences(prompt: str) -> None:
    assert prompt[0].isupper() or prompt[0].isdigit()
    assert prompt.endswith(".")
    assert len(prompt.split()) >= 10
    for placeholder in ("{", "}", "TODO", "...", "  "):
        assert placeholder not in prompt


def test_styles() -> None:
    assert len(STYLES) >= 12
    assert len(set(STYLES)) == len(STYLES)
    assert "told in the second person" in STYLES


@pytest.mark.parametrize(
    ("name", "genre"),
    [
        ("sci-fi", Genre.SCIENCE_FICTION),
        ("Sci Fi", Genre.SCIENCE_FICTION),
        ("scifi", Genre.SCIENCE_FICTION),
        ("SF", Genre.SCIENCE_FICTION),
        ("Science Fiction", Genre.SCIENCE_FICTION),
        ("science_fiction", Genre.SCIENCE_FICTION),
        ("SCIENCE-FICTION", Genre.SCIENCE_FICTION),
        ("ya", Genre.YOUNG_ADULT),
        ("young adult", Genre.YOUNG_ADULT),
        ("fairytale", Genre.FAIRY_TALE),
        ("Fairy Tales", Genre.FAIRY_TALE),
        ("historical", Genre.HISTORICAL_FICTION),
        ("lit fic", Genre.LITERARY_FICTION),
        ("urban-fantasy", Genre.URBAN_FANTASY),
        ("  horror  ", Genre.HORROR),
        ("westerns", Genre.WESTERN),
        ("whodunit", Genre.MYSTERY),
    ],
)
def test_parse_genre_is_lenient(name: str, genre: Genre) -> None:
    assert parse_genre(name) is genre


@pytest.mark.parametrize("genre", list(Genre))
def test_parse_genre_accepts_every_name_and_label(genre: Genre) -> None:
    assert parse_genre(genre.name) is genre
    assert parse_genre(genre.name.lower()) is genre
    assert parse_genre(GENRE_LABELS[genre]) is genre


@pytest.mark.parametrize("name", ["space opera", "", "romcom", "sci-fi-horror"])
def test_parse_genre_rejects_unknown_names_and_lists_the_valid_ones(name: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        parse_genre(name)
    error = caught.value
    assert error.field == "genres"
    assert repr(name) in error.message
    assert all(genre.name in error.message for genre in Genre)


def test_samples_come_from_the_catalog() -> None:
    for sample in Sampler(seed=1).sample_many(100):
        assert sample.prompt in PROMPTS[sample.genre]
        assert sample.style in STYLES


def test_empty_genres_means_all_25() -> None:
    samples = Sampler(seed=7).sample_many(50)
    assert Counter(sample.genre for sample in samples) == dict.fromkeys(Genre, 2)


@given(
    genres=st.lists(st.sampled_from(list(Genre)), min_size=1, max_size=25, unique=True),
    rounds=st.integers(min_value=1, max_value=4),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_round_draws_each_genre_once(genres: list[Genre], rounds: int, seed: int) -> None:
    sampler = Sampler(genres, seed=seed)
    for _ in range(rounds):
        drawn = Counter(sample.genre for sample in sampler.sample_many(len(genres)))
        assert drawn == dict.fromkeys(genres, 1)


def test_repeated_genres_count_once() -> None:
    samples = Sampler([Genre.FANTASY, Genre.FANTASY, Genre.HORROR], seed=3).sample_many(10)
    assert Counter(sample.genre for sample in samples) == {Genre.FANTASY: 5, Genre.HORROR: 5}


def test_a_seed_reproduces_the_whole_sequence() -> None:
    genres = [Genre.WESTERN, Genre.POETRY, Genre.MEMOIR]
    first = Sampler(genres, seed=42).sample_many(30)
    assert Sampler(genres, seed=42).sample_many(30) == first
    assert Sampler(genres, seed=43).sample_many(30) != first


def test_rounds_are_shuffled_not_fixed() -> None:
    openers = {Sampler(seed=seed).next().genre for seed in range(40)}
    assert len(openers) > 10


def test_prompts_and_styles_are_all_reachable() -> None:
    samples = Sampler([Genre.COMEDY], seed=5).sample_many(400)
    assert {sample.prompt for sample in samples} == set(PROMPTS[Genre.COMEDY])
    assert {sample.style for sample in samples} == set(STYLES)


def test_sample_many_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        Sampler().sample_many(-1)
    assert Sampler().sample_many(0) == []


def test_sample_is_frozen() -> None:
    sample = Sample(genre=Genre.EPIC, prompt="p", style="s")
    with pytest.raises(AttributeError):
        sample.genre = Genre.DRAMA  # type: ignore[misc]

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz

from models.enums import Genre
from models.errors import BadUserInput
from trainer.catalog import (
    CATALOG_PATH,
    GENRE_LABELS,
    PROMPTS,
    STYLES,
    Catalog,
    CatalogError,
    Sample,
    Sampler,
    parse_genre,
    read_catalog,
)

ALL_PROMPTS = [prompt for prompts in PROMPTS.values() for prompt in prompts]
CATALOG_TEXT = CATALOG_PATH.read_text(encoding="utf-8")


def genre_table(name: str) -> str:
    """The [genres.NAME] table of the catalog file, as written there."""
    start = CATALOG_TEXT.index(f"[genres.{name}]\n")
    end = CATALOG_TEXT.find("\n[genres.", start)
    return CATALOG_TEXT[start:] if end == -1 else CATALOG_TEXT[start : end + 1]


def without_genre(name: str) -> str:
    return CATALOG_TEXT.replace(genre_table(name), "")


def with_genre(name: str, body: str) -> str:
    """The catalog file with the [genres.NAME] table replaced by one holding `body`."""
    return f"{without_genre(name)}\n[genres.{name}]\n{body}\n"


def test_the_module_serves_the_packaged_catalog_in_the_order_of_genre() -> None:
    assert read_catalog(CATALOG_TEXT) == Catalog(GENRE_LABELS, PROMPTS, STYLES)
    assert list(GENRE_LABELS) == list(PROMPTS) == list(Genre)


def test_the_order_of_the_genre_tables_does_not_matter() -> None:
    moved = f"{without_genre('ADVENTURE')}\n{genre_table('ADVENTURE')}"
    assert moved != CATALOG_TEXT
    catalog = read_catalog(moved)
    assert catalog == Catalog(GENRE_LABELS, PROMPTS, STYLES)
    assert list(catalog.prompts) == list(Genre)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            without_genre("EPIC"),
            "no [genres.NAME] table for genre EPIC; every genre of models.enums.Genre needs",
            id="missing",
        ),
        pytest.param(
            without_genre("EPIC").replace(genre_table("WESTERN"), ""),
            "no [genres.NAME] table for genre EPIC, WESTERN;",
            id="two missing",
        ),
        pytest.param(
            f'{CATALOG_TEXT}\n[genres.SPACE_OPERA]\nlabel = "Space Opera"\nprompts = ["Ships."]\n',
            "unknown genre SPACE_OPERA; the genres of models.enums.Genre are ADVENTURE, ",
            id="unknown",
        ),
        pytest.param(
            CATALOG_TEXT.replace("[genres.EPIC]", "[genres.epic]"),
            "unknown genre epic;",
            id="misspelt",
        ),
        pytest.param(
            f'{CATALOG_TEXT}\n[genres.EPIC]\nlabel = "Epic"\n',
            "invalid TOML: Cannot declare ('genres', 'EPIC') twice",
            id="twice",
        ),
        pytest.param(
            CATALOG_TEXT.replace('label = "Epic"', 'label = "Epic"\nblurb = "Long."'),
            "genres.EPIC: unknown key 'blurb'; expected label and prompts",
            id="unknown key",
        ),
        pytest.param(
            CATALOG_TEXT.replace('label = "Epic"\n', ""),
            "genres.EPIC: label required",
            id="no label",
        ),
        pytest.param(
            CATALOG_TEXT.replace('label = "Epic"', 'label = " "'),
            "genres.EPIC.label: must be a non-empty string, got ' '",
            id="blank label",
        ),
        pytest.param(
            CATALOG_TEXT.replace('label = "Epic"', 'label = "Drama"'),
            "genres.EPIC.label: 'Drama' is already the label of DRAMA",
            id="shared label",
        ),
        pytest.param(
            with_genre("EPIC", 'label = "Epic"'),
            "genres.EPIC: prompts required",
            id="no prompts",
        ),
        pytest.param(
            with_genre("EPIC", 'label = "Epic"\nprompts = []'),
            "genres.EPIC.prompts: must be a non-empty list of strings",
            id="empty prompts",
        ),
        pytest.param(
            with_genre("EPIC", 'label = "Epic"\nprompts = ["A siege.", 7]'),
            "genres.EPIC.prompts[1]: must be a non-empty string, got 7",
            id="prompt not a string",
        ),
        pytest.param(
            with_genre("EPIC", 'label = "Epic"\nprompts = ["A siege.", "A siege."]'),
            "genres.EPIC.prompts: 'A siege.' appears twice",
            id="repeated prompt",
        ),
        pytest.param(
            CATALOG_TEXT.replace('    "as a bedtime story",\n', '    "as a bedtime story",\n' * 2),
            "styles: 'as a bedtime story' appears twice",
            id="repeated style",
        ),
        pytest.param(
            CATALOG_TEXT.replace("\nstyles = [", "\nmoods = ["),
            "the top level: unknown key 'moods'; expected genres and styles",
            id="unknown top-level key",
        ),
        pytest.param(
            'styles = ["as a poem"]\ngenres = "all"\n',
            "genres: must be a table of [genres.NAME] tables",
            id="genres not a table",
        ),
        pytest.param(f"{CATALOG_TEXT}\n[genres", "invalid TOML: ", id="not TOML"),
    ],
)
def test_a_catalog_that_does_not_match_genre_is_refused_saying_why(text: str, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        read_catalog(text)
    assert str(caught.value).startswith(f"catalog.toml: {problem}")


def test_a_catalog_error_names_its_source() -> None:
    with pytest.raises(CatalogError, match=r"^elsewhere\.toml: no \[genres\.NAME\] table"):
        read_catalog(without_genre("EPIC"), source="elsewhere.toml")


def test_every_genre_has_a_label_and_ten_distinct_prompts() -> None:
    assert set(GENRE_LABELS) == set(Genre) == set(PROMPTS)
    for genre, prompts in PROMPTS.items():
        assert len(prompts) == 10, genre
        assert len(set(prompts)) == 10, genre


def test_no_prompt_appears_twice_or_nearly_twice() -> None:
    assert len(ALL_PROMPTS) == 10 * len(Genre)
    assert len(set(ALL_PROMPTS)) == len(ALL_PROMPTS)
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


def test_empty_genres_means_every_genre() -> None:
    samples = Sampler(seed=7).sample_many(2 * len(Genre))
    assert Counter(sample.genre for sample in samples) == dict.fromkeys(Genre, 2)


@given(
    genres=st.lists(st.sampled_from(list(Genre)), min_size=1, max_size=len(Genre), unique=True),
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


def test_a_seed_draws_the_same_samples_as_it_always_has() -> None:
    # A seed replays a session: the draws for a seed may never change.
    assert Sampler(seed=2024).sample_many(3) == [
        Sample(
            Genre.SCIENCE_FICTION,
            "The crew of a deep-space salvage tug finds a derelict ship with their own names "
            "painted on its hull.",
            "as a fable with a moral at the end",
        ),
        Sample(
            Genre.PARANORMAL,
            "A medium is hired to contact the late husband of a widow who does not actually "
            "want to hear from him.",
            "in spare, minimalist prose",
        ),
        Sample(
            Genre.COMEDY,
            "The understudy for the second tree in a school play launches a campaign to be "
            "promoted to the role of the wolf.",
            "as a series of diary entries",
        ),
    ]
    assert Sampler([Genre.WESTERN, Genre.POETRY, Genre.MEMOIR], seed=42).sample_many(4) == [
        Sample(
            Genre.POETRY,
            "The first morning after a long illness tastes of tea, of light, and of the "
            "astonishment of ordinary things.",
            "as a campfire tale",
        ),
        Sample(
            Genre.WESTERN,
            "A Pony Express rider carries news of a peace treaty across hostile territory, "
            "pursued by men who profit from war.",
            "as a bedtime story",
        ),
        Sample(
            Genre.MEMOIR,
            "I learned my mother's native language at thirty-five, from strangers, after she "
            "was gone.",
            "in the form of letters",
        ),
        Sample(
            Genre.WESTERN,
            "A widowed rancher hires a drifter to help drive her cattle to Abilene, not knowing "
            "he is the man who killed her husband.",
            "in the form of letters",
        ),
    ]


def test_a_seed_draws_the_same_places_in_the_catalog_as_it_always_has() -> None:
    # Which genre, which of its prompts and which style, by position: more than a round deep.
    drawn = [
        (sample.genre.name, PROMPTS[sample.genre].index(sample.prompt), STYLES.index(sample.style))
        for sample in Sampler(seed=1).sample_many(30)
    ]
    assert drawn == [
        ("HISTORICAL_FICTION", 0, 0),
        ("SHORT_STORY", 6, 6),
        ("YOUNG_ADULT", 6, 0),
        ("THRILLER", 8, 7),
        ("WESTERN", 7, 15),
        ("DRAMA", 8, 7),
        ("URBAN_FANTASY", 5, 7),
        ("MEMOIR", 3, 14),
        ("PARANORMAL", 4, 0),
        ("FANTASY", 6, 3),
        ("HORROR", 2, 9),
        ("POETRY", 1, 10),
        ("ADVENTURE", 8, 13),
        ("EPIC", 8, 6),
        ("BIOGRAPHY", 4, 9),
        ("DYSTOPIAN", 9, 15),
        ("LITERARY_FICTION", 8, 12),
        ("SCIENCE_FICTION", 9, 1),
        ("MYSTERY", 7, 7),
        ("MYTHOLOGY", 6, 13),
        ("CONTEMPORARY", 2, 11),
        ("FAIRY_TALE", 8, 11),
        ("COMEDY", 1, 14),
        ("ROMANCE", 8, 3),
        ("CRIME", 2, 12),
        ("POETRY", 6, 4),
        ("SCIENCE_FICTION", 8, 6),
        ("SHORT_STORY", 6, 1),
        ("THRILLER", 7, 11),
        ("EPIC", 9, 6),
    ]

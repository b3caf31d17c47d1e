"""The story catalog and its sampler: what each training example asks the ensemble to write.

The catalog itself is data, in catalog.toml beside this module: the style modifiers and, for
each genre, its label and its ten prompts. It is read once, at import, and checked against
`Genre`, so a genre added to the enum without its prompts (or a typo in the file) stops the
program at start rather than at the first session that draws it.

A session draws its examples from here: a genre (balanced over the genres the user picked),
one of that genre's prompts and a style, all from one `random.Random` so that a seed
reproduces the whole sequence.
"""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.enums import Genre
from models.errors import BadUserInput

CATALOG_PATH = Path(__file__).with_name("catalog.toml")


class CatalogError(ValueError):
    """The catalog file is not valid TOML or does not describe exactly the genres of `Genre`."""


@dataclass(frozen=True)
class Catalog:
    """The catalog file, read and checked: what GENRE_LABELS, PROMPTS and STYLES serve."""

    labels: dict[Genre, str]
    prompts: dict[Genre, tuple[str, ...]]
    """Each genre's prompts in the file's order, which a seed's draws depend on."""
    styles: tuple[str, ...]


def read_catalog(text: str, source: str = CATALOG_PATH.name) -> Catalog:
    """The catalog in the TOML `text`, with a label and prompts for every genre of `Genre`.

    Raises CatalogError naming `source` and what is wrong: a missing or unknown genre, an
    unexpected key, a value of the wrong kind, an empty or repeated entry.
    """

    def fail(problem: str) -> CatalogError:
        return CatalogError(f"{source}: {problem}")

    try:
        # TOML refuses a table declared twice, so no genre can appear twice.
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"invalid TOML: {exc}") from exc
    _expect_keys(document, "the top level", {"styles", "genres"}, fail)
    styles = _distinct_strings(document["styles"], "styles", fail)
    tables = document["genres"]
    if not isinstance(tables, dict):
        raise fail("genres: must be a table of [genres.NAME] tables")
    unknown = [name for name in tables if name not in Genre.__members__]
    if unknown:
        raise fail(
            f"unknown genre {', '.join(unknown)}; the genres of models.enums.Genre are "
            f"{', '.join(Genre.__members__)}"
        )
    missing = [genre.name for genre in Genre if genre.name not in tables]
    if missing:
        raise fail(
            f"no [genres.NAME] table for genre {', '.join(missing)}; every genre of "
            "models.enums.Genre needs its label and prompts"
        )
    labels: dict[Genre, str] = {}
    prompts: dict[Genre, tuple[str, ...]] = {}
    for genre in Genre:
        where = f"genres.{genre.name}"
        table = tables[genre.name]
        if not isinstance(table, dict):
            raise fail(f"{where}: must be a table with a label and prompts")
        _expect_keys(table, where, {"label", "prompts"}, fail)
        label = _string(table["label"], f"{where}.label", fail)
        # parse_genre matches labels, so two genres may not share one.
        twin = next((other for other, taken in labels.items() if taken == label), None)
        if twin is not None:
            raise fail(f"{where}.label: {label!r} is already the label of {twin.name}")
        labels[genre] = label
        prompts[genre] = _distinct_strings(table["prompts"], f"{where}.prompts", fail)
    return Catalog(labels=labels, prompts=prompts, styles=styles)


_Fail = Callable[[str], CatalogError]


def _expect_keys(table: dict[str, Any], where: str, keys: set[str], fail: _Fail) -> None:
    expected = " and ".join(sorted(keys))
    for key in table:
        if key not in keys:
            raise fail(f"{where}: unknown key {key!r}; expected {expected}")
    missing = sorted(keys - set(table))
    if missing:
        raise fail(f"{where}: {' and '.join(missing)} required")


def _string(value: object, where: str, fail: _Fail) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{where}: must be a non-empty string, got {value!r}")
    return value


def _distinct_strings(value: object, where: str, fail: _Fail) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise fail(f"{where}: must be a non-empty list of strings")
    strings = tuple(_string(item, f"{where}[{index}]", fail) for index, item in enumerate(value))
    repeated = next((item for index, item in enumerate(strings) if item in strings[:index]), None)
    if repeated is not None:
        raise fail(f"{where}: {repeated!r} appears twice")
    return strings


_CATALOG = read_catalog(CATALOG_PATH.read_text(encoding="utf-8"))
GENRE_LABELS: dict[Genre, str] = _CATALOG.labels
PROMPTS: dict[Genre, tuple[str, ...]] = _CATALOG.prompts
STYLES: tuple[str, ...] = _CATALOG.styles


def _normalise(name: str) -> str:
    """Case, spaces, hyphens and underscores do not matter: "Sci-Fi" == "sci fi" == "SCIFI"."""
    return re.sub(r"[\W_]+", "", name).casefold()


_ALIASES: dict[str, Genre] = {
    "scifi": Genre.SCIENCE_FICTION,
    "sf": Genre.SCIENCE_FICTION,
    "ya": Genre.YOUNG_ADULT,
    "teen": Genre.YOUNG_ADULT,
    "historical": Genre.HISTORICAL_FICTION,
    "histfic": Genre.HISTORICAL_FICTION,
    "litfic": Genre.LITERARY_FICTION,
    "literary": Genre.LITERARY_FICTION,
    "urban": Genre.URBAN_FANTASY,
    "fairy": Genre.FAIRY_TALE,
    "short": Genre.SHORT_STORY,
    "shortstories": Genre.SHORT_STORY,
    "flashfiction": Genre.SHORT_STORY,
    "bio": Genre.BIOGRAPHY,
    "myth": Genre.MYTHOLOGY,
    "mythic": Genre.MYTHOLOGY,
    "poem": Genre.POETRY,
    "verse": Genre.POETRY,
    "dystopia": Genre.DYSTOPIAN,
    "mysteries": Genre.MYSTERY,
    "whodunit": Genre.MYSTERY,
    "whodunnit": Genre.MYSTERY,
    "noir": Genre.CRIME,
    "suspense": Genre.THRILLER,
    "supernatural": Genre.PARANORMAL,
    "humor": Genre.COMEDY,
    "humour": Genre.COMEDY,
}

_GENRES_BY_NAME: dict[str, Genre] = {
    **{_normalise(genre.name): genre for genre in Genre},
    **{_normalise(label): genre for genre, label in GENRE_LABELS.items()},
    **_ALIASES,
}


def parse_genre(name: str) -> Genre:
    """The genre `name` means: an enum name, a label or a common alias, in any case.

    Raises BadUserInput naming the bad value and listing the valid names.
    """
    key = _normalise(name)
    # A trailing plural ("westerns", "fairy tales", "myths") still names the genre.
    genre = _GENRES_BY_NAME.get(key) or _GENRES_BY_NAME.get(key.removesuffix("s"))
    if genre is None:
        valid = ", ".join(genre.name for genre in Genre)
        raise BadUserInput(f"Unknown genre {name!r}; valid genres: {valid}.", field="genres")
    return genre


@dataclass(frozen=True)
class Sample:
    """What one training example asks the ensemble for."""

    genre: Genre
    prompt: str
    style: str


class Sampler:
    """Draws samples balanced over `genres` (every genre when empty), reproducibly for a seed.

    Genres are dealt in rounds: each round is a fresh random permutation of the genres, so
    after k rounds every genre has been drawn exactly k times. Prompt and style are uniform.
    """

    def __init__(self, genres: Sequence[Genre] = (), seed: int | None = None) -> None:
        self.genres: tuple[Genre, ...] = tuple(dict.fromkeys(genres)) or tuple(Genre)
        self._rng = random.Random(seed)
        self._round: list[Genre] = []

    def next(self) -> Sample:
        if not self._round:
            self._round = self._rng.sample(self.genres, len(self.genres))
        genre = self._round.pop()
        return Sample(
            genre=genre,
            prompt=self._rng.choice(PROMPTS[genre]),
            style=self._rng.choice(STYLES),
        )

    def sample_many(self, n: int) -> list[Sample]:
        if n < 0:
            raise ValueError(f"cannot draw a negative number of samples ({n})")
        return [self.next() for _ in range(n)]

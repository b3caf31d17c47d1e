"""A session's running aggregates: the seed's summary fields, kept current as examples finish."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from models.enums import Genre
from models.history import FINE_TUNING_MIN_QUALITY
from trainer.spend import Spend

STORY_MIN_QUALITY = 8.0


@dataclass(frozen=True)
class ModelTally:
    wins: int = 0
    total_quality: float = 0.0
    # What the model's calls used: its stories and its judging, won or not.
    spend: Spend = field(default_factory=Spend)

    @property
    def average_quality(self) -> float:
        return self.total_quality / self.wins if self.wins else 0.0


@dataclass(frozen=True)
class SessionTally:
    successful: int = 0
    failed: int = 0
    quality_sum: float = 0.0
    min_quality: float | None = None
    max_quality: float | None = None
    models: dict[str, ModelTally] = field(default_factory=dict)
    genres: dict[Genre, int] = field(default_factory=dict)
    stories_saved: int = 0
    fine_tuning_examples: int = 0

    @property
    def finished(self) -> int:
        return self.successful + self.failed

    @property
    def average_quality(self) -> float | None:
        return self.quality_sum / self.successful if self.successful else None

    @property
    def spend(self) -> Spend:
        """What every call of the session used."""
        return sum((tally.spend for tally in self.models.values()), Spend())

    @property
    def best_performing_model(self) -> str | None:
        """Most wins; ties to the higher total quality, then the lower name."""
        ranked = [(m, t) for m, t in self.models.items() if t.wins > 0]
        if not ranked:
            return None
        return min(ranked, key=lambda item: (-item[1].wins, -item[1].total_quality, item[0]))[0]

    def with_failure(self, genre: Genre) -> SessionTally:
        return replace(self, failed=self.failed + 1, genres=_plus_one(self.genres, genre))

    def with_success(
        self, genre: Genre, winner: str, quality: float, *, story_saved: bool
    ) -> SessionTally:
        previous = self.models.get(winner, ModelTally())
        models = {
            **self.models,
            winner: replace(
                previous, wins=previous.wins + 1, total_quality=previous.total_quality + quality
            ),
        }
        return replace(
            self,
            successful=self.successful + 1,
            quality_sum=self.quality_sum + quality,
            min_quality=quality if self.min_quality is None else min(self.min_quality, quality),
            max_quality=quality if self.max_quality is None else max(self.max_quality, quality),
            models=models,
            genres=_plus_one(self.genres, genre),
            stories_saved=self.stories_saved + int(story_saved),
            fine_tuning_examples=self.fine_tuning_examples
            + int(quality >= FINE_TUNING_MIN_QUALITY),
        )

    def with_spend(self, spends: Mapping[str, Spend]) -> SessionTally:
        """This tally with what each model's calls used added."""
        models = dict(self.models)
        for model, spend in spends.items():
            previous = models.get(model, ModelTally())
            models[model] = replace(previous, spend=previous.spend + spend)
        return replace(self, models=models)

    def model_performance_json(self) -> str:
        """The original format: `{"model": {"count": n, "avg_quality": q}}`, winners only."""
        return json.dumps(
            {
                model: {
                    "count": tally.wins,
                    "avg_quality": round(tally.average_quality, 2),
                    "total_quality": round(tally.total_quality, 2),
                }
                for model, tally in sorted(self.models.items())
                if tally.wins
            }
        )

    def genre_distribution_json(self) -> str:
        return json.dumps(
            {genre.name: n for genre, n in sorted(self.genres.items(), key=lambda g: g[0].name)}
        )


def _plus_one(counts: dict[Genre, int], genre: Genre) -> dict[Genre, int]:
    return {**counts, genre: counts.get(genre, 0) + 1}


def one_decimal(value: float | None) -> float | None:
    """The history table keeps qualities as DECIMAL(3,1), as the original did."""
    return None if value is None else round(value, 1)

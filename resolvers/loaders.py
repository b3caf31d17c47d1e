"""Per-request DataLoaders: a page of sessions costs one query per nested field, not per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from models import examples, history
from resolvers import convert

Row = TypeVar("Row")
Out = TypeVar("Out")


def _grouped_loader(
    sessions: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, Sequence[int]], Awaitable[dict[int, list[Row]]]],
    to_type: Callable[[Row], Out],
) -> DataLoader[int, list[Out]]:
    async def load(keys: list[int]) -> list[list[Out]]:
        async with sessions() as db:
            grouped = await fetch(db, keys)
        return [[to_type(row) for row in grouped.get(key, [])] for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.model_performance = _grouped_loader(
            sessions, history.model_stats_for, convert.model_performance
        )
        self.genre_distribution = _grouped_loader(
            sessions, history.genre_counts_for, convert.genre_count
        )
        self.outputs = _grouped_loader(sessions, examples.outputs_for, convert.output)
        self.votes = _grouped_loader(sessions, examples.votes_for, convert.vote)
        self.first_examples: dict[int, DataLoader[int, examples.ExamplePage]] = {}
        self._sessions = sessions

    def first_examples_of(self, size: int) -> DataLoader[int, examples.ExamplePage]:
        """The first `size` examples of sessions, batched per page size."""
        if size not in self.first_examples:
            sessions = self._sessions

            async def load(keys: list[int]) -> list[examples.ExamplePage]:
                async with sessions() as db:
                    pages = await examples.first_example_pages(db, keys, size)
                return [pages[key] for key in keys]

            self.first_examples[size] = DataLoader(load_fn=load)
        return self.first_examples[size]

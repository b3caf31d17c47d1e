"""Per-request DataLoaders: a page of sessions costs one query per nested field, not per row.

Each loader answers the rows of its keys, grouped per key; the schema's nested fields turn
them into the API's types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from models import examples, history
from models.base import Record

Row = TypeVar("Row")


class Loaders:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db
        self.model_performance: DataLoader[int, list[history.ModelStats]] = self._grouped(
            history.model_stats_for
        )
        self.genre_distribution: DataLoader[int, list[Record]] = self._grouped(
            history.genre_counts_for
        )
        self.outputs: DataLoader[int, list[Mapping[str, Any]]] = self._grouped(examples.outputs_for)
        self.votes: DataLoader[int, list[Mapping[str, Any]]] = self._grouped(examples.votes_for)
        self.first_examples: dict[int, DataLoader[int, examples.ExamplePage]] = {}

    def _grouped(
        self, fetch: Callable[[AsyncSession, Sequence[int]], Awaitable[dict[int, list[Row]]]]
    ) -> DataLoader[int, list[Row]]:
        async def load(keys: list[int]) -> list[list[Row]]:
            async with self._db() as db:
                grouped = await fetch(db, keys)
            return [grouped.get(key, []) for key in keys]

        return DataLoader(load_fn=load)

    def first_examples_of(self, size: int) -> DataLoader[int, examples.ExamplePage]:
        """The first `size` examples of sessions, batched per page size."""
        if size not in self.first_examples:

            async def load(keys: list[int]) -> list[examples.ExamplePage]:
                async with self._db() as db:
                    pages = await examples.first_example_pages(db, keys, size)
                return [pages[key] for key in keys]

            self.first_examples[size] = DataLoader(load_fn=load)
        return self.first_examples[size]

"""A page of a list, with how to count the whole list: counting is a query of its own, made
only when a client asks for `totalCount`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from models.keyset import Page

T = TypeVar("T")

Counter = Callable[[], Awaitable[int]]


@dataclass(frozen=True)
class CountedPage(Generic[T]):
    page: Page[T]
    count: Counter

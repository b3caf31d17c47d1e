"""Subscription events executed once per operation and variables (schema/execution.py), in a
schema of its own: a subscriber waits for the execution another started for the same event,
and takes it over when that one leaves. tests/integration/test_execution.py sees the same
from real websocket clients of the real server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Hashable
from typing import Any

import strawberry
from strawberry.extensions import ParserCache
from strawberry.types import ExecutionResult

from schema.execution import SharedEventExecutor


@strawberry.type
class Tick:
    seq: int
    gate: strawberry.Private[asyncio.Event]
    calls: strawberry.Private[list[int]]
    rendered: strawberry.Private[dict[Hashable, Any]] = dataclasses.field(default_factory=dict)

    @strawberry.field
    async def slow(self) -> int:
        self.calls.append(self.seq)
        await self.gate.wait()
        return self.seq * 10


@strawberry.type
class TickQuery:
    ok: bool = True


@strawberry.type
class TickSubscription:
    @strawberry.subscription
    async def ticks(self, info: strawberry.Info) -> AsyncGenerator[Tick, None]:
        for tick in info.context["ticks"]:
            yield tick


TICKS = strawberry.Schema(
    query=TickQuery,
    subscription=TickSubscription,
    # Identical query texts are then one document, which is what the results are shared by.
    extensions=[ParserCache],
    execution_context_class=SharedEventExecutor,
)


async def tick_subscribers(tick: Tick) -> tuple[AsyncIterator[Any], AsyncIterator[Any]]:
    """Two subscribers given the same event object, as Chorus's live subscribers are."""
    streams = []
    for _ in range(2):
        stream = await TICKS.subscribe(
            "subscription { ticks { seq slow } }", context_value={"ticks": [tick]}
        )
        assert not isinstance(stream, ExecutionResult)
        streams.append(stream)
    return streams[0], streams[1]


async def test_subscribers_wait_for_an_async_field_executed_once() -> None:
    tick = Tick(seq=1, gate=asyncio.Event(), calls=[])
    first, second = await tick_subscribers(tick)
    results = asyncio.gather(anext(first), anext(second))
    await asyncio.sleep(0.05)
    tick.gate.set()
    one, two = await results
    assert one.data == two.data == {"ticks": {"seq": 1, "slow": 10}}
    assert tick.calls == [1]


async def test_a_subscriber_that_leaves_mid_execution_does_not_strand_the_others() -> None:
    tick = Tick(seq=1, gate=asyncio.Event(), calls=[])
    first, second = await tick_subscribers(tick)
    leaving = asyncio.ensure_future(anext(first))
    await asyncio.sleep(0.05)
    staying = asyncio.ensure_future(anext(second))
    await asyncio.sleep(0.05)
    assert tick.calls == [1]  # the second waits for the first's execution
    leaving.cancel()
    await asyncio.sleep(0.05)
    assert tick.calls == [1, 1]  # and executes the event itself once the first has gone
    tick.gate.set()
    result = await asyncio.wait_for(staying, 5)
    assert result.data == {"ticks": {"seq": 1, "slow": 10}}
    assert not result.errors

"""A session's runner, stopped while it writes its last examples, stops only once they are
written: its worker closes the event log and hands the session back after, not during."""

from __future__ import annotations

import asyncio

import pytest

from trainer.session import _to_its_end


async def test_a_cancel_waits_for_the_work_to_end_then_goes_on() -> None:
    written: list[str] = []

    async def last_examples() -> None:
        await asyncio.sleep(0.05)
        written.append("examples")

    async def runner() -> None:
        await _to_its_end(last_examples())

    task = asyncio.create_task(runner())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.01)
    task.cancel()  # and again, as a stopping worker may
    with pytest.raises(asyncio.CancelledError):
        await task
    # With asyncio.shield alone the runner ended here, its examples still unwritten.
    assert written == ["examples"]


async def test_the_works_own_failure_is_raised() -> None:
    async def failing() -> None:
        raise RuntimeError("the database refused")

    with pytest.raises(RuntimeError, match="refused"):
        await _to_its_end(failing())

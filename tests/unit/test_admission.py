"""The admission queue: at most its limit at once, the rest in arrival order, none longer than
its wait, and a place given up by whoever leaves."""

from __future__ import annotations

import asyncio

import pytest

from resolvers.admission import Admission, Overloaded
from tests.support import eventually


async def test_at_most_the_limit_run_and_the_others_follow_in_arrival_order() -> None:
    admission = Admission(limit=2, wait_s=10)
    release = asyncio.Event()
    started: list[int] = []
    running = 0
    most = 0

    async def request(number: int) -> None:
        nonlocal running, most
        async with admission.admitted():
            started.append(number)
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1

    tasks = []
    for number in range(8):
        tasks.append(asyncio.create_task(request(number)))
        await asyncio.sleep(0)  # each arrives after the one before
    await eventually(lambda: _true(admission.waiting == 6))
    assert started == [0, 1]
    release.set()
    await asyncio.gather(*tasks)
    assert started == list(range(8))
    assert most == 2
    assert (admission.active, admission.waiting) == (0, 0)


async def test_a_request_that_waits_too_long_is_told_to_try_again() -> None:
    admission = Admission(limit=1, wait_s=0.2)
    assert await admission.wait_turn()
    with pytest.raises(Overloaded) as refused:
        async with admission.admitted():
            pytest.fail("ran in another's turn")
    assert "try again" in refused.value.message
    assert refused.value.code == "SERVICE_UNAVAILABLE"
    assert admission.waiting == 0
    admission.done()
    # Nothing is left of it: the next request runs at once.
    async with asyncio.timeout(0.1), admission.admitted():
        assert admission.active == 1


async def test_a_request_whose_client_goes_away_leaves_the_queue() -> None:
    admission = Admission(limit=1, wait_s=10)
    client_gone = asyncio.Event()
    assert await admission.wait_turn()
    leaving = asyncio.create_task(admission.wait_turn(gone=client_gone.wait))
    staying = asyncio.create_task(admission.wait_turn(gone=asyncio.Event().wait))
    await eventually(lambda: _true(admission.waiting == 2))
    client_gone.set()
    assert await leaving is False
    assert admission.waiting == 1
    admission.done()
    assert await staying is True
    admission.done()
    assert (admission.active, admission.waiting) == (0, 0)


async def test_a_cancelled_waiter_leaves_the_queue_even_when_its_turn_had_just_come() -> None:
    admission = Admission(limit=1, wait_s=10)
    assert await admission.wait_turn()
    first = asyncio.create_task(admission.wait_turn())
    second = asyncio.create_task(admission.wait_turn())
    await eventually(lambda: _true(admission.waiting == 2))
    admission.done()  # the turn is the first's, which is cancelled before it wakes
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second is True
    admission.done()
    assert (admission.active, admission.waiting) == (0, 0)


async def test_an_admitted_request_is_not_admitted_again_for_its_reads() -> None:
    admission = Admission(limit=1, wait_s=0.2)
    async with admission.admitted():
        # A read it makes, in a task of its own as resolvers run, does not wait for itself.
        async def read() -> int:
            async with admission.admitted():
                return admission.active

        assert await asyncio.create_task(read()) == 1


async def _true(value: bool) -> bool:
    return value

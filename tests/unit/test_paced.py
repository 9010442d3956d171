"""services/paced.py: a source's items in order, a None when it is quiet, its error where its item would be, and
its reader task gone when the reader stops. Not timed: the quiet source waits on an event, not on a clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from routeway.services.paced import AHEAD, paced


async def numbers(count: int) -> AsyncIterator[int]:
    for n in range(count):
        yield n


def test_items_come_in_order_and_the_end_ends_it() -> None:
    async def main() -> list[int | None]:
        return [item async for item in paced(numbers(50), lambda: 60.0)]

    assert asyncio.run(main()) == list(range(50))


def test_a_quiet_source_gets_nones_until_it_speaks() -> None:
    async def main() -> list[int | None]:
        go = asyncio.Event()

        async def quiet() -> AsyncIterator[int]:
            await go.wait()
            yield 7

        seen: list[int | None] = []
        async for item in paced(quiet(), lambda: 0.001):
            seen.append(item)
            if seen.count(None) == 3:
                go.set()
        return seen

    assert asyncio.run(main()) == [None, None, None, 7]


def test_the_sources_error_is_raised_after_its_items() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("cut")

    async def main() -> list[int | None]:
        seen: list[int | None] = []
        with pytest.raises(ValueError, match="cut"):
            async for item in paced(failing(), lambda: 60.0):
                seen.append(item)
        return seen

    assert asyncio.run(main()) == [1]


def test_the_reader_reads_only_a_few_ahead_and_stops_with_the_consumer() -> None:
    read: list[int] = []
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            n = 0
            while True:
                read.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    async def main() -> None:
        stream = paced(endless(), lambda: 60.0)
        assert await anext(stream) == 0
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(read) <= AHEAD + 2  # the reader waits for the consumer instead of reading on
        await stream.aclose()
        await asyncio.wait_for(closed.wait(), 5)  # the source was closed with the reader task

    asyncio.run(main())
